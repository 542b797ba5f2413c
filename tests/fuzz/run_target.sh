#!/usr/bin/env bash
# Usage: run_target.sh FUZZER SEEDS WORK SECONDS
# Replays every kept regression input of the target (SEEDS/regressions/), then fuzzes for SECONDS
# from the seeds and the corpus grown by earlier runs (WORK/corpus; SEEDS stays untouched). A crash
# exits non-zero and leaves its input in WORK/crashes/. The last lines are libFuzzer's final stats
# (stat::number_of_executed_units is what scripts/fuzz adds up).
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus" "$work/crashes"

# Unless the caller chose otherwise: leaks count, and any sanitizer report ends the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

shopt -s nullglob
regressions=("$seeds"/regressions/*)
if ((${#regressions[@]} > 0)); then
  echo "replaying ${#regressions[@]} regression inputs"
  "$fuzzer" -artifact_prefix="$work/crashes/" "${regressions[@]}"
fi

dict=()
if [[ -f "$seeds.dict" ]]; then dict=(-dict="$seeds.dict"); fi
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=16384 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" "${dict[@]}" "$work/corpus" "$seeds"
