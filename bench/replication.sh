#!/usr/bin/env bash
# Replication absorb rate of a parent receiving a large backlog (issue 5 benchmark):
# a synthetic child (bench/replgen, `ndreplgen`) offers REPLICATION, advertises SECONDS_BACK of
# per-second retention for CHARTS × DIMS metrics and answers every REPLAY_CHART per protocol §7.4
# (values generated on the fly) until every chart got its `REND ... true`.
# Run against our netdatad, then (same run, one after the other, so they do not compete for the
# 2 cores) against a real Netdata 1.37.1 parent, bounded (ND_CHARTS charts, ND_CAP seconds).
#
# Measured on the parent: wall time from the first REPLAY_CHART to the parent going idle after the
# last reply (or to the last REND written, whichever is later), samples absorbed, CPU seconds of
# the parent's process tree (/proc utime+stime+cutime+cstime) → samples/s and samples/s per core.
# Writes bench/results/replication.md.
#
#   bench/replication.sh                                  # 1000 charts × 10 dims × 3600 s
#   CHARTS=100 ND_CHARTS=50 ND_CAP=60 bench/replication.sh   # quick check
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
CHARTS=${CHARTS:-1000}
DIMS=${DIMS:-10}
SECONDS_BACK=${SECONDS_BACK:-3600}
CAP=${CAP:-600}
ND_CHARTS=${ND_CHARTS:-1000}
ND_CAP=${ND_CAP:-180}
SKIP_NETDATA=${SKIP_NETDATA:-0}
PERF=${PERF:-1}   # 1: after the measured run, profile ours (perf record) on a second, unmeasured child
OUT=${OUT:-$REPO/bench/results/replication.md}
NDREAL=${NDREAL:-/work/shared/real-netdata/netdata-real}
KEY=11111111-2222-3333-4444-555555555555
[ "$CAP" -le 1800 ] && [ "$ND_CAP" -le 900 ] || { echo "keep CAP<=1800, ND_CAP<=900" >&2; exit 2; }

# BIN: another netdatad build to measure (then nothing is built but the generator)
if [ -z "${BIN:-}" ]; then
  ( cd "$REPO" && cargo build --release -q -p netdatad )
  BIN=$REPO/target/release/netdatad
