#!/usr/bin/env bash
# The log collecting cosignatures, end to end as docs/operations.md ("Witnesses") sets it up:
# three keywitness processes, each with its own SoftHSM token, on ephemeral ports; keyserviced
# with a 2-of-3 witness policy and a 1 s heartbeat. keyclient fetch and keyaudit verify with the
# policy accept; with one witness stopped nothing changes for them; with two stopped the service
# stays up and writing, /readyz says degraded, and keyclient with a small --max-age refuses.
# Usage: witness_flow_test.sh keyadmin keyserviced keywitness keyclient keyaudit
set -euo pipefail
keyadmin=$1 keyserviced=$2 keywitness=$3 keyclient=$4 keyaudit=$5
work=$(mktemp -d)
server=
witness_pids=()
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  for pid in "${witness_pids[@]}"; do [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/out ]] && cat "$work/out" >&2; [[ -f $work/server.log ]] && tail -20 "$work/server.log" >&2; exit 1; }

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

# The service's data folder first: the witnesses must know the log's origin and key.
data=$work/data
origin=witnessed.escrowless.test/log
"$keyadmin" init --data-dir "$data" --port 0 --origin "$origin" > /dev/null
vkey=$("$keyadmin" log verifier-key --data-dir "$data")
ca=(--cacert "$data/tls/cert.pem")

# Three witnesses, each with its own token. They serve one TLS certificate (w1's), so that the
# service trusts them with one CA file: self-signed certificates of one name would shadow each
# other in a bundle.
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
  echo "witness w$i $(jq -r .vkey "$work/w$i.json") https://127.0.0.1:$port" >> "$work/policy"
done
printf 'group two-of-three 2 w1 w2 w3\nquorum two-of-three\n' >> "$work/policy"
stop_witness() { kill -TERM "${witness_pids[$1]}"; wait "${witness_pids[$1]}" || true; witness_pids[$1]=; }

# keyadmin init wrote the witness settings' defaults; the policy and CA file it leaves out.
sed -i -e 's/^witness-heartbeat = .*/witness-heartbeat = 1/' -e 's/^witness-timeout = .*/witness-timeout = 2/' \
  -e 's/^witness-bundle-wait-ms = .*/witness-bundle-wait-ms = 3000/' "$data/keyservice.conf"
grep -q '^witness-heartbeat = 1$' "$data/keyservice.conf" || fail "keyadmin init wrote no witness-heartbeat"
cat >> "$data/keyservice.conf" <<EOF
witness-policy = "$work/policy"
witness-ca-file = "$work/w1/tls/cert.pem"
EOF
"$keyserviced" --config "$data/keyservice.conf" > "$work/server.log" 2>&1 &
server=$!
port=$(wait_port "$work/server.log" "$server") || fail "keyserviced did not start"
url=https://localhost:$port
grep -q "witness policy $work/policy: 3 witnesses, quorum two-of-three" "$work/server.log" || fail "the policy is not announced"

admin() { curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" -H 'Content-Length: 0' "$@"; }
admin -X POST "$url/v1/accounts/alice/devices" > "$work/phone.json" || fail "enroll"
jq -r .credential "$work/phone.json" > "$work/credential"; chmod 600 "$work/credential"
readyz() { curl -sf "${ca[@]}" "$url/readyz" > "$work/ready.json" || fail "readyz"; jq -r .status "$work/ready.json"; }
fetch() {  # fetch ARGS...: keyclient fetch of alice's bundles under the policy; sets $status
  status=0
  "$keyclient" fetch --server "$url" --verifier-key "$vkey" "${ca[@]}" --account alice --credential "$work/credential" \
    --witness-policy "$work/policy" "$@" > "$work/out" 2>&1 || status=$?
}

# The enrollment was acknowledged at once; its bundle waits for a cosigned checkpoint.
fetch --max-age 1m
[[ $status == 0 ]] || fail "keyclient with the policy: exit $status"
curl -sf "${ca[@]}" "$url/v1/log/checkpoint" > "$work/checkpoint" || fail "checkpoint"
(( $(grep -c '^— witness.escrowless.test/w' "$work/checkpoint") >= 2 )) || fail "fewer than two cosignatures: $(cat "$work/checkpoint")"
status=0
"$keyaudit" verify --server "$url" --verifier-key "$vkey" "${ca[@]}" --witness-policy "$work/policy" --max-age 1m \
  > "$work/out" 2>&1 || status=$?
[[ $status == 0 ]] || fail "keyaudit with the policy: exit $status"
[[ $(readyz) == ready ]] || fail "not ready: $(cat "$work/ready.json")"
curl -sf "${ca[@]}" "$url/metrics" | grep -q '^escrowless_witness_up{witness="w2"} 1' || fail "no witness metrics"

# One witness stopped: nothing changes for clients, new keys included.
stop_witness 3
admin -X POST "$url/v1/accounts/alice/devices" > /dev/null || fail "enroll with w3 stopped"
fetch --max-age 1m
[[ $status == 0 ]] || fail "keyclient with w3 stopped: exit $status"
[[ $(readyz) == ready ]] || fail "not ready with w3 stopped: $(cat "$work/ready.json")"

# Two stopped: the service stays up and writing; once the cosignatures are older than three
# heartbeats and the timeout, it says degraded, and a client with a small --max-age refuses.
stop_witness 2
admin -X POST "$url/v1/accounts/bob/devices" > /dev/null || fail "enroll with two witnesses stopped"
for _ in $(seq 200); do [[ $(readyz) == degraded ]] && break; sleep 0.1; done
[[ $(readyz) == degraded ]] || fail "not degraded with two witnesses stopped: $(cat "$work/ready.json")"
jq -e '.problem | contains("w2") and contains("w3")' "$work/ready.json" > /dev/null || fail "readyz does not name w2 and w3"
jq -e '.witnesses[1].last_error | contains("cannot connect")' "$work/ready.json" > /dev/null || fail "no last error for w2"
fetch --max-age 3s
[[ $status == 1 ]] || fail "keyclient accepted a stale quorum: exit $status"
grep -q "no quorum of witness cosignatures" "$work/out" || fail "keyclient does not say why"
fetch  # the default maximum age (a day): the last quorum still counts
[[ $status == 0 ]] || fail "keyclient with the default --max-age: exit $status"
kill -TERM "$server"; wait "$server" || fail "keyserviced did not stop cleanly"; server=
grep -q "stopped cleanly" "$work/server.log" || fail "no clean shutdown"
echo "witness flow: all checks passed"
