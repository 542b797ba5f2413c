#!/usr/bin/env bash
# keyserviced end to end, as README.md shows it: keyadmin init, the server on an ephemeral port,
# enroll -> upload prekeys -> fetch a bundle with curl, the bundle verified by scripts/verify-bundle
# (bash, jq and the openssl command line), a clean SIGTERM shutdown, a restart that re-verifies
# the log, start-up failures with a clear message and exit 1, and no secret in the server's log.
# Usage: service_flow_test.sh PATH/TO/keyadmin PATH/TO/keyserviced PATH/TO/scripts/verify-bundle
set -euo pipefail
keyadmin=$1 keyserviced=$2 verify=$3
work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill -9 "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -n ${log:-} && -f $log ]] && tail -20 "$log" >&2; exit 1; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin flow.escrowless.test/log > "$work/init.json"

starts=0
start_server() {
  starts=$((starts + 1))
  log=$work/server-$starts.log
  "$keyserviced" --config "$data/keyservice.conf" "$@" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)  # the log may not exist yet
    if [[ -n $port ]]; then url=https://localhost:$port; return 0; fi
    kill -0 "$server" 2>/dev/null || fail "keyserviced exited at start"
    sleep 0.1
  done
  fail "keyserviced did not start listening"
}
stop_server() {
  kill -TERM "$server"
  local status=0
  wait "$server" || status=$?
  server=
  [[ $status -eq 0 ]] || fail "keyserviced exited $status after SIGTERM"
  grep -q "stopped cleanly" "$log" || fail "no clean-shutdown line"
}

start_server
ca=(--cacert "$data/tls/cert.pem")
admin_token=$(cat "$data/admin-token")
curl -sf "${ca[@]}" "$url/healthz" | jq -e '.status == "ok"' >/dev/null || fail "healthz"

# The README flow: a POST without a body, as curl sends it (no Content-Length, RFC 9112 6.3).
curl -sf "${ca[@]}" -H "Authorization: Bearer $admin_token" -X POST \
  "$url/v1/accounts/alice/devices" > "$work/device.json" || fail "enroll"
dev=$(jq -r .device_id "$work/device.json")
credential=$(jq -r .credential "$work/device.json")
key() { head -c "$1" /dev/urandom | base64 -w0; }
body="{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"pq_last_resort_prekey\":{\"key_id\":2,\"public_key\":\"$(key 1184)\"}"
body+=",\"one_time_prekeys\":[{\"key_id\":10,\"public_key\":\"$(key 32)\"},{\"key_id\":11,\"public_key\":\"$(key 32)\"},{\"key_id\":12,\"public_key\":\"$(key 32)\"}]"
body+=",\"pq_one_time_prekeys\":[{\"key_id\":20,\"public_key\":\"$(key 1184)\"}]}"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" -H 'Content-Type: application/json' -X PUT \
  "$url/v1/accounts/alice/devices/$dev/prekeys" -d "$body" > "$work/upload.json" || fail "upload"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" "$url/v1/accounts/alice/devices/$dev/bundle" \
  > "$work/bundle.json" || fail "bundle"

