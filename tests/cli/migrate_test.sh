#!/usr/bin/env bash
# keyadmin migrate end to end: a SQLite deployment with traffic (three devices enrolled, prekeys
# uploaded, one-time keys handed out, one device revoked) moved into PostgreSQL, then served from
# there: the checkpoint the SQLite service last signed is served unchanged, keyaudit verify --state
# from before the move proves the log consistent (RFC 9162) with a checkpoint after more writes,
# keyclient verifies a migrated device's bundle, a one-time key handed out before the move is
# never handed out again, the revoked device stays revoked. The refusals change nothing: the
# service running, a target database that is not empty, a SQLite schema the build does not know,
# a URL with a password. The SQLite files are byte for byte what they were.
# Usage: migrate_test.sh KEYADMIN KEYSERVICED KEYCLIENT KEYAUDIT POSTGRESQL_STATE_DIR
set -euo pipefail
keyadmin=$1 keyserviced=$2 keyclient=$3 keyaudit=$4 pgstate=$5
work=$(mktemp -d)
server=
suffix=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
db=migrate_$suffix busy=migrate_busy_$suffix
[[ -f $pgstate/conninfo && -f $pgstate/passfile ]] || { echo "FAIL: no PostgreSQL test server in $pgstate" >&2; exit 1; }
export PGPASSFILE=$pgstate/passfile
admin_conninfo=$(cat "$pgstate/conninfo")
cleanup() {
  [[ -n $server ]] && kill -9 "$server" 2>/dev/null
  for name in "$db" "$busy"; do
    psql "$admin_conninfo" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -n ${log:-} && -f $log ]] && tail -20 "$log" >&2; exit 1; }

