#!/usr/bin/env bash
# `netdatactl duplicate` beside Debian's `rsync -a` on the same >= 1 GiB cache directory of
# OUR daemon's format, from a running, ingesting `netdatad`.
#
# What it does: builds the release binaries, then runs the measurement test
# `cli_duplicate_live::measure_duplicate_of_a_populated_running_parent` (release profile): it
# writes SERIES x SECONDS points into a DiskStore (the daemon's on-disk format), starts
# `netdatad` on it (collecting every second), copies it with `netdatactl duplicate` and right
# after with `rsync -a --no-whole-file --stats` into a separate directory, waits 10 s of real
# ingest (the WAL and the newest data files grow), and copies again with both.
# Everything lives in a tempdir the test removes; the daemon is stopped by the test.
#
# Usage: bench/duplicate.sh [SERIES] [SECONDS]   (default 38000 x 14400 ≈ 1.1 GB)
# Bounded: the whole run is killed after BENCH_TIMEOUT seconds (default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-38000}
SECONDS_OF_HISTORY=${2:-14400}
TIMEOUT=${BENCH_TIMEOUT:-1800}

echo "## machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "ram: $(free -h | awk '/^Mem:/ {print $2}')"
echo "kernel: $(uname -r)"
echo "load average (before): $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rsync: $(rsync --version | head -1)"
echo "filesystem of TMPDIR: $(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}')"

cargo build --release -p netdatad -p netdatactl 2>&1 | tail -1
echo "## run: $SERIES series x $SECONDS_OF_HISTORY s"
NETDATA_BIN_DIR=$PWD/target/release MEASURE_SERIES=$SERIES MEASURE_SECONDS=$SECONDS_OF_HISTORY \
  timeout --kill-after=10 "$TIMEOUT" \
  cargo test --release -p netdatactl --test cli_duplicate_live measure -- --ignored --nocapture 2>&1 \
  | grep -E "populated|MEASURED|first run|second run|rsync|source:|test result"

echo "load average (after): $(cut -d' ' -f1-3 /proc/loadavg)"
