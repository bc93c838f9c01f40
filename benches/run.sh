#!/usr/bin/env bash
# The benchmark suite, end to end, on a fresh machine:
#
#   benches/run.sh                    # 1M and 10M events
#   benches/run.sh --sizes 1M,10M,100M
#
# Builds metricc (release), makes a Python environment with the peers
# (DuckDB and chDB, pinned, from PyPI), then runs benches/suite.py, which
# generates the data, checks that every engine agrees and times them. Other
# options go to suite.py (`--runs`, `--dir`, `--memory-limit`, `--results`).
# Needs Rust, Python 3 with venv, and GNU time (/usr/bin/time, Debian package
# `time`). Data goes to target/bench (about 1 GB for 10M events, 9 GB for 100M).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    echo "error: the suite measures peak memory with GNU time; install it (apt-get install time)" >&2
    exit 2
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== building metricc (release) in $CARGO_TARGET_DIR"
cargo build --release --locked --quiet
venv="${METRICC_BENCH_VENV:-$PWD/target/bench-venv}"
if ! "$venv/bin/python" -c "import duckdb, chdb" 2>/dev/null; then
    echo "== installing DuckDB and chDB into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "duckdb==2.0.0" "chdb==4.4.0"
fi
exec python3 benches/suite.py --metricc "$CARGO_TARGET_DIR/release/metricc" --python "$venv/bin/python" "$@"
