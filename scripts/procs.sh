# procs.sh: the background processes a script starts (servers, etcd), sourced
# by cluster-demo.sh and compare.sh. Each process is recorded under a name
# (track) and stopped by its PID, never by a name pattern: one at a time
# (stop_proc) or every one still recorded (stop_all, the scripts' exit trap).

declare -A procs=()

# track NAME PID: record the process PID under NAME.
track() { procs[$1]=$2; }

# stop_proc NAME [SIGNAL]: send SIGNAL (default TERM) to the process
# recorded under NAME, reap it and forget it (nothing when there is none).
stop_proc() {
  local pid=${procs[$1]:-}
  [ -n "$pid" ] || return 0
  kill -"${2:-TERM}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "procs[$1]"
}

# stop_all: stop_proc every process still recorded.
stop_all() {
  local name
  for name in "${!procs[@]}"; do stop_proc "$name"; done
}
