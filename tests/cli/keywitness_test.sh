#!/usr/bin/env bash
# keywitness end to end, as docs/auditor-guide.md §9 shows it: a witness token made by keyadmin,
# keywitness init, serve on an ephemeral port, a real log's first checkpoint (keyadmin log init)
# submitted with curl, its cosignature checked by the openssl command line against the printed
# vkey, the monitoring path, a clean SIGTERM shutdown and a restart that kept the state (409 with
# the size), and start-up refusals with exit 1.
# Usage: keywitness_test.sh PATH/TO/keyadmin PATH/TO/keywitness
set -euo pipefail
keyadmin=$1 keywitness=$2
work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill -9 "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -n ${log:-} && -f $log ]] && tail -20 "$log" >&2; exit 1; }

# The log: its own token and data folder; the witness sees only its origin and verifier key.
origin=log.escrowless.test/w
log_uri=$("$keyadmin" token init --softhsm-dir "$work/loghsm" --label log 2>/dev/null)
SOFTHSM2_CONF=$work/loghsm/softhsm2.conf "$keyadmin" log init --token "$log_uri" --data-dir "$work/log" \
  --origin "$origin" > "$work/log.json"
log_vkey=$(jq -r .verifier_key "$work/log.json")
jq -j .checkpoint "$work/log.json" > "$work/checkpoint"

# The witness.
uri=$("$keyadmin" token init --softhsm-dir "$work/hsm" --label witness 2>/dev/null)
export SOFTHSM2_CONF=$work/hsm/softhsm2.conf
data=$work/w1
"$keywitness" init --data-dir "$data" --token "$uri" --name witness.escrowless.test/w1 --port 0 \
  --log "$origin $log_vkey" > "$work/init.json"
vkey=$(jq -r .vkey "$work/init.json")
[[ $vkey == witness.escrowless.test/w1+????????+* ]] || fail "init printed no vkey: $vkey"
[[ $("$keywitness" vkey --config "$data/keywitness.conf") == "$vkey" ]] || fail "vkey differs from init's"
[[ $(stat -c %a "$data") == 700 ]] || fail "data folder mode"
if "$keywitness" init --data-dir "$data" --token "$uri" --name w2 2>"$work/err"; then fail "a second init succeeded"; fi
grep -q "already holds a witness" "$work/err" || fail "second init did not say why: $(cat "$work/err")"
if "$keywitness" init --data-dir "$work/w2" --token "$uri" --name w2 2>"$work/err"; then
  fail "a second key on the token was made"
fi
grep -q "already holds a key labelled keywitness" "$work/err" || fail "second key: $(cat "$work/err")"

starts=0
start_server() {
  starts=$((starts + 1))
  log=$work/server-$starts.log
  "$keywitness" serve --config "$data/keywitness.conf" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
    if [[ -n $port ]]; then url=https://localhost:$port; return 0; fi
    kill -0 "$server" 2>/dev/null || fail "keywitness exited at start"
    sleep 0.1
  done
  fail "keywitness did not start listening"
}
stop_server() {
  kill -TERM "$server"
  local status=0
  wait "$server" || status=$?
  server=
  [[ $status -eq 0 ]] || fail "keywitness exited $status after SIGTERM"
  grep -q "stopped cleanly" "$log" || fail "no clean-shutdown line"
}
ca=(--cacert "$data/tls/cert.pem")
# POSTs a body file; prints the status, leaves the body in $work/reply and the headers in $work/headers.
submit() {
  curl -s "${ca[@]}" -o "$work/reply" -D "$work/headers" -w '%{http_code}' --data-binary "@$1" \
    -H 'Content-Type: text/plain' "$url/add-checkpoint"
}

start_server
{ printf 'old 0\n\n'; cat "$work/checkpoint"; } > "$work/body0"
[[ $(submit "$work/body0") == 200 ]] || fail "add-checkpoint: $(cat "$work/reply")"
[[ $(wc -l < "$work/reply") -eq 1 ]] || fail "expected one cosignature line"

