#!/usr/bin/env bash
# Record a corpus from a real Netdata 1.37.1 agent on this machine and measure the agent's own
# tier-0 bytes per point beside it (bench/results/storage.md, "Second corpus").
#
#   bench/corpus/record.sh WORKDIR OUT.ndc [SECONDS]     # default 3630 s (+ 60 s of warm-up)
#
# Starts `netdata-real parent` (proc, diskspace and the agent's own charts) on 127.0.0.1:39555,
# waits, pulls the last SECONDS of every chart (pull.py), pulls its whole life to count the
# points it stored, stops it cleanly (it flushes every page) and prints its dbengine file sizes
# and bytes per point; then builds OUT.ndc from the pull.
set -euo pipefail
work=$1 out=$2 secs=${3:-3630}
here=$(cd "$(dirname "$0")" && pwd)
real=${NETDATA_REAL:-$here/../../../shared/real-netdata/netdata-real}
rm -rf "$work" && mkdir -p "$work"
"$real" parent "$work/agent" 39555 11111111-2222-3333-4444-555555555555 >"$work/pid"
start=$(date +%s)
echo "agent pid $(cat "$work/pid"), recording $secs s from $(date -u +%T) UTC"
sleep $((secs + 60))
python3 "$here/pull.py" 39555 "$secs" "$work/raw.json"
python3 "$here/pull.py" 39555 $(( $(date +%s) - start + 60 )) "$work/life.json"
"$real" stop "$work/agent"
sleep 3
python3 - "$work" <<'PY'
import json, os, sys
w = sys.argv[1]
life = json.load(open(f"{w}/life.json"))
pts = sum(1 for s in life["series"] for _, v in s["points"] if v is not None)
for tier, d in [(0, "dbengine"), (1, "dbengine-tier1"), (2, "dbengine-tier2")]:
    files = [os.path.join(f"{w}/agent/cache/{d}", f) for f in os.listdir(f"{w}/agent/cache/{d}")]
    data = sum(os.path.getsize(f) for f in files if f.endswith(".ndf"))
    jour = sum(os.path.getsize(f) for f in files if f.endswith(".njf"))
    line = f"real agent tier {tier}: datafiles {data} B, journals {jour} B"
    if tier == 0:
        line += f"; {pts} points stored in its life: {(data + jour) / pts:.3f} B/pt ({data / pts:.3f} datafiles alone)"
    print(line)
PY
cd "$here/../.." && NDCLUSTER_CORPUS_RAW="$work/raw.json" NDCLUSTER_CORPUS_OUT="$out" \
  cargo test --release --test storage_corpus -- --ignored build --nocapture 2>&1 | grep series
