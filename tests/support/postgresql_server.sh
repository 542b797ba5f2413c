#!/usr/bin/env bash
# One real PostgreSQL 15 for a test run (or a bench run): `start STATE_DIR` makes a cluster in a new
# temporary folder with initdb, starts it with pg_ctl on 127.0.0.1 and a free port (its unix socket
# inside the same folder), and writes into STATE_DIR:
#   conninfo   libpq keywords for the admin database, without a password
#   passfile   the password, in libpq's passfile format, mode 0600 (PGPASSFILE points here)
#   server-ca.crt, other-ca.crt   the server's self-signed TLS certificate (for sslrootcert=) and
#              one that did not sign it. The conninfo says sslmode=disable (a TLS handshake on
#              every connection would slow every test under ASan); tests of TLS add
#              sslmode=verify-full and sslrootcert= (a later keyword wins)
#   data_dir   where the cluster lives, for `stop`
# `stop STATE_DIR` stops it (fast shutdown) and removes the folder. Never a system service.
#
# initdb and postgres refuse to run as root (a superuser-owned server could be made to run
# arbitrary code as root), and CI runs as root: as root, the server runs as the unprivileged
# `postgres` system user that Debian's postgresql package creates, and its folder belongs to it.
# initdb runs with --no-sync (a test cluster need not survive a power cut while being made); the
# server itself keeps fsync on, so commits are as durable as in production.
# A missing PostgreSQL is an error, never a skip.
set -euo pipefail

readonly BIN=${ESCROWLESS_POSTGRESQL_BIN:-/usr/lib/postgresql/15/bin}
readonly USER_NAME=escrowless

die() { echo "postgresql_server.sh: $*" >&2; exit 1; }

as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local state=$1
  [[ -x $BIN/initdb && -x $BIN/pg_ctl ]] || die "no PostgreSQL 15 in $BIN (Debian: apt-get install postgresql-15)"
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    die "running as root needs the 'postgres' system user (Debian's postgresql-15 package creates it)"
  fi
  mkdir -p "$state"
  [[ ! -e $state/data_dir ]] || stop "$state"  # a previous run that was not stopped
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/escrowless-pg.XXXXXX")
  echo "$dir" >"$state/data_dir"
  chmod 0700 "$dir"
  [[ $(id -u) -ne 0 ]] || chown postgres: "$dir"

  # The password exists only in files of mode 0600: one for initdb, one passfile for libpq.
  local password
  password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077; printf '%s\n' "$password" >"$dir/pwfile")
  [[ $(id -u) -ne 0 ]] || chown postgres: "$dir/pwfile"
  as_server_user "$BIN/initdb" --pgdata="$dir/data" --username="$USER_NAME" --pwfile="$dir/pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"

  # TLS: a self-signed P-256 certificate for 127.0.0.1, and a second one that signed nothing.
  for name in server other; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=escrowless test PostgreSQL $name" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$dir/$name.key" -out "$dir/$name.crt" >/dev/null 2>&1 || die "openssl req failed"
  done
  chmod 0600 "$dir/server.key"
  [[ $(id -u) -ne 0 ]] || chown postgres: "$dir/server.key" "$dir/server.crt"
  cp "$dir/server.crt" "$state/server-ca.crt"
  cp "$dir/other.crt" "$state/other-ca.crt"

  # A random port, retried when taken: binding is the only race-free test of "free".
  local port started=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if as_server_user "$BIN/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
            -c max_connections=200 -c shared_buffers=128MB \
            -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" start >/dev/null 2>&1; then
      started=1
      break
    fi
    grep -q "could not bind\|already in use" "$dir/server.log" 2>/dev/null || break
  done
  [[ -n $started ]] || { tail -n 20 "$dir/server.log" >&2 || true; die "the server did not start"; }

  (umask 077; printf '127.0.0.1:%s:*:%s:%s\n' "$port" "$USER_NAME" "$password" >"$state/passfile.tmp")
  mv "$state/passfile.tmp" "$state/passfile"

  # Still SCRAM-SHA-256, but the stored verifier asks for 16 PBKDF2 iterations instead of 4096:
  # the client's 4096 HMACs cost ~0.3 s of CPU per connection under ASan, and the tests open
  # hundreds of connections. (The iteration count travels in the verifier; RFC 7677 section 4.)
  local verifier
  verifier=$(/usr/bin/python3 - "$password" <<'PY'
import base64, hashlib, hmac, os, sys
password, salt, iterations = sys.argv[1].encode(), os.urandom(16), 16
salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
server = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}")
PY
)
  PGPASSFILE=$state/passfile "$BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$port user=$USER_NAME dbname=postgres" -c "ALTER ROLE $USER_NAME PASSWORD '$verifier'" \
    || die "cannot set the password verifier"
  printf 'host=127.0.0.1 port=%s user=%s dbname=postgres sslmode=disable\n' "$port" "$USER_NAME" >"$state/conninfo"
}

stop() {
  local state=$1
  [[ -f $state/data_dir ]] || return 0
  local dir
  dir=$(cat "$state/data_dir")
  if [[ -d $dir/data ]]; then
    as_server_user "$BIN/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null 2>&1 || true
  fi
  case $dir in
    */escrowless-pg.*) rm -rf "$dir" ;;
    *) die "refusing to remove $dir" ;;
  esac
  rm -f "$state/data_dir" "$state/conninfo" "$state/passfile" "$state/server-ca.crt" "$state/other-ca.crt"
}

case ${1:-} in
  start) [[ $# -eq 2 ]] || die "usage: $0 start STATE_DIR"; start "$2" ;;
  stop) [[ $# -eq 2 ]] || die "usage: $0 stop STATE_DIR"; stop "$2" ;;
  *) die "usage: $0 start|stop STATE_DIR" ;;
esac
