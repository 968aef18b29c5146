#!/usr/bin/env bash
# Parent ingest cost under load: N synthetic children (bench/loadgen, 1.37.1 protocol, ver=960,
# no replication/compression) stream to (a) our netdatad parent, then (b) a real Netdata 1.37.1
# parent, with the same load, one after the other in one run, over loopback.
# Per parent: settle, idle window (baseline CPU rate + RSS), load warm-up, measured window.
# Reports parent CPU-seconds per million samples received (idle baseline subtracted) and RSS per
# collected metric ((RSS at end of window - idle RSS) / metrics). Writes bench/results/parent-load.md.
#
#   bench/parent-load.sh          # HOSTS=50 CHARTS=200 DIMS=10 (100,000 samples/s) SETTLE=15 IDLE=20 WARMUP=40 MEASURE=180
#   HOSTS=5 MEASURE=20 WARMUP=10 bench/parent-load.sh     # quick check
#   ONLY_OURS=1 MEASURE=60 bench/parent-load.sh            # A/B iteration: our parent only, raw figures
#                                                          # on stdout, no report written
#   ROUNDS=3 bench/parent-load.sh   # three pairs, alternating who goes first (ours, Netdata, Netdata,
#                                   # ours, ...): a ratio per pair, and the pooled ratio
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
HOSTS=${HOSTS:-50}; CHARTS=${CHARTS:-200}; DIMS=${DIMS:-10}
SETTLE=${SETTLE:-15}; IDLE=${IDLE:-20}; WARMUP=${WARMUP:-40}; MEASURE=${MEASURE:-180}
SAMPLE_EVERY=${SAMPLE_EVERY:-15}
ROUNDS=${ROUNDS:-1}
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "bounds: 1<=ROUNDS<=10" >&2; exit 2; }
OUT=${OUT:-$REPO/bench/results/parent-load.md}
NDREAL=${NDREAL:-/work/shared/real-netdata/netdata-real}
KEY=11111111-2222-3333-4444-555555555555
[ "$MEASURE" -le 600 ] && [ "$WARMUP" -le 300 ] && [ "$HOSTS" -le 500 ] || { echo "bounds: MEASURE<=600 WARMUP<=300 HOSTS<=500" >&2; exit 2; }
METRICS=$(( HOSTS * CHARTS * DIMS ))