# The verifier key comes from the operator (keyadmin), not from the server being checked.
vkey=$("$keyadmin" log verifier-key --data-dir "$data")
[[ $(curl -sf "${ca[@]}" "$url/v1/log/verifier-key") == "$vkey" ]] || fail "served verifier key differs"
"$verify" "$work/bundle.json" "$vkey" > "$work/verify.out" || fail "verify-bundle rejects a real bundle"
grep -q "3 prekey(s) verified" "$work/verify.out" || fail "verify-bundle did not check the signed, PQ and one-time prekeys: $(cat "$work/verify.out")"
# Forgeries: each is refused (exit 1) for its own reason, the first check it breaks.
refused() {  # NAME VKEY REASON: verify-bundle on $work/NAME.json fails with "FAIL: REASON"
  local status=0
  "$verify" "$work/$1.json" "$2" > "$work/$1.out" 2>&1 || status=$?
  [[ $status -eq 1 ]] || fail "verify-bundle exited $status on $1, not 1: $(cat "$work/$1.out")"
  grep -qxF "FAIL: $3" "$work/$1.out" || fail "verify-bundle refused $1, but not with 'FAIL: $3': $(cat "$work/$1.out")"
}
otk_id=$(jq -r '.bundles[0].one_time_prekey.key_id' "$work/bundle.json")
jq '.bundles[0].one_time_prekey.key_id |= . + 1' "$work/bundle.json" > "$work/forged-id.json"
refused forged-id "$vkey" "$dev: one_time_prekey $((otk_id + 1)): signature does not verify"
zero_hash=$(head -c 32 /dev/zero | base64 -w0)
jq --arg h "$zero_hash" '.bundles[0].one_time_prekey.batch.path[0] = $h' "$work/bundle.json" > "$work/forged-batch.json"
refused forged-batch "$vkey" "$dev: one_time_prekey $otk_id is not in its logged batch"
jq -e '.entries[0].inclusion_proof | length > 0' "$work/bundle.json" > /dev/null || fail "an entry without an inclusion proof to forge"
jq --arg h "$zero_hash" '.entries[0].inclusion_proof[0] = $h' "$work/bundle.json" > "$work/forged-proof.json"
refused forged-proof "$vkey" "entry $(jq -r '.entries[0].index' "$work/bundle.json") is not in the checkpoint's tree"
# The verifier key's name and id with another Ed25519 key (type byte 0x01, then the raw key).
openssl genpkey -algorithm ed25519 -out "$work/other.pem"
other_key=$({ printf '\x01'; openssl pkey -in "$work/other.pem" -pubout -outform DER | tail -c 32; } | base64 -w0)
cp "$work/bundle.json" "$work/other-key.json"
IFS=+ read -r vkey_name vkey_id _ <<< "$vkey"  # the key's base64 may hold '+' too
refused other-key "$vkey_name+$vkey_id+$other_key" "the checkpoint signature does not verify"

size_before=$(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
stop_server

# Restart: the log is re-verified and carries on from the same size.
start_server
size_after=$(curl -sS "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
[[ $size_after == "$size_before" ]] || fail "size changed across restart: $size_before then $size_after"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" "$url/v1/accounts/alice/devices/$dev/prekeys/count" \
  | jq -e '.one_time_prekeys == 2 and .pq_one_time_prekeys == 0' >/dev/null || fail "counts after restart"
stop_server

# Start-up failures: a clear message and exit 1.
expect_start_failure() {
  local why=$1; shift
  local status=0
  "$keyserviced" --config "$data/keyservice.conf" "$@" > "$work/fail.log" 2>&1 || status=$?
  [[ $status -eq 1 ]] || fail "exit $status (wanted 1) for: $*"
  grep -q "$why" "$work/fail.log" || fail "no '$why' in: $(cat "$work/fail.log")"
}
token=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$data/keyservice.conf")
printf 'not-the-pin\n' > "$work/wrong-pin"; chmod 600 "$work/wrong-pin"
expect_start_failure CKR_PIN_INCORRECT --token "${token%%pin-source=*}pin-source=file:$work/wrong-pin"
expect_start_failure "cannot be found" --token "${token%%module-path=*}module-path=/nonexistent.so&${token#*&}"
expect_start_failure "no initialized token" --token "${token/serial=/serial=0}"
expect_start_failure "cannot set up TLS" --tls-key "$data/tls/cert.pem"
status=0; "$keyserviced" --config "$data/keyservice.conf" --port 70000 >/dev/null 2>&1 || status=$?
[[ $status -eq 2 ]] || fail "a bad option should exit 2, got $status"

# No PIN or credential ever reached the server's log.
pin=$(cat "$data/softhsm/user-pin")
for secret in "$admin_token" "$credential" "$pin" not-the-pin; do
  if grep -qF -- "$secret" "$work"/server-*.log "$work/fail.log"; then fail "a secret appears in the server log"; fi
done
echo "keyserviced flow: all checks passed"
