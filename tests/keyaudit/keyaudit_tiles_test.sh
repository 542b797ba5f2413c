#!/usr/bin/env bash
# keyaudit reading the log as C2SP tlog-tiles: from the real keyserviced's /tlog prefix, and from a
# static copy of those tiles served by a plain HTTP file server (python3 -m http.server), as any
# mirror or CDN would serve them. A clean run exits 0 from both; an incremental run re-reads the
# partial tile it stopped in; a changed entry bundle, level-0 tile or level-1 tile, and a bundle
# changed together with its level-0 tile, each exit 1 naming the file at fault.
# With --witness-policy, the static copy's checkpoint cosigned by test witnesses (test_cosigner,
# fresh OpenSSL Ed25519 keys): a met quorum exits 0; a missing witness, a stale cosignature past
# --max-age, a cosignature of another checkpoint and an unmet group each exit 1 naming the
# witness; keyclient fetch refuses the server's uncosigned checkpoint under a policy.
# scripts/verify-bundle checks the same policy on a bundle whose checkpoint the test cosigned.
# Usage: keyaudit_tiles_test.sh keyadmin keyserviced keyaudit keyclient test_cosigner verify-bundle
set -euo pipefail
keyadmin=$1 keyserviced=$2 keyaudit=$3 keyclient=$4 cosigner=$5 verify_bundle=$6
work=$(mktemp -d)
server= mirror=
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  [[ -n $mirror ]] && kill -9 "$mirror" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/out ]] && cat "$work/out" >&2; exit 1; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin tiles.escrowless.test/log > /dev/null
vkey=$("$keyadmin" log verifier-key --data-dir "$data")
ca=(--cacert "$data/tls/cert.pem")
starts=0
start_server() {  # start_server DATA-DIR: sets $server, $port, $url
  starts=$((starts + 1))
  local log=$work/server-$starts.log
  port=
  "$keyserviced" --config "$1/keyservice.conf" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
    [[ -n $port ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "keyserviced exited at start"; }
    sleep 0.1
  done
  [[ -n $port ]] || fail "keyserviced did not start listening"
  url=https://localhost:$port
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=; }
start_server "$data"

admin() { curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" -H 'Content-Length: 0' "$@"; }
admin -X POST "$url/v1/accounts/alice/devices" > "$work/phone.json" || fail "enroll"
credential=$(jq -r .credential "$work/phone.json")
phone=$(jq -r .device_id "$work/phone.json")
key() { head -c "$1" /dev/urandom | base64 -w0; }
uploads() {  # uploads FIRST-ID LAST-ID: one prekeys.signed entry each, over one connection
  local id
  for ((id = $1; id <= $2; id++)); do
    ((id > $1)) && echo next
    printf 'url = "%s"\ncacert = "%s"\nrequest = PUT\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' \
      "$url/v1/accounts/alice/devices/$phone/prekeys" "$data/tls/cert.pem" "$credential"
    printf 'data = "{\\"signed_prekey\\":{\\"key_id\\":%d,\\"public_key\\":\\"%s\\"}}"\noutput = /dev/null\nfail\nsilent\nshow-error\n' "$id" "$(key 32)"
  done > "$work/uploads.curl"
  curl -K "$work/uploads.curl" || fail "uploads $1..$2"
}
uploads 1 270

audit() { status=0; "$keyaudit" "$@" > "$work/out" 2>&1 || status=$?; }
expect_status() { [[ $status -eq $1 ]] || fail "$2: keyaudit exited $status, wanted $1"; }

# --- from the server's own tiles ---------------------------------------------------------------
audit verify --tiles "$url/tlog" --verifier-key "$vkey" "${ca[@]}" --state "$work/tiles.state" --json
expect_status 0 "verify from the server's tiles"
size=$(jq -r .checkpoint.size "$work/out")
(( size > 256 )) || fail "the log has only $size entries: no full tile"
jq -e --argjson n "$size" '.ok and .new_entries == $n' "$work/out" > /dev/null || fail "not every entry was read"

# --- a static copy of the tiles, served by a plain HTTP file server ----------------------------
index_path() {  # 1234067 -> x001/x234/067
  local n=$1 path
  path=$(printf '%03d' $((n % 1000)))
  n=$((n / 1000))
  while ((n > 0)); do path=$(printf 'x%03d/%s' $((n % 1000)) "$path"); n=$((n / 1000)); done
  echo "$path"
}
copy() { mkdir -p "$(dirname "$work/mirror/$1")"; curl -sf "${ca[@]}" -o "$work/mirror/$1" "$url/tlog/$1" || fail "copy $1"; }
mkdir -p "$work/mirror"
curl -sf "${ca[@]}" -o "$work/mirror/checkpoint" "$url/tlog/checkpoint" || fail "copy the checkpoint"
mirror_size=$(sed -n 2p "$work/mirror/checkpoint")
for level in 0 1; do
  count=$((mirror_size >> (8 * level)))
  for ((n = 0; n * 256 < count; n++)); do
    width=$((count - n * 256)); ((width > 256)) && width=256
    suffix=; ((width < 256)) && suffix=.p/$width
    copy "tile/$level/$(index_path "$n")$suffix"
    ((level == 0)) && copy "tile/entries/$(index_path "$n")$suffix"
  done
done
# Nothing of the copy above level 1 exists: a tree this small has no level-2 hash.
((mirror_size < 65536)) || fail "the copy needs level-2 tiles"

serves=0
serve() {  # serves $1 over plain HTTP on a free port; sets $mirror and $mirror_url
  serves=$((serves + 1))
  local log=$work/mirror-$serves.log
  python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 > "$log" 2>&1 &
  mirror=$!
  for _ in $(seq 600); do
    mirror_port=$(sed -n 's|^Serving HTTP on 127.0.0.1 port \([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
    [[ -n $mirror_port ]] && { mirror_url=http://127.0.0.1:$mirror_port; return 0; }
    kill -0 "$mirror" 2>/dev/null || { cat "$log" >&2; fail "the static server exited"; }
    sleep 0.1
  done
  fail "the static server did not start"
}
stop_mirror() { kill -9 "$mirror"; wait "$mirror" 2>/dev/null || true; mirror=; }
serve "$work/mirror"
audit verify --tiles "$mirror_url" --verifier-key "$vkey" --json
expect_status 0 "verify from a static copy over plain HTTP"
jq -e --argjson n "$mirror_size" '.ok and .checkpoint.size == $n and .new_entries == $n' "$work/out" > /dev/null \
  || fail "the static copy's audit did not read every entry"
audit monitor --tiles "$mirror_url" --verifier-key "$vkey" --account alice \
  --expect <(jq '{account: "alice", devices: [{device: .device_id, identity_key_sha256: .identity_key.public_key_sha256}]}' "$work/phone.json")
expect_status 0 "monitor from the static copy"
stop_mirror

# --- an incremental run from the server's tiles: it stopped inside a partial tile --------------
uploads 271 280
audit verify --tiles "$url/tlog" --verifier-key "$vkey" "${ca[@]}" --state "$work/tiles.state" --json
expect_status 0 "incremental verify from tiles"
jq -e --argjson from "$size" '.ok and .previous_size == $from and .new_entries == 10' "$work/out" > /dev/null \
  || fail "the incremental run did not read exactly the 10 new entries"

# --- tampered copies: each is caught, naming the file --------------------------------------------
last=$(( (mirror_size - 1) / 256 ))
edge=$((mirror_size - last * 256))
flip() {  # flips one byte of $1 at offset $2 (the file's copy in $work/bad)
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$work/bad/$1" | tr -d ' ')
  printf "$(printf '\\%03o' $(( byte ^ 1 )))" | dd of="$work/bad/$1" bs=1 seek="$2" conv=notrunc status=none
}
tampered() {  # tampered NAME WANTED-TEXT: audits $work/bad, expects exit 1 and a tiles violation
  serve "$work/bad"
  audit verify --tiles "$mirror_url" --verifier-key "$vkey" --json
  stop_mirror
  expect_status 1 "$1"
  jq -e --arg want "$2" 'any(.violations[]; .rule == "tiles" and (.message | contains($want)))' "$work/out" > /dev/null \
    || fail "$1: no tiles violation naming $2"
}
fresh() { rm -rf "$work/bad"; cp -a "$work/mirror" "$work/bad"; }

fresh; flip "tile/entries/000" 40
tampered "a changed entry in a full bundle" "of tile/entries/000 has leaf hash"
fresh; flip "tile/entries/001.p/$edge" 3
tampered "a changed entry in the partial bundle" "tile/entries/001.p/$edge"
fresh; flip "tile/0/000" 100
tampered "a changed level-0 tile" "but tile/0/000 says"
fresh; flip "tile/1/000.p/1" 5
tampered "a changed level-1 tile" "tile/1/000.p/1"
# An entry changed together with its level-0 hash: consistent with each other, so the level-1
# hash above them catches it.
fresh
first_entry_length=$((16#$(od -An -tx1 -N2 "$work/bad/tile/entries/000" | tr -d ' ')))
flip "tile/entries/000" 2
new_leaf=$( { printf '\0'; dd if="$work/bad/tile/entries/000" bs=1 skip=2 count="$first_entry_length" status=none; } \
  | openssl dgst -sha256 -binary | od -An -v -tx1 | tr -d ' \n')
printf "$(printf '%s' "$new_leaf" | sed 's/../\\x&/g')" | dd of="$work/bad/tile/0/000" bs=1 seek=0 conv=notrunc status=none
tampered "a bundle and its level-0 tile changed together" "hash 0 of tile/1/000.p/1"
fresh; printf 'x' >> "$work/bad/tile/entries/000"
tampered "a bundle with trailing bytes" "tile/entries/000 is malformed"

# --- witness cosignatures: the static copy's checkpoint, cosigned -------------------------------
for w in w1 w2 w3; do "$cosigner" keygen "$w.example" "$work/$w.key" > "$work/$w.vkey" || fail "keygen $w"; done
policy() {  # policy FILE QUORUM-LINES...: the three witnesses, then the given lines
  local file=$1; shift
  { for w in w1 w2 w3; do echo "witness $w $(cat "$work/$w.vkey")"; done; printf '%s\n' "$@"; } > "$file"
}
policy "$work/two-of-three" "group main 2 w1 w2 w3" "quorum main"
policy "$work/nested" "group either any w1 w2" "group both all either w3" "quorum both"
now=$(date +%s)
cosigned() {  # cosigned W:AGE...: the mirror's checkpoint with each witness's cosignature AGE seconds old
  local note spec
  note=$(cat "$work/mirror/checkpoint"; echo x); note=${note%x}
  for spec in "$@"; do
    note=$(printf '%s' "$note" | "$cosigner" cosign "${spec%%:*}.example" "$work/${spec%%:*}.key" $((now - ${spec##*:})); echo x)
    note=${note%x}
  done
  rm -rf "$work/bad"; cp -a "$work/mirror" "$work/bad"
  printf '%s' "$note" > "$work/bad/checkpoint"
}
with_policy() {  # with_policy POLICY [ARGS...]: keyaudit verify of $work/bad under the policy
  serve "$work/bad"
  audit verify --tiles "$mirror_url" --verifier-key "$vkey" --witness-policy "$@" --json
  stop_mirror
}
cosigned w1:10 w2:20
with_policy "$work/two-of-three"
expect_status 0 "two of three witnesses cosigned"
cosigned w1:10
with_policy "$work/two-of-three"
expect_status 1 "one of three witnesses cosigned"
jq -e 'any(.violations[]; .rule == "witnesses" and (.message | contains("missing w2 (no cosignature), w3 (no cosignature)")))' \
  "$work/out" > /dev/null || fail "the missing witnesses are not named"
jq -e '.new_entries == 0 and (.state_saved | not)' "$work/out" > /dev/null || fail "entries were read without a quorum"
cosigned w1:10 w2:7200
with_policy "$work/two-of-three" --max-age 1h
expect_status 1 "a cosignature older than --max-age"
jq -e 'any(.violations[]; .rule == "witnesses" and (.message | contains("w2 (cosigned at") and contains("older than the maximum age of 3600 s")))' \
  "$work/out" > /dev/null || fail "the stale cosignature is not named"
with_policy "$work/two-of-three" --max-age 3h
expect_status 0 "the same cosignature within a longer --max-age"
# w2 cosigns another checkpoint text: a bad cosignature, not an absent one.
printf 'tiles.escrowless.test/log\n1\n%s\n' "$(head -c 32 /dev/zero | base64)" > "$work/other.txt"
cosigned w1:10
note=$(cat "$work/bad/checkpoint"; echo x); note=${note%x}
printf '%s' "$note" | "$cosigner" cosign-text w2.example "$work/w2.key" "$now" "$work/other.txt" > "$work/bad/checkpoint"
with_policy "$work/two-of-three"
expect_status 1 "a cosignature that does not verify"
jq -e 'any(.violations[]; .rule == "witnesses" and (.message | contains("witness w2'"'"'s cosignature on the checkpoint does not verify")))' \
  "$work/out" > /dev/null || fail "the bad cosignature is not named"
cosigned w2:5 w3:5
with_policy "$work/nested"
expect_status 0 "nested groups met (w2 for either, and w3)"
cosigned w1:5 w2:5
with_policy "$work/nested"
expect_status 1 "nested groups without w3"
jq -e 'any(.violations[]; .rule == "witnesses" and (.message | contains("quorum both") and contains("missing w3 (no cosignature)")))' \
  "$work/out" > /dev/null || fail "the nested group's missing witness is not named"
audit verify --tiles "$url/tlog" --verifier-key "$vkey" "${ca[@]}" --max-age 1h
expect_status 2 "--max-age without a policy"
audit verify --tiles "$url/tlog" --verifier-key "$vkey" "${ca[@]}" --witness-policy "$work/two-of-three" --max-age soon
expect_status 2 "a bad --max-age"
grep -q "'soon' is not a duration" "$work/out" || fail "the bad duration is not named"

# keyclient fetch: the server's checkpoint carries no cosignature yet.
printf '%s' "$credential" > "$work/credential"; chmod 600 "$work/credential"
fetch() { status=0; "$keyclient" fetch --server "$url" --verifier-key "$vkey" "${ca[@]}" --account alice --credential "$work/credential" "$@" > "$work/out" 2>&1 || status=$?; }
fetch --witness-policy "$work/two-of-three"
expect_status 1 "keyclient with a policy and no cosignatures"
grep -q "verification failed: checkpoint: no quorum of witness cosignatures (quorum main): missing w1 (no cosignature), w2 (no cosignature), w3 (no cosignature)" \
  "$work/out" || fail "keyclient does not name the missing witnesses"
policy "$work/none" "quorum none"
fetch --witness-policy "$work/none" --max-age 10m
expect_status 0 "keyclient with a policy that requires no cosignature"
# scripts/verify-bundle: the bundle's checkpoint cosigned here.
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" "$url/v1/accounts/alice/devices/$phone/bundle" > "$work/bundle.json" \
  || fail "fetch a bundle"
bundle_cosigned() {  # bundle_cosigned W:AGE...: the bundle with its checkpoint cosigned so
  local note spec
  note=$(jq -j .checkpoint "$work/bundle.json"; echo x); note=${note%x}
  for spec in "$@"; do
    note=$(printf '%s' "$note" | "$cosigner" cosign "${spec%%:*}.example" "$work/${spec%%:*}.key" $((now - ${spec##*:})); echo x)
    note=${note%x}
  done
  jq --arg note "$note" '.checkpoint = $note' "$work/bundle.json" > "$work/bundle-cosigned.json"
}
bundle_cosigned w1:10 w3:10
"$verify_bundle" "$work/bundle-cosigned.json" "$vkey" "$work/two-of-three" > "$work/out" 2>&1 || fail "verify-bundle with a met quorum"
bundle_cosigned w1:10 w3:7200
status=0; "$verify_bundle" "$work/bundle-cosigned.json" "$vkey" "$work/two-of-three" 3600 > "$work/out" 2>&1 || status=$?
[[ $status == 1 ]] || fail "verify-bundle accepted a stale cosignature"
grep -q "FAIL: no quorum of witness cosignatures (quorum main): missing w2 (no cosignature), w3 (cosigned at .*, older than 3600 s)" \
  "$work/out" || fail "verify-bundle does not name the missing witnesses"
bundle_cosigned w2:5 w3:5
"$verify_bundle" "$work/bundle-cosigned.json" "$vkey" "$work/nested" > "$work/out" 2>&1 || fail "verify-bundle with nested groups met"

status=0; "$keyclient" fetch --server "https://127.0.0.1:1" --verifier-key "$vkey" --account alice --credential "$work/credential" > "$work/out" 2>&1 || status=$?
expect_status 2 "keyclient with no server listening"
grep -q "cannot connect to https://127.0.0.1:1: connection refused" "$work/out" || fail "keyclient does not name the refused connection"

# --- usage ------------------------------------------------------------------------------------
audit verify --tiles "$url/tlog" --server "$url" --verifier-key "$vkey" "${ca[@]}"
expect_status 2 "both --tiles and --server"
audit verify --verifier-key "$vkey"
expect_status 2 "neither --tiles nor --server"
grep -q "either --server or --tiles" "$work/out" || fail "no hint to give a source"
audit verify --server "http://127.0.0.1:$port" --verifier-key "$vkey"
expect_status 2 "the API over plain HTTP"
# A server that is down is named as such, with the system's reason.
audit verify --server "https://127.0.0.1:1" --verifier-key "$vkey"
expect_status 2 "no server listening"
grep -q "cannot connect to https://127.0.0.1:1: connection refused" "$work/out" || fail "the refused connection is not named"
# --- --also-seen: a split view made for real ---------------------------------------------------
# The log's data copied: the honest log and the fork sign different entries at the same sizes.
checkpoint() { curl -sf "${ca[@]}" "$url/v1/log/checkpoint" > "$1" || fail "checkpoint"; }
stop_server
cp -a "$data" "$work/fork"
start_server "$data"
uploads 500 504
checkpoint "$work/honest.note"
"$cosigner" cosign w1.example "$work/w1.key" "$now" < "$work/honest.note" > "$work/honest-cosigned.note" || fail "cosign"
uploads 505 509
checkpoint "$work/honest-later.note"
stop_server
# keyservice.conf names paths inside the data folder: the fork goes in its place.
mv "$data" "$work/honest-data" && mv "$work/fork" "$data"
start_server "$data"
# The fork grows to the honest checkpoint's size with other entries.
fork_size=$(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
honest_size=$(sed -n 2p "$work/honest.note")
(( fork_size < honest_size )) || fail "the fork ($fork_size) is not behind the honest log ($honest_size)"
uploads 600 $((600 + honest_size - fork_size - 1))
[[ $(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p) == "$honest_size" ]] \
  || fail "the fork's size differs from the honest checkpoint's"
audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --also-seen "$work/tiles.state" --json
expect_status 0 "another auditor's older state, consistent with the fork's prefix"
jq -e '.details.also_seen[0].result == "consistent"' "$work/out" > /dev/null || fail "the consistent state is not reported so"
audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --also-seen "$work/honest-cosigned.note"
expect_status 1 "a witness's cosigned checkpoint of the same size with another root"
grep -q "\[split_view\] split view: the log signed two trees of size" "$work/out" || fail "the split view is not named"
grep -q "| — w1.example " "$work/out" || fail "the witness's checkpoint is not quoted"
grep -q "the log was rewritten" "$work/out" && fail "a split view reported as a rewrite"
uploads 605 620
audit verify --tiles "$url/tlog" --verifier-key "$vkey" "${ca[@]}" --also-seen "$work/honest-later.note" --json
expect_status 1 "a smaller checkpoint the fork is not consistent with (from tiles)"
jq -e 'any(.violations[]; .rule == "split_view" and (.message | contains("two trees of size")))' "$work/out" > /dev/null \
  || fail "the smaller inconsistent checkpoint is not a split view"
audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --state "$work/fork.state"
expect_status 0 "the fork on its own"
uploads 621 622
audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --state "$work/fork.state" --also-seen "$work/honest-later.note" --json
expect_status 1 "an older checkpoint checked by a consistency proof"
jq -e 'any(.violations[]; .rule == "split_view" and (.message | contains("is not consistent with this run")))' "$work/out" > /dev/null \
  || fail "the inconsistent older checkpoint is not a split view"
echo "not a note" > "$work/junk.note"
audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --also-seen "$work/junk.note"
expect_status 2 "an --also-seen file that is no checkpoint of this log"
stop_server
echo "keyaudit tiles: all checks passed"
