#!/usr/bin/env bash
# Times `metricc check` on generated projects of 100, 1,000 and 10,000 metrics
# over the example's sources, against a 1-metric project measured in the same
# run (the fixed cost: process start and Parquet footers). Release build.
#
#   benches/check_scale.sh            # prints a table; writes benches/results/check_scale.md
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metricc-target}"
if [ -z "${METRICC_BIN:-}" ]; then cargo build --release --quiet; fi
bin="${METRICC_BIN:-$CARGO_TARGET_DIR/release/metricc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
runs="${RUNS:-15}"

gen() { # gen N DIR: a project with N metrics of mixed kinds
  python3 - "$1" "$2" <<'PY'
import sys, os
n, d = int(sys.argv[1]), sys.argv[2]
os.makedirs(d, exist_ok=True)
os.symlink(os.path.abspath("metrics/data"), os.path.join(d, "data"))
open(os.path.join(d, "metricc.yaml"), "w").write("name: bench\ntime_zone: Europe/Paris\n")
src = open("metrics/sources.yaml").read()
open(os.path.join(d, "sources.yaml"), "w").write(src)
per_file = 500
events = ["signup", "api_key_created", "api_call", "webhook_delivered"]
for f in range(0, n, per_file):
    out = ["metrics:"]
    for i in range(f, min(n, f + per_file)):
        k = i % 5
        out.append(f"  m{i}:")
        out.append(f"    description: generated metric {i}")
        if k in (0, 1, 2) or i < 2:
            e = events[i % 4]
            out.append("    source: events")
            out.append(f"    filter: event = '{e}' and (status is null or status < {400 + i % 200}) and endpoint like '/v1/%'")
            meas = ["count(*)", "count_distinct(developer_id)", "percentile(latency_ms, 0.9)"][k % 3]
            out.append(f"    measure: {meas}")
        elif k == 3:
            out.append(f"    ratio: {{ numerator: m{i-1}, denominator: m{i-2} }}")
        else:
            out.append(f"    formula: m{i-1} * 100 / nullif(m{i-3}, 0) + m{i-4}")
    open(os.path.join(d, f"defs_{f // per_file:03}.yaml"), "w").write("\n".join(out) + "\n")
sys.exit(0)
PY
}

# The projects link to the example's data, outside them: opt in to reading it.
allow=(--allow-read "$PWD/metrics/data")

median_ms() { # median wall time of `metricc check DIR` over $runs runs
  local dir="$1" times=()
  "$bin" check "${allow[@]}" "$dir" >/dev/null || { echo "check failed on $dir" >&2; "$bin" check "${allow[@]}" "$dir" | tail -5 >&2; exit 1; }
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s%N); "$bin" check "${allow[@]}" "$dir" >/dev/null; e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

for n in 1 100 1000 10000; do gen "$n" "$work/p$n"; done
base=$(median_ms "$work/p1")
{
  echo "| metrics | median ms | ratio to 1 metric |"
  echo "|---:|---:|---:|"
  echo "| 1 | $base | 1.00 |"
  for n in 100 1000 10000; do
    t=$(median_ms "$work/p$n")
    echo "| $n | $t | $(awk -v t="$t" -v b="$base" 'BEGIN {printf "%.2f", t/b}') |"
  done
} | tee /tmp/check_scale.md
mkdir -p benches/results
{ echo "# metricc check scaling ($(date -u +%Y-%m-%d), $(nproc) cores, $runs runs each, median)"; echo; cat /tmp/check_scale.md; } > benches/results/check_scale.md
