#!/usr/bin/env bash
# A restored parent catching up from a sibling (our sibling back-fill, issue 5, beyond Netdata):
# parent A gets CHARTS × DIMS × SECONDS_BACK of history from a synthetic child (bench/replgen);
# parent B (its `[stream] destination` is A, `enabled = no`) first holds 2 s of that host's
# history from SECONDS_BACK ago, then the child reconnects to B offering only its last 2 s:
# B's history has a SECONDS_BACK hole, which B's back-fill fills from A over
# /api/v1/replicate. Measures the back-fill: wall time (child reconnect → B logs
# "sibling backfill done"), CPU seconds of A and of B, points filled. Prints a markdown block.
#
#   bench/replication-sibling.sh             # CHARTS=1000 DIMS=10 SECONDS_BACK=3600 CAP=300
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
CHARTS=${CHARTS:-1000}
DIMS=${DIMS:-10}
SECONDS_BACK=${SECONDS_BACK:-3600}
CAP=${CAP:-300}
KEY=11111111-2222-3333-4444-555555555555
[ "$CAP" -le 900 ] || { echo "keep CAP<=900" >&2; exit 2; }
( cd "$REPO" && cargo build --release -q -p netdatad )
( cd "$REPO/bench/replgen" && cargo build --release -q )
BIN=$REPO/target/release/netdatad
GEN=$REPO/bench/replgen/target/release/ndreplgen
TMP=$(mktemp -d /tmp/nd-replsib.XXXXXX)
A_PID=""; B_PID=""; GEN_PID=""
cleanup() {
  [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null || true
  [ -n "$A_PID" ] && kill "$A_PID" 2>/dev/null && wait "$A_PID" 2>/dev/null || true
  [ -n "$B_PID" ] && kill "$B_PID" 2>/dev/null && wait "$B_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now_ms() { date +%s%3N; }

PA=$(free_port); PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
mkconf() { # NAME PORT STREAM_SECTION [EXTRA KEY-SECTION LINES]
  local d=$TMP/$1; mkdir -p "$d"/{cache,lib,log}
  printf '[global]\n  hostname = sib-%s\n[directories]\n  config = %s\n  cache = %s/cache\n  lib = %s/lib\n  log = %s/log\n[web]\n  bind to = 127.0.0.1:%s\n[db]\n  mode = dbengine\n  seconds to replicate = 7200\n[plugins]\n  proc = no\n' "$1" "$d" "$d" "$d" "$d" "$2" >"$d/netdata.conf"
  printf '%s\n[%s]\n  type = api\n  enabled = yes\n  allow from = *\n%s' "$3" "$KEY" "${4:-}" >"$d/stream.conf"
}
# A and B are siblings: each has streamed to the other at least once (B only syncs from a
# destination whose own host it holds). A streams its own host to B, but does not re-stream
# the child (`default proxy enabled = no`), so B's history of the child comes only from the
# child and from the back-fill.
mkconf a "$PA" "$(printf '[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:%s\n  api key = %s\n' "$PB" "$KEY")" "$(printf '  default proxy enabled = no\n')"
mkconf b "$PB" "$(printf '[stream]\n  enabled = no\n  destination = tcp:127.0.0.1:%s\n  api key = %s\n' "$PA" "$KEY")"
"$BIN" -c "$TMP/a/netdata.conf" >"$TMP/a/log/stdout.log" 2>&1 & A_PID=$!
"$BIN" -c "$TMP/b/netdata.conf" >"$TMP/b/log/stdout.log" 2>&1 & B_PID=$!
wait_http "$PA" /api/v1/info 30 && wait_http "$PB" /api/v1/info 30 || { echo "a daemon did not answer" >&2; exit 1; }
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$PB/api/v1/info" | grep -q '"sib-a"' && break
  sleep 0.2
done
curl -s "http://127.0.0.1:$PB/api/v1/info" | grep -q '"sib-a"' || { echo "A did not stream to B" >&2; exit 1; }

gen() { timeout $(( CAP + 120 )) "$GEN" --key "$KEY" --charts "$CHARTS" --dims "$DIMS" --name sib --cap "$CAP" "$@"; }
echo "sibling: A=$PA gets ${SECONDS_BACK}s of $CHARTS×$DIMS" >&2
gen --port "$PA" --seconds "$SECONDS_BACK" --linger 1 | tail -n 1 >&2
echo "sibling: B gets 2 s from ${SECONDS_BACK}s ago" >&2
gen --port "$PB" --seconds 2 --end-ago "$SECONDS_BACK" --linger 1 | tail -n 1 >&2
sleep 2
A0=$(tree_cpu_ticks "$A_PID"); B0=$(tree_cpu_ticks "$B_PID"); T0=$(now_ms); LOAD0=$(loadavg)
DONE0=$(cat "$TMP/b/log/stdout.log" "$TMP/b/log/"*.log 2>/dev/null | grep -c "sibling backfill done" || true)
echo "sibling: child reconnects to B with its last 2 s; B back-fills from A" >&2
gen --port "$PB" --seconds 2 --linger $(( CAP + 30 )) --done-file "$TMP/b2.done" >"$TMP/b2.out" 2>&1 & GEN_PID=$!
END_T=""
for _ in $(seq 1 $(( CAP * 10 ))); do
  # A pass may already have run (B's first session: history before B's first point), so wait
  # for one more line than before the reconnect.
  if [ "$(cat "$TMP/b/log/stdout.log" "$TMP/b/log/"*.log 2>/dev/null | grep -c "sibling backfill done")" -gt "$DONE0" ]; then END_T=$(now_ms); break; fi
  sleep 0.1
done
A1=$(tree_cpu_ticks "$A_PID"); B1=$(tree_cpu_ticks "$B_PID"); T1=$(now_ms); LOAD1=$(loadavg)
kill "$GEN_PID" 2>/dev/null || true; wait "$GEN_PID" 2>/dev/null || true; GEN_PID=""
LINE=$(grep -h "sibling backfill done" "$TMP/b/log/stdout.log" "$TMP/b/log/"*.log 2>/dev/null | tail -n 1 || true)
POINTS=$(sed -n 's/.*points=\([0-9]*\).*/\1/p' <<<"$LINE" | tail -n 1)
CHECK=$(python3 - "$PB" "$CHARTS" "$SECONDS_BACK" <<'PY'
import json, sys, urllib.request
port, charts, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
nn = 0; ids = sorted({0, charts // 2, charts - 1})
for c in ids:
    url = f"http://127.0.0.1:{port}/host/sib-000/api/v1/data?chart=rg{c//10}.c{c}&after=-{secs+600}&before=0&points={secs+600}&format=json"
    try:
        rows = json.load(urllib.request.urlopen(url, timeout=30)).get("data", [])
        nn += sum(1 for r in rows if any(v is not None for v in r[1:]))
    except Exception as e:
        print(f"err {e}", file=sys.stderr)
print(len(ids), nn, len(ids) * secs)
PY
)
cat <<MD
# Sibling back-fill: a restored parent catching up from a sibling (netdatad only)

Produced by \`bench/replication-sibling.sh\` (CHARTS=$CHARTS DIMS=$DIMS SECONDS_BACK=$SECONDS_BACK CAP=${CAP}s).
Netdata 1.37.1 has no equivalent (a parent only replicates from its children). Two netdatad
parents on loopback, both \`[db] mode = dbengine\`, \`seconds to replicate = 7200\`, \`[plugins] proc = no\`:
A received the whole ${SECONDS_BACK} s backlog from the synthetic child (\`ndreplgen\`); B (its
\`[stream] destination\` is A, \`enabled = no\`) held 2 s from ${SECONDS_BACK} s ago, then the child reconnected
to B offering only its last 2 s. A streams its own host to B (`default proxy enabled = no`:
not the child's), which makes A a sibling in B's eyes (B only syncs from destinations whose
own host it holds). B's back-fill (daemon/src/replication_sibling.rs) then asked A
\`GET /api/v1/replicate\` per chart (≤ 3600 steps per request) and stored the reply
(\`ndcluster::replication_sibling::apply_reply\`). Timing starts when the child reconnects to B
(handshake, the 2 s replication and the hole scan included) and ends when B logs
\`sibling backfill done\` (polled every 0.1 s). CPU = utime+stime of each daemon (/proc).

MD
python3 - "$A0" "$A1" "$B0" "$B1" "$T0" "$T1" "${END_T:-0}" "${POINTS:-0}" "$CLK_TCK" "$CHECK" "$LOAD0" "$LOAD1" "$CHARTS" "$DIMS" "$SECONDS_BACK" <<'PY'
import sys
a0, a1, b0, b1, t0, t1, end, pts, hz = map(float, sys.argv[1:10])
check, load0, load1, charts, dims, secs = sys.argv[10:16]
wall = ((end or t1) - t0) / 1000
ca, cb = (a1 - a0) / hz, (b1 - b0) / hz
k, nn, exp = check.split()
print(f"| setup | {charts} charts × {dims} dims, hole of {secs} s on B |")
print("|---|---:|")
print(f"| back-fill finished (B logged `sibling backfill done`) | {'yes' if end else 'no (cap reached)'} |")
print(f"| points filled (B's log) | {int(pts)} |")
print(f"| wall: child reconnect → back-fill done (s) | {wall:.2f} |")
print(f"| CPU seconds, B (restored parent) | {cb:.2f} |")
print(f"| CPU seconds, A (sibling serving /api/v1/replicate) | {ca:.2f} |")
if pts:
    print(f"| samples/s (wall) | {pts/wall/1e6:.2f} M |")
    print(f"| samples per CPU second, B alone | {pts/cb/1e6:.2f} M |")
    print(f"| samples per CPU second, A+B | {pts/(ca+cb)/1e6:.2f} M |")
    print(f"| extrapolated: 360 M samples (100 k metrics × 1 h) at this wall rate | {360e6/(pts/wall):.0f} s |")
print(f"| stored-data check on B: non-null points for {k} charts (expected ≈ {exp}) | {nn} |")
print(f"| load average start / end | {load0} / {load1} |")
PY
echo
echo "## Machine"
echo
machine_md
