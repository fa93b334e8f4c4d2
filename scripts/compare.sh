#!/usr/bin/env bash
# compare.sh: one benchmark matrix, side by side, in one go:
#   qstate (pool dispatch), qstate (inline dispatch) and redis-server (the reference),
#   values of 8 B and 1 KiB, loads (connections x pipeline) 50x16, 4x128 and 50x1.
# Each server runs on 127.0.0.1 on a free port; the harness (`qstate bench`) measures
# req/s, the server's CPU µs per request, p50 and p99 (and its own CPU µs per request:
# where that is high, the harness shares the limit); a markdown table is printed at
# the end. Every server started is stopped by its PID (also on exit or interrupt).
#
# Usage: scripts/compare.sh [--quick]
#   --quick          short runs (2 s window, 0.5 s warm-up, 10,000 keys)
# Environment (defaults in brackets; --quick changes the first three):
#   DURATION [10s]   measured window per run       WARMUP [2s]   warm-up per run
#   KEYS [100000]    keys in the dataset           SIZES ["8 1024"]   value sizes (bytes)
#   LOADS ["50x16 4x128 50x1"]   connections x pipeline
#   SERVERS ["pool inline redis"]  which servers   VERIFY [1]  check every value
#   OUT [a new temp dir]  where the binary, logs and JSON reports go
#
# Needs Go; installs redis-server (and jq) with apt-get when missing.
# Both cores are shared by the harness and the server: compare rows, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  DURATION=${DURATION:-2s}; WARMUP=${WARMUP:-500ms}; KEYS=${KEYS:-10000}
fi
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
KEYS=${KEYS:-100000}
SIZES=${SIZES:-"8 1024"}
LOADS=${LOADS:-"50x16 4x128 50x1"}
SERVERS=${SERVERS:-"pool inline redis"}
VERIFY=${VERIFY:-1}
OUT=${OUT:-$(mktemp -d -t qstate-compare.XXXXXX)}
mkdir -p "$OUT"

log() { echo "compare: $*" >&2; }

need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return
  log "installing $2"
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
case " $SERVERS " in *" redis "*) need_apt redis-server redis-server ;; esac
need_apt jq jq

log "building qstate into $OUT"
go build -o "$OUT/qstate" ./cmd/qstate
QSTATE="$OUT/qstate"

# Servers we started, stopped by PID on exit.
declare -A running=()
cleanup() {
  for pid in "${!running[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port nothing on 127.0.0.1 answers on.
free_port() {
  local port _i
  for _i in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free port found"; return 1
}

# wait_port PORT PID: until PORT accepts connections (10 s at most) while PID lives.
wait_port() {
  local _i
  for _i in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || { log "server $2 exited; see its log in $OUT"; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 not listening after 10 s"; return 1
}

# start_server KIND SIZE: sets PID and PORT.
start_server() {
  local kind=$1 size=$2 logf="$OUT/server-$1-$2.log"
  PID=
  PORT=$(free_port)
  case "$kind" in
    pool|inline)
      local sport; sport=$(free_port)
      "$QSTATE" serve --dataset synthetic --keys "$KEYS" --value-size "$size" \
        --proxy-addr "127.0.0.1:$PORT" --server-addr "127.0.0.1:$sport" --dispatch "$kind" >"$logf" 2>&1 &
      ;;
    redis)
      redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --protected-mode no >"$logf" 2>&1 &
      ;;
    *) log "unknown server $kind"; return 1 ;;
  esac
  PID=$!
  running[$PID]=1
  wait_port "$PORT" "$PID"
}

stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  unset "running[$1]"
}

declare -A rows=()
for size in $SIZES; do
  for server in $SERVERS; do
    if ! start_server "$server" "$size"; then
      log "$server did not start; its log: $OUT/server-$server-$size.log"
      [ -n "${PID:-}" ] && stop_server "$PID"
      for load in $LOADS; do rows["$size $load $server"]="| did not start | | | | | |"; done
      continue
    fi
    log "$server, $size B values: pid $PID, port $PORT"
    preload=()
    protocol=flink
    if [ "$server" = redis ]; then protocol=resp; preload=(--preload); fi
    verify=()
    [ "$VERIFY" = 1 ] && verify=(--verify)
    for load in $LOADS; do
      conns=${load%x*}; pipeline=${load#*x}
      json="$OUT/bench-$server-$size-$load.json"
      log "  $load: $DURATION after $WARMUP warm-up"
      if ! "$QSTATE" bench --addr "127.0.0.1:$PORT" --protocol "$protocol" "${preload[@]}" "${verify[@]}" \
          --keys "$KEYS" --value-size "$size" --conns "$conns" --pipeline "$pipeline" \
          --warmup "$WARMUP" --duration "$DURATION" --server-pid "$PID" --json >"$json"; then
        log "  bench failed; see $json"
        rows["$size $load $server"]="| failed | | | | | |"
        preload=()
        continue
      fi
      preload=()
      rows["$size $load $server"]=$(jq -r '
        def r(n): (n * 10 | round) / 10;
        def cpu(x): if x then r(x) else "n/a" end;
        "| \(.requests_per_second | round) | \(cpu(.server_cpu_us_per_request)) | \(r(.latency_us.p50)) | \(r(.latency_us.p99)) | \(.error_total) | \(cpu(.client_cpu_us_per_request)) |"' "$json")
    done
    stop_server "$PID"
  done
done

size_name() { if [ "$1" -ge 1024 ] && [ $(($1 % 1024)) -eq 0 ]; then echo "$(($1 / 1024)) KiB"; else echo "$1 B"; fi; }
server_name() {
  case "$1" in
    pool) echo "qstate (pool)" ;;
    inline) echo "qstate (inline)" ;;
    redis) echo "redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')" ;;
  esac
}

echo
echo "Window $DURATION after $WARMUP warm-up, $KEYS keys, uniform; $(nproc) cores shared by harness and server."
echo
echo "| config | server | req/s | server CPU µs/req | p50 µs | p99 µs | errors | harness CPU µs/req |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for load in $LOADS; do
    for server in $SERVERS; do
      echo "| $(size_name "$size") $load | $(server_name "$server") ${rows["$size $load $server"]:-| missing | | | | | |}"
    done
  done
done
echo
echo "JSON reports and server logs: $OUT"
