#!/usr/bin/env bash
# Local Apache Kafka for development and tests: one KRaft node (broker and
# controller) on 127.0.0.1, built from the server's Maven artifacts.
#
#   scripts/kafka.sh start    resolve jars (cached), format storage once, start, wait until ready
#   scripts/kafka.sh stop     stop the broker this script started
#   scripts/kafka.sh status   exit 0 when the local broker answers
#
# Safe to re-run. If KAFKA_BOOTSTRAP_SERVERS points at another broker, nothing
# is started: that broker is used as it is.
#
# Beside it, not instead of it, a three-node cluster for fault testing (replication 3,
# min ISR 2; scripts/cluster_check.py). Each node is broker and controller, the three
# form the controller quorum. Ports from LOCAL_KAFKA_CLUSTER_PORT (default 19192): node
# N's broker on base + 2*(N-1), its controller one above. State in .local/kafka-cluster/.
# These ignore KAFKA_BOOTSTRAP_SERVERS: they always mean this cluster.
#
#   scripts/kafka.sh cluster-start    format once, start all three, wait until each answers;
#                                     the last line of stdout is the bootstrap string
#   scripts/kafka.sh cluster-stop     stop the three nodes
#   scripts/kafka.sh cluster-status   one line per node; exit 0 when all three answer
#   scripts/kafka.sh node-kill N      SIGKILL node N (a crash, for fault campaigns)
#   scripts/kafka.sh node-start N     start node N again, wait until it answers
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=/dev/null
source "$ROOT/.env"
: "${KAFKA_VERSION:?KAFKA_VERSION missing from .env}"

KAFKA_PORT=${LOCAL_KAFKA_PORT:-19092}
CONTROLLER_PORT=${LOCAL_KAFKA_CONTROLLER_PORT:-19093}
LOCAL_BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
CACHE_DIR=${INVENTORY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/inventory-stream}
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
STATE="$ROOT/.local/kafka"
PIDFILE="$STATE/kafka.pid"

log() { echo "[kafka] $*" >&2; }

external() {
  [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ] && [ "$KAFKA_BOOTSTRAP_SERVERS" != "$LOCAL_BOOTSTRAP" ]
}

apt_install() {
  log "installing $* with apt-get"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

ensure_tools() {
  if ! command -v java >/dev/null || ! java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
    apt_install openjdk-17-jre-headless
  fi
  command -v mvn >/dev/null || apt_install maven
}

resolve_jars() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  ensure_tools
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven into $LIBS"
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

write_config() {
  mkdir -p "$STATE/data" "$STATE/logs"
  cat >"$STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Every topic is created on purpose (inventory stream create-topics).
auto.create.topics.enable=false
log.retention.hours=168
PROPS
}

# JVM_OPTS for one node: heap options ($1), log folder ($2).
jvm_options() {
  read -r -a JVM_OPTS <<<"$1"
  JVM_OPTS+=(-XX:+UseG1GC
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties"
    -Dkafka.logs.dir="$2"
    -cp "$LIBS/*")
}

start() {
  if external; then
    log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS: using that broker, not starting one"
    return
  fi
  if running && python3 "$ROOT/scripts/kafka_ready.py" "$LOCAL_BOOTSTRAP" 5 2>/dev/null; then
    log "already running on $LOCAL_BOOTSTRAP (pid $(cat "$PIDFILE"))"
    return
  fi
  resolve_jars
  ensure_tools
  write_config
  jvm_options "${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}" "$STATE/logs"
  if [ ! -f "$STATE/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java "${JVM_OPTS[@]}" kafka.tools.StorageTool random-uuid | tail -n 1)
    log "formatting KRaft storage (cluster $cluster_id)"
    java "${JVM_OPTS[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE/server.properties" >&2
  fi
  log "starting Kafka $KAFKA_VERSION on $LOCAL_BOOTSTRAP (log: $STATE/logs/server.log)"
  # exec in the subshell so that $! is the JVM itself, which stop() signals.
  (exec java "${JVM_OPTS[@]}" kafka.Kafka "$STATE/server.properties") \
    </dev/null >"$STATE/logs/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  if ! python3 "$ROOT/scripts/kafka_ready.py" "$LOCAL_BOOTSTRAP" 90; then
    log "broker did not become ready; last lines of its log:"
    tail -n 30 "$STATE/logs/server.log" "$STATE/logs/stdout.log" >&2 || true
    exit 1
  fi
  log "ready on $LOCAL_BOOTSTRAP (pid $(cat "$PIDFILE"))"
}

stop() {
  if ! running; then
    rm -f "$PIDFILE"
    return
  fi
  local pid
  pid=$(cat "$PIDFILE")
  log "stopping pid $pid"
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return; }
    sleep 0.5
  done
  log "still alive after 30s, killing"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

# --- the three-node cluster (fault testing) -------------------------------------------

CLUSTER_BASE=${LOCAL_KAFKA_CLUSTER_PORT:-19192}
CLUSTER_STATE="$ROOT/.local/kafka-cluster"
CLUSTER_NODES=(1 2 3)

broker_port() { echo $((CLUSTER_BASE + 2 * ($1 - 1))); }
controller_port() { echo $(($(broker_port "$1") + 1)); }
node_dir() { echo "$CLUSTER_STATE/node-$1"; }
node_pidfile() { echo "$(node_dir "$1")/kafka.pid"; }
node_bootstrap() { echo "127.0.0.1:$(broker_port "$1")"; }

cluster_bootstrap() {
  local n servers=()
  for n in "${CLUSTER_NODES[@]}"; do servers+=("$(node_bootstrap "$n")"); done
  (IFS=,; echo "${servers[*]}")
}

cluster_voters() {
  local n voters=()
  for n in "${CLUSTER_NODES[@]}"; do voters+=("$n@127.0.0.1:$(controller_port "$n")"); done
  (IFS=,; echo "${voters[*]}")
}

node_arg() {
  case "${1:-}" in
    1 | 2 | 3) ;;
    *) echo "node must be 1, 2 or 3, not '${1:-}'" >&2; exit 2 ;;
  esac
}

