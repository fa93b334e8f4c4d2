#!/usr/bin/env bash
# compare.sh: one benchmark matrix, side by side, in one go:
#   qstate with each dispatch (auto, the default; pool; inline), the reference server of the same shape
#   (internal/kvref: gnet + one ants task per wake-up answering from a Go map, "ref"; and
#   its flat-array lower bound, "flat") and redis-server,
#   values of 8 B and 1 KiB, loads (connections x pipeline) 50x16, 4x128, 50x1 and 1x1.
# Each server runs on 127.0.0.1 on a free port; the harness (`qstate bench`) measures
# req/s, the server's CPU µs per request (utime+stime from /proc/PID/stat), p50 and p99,
# and its own CPU µs per request. The matrix runs ROUNDS times, the servers interleaved
# within each round, and the tables give the median of the rounds (a shared machine is
# noisy: compare rows measured together, and prefer CPU per request to req/s). Every
# server started is stopped by its PID (also on exit or interrupt).
#
# Usage: scripts/compare.sh [--quick]
#   --quick          short runs (1 round, 2 s window, 0.5 s warm-up, 10,000 keys)
# Environment (defaults in brackets; --quick changes the first four):
#   ROUNDS [3]       rounds of the whole matrix      DURATION [5s]  measured window per run
#   WARMUP [1s]      warm-up per run                  KEYS [100000]  keys in the dataset
#   SIZES ["8 1024"]  value sizes (bytes)             LOADS ["50x16 4x128 50x1 1x1"]
#   SERVERS ["auto pool inline ref flat redis"]  which servers   VERIFY [1]  check every value
#   QSTATE_ARGS [""]  extra `qstate serve` flags (e.g. "--event-loops 2")
#   QSTATE_B [""]    a second qstate binary (e.g. built from another commit), served as
#                    "auto-b", "pool-b" and "inline-b" (add them to SERVERS): A/B in one run
#   QSTATE_BIN [""]  use this qstate binary instead of building one
#   PLOT ["8 50x16"]  size and load whose latency plots are drawn (last round), "" for none
#   PIN [0]          1: pin every server to CPU 0 and the harness to CPU 1 (taskset): a core
#                    each, less noise; 0: let them share both cores (the default measurement)
#   OUT [a new temp dir]  where the binary, logs, JSON reports and plots go
#
# Needs Go; installs redis-server (and jq) with apt-get when missing.
# Both cores are shared by the harness and the server: compare rows, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2s}; WARMUP=${WARMUP:-500ms}; KEYS=${KEYS:-10000}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
KEYS=${KEYS:-100000}
SIZES=${SIZES:-"8 1024"}
LOADS=${LOADS:-"50x16 4x128 50x1 1x1"}
SERVERS=${SERVERS:-"auto pool inline ref flat redis"}
VERIFY=${VERIFY:-1}
QSTATE_ARGS=${QSTATE_ARGS:-}
PLOT=${PLOT-"8 50x16"}
PIN=${PIN:-0}
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
srv_pin=(); cli_pin=()
if [ "$PIN" = 1 ]; then
  need_apt taskset util-linux
  srv_pin=(taskset -c 0); cli_pin=(taskset -c 1)
fi

QSTATE_B=${QSTATE_B:-}
if [ -n "${QSTATE_BIN:-}" ]; then
  QSTATE=$QSTATE_BIN
else
  log "building qstate into $OUT"
  go build -o "$OUT/qstate" ./cmd/qstate
  QSTATE="$OUT/qstate"
fi
case " $SERVERS " in *" auto-b "*|*" pool-b "*|*" inline-b "*)
  [ -x "$QSTATE_B" ] || { log "SERVERS names auto-b/pool-b/inline-b: set QSTATE_B to a qstate binary"; exit 2; } ;;
esac
case " $SERVERS " in *" ref "*|*" flat "*)
  log "building kvref into $OUT"
  go build -o "$OUT/kvref" ./internal/kvref/cmd/kvref ;;
esac

