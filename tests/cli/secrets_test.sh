#!/usr/bin/env bash
# No secret in any log line, error or response (issue 6, part 6): a whole scenario with the real
# binaries and trace logging, in text and in JSON log format: keyadmin init, enrollments (by the
# admin and by a device), upload, count, fetches, listing, an inventory, revocation, bad and
# misplaced credentials (PINs sent as bearer tokens, secrets inside a request body, a path, a query),
# and a start with a wrong PIN. Everything the processes print and every response (headers and
# body) is kept; then each secret (user PIN, SO PIN, the wrong PIN, the admin token, every device
# credential) is searched in all of it: the only place it may appear is the one response that
# issues it (a device credential in its enrollment's response). One exception, by design: a 4xx
# detail names the field or identifier that is wrong, so a client that puts a secret where an
# identifier or field name belongs gets its own input back in its own error response (the
# "misplaced-*" responses). Those are still checked for every other secret, and the server's
# log never carries them.
# Usage: secrets_test.sh PATH/TO/keyadmin PATH/TO/keyserviced
set -euo pipefail
keyadmin=$1 keyserviced=$2
work=$(mktemp -d)
out=$work/captured  # everything the processes printed and every response
mkdir -p "$out"
server=
cleanup() { [[ -n $server ]] && kill -9 "$server" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

data=$work/data
"$keyadmin" init --data-dir "$data" --port 0 > "$out/init.stdout" 2> "$out/init.stderr"
"$keyadmin" log verifier-key --data-dir "$data" > "$out/verifier-key.stdout" 2> "$out/verifier-key.stderr"

start_server() {  # NAME [options]
  local name=$1; shift
  log=$out/$name.server
  "$keyserviced" --config "$data/keyservice.conf" --log-level trace "$@" > "$log" 2>&1 &
  server=$!
  port=
  for _ in $(seq 600); do  # 60 s: only a hang takes that long
    port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null || true)  # the log may not exist yet
    [[ -n $port ]] && break
    kill -0 "$server" 2>/dev/null || fail "keyserviced exited at start"
    sleep 0.1
  done
  [[ -n $port ]] || fail "keyserviced did not start"
  url=https://localhost:$port
}
stop_server() {
  kill -TERM "$server"; local status=0; wait "$server" || status=$?; server=
  [[ $status -eq 0 ]] || fail "keyserviced exited $status"
}
n=0
# call NAME METHOD PATH [curl args]: the response (headers and body) kept as $out/NNN-NAME.
call() {
  local name=$1 method=$2 path=$3; shift 3
  n=$((n + 1))
  local file=$out/$(printf '%03d' $n)-$name
  # What was sent in the path, query and body (not the Authorization header), for the
  # misplaced-input rule; kept outside the captured folder.
  printf '%s\n' "$path" "$@" | grep -v '^Authorization:' > "$work/sent-$(basename "$file").sent" || true
  curl -sS --cacert "$data/tls/cert.pem" -X "$method" -D "$file.head" -o "$file.body" "$@" "$url$path" || true
  last=$file.body
}
bearer() { printf 'Authorization: Bearer %s' "$1"; }
key() { head -c "$1" /dev/urandom | base64 -w0; }

admin_token=$(cat "$data/admin-token")
user_pin=$(cat "$data/softhsm/user-pin")
so_pin=$(cat "$data/softhsm/so-pin")
credentials=()
issued=()  # the response file that issued credentials[i]

