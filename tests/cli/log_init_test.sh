#!/usr/bin/env bash
# keyadmin log init / verifier-key end to end, with the first checkpoint judged by Go's
# golang.org/x/mod/sumdb/note (the reference C2SP signed-note verifier, from Debian's
# golang-golang-x-mod-dev), built here in GOPATH mode without any network.
# Usage: log_init_test.sh PATH/TO/keyadmin PATH/TO/go_note_verify/main.go
set -euo pipefail
keyadmin=$1
verifier_source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" GOFLAGS= \
  go build -o "$work/go_note_verify" "$verifier_source"

uri=$("$keyadmin" token init --softhsm-dir "$work/hsm" --label log-test 2>/dev/null)
export SOFTHSM2_CONF=$work/hsm/softhsm2.conf
origin="log.escrowless.test/v1"

"$keyadmin" log init --token "$uri" --data-dir "$work/data" --origin "$origin" > "$work/init.json"
vkey=$("$keyadmin" log verifier-key --data-dir "$work/data")
[[ $vkey == "$(jq -r .verifier_key "$work/init.json")" ]] || fail "verifier-key differs from log init's"
[[ $vkey == "$origin+"* ]] || fail "verifier key name is not the origin: $vkey"
jq -j .checkpoint "$work/init.json" > "$work/checkpoint"

# Go's verifier accepts the checkpoint with the printed key, and reads size 2.
"$work/go_note_verify" "$vkey" "$work/checkpoint" > "$work/text" || fail "Go's note package rejects our checkpoint"
[[ $(sed -n 1p "$work/text") == "$origin" ]] || fail "checkpoint origin"
[[ $(sed -n 2p "$work/text") == 2 ]] || fail "the first checkpoint should cover hsm.provisioned and hsm.inventory"

# ... and rejects it once changed, or under another key.
sed 's/^2$/3/' "$work/checkpoint" > "$work/forged"
if "$work/go_note_verify" "$vkey" "$work/forged" >/dev/null 2>&1; then fail "Go accepted a forged checkpoint"; fi
other=$("$keyadmin" token init --softhsm-dir "$work/hsm2" --label other 2>/dev/null)
SOFTHSM2_CONF=$work/hsm2/softhsm2.conf "$keyadmin" log init --token "$other" --data-dir "$work/data2" \
  --origin "$origin" > "$work/init2.json"
if "$work/go_note_verify" "$(jq -r .verifier_key "$work/init2.json")" "$work/checkpoint" >/dev/null 2>&1; then
  fail "Go accepted the checkpoint under another log's key"
fi

# The log key is in the inventory: one key pair on the token, sign-only and never extractable.
"$keyadmin" inventory --token "$uri" > "$work/inventory.json"
[[ $(jq length "$work/inventory.json") -eq 2 ]] || fail "the token should hold exactly the log key pair"
jq -e '.[] | select(.class == "private-key") | .flags | .sensitive and .never_extractable and (.decrypt|not)' \
  "$work/inventory.json" >/dev/null || fail "log key attributes"

# A second init into the same folder is refused and leaves no new key behind; so is a bad origin.
if "$keyadmin" log init --token "$uri" --data-dir "$work/data" --origin "$origin" 2>"$work/err"; then
  fail "second log init succeeded"
fi
grep -q "already exists" "$work/err" || fail "second init did not say why"
if "$keyadmin" log init --token "$uri" --data-dir "$work/data3" --origin "bad origin" 2>"$work/err"; then
  fail "an origin with a space was accepted"
fi
grep -q "origin" "$work/err" || fail "bad origin message"
[[ $("$keyadmin" inventory --token "$uri" | jq length) -eq 2 ]] || fail "a failed init left a key on the token"
[[ ! -e $work/data3/log.db ]] || fail "a failed init left a database"

# A token without EdDSA gets an ECDSA P-256 log key (C2SP note type 0x02).
p256=$("$keyadmin" token init --softhsm-dir "$work/hsm3" --label no-eddsa 2>/dev/null)
# softhsm2.conf(5): a list starting with "-" names the mechanisms to disable.
sed -i 's/^slots.mechanisms = .*/slots.mechanisms = -CKM_EDDSA,CKM_EC_EDWARDS_KEY_PAIR_GEN/' "$work/hsm3/softhsm2.conf"
SOFTHSM2_CONF=$work/hsm3/softhsm2.conf "$keyadmin" log init --token "$p256" --data-dir "$work/data4" \
  --origin "$origin" > "$work/init4.json"
[[ $(jq -r .verifier_key "$work/init4.json" | sed 's/^[^+]*+[^+]*+//' | base64 -d | head -c1 | od -An -tx1 | tr -d ' ') == 02 ]] \
  || fail "the log key of a token without EdDSA is not ECDSA"

echo "keyadmin log: all checks passed"
