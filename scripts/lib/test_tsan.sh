#!/usr/bin/env bash
# scripts/test --tsan (and the end of a plain scripts/test): builds the test files that hold
# [concurrency] test cases into one program with ThreadSanitizer (build/tsan, tests/CMakeLists.txt
# "concurrency_tests") and runs those test cases, each its own ctest test (so each [hsm] test gets
# a fresh token). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh

build=build/tsan
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="$SANITIZED_DEBUG_FLAGS" \
  -DESCROWLESS_WERROR=ON -DESCROWLESS_SANITIZE=thread -DESCROWLESS_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(build_jobs)" --target concurrency_tests

# The suppressions cover third-party code only (see the file); any race in ours fails the test.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"

# ctest names are "tsan:<test case name>"; pick those whose test case carries the tag.
names=()
while IFS= read -r name; do
  [[ -n $name ]] && names+=("tsan:$name")
done < <("$build/tests/concurrency_tests" --list-test-names-only "[concurrency]")
if ((${#names[@]} == 0)); then
  echo "no test is tagged [concurrency]" >&2
  exit 1
fi
regex=$(printf '%s\n' "${names[@]}" | sed 's/[][\\.*+?^$(){}|]/\\&/g; s/^/^/; s/$/$/' | paste -sd '|')
echo "ThreadSanitizer: ${#names[@]} concurrency tests"
ctest --test-dir "$build" --output-on-failure -j"$(build_jobs)" -R "$regex" "$@"
