#!/usr/bin/env bash
# keyaudit end to end against the real keyserviced (SoftHSM token, SQLite, HTTPS), each violation
# made for real: a clean run and an incremental one exit 0; a ghost device makes `keyaudit monitor`
# exit 1 naming it; a server restarted on an old copy of its data (history rewritten past the size
# an auditor saved) makes `keyaudit verify` exit 1 at the consistency check; an extractable private
# key, a wrap-capable AES key and an unlogged signing key made in the token (make_bad_keys) and an
# inventory taken through the admin API make it exit 1 naming each; bad usage exits 2.
# Usage: keyaudit_test.sh keyadmin keyserviced keyaudit make_bad_keys
set -euo pipefail
keyadmin=$1 keyserviced=$2 keyaudit=$3 make_bad_keys=$4
work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill -9 "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/out ]] && cat "$work/out" >&2; exit 1; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin audit.escrowless.test/log > /dev/null
vkey=$("$keyadmin" log verifier-key --data-dir "$data")
ca=(--cacert "$data/tls/cert.pem")

starts=0
start_server() {
  starts=$((starts + 1))
  local log=$work/server-$starts.log
  "$keyserviced" --config "$data/keyservice.conf" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    # The log file may not exist yet: the server's shell opens it after the fork.
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
    if [[ -n $port ]]; then url=https://localhost:$port; return 0; fi
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "keyserviced exited at start"; }
    sleep 0.1
  done
  fail "keyserviced did not start listening"
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=; }
admin() { curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" -H 'Content-Length: 0' "$@"; }
enroll() { admin -X POST "$url/v1/accounts/$1/devices"; }
# Runs keyaudit, output in $work/out; sets $status.
audit() { status=0; "$keyaudit" "$@" > "$work/out" 2>&1 || status=$?; }
verify() { audit verify --server "$url" --verifier-key "$vkey" "${ca[@]}" "$@"; }
expect_status() { [[ $status -eq $1 ]] || fail "$2: keyaudit exited $status, wanted $1"; }
size_in() { jq -r .tree.size "$1"; }

start_server

# --- a clean run, then an incremental one that reads only the new entries ---------------------
enroll alice > "$work/phone.json" || fail "enroll phone"
phone=$(jq -r .device_id "$work/phone.json")
key() { head -c "$1" /dev/urandom | base64 -w0; }
curl -sf "${ca[@]}" -H "Authorization: Bearer $(jq -r .credential "$work/phone.json")" -H 'Content-Type: application/json' \
  -X PUT "$url/v1/accounts/alice/devices/$phone/prekeys" \
  -d "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"pq_last_resort_prekey\":{\"key_id\":2,\"public_key\":\"$(key 1184)\"},\"one_time_prekeys\":[{\"key_id\":3,\"public_key\":\"$(key 32)\"}]}" \
  > "$work/upload.json" || fail "upload prekeys"

verify --state "$work/verify.state"
expect_status 0 "clean first run"
grep -q "OK: everything verified; state saved" "$work/out" || fail "no OK line"
[[ $(stat -c %a "$work/verify.state") == 600 ]] || fail "state file is not mode 0600"
first_size=$(size_in "$work/verify.state")
[[ $(jq -r .auditor.stats.signatures "$work/verify.state") == 2 ]] || fail "the two prekey signatures were not verified"

enroll alice > "$work/laptop.json" || fail "enroll laptop"
laptop=$(jq -r .device_id "$work/laptop.json")
verify --state "$work/verify.state" --json
expect_status 0 "incremental run"
jq -e --argjson from "$first_size" '.ok and .previous_size == $from and .new_entries == 1 and .state_saved' "$work/out" >/dev/null \
  || fail "the incremental run did not fetch exactly the one new entry"

# --- usage, network and server errors exit 2 --------------------------------------------------
audit verify --server "$url" --verifier-key "not a key" "${ca[@]}"; expect_status 2 "a bad verifier key"
audit verify --server "$url" --verifier-key "$vkey"; expect_status 2 "an untrusted certificate"
grep -q -- "--cacert" "$work/out" || fail "no hint about --cacert"
audit verify --server "https://localhost:1" --verifier-key "$vkey" "${ca[@]}"; expect_status 2 "no server"
audit verify --server "$url"; expect_status 2 "a missing option"
audit monitor --server "$url" --verifier-key "$vkey" "${ca[@]}" --account alice --expect "$work/nonexistent"
expect_status 2 "a missing expect file"

# --- a checkpoint the pinned key did not sign: another log of the same name -------------------
"$keyadmin" init --data-dir "$work/other" --port 0 --origin audit.escrowless.test/log > /dev/null
audit verify --server "$url" --verifier-key "$("$keyadmin" log verifier-key --data-dir "$work/other")" "${ca[@]}"
expect_status 1 "a checkpoint under another key"
grep -q "\[checkpoint\] the server's checkpoint does not verify" "$work/out" || fail "the unverified checkpoint is not named"

# --- the owner's monitor: a ghost device ------------------------------------------------------
jq -n --slurpfile p "$work/phone.json" --slurpfile l "$work/laptop.json" \
  '{account: "alice", devices: [$p[0], $l[0]] | map({device: .device_id, identity_key_sha256: .identity_key.public_key_sha256})}' \
  > "$work/expect.json"
monitor() { audit monitor --server "$url" --verifier-key "$vkey" "${ca[@]}" --account alice --expect "$work/expect.json" "$@"; }
monitor --state "$work/monitor.state"
expect_status 0 "monitor with every device known"
grep -q "state saved" "$work/out" || fail "monitor saved no state"
verify --state "$work/monitor.state"; expect_status 2 "a monitor state file given to verify"
grep -q "belongs to keyaudit monitor" "$work/out" || fail "no reason for refusing the state file"
enroll bob > /dev/null || fail "enroll bob"  # another account's entries are not alice's business
monitor --state "$work/monitor.state"
expect_status 0 "monitor after another account's enrollment"

enroll alice > "$work/ghost.json" || fail "enroll ghost"   # the admin adds a device alice never made
ghost=$(jq -r .device_id "$work/ghost.json")
monitor --state "$work/monitor.state"
expect_status 1 "monitor after a ghost enrollment"
grep -q "\[ghost_device\] device alice/$ghost was enrolled" "$work/out" || fail "the ghost device is not named"
monitor --state "$work/monitor.state" --json
expect_status 1 "monitor again (the state must not have moved past the ghost)"
jq -e --arg g "$ghost" '[.violations[] | select(.rule == "ghost_device")] | length == 1 and (.[0].message | contains($g))' \
  "$work/out" >/dev/null || fail "JSON report does not name the ghost"

# --- history rewritten: the server restarted on an old copy of its data ------------------------
stop_server
cp -a "$data" "$work/data.old"
start_server
verify --state "$work/rewrite.state"
expect_status 0 "verify before the rewrite"
enroll carol > /dev/null && enroll carol > /dev/null || fail "enroll carol"
verify --state "$work/rewrite.state"
expect_status 0 "verify after growth"
saved=$(size_in "$work/rewrite.state")
stop_server
mv "$data" "$work/data.new" && cp -a "$work/data.old" "$data"
start_server
verify --state "$work/rewrite.state"
expect_status 1 "a log smaller than the saved size"
grep -q "\[consistency\] the log shrank" "$work/out" || fail "the shrunk log is not named"
for _ in 1 2 3; do enroll mallory > /dev/null || fail "enroll mallory"; done
now=$(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
(( now > saved )) || fail "the rewritten log ($now) did not grow past the saved size ($saved)"
verify --state "$work/rewrite.state"
expect_status 1 "a rewritten history"
grep -q "\[consistency\] the log was rewritten" "$work/out" || fail "the rewrite is not named"
[[ $(size_in "$work/rewrite.state") == "$saved" ]] || fail "a failed run changed the state"

# --- escrow: bad objects in the token, then an inventory through the admin API ----------------
verify --state "$work/escrow.state"
expect_status 0 "verify the rewritten log from scratch (it is consistent on its own)"
stop_server
token=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$data/keyservice.conf")
SOFTHSM2_CONF=$data/softhsm/softhsm2.conf "$make_bad_keys" "$token" > /dev/null || fail "make_bad_keys"
start_server
admin -X POST "$url/v1/admin/inventory" > /dev/null || fail "inventory"
verify --state "$work/escrow.state" --json
expect_status 1 "an inventory holding bad keys"
has() { jq -e --arg rule "$1" --arg text "$2" --arg more "$3" \
  'any(.violations[]; .rule == $rule and (.message | contains($text)) and (.message | contains($more)) and (.index | type) == "number")' \
  "$work/out" >/dev/null || fail "no $1 violation naming $2 ($3)"; }
has key_policy "'bad-extractable'" "breaks the private key rules: extractable and not never-extractable"
has unaccounted_key "'bad-extractable'" "accounted for by no device.enrolled"
has escrow_capability "'bad-wrap-aes'" "able to wrap, able to unwrap and able to decrypt"
has unaccounted_key "'unlogged-signer'" "accounted for by no device.enrolled"
if jq -e 'any(.violations[]; .rule != "unaccounted_key" and (.message | contains("unlogged-signer")))' "$work/out" >/dev/null; then
  fail "the unlogged signer obeys the key rules and must be flagged only as unaccounted"
fi
verify --state "$work/escrow.state"
expect_status 1 "the human report"
grep -q "entry [0-9]* \[escrow_capability\] inventory: secret key 'bad-wrap-aes'" "$work/out" || fail "human report"
grep -q "FAILED: state not saved" "$work/out" || fail "no FAILED line"

# --- a twin: a second sign-only private key made with alice's phone's CKA_ID and label ---------
# (its public half only a session object), as an attacker with the PIN could. The service refuses
# to sign for the phone with a clear problem; the next inventory's proofs of possession expose it.
stop_server
phone_label="device:alice/$phone"
SOFTHSM2_CONF=$data/softhsm/softhsm2.conf "$make_bad_keys" "$token" twin "$phone_label" > /dev/null || fail "make_bad_keys twin"
start_server
code=$(curl -s -o "$work/twin.json" -w '%{http_code}' "${ca[@]}" -H "Authorization: Bearer $(jq -r .credential "$work/phone.json")" \
  -H 'Content-Type: application/json' -X PUT "$url/v1/accounts/alice/devices/$phone/prekeys" \
  -d "{\"signed_prekey\":{\"key_id\":10,\"public_key\":\"$(key 32)\"}}")
[[ $code == 409 ]] || fail "a prekey upload for a device with a twin key answered $code: $(cat "$work/twin.json")"
jq -e '.type == "urn:escrowless:problem:device-key-ambiguous"' "$work/twin.json" > /dev/null || fail "not the ambiguous-key problem"
admin "$url/metrics" > "$work/metrics.txt" || fail "metrics"  # not piped: grep -q would cut curl short
grep -q '^escrowless_hsm_ambiguous_key_lookups_total [1-9]' "$work/metrics.txt" || fail "the refusal is not counted in /metrics"
grep -q "device alice/$phone (CKA_ID [0-9a-f]*): 2 private keys have this id; refusing to use either" "$work"/server-*.log \
  || fail "the server log does not name the device whose id holds two keys"
admin -X POST "$url/v1/admin/inventory" > /dev/null || fail "inventory with a twin"
verify --state "$work/twin.state" --json
expect_status 1 "an inventory holding a twin key"
has duplicate_id "'$phone_label'" "shares its CKA_ID with another private key"
has possession "'$phone_label'" "does not hold the key it claims"
stop_server
echo "keyaudit: all checks passed"