# Servers we started (named by their PID), stopped by PID on exit.
. scripts/procs.sh
trap stop_all EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port nothing on 127.0.0.1 answers on, nor on the next
# port, below Linux's ephemeral range (32768 up), where the harness's own
# connections would otherwise collide with it.
free_port() {
  local port _i
  for _i in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null; then
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

# start_server KIND SIZE ROUND: sets PID and PORT.
start_server() {
  local kind=$1 size=$2 logf="$OUT/server-$1-$2-r$3.log"
  PID=
  PORT=$(free_port)
  case "$kind" in
    pool|inline|auto|pool-b|inline-b|auto-b)
      bin=$QSTATE
      case "$kind" in *-b) bin=$QSTATE_B ;; esac
      # shellcheck disable=SC2086 # QSTATE_ARGS is a list of flags
      "${srv_pin[@]}" "$bin" serve --dataset synthetic --keys "$KEYS" --value-size "$size" \
        --proxy-addr "127.0.0.1:$PORT" --server-addr "127.0.0.1:$((PORT + 1))" --dispatch "${kind%-b}" \
        --admin "" $QSTATE_ARGS >"$logf" 2>&1 &
      ;;
    ref|flat)
      flat=()
      [ "$kind" = flat ] && flat=(-flat)
      "${srv_pin[@]}" "$OUT/kvref" -addr "127.0.0.1:$PORT" -keys "$KEYS" -value-size "$size" "${flat[@]}" >"$logf" 2>&1 &
      ;;
    redis)
      "${srv_pin[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --protected-mode no >"$logf" 2>&1 &
      ;;
    *) log "unknown server $kind"; return 1 ;;
  esac
  PID=$!
  track "$PID" "$PID"
  wait_port "$PORT" "$PID"
}

stop_server() { stop_proc "$1"; }

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  for size in $SIZES; do
    for server in $SERVERS; do
      if ! start_server "$server" "$size" "$round"; then
        log "$server did not start; its log: $OUT/server-$server-$size-r$round.log"
        [ -n "${PID:-}" ] && stop_server "$PID"
        continue
      fi
      log "round $round/$ROUNDS: $server, $size B values: pid $PID, port $PORT"
      preload=()
      protocol=flink
      if [ "$server" = redis ]; then protocol=resp; preload=(--preload); fi
      verify=()
      [ "$VERIFY" = 1 ] && verify=(--verify)
      for load in $LOADS; do
        conns=${load%x*}; pipeline=${load#*x}
        json="$OUT/bench-$server-$size-$load-r$round.json"
        plot=()
        if [ "$round" = "$ROUNDS" ] && [ "$PLOT" = "$size $load" ]; then
          plot=(--plot "$OUT/latency-$server-$size-$load.png")
        fi
        log "  $load: $DURATION after $WARMUP warm-up"
        if ! "${cli_pin[@]}" "$QSTATE" bench --addr "127.0.0.1:$PORT" --protocol "$protocol" "${preload[@]}" "${verify[@]}" \
            --keys "$KEYS" --value-size "$size" --conns "$conns" --pipeline "$pipeline" \
            --warmup "$WARMUP" --duration "$DURATION" --server-pid "$PID" --json "${plot[@]}" >"$json.tmp"; then
          log "  bench failed; see $json.failed"
          mv "$json.tmp" "$json.failed"
        else
          mv "$json.tmp" "$json"
        fi
        preload=()
      done
      stop_server "$PID"
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# cell SERVER SIZE LOAD: the medians of the rounds as a JSON object (null when no round ran).
cell() {
  local files=("$OUT"/bench-"$1"-"$2"-"$3"-r*.json)
  [ -e "${files[0]}" ] || { echo null; return; }
  jq -s '
    def median: sort | if length == 0 then null
      elif length % 2 == 1 then .[length / 2 | floor]
      else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def col(f): [.[] | f | select(. != null)];
    {rounds: length,
     rps: (col(.requests_per_second) | median),
     cpu: (col(.server_cpu_us_per_request) | median),
     cpu_min: (col(.server_cpu_us_per_request) | min),
     cpu_max: (col(.server_cpu_us_per_request) | max),
     p50: (col(.latency_us.p50) | median),
     p99: (col(.latency_us.p99) | median),
     errors: (col(.error_total) | add),
     client: (col(.client_cpu_us_per_request) | median)}' "${files[@]}"
}

size_name() { if [ "$1" -ge 1024 ] && [ $(($1 % 1024)) -eq 0 ]; then echo "$(($1 / 1024)) KiB"; else echo "$1 B"; fi; }
server_name() {
  case "$1" in
    pool) echo "qstate (pool)" ;;
    inline) echo "qstate (inline)" ;;
    auto) echo "qstate (auto)" ;;
    auto-b) echo "qstate B (auto)" ;;
    pool-b) echo "qstate B (pool)" ;;
    inline-b) echo "qstate B (inline)" ;;
    ref) echo "kvref (Go map)" ;;
    flat) echo "kvref (flat array)" ;;
    redis) echo "redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')" ;;
  esac
}
fmt_row() { # fmt_row JSON: the table cells of one median row
  jq -r 'def r(n): if n == null then "n/a" else (n * 10 | round) / 10 end;
    def r2(n): if n == null then "n/a" else (n * 100 | round) / 100 end;
    if . == null then "| missing | | | | | | |" else
    "| \(.rps | round) | \(r2(.cpu)) | \(r2(.cpu_min))–\(r2(.cpu_max)) | \(r(.p50)) | \(r(.p99)) | \(.errors) | \(r2(.client)) |" end'
}

