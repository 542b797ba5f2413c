# Shared by scripts/run and scripts/test: install the Debian packages the build and tests need,
# only those missing, so a second run does not touch apt at all.
set -euo pipefail

# What building and running needs (opensc and jq for the README's checks by hand; lld links the
# sanitized test programs several times faster than GNU ld, CMakeLists.txt falls back without it).
BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config lld
  libssl-dev openssl libsqlite3-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libcpp-httplib-dev libp11-kit-dev catch2 libpq-dev
  softhsm2 opensc jq
)
# What the tests need besides: Go and golang.org/x/mod, to check our checkpoints with the
# reference signed-note verifier; clang and its compiler-rt (libFuzzer, the sanitizer runtimes)
# for the fuzz targets; PostgreSQL 15's initdb and pg_ctl (and its unprivileged `postgres` user)
# for the server the tests start in a temporary folder (never the system service the package
# may also start).
TEST_PACKAGES=(
  golang-go golang-golang-x-mod-dev
  clang libclang-rt-14-dev
  python3 python3-yaml
  # The CLI tests' tools (tests/cli/*.sh).
  curl xxd sqlite3
  postgresql-15
  # The other test tokens (tests/support/test_token.h): tpm2-pkcs11 on swtpm, NSS softokn.
  swtpm libtpm2-pkcs11-1 tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon libnss3 libnss3-tools
)

# ensure_packages PACKAGE...: installs those not installed yet.
ensure_packages() {
  local missing=()
  local package
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "Installing missing Debian packages: ${missing[*]}" >&2
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The optimisation and debug level of the sanitized builds (ASan+UBSan, TSan, the fuzz targets):
# -O1 as the sanitizers recommend, and -g1 (line tables): a sanitizer report still names
# file:line for every frame, inlined ones too, while the compiler and linker skip the type and
# variable information no report uses (about a fifth of the compile time). Debug a build in gdb
# with -g: CMAKE_CXX_FLAGS_DEBUG="-g -O1".
SANITIZED_DEBUG_FLAGS="-g1 -O1"

build_jobs() {
  nproc 2>/dev/null || echo 2
}
