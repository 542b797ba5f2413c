#!/usr/bin/env bash
# Token faults with the real binaries and a real SoftHSM token (issue 6, part 3).
# Start-up: a missing module, a wrong PIN, an absent token (wrong serial; token folder moved away),
# a missing softhsm2.conf: exit 1 and one line naming the cause. While serving: the token folder
# moved away (as root, making it unreadable would change nothing): requests that need the token
# get 503 problem+json with Retry-After, /readyz says 503, nothing reaches the log or the store,
# reads keep working; the folder moved back: the service reconnects by itself (no request needed)
# and enroll, upload and a verified bundle work again.
# Usage: token_faults_test.sh PATH/TO/keyadmin PATH/TO/keyserviced PATH/TO/scripts/verify-bundle
set -euo pipefail
keyadmin=$1 keyserviced=$2 verify=$3
work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill -9 "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -n ${log:-} && -f $log ]] && tail -20 "$log" >&2; exit 1; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin faults.escrowless.test/log > "$work/init.json"
conf=$data/keyservice.conf
token=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$conf")
tokens=$data/softhsm/tokens

# --- Start-up faults: exit 1, exactly one line, naming the cause.
expect_start_failure() {
  local why=$1; shift
  local status=0
  "$keyserviced" --config "$conf" "$@" > "$work/fail.out" 2> "$work/fail.err" || status=$?
  cat "$work/fail.out" "$work/fail.err" > "$work/fail.log"
  [[ $status -eq 1 ]] || fail "exit $status (wanted 1) for: $why"
  [[ $(wc -l < "$work/fail.log") -eq 1 ]] || fail "wanted one line for '$why', got: $(cat "$work/fail.log")"
  grep -q "cannot start: .*$why" "$work/fail.log" || fail "no '$why' in: $(cat "$work/fail.log")"
}
printf 'not-the-pin\n' > "$work/wrong-pin"; chmod 600 "$work/wrong-pin"
expect_start_failure "refused the user PIN read from file:$work/wrong-pin (C_Login failed: CKR_PIN_INCORRECT)" \
  --token "${token%%pin-source=*}pin-source=file:$work/wrong-pin"
expect_start_failure "PKCS#11 module /nonexistent/libsofthsm2.so cannot be found" \
  --token "${token%%module-path=*}module-path=/nonexistent/libsofthsm2.so&${token#*&}"
expect_start_failure "no initialized token .* matches pkcs11:serial=0" --token "${token/serial=/serial=0}"
expect_start_failure "softhsm-conf /nonexistent/softhsm2.conf does not exist" --softhsm-conf /nonexistent/softhsm2.conf
mv "$tokens" "$tokens.away"
expect_start_failure "C_Initialize failed: CKR_GENERAL_ERROR: check that the directories.tokendir named in $data/softhsm/softhsm2.conf exists"
mv "$tokens.away" "$tokens"

# --- Serving.
log=$work/server.log
"$keyserviced" --config "$conf" --log-level debug > "$log" 2>&1 &
server=$!
for _ in $(seq 600); do  # 60 s: only a hang takes that long
  port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)  # the log may not exist yet
  [[ -n $port ]] && break
  kill -0 "$server" 2>/dev/null || fail "keyserviced exited at start"
  sleep 0.1
done
[[ -n $port ]] || fail "keyserviced did not start listening"
url=https://localhost:$port
ca=(--cacert "$data/tls/cert.pem")
admin=(-H "Authorization: Bearer $(cat "$data/admin-token")")
key() { head -c "$1" /dev/urandom | base64 -w0; }
# request NAME METHOD PATH [curl args]: the body in $work/NAME.body, headers in $work/NAME.head,
# prints the status.
request() {
  local name=$1 method=$2 path=$3; shift 3
  curl -sS "${ca[@]}" -X "$method" -o "$work/$name.body" -D "$work/$name.head" -w '%{http_code}' "$@" "$url$path"
}
enroll() { request "$1" POST /v1/accounts/alice/devices "${admin[@]}" -H 'Content-Length: 0'; }
upload() {  # NAME DEVICE CREDENTIAL KEY_ID
  request "$1" PUT "/v1/accounts/alice/devices/$2/prekeys" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
    -d "{\"signed_prekey\":{\"key_id\":$4,\"public_key\":\"$(key 32)\"},\"pq_last_resort_prekey\":{\"key_id\":$(($4 + 1)),\"public_key\":\"$(key 1184)\"},\"one_time_prekeys\":[{\"key_id\":$(($4 + 2)),\"public_key\":\"$(key 32)\"},{\"key_id\":$(($4 + 3)),\"public_key\":\"$(key 32)\"}]}"
}
log_size() { curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p; }
devices() { curl -sf "${ca[@]}" "${admin[@]}" "$url/v1/accounts/alice/devices" | jq -c '[.devices[].device_id] | sort'; }
expect_503() {  # NAME: a 503 problem+json that says the token is unavailable, with Retry-After
  grep -qi '^content-type: application/problem+json' "$work/$1.head" || fail "$1: not problem+json"
  grep -qi '^retry-after: [0-9]' "$work/$1.head" || fail "$1: no Retry-After"
  jq -e '.status == 503 and .type == "urn:escrowless:problem:token-unavailable"' "$work/$1.body" >/dev/null \
    || fail "$1: $(cat "$work/$1.body")"
}

