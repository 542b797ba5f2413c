#!/usr/bin/env bash
# Hostile clients against the real keyserviced (issue 6, part 5), with small limits so each one
# bites quickly: enrollment rate per credential and bundle fetch rate per address (429
# problem+json with Retry-After, and the limit lifts after it), body size (413), header size (400
# for one huge line, 431 for too many), a slowloris client trickling its headers (cut at the
# request deadline), idle keep-alive connections (closed), requests per connection, connections
# per address (handshake refused), and TLS below 1.2 refused by the server (openssl s_client; the
# client is told SECLEVEL=0 so that only the server can be the one refusing TLS 1.1).
# No check depends on how fast this machine is: the rates are slow enough that a burst can't
# refill while it is sent, each wait is for an event (a connection closed, a handshake done) with
# a bound only a hang reaches, and the only fixed wait is the Retry-After the server asked for.
# Usage: abuse_test.sh PATH/TO/keyadmin PATH/TO/keyserviced
set -euo pipefail
keyadmin=$1 keyserviced=$2
work=$(mktemp -d)
server=
pids=()
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  touch "$work/release"  # ends the feeders of held connections
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/server.log ]] && tail -20 "$work/server.log" >&2; exit 1; }
now() { date +%s.%N; }
# Polls COMMAND... every 0.1 s until it succeeds; false after LIMIT seconds (only a hang gets there).
wait_for() {
  local limit=$1; shift
  local end=$(( $(date +%s) + limit ))
  until "$@"; do (( $(date +%s) < end )) || return 1; sleep 0.1; done
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 > "$work/init.json"
# One enrollment per 10 s and one fetch per 20 s after the burst: a burst of 4 requests refills
# no token unless the machine takes that long to answer them.
"$keyserviced" --config "$data/keyservice.conf" --threads 16 \
  --enroll-rate-per-credential 0.1 --enroll-rate-per-address 0 --enroll-burst 3 \
  --fetch-rate-per-credential 0 --fetch-rate-per-address 0.05 --fetch-burst 4 \
  --max-body-bytes 2048 --request-timeout 3 --keep-alive-timeout 1 --keep-alive-max-requests 3 \
  --max-connections-per-address 4 > "$work/server.log" 2>&1 &
server=$!
listening() {
  kill -0 "$server" || fail "keyserviced exited at start-up"
  port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$work/server.log" 2>/dev/null || true)  # the log may not exist yet
  [[ -n $port ]]
}
wait_for 120 listening || fail "keyserviced did not start"
url=https://localhost:$port
ca=(--cacert "$data/tls/cert.pem")
admin=(-H "Authorization: Bearer $(cat "$data/admin-token")")
request() {  # NAME METHOD PATH [curl args]: prints the status; body and headers in $work/NAME.*
  local name=$1 method=$2 path=$3; shift 3
  curl -sS "${ca[@]}" -X "$method" -o "$work/$name.body" -D "$work/$name.head" -w '%{http_code}' "$@" "$url$path"
}
expect_problem() {  # NAME STATUS
  grep -qi '^content-type: application/problem+json' "$work/$1.head" || fail "$1: not problem+json"
  jq -e --argjson s "$2" '.status == $s' "$work/$1.body" >/dev/null || fail "$1: $(cat "$work/$1.body")"
}
retry_after() { sed -n 's/^[Rr]etry-[Aa]fter: \([0-9]*\).*/\1/p' "$work/$1.head"; }
metric() { curl -sf "${ca[@]}" "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
s_client() { openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@"; }

# --- Enrollment: 3 at once per credential, then 429 until a token refills (one per 10 s).
for i in 1 2 3; do [[ $(request "e$i" POST /v1/accounts/alice/devices "${admin[@]}" -H 'Content-Length: 0') == 201 ]] || fail "enroll $i"; done
[[ $(request e4 POST /v1/accounts/alice/devices "${admin[@]}" -H 'Content-Length: 0') == 429 ]] || fail "4th enroll in a burst: $(cat "$work/e4.body")"
expect_problem e4 429
jq -e '.type == "urn:escrowless:problem:rate-limited"' "$work/e4.body" >/dev/null || fail "429 type"
wait_s=$(retry_after e4); [[ $wait_s -ge 1 ]] || fail "no Retry-After on 429"
refused_at=$(now)  # the limit lifting after Retry-After is checked at the end; the rest runs meanwhile
# Per credential: another caller (a device of the account) is not held back by the admin's bucket.
cred=$(jq -r .credential "$work/e1.body"); dev=$(jq -r .device_id "$work/e1.body")
[[ $(request e5 POST /v1/accounts/alice/devices -H "Authorization: Bearer $cred" -H 'Content-Length: 0') == 201 ]] \
  || fail "a device's enrollment was limited by the admin's bucket: $(cat "$work/e5.body")"

# --- Bundle fetches: 4 at once per address whatever the credential, then 429.
creds=($(jq -r .credential "$work/e1.body" "$work/e2.body" "$work/e3.body" "$work/e5.body"))
for i in 0 1 2 3; do
  [[ $(request "f$i" GET "/v1/accounts/alice/devices/$dev/bundle" -H "Authorization: Bearer ${creds[$i]}") == 200 ]] \
    || fail "fetch $i: $(cat "$work/f$i.body")"
done
[[ $(request f4 GET /v1/accounts/alice/bundles "${admin[@]}") == 429 ]] || fail "5th fetch from one address: $(cat "$work/f4.body")"
expect_problem f4 429
[[ $(retry_after f4) -ge 1 ]] || fail "no Retry-After on the fetch 429"
# Other routes are not limited.
[[ $(request c1 GET /v1/log/checkpoint) == 200 ]] || fail "an unlimited route was limited"

# --- Body and header size.
big=$(head -c 4096 /dev/zero | tr '\0' a)
[[ $(request body PUT "/v1/accounts/alice/devices/$dev/prekeys" -H "Authorization: Bearer $cred" \
  -H 'Content-Type: application/json' -d "{\"x\":\"$big\"}") == 413 ]] || fail "a 4 KiB body over a 2 KiB limit"
expect_problem body 413
[[ $(request line GET /healthz -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)") == 400 ]] || fail "a 10 KB header line"
many=(); for i in $(seq 200); do many+=(-H "X-Filler-$i: $(head -c 100 /dev/zero | tr '\0' b)"); done
[[ $(request many GET /healthz "${many[@]}") == 431 ]] || fail "20 KB of headers"
expect_problem many 431

# --- Slow clients. held_for NAME LIMIT FEEDER...: an `openssl s_client -quiet` connection fed by
# FEEDER (run until the connection ends); prints how many seconds the connection lasted, and
# leaves what the server sent in $work/NAME.out. LIMIT, far beyond any deadline of the server,
# only ends a connection the server failed to close.
held_for() {
  local name=$1 limit=$2 start; shift 2
  start=$(now)
  { "$@"; } | { timeout "$limit" openssl s_client -quiet -connect "127.0.0.1:$port" > "$work/$name.out" 2>&1 || true
                now > "$work/$name.end"; touch "$work/$name.closed"; } || true  # the feeder may die of SIGPIPE
  elapsed "$start" "$(cat "$work/$name.end")"
}
# A slowloris: the request line, then one header byte every half second, for a minute. Each read
# is quick, so only the whole-request deadline (3 s) can stop it.
slowloris() {
  printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n'
  for _ in $(seq 120); do [[ -e $work/slow.closed ]] && return; printf 'X'; sleep 0.5; done
}
took=$(held_for slow 90 slowloris)
less_than "$took" 55 || fail "the slowloris client held its connection for $took s (deadline 3 s)"
less_than 2.5 "$took" || fail "the slowloris client was cut after only $took s, before its deadline"
grep -q "HTTP/1.1" "$work/slow.out" && fail "the slowloris client got an answer"
[[ $(metric escrowless_http_connections_cut_total) -ge 1 ]] || fail "no cut connection counted"
# An idle keep-alive connection after one request: closed by the server (keep-alive-timeout 1 s)
# while the client would wait a minute more.
idle() {
  printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'
  for _ in $(seq 600); do [[ -e $work/idle.closed ]] && return; sleep 0.1; done
}
took=$(held_for idle 90 idle)
grep -q "HTTP/1.1 200" "$work/idle.out" || fail "no answer on the keep-alive connection"
less_than "$took" 55 || fail "an idle keep-alive connection stayed open $took s (keep-alive-timeout 1 s)"
# Requests per connection: curl sends 5 over keep-alive, the server closes after 3, curl reconnects
# for the 4th (num_connects is 1 for a transfer that opened a connection, 0 for one that reused one).
curl -sS "${ca[@]}" -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' \
  "$url/healthz" "$url/healthz" "$url/healthz" "$url/healthz" "$url/healthz" > "$work/connects"
[[ $(paste -sd ' ' "$work/connects") == "1 0 0 1 0" ]] \
  || fail "5 requests with 3 per connection: connections opened per request $(paste -sd ' ' "$work/connects"), not 1 0 0 1 0"

# --- Connections per address: 4 idle TLS connections held open (until told to close), the 5th
# handshake is refused.
refused_before=$(metric escrowless_http_connections_refused_total)
hold() { until [[ -e $work/release || ! -d $work ]]; do sleep 0.1; done; }
for i in 1 2 3 4; do
  hold | s_client > "$work/hold$i.out" 2>&1 &
  pids+=($!)
done
handshakes_done() { [[ $(grep -l "^---$" "$work"/hold*.out 2>/dev/null | wc -l) -eq 4 ]]; }
wait_for 60 handshakes_done || fail "the 4 connections to hold were not all set up: $(tail -n2 "$work"/hold*.out)"
if s_client < /dev/null > "$work/fifth.out" 2>&1; then fail "a 5th connection from one address was accepted"; fi
grep -q "alert handshake failure" "$work/fifth.out" || fail "the 5th connection failed otherwise: $(tail -3 "$work/fifth.out")"
touch "$work/release"
wait "${pids[@]}" 2>/dev/null || true
pids=()
# Once they are gone (the server notices each close on its own time), connections are accepted again.
accepted_again() { s_client < /dev/null > "$work/after.out" 2>&1; }
wait_for 60 accepted_again || fail "connections still refused after the others closed: $(tail -3 "$work/after.out")"
[[ $(metric escrowless_http_connections_refused_total) -gt $refused_before ]] || fail "no refused connection counted"

# --- TLS versions: 1.1 refused by the server (alert 70, protocol version), 1.2 and 1.3 accepted.
if s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' < /dev/null > "$work/tls11.out" 2>&1; then fail "TLS 1.1 accepted"; fi
grep -q "alert protocol version" "$work/tls11.out" || fail "TLS 1.1 failed, but not by the server's refusal: $(grep -i error "$work/tls11.out")"
for v in 1_2 1_3; do
  s_client "-tls$v" < /dev/null > "$work/tls$v.out" 2>&1 || fail "TLS ${v/_/.} refused"
  grep -q "^New, TLSv${v/_/.}, Cipher is" "$work/tls$v.out" || fail "TLS ${v/_/.} not negotiated: $(grep -E 'New|Protocol|error' "$work/tls$v.out")"
done

# --- The enrollment limit lifts once the Retry-After of the 429 has passed.
sleep "$(awk -v a="$refused_at" -v w="$wait_s" -v n="$(now)" 'BEGIN { r = a + w - n; printf "%.2f", (r > 0 ? r : 0) }')"
[[ $(request e6 POST /v1/accounts/alice/devices "${admin[@]}" -H 'Content-Length: 0') == 201 ]] \
  || fail "enroll after Retry-After: $(cat "$work/e6.body")"

kill -0 "$server" || fail "keyserviced died"
kill -TERM "$server"; status=0; wait "$server" || status=$?; server=
[[ $status -eq 0 ]] || fail "keyserviced exited $status after SIGTERM"
echo "abuse: all checks passed"
