# Shared by scripts/fuzz and scripts/test: configures and builds the libFuzzer targets (clang,
# ASan+UBSan, warnings as errors) into build/fuzz. Sourced after common.sh.
build_fuzz_targets() {
  local build=build/fuzz
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="$SANITIZED_DEBUG_FLAGS" -DESCROWLESS_WERROR=ON -DESCROWLESS_FUZZ=ON \
    -DESCROWLESS_TESTS=OFF -DESCROWLESS_BENCH=OFF "$@" >/dev/null
  cmake --build "$build" --target fuzz_targets -j"$(build_jobs)"
}

# The targets, as tests/fuzz/CMakeLists.txt names them (fuzz_<name>, seeds in tests/fuzz/<name>/).
fuzz_target_names() {
  sed -n 's/^escrowless_fuzz_target(\([a-z0-9_]*\) .*/\1/p' tests/fuzz/CMakeLists.txt
}
