#!/usr/bin/env bash
# A split view made for real and caught (#16). One deployment, witnessed by three keywitness
# processes under a 2-of-3 policy, is copied whole while stopped: data folder, log database and
# SoftHSM token, so the copy signs with the same log key. The original (A, the honest log) and the
# copy (B, the fork) then take different writes of the same size: A enrolls a device for carol, B
# a ghost device for the victim alice. A reaches the witnesses first and is cosigned; the
# witnesses refuse B's checkpoint (422: same size, another root), B's /readyz says degraded,
# keyclient with the policy verifies alice's bundles from A and refuses B's, keyclient without
# a policy accepts B's ghost (no policy, no protection), and keyaudit --also-seen given B's
# checkpoint reports a split view of A.
# Usage: split_view_test.sh keyadmin keyserviced keywitness keyclient keyaudit
set -euo pipefail
keyadmin=$1 keyserviced=$2 keywitness=$3 keyclient=$4 keyaudit=$5
work=$(mktemp -d)
server_a= server_b=
witness_pids=()
cleanup() {
  [[ -n $server_a ]] && kill -9 "$server_a" 2>/dev/null
  [[ -n $server_b ]] && kill -9 "$server_b" 2>/dev/null
  for pid in "${witness_pids[@]}"; do [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/out ]] && cat "$work/out" >&2
  for log in "$work"/a.log "$work"/b.log; do [[ -f $log ]] && { echo "--- $log" >&2; tail -20 "$log" >&2; }; done
  exit 1
}