node_running() {
  local pidfile
  pidfile=$(node_pidfile "$1")
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

write_node_config() {
  local n=$1 dir
  dir=$(node_dir "$n")
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(cluster_voters)
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
# Every record on all three brokers; acks=all is acknowledged once two have it, so one
# broker may die without losing an acknowledged write or refusing a new one.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# Every topic is created on purpose (inventory stream create-topics).
auto.create.topics.enable=false
log.retention.hours=168
PROPS
}

# Format every node's storage with one cluster id, once (a node formatted alone would
# carry an id of its own and never join the others).
format_cluster() {
  local n cluster_id
  if [ -f "$CLUSTER_STATE/cluster.id" ]; then
    cluster_id=$(cat "$CLUSTER_STATE/cluster.id")
  else
    cluster_id=$(java "${JVM_OPTS[@]}" kafka.tools.StorageTool random-uuid | tail -n 1)
    echo "$cluster_id" >"$CLUSTER_STATE/cluster.id"
  fi
  for n in "${CLUSTER_NODES[@]}"; do
    if [ ! -f "$(node_dir "$n")/data/meta.properties" ]; then
      log "formatting node $n (cluster $cluster_id)"
      java "${JVM_OPTS[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$(node_dir "$n")/server.properties" >&2
    fi
  done
}

# Start node $1's JVM in the background; the caller waits for it.
launch_node() {
  local n=$1 dir
  dir=$(node_dir "$n")
  jvm_options "${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx512m}" "$dir/logs"
  log "starting node $n on $(node_bootstrap "$n") (log: $dir/logs/server.log)"
  # exec in the subshell so that $! is the JVM itself, which stop and kill signal.
  (exec java "${JVM_OPTS[@]}" kafka.Kafka "$dir/server.properties") \
    </dev/null >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$(node_pidfile "$n")"
}

wait_node() {
  local n=$1 timeout=${2:-120} dir
  dir=$(node_dir "$n")
  if ! python3 "$ROOT/scripts/kafka_ready.py" "$(node_bootstrap "$n")" "$timeout"; then
    log "node $n did not become ready; last lines of its log:"
    tail -n 30 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2 || true
    return 1
  fi
  log "node $n ready on $(node_bootstrap "$n") (pid $(cat "$(node_pidfile "$n")"))"
}

prepare_cluster() {
  resolve_jars
  ensure_tools
  mkdir -p "$CLUSTER_STATE"
  local n
  for n in "${CLUSTER_NODES[@]}"; do write_node_config "$n"; done
  jvm_options "${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx512m}" "$CLUSTER_STATE"
  format_cluster
}

cluster_start() {
  prepare_cluster
  local n failed=0
  # All at once: a node answers only once the controller quorum (two of three) has a
  # leader, so waiting for the first before starting the second would never end.
  for n in "${CLUSTER_NODES[@]}"; do
    if node_running "$n"; then
      log "node $n already running (pid $(cat "$(node_pidfile "$n")"))"
    else
      launch_node "$n"
    fi
  done
  for n in "${CLUSTER_NODES[@]}"; do wait_node "$n" || failed=1; done
  [ "$failed" = 0 ] || exit 1
  cluster_bootstrap
}

node_start() {
  node_arg "$1"
  if node_running "$1"; then
    log "node $1 already running (pid $(cat "$(node_pidfile "$1")"))"
  else
    [ -f "$(node_dir "$1")/data/meta.properties" ] || {
      log "node $1 was never formatted: run cluster-start first"
      exit 1
    }
    resolve_jars
    write_node_config "$1"
    launch_node "$1"
  fi
  wait_node "$1"
}

node_kill() {
  node_arg "$1"
  local pidfile
  pidfile=$(node_pidfile "$1")
  if node_running "$1"; then
    log "SIGKILL node $1 (pid $(cat "$pidfile"))"
    kill -9 "$(cat "$pidfile")"
    # Gone before we return, so a node-start right after finds its ports free.
    for _ in $(seq 1 100); do
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
  else
    log "node $1 is not running"
  fi
  rm -f "$pidfile"
}

cluster_stop() {
  local n pid pids=() alone=0
  # SIGTERM to all three at once: each broker's controlled shutdown needs the controller
  # quorum (two of three), which goes once two nodes have exited.
  for n in "${CLUSTER_NODES[@]}"; do
    if node_running "$n"; then
      pid=$(cat "$(node_pidfile "$n")")
      log "stopping node $n (pid $pid)"
      kill "$pid"
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 60); do
    local alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    pids=("${alive[@]}")
    [ "${#pids[@]}" = 0 ] && break
    # A node left alone waits for a quorum that is not coming back (Kafka gives its
    # controlled shutdown minutes); its next start recovers its logs instead.
    if [ "${#pids[@]}" = 1 ]; then
      alone=$((alone + 1))
      [ "$alone" -ge 20 ] && break
    fi
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if [ "$alone" -ge 20 ]; then
      log "pid $pid still alive 10s after the others, without a quorum to stop with: killing"
    else
      log "pid $pid still alive after 30s, killing"
    fi
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in "${CLUSTER_NODES[@]}"; do rm -f "$(node_pidfile "$n")"; done
}

cluster_status() {
  local n rc=0
  for n in "${CLUSTER_NODES[@]}"; do
    if node_running "$n" && python3 "$ROOT/scripts/kafka_ready.py" "$(node_bootstrap "$n")" 2 \
      2>/dev/null; then
      echo "node $n: up on $(node_bootstrap "$n") (pid $(cat "$(node_pidfile "$n")"))"
    elif node_running "$n"; then
      echo "node $n: running but not answering on $(node_bootstrap "$n")"
      rc=1
    else
      echo "node $n: down"
      rc=1
    fi
  done
  echo "bootstrap: $(cluster_bootstrap)"
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running && python3 "$ROOT/scripts/kafka_ready.py" "$LOCAL_BOOTSTRAP" 2 ;;
  cluster-start) cluster_start ;;
  cluster-stop) cluster_stop ;;
  cluster-status) cluster_status ;;
  node-kill) node_kill "${2:-}" ;;
  node-start) node_start "${2:-}" ;;
  *)
    echo "usage: $0 start|stop|status|cluster-start|cluster-stop|cluster-status|node-kill N|node-start N" >&2
    exit 2
    ;;
esac
