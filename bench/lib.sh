# Shared helpers for bench/*.sh (sourced). Process-tree accounting from /proc, machine facts.
# shellcheck shell=bash

CLK_TCK=$(getconf CLK_TCK)

# PID and all its descendants, one per line.
tree_pids() {
  local root=$1
  ps -e -o pid=,ppid= | awk -v root="$root" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = 1; q[1] = root; out = ""
      for (i = 1; i <= n; i++) {
        p = q[i]; print p
        m = split(kids[p], k, " ")
        for (j = 1; j <= m; j++) { if (k[j] != "") { n++; q[n] = k[j] } }
      }
    }'
}

# CPU ticks of the tree: utime+stime of every live process, plus cutime+cstime (children
# already reaped: e.g. Netdata's short-lived helper scripts). No double counting: a child's
# time moves into its parent's cutime only when it is reaped.
tree_cpu_ticks() {
  local total=0 p rest
  for p in $(tree_pids "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    rest=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    # after "comm) ": field 3 is state → utime is the 12th word, stime 13, cutime 14, cstime 15
    set -- $rest
    [ $# -ge 15 ] || continue
    total=$(( total + ${12} + ${13} + ${14} + ${15} ))
  done
  echo "$total"
}

# Sum of a /proc/PID/status or smaps_rollup field (kB) over the tree.
tree_sum_kb() { # ROOT FILE FIELD
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk -v f="$3:" '$1 == f { print $2; exit }' "/proc/$p/$2" 2>/dev/null) || true
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
tree_rss_kb() { tree_sum_kb "$1" status VmRSS; }
tree_pss_kb() { tree_sum_kb "$1" smaps_rollup Pss; }
tree_nprocs() { tree_pids "$1" | wc -l; }

# Dimensions and charts served by /api/v1/charts (all charts, and without netdata.* self-monitoring).
api_counts() { # PORT [HOSTPATH] → "charts dims charts_no_self dims_no_self"
  curl -fsS --max-time 20 "http://127.0.0.1:$1${2:-}/api/v1/charts" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("0 0 0 0"); sys.exit(0)
ch = d.get("charts", {}) or {}
dims = lambda c: len((c or {}).get("dimensions", {}) or {})
own = {k: v for k, v in ch.items() if not k.startswith("netdata.")}
print(len(ch), sum(dims(c) for c in ch.values()), len(own), sum(dims(c) for c in own.values()))'
}

wait_http() { # PORT PATH SECONDS
  local i
  for i in $(seq 1 $(( $3 * 5 ))); do
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1$2" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

machine_md() { # markdown block describing the machine
  echo "- date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "- nproc: $(nproc)"
  echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "- RAM: $(awk '/^MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo)"
  echo "- kernel: $(uname -srm)"
  echo "- netdata: $(netdata -W buildinfo 2>/dev/null | head -1 || echo '?') ($(dpkg-query -W -f='${Version}' netdata-core 2>/dev/null || echo '?'))"
  echo "- netdatad: git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) (release build)"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# float helper
calc() { python3 -c "print($*)"; }