# The openssl command line checks the cosignature under the vkey's Ed25519 key.
line=$(cat "$work/reply")
[[ $line == "— witness.escrowless.test/w1 "* ]] || fail "not a cosignature line: $line"
printf '%s' "${line##* }" | base64 -d > "$work/payload"
[[ $(stat -c %s "$work/payload") -eq 76 ]] || fail "payload is not key id, timestamp and signature"
[[ $(head -c 4 "$work/payload" | xxd -p) == $(printf '%s' "$vkey" | cut -d+ -f2) ]] || fail "key id"
timestamp=$((16#$(head -c 12 "$work/payload" | tail -c 8 | xxd -p)))
now=$(date +%s)
(( timestamp <= now && timestamp > now - 120 )) || fail "timestamp $timestamp is not now"
tail -c 64 "$work/payload" > "$work/sig"
{ printf 'cosignature/v1\ntime %s\n' "$timestamp"; sed '/^$/,$d' "$work/checkpoint"; } > "$work/message"
{ printf '302a300506032b6570032100' | xxd -r -p; printf '%s' "$vkey" | cut -d+ -f3- | base64 -d | tail -c 32; } > "$work/pub.der"
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
openssl pkeyutl -verify -pubin -inkey "$work/pub.pem" -rawin -in "$work/message" -sigfile "$work/sig" >/dev/null \
  || fail "openssl rejects the cosignature"

# Monitors read it back: the log's checkpoint and the cosignature.
hash=$(printf '%s' "$origin" | sha256sum | cut -d' ' -f1)
curl -sf "${ca[@]}" "$url/$hash/checkpoint" > "$work/latest" || fail "monitoring path"
cat "$work/checkpoint" "$work/reply" | cmp -s - "$work/latest" || fail "served checkpoint: $(cat "$work/latest")"

# Refusals, in plain text.
{ printf 'old 0\n\n'; sed 's|^log.escrowless.test/w$|other.example/log|' "$work/checkpoint"; } > "$work/unknown"
[[ $(submit "$work/unknown") == 404 ]] || fail "unknown origin: $(cat "$work/reply")"
grep -qi '^content-type: text/plain' "$work/headers" || fail "404 is not plain text"
{ printf 'old 0\n\n'; sed 's|^2$|3|' "$work/checkpoint"; } > "$work/forged"
[[ $(submit "$work/forged") == 403 ]] || fail "forged checkpoint: $(cat "$work/reply")"
printf 'old 1\n' > "$work/bad"
[[ $(submit "$work/bad") == 400 ]] || fail "malformed body: $(cat "$work/reply")"

# Restart: the state is kept, and a client that forgot it learns the size from a 409.
stop_server
start_server
[[ $(submit "$work/body0") == 409 ]] || fail "after restart, old 0 should be refused: $(cat "$work/reply")"
grep -qi '^content-type: text/x.tlog.size' "$work/headers" || fail "409 content type"
[[ $(cat "$work/reply") == 2 ]] || fail "409 body: $(cat "$work/reply")"
{ printf 'old 2\n\n'; cat "$work/checkpoint"; } > "$work/body2"
[[ $(submit "$work/body2") == 200 ]] || fail "resubmission from 2: $(cat "$work/reply")"
stop_server

# No state file, or no log: serve refuses to start (exit 1), naming why.
mv "$data/witness.db" "$work/moved.db"
status=0; "$keywitness" serve --config "$data/keywitness.conf" 2>"$work/err" || status=$?
[[ $status -eq 1 ]] || fail "serve without its state file exited $status"
grep -q "witness.db" "$work/err" || fail "no state file: $(cat "$work/err")"
mv "$work/moved.db" "$data/witness.db"
sed -i '/^log = /d' "$data/keywitness.conf"
status=0; "$keywitness" serve --config "$data/keywitness.conf" 2>"$work/err" || status=$?
[[ $status -eq 1 ]] || fail "serve without a log exited $status"
grep -q "no log configured" "$work/err" || fail "no log: $(cat "$work/err")"
status=0; "$keywitness" serve 2>/dev/null || status=$?
[[ $status -eq 2 ]] || fail "usage error exited $status"
echo "keywitness end to end: ok"