[[ $(enroll first) == 201 ]] || fail "enroll before the fault: $(cat "$work/first.body")"
dev=$(jq -r .device_id "$work/first.body"); cred=$(jq -r .credential "$work/first.body")
[[ $(upload up1 "$dev" "$cred" 100) == 200 ]] || fail "upload before the fault: $(cat "$work/up1.body")"
[[ $(request ready GET /readyz) == 200 ]] || fail "not ready before the fault"
size_before=$(log_size); devices_before=$(devices)

mv "$tokens" "$tokens.away"
[[ $(request ready GET /readyz) == 503 ]] || fail "/readyz while the token is gone: $(cat "$work/ready.body")"
expect_503 ready
[[ $(enroll gone-enroll) == 503 ]] || fail "enroll while the token is gone: $(cat "$work/gone-enroll.body")"
expect_503 gone-enroll
[[ $(upload gone-upload "$dev" "$cred" 200) == 503 ]] || fail "upload while the token is gone: $(cat "$work/gone-upload.body")"
expect_503 gone-upload
# Several more, as a client retrying would: each fails fast.
for i in 1 2 3; do [[ $(enroll "again$i") == 503 ]] || fail "enroll retry $i"; done
# Reads need no token.
[[ $(request bundle GET "/v1/accounts/alice/devices/$dev/bundle" -H "Authorization: Bearer $cred") == 200 ]] \
  || fail "bundle fetch while the token is gone: $(cat "$work/bundle.body")"
[[ $(request entries GET "/v1/log/entries?start=0&count=1") == 200 ]] || fail "log read while the token is gone"
# (Into a file first: grep -q would close the pipe early and fail curl under pipefail.)
curl -sf "${ca[@]}" "$url/metrics" > "$work/metrics.txt"
grep -qx 'escrowless_hsm_token_lost 1' "$work/metrics.txt" || fail "metrics do not show the loss"
# Nothing half-written: no entry appended, no device stored.
[[ $(log_size) == "$size_before" ]] || fail "the log grew while the token was gone: $size_before then $(log_size)"
[[ $(devices) == "$devices_before" ]] || fail "devices changed while the token was gone"
for _ in $(seq 600); do grep -q "the token is gone" "$log" && break; sleep 0.1; done
grep -q "the token is gone" "$log" || fail "no log line about the token going away"

# The token comes back: the service reconnects on its own, with no request to prompt it.
mv "$tokens.away" "$tokens"
for _ in $(seq 600); do grep -q "the token is back" "$log" && break; sleep 0.1; done  # 60 s: only a hang
grep -q "the token is back" "$log" || fail "no reconnect in 60 s after the token came back"
[[ $(request ready GET /readyz) == 200 ]] || fail "/readyz after the token came back: $(cat "$work/ready.body")"
[[ $(enroll back) == 201 ]] || fail "enroll after the token came back: $(cat "$work/back.body")"
dev2=$(jq -r .device_id "$work/back.body"); cred2=$(jq -r .credential "$work/back.body")
[[ $(upload up2 "$dev" "$cred" 300) == 200 ]] || fail "upload (old device) after: $(cat "$work/up2.body")"
[[ $(upload up3 "$dev2" "$cred2" 400) == 200 ]] || fail "upload (new device) after: $(cat "$work/up3.body")"
[[ $(log_size) == $((size_before + 3)) ]] || fail "wanted exactly 3 new entries, log went $size_before -> $(log_size)"
curl -sf "${ca[@]}" -H "Authorization: Bearer $cred" "$url/v1/accounts/alice/devices/$dev2/bundle" > "$work/bundle2.json" \
  || fail "bundle of the new device"
vkey=$("$keyadmin" log verifier-key --data-dir "$data")
"$verify" "$work/bundle2.json" "$vkey" > /dev/null || fail "the bundle made after the reconnect does not verify"
curl -sf "${ca[@]}" "$url/metrics" > "$work/metrics.txt"
grep -qx 'escrowless_hsm_reconnects_total 1' "$work/metrics.txt" \
  || fail "metrics do not count one reconnect: $(grep -E 'hsm_(reconnects|token_lost)' "$work/metrics.txt")"

kill -TERM "$server"; status=0; wait "$server" || status=$?; server=
[[ $status -eq 0 ]] || fail "keyserviced exited $status after SIGTERM"
echo "token faults: all checks passed"
