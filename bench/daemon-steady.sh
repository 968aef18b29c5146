#!/usr/bin/env bash
# Steady cost of collecting this host every second: our netdatad vs a real Netdata 1.37.1 agent,
# both running AT THE SAME TIME (shared noise), each on its own loopback port and temp dirs.
# Measures CPU seconds (process tree: utime+stime+cutime+cstime) per collected dimension, the
# same from the scheduler's nanosecond run time of every thread (schedstat), context switches
# (= wake-ups) per second, and RSS/PSS summed over the process tree.
# Writes bench/results/daemon-steady.md.
#
#   bench/daemon-steady.sh                # WARMUP=60 DURATION=300 SAMPLE_EVERY=15 (seconds)
#   DURATION=60 WARMUP=20 bench/daemon-steady.sh   # quick check
#   BIN=/work/main/target/release/netdatad OUT=/tmp/main.md bench/daemon-steady.sh
#                                         # another build, same script and hour (no build here)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
WARMUP=${WARMUP:-60}
DURATION=${DURATION:-300}
SAMPLE_EVERY=${SAMPLE_EVERY:-15}
OUT=${OUT:-$REPO/bench/results/daemon-steady.md}
NDREAL=${NDREAL:-/work/shared/real-netdata/netdata-real}
KEY=11111111-2222-3333-4444-555555555555
# Nanoseconds on a CPU of every live thread of the tree (/proc/PID/task/TID/schedstat, field 1:
# exact, unlike the 10 ms ticks of /proc/PID/stat; threads that ended in the window are missed).
tree_sched_ns() {
  local total=0 p f v
  for p in $(tree_pids "$1"); do
    for f in /proc/"$p"/task/*/schedstat; do
      read -r v _ <"$f" 2>/dev/null || continue
      total=$(( total + v ))
    done
  done
  echo "$total"
}
# Context switches (voluntary + involuntary) of every live thread of the tree.
tree_ctxsw() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }')
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
[ "$DURATION" -le 900 ] && [ "$WARMUP" -le 300 ] || { echo "keep DURATION<=900, WARMUP<=300" >&2; exit 2; }

BIN_NOTE=""
if [ -n "${BIN:-}" ]; then
  [ -x "$BIN" ] || { echo "BIN=$BIN is not an executable" >&2; exit 2; }
  BIN_NOTE="- measured binary: \`$BIN\` (BIN override: the git line above is this checkout's, not the binary's)"
else
  ( cd "$REPO" && cargo build --release -q -p netdatad )
  BIN=$REPO/target/release/netdatad
fi
TMP=$(mktemp -d /tmp/nd-steady.XXXXXX)
OUR_PID=""; ND_STARTED=""
cleanup() {
  [ -n "$OUR_PID" ] && kill "$OUR_PID" 2>/dev/null && wait "$OUR_PID" 2>/dev/null || true
  [ -n "$ND_STARTED" ] && "$NDREAL" stop "$TMP/netdata" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

OUR_PORT=$(free_port); ND_PORT=$(free_port)
while [ "$ND_PORT" = "$OUR_PORT" ]; do ND_PORT=$(free_port); done

# --- our daemon
D=$TMP/ours; mkdir -p "$D"/{cache,lib,log}
cat >"$D/netdata.conf" <<CONF
[global]
  hostname = bench-ours
[directories]
  config = $D
  cache = $D/cache
  lib = $D/lib
  log = $D/log
[web]
  bind to = 127.0.0.1:$OUR_PORT
[db]
  mode = dbengine
[plugins]
  proc = yes
CONF
OUR_CMD="$BIN -c $D/netdata.conf"
$OUR_CMD >"$D/log/stdout.log" 2>&1 &
OUR_PID=$!
# --- the real agent (proc + diskspace + its own charts; see netdata-real)
ND_CMD="$NDREAL parent $TMP/netdata $ND_PORT $KEY"
ND_PID=$($ND_CMD); ND_STARTED=1
wait_http "$OUR_PORT" /api/v1/info 20 || { echo "netdatad did not answer" >&2; tail "$D/log/stdout.log" >&2; exit 1; }

echo "daemon-steady: ours pid $OUR_PID port $OUR_PORT, netdata pid $ND_PID port $ND_PORT; warm-up ${WARMUP}s, measuring ${DURATION}s" >&2
sleep "$WARMUP"
read -r OC0 OD0 _ _ <<<"$(api_counts "$OUR_PORT")"
read -r NC0 ND0 _ _ <<<"$(api_counts "$ND_PORT")"
LOAD0=$(loadavg)
O_S0=$(tree_sched_ns "$OUR_PID"); N_S0=$(tree_sched_ns "$ND_PID")
O_C0=$(tree_ctxsw "$OUR_PID"); N_C0=$(tree_ctxsw "$ND_PID")
O_T0=$(tree_cpu_ticks "$OUR_PID"); N_T0=$(tree_cpu_ticks "$ND_PID"); T0=$(date +%s.%N)
SAMPLES=$TMP/samples.txt; : >"$SAMPLES"
END=$(( $(date +%s) + DURATION ))
LOADS=""
while [ "$(date +%s)" -lt "$END" ]; do
  left=$(( END - $(date +%s) )); sleep $(( left < SAMPLE_EVERY ? left : SAMPLE_EVERY ))
  kill -0 "$OUR_PID" && kill -0 "$ND_PID" || { echo "a daemon died" >&2; tail -20 "$TMP/netdata/log/error.log" "$D/log/stdout.log" >&2; exit 1; }
  echo "$(tree_rss_kb "$OUR_PID") $(tree_pss_kb "$OUR_PID") $(tree_rss_kb "$ND_PID") $(tree_pss_kb "$ND_PID") $(tree_nprocs "$ND_PID")" >>"$SAMPLES"
  LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
done
O_T1=$(tree_cpu_ticks "$OUR_PID"); N_T1=$(tree_cpu_ticks "$ND_PID"); T1=$(date +%s.%N)
O_S1=$(tree_sched_ns "$OUR_PID"); N_S1=$(tree_sched_ns "$ND_PID")
O_C1=$(tree_ctxsw "$OUR_PID"); N_C1=$(tree_ctxsw "$ND_PID")
LOAD1=$(loadavg)
read -r OC1 OD1 OCX ODX <<<"$(api_counts "$OUR_PORT")"
read -r NC1 ND1 NCX NDX <<<"$(api_counts "$ND_PORT")"

RES=$(python3 - "$SAMPLES" "$O_T0" "$O_T1" "$N_T0" "$N_T1" "$T0" "$T1" "$CLK_TCK" "$OD1" "$ND1" "$LOADS" "$ODX" "$NDX" "$O_S0" "$O_S1" "$N_S0" "$N_S1" "$O_C0" "$O_C1" "$N_C0" "$N_C1" <<'PY'
import sys
f, ot0, ot1, nt0, nt1, t0, t1, hz, od, nd, loads, odx, ndx, os0, os1, ns0, ns1, oc0, oc1, nc0, nc1 = sys.argv[1:]
odx, ndx = int(odx), int(ndx)
rows = [list(map(int, l.split())) for l in open(f) if l.strip()]
wall = float(t1) - float(t0); hz = float(hz)
ocpu = (int(ot1) - int(ot0)) / hz; ncpu = (int(nt1) - int(nt0)) / hz
od, nd = int(od), int(nd)
avg = lambda i: sum(r[i] for r in rows) / len(rows) / 1024
mx = lambda i: max(r[i] for r in rows) / 1024
o_per = ocpu / od / wall * 1e6 if od else float("nan")   # CPU µs per dimension per second
n_per = ncpu / nd / wall * 1e6 if nd else float("nan")
ox_per = ocpu / odx / wall * 1e6 if odx else float("nan")
nx_per = ncpu / ndx / wall * 1e6 if ndx else float("nan")
osch = (int(os1) - int(os0)) / 1e9; nsch = (int(ns1) - int(ns0)) / 1e9
os_per = osch / od / wall * 1e6 if od else float("nan")
ns_per = nsch / nd / wall * 1e6 if nd else float("nan")
ls = [float(x) for x in loads.split()]
vals = dict(wall=wall, ocpu=ocpu, ncpu=ncpu, ocore=100*ocpu/wall, ncore=100*ncpu/wall,
  o_per=o_per, n_per=n_per, ox_per=ox_per, nx_per=nx_per, cpux_ratio=ox_per/nx_per if nx_per else float("nan"), cpu_ratio=o_per/n_per if n_per else float("nan"),
  o_rss=avg(0), o_pss=avg(1), n_rss=avg(2), n_pss=avg(3), o_rss_max=mx(0), n_rss_max=mx(2),
  rss_ratio=avg(0)/avg(2), pss_ratio=avg(1)/avg(3) if avg(3) else float("nan"),
  nprocs=max(r[4] for r in rows), nsamp=len(rows),
  osch=osch, nsch=nsch, os_per=os_per, ns_per=ns_per, sch_ratio=os_per/ns_per if ns_per else float("nan"),
  osch_ms=1e3*osch/wall, nsch_ms=1e3*nsch/wall,
  octx=(int(oc1) - int(oc0)) / wall, nctx=(int(nc1) - int(nc0)) / wall,
  load_avg=sum(ls)/len(ls), load_min=min(ls), load_max=max(ls))
for k, v in vals.items(): print(k, v)
PY
)
v() { awk -v k="$1" '$1 == k { print $2 }' <<<"$RES"; }
f() { printf "%.${2:-2}f" "$(v "$1")"; }
verdict() { python3 -c "print('**met**' if $1 <= $2 else '**not met**')"; }

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<MD
# Daemon steady cost: netdatad vs Netdata 1.37.1 (collecting this host every second)

Produced by \`bench/daemon-steady.sh\` (WARMUP=${WARMUP}s, DURATION=${DURATION}s, RSS/PSS sampled every ${SAMPLE_EVERY}s).
Both daemons ran **at the same time** on this machine, so they shared its noise; compare the
**ratios**, not the absolute numbers. Issue 3 goal: ≤ 1/2 of Netdata's CPU per dimension and
≤ 1/2 of its RSS.

## Result

| | netdatad (ours) | Netdata 1.37.1 | ratio ours/Netdata | goal | verdict |
|---|---:|---:|---:|---:|---|
| charts (/api/v1/charts, end) | $OC1 | $NC1 | | | |
| dimensions (/api/v1/charts, end) | $OD1 | $ND1 | | | |
| dimensions without \`netdata.*\` self-monitoring charts | $ODX | $NDX | | | |
| CPU seconds over $(f wall 0) s (process tree) | $(f ocpu 2) | $(f ncpu 2) | $(python3 -c "print(f'{$(v ocpu)/$(v ncpu):.3f}')") | | |
| CPU, % of one core | $(f ocore 3) % | $(f ncore 3) % | | | |
| **CPU µs per dimension per second** | $(f o_per 3) | $(f n_per 3) | **$(f cpu_ratio 3)** | ≤ 0.5 | $(verdict "$(v cpu_ratio)" 0.5) |
| CPU µs per dimension per second, counting only dimensions outside \`netdata.*\` | $(f ox_per 3) | $(f nx_per 3) | $(f cpux_ratio 3) | | |
| CPU from schedstat (ns run time of every thread), ms per second | $(f osch_ms 3) | $(f nsch_ms 3) | $(python3 -c "print(f'{$(v osch)/$(v nsch):.3f}')") | | |
| CPU µs per dimension per second, from schedstat | $(f os_per 3) | $(f ns_per 3) | $(f sch_ratio 3) | ≤ 0.5 | $(verdict "$(v sch_ratio)" 0.5) |
| context switches (wake-ups) per second, all threads | $(f octx 1) | $(f nctx 1) | | | |
| **RSS (MiB, mean of $(v nsamp) samples)** | $(f o_rss 1) | $(f n_rss 1) | **$(f rss_ratio 3)** | ≤ 0.5 | $(verdict "$(v rss_ratio)" 0.5) |
| RSS max (MiB) | $(f o_rss_max 1) | $(f n_rss_max 1) | | | |
| PSS (MiB, mean; smaps_rollup) | $(f o_pss 1) | $(f n_pss 1) | $(f pss_ratio 3) | | |
| processes in tree (max) | 1 | $(v nprocs) | | | |

Dimension counts at the start of the window: ours $OD0 (charts $OC0), Netdata $ND0 (charts $NC0).
CPU per dimension uses the end-of-window count of each daemon's own \`/api/v1/charts\` (all charts,
including each one's self-monitoring charts).

## How it was measured

- CPU: for the daemon's pid and every descendant (from \`ps -e -o pid,ppid\`), \`utime+stime+cutime+cstime\`
  from \`/proc/PID/stat\`, summed, read at the start and end of the window (÷ CLK_TCK=$CLK_TCK).
  \`cutime/cstime\` catches Netdata's short-lived helper processes that were reaped. The bold
  CPU row (and its verdict) uses these ticks, as in earlier runs.
- CPU from schedstat: the first field of \`/proc/PID/task/TID/schedstat\` (nanoseconds on a CPU)
  summed over every thread of the tree at the start and end of the window: exact, where ticks
  are 10 ms samples; it misses threads that ended inside the window (none of ours do).
- Context switches: \`voluntary_ctxt_switches + nonvoluntary_ctxt_switches\` of every thread
  (\`/proc/PID/task/TID/status\`), difference over the window ÷ seconds: about the wake-ups.
- RSS: \`VmRSS\` of \`/proc/PID/status\`, PSS: \`Pss\` of \`/proc/PID/smaps_rollup\`, both summed over the tree.
- Both daemons were idle apart from collecting: no API queries inside the window (counts are read
  before/after it).
- Load average during the window (1-min, sampled every ${SAMPLE_EVERY}s): mean $(f load_avg 2), min $(f load_min 2), max $(f load_max 2)
  (start: $LOAD0; end: $LOAD1). The machine is shared with other jobs.

Commands (ports are chosen free at run time; dirs under a temp dir):

\`\`\`
$OUR_CMD            # netdata.conf: [db] mode = dbengine, [plugins] proc = yes, no stream.conf
$ND_CMD
\`\`\`

ours netdata.conf:
\`\`\`
$(sed "s|$TMP|\$TMP|g" "$D/netdata.conf")
\`\`\`

Netdata: the agent \`netdata-real\` starts (Debian netdata-core 1.37.1; health, ML, cloud and all
external plugins off; proc, diskspace and its own charts on; default dbengine settings).

## Machine

$(machine_md)
- load average (start / end of window): $LOAD0 / $LOAD1
$BIN_NOTE
MD
echo "daemon-steady: wrote $OUT" >&2
cat "$OUT"