echo
echo "Started $started; $ROUNDS round(s), medians shown. Window $DURATION after $WARMUP warm-up, $KEYS keys, uniform."
cores="$(nproc) cores shared by harness and server"
[ "$PIN" = 1 ] && cores="server pinned to CPU 0, harness to CPU 1"
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores; kernel $(uname -r); $(go version | cut -d' ' -f3)."
echo "Load average (1/5/15 min) before: $load_before, after: $load_after."
echo
echo "| config | server | req/s | server CPU µs/req | (min–max) | p50 µs | p99 µs | errors | harness CPU µs/req |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
declare -A med=()
for size in $SIZES; do
  for load in $LOADS; do
    for server in $SERVERS; do
      med["$server $size $load"]=$(cell "$server" "$size" "$load")
      echo "| $(size_name "$size") $load | $(server_name "$server") $(fmt_row <<<"${med["$server $size $load"]}")"
    done
  done
done

# Ratios of the medians: each server against redis-server, qstate (inline) and
# the Go-map reference (a column is n/a when its server did not run).
ratio() { # ratio A B FIELD: A's median FIELD over B's, two decimals
  jq -rn --argjson a "$1" --argjson b "$2" --arg f "$3" \
    'if $a == null or $b == null or $a[$f] == null or $b[$f] == null or $b[$f] == 0 then "n/a"
     else ($a[$f] / $b[$f] * 100 | round) / 100 end'
}
echo
echo "| config | server | req/s ÷ redis | CPU µs/req ÷ redis | req/s ÷ inline | CPU µs/req ÷ inline | req/s ÷ ref | CPU µs/req ÷ ref |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
  for load in $LOADS; do
    for server in $SERVERS; do
      [ "$server" = redis ] && continue
      a=${med["$server $size $load"]}; r=${med["redis $size $load"]:-null}
      i=${med["inline $size $load"]:-null}; m=${med["ref $size $load"]:-null}
      echo "| $(size_name "$size") $load | $(server_name "$server") | $(ratio "$a" "$r" rps) | $(ratio "$a" "$r" cpu) | $(ratio "$a" "$i" rps) | $(ratio "$a" "$i" cpu) | $(ratio "$a" "$m" rps) | $(ratio "$a" "$m" cpu) |"
    done
  done
done
echo
echo "JSON reports, server logs and plots: $OUT"