wait_port() {  # wait_port LOG PID: prints the port the process logged it listens on
  local port
  for _ in $(seq 600); do
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$1" 2>/dev/null || true)
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

data=$work/data
origin=split.escrowless.test/log
"$keyadmin" init --data-dir "$data" --port 0 --origin "$origin" > /dev/null
vkey=$("$keyadmin" log verifier-key --data-dir "$data")

# Three witnesses, each with its own token, serving one TLS certificate (w1's) as in
# witness_flow_test.sh.
for i in 1 2 3; do
  uri=$("$keyadmin" token init --softhsm-dir "$work/hsm-w$i" --label "witness-w$i" 2>/dev/null)
  SOFTHSM2_CONF=$work/hsm-w$i/softhsm2.conf "$keywitness" init --data-dir "$work/w$i" --token "$uri" \
    --name "witness.escrowless.test/w$i" --port 0 --log "$origin $vkey" > "$work/w$i.json"
  if ((i > 1)); then
    sed -i -e "s|^tls-cert = .*|tls-cert = \"$work/w1/tls/cert.pem\"|" \
      -e "s|^tls-key = .*|tls-key = \"$work/w1/tls/key.pem\"|" "$work/w$i/keywitness.conf"
  fi
  SOFTHSM2_CONF=$work/hsm-w$i/softhsm2.conf "$keywitness" serve --config "$work/w$i/keywitness.conf" \
    > "$work/w$i.log" 2>&1 &
  witness_pids[i]=$!
  port=$(wait_port "$work/w$i.log" "${witness_pids[i]}") || fail "keywitness w$i did not start"
  witness_url[i]=https://127.0.0.1:$port
  echo "witness w$i $(jq -r .vkey "$work/w$i.json") https://127.0.0.1:$port" >> "$work/policy"
done
printf 'group two-of-three 2 w1 w2 w3\nquorum two-of-three\n' >> "$work/policy"
wca=(--cacert "$work/w1/tls/cert.pem")

sed -i -e 's/^witness-heartbeat = .*/witness-heartbeat = 1/' -e 's/^witness-timeout = .*/witness-timeout = 2/' \
  -e 's/^witness-bundle-wait-ms = .*/witness-bundle-wait-ms = 3000/' "$data/keyservice.conf"
cat >> "$data/keyservice.conf" <<EOF
witness-policy = "$work/policy"
witness-ca-file = "$work/w1/tls/cert.pem"
EOF

start() {  # start NAME FOLDER: keyserviced on FOLDER's configuration; sets server_NAME and url_NAME
  "$keyserviced" --config "$2/keyservice.conf" > "$work/$1.log" 2>&1 &
  printf -v "server_$1" %s $!
  local pid=$!
  local port
  port=$(wait_port "$work/$1.log" "$pid") || fail "keyserviced $1 did not start"
  printf -v "url_$1" %s "https://localhost:$port"
}
stop() {  # stop NAME
  local var=server_$1
  kill -TERM "${!var}"
  wait "${!var}" || fail "keyserviced $1 did not stop cleanly"
  printf -v "$var" %s ""
}
ca=(--cacert "$data/tls/cert.pem")  # the copy keeps the same certificate
admin() { curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" -H 'Content-Length: 0' "$@"; }
enroll() {  # URL ACCOUNT NAME: enrolls a device, its id in $work/NAME.id, its credential in $work/NAME.credential
  admin -X POST "$1/v1/accounts/$2/devices" > "$work/$3.json" || fail "enroll $3"
  jq -r .device_id "$work/$3.json" > "$work/$3.id"
  (umask 077; jq -r .credential "$work/$3.json" > "$work/$3.credential")
}
key() { head -c "$1" /dev/urandom | base64 -w0; }
upload() {  # URL ACCOUNT NAME: a signed prekey and two one-time prekeys for NAME
  curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$work/$3.credential")" -H 'Content-Type: application/json' \
    -X PUT "$1/v1/accounts/$2/devices/$(cat "$work/$3.id")/prekeys" \
    -d "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"one_time_prekeys\":[{\"key_id\":10,\"public_key\":\"$(key 32)\"},{\"key_id\":11,\"public_key\":\"$(key 32)\"}]}" \
    > /dev/null || fail "upload for $3"
}
fetch() {  # fetch URL ARGS...: keyclient fetch of alice's bundles with the phone's credential; sets $status
  local url=$1
  shift
  status=0
  "$keyclient" fetch --server "$url" --verifier-key "$vkey" "${ca[@]}" --account alice \
    --credential "$work/phone.credential" "$@" > "$work/out" 2>&1 || status=$?
}
size_of() { sed -n 2p "$1"; }  # the tree size line of a checkpoint note
root_of() { sed -n 3p "$1"; }
cosigned_by() { grep -c '^— witness.escrowless.test/w' "$1" || true; }
wait_cosigned() {  # wait_cosigned URL SIZE: until URL serves a checkpoint of SIZE with two cosignatures
  for _ in $(seq 200); do
    if curl -sf "${ca[@]}" "$1/v1/log/checkpoint" > "$work/checkpoint" &&
      [[ $(size_of "$work/checkpoint") == "$2" ]] && (($(cosigned_by "$work/checkpoint") >= 2)); then
      return 0
    fi
    sleep 0.1
  done
  fail "no cosigned checkpoint of size $2 from $1: $(cat "$work/checkpoint")"
}
log_size() {  # log_size URL: the size of the newest checkpoint the log signed, from its /readyz
  curl -s "${ca[@]}" "$1/readyz" | jq -r '.log_size // empty'
}

# The honest deployment: alice's phone and carol's phone enrolled with prekeys, covered by a
# cosigned checkpoint.
start a "$data"
enroll "$url_a" alice phone
upload "$url_a" alice phone
enroll "$url_a" carol carol-phone
fetch "$url_a" --witness-policy "$work/policy" --max-age 1m
[[ $status == 0 ]] || fail "keyclient with the policy before the fork: exit $status"
common=$(log_size "$url_a")
wait_cosigned "$url_a" "$common"
stop a

# The fork: the whole folder copied, the token with it (softhsm/ under the data folder, named by
# absolute path in keyservice.conf and softhsm/softhsm2.conf), then pointed at the copy.
fork=$work/fork
cp -a "$data" "$fork"
grep -q "$data/softhsm" "$fork/keyservice.conf" || fail "the data folder's token is not under it"
sed -i "s|$data\([/\"]\)|$fork\1|g" "$fork/keyservice.conf" "$fork/softhsm/softhsm2.conf"
grep -q "$data" "$fork/keyservice.conf" "$fork/softhsm/softhsm2.conf" && fail "the copy still names the original folder"
[[ $("$keyadmin" log verifier-key --data-dir "$fork") == "$vkey" ]] || fail "the copy signs with another key"

# A first: a second device for carol, cosigned at the next size before the fork shows itself.
start a "$data"
enroll "$url_a" carol carol-tablet
upload "$url_a" carol carol-tablet
honest_size=$(log_size "$url_a")
fetch "$url_a" --witness-policy "$work/policy" --max-age 1m
[[ $status == 0 ]] || fail "keyclient with the policy on the honest log: exit $status"
((honest_size > common)) || fail "carol's enrollment did not grow the log ($common -> $honest_size)"
wait_cosigned "$url_a" "$honest_size"
cp "$work/checkpoint" "$work/honest.checkpoint"
jq -e '[.bundles[].device_id] == ["'"$(cat "$work/phone.id")"'"]' "$work/out" > /dev/null ||
  fail "the honest log serves alice other devices than her phone"

# Then B, the copy: a ghost device for alice with prekeys, the same writes as carol's tablet
# (a device with prekeys for an existing account), so the same size.
start b "$fork"
enroll "$url_b" alice ghost
upload "$url_b" alice ghost
for _ in $(seq 100); do [[ $(log_size "$url_b") == "$honest_size" ]] && break; sleep 0.1; done
[[ $(log_size "$url_b") == "$honest_size" ]] || fail "the fork's log is not at size $honest_size: $(log_size "$url_b")"

# The witnesses cosigned A at that size; B's checkpoint of the same size has another root. Each
# witness answers B 409 (it holds a larger size than B assumed) and then 422 (same size, another
# root); B's collector records the 422 per witness and its /readyz turns degraded, its served
# checkpoint stuck at the common size while its cosignatures age.
readyz_b() { curl -s "${ca[@]}" "$url_b/readyz" > "$work/ready.json" || true; }
refused_by_all() {
  jq -e '.status == "degraded" and ([.witnesses[].last_error | test("answered HTTP 422")] | all)
         and (.witnesses | length == 3)' "$work/ready.json" > /dev/null 2>&1
}
for _ in $(seq 200); do readyz_b; refused_by_all && break; sleep 0.1; done
refused_by_all || fail "the fork's /readyz does not show three 422 refusals and degraded: $(cat "$work/ready.json")"
jq -e --argjson c "$common" '.cosigned_size == $c' "$work/ready.json" > /dev/null ||
  fail "the fork serves a cosigned checkpoint beyond the common size: $(cat "$work/ready.json")"
jq -e '.problem | contains("w1") and contains("w2") and contains("w3")' "$work/ready.json" > /dev/null ||
  fail "the fork's /readyz does not name the witnesses: $(cat "$work/ready.json")"
echo "fork /readyz: $(jq -c '{status, log_size, cosigned_size, errors: [.witnesses[].last_error]}' "$work/ready.json")"
hash=$(printf '%s' "$origin" | sha256sum | cut -d' ' -f1)
for i in 1 2 3; do
  curl -sf "${wca[@]}" "${witness_url[i]}/metrics" > "$work/w$i.metrics" || fail "w$i metrics"
  grep -q '^escrowless_http_requests_total{.*route="/add-checkpoint".*status="422"} [1-9]' "$work/w$i.metrics" ||
    fail "w$i answered no 422: $(grep add-checkpoint "$work/w$i.metrics")"
  # (A's first submission after its restart also meets a 409: this only shows the path was taken.)
  grep -q '^escrowless_http_requests_total{.*route="/add-checkpoint".*status="409"} [1-9]' "$work/w$i.metrics" ||
    fail "w$i answered no 409: $(grep add-checkpoint "$work/w$i.metrics")"
  echo "w$i: $(grep '^escrowless_http_requests_total{.*route="/add-checkpoint"' "$work/w$i.metrics" | sed 's/.*status="\([0-9]*\)"} \([0-9]*\)/\1 x\2/' | tr '\n' ' ')"
  # What the witness holds is A's tree, not B's.
  curl -sf "${wca[@]}" "${witness_url[i]}/$hash/checkpoint" > "$work/w$i.latest" || fail "w$i monitoring path"
  [[ $(size_of "$work/w$i.latest") == "$honest_size" && $(root_of "$work/w$i.latest") == $(root_of "$work/honest.checkpoint") ]] ||
    fail "w$i holds another tree than the honest log's: $(cat "$work/w$i.latest")"
done

# A client with the policy: alice's bundles from B (the ghost among them) are handed out after
# the bundle wait against B's own uncosigned checkpoint, and refused, naming the witnesses.
fetch "$url_b" --witness-policy "$work/policy" --max-age 1m
[[ $status == 1 ]] || fail "keyclient with the policy accepted the fork: exit $status"
grep -q "no quorum of witness cosignatures" "$work/out" || fail "keyclient does not say why it refuses the fork"
grep -q "w1" "$work/out" && grep -q "w2" "$work/out" && grep -q "w3" "$work/out" ||
  fail "keyclient does not name the missing witnesses"
echo "keyclient --witness-policy against the fork: $(tail -1 "$work/out")"
# The same client, same policy, against A: verifies.
fetch "$url_a" --witness-policy "$work/policy" --max-age 1m
[[ $status == 0 ]] || fail "keyclient with the policy refused the honest log: exit $status"
# A client without a policy is not protected: it takes B's fork, ghost and all.
fetch "$url_b"
[[ $status == 0 ]] || fail "keyclient without a policy refused the fork (it has no way to know): exit $status"
jq -e --arg g "$(cat "$work/ghost.id")" '[.bundles[].device_id] | index($g) != null' "$work/out" > /dev/null ||
  fail "the fork does not serve the ghost device"
jq -j .checkpoint.note "$work/out" > "$work/fork.checkpoint"  # -j: the note ends with its own newline
[[ $(size_of "$work/fork.checkpoint") == "$honest_size" ]] || fail "the fork's checkpoint is not of size $honest_size"
[[ $(root_of "$work/fork.checkpoint") != $(root_of "$work/honest.checkpoint") ]] || fail "the fork has the honest root"
((  $(cosigned_by "$work/fork.checkpoint") == 0 )) || fail "the fork's checkpoint carries cosignatures"

# An auditor of A who is shown B's checkpoint (another auditor's, a contact's) reports a split
# view: two roots for one size, both signed by the log's key.
status=0
"$keyaudit" verify --server "$url_a" --verifier-key "$vkey" "${ca[@]}" --witness-policy "$work/policy" --max-age 1m \
  --also-seen "$work/fork.checkpoint" > "$work/out" 2>&1 || status=$?
[[ $status == 1 ]] || fail "keyaudit with the fork's checkpoint: exit $status"
grep -q "split view: the log signed two trees of size $honest_size" "$work/out" || fail "keyaudit does not report the split view"
echo "keyaudit --also-seen: $(grep -m1 "split view: the log signed" "$work/out")"
# And without it, A alone audits clean.
status=0
"$keyaudit" verify --server "$url_a" --verifier-key "$vkey" "${ca[@]}" --witness-policy "$work/policy" --max-age 1m \
  --also-seen "$work/honest.checkpoint" > "$work/out" 2>&1 || status=$?
[[ $status == 0 ]] || fail "keyaudit of the honest log with its own checkpoint: exit $status"

stop b
stop a
echo "split view: all checks passed"