psql "$admin_conninfo" -qc "CREATE DATABASE $db" >/dev/null
psql "$admin_conninfo" -qc "CREATE DATABASE $busy" >/dev/null
url="$admin_conninfo dbname=$db"  # a later keyword wins
busy_url="$admin_conninfo dbname=$busy"
tables() { psql "$1" -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 --origin migrate.escrowless.test/log > "$work/init.json"
vkey=$(jq -r .verifier_key "$work/init.json")

starts=0
start_server() {
  starts=$((starts + 1))
  log=$work/server-$starts.log
  "$keyserviced" --config "$data/keyservice.conf" > "$log" 2>&1 &
  server=$!
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)
    if [[ -n $port ]]; then base=https://localhost:$port; return 0; fi
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
ca=(--cacert "$data/tls/cert.pem")
admin() { curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" -H 'Content-Length: 0' "$@"; }
enroll() {  # ACCOUNT NAME: enrolls a device, its id in $work/NAME.id, its credential in $work/NAME.credential
  admin -X POST "$base/v1/accounts/$1/devices" > "$work/$2.json" || fail "enroll $2"
  jq -r .device_id "$work/$2.json" > "$work/$2.id"
  (umask 077; jq -r .credential "$work/$2.json" > "$work/$2.credential")
}
key() { head -c "$1" /dev/urandom | base64 -w0; }
upload() {  # ACCOUNT NAME BODY
  curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$work/$2.credential")" -H 'Content-Type: application/json' \
    -X PUT "$base/v1/accounts/$1/devices/$(cat "$work/$2.id")/prekeys" -d "$3" > /dev/null || fail "upload for $2"
}
one_time() {  # ACCOUNT NAME FIELD: the key id at FIELD of a freshly fetched bundle of NAME (each fetch
  # hands out one one-time key and one PQ one-time key while there are any)
  curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$work/$2.credential")" \
    "$base/v1/accounts/$1/devices/$(cat "$work/$2.id")/bundle" | jq -r ".bundles[0].$3.key_id"
}
otks() {  # FIRST LAST [SIZE]: one-time prekeys with ids FIRST..LAST
  local list= id
  for id in $(seq "$1" "$2"); do list+="${list:+,}{\"key_id\":$id,\"public_key\":\"$(key "${3:-32}")\"}"; done
  echo "[$list]"
}
audit() {  # keyaudit verify with the state file kept across the move
  status=0
  "$keyaudit" verify --server "$base" --verifier-key "$vkey" "${ca[@]}" --state "$work/audit-state.json" --json \
    > "$work/audit.json" 2>&1 || status=$?
}

# Traffic on SQLite.
start_server
enroll alice phone
enroll alice laptop
enroll bob tablet
upload alice phone "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"pq_last_resort_prekey\":{\"key_id\":2,\"public_key\":\"$(key 1184)\"},\"one_time_prekeys\":$(otks 10 14),\"pq_one_time_prekeys\":$(otks 20 22 1184)}"
upload alice laptop "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"one_time_prekeys\":$(otks 40 41)}"
upload bob tablet "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"one_time_prekeys\":$(otks 30 32)}"
[[ $(one_time alice phone one_time_prekey) == 10 ]] || fail "the first one-time key is not 10"
[[ $(one_time alice phone pq_prekey) == 21 ]] || fail "the second bundle's PQ one-time key is not 21"
admin -X DELETE "$base/v1/accounts/alice/devices/$(cat "$work/laptop.id")" > /dev/null || fail "revoke the laptop"
audit
[[ $status -eq 0 ]] || fail "keyaudit verify exited $status on the SQLite log: $(cat "$work/audit.json")"
checkpoint_before=$(curl -sf "${ca[@]}" "$base/v1/log/checkpoint")
size_before=$(sed -n 2p <<< "$checkpoint_before")
[[ $(jq -r .checkpoint.size "$work/audit.json") == "$size_before" ]] || fail "keyaudit saw another size than $size_before"

# While keyserviced runs: refused, the target untouched.
status=0
"$keyadmin" migrate --data-dir "$data" --to-postgresql "$url" > "$work/running.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "migrate while keyserviced runs exited $status, not 1: $(cat "$work/running.out")"
grep -q "is running" "$work/running.out" || fail "no clear reason: $(cat "$work/running.out")"
[[ $(tables "$url") == 0 ]] || fail "a refused migrate made tables"
stop_server

sha256sum "$data/log.db" "$data/devices.db" "$data/keyservice.conf" > "$work/sums-before"
ls -a "$data" > "$work/files-before"
cp "$data/keyservice.conf" "$work/config-before"

# A target that is not empty: refused, nothing in it or in the folder changed.
psql "$busy_url" -qc "CREATE TABLE unrelated (x integer); INSERT INTO unrelated VALUES (7)"
status=0
"$keyadmin" migrate --data-dir "$data" --to-postgresql "$busy_url" > "$work/busy.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "migrate into a non-empty database exited $status, not 1: $(cat "$work/busy.out")"
grep -q "not empty" "$work/busy.out" || fail "no clear reason: $(cat "$work/busy.out")"
[[ $(tables "$busy_url") == 1 && $(psql "$busy_url" -Atc "SELECT x FROM unrelated") == 7 ]] \
  || fail "the non-empty database changed"
sha256sum -c --quiet "$work/sums-before" || fail "a refused migrate changed the data folder"
[[ ! -e $data/keyservice.conf.sqlite ]] || fail "a refused migrate wrote a config backup"

# A password in the URL: refused before anything, never echoed.
status=0
"$keyadmin" migrate --data-dir "$data" --to-postgresql "$url password=hunter2-secret" > "$work/password.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "migrate with a password in the URL exited $status, not 1"
grep -q "password" "$work/password.out" || fail "no reason given: $(cat "$work/password.out")"
if grep -q hunter2 "$work/password.out"; then fail "the password was echoed"; fi

# SQLite files this build does not know: refused, naming the file.
refuse_schema() {  # NAME SQL-FILE SQL EXPECTED
  cp -a "$data" "$work/$1"
  sqlite3 "$work/$1/$2" "$3"
  local status=0
  "$keyadmin" migrate --data-dir "$work/$1" --to-postgresql "$url" > "$work/$1.out" 2>&1 || status=$?
  [[ $status -eq 1 ]] || fail "migrate of $1 exited $status, not 1: $(cat "$work/$1.out")"
  grep -q "$4" "$work/$1.out" || fail "$1: no '$4' in: $(cat "$work/$1.out")"
  [[ $(tables "$url") == 0 ]] || fail "a refused migrate ($1) made tables"
}
refuse_schema newer-devices devices.db "UPDATE meta SET value = '9' WHERE key = 'schema_version'" \
  "devices.db does not hold a schema this build can migrate: its devices schema version is 9"
refuse_schema extra-log-table log.db "CREATE TABLE tiles (x)" "log.db does not hold a schema this build can migrate: it has a table 'tiles'"
# A log whose stored leaf differs from what it signed: copied, found out by the check, and the
# copy dropped again (the database is as empty as before).
refuse_schema altered-leaf log.db "UPDATE leaves SET data = data || X'00' WHERE idx = 1" \
  "the copy in PostgreSQL does not verify: .*leaf 1: stored leaf hash does not match its data.*tables were dropped again"

# The move.
"$keyadmin" migrate --data-dir "$data" --to-postgresql "$url" > "$work/migrate.json" 2> "$work/migrate.err" \
  || fail "migrate: $(cat "$work/migrate.err")"
cat "$work/migrate.json"
expect() { [[ $(jq -r "$1" "$work/migrate.json") == "$2" ]] || fail "migrate reported $1 = $(jq -r "$1" "$work/migrate.json"), not $2"; }
expect .entries "$size_before"
expect .checkpoint_size "$size_before"
expect .devices 3
expect .revoked_devices 1
expect .credentials 2
expect .unclaimed_one_time_prekeys 7          # phone 12-14 and 22, tablet 30-32
expect .claimed_one_time_prekeys_left_behind 4  # phone 10, 11, 20, 21
expect .config "$data/keyservice.conf"
[[ $(jq -r .checkpoint "$work/migrate.json") == "$checkpoint_before" ]] || fail "migrate verified another checkpoint"
grep -q '^storage = "postgresql"$' "$data/keyservice.conf" || fail "the config does not say storage = postgresql"
grep -qF "postgresql-url = \"$url\"" "$data/keyservice.conf" || fail "the config does not name the database"
[[ $(grep -c '^storage = ' "$data/keyservice.conf") == 1 ]] || fail "the config has two storage lines"
cmp -s "$data/keyservice.conf.sqlite" "$work/config-before" || fail "the backup is not the old config"
[[ $(stat -c %a "$data/keyservice.conf") == 600 && $(stat -c %a "$data/keyservice.conf.sqlite") == 600 ]] \
  || fail "config files are not 0600"
cmp -s <(grep -v -e '^storage = ' -e '^postgresql-url = ' "$data/keyservice.conf") \
  <(grep -v '^storage = ' "$work/config-before") || fail "migrate changed other config lines"
sha256sum -c --quiet <(grep -v keyservice.conf "$work/sums-before") || fail "migrate changed the SQLite files"
diff <(ls -a "$data") <(sed '/^keyservice.conf$/a keyservice.conf.sqlite' "$work/files-before") \
  || fail "migrate made or removed files in the data folder other than the config backup"
[[ $(psql "$url" -Atc "SELECT count(*) FROM leaves") == "$size_before" ]] || fail "the leaves are not in PostgreSQL"

# Again: the config names PostgreSQL now, and the database is not empty.
status=0
"$keyadmin" migrate --data-dir "$data" --to-postgresql "$url" > "$work/again.out" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "a second migrate exited $status, not 1"

# keyserviced on PostgreSQL serves what SQLite's signed, and carries on from it.
start_server
grep -q "log the PostgreSQL log verified" "$log" || fail "keyserviced did not open the PostgreSQL log: $(cat "$log")"
[[ $(curl -sf "${ca[@]}" "$base/v1/log/checkpoint") == "$checkpoint_before" ]] \
  || fail "the served checkpoint is not the one SQLite's service signed last"
"$keyclient" fetch --server "$base" --verifier-key "$vkey" --account alice --device "$(cat "$work/phone.id")" \
  --credential "$work/phone.credential" "${ca[@]}" > "$work/fetched.json" || fail "keyclient fetch of a migrated device"
jq -e '.verified and .bundles[0].one_time_prekey.key_id == 12 and .bundles[0].pq_prekey.key_id == 22' \
  "$work/fetched.json" > /dev/null || fail "keyclient's bundle does not carry keys 12 and 22: $(cat "$work/fetched.json")"
[[ $(one_time alice phone one_time_prekey) == 13 ]] || fail "after 12 the next one-time key is not 13"
[[ $(one_time alice phone pq_prekey) == 2 ]] || fail "with the PQ one-time keys gone the PQ key is not the last resort (2)"
[[ $(one_time bob tablet one_time_prekey) == 30 ]] || fail "the tablet's first one-time key is not 30"
curl -sf "${ca[@]}" -H "Authorization: Bearer $(cat "$work/phone.credential")" \
  "$base/v1/accounts/alice/devices/$(cat "$work/phone.id")/prekeys/count" \
  | jq -e '.one_time_prekeys == 0 and .pq_one_time_prekeys == 0' > /dev/null || fail "the phone's key counts"
# The revoked laptop: listed as revoked, no bundle, its credential refused.
admin "$base/v1/accounts/alice/devices" | jq -e --arg d "$(cat "$work/laptop.id")" \
  '.devices[] | select(.device_id == $d) | .revoked' > /dev/null || fail "the laptop is not listed as revoked"
code=$(curl -s -o /dev/null -w '%{http_code}' "${ca[@]}" -H "Authorization: Bearer $(cat "$data/admin-token")" \
  "$base/v1/accounts/alice/devices/$(cat "$work/laptop.id")/bundle")
[[ $code == 409 || $code == 404 ]] || fail "the revoked laptop's bundle answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${ca[@]}" -H "Authorization: Bearer $(cat "$work/laptop.credential")" \
  "$base/v1/accounts/alice/devices/$(cat "$work/phone.id")/bundle")
[[ $code == 401 ]] || fail "the revoked laptop's credential answered $code, not 401"

# More writes, then the auditor's state from before the move: the new checkpoint must be
# consistent with the old one (keyaudit fetches and checks the RFC 9162 consistency proof).
enroll carol phone2
upload carol phone2 "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"one_time_prekeys\":$(otks 50 52)}"
audit
[[ $status -eq 0 ]] || fail "keyaudit verify --state exited $status after the move: $(cat "$work/audit.json")"
jq -e --argjson old "$size_before" '.previous_size == $old and .checkpoint.size > $old and (.violations | length) == 0' \
  "$work/audit.json" > /dev/null || fail "keyaudit did not check the new log against the old state: $(cat "$work/audit.json")"
stop_server
echo "PASS"
