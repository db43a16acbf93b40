#!/usr/bin/env bash
# Instructions per call, by function, for one mode and shape of the call
# benchmarks (benches/profile.rs), counted by valgrind's callgrind.
#
#   bench/profile.sh mem small          # modes: plain floor_mem floor_file off mem mem_bounded file file_bounded file_only tracing open
#   bench/profile.sh file large 2000 4000
#
# Runs N1 and N2 calls and divides the difference by N2-N1, so set-up costs
# (the recorder's start, the first allocations) cancel out. Prints the total,
# then the functions by exclusive ("self") and inclusive instructions per call.
# TOP=n shows n functions (25; 0: only the total). Output files stay in
# target/backstep-bench/callgrind/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/profile.sh MODE [small|large] [N1 N2]}
shape=${2:-small}
n1=${3:-10000}
n2=${4:-20000}
top=${TOP:-25}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

bin=$(cargo bench --bench profile --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "profile" and m.get("executable"):
        print(m["executable"])')
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
out="$target/backstep-bench/callgrind"
mkdir -p "$out"
for n in "$n1" "$n2"; do
  valgrind --tool=callgrind --callgrind-out-file="$out/$mode-$shape-$n.out" \
    "$bin" "$mode" "$shape" "$n" >/dev/null 2>"$out/$mode-$shape-$n.log"
done

python3 - "$out/$mode-$shape-$n1.out" "$out/$mode-$shape-$n2.out" "$n1" "$n2" "$top" "$mode" "$shape" <<'PY'
import re, signal, subprocess, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
a, b, n1, n2, top, mode, shape = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]

def counts(path, inclusive):
    text = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                           "--threshold=100", path], capture_output=True, text=True).stdout
    total, funcs = 0, {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            total = n
            continue
        name = re.sub(r"\s*\[[^\]]*\]$", "", name)          # the object file
        name = re.sub(r"^\S*?:(?=[A-Za-z_<])", "", name, count=1)  # the source file
        name = re.sub(r"::h[0-9a-f]{16}$", "", name)
        funcs[name] = funcs.get(name, 0) + n
    return total, funcs

d = n2 - n1
ta, sa = counts(a, False)
tb, sb = counts(b, False)
_, ia = counts(a, True)
_, ib = counts(b, True)
print(f"{mode} {shape}: {(tb - ta) / d:,.0f} instructions per call (callgrind, ({n2}-{n1}) calls)")
if top == 0:
    sys.exit(0)
for title, fa, fb in (("self", sa, sb), ("inclusive", ia, ib)):
    rows = sorted(((fb.get(k, 0) - fa.get(k, 0)) / d, k) for k in fb)
    rows = [r for r in reversed(rows) if r[0] >= 1][:top]
    print(f"\n  {title:>9}  function")
    for per, name in rows:
        print(f"  {per:9,.0f}  {name[:110]}")
PY
