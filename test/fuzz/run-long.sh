#!/usr/bin/env bash
# Long fuzzing runs, beyond the few seconds per target that `packaging/dev test` spends.
#
#   test/fuzz/run-long.sh [-j JOBS] [--merge] SECONDS [TARGET...]
#
# Runs each target (all of them by default; names as in test/fuzz/meson.build: smtp_command,
# config_yaml, ...) for SECONDS with JOBS parallel processes (libFuzzer's -fork mode: a crash,
# timeout or out-of-memory is recorded and the run goes on). It builds build-fuzz first if it
# is missing (clang++-14 with -fsanitize=fuzzer,address,undefined).
#
# New inputs accumulate in build-fuzz/long/corpus/<target> from one run to the next; crashes
# land in build-fuzz/long/artifacts/ (reproduce one with: build-fuzz/test/fuzz/fuzz_<target>
# <file>). With --merge, the inputs that add coverage are merged into the repository's seed
# corpus test/fuzz/corpus/<target> at the end. A crash that is fixed belongs in
# test/fuzz/regressions/<target>/, which every run replays.
set -euo pipefail
cd "$(dirname "$0")/../.."

jobs=$(nproc)
merge=0
while [ $# -gt 0 ]; do
  case "$1" in
  -j) jobs=$2; shift 2 ;;
  -j*) jobs=${1#-j}; shift ;;
  --merge) merge=1; shift ;;
  -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  *) break ;;
  esac
done
if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: test/fuzz/run-long.sh [-j JOBS] [--merge] SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift

if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++-14 meson setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized -Dwerror=false
fi
ninja -C build-fuzz

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in build-fuzz/test/fuzz/fuzz_*; do
    targets+=("${exe##*/fuzz_}")
  done
fi

long=build-fuzz/long
mkdir -p "$long/artifacts"
failed=()
for target in "${targets[@]}"; do
  exe=build-fuzz/test/fuzz/fuzz_$target
  [ -x "$exe" ] || { echo "no such target: $target" >&2; exit 2; }
  work=$long/corpus/$target
  mkdir -p "$work"
  args=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="$long/artifacts/$target-")
  [ -f "test/fuzz/dict/$target.dict" ] && args+=(-dict="test/fuzz/dict/$target.dict")
  dirs=("$work")
  for dir in test/fuzz/corpus/$target test/fuzz/regressions/$target; do
    [ -d "$dir" ] && dirs+=("$dir")
  done
  echo "== $target: $seconds s, $jobs jobs"
  before=$(find "$long/artifacts" -name "$target-*" | wc -l)
  "$exe" "${args[@]}" "${dirs[@]}" >"$long/$target.log" 2>&1 || true
  grep -ao '#[0-9]*: cov: [0-9]* ft: [0-9]* corp: [0-9]* exec/s [0-9]*' "$long/$target.log" |
    tail -n 1 | sed 's/^/   /'
  after=$(find "$long/artifacts" -name "$target-*" | wc -l)
  if [ "$after" -gt "$before" ]; then
    failed+=("$target")
    echo "   $((after - before)) new crash(es) in $long/artifacts/$target-*"
  fi
  if [ $merge = 1 ]; then
    mkdir -p "test/fuzz/corpus/$target"
    "$exe" -merge=1 -rss_limit_mb=2048 -timeout=10 "test/fuzz/corpus/$target" "$work" \
      >"$long/$target.merge.log" 2>&1
    echo "   merged: $(grep -o 'added [0-9]* new files' "$long/$target.merge.log" || echo 'nothing')"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes in: ${failed[*]} (see $long/artifacts)"
  exit 1
fi
echo "no crashes"
