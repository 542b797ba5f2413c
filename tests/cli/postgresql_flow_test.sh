#!/usr/bin/env bash
# A PostgreSQL deployment end to end: keyadmin init --postgresql into a fresh database of the test
# run's server, keyserviced on it (storage = postgresql), enroll -> upload -> fetch a bundle over
# HTTPS, checked by scripts/verify-bundle against the verifier key init printed; a restart that
# carries on from the same log and keys; and the refusals: a URL with a password (never echoed),
# a database that holds a log already, a schema newer than the build.
# Usage: postgresql_flow_test.sh KEYADMIN KEYSERVICED VERIFY_BUNDLE POSTGRESQL_STATE_DIR
set -euo pipefail
keyadmin=$1 keyserviced=$2 verify=$3 pgstate=$4
work=$(mktemp -d)
server=
db=flow_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
[[ -f $pgstate/conninfo && -f $pgstate/passfile ]] || { echo "FAIL: no PostgreSQL test server in $pgstate" >&2; exit 1; }
export PGPASSFILE=$pgstate/passfile
admin_conninfo=$(cat "$pgstate/conninfo")
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  psql "$admin_conninfo" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -n ${log:-} && -f $log ]] && tail -20 "$log" >&2; exit 1; }

psql "$admin_conninfo" -qc "CREATE DATABASE $db" >/dev/null
url_db="$admin_conninfo dbname=$db"  # a later keyword wins

# A password in the URL is refused before anything is made, and not echoed.
status=0
"$keyadmin" init --data-dir "$work/refused" --port 0 --postgresql "$url_db password=hunter2-secret" \
  > "$work/refused.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "init with a password in the URL exited $status, not 1"
grep -q "password" "$work/refused.out" || fail "no reason given: $(cat "$work/refused.out")"
if grep -q hunter2 "$work/refused.out"; then fail "the password was echoed"; fi
[[ ! -e $work/refused/keyservice.conf ]] || fail "a refused init wrote a config"

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin pg.escrowless.test/log --postgresql "$url_db" > "$work/init.json"
[[ ! -e $data/log.db && ! -e $data/devices.db ]] || fail "init made SQLite files for a PostgreSQL deployment"
grep -q '^storage = "postgresql"$' "$data/keyservice.conf" || fail "config lacks storage = postgresql"
[[ $(psql "$url_db" -Atc "SELECT count(*) FROM leaves") == 2 ]] || fail "the log's first entries are not in PostgreSQL"
[[ $(psql "$url_db" -Atc "SELECT version FROM schema_version WHERE component = 'devices'") == 1 ]] || fail "no device tables"
vkey=$(jq -r .verifier_key "$work/init.json")

# A second init into the same database is refused: it holds a log.
status=0
"$keyadmin" init --data-dir "$work/second" --port 0 --postgresql "$url_db" > "$work/second.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "a second init into a database with a log exited $status, not 1"

starts=0
start_server() {
  starts=$((starts + 1))
  log=$work/server-$starts.log
  "$keyserviced" --config "$data/keyservice.conf" "$@" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
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
}

start_server
ca=(--cacert "$data/tls/cert.pem")
admin_token=$(cat "$data/admin-token")
curl -sf "${ca[@]}" -H "Authorization: Bearer $admin_token" -X POST "$url/v1/accounts/alice/devices" \
  > "$work/device.json" || fail "enroll"
dev=$(jq -r .device_id "$work/device.json")
credential=$(jq -r .credential "$work/device.json")
key() { head -c "$1" /dev/urandom | base64 -w0; }
body="{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"}"
body+=",\"one_time_prekeys\":[{\"key_id\":10,\"public_key\":\"$(key 32)\"},{\"key_id\":11,\"public_key\":\"$(key 32)\"},{\"key_id\":12,\"public_key\":\"$(key 32)\"}]}"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" -H 'Content-Type: application/json' -X PUT \
  "$url/v1/accounts/alice/devices/$dev/prekeys" -d "$body" > /dev/null || fail "upload"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" "$url/v1/accounts/alice/devices/$dev/bundle" \
  > "$work/bundle1.json" || fail "bundle"
[[ $(curl -sf "${ca[@]}" "$url/v1/log/verifier-key") == "$vkey" ]] || fail "served verifier key differs from init's"
"$verify" "$work/bundle1.json" "$vkey" > "$work/verify1.out" || fail "verify-bundle rejects a bundle served from PostgreSQL"
first=$(jq -r '.bundles[0].one_time_prekey.key_id' "$work/bundle1.json")
[[ $first == 10 ]] || fail "the first one-time key handed out is $first, not 10"
[[ $(psql "$url_db" -Atc "SELECT count(*) FROM devices") == 1 ]] || fail "the device is not in PostgreSQL"
size_before=$(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
stop_server

# Restart: the same log, the device and its keys; a key handed out before is never again (the
# keys claimed ahead were put back on the clean stop, the next one is 11).
start_server
size_after=$(curl -sf "${ca[@]}" "$url/v1/log/checkpoint" | sed -n 2p)
[[ $size_after == "$size_before" ]] || fail "size changed across restart: $size_before then $size_after"
curl -sf "${ca[@]}" -H "Authorization: Bearer $credential" "$url/v1/accounts/alice/devices/$dev/bundle" \
  > "$work/bundle2.json" || fail "bundle after restart"
"$verify" "$work/bundle2.json" "$vkey" > "$work/verify2.out" || fail "verify-bundle rejects a bundle after restart"
[[ $(jq -r '.bundles[0].one_time_prekey.key_id' "$work/bundle2.json") == 11 ]] || fail "after restart the next key is not 11"
stop_server

# A schema newer than this build: keyserviced refuses to start, exit 1, saying so.
psql "$url_db" -qc "UPDATE schema_version SET version = version + 1 WHERE component = 'devices'"
status=0
"$keyserviced" --config "$data/keyservice.conf" > "$work/newer.log" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "keyserviced on a newer schema exited $status, not 1"
grep -q "newer than this build" "$work/newer.log" || fail "no clear reason: $(cat "$work/newer.log")"
echo "PASS"
