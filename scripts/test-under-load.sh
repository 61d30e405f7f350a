#!/usr/bin/env bash
# Runs the test suite while two busy-loop processes hog both cores, the way a
# loaded CI machine or a shared workstation runs it; proves the tests wait on
# readiness signals, not on wall-clock bounds a slow machine misses.
#
#   scripts/test-under-load.sh [-n RUNS] [-- FILE...]
#   npm run test:load -- -n 2 -- test/runtime/crash-safety.test.ts test/cli/
#
# RUNS (default 3, or TEST_LOAD_RUNS) is how many times `npm test` runs, one
# after the other. FILE... (or TEST_LOAD_FILES, space-separated) limits each
# run to those test files or folders, as `vitest run FILE...` does (a filter
# matches any path containing it: "test/cli" also matches test/client). Each run's
# result is reported; after each run, any CLI process of this checkout still
# running (a test that did not kill its child) counts as a failure too.
# Exits non-zero if any run failed. The busy loops are killed on exit,
# whatever the outcome (Ctrl+C included).
set -uo pipefail

runs="${TEST_LOAD_RUNS:-3}"
read -r -a files <<<"${TEST_LOAD_FILES:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n)
      runs="${2:?-n needs a number of runs}"
      shift 2
      ;;
    --)
      shift
      files+=("$@")
      break
      ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      files+=("$1")
      shift
      ;;
  esac
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "test-under-load: -n (TEST_LOAD_RUNS) must be a positive whole number, got \"$runs\"" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 2

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null; done
  hogs=()
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One busy loop per core (two on the 2-core machines this is meant for).
cores="$(nproc 2>/dev/null || echo 2)"
((cores < 2)) && cores=2
for ((i = 0; i < cores; i++)); do
  bash -c 'while :; do :; done' &
  hogs+=("$!")
done
echo "test-under-load: ${#hogs[@]} busy loops (pids ${hogs[*]}), $runs run(s) of npm test ${files[*]:-(whole suite)}"

# CLI processes started from this checkout (the tests run src/cli/main.ts).
leftovers() { pgrep -f -- "$repo/src/cli/main.ts" || true; }

failed=0
results=()
for ((run = 1; run <= runs; run++)); do
  echo
  echo "=== run $run of $runs ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"
  start=$SECONDS
  npm test -- "${files[@]}"
  code=$?
  took=$((SECONDS - start))
  left="$(leftovers)"
  if [[ -n "$left" ]]; then
    echo "test-under-load: run $run left CLI processes running:" >&2
    ps -o pid=,args= -p "$(echo "$left" | paste -sd, -)" >&2 || true
    # Do not let them spill into the next run.
    echo "$left" | xargs -r kill -9 2>/dev/null
    [[ $code -eq 0 ]] && code=1
    results+=("run $run: FAILED (exit $code, left processes running) in ${took}s")
  elif [[ $code -eq 0 ]]; then
    results+=("run $run: passed in ${took}s")
  else
    results+=("run $run: FAILED (exit $code) in ${took}s")
  fi
  [[ $code -ne 0 ]] && failed=$((failed + 1))
done

echo
echo "=== test-under-load: $((runs - failed)) of $runs run(s) passed with ${#hogs[@]} cores busy"
printf '  %s\n' "${results[@]}"
[[ $failed -eq 0 ]]
