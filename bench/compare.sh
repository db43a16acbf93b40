#!/usr/bin/env bash
# Runs every benchmark of issue 6 and prints one table: time per call, the
# ratio to its baseline, the target and PASS/MISS.
#
#   bench/compare.sh                 # about 9 minutes on 2 cores
#   WARM=2 MEASURE=10 bench/compare.sh
#   SKIP_RUN=1 bench/compare.sh      # only rebuild the table from the last run
#
# Criterion runs with a short warm-up and measurement time; each recording
# mode runs in its own process (criterion's filter), together with the
# baselines it is compared with, because the recorder is global and keeps
# every call in memory unless limited. One-thread benchmarks are timed on the
# thread's CPU clock, so other work on the machine moves them less; the
# two-thread ones need the wall clock, so they wait (QUIET_WAIT seconds at
# most) for the machine to be idle. Instructions per call (callgrind) are the
# figure that does not move from run to run. Results: target/criterion/*/*/new/
# estimates.json, target/backstep-bench/{memory,reader,paired}.json and callgrind.txt; the
# table is also written to target/backstep-bench/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
warm=${WARM:-1}
measure=${MEASURE:-3}
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
out="$target/backstep-bench"
mkdir -p "$out"

# Percent of CPU time idle over the next 3 seconds (Linux).
idle() {
  local a b c d e f g h t1 i1
  read -r _ a b c d e f g h _ </proc/stat
  t1=$((a + b + c + d + e + f + g + h)) i1=$((d + e))
  sleep 3
  read -r _ a b c d e f g h _ </proc/stat
  echo $((100 * (d + e - i1) / (a + b + c + d + e + f + g + h - t1)))
}

# Waits up to QUIET_WAIT seconds (120) for the CPUs to be 90% idle, and notes
# the idle share it started with.
wait_quiet() {
  [ -r /proc/stat ] || return 0
  local waited=0 now
  now=$(idle)
  while [ "$now" -lt 90 ] && [ "$waited" -lt "${QUIET_WAIT:-120}" ]; do
    echo "   (machine ${now}% idle; waiting for other work to finish)" >&2
    sleep 7
    waited=$((waited + 10))
    now=$(idle)
  done
  echo "$now" >>"$out/idle-at-start"
}

if [ -z "${SKIP_RUN:-}" ]; then
  cargo bench --benches --no-run -q
  # The commit measured (the table names it; paired.json must match it).
  { git rev-parse --short HEAD; } >"$out/commit.tmp" 2>/dev/null || echo unknown >"$out/commit.tmp"
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    sed -i 's/$/-dirty/' "$out/commit.tmp"
  fi
  mv "$out/commit.tmp" "$out/commit"
  cut -d' ' -f1-3 /proc/loadavg >"$out/load-before"
  : >"$out/idle-at-start"
  rm -rf "$out/steps"
  step=0
  # One criterion process; its estimates are also kept in steps/N/, so the
  # table compares each row with the baselines measured in the same process,
  # minutes apart at most (this machine's speed drifts over longer spans).
  crit() {
    step=$((step + 1))
    echo "== criterion: $1" >&2
    mkdir -p "$out/steps/$step"
    touch "$out/steps/$step/.start"
    cargo bench -q --bench overhead -- --warm-up-time "$warm" --measurement-time "$measure" \
      --noplot "$1" | grep -E 'time:|^Warning' >&2 || true
    find "$target/criterion" -path '*/new/estimates.json' -newer "$out/steps/$step/.start" |
      while read -r f; do
        id=${f#"$target/criterion/"}
        id=${id%/new/estimates.json}
        cp "$f" "$out/steps/$step/${id//\//__}.json"
      done
  }
  # One process per recording mode, each with its baselines: the recorder is
  # global, and without a memory limit it keeps every call.
  crit '^tiny/|^(small|large)/(plain|floor_mem|floor_file|tool_off)$'
  crit '^small/(plain|floor_mem|tool_mem)$'
  crit '^large/(plain|floor_mem|tool_mem)$'
  crit '^(small|large)/(plain|floor_mem|tool_mem_bounded)$'
  crit '^small/(plain|floor_file|tracing_file|tool_file|tool_file_only)$'
  crit '^large/(plain|floor_file|tracing_file|tool_file|tool_file_only)$'
  crit '^(small|large)/(plain|floor_file|tool_file_bounded|tool_file_only)$'
  echo "== paired rounds" >&2
  # The file benchmarks leave gigabytes for the kernel to write back, on the
  # second core: its two-thread rounds need that core.
  sync
  wait_quiet
  cargo bench -q --bench paired >&2
  # Two threads are timed on the wall clock: wait for the machine to be idle.
  wait_quiet
  crit '^contention/'
  echo "== memory" >&2
  cargo bench -q --bench memory >&2
  echo "== reader" >&2
  cargo bench -q --bench reader -- --generate-only >&2
  wait_quiet # the reader and jq are timed on the wall clock
  cargo bench -q --bench reader -- --reuse >&2
  # Instructions per call (callgrind) are exact where this machine's timings
  # move by tens of percent from run to run; they leave out the kernel's work
  # (the `write` itself, page faults), which the times include.
  if command -v valgrind >/dev/null; then
    echo "== callgrind" >&2
    {
      TOP=0 bench/profile.sh plain tiny 10000 20000
      TOP=0 bench/profile.sh off tiny 10000 20000
      for mode in plain floor_mem floor_file off mem mem_bounded file file_bounded file_only tracing; do
        TOP=0 bench/profile.sh $mode small 10000 20000
        TOP=0 bench/profile.sh $mode large 100 200
      done
    } >"$out/callgrind.txt"
  else
    rm -f "$out/callgrind.txt"
  fi
  cut -d' ' -f1-3 /proc/loadavg >"$out/load-after"
fi

python3 bench/table.py "$target" | tee "$out/table.md"