scenario() {  # PREFIX
  local p=$1
  call "$p-healthz" GET /healthz
  call "$p-readyz" GET /readyz
  call "$p-enroll-by-admin" POST /v1/accounts/alice/devices -H "$(bearer "$admin_token")" -H 'Content-Length: 0'
  local cred1 dev1 cred2 dev2
  cred1=$(jq -r .credential "$last"); dev1=$(jq -r .device_id "$last")
  [[ -n $cred1 && $cred1 != null ]] || fail "enrollment failed: $(cat "$last")"
  credentials+=("$cred1"); issued+=("$last")
  call "$p-enroll-by-device" POST /v1/accounts/alice/devices -H "$(bearer "$cred1")" -H 'Content-Length: 0'
  cred2=$(jq -r .credential "$last"); dev2=$(jq -r .device_id "$last")
  [[ -n $cred2 && $cred2 != null ]] || fail "enrollment by a device failed: $(cat "$last")"
  credentials+=("$cred2"); issued+=("$last")
  call "$p-upload" PUT "/v1/accounts/alice/devices/$dev1/prekeys" -H "$(bearer "$cred1")" -H 'Content-Type: application/json' \
    -d "{\"signed_prekey\":{\"key_id\":1,\"public_key\":\"$(key 32)\"},\"pq_last_resort_prekey\":{\"key_id\":2,\"public_key\":\"$(key 1184)\"},\"one_time_prekeys\":[{\"key_id\":3,\"public_key\":\"$(key 32)\"}]}"
  call "$p-count" GET "/v1/accounts/alice/devices/$dev1/prekeys/count" -H "$(bearer "$cred1")"
  call "$p-bundle" GET "/v1/accounts/alice/devices/$dev1/bundle" -H "$(bearer "$cred2")"
  call "$p-bundles" GET /v1/accounts/alice/bundles -H "$(bearer "$admin_token")"
  call "$p-devices" GET /v1/accounts/alice/devices -H "$(bearer "$cred2")"
  call "$p-entries" GET "/v1/log/entries?start=0&count=10"
  call "$p-token-info" GET /v1/admin/token -H "$(bearer "$admin_token")"
  call "$p-inventory" POST /v1/admin/inventory -H "$(bearer "$admin_token")" -H 'Content-Length: 0'
  call "$p-metrics" GET /metrics
  # Bad and misplaced credentials.
  call "$p-unknown" GET /v1/accounts/alice/bundles -H "$(bearer "${admin_token%?}x")"
  call "$p-pin-as-bearer" GET /v1/accounts/alice/bundles -H "$(bearer "$user_pin")"
  call "$p-so-pin-as-bearer" POST /v1/admin/inventory -H "$(bearer "$so_pin")" -H 'Content-Length: 0'
  call "$p-no-scheme" GET /v1/admin/token -H "Authorization: $admin_token"
  call "$p-basic" GET /v1/admin/token -H "Authorization: Basic $admin_token"
  call "$p-other-account" GET /v1/accounts/bob/devices -H "$(bearer "$cred1")"
  call "$p-device-as-admin" POST /v1/admin/inventory -H "$(bearer "$cred1")" -H 'Content-Length: 0'
  call "$p-misplaced-in-body" PUT "/v1/accounts/alice/devices/$dev1/prekeys" -H "$(bearer "$cred1")" -H 'Content-Type: application/json' \
    -d "{\"signed_prekey\":{\"key_id\":\"$cred1\",\"public_key\":\"$admin_token\"},\"$user_pin\":1}"
  call "$p-misplaced-json-key" PUT "/v1/accounts/alice/devices/$dev1/prekeys" -H "$(bearer "$cred1")" -H 'Content-Type: application/json' \
    -d "{\"$cred2\":{\"key_id\":1}}"
  call "$p-misplaced-in-path" GET "/v1/accounts/$cred1/devices" -H "$(bearer "$admin_token")"
  call "$p-misplaced-pin-in-path" GET "/v1/accounts/alice/devices/$user_pin/bundle" -H "$(bearer "$admin_token")"
  call "$p-misplaced-in-query" GET "/v1/log/entries?start=$admin_token&count=1"
  call "$p-revoke" DELETE "/v1/accounts/alice/devices/$dev2" -H "$(bearer "$admin_token")"
  call "$p-revoked-credential" GET "/v1/accounts/alice/devices/$dev1/bundle" -H "$(bearer "$cred2")"
}

start_server text --log-format text
scenario text
stop_server
start_server json --log-format json
scenario json
stop_server
grep -q '"level":"debug"\|"level":"trace"\|"level":"info"' "$out/json.server" || fail "the JSON run logged nothing"

# A start with a wrong PIN: exit 1, and neither the wrong nor the right PIN in what it prints.
wrong_pin=wrong-pin-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$wrong_pin" > "$work/wrong-pin"; chmod 600 "$work/wrong-pin"
token=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$data/keyservice.conf")
status=0
"$keyserviced" --config "$data/keyservice.conf" --log-level trace --token "${token%%pin-source=*}pin-source=file:$work/wrong-pin" \
  > "$out/wrong-pin.server" 2>&1 || status=$?
[[ $status -eq 1 ]] || fail "a wrong PIN should stop keyserviced with 1, got $status"
grep -q CKR_PIN_INCORRECT "$out/wrong-pin.server" || fail "the wrong-PIN start does not say why"

# The search. A secret may appear only in the response that issued it.
[[ ${#credentials[@]} -eq 4 ]] || fail "expected 4 device credentials, got ${#credentials[@]}"
files=("$out"/*)
[[ ${#files[@]} -gt 100 ]] || fail "too little was captured (${#files[@]} files)"
check() {  # WHAT SECRET [ALLOWED_FILE]
  local what=$1 secret=$2 allowed=${3:-}
  [[ ${#secret} -ge 16 ]] || fail "$what is too short to search for"
  for f in "${files[@]}"; do
    [[ $f == "$allowed" ]] && continue
    # The client's own misplaced input, echoed in its own 4xx detail (see above).
    if [[ $f == *-misplaced-* ]] && grep -qF -- "$secret" "$work/sent-$(basename "${f%.*}").sent"; then continue; fi
    if grep -qF -- "$secret" "$f"; then fail "$what appears in $(basename "$f")"; fi
  done
  if [[ -n $allowed ]]; then grep -qF -- "$secret" "$allowed" || fail "$what is not even in the response that issued it"; fi
}
check "the user PIN" "$user_pin"
check "the SO PIN" "$so_pin"
check "the wrong PIN" "$wrong_pin"
check "the admin token" "$admin_token"
for i in "${!credentials[@]}"; do check "device credential $i" "${credentials[$i]}" "${issued[$i]}"; done
echo "secrets: none of 4 PINs and tokens and ${#credentials[@]} device credentials leaked into ${#files[@]} captured outputs and responses"