fi
( cd "$REPO/bench/replgen" && cargo build --release -q )
GEN=$REPO/bench/replgen/target/release/ndreplgen
TMP=$(mktemp -d /tmp/nd-replbench.XXXXXX)
OUR_PID=""; ND_STARTED=""; GEN_PID=""
cleanup() {
  [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null || true
  [ -n "$OUR_PID" ] && kill "$OUR_PID" 2>/dev/null && wait "$OUR_PID" 2>/dev/null || true
  [ -n "$ND_STARTED" ] && "$NDREAL" stop "$TMP/netdata" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# run_gen LABEL ROOT_PID PORT CHARTS CAP → prints "key value" lines (also kept in $TMP/LABEL.res)
run_gen() {
  local label=$1 pid=$2 port=$3 charts=$4 cap=$5
  local done=$TMP/$label.done log=$TMP/$label.gen.log
  # baseline CPU of the idle parent (its own collectors, housekeeping), 5 s
  local b0 b1 bt0 bt1
  b0=$(tree_cpu_ticks "$pid"); bt0=$(now_ms); sleep 5; b1=$(tree_cpu_ticks "$pid"); bt1=$(now_ms)
  local load0; load0=$(loadavg)
  local c0 t0; c0=$(tree_cpu_ticks "$pid"); t0=$(now_ms)
  GEN_CMD="$GEN --port $port --key $KEY --charts $charts --dims $DIMS --seconds $SECONDS_BACK --cap $cap --linger 60 --name $label --done-file $done"
  $GEN_CMD >"$TMP/$label.gen.out" 2>"$log" &
  GEN_PID=$!
  echo "$GEN_CMD" >"$TMP/$label.cmd"
  local waited=0
  while [ ! -s "$done" ] && [ "$waited" -lt $(( (cap + 150) * 10 )) ]; do
    kill -0 "$GEN_PID" 2>/dev/null || break
    sleep 0.1; waited=$(( waited + 1 ))
  done
  [ -s "$done" ] || { echo "$label: generator ended without a summary" >&2; cat "$log" >&2; }
  # wait for the parent to go idle: a 0.5 s window using at most baseline + 2 ticks; bounded 120 s
  local base_per_s thr prev prev_t cur cur_t idle_t="" i
  base_per_s=$(( (b1 - b0) * 1000 / (bt1 - bt0 + 1) ))
  thr=$(( base_per_s / 2 + 2 ))
  prev=$(tree_cpu_ticks "$pid"); prev_t=$(now_ms)
  for i in $(seq 1 240); do
    sleep 0.5
    kill -0 "$pid" 2>/dev/null || { echo "$label: parent died" >&2; break; }
    cur=$(tree_cpu_ticks "$pid"); cur_t=$(now_ms)
    if [ $(( cur - prev )) -le "$thr" ]; then idle_t=$prev_t; break; fi
    prev=$cur; prev_t=$cur_t
  done
  local c1 t1; c1=$(tree_cpu_ticks "$pid"); t1=$(now_ms)
  [ -n "$idle_t" ] || idle_t=$t1
  local load1; load1=$(loadavg)
  kill "$GEN_PID" 2>/dev/null || true; wait "$GEN_PID" 2>/dev/null || true; GEN_PID=""
  {
    sed 's/^SUMMARY //' "$done" 2>/dev/null | tr ' ' '\n' | tr '=' ' '
    echo "c0 $c0"; echo "c1 $c1"; echo "t0_ms $t0"; echo "t1_ms $t1"; echo "idle_ms $idle_t"
    echo "base_ticks $(( b1 - b0 ))"; echo "base_ms $(( bt1 - bt0 ))"; echo "hz $CLK_TCK"
    echo "load0 ${load0// /,}"; echo "load1 ${load1// /,}"
  } >"$TMP/$label.res"
}

# count stored points of a few charts through the parent's API (sanity: data really landed)
stored_check() { # PORT HOSTNAME CHARTS → "charts_checked points_nonnull points_expected"
  local port=$1 host=$2 charts=$3 res
  res=$(python3 - "$port" "$host" "$charts" "$SECONDS_BACK" <<'PY'
import json, sys, urllib.request
port, host, charts, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = sorted({0, charts // 2, charts - 1})
nn = exp = 0
for c in ids:
    url = f"http://127.0.0.1:{port}/host/{host}/api/v1/data?chart=rg{c//10}.c{c}&after=-{secs+600}&before=0&points={secs+600}&group=average&format=json&options=seconds"
    try:
        d = json.load(urllib.request.urlopen(url, timeout=30))
        rows = d.get("data", [])
        nn += sum(1 for r in rows if any(v is not None for v in r[1:]))
    except Exception as e:
        print(f"err {e}", file=sys.stderr)
    exp += secs
print(len(ids), nn, exp)
PY
  ) || res="0 0 0"
  echo "$res"
}

OUR_PORT=$(free_port); ND_PORT=$(free_port)
while [ "$ND_PORT" = "$OUR_PORT" ]; do ND_PORT=$(free_port); done

# --- our daemon
D=$TMP/ours; mkdir -p "$D"/{cache,lib,log}
cat >"$D/netdata.conf" <<CONF
[global]
  hostname = replbench-parent
[directories]
  config = $D
  cache = $D/cache
  lib = $D/lib
  log = $D/log
[web]
  bind to = 127.0.0.1:$OUR_PORT
[db]
  mode = dbengine
  seconds to replicate = 7200
[plugins]
  proc = no
CONF
cat >"$D/stream.conf" <<CONF
[$KEY]
  type = api
  enabled = yes
  allow from = *
CONF
OUR_CMD="$BIN -c $D/netdata.conf"
$OUR_CMD >"$D/log/stdout.log" 2>&1 &
OUR_PID=$!
wait_http "$OUR_PORT" /api/v1/info 30 || { echo "netdatad did not answer" >&2; tail "$D/log/stdout.log" >&2; exit 1; }
echo "replication: ours pid $OUR_PID port $OUR_PORT: $CHARTS charts × $DIMS dims × ${SECONDS_BACK}s (cap ${CAP}s)" >&2
run_gen ours "$OUR_PID" "$OUR_PORT" "$CHARTS" "$CAP"
OUR_CHECK=$(stored_check "$OUR_PORT" ours-000 "$CHARTS")
OUR_RSS=$(tree_rss_kb "$OUR_PID")
PROFILE=""
if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
  # unmeasured pass: a new child (new host) with half the charts; perf samples the daemon at
  # 1999 Hz for 3 s starting 0.3 s after the child started (the pass takes ~1.5 s here)
  PROF_CMD="$GEN --port $OUR_PORT --key $KEY --charts $(( (CHARTS + 1) / 2 )) --dims $DIMS --seconds $SECONDS_BACK --cap $CAP --linger 2 --name prof"
  $PROF_CMD >"$TMP/prof.gen.out" 2>&1 &
  GEN_PID=$!
  sleep 0.3
  perf record -F 1999 -o "$TMP/perf.data" -p "$OUR_PID" -- sleep 3 >"$TMP/perf.err" 2>&1 || true
  wait "$GEN_PID" 2>/dev/null || true; GEN_PID=""
  echo "profile pass: $(tail -n 1 "$TMP/prof.gen.out")" >&2; cat "$TMP/perf.err" >&2
  perf report -i "$TMP/perf.data" --stdio --no-children --sort symbol </dev/null >"$TMP/perf.txt" 2>"$TMP/perf.report.err" || true
  # (awk reads all its input: `head` closing the pipe early would fail the script under pipefail)
  PROFILE=$(grep -v '^#' "$TMP/perf.txt" | grep -v '^$' | awk 'NR <= 30' | sed 's/ *-  *- *$//; s/  *$//')
fi
kill "$OUR_PID" 2>/dev/null; wait "$OUR_PID" 2>/dev/null || true; OUR_PID=""

# --- the real agent
ND_CMD="$NDREAL parent $TMP/netdata $ND_PORT $KEY"
if [ "$SKIP_NETDATA" != 1 ]; then
  ND_PID=$($ND_CMD); ND_STARTED=1
  echo "replication: netdata pid $ND_PID port $ND_PORT: $ND_CHARTS charts × $DIMS dims × ${SECONDS_BACK}s (cap ${ND_CAP}s)" >&2
  sleep 5 # let its start-up settle
  run_gen netdata "$ND_PID" "$ND_PORT" "$ND_CHARTS" "$ND_CAP"
  ND_CHECK=$(stored_check "$ND_PORT" netdata-000 "$ND_CHARTS")
  ND_RSS=$(tree_rss_kb "$ND_PID")
  "$NDREAL" stop "$TMP/netdata" >/dev/null 2>&1 || true; ND_STARTED=""
else
  ND_CHECK="0 0 0"; ND_RSS=0
fi

RES=$(python3 - "$TMP" "$SKIP_NETDATA" <<'PY'
import sys, os
tmp, skip = sys.argv[1], sys.argv[2] == "1"
def load(label):
    p = os.path.join(tmp, label + ".res")
    if not os.path.exists(p): return None
    d = {}
    for l in open(p):
        k, _, v = l.strip().partition(" ")
        if k: d[k] = v
    return d
for label in ["ours"] + ([] if skip else ["netdata"]):
    d = load(label)
    if d is None: continue
    g = lambda k: float(d.get(k, "0") or 0)
    hz = g("hz")
    samples = g("samples")
    first = g("t_first_request_ms"); last_w = g("t_last_write_ms"); idle = g("idle_ms")
    end = max(last_w, idle)
    wall = (end - first) / 1000 if first else float("nan")
    cpu = (g("c1") - g("c0")) / hz
    span = (g("t1_ms") - g("t0_ms")) / 1000
    base_cps = g("base_ticks") / hz / (g("base_ms") / 1000) if g("base_ms") else 0
    cpu_net = max(cpu - base_cps * span, 1e-9)
    out = dict(samples=int(samples), points=int(g("points")), requests=int(g("requests")),
               rend_true=int(g("rend_true")), charts=int(g("charts")), capped=int(g("capped")), bytes=int(g("bytes")),
               wall=wall, write_wall=(last_w - first) / 1000 if first else float("nan"), drain=(idle - last_w) / 1000,
               cpu=cpu, cpu_net=cpu_net, base_core=base_cps, span=span,
               rate_wall=samples / wall if wall > 0 else 0, rate_core=samples / cpu if cpu > 0 else 0,
               rate_core_net=samples / cpu_net, cores_used=cpu / wall if wall > 0 else 0,
               load0=d.get("load0", "").replace(",", " "), load1=d.get("load1", "").replace(",", " "),
               t100k_core=360e6 / (samples / cpu) if samples and cpu else float("nan"),
               t100k_wall=360e6 / (samples / wall) if samples and wall > 0 else float("nan"))
    for k, v in out.items(): print(f"{label}_{k}", v)
PY
)
v() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$RES"; }
f() { local x; x=$(v "$1"); [ -n "$x" ] && printf "%.${2:-2}f" "$x" || echo "n/a"; }
m() { local x; x=$(v "$1"); [ -n "$x" ] && python3 -c "print(f'{$x/1e6:.2f}')" || echo "n/a"; }
verdict() { python3 -c "print('**met**' if $1 >= $2 else '**not met**')"; }
read -r OCK OCN OCE <<<"$OUR_CHECK"; read -r NCK NCN NCE <<<"$ND_CHECK"

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<MD
# Replication absorb rate: netdatad vs Netdata 1.37.1 parent

Produced by \`bench/replication.sh\` (CHARTS=$CHARTS, DIMS=$DIMS, SECONDS_BACK=$SECONDS_BACK, CAP=${CAP}s;
Netdata: ND_CHARTS=$ND_CHARTS, ND_CAP=${ND_CAP}s). Issue 5 goal: **≥ 20 M samples/s per core**
(Netdata documents about 2 M samples/s per replication thread).

A synthetic child (\`bench/replgen\`, \`ndreplgen\`) connects with \`ver=5056\`
(VCAPS|HLABELS|CLAIM|CLABELS|REPLICATION), sends the chart definitions with
\`CHART_DEFINITION_END <now-$SECONDS_BACK> <now> <now>\` and answers every \`REPLAY_CHART\` like a 1.37.1
child (§7.4: \`RBEGIN "<id>"\`, per second \`RBEGIN '' s e now\` + one \`RSET "<dim>" %0.7f ""\` per dim,
\`RDSTATE\`/\`RSSTATE\` when switching to live, \`REND 1 first last true|false after before now\`),
values generated on the fly (random walk), until every chart got \`REND ... true\`. It sends no live
data afterwards. The two parents ran **one after the other** in the same run (not concurrently).

## Result

| | netdatad (ours) | Netdata 1.37.1 |
|---|---:|---:|
| charts × dims × seconds offered | $CHARTS × $DIMS × $SECONDS_BACK | $ND_CHARTS × $DIMS × $SECONDS_BACK |
| REPLAY_CHART requests answered | $(v ours_requests) | $(v netdata_requests) |
| charts that got \`REND true\` | $(v ours_rend_true) / $CHARTS | $(v netdata_rend_true) / $ND_CHARTS |
| stopped by the time cap | $(v ours_capped) | $(v netdata_capped) |
| **samples absorbed** (RSET values sent and drained by the parent) | $(v ours_samples) | $(v netdata_samples) |
| bytes of replication text | $(v ours_bytes) | $(v netdata_bytes) |
| wall: first REPLAY_CHART → last reply written (s) | $(f ours_write_wall 2) | $(f netdata_write_wall 2) |
| wall: last reply written → parent idle (s) | $(f ours_drain 2) | $(f netdata_drain 2) |
| **wall: first REPLAY_CHART → parent idle (s)** | $(f ours_wall 2) | $(f netdata_wall 2) |
| parent CPU seconds (process tree, generator start → idle) | $(f ours_cpu 2) | $(f netdata_cpu 2) |
| parent baseline CPU when idle (cores, measured 5 s before) | $(f ours_base_core 3) | $(f netdata_base_core 3) |
| parent cores used on average during the wall time | $(f ours_cores_used 2) | $(f netdata_cores_used 2) |
| samples/s (wall) | $(m ours_rate_wall) M | $(m netdata_rate_wall) M |
| **samples/s per core** (samples ÷ parent CPU seconds) | **$(m ours_rate_core) M** | **$(m netdata_rate_core) M** |
| samples/s per core, baseline CPU subtracted | $(m ours_rate_core_net) M | $(m netdata_rate_core_net) M |
| parent RSS after the run (MiB) | $(( OUR_RSS / 1024 )) | $(( ND_RSS / 1024 )) |
| stored-data check: non-null points served by /api/v1/data for $OCK / $NCK charts (expected $OCE / $NCE) | $OCN | $NCN |

Goal ≥ 20 M samples/s per core: ours $(verdict "$(v ours_rate_core)" 20e6).
Ratio ours / Netdata (samples per CPU second): $(python3 -c "a=$(v ours_rate_core); b=float('$(v netdata_rate_core)' or 0); print(f'{a/b:.1f}×' if b else 'n/a')").

### Catching up an hour of 100 k metrics (360 M samples)

An hour of 100 k metrics was not run directly (≈ 10 GB of replication text from a generator on the
same 2 cores). Two ways to get at it: this file's rates extrapolated linearly (table below), and
the same script at the 100 k-metric scale for 6 minutes of backlog,
\`CHARTS=10000 SECONDS_BACK=360 ND_CHARTS=10000 PERF=0 OUT=bench/results/replication-100k.md bench/replication.sh\`
(36 M samples; see \`bench/results/replication-100k.md\`: with 10 000 charts the per-chart costs weigh
more), whose time × 10 is the hour. This run: $CHARTS charts × $DIMS dims = $(( CHARTS * DIMS )) metrics × $SECONDS_BACK s.
**Extrapolated linearly** from the measured rates of this run:

| | netdatad (ours) | Netdata 1.37.1 |
|---|---:|---:|
| parent CPU seconds for 360 M samples (÷ samples/s per core) | $(f ours_t100k_core 0) s | $(f netdata_t100k_core 0) s |
| wall time at this run's wall rate (generator on the same machine) | $(f ours_t100k_wall 0) s | $(f netdata_t100k_wall 0) s |

The CPU figure is the catch-up time if the parent gets one core and the sender can send fast
enough; a real Netdata child (one replication thread by default, documented ~2 M/s) would then be
the bottleneck at ~180 s.

From a **sibling parent** (our back-fill, not in Netdata) the path is different: the restored parent
asks \`GET /api/v1/replicate\` per chart from its \`[stream] destination\`s and writes the replies into
the holes of its history (\`ndcluster::replication_sibling::apply_reply\`, writes *behind* the head of
each series), not through the stream receiver measured here. That is measured directly by
\`bench/replication-sibling.sh\` (1000 charts × 10 dims, a 1 h hole): see
\`bench/results/replication-sibling.md\`, where the ×10 extrapolation to 100 k metrics is given.

## Where netdatad spends its time (perf, unmeasured second pass)

$( if [ -n "$PROFILE" ]; then
  echo "\`perf record -F 1999 -p <netdatad pid>\` (3 s window) while a second child (host \`prof-000\`, $(( (CHARTS + 1) / 2 )) charts) replicated"
  echo "its $SECONDS_BACK s backlog into the same daemon; top symbols (self time):"
  echo; echo '```'; echo "$PROFILE"; echo '```'
else echo "(not profiled: PERF=0 or no perf)"; fi )

### Reading of the profile

At the measured rate one sample costs about 1 s ÷ (samples/s per core) ≈ $(python3 -c "r=$(v ours_rate_core); print(f'{1e9/r:.0f}')") ns of CPU; the
20 M/s goal is a budget of 50 ns per sample (≈ 29 bytes of \`RSET\` text each). (The reading of
each profile and the history of the changes are written by hand below this line after a run.)

## How it was measured

- CPU: for the parent's pid and every descendant, \`utime+stime+cutime+cstime\` from \`/proc/PID/stat\`
  (÷ CLK_TCK=$CLK_TCK), read just before the generator starts (so it includes the chart
  definitions) and when the parent has gone idle.
- Parent idle: after the generator wrote its last reply, the tree's CPU is sampled every 0.5 s; the
  end is the start of the first 0.5 s window using at most the baseline + 2 ticks. The generator keeps
  its connection open (linger) meanwhile, so no disconnect handling is measured.
- Samples absorbed = \`RSET\` values the generator wrote (its own count); with the linger and the
  idle wait, everything written was read by the parent. For a capped run it is what was sent before
  the cap.
- Load average: ours start $(v ours_load0), end $(v ours_load1); Netdata start $(v netdata_load0), end $(v netdata_load1).
  The machine is shared with other jobs (about 7 agents on 2 cores): wall times are noisy, the
  per-core (CPU-second) rates much less so.

Commands (ports chosen free at run time; \$TMP is a temp dir):

\`\`\`
$(sed "s|$TMP|\$TMP|g" <<<"$OUR_CMD")
$(sed "s|$TMP|\$TMP|g; s|$REPO/||" "$TMP/ours.cmd")
$(sed "s|$TMP|\$TMP|g" <<<"$ND_CMD")
$( [ -f "$TMP/netdata.cmd" ] && sed "s|$TMP|\$TMP|g; s|$REPO/||" "$TMP/netdata.cmd")
\`\`\`

ours netdata.conf:
\`\`\`
$(sed "s|$TMP|\$TMP|g" "$D/netdata.conf")
\`\`\`
ours stream.conf:
\`\`\`
$(cat "$D/stream.conf")
\`\`\`
Netdata: \`netdata-real parent\` (Debian netdata-core 1.37.1; default \`[db]\` dbengine, seconds to
replicate 86400, 600 s per step; health, ML, cloud and the external plugins off).

## Machine

$(machine_md)
MD
echo "replication: wrote $OUT" >&2
cat "$OUT"
echo "--- generator logs" >&2
tail -n 3 "$TMP"/*.gen.log >&2 || true