( cd "$REPO" && cargo build --release -q -p netdatad )
( cd "$REPO/bench/loadgen" && cargo build --release -q )
BIN=$REPO/target/release/netdatad
LG=$REPO/bench/loadgen/target/release/ndloadgen
TMP=$(mktemp -d /tmp/nd-pload.XXXXXX)
OUR_PID=""; ND_DIR=""; LG_PID=""
cleanup() {
  [ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null && wait "$LG_PID" 2>/dev/null || true
  [ -n "$OUR_PID" ] && kill "$OUR_PID" 2>/dev/null && wait "$OUR_PID" 2>/dev/null || true
  [ -n "$ND_DIR" ] && "$NDREAL" stop "$ND_DIR" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_ours() { # PORT → sets OUR_PID, PID, CMD (in a fresh directory per run: $TMP/$RUN_NAME)
  local d=$TMP/$RUN_NAME; mkdir -p "$d"/{cache,lib,log}
  cat >"$d/netdata.conf" <<CONF
[global]
  hostname = bench-parent
[directories]
  config = $d
  cache = $d/cache
  lib = $d/lib
  log = $d/log
[web]
  bind to = 127.0.0.1:$1
[db]
  mode = dbengine
[plugins]
  proc = yes
CONF
  printf '[%s]\n  type = api\n  enabled = yes\n  allow from = *\n' "$KEY" >"$d/stream.conf"
  CMD="$BIN -c $d/netdata.conf"
  $CMD >"$d/log/stdout.log" 2>&1 &
  OUR_PID=$!; PID=$OUR_PID
  wait_http "$1" /api/v1/info 20 || { echo "netdatad did not answer" >&2; tail "$d/log/stdout.log" >&2; exit 1; }
}
stop_ours() { kill "$OUR_PID" 2>/dev/null || true; wait "$OUR_PID" 2>/dev/null || true; OUR_PID=""; }
start_netdata() { # PORT
  ND_DIR=$TMP/$RUN_NAME
  CMD="$NDREAL parent $ND_DIR $1 $KEY"
  PID=$($CMD)
}
stop_netdata() { "$NDREAL" stop "$ND_DIR" >/dev/null 2>&1 || true; ND_DIR=""; }

stats() { cat "$TMP/lg.stats" 2>/dev/null || echo "0 0 0"; }

# run NAME START STOP → appends "key value" lines to $TMP/NAME.res
run() {
  local name=$1 port; port=$(free_port)
  local res=$TMP/$name.res; : >"$res"
  RUN_NAME=$name
  echo "parent-load: [$name] starting parent on port $port" >&2
  "$2" "$port"
  echo "cmd $CMD" >>"$res"
  sleep "$SETTLE"
  local i0 i1 w0 w1
  i0=$(tree_cpu_ticks "$PID"); w0=$(date +%s.%N)
  sleep "$IDLE"
  i1=$(tree_cpu_ticks "$PID"); w1=$(date +%s.%N)
  echo "idle_ticks $(( i1 - i0 ))" >>"$res"; echo "idle_wall $(calc "$w1-$w0")" >>"$res"
  echo "idle_rss_kb $(tree_rss_kb "$PID")" >>"$res"; echo "idle_pss_kb $(tree_pss_kb "$PID")" >>"$res"
  echo "idle_dims $(api_counts "$port" | cut -d' ' -f2)" >>"$res"

  rm -f "$TMP/lg.stats"
  local lgdur=$(( WARMUP + MEASURE + 5 ))
  "$LG" --port "$port" --key "$KEY" --hosts "$HOSTS" --charts "$CHARTS" --dims "$DIMS" \
        --duration "$lgdur" --name "lg$name" --stats-file "$TMP/lg.stats" >"$TMP/$name.lg.out" 2>"$TMP/$name.lg.err" &
  LG_PID=$!
  echo "lgcmd $LG --port $port --key $KEY --hosts $HOSTS --charts $CHARTS --dims $DIMS --duration $lgdur --name lg$name --stats-file FILE" >>"$res"
  sleep "$WARMUP"
  local s0 s1 c0 c1 t0 t1 loads="" rss="" end
  read -r _ s0 conn0 <<<"$(stats)"; c0=$(tree_cpu_ticks "$PID"); t0=$(date +%s.%N)
  echo "load_start $(loadavg)" >>"$res"
  end=$(( $(date +%s) + MEASURE ))
  while [ "$(date +%s)" -lt "$end" ]; do
    local left=$(( end - $(date +%s) )); sleep $(( left < SAMPLE_EVERY ? left : SAMPLE_EVERY ))
    kill -0 "$PID" || { echo "parent $name died" >&2; echo "died 1" >>"$res"; break; }
    rss="$rss $(tree_rss_kb "$PID")"; loads="$loads $(cut -d' ' -f1 /proc/loadavg)"
  done
  read -r _ s1 conn1 <<<"$(stats)"; c1=$(tree_cpu_ticks "$PID"); t1=$(date +%s.%N)
  echo "load_end $(loadavg)" >>"$res"
  echo "load_rss_kb $(tree_rss_kb "$PID")" >>"$res"; echo "load_pss_kb $(tree_pss_kb "$PID")" >>"$res"
  echo "load_nprocs $(tree_nprocs "$PID")" >>"$res"
  echo "samples $(( s1 - s0 ))" >>"$res"; echo "connected $conn1" >>"$res"
  echo "load_ticks $(( c1 - c0 ))" >>"$res"; echo "load_wall $(calc "$t1-$t0")" >>"$res"
  echo "rss_series$rss" >>"$res"; echo "loads$loads" >>"$res"
  # while children still stream: does the parent serve them? (hosts known, latest data of one chart)
  local info hosts last
  hosts=$(curl -fsS --max-time 20 "http://127.0.0.1:$port/api/v1/info" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("mirrored_hosts",[])))' 2>/dev/null || echo "?")
  last=$(curl -fsS --max-time 20 "http://127.0.0.1:$port/host/lg$name-$(printf %03d $(( HOSTS - 1 )))/api/v1/data?chart=lg0.c1&after=-5&format=json" \
         | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["data"][0]; print(r[0], r[1])' 2>/dev/null || echo "? ?")
  echo "api_hosts $hosts" >>"$res"; echo "api_last_row $last now=$(date +%s)" >>"$res"
  echo "api_dims_total $(api_counts "$port" | cut -d' ' -f2) (parent's own host)" >>"$res"
  wait "$LG_PID" || echo "loadgen_exit $?" >>"$res"; LG_PID=""
  echo "lg_summary $(cat "$TMP/$name.lg.out")" >>"$res"
  grep -m3 'ndloadgen: host' "$TMP/$name.lg.err" | sed 's/^/lg_err /' >>"$res" || true
  "$3"
  echo "parent-load: [$name] done: $(grep -E '^(samples|load_ticks|connected) ' "$res" | tr '\n' ' ')" >&2
}

if [ "${ONLY_OURS:-0}" = 1 ]; then
  run ours start_ours stop_ours
  cat "$TMP/ours.res"
  python3 - "$TMP/ours.res" "$CLK_TCK" <<'PY'
import sys
d = dict(l.rstrip("\n").partition(" ")[::2] for l in open(sys.argv[1]))
hz = float(sys.argv[2]); wall = float(d["load_wall"]); s = int(d["samples"])
idle = int(d["idle_ticks"]) / hz / float(d["idle_wall"])
print(f"ours: CPU-s per million samples, idle baseline subtracted: {(int(d['load_ticks']) / hz - idle * wall) / s * 1e6:.3f}")
PY
  exit 0
fi
PAIRS=()
for r in $(seq 1 "$ROUNDS"); do
  if [ $(( r % 2 )) = 1 ]; then
    run "ours$r" start_ours stop_ours; run "netdata$r" start_netdata stop_netdata
  else
    run "netdata$r" start_netdata stop_netdata; run "ours$r" start_ours stop_ours
  fi
  PAIRS+=("$TMP/ours$r.res" "$TMP/netdata$r.res")
done

python3 - "$CLK_TCK" "$METRICS" "${PAIRS[@]}" >"$TMP/table.md" <<'PY'
import sys
def load(p):
    d = {}
    for l in open(p):
        k, _, v = l.rstrip("\n").partition(" ")
        d[k] = v
    return d
hz = float(sys.argv[1]); metrics = int(sys.argv[2])
pairs = [(load(sys.argv[i]), load(sys.argv[i + 1])) for i in range(3, len(sys.argv), 2)]
def calc(d):
    idle_rate = int(d["idle_ticks"]) / hz / float(d["idle_wall"])
    wall = float(d["load_wall"]); cpu = int(d["load_ticks"]) / hz; s = int(d["samples"])
    net = cpu - idle_rate * wall
    rss_d = int(d["load_rss_kb"]) - int(d["idle_rss_kb"])
    ls = [float(x) for x in d.get("loads", "").split()] or [float("nan")]
    return dict(idle_core=100*idle_rate, cpu=cpu, wall=wall, core=100*cpu/wall, net=net, samples=s, rate=s/wall,
                gross_pm=cpu/s*1e6 if s else float("nan"), net_pm=net/s*1e6 if s else float("nan"),
                idle_rss=int(d["idle_rss_kb"])/1024, load_rss=int(d["load_rss_kb"])/1024,
                load_pss=int(d["load_pss_kb"])/1024, idle_pss=int(d["idle_pss_kb"])/1024,
                kib_per_metric=rss_d/metrics, pss_per_metric=(int(d["load_pss_kb"]) - int(d["idle_pss_kb"]))/metrics,
                load_mean=sum(ls)/len(ls), load_max=max(ls))
def pool(ds):
    # the rounds as one: CPU and samples summed; RSS and load of the worst round
    cs = [calc(d) for d in ds]
    p = dict(cs[0])
    for k in ("cpu", "wall", "net", "samples"):
        p[k] = sum(c[k] for c in cs)
    p["core"] = 100 * p["cpu"] / p["wall"]; p["rate"] = p["samples"] / p["wall"]
    p["idle_core"] = sum(c["idle_core"] for c in cs) / len(cs)
    p["gross_pm"] = p["cpu"] / p["samples"] * 1e6 if p["samples"] else float("nan")
    p["net_pm"] = p["net"] / p["samples"] * 1e6 if p["samples"] else float("nan")
    worst = max(cs, key=lambda c: c["kib_per_metric"])
    for k in ("idle_rss", "load_rss", "idle_pss", "load_pss", "kib_per_metric", "pss_per_metric"):
        p[k] = worst[k]
    p["load_mean"] = sum(c["load_mean"] for c in cs) / len(cs); p["load_max"] = max(c["load_max"] for c in cs)
    return p
a, b = pool([o for o, _ in pairs]), pool([n for _, n in pairs])
r = lambda k: a[k] / b[k] if b[k] else float("nan")
ok = lambda c: "**met**" if c else "**not met**"
rows = [
 ("samples received in window (sent by loadgen)", f"{a['samples']:,}", f"{b['samples']:,}", "", "", ""),
 ("samples/s in window", f"{a['rate']:,.0f}", f"{b['rate']:,.0f}", "", "", ""),
 ("idle CPU before load, % of a core", f"{a['idle_core']:.2f} %", f"{b['idle_core']:.2f} %", "", "", ""),
 ("CPU under load, % of a core", f"{a['core']:.1f} %", f"{b['core']:.1f} %", f"{r('core'):.3f}", "", ""),
 ("CPU-s per million samples, gross", f"{a['gross_pm']:.3f}", f"{b['gross_pm']:.3f}", f"{r('gross_pm'):.3f}", "", ""),
 ("**CPU-s per million samples, idle baseline subtracted**", f"{a['net_pm']:.3f}", f"{b['net_pm']:.3f}", f"**{r('net_pm'):.3f}**", "≤ 0.1", ok(r('net_pm') <= 0.1)),
 ("RSS idle → end of window (MiB)", f"{a['idle_rss']:.1f} → {a['load_rss']:.1f}", f"{b['idle_rss']:.1f} → {b['load_rss']:.1f}", f"{a['load_rss']/b['load_rss']:.3f}", "", ""),
 ("**RSS per collected metric (KiB)**", f"{a['kib_per_metric']:.2f}", f"{b['kib_per_metric']:.2f}", f"**{r('kib_per_metric'):.3f}**", "≤ 2 KiB (ours)", ok(a['kib_per_metric'] <= 2)),
 ("PSS idle → end of window (MiB)", f"{a['idle_pss']:.1f} → {a['load_pss']:.1f}", f"{b['idle_pss']:.1f} → {b['load_pss']:.1f}", "", "", ""),
 ("PSS per collected metric (KiB)", f"{a['pss_per_metric']:.2f}", f"{b['pss_per_metric']:.2f}", f"{r('pss_per_metric'):.3f}", "", ""),
 ("load average (1-min) in window, mean / max", f"{a['load_mean']:.2f} / {a['load_max']:.2f}", f"{b['load_mean']:.2f} / {b['load_max']:.2f}", "", "", ""),
]
print("| | netdatad (ours) | Netdata 1.37.1 | ratio ours/Netdata | goal | verdict |")
print("|---|---:|---:|---:|---:|---|")
for row in rows: print("| " + " | ".join(row) + " |")
if len(pairs) > 1:
    print()
    print(f"The table pools the {len(pairs)} rounds (CPU and samples summed; RSS of the round with the most per metric).")
    print("Each round on its own (odd rounds ours first, even rounds Netdata first):")
    print()
    print("| round | ours CPU-s/M (net) | Netdata CPU-s/M (net) | ratio | ours KiB/metric | Netdata KiB/metric | load mean ours / Netdata |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    ratios = []
    for i, (o, n) in enumerate(pairs, 1):
        x, y = calc(o), calc(n)
        ratios.append(x["net_pm"] / y["net_pm"])
        print(f"| {i} | {x['net_pm']:.3f} | {y['net_pm']:.3f} | {ratios[-1]:.3f} | {x['kib_per_metric']:.2f} | {y['kib_per_metric']:.2f} | {x['load_mean']:.2f} / {y['load_mean']:.2f} |")
    s = sorted(ratios)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    print()
    print(f"Ratio per round: median {med:.3f}, worst {max(ratios):.3f}, best {min(ratios):.3f}; pooled {r('net_pm'):.3f}.")
PY

mkdir -p "$(dirname "$OUT")"
{
cat <<MD
# Parent ingest under load: netdatad vs Netdata 1.37.1

Produced by \`bench/parent-load.sh\`. Load: $HOSTS synthetic children × $CHARTS charts × $DIMS dimensions
= $METRICS metrics at 1 s = $(( METRICS )) samples/s nominal, each child one STREAM connection over
loopback speaking the 1.37.1 protocol (\`bench/loadgen\`: real-child-like request line, \`ver=960\` =
VCAPS|HLABELS|CLAIM|CLABELS, no replication, no compression; host labels, CLAIMED_ID, CHART + CLABEL +
DIMENSION definitions; then every second one \`BEGIN\`/\`SET\`×$DIMS/\`END\` per chart; half the dimensions
\`absolute\` random-walk gauges, half \`incremental\` counters). Both parents got the same load,
**one after the other in one run** ($ROUNDS round(s); odd rounds ours first, even rounds Netdata first);
the machine is shared and noisy, so compare ratios.
Issue 4 goals: parent CPU-seconds per million samples ≤ 1/10 of Netdata's; RSS per collected
metric ≤ 2 KiB.

Per parent: start, settle ${SETTLE}s, idle window ${IDLE}s (baseline CPU rate and RSS), start the
load, warm-up ${WARMUP}s, measured window ${MEASURE}s.

## Result

MD
cat "$TMP/table.md"
cat <<MD

- CPU: process tree of the parent (pid + descendants), \`utime+stime+cutime+cstime\` from
  \`/proc/PID/stat\` at the window edges. "idle baseline subtracted" = window CPU minus the idle
  rate × window length: both parents also collect their own host (ours: \`[plugins] proc = yes\`;
  Netdata: proc + diskspace + self-monitoring, which cannot be turned off through netdata-real), so
  the baseline removes that.
- Samples = samples the load generator wrote in the window (it writes with blocking sockets, so a
  parent that falls behind slows it down; compare with the nominal rate).
- RSS per metric = (VmRSS summed over the tree at the end of the window − idle VmRSS) / $METRICS.
  Netdata's figure includes its dbengine page cache growth (default settings).

## Raw measurements

\`\`\`
$(for r in $(seq 1 "$ROUNDS"); do echo "== ours (round $r)"; cat "$TMP/ours$r.res"; echo "== netdata (round $r)"; cat "$TMP/netdata$r.res"; done)
\`\`\`

(\`api_last_row\` = time and first value of the newest row of \`lg0.c1\` of the last child, read from
the parent's API while the load was running — evidence the parent stored the samples.)

## Commands

\`\`\`
ROUNDS=$ROUNDS HOSTS=$HOSTS CHARTS=$CHARTS DIMS=$DIMS SETTLE=$SETTLE IDLE=$IDLE WARMUP=$WARMUP MEASURE=$MEASURE bench/parent-load.sh
\`\`\`
ours netdata.conf (+ stream.conf \`[$KEY] type = api, enabled = yes, allow from = *\`):
\`\`\`
$(sed "s|$TMP|\$TMP|g" "$TMP/ours1/netdata.conf")
\`\`\`
Netdata: \`netdata-real parent DIR PORT KEY\` (Debian netdata-core 1.37.1; health, ML, cloud and all
external plugins off; proc, diskspace and its own charts on; default dbengine settings; its
stream.conf accepts KEY with defaults).

## Machine

$(machine_md)
MD
} | sed "s|$TMP|\$TMP|g" >"$OUT"
echo "parent-load: wrote $OUT" >&2
cat "$OUT"
