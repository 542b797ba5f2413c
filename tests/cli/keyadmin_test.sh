#!/usr/bin/env bash
# keyadmin end to end on a real SoftHSM token, checked with tools we did not write:
# OpenSC's pkcs11-tool must list our keys as sensitive and never extractable, and the openssl
# command line must verify keyadmin's signatures against the public keys keyadmin printed.
# Usage: keyadmin_test.sh PATH/TO/keyadmin
set -euo pipefail
keyadmin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Expect exit code $1 from the rest of the command line; stderr kept in $work/err.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  [[ $got -eq $want ]] || { cat "$work/err" >&2; fail "exit $got (wanted $want): $*"; }
}

# --- token init ---
uri=$("$keyadmin" token init --softhsm-dir "$work/hsm" --label cli-test 2>"$work/init.err")
[[ $uri == pkcs11:* && $uri == *"token=cli-test"* && $uri == *"pin-source=file:$work/hsm/user-pin"* ]] \
  || fail "unexpected URI: $uri"
grep -q "export SOFTHSM2_CONF=$work/hsm/softhsm2.conf" "$work/init.err" || fail "no SOFTHSM2_CONF hint"
for f in so-pin user-pin softhsm2.conf; do
  [[ $(stat -c %a "$work/hsm/$f") == 600 ]] || fail "$f is not mode 0600"
done
[[ $(wc -c < "$work/hsm/user-pin") -eq 32 ]] || fail "user PIN is not 32 characters"
export SOFTHSM2_CONF=$work/hsm/softhsm2.conf

# A second init into the same folder refuses and changes nothing.
pin_before=$(sha256sum "$work/hsm/user-pin")
expect_exit 1 "$keyadmin" token init --softhsm-dir "$work/hsm" --label other
grep -q "already exists" "$work/err" || fail "second init did not say why"
[[ $(sha256sum "$work/hsm/user-pin") == "$pin_before" ]] || fail "second init touched the PIN file"

# --- token info / mechanisms ---
"$keyadmin" token info --token "$uri" > "$work/info.json"
[[ $(jq -r .label "$work/info.json") == cli-test ]] || fail "token info label"
jq -e '.flags | index("token-initialized")' "$work/info.json" >/dev/null || fail "token flags"
"$keyadmin" token mechanisms --token "$uri" > "$work/mech.json"
[[ $(jq -r .preferred_algorithm "$work/mech.json") == ed25519 ]] || fail "preferred algorithm"
jq -e '.mechanisms[] | select(.name == "CKM_EDDSA") | .flags | index("sign")' "$work/mech.json" >/dev/null \
  || fail "CKM_EDDSA not listed as sign"

# --- key generate + sign, verified by openssl ---
printf 'the message to sign\n' > "$work/msg"
"$keyadmin" key generate --token "$uri" --label ed-key > "$work/ed.json"
[[ $(jq -r .algorithm "$work/ed.json") == ed25519 ]] || fail "default algorithm is not ed25519"
[[ $(jq -r .public_key "$work/ed.json" | base64 -d | wc -c) -eq 32 ]] || fail "Ed25519 key size"
jq -e '.attributes.private_key.flags | .sensitive and .never_extractable and .always_sensitive and .local
       and .sign and (.extractable|not) and (.decrypt|not) and (.unwrap|not) and (.derive|not)' \
  "$work/ed.json" >/dev/null || fail "private key attributes"
jq -r .public_key_pem "$work/ed.json" > "$work/ed.pem"
"$keyadmin" key sign --token "$uri" --label ed-key --in "$work/msg" --out "$work/ed.sig"
[[ $(wc -c < "$work/ed.sig") -eq 64 ]] || fail "Ed25519 signature size"
openssl pkeyutl -verify -pubin -inkey "$work/ed.pem" -rawin -in "$work/msg" -sigfile "$work/ed.sig" \
  | grep -q "Signature Verified Successfully" || fail "openssl rejects the Ed25519 signature"
printf 'another message\n' > "$work/msg2"
if openssl pkeyutl -verify -pubin -inkey "$work/ed.pem" -rawin -in "$work/msg2" -sigfile "$work/ed.sig" >/dev/null 2>&1; then
  fail "openssl accepted the signature for another message"
fi

