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

jvm_options() {
  read -r -a JVM_OPTS <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
  JVM_OPTS+=(-XX:+UseG1GC
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties"
    -Dkafka.logs.dir="$STATE/logs"
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
  jvm_options
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

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running && python3 "$ROOT/scripts/kafka_ready.py" "$LOCAL_BOOTSTRAP" 2 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
