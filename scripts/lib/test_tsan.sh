#!/usr/bin/env bash
# scripts/test --tsan: builds the test programs with ThreadSanitizer into build/tsan and runs the
# tests tagged [concurrency] (each its own ctest test, so each [hsm] test gets a fresh token).
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh

build=build/tsan
programs=(audit_tests keyaudit_tests pkcs11_tests keyservice_tests api_tests)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DESCROWLESS_WERROR=ON -DESCROWLESS_SANITIZE=thread -DESCROWLESS_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(build_jobs)" --target "${programs[@]}" log_crash_writer

# The suppressions cover third-party code only (see the file); any race in ours fails the test.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"

# ctest names are "<folder>:<test case name>"; pick those whose test case carries the tag.
names=()
for program in "${programs[@]}"; do
  executable=$(find "$build/tests" -name "$program" -type f -executable | head -1)
  prefix=${program%_tests}
  while IFS= read -r name; do
    [[ -n $name ]] && names+=("$prefix:$name")
  done < <("$executable" --list-test-names-only "[concurrency]")
done
if ((${#names[@]} == 0)); then
  echo "no test is tagged [concurrency]" >&2
  exit 1
fi
regex=$(printf '%s\n' "${names[@]}" | sed 's/[][\\.*+?^$(){}|]/\\&/g; s/^/^/; s/$/$/' | paste -sd '|')
echo "ThreadSanitizer: ${#names[@]} concurrency tests"
ctest --test-dir "$build" --output-on-failure -j"$(build_jobs)" -R "$regex" "$@"
