#!/usr/bin/env bash
# keyaudit reading the log as C2SP tlog-tiles: from the real keyserviced's /tlog prefix, and from a
# static copy of those tiles served by a plain HTTP file server (python3 -m http.server), as any
# mirror or CDN would serve them. A clean run exits 0 from both; an incremental run re-reads the
# partial tile it stopped in; a changed entry bundle, level-0 tile or level-1 tile, and a bundle
# changed together with its level-0 tile, each exit 1 naming the file at fault.
# Usage: keyaudit_tiles_test.sh keyadmin keyserviced keyaudit
set -euo pipefail
keyadmin=$1 keyserviced=$2 keyaudit=$3
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
"$keyserviced" --config "$data/keyservice.conf" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do
  port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$work/server.log" 2>/dev/null || true)
  [[ -n $port ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; fail "keyserviced exited at start"; }
  sleep 0.1
done
[[ -n $port ]] || fail "keyserviced did not start listening"
url=https://localhost:$port

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
echo "keyaudit tiles: all checks passed"
