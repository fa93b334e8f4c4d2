#!/usr/bin/env bash
# cluster-demo.sh: a qstate cluster kept in etcd, on loopback, from start to stop.
#   1. starts etcd and three nodes (a: key groups 0-42, b: 43-85, c: 86-127 of the
#      synthetic state), prints `qstate cluster status`;
#   2. queries a key of each node through node a's proxy (`qstate query`) and runs
#      `qstate bench --verify` through node a (every key of every node);
#   3. kills node c (SIGKILL): after its lease TTL its keys fail at once with
#      UnknownKvStateKeyGroupLocationException; restarts it under the same name;
#   4. stops etcd for OUTAGE seconds while `qstate bench --verify` runs, then restarts it;
#   5. stops everything it started, by PID (also on error or Ctrl-C).
# It fails (exit 1) if a verified benchmark has an error.
#
# Usage: scripts/cluster-demo.sh
# Environment (defaults in brackets):
#   PORT [27000]   first of the loopback ports used: etcd PORT, PORT+1; node i PORT+10i+{0,1}
#   TTL [3s]       lease TTL of the nodes          OUTAGE [10]  seconds etcd is down in step 4
#   OUT [a new temp dir]  binary, etcd data and logs
# Needs Go and etcd (Debian: apt-get install etcd-server).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-27000}
TTL=${TTL:-3s}
OUTAGE=${OUTAGE:-10}
OUT=${OUT:-$(mktemp -d -t qstate-cluster.XXXXXX)}
mkdir -p "$OUT"
log() { echo "cluster-demo: $*" >&2; }

command -v etcd >/dev/null 2>&1 || { log "etcd is not installed (Debian: apt-get install etcd-server)"; exit 1; }
for p in $PORT $((PORT+1)) $((PORT+10)) $((PORT+11)) $((PORT+20)) $((PORT+21)) $((PORT+30)) $((PORT+31)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then log "port $p is in use (set PORT)"; exit 1; fi
done

log "building qstate into $OUT"
go build -o "$OUT/qstate" ./cmd/qstate
Q="$OUT/qstate"
E="http://127.0.0.1:$PORT"

. scripts/procs.sh
trap stop_all EXIT INT TERM

start_etcd() {
  etcd --name demo --data-dir "$OUT/etcd-data" \
    --listen-client-urls "$E" --advertise-client-urls "$E" \
    --listen-peer-urls "http://127.0.0.1:$((PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((PORT+1))" \
    --initial-cluster "demo=http://127.0.0.1:$((PORT+1))" \
    --heartbeat-interval 50 --election-timeout 500 >>"$OUT/etcd.log" 2>&1 &
  track etcd $!
  for _ in $(seq 100); do
    "$Q" cluster status --etcd-endpoints "$E" --cluster-name demo --timeout 200ms >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "etcd did not start; see $OUT/etcd.log"; exit 1
}

start_node() { # start_node NAME INDEX KEYGROUPS
  "$Q" serve --etcd-endpoints "$E" --cluster-name demo --node "$1" --dataset synthetic --key-groups "$3" \
    --etcd-ttl "$TTL" --proxy-addr "127.0.0.1:$((PORT+10*$2))" --server-addr "127.0.0.1:$((PORT+10*$2+1))" \
    --admin "" --log-format json >>"$OUT/node-$1.log" 2>&1 &
  track "$1" $!
}

status() { "$Q" cluster status --etcd-endpoints "$E" --cluster-name demo; }

wait_status() { # wait_status PATTERN: until cluster status matches
  for _ in $(seq 200); do
    status 2>/dev/null | grep -q -- "$1" && return
    sleep 0.1
  done
  log "cluster status never showed '$1':"; status; exit 1
}

verify() { # verify WHAT BENCH-ARGS...: bench --verify through node a, must have 0 errors
  local what=$1; shift
  "$Q" bench --addr "127.0.0.1:$((PORT+10))" --verify --conns 8 --pipeline 16 --warmup 0s --json "$@" >"$OUT/bench.json"
  local errors ok p99
  errors=$(grep -o '"error_total": *[0-9]*' "$OUT/bench.json" | grep -o '[0-9]*$')
  ok=$(grep -o '"ok": *[0-9]*' "$OUT/bench.json" | grep -o '[0-9]*$')
  p99=$(grep -o '"p99": *[0-9.]*' "$OUT/bench.json" | head -1 | grep -o '[0-9.]*$')
  log "$what: $ok requests verified, $errors errors, p99 ${p99} µs"
  [ "$errors" = 0 ] || { log "FAILED: $what had errors ($OUT/bench.json)"; exit 1; }
}

query() { "$Q" query --addr "127.0.0.1:$((PORT+10))" --job 00112233445566778899aabbccddeeff --state state \
  --key "$1" --key-type int --value-type bytes; }

log "starting etcd and nodes a, b, c (lease TTL $TTL)"
start_etcd
start_node a 1 0-42
start_node b 2 43-85
start_node c 3 86-127
wait_status "3 live members"
wait_status "every key group is held"
status

log "one key of each node, through node a"
for k in 1 2 3; do query "$k"; done
verify "three nodes" --requests 50000

log "killing node c (SIGKILL): its lease ends after $TTL"
stop_proc c KILL
killed=$(date +%s.%N)
wait_status "NO LIVE NODE holds key groups 86-127"
log "node c's key groups uncovered $(echo "$(date +%s.%N) - $killed" | bc 2>/dev/null || echo '?') s after the kill"
status
k=0; while :; do
  out=$(query $k 2>&1 || true)
  if echo "$out" | grep -q UnknownKvStateKeyGroupLocation; then break; fi
  k=$((k+1))
done
log "key $k (node c's) now fails at once: $(echo "$out" | grep -o 'UnknownKvStateKeyGroupLocationException' | head -1)"

log "restarting node c under the same name"
start_node c 3 86-127
wait_status "every key group is held"
verify "node c restarted" --requests 50000

log "stopping etcd for ${OUTAGE}s while the benchmark runs"
stop_proc etcd KILL
verify "etcd down ${OUTAGE}s" --duration "${OUTAGE}s"
start_etcd
for _ in $(seq 200); do # each node logs that etcd is back (lease kept, or registered with a new one)
  [ "$(cat "$OUT"/node-*.log | grep -c 'etcd reachable again')" -ge 3 ] && break
  sleep 0.1
done
wait_status "3 live members"
verify "etcd back" --requests 50000
status
log "what the nodes logged about etcd:"
grep -h -o -E '"message":"(etcd|lease)[^"]*"' "$OUT"/node-*.log | sort | uniq -c >&2 || true

log "stopping everything; logs in $OUT"
