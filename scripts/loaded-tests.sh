#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 3) while one busy loop per core keeps
# every core busy, as on a loaded CI runner: a test that passes only on an idle machine fails
# here. Prints each run's pytest summary line and wall time; exits 1 if any run failed.
#
#   scripts/loaded-tests.sh [N] [pytest arguments...]    e.g. scripts/loaded-tests.sh 1 -x
#
# Each run's full output is kept in a log folder (printed at the start; LOG_DIR to choose it).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
shift $(($# > 0 ? 1 : 0))
python=${VENV:-.venv}/bin/python
log_dir=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/loaded-tests.XXXXXX")}
mkdir -p "$log_dir"

busy=()
pytest_pid=""
stop_children() {
  # Only the processes this script started, by their ids: the busy loops and a running pytest.
  local pids=("${busy[@]}" ${pytest_pid:+"$pytest_pid"})
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cores=$(nproc)
for _ in $(seq "$cores"); do
  python3 -c 'while True: pass' &
  busy+=($!)
done
echo "loaded-tests: $runs run(s), $cores busy loop(s) (pids ${busy[*]}), logs in $log_dir"

failed=0
for run in $(seq "$runs"); do
  log="$log_dir/run-$run.log"
  started=$(date +%s)
  code=0
  # In the background, so that a signal to this script is handled at once, not after the run.
  "$python" -m pytest -q -p no:cacheprovider "$@" >"$log" 2>&1 &
  pytest_pid=$!
  wait "$pytest_pid" || code=$?
  pytest_pid=""
  seconds=$(($(date +%s) - started))
  summary=$(grep -E '(passed|failed|errors?|no tests ran).* in [0-9.]+s( \([0-9:]+\))?( =+)?$' \
    "$log" | tail -n 1 || true)
  printf 'run %s: exit %s, %dm%02ds wall: %s\n' "$run" "$code" $((seconds / 60)) \
    $((seconds % 60)) "${summary:-(no summary line; see $log)}"
  if [ "$code" -ne 0 ]; then
    failed=1
    grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /' || true
  fi
done
exit "$failed"