"$keyadmin" key generate --token "$uri" --label ec-key --algorithm ecdsa-p256 > "$work/ec.json"
[[ $(jq -r .public_key "$work/ec.json" | base64 -d | wc -c) -eq 65 ]] || fail "P-256 key size"
jq -r .public_key_pem "$work/ec.json" > "$work/ec.pem"
"$keyadmin" key sign --token "$uri" --label ec-key --in "$work/msg" --out "$work/ec.der" --format der
openssl dgst -sha256 -verify "$work/ec.pem" -signature "$work/ec.der" "$work/msg" | grep -q "Verified OK" \
  || fail "openssl rejects the ECDSA signature"
"$keyadmin" key sign --token "$uri" --label ec-key --in "$work/msg" --out "$work/ec.raw"
[[ $(wc -c < "$work/ec.raw") -eq 64 ]] || fail "raw ECDSA signature size"

# --- OpenSC's view of the same keys ---
IFS= read -r PKCS11_TEST_PIN < "$work/hsm/user-pin" || [[ -n $PKCS11_TEST_PIN ]]  # no trailing newline
export PKCS11_TEST_PIN
pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label cli-test --login \
  --pin env:PKCS11_TEST_PIN --list-objects --type privkey > "$work/objects.txt" 2>&1
[[ $(grep -c "Private Key Object" "$work/objects.txt") -eq 2 ]] || fail "pkcs11-tool private key count"
[[ $(grep -c "Access: *sensitive, always sensitive, never extractable, local" "$work/objects.txt") -eq 2 ]] \
  || { cat "$work/objects.txt" >&2; fail "pkcs11-tool does not list both keys as sensitive, never extractable"; }
[[ $(grep -c "Usage: *sign$" "$work/objects.txt") -eq 2 ]] || fail "pkcs11-tool usage is not sign only"

# --- inventory ---
"$keyadmin" inventory --token "$uri" > "$work/inventory.json"
[[ $(jq length "$work/inventory.json") -eq 4 ]] || fail "inventory count"
[[ $(jq '[.[] | select(.class == "private-key" and .public_key_sha256 != null)] | length' "$work/inventory.json") -eq 2 ]] \
  || fail "private keys lack public key hashes"

# --- errors: a message and the documented exit code, never a PIN ---
expect_exit 2 "$keyadmin" key generate --token "$uri"
grep -q -- "--label is required" "$work/err" || fail "missing option message"
expect_exit 2 "$keyadmin"
expect_exit 2 "$keyadmin" key generate --token "$uri" --label x --algorithm rsa
expect_exit 1 "$keyadmin" token info --token "pkcs11:token=cli-test?pin-value=123456"
grep -q "'pin-value' is refused" "$work/err" || fail "pin-value message"
grep -q 123456 "$work/err" && fail "the pin-value was echoed"
expect_exit 1 "$keyadmin" token info --token "pkcs11:tokn=x"
grep -q "unknown path attribute 'tokn'" "$work/err" || fail "URI error message"
expect_exit 1 "$keyadmin" token info --token "pkcs11:token=no-such-token"
grep -q "no initialized token" "$work/err" || fail "missing token message"
expect_exit 1 "$keyadmin" key sign --token "$uri" --label no-such-key --in "$work/msg" --out "$work/x.sig"
[[ ! -e $work/x.sig ]] || fail "a signature file was written for a missing key"
expect_exit 1 "$keyadmin" key sign --token "$uri" --label ed-key --in "$work/missing" --out "$work/x.sig"
expect_exit 1 "$keyadmin" key sign --token "$uri" --label ed-key --in "$work/msg" --out "$work/x.sig" --format der
expect_exit 1 "$keyadmin" key generate --token "$uri" --label ed-key
grep -q "already exists" "$work/err" || fail "duplicate label message"
printf '0000notthepin0000\n' > "$work/wrong-pin"; chmod 600 "$work/wrong-pin"
expect_exit 1 "$keyadmin" inventory --token "${uri%%pin-source=*}pin-source=file:$work/wrong-pin"
grep -q CKR_PIN_INCORRECT "$work/err" || fail "wrong PIN message"
grep -q notthepin "$work/err" && fail "the wrong PIN was echoed"
chmod 644 "$work/wrong-pin"
expect_exit 1 "$keyadmin" inventory --token "${uri%%pin-source=*}pin-source=file:$work/wrong-pin"
grep -q "chmod 600" "$work/err" || fail "loose PIN file not refused"
expect_exit 1 "$keyadmin" token info --token "pkcs11:token=cli-test?module-path=/nonexistent.so"
grep -q "cannot be found" "$work/err" || fail "missing module message"

echo "keyadmin CLI: all checks passed"
