#!/usr/bin/env bash
# Starts or stops a local quorumkv cluster in the background.
#
#   scripts/cluster.sh start|stop|status
#
# Environment:
#   CLUSTER_DIR  data and logs (default .cluster)
#   PORT_BASE    ports: gRPC PORT_BASE+i, gossip PORT_BASE+100+i,
#                metrics PORT_BASE+2100+i for node ni (default 7000)
#   NODES        how many nodes (default 3): n1 creates the cluster, the
#                others join it through n1's gossip address
#   BIN          where kvnode and kvctl are (default bin)
#   KVNODE_ARGS  extra kvnode flags for every node
set -euo pipefail

CLUSTER_DIR=${CLUSTER_DIR:-.cluster}
PORT_BASE=${PORT_BASE:-7000}
NODES=${NODES:-3}
BIN=${BIN:-bin}
KVNODE_ARGS=${KVNODE_ARGS:-}

grpc_port()    { echo $((PORT_BASE + $1)); }
gossip_port()  { echo $((PORT_BASE + 100 + $1)); }
metrics_port() { echo $((PORT_BASE + 2100 + $1)); }

alive() { # pid file -> 0 if the process runs
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

endpoints() {
  local eps=() i
  for i in $(seq 1 "$NODES"); do eps+=("127.0.0.1:$(grpc_port "$i")"); done
  (IFS=,; echo "${eps[*]}")
}

running() {
  local i
  for i in $(seq 1 "$NODES"); do
    alive "$CLUSTER_DIR/n$i.pid" || return 1
  done
}

start() {
  mkdir -p "$CLUSTER_DIR"
  if running; then
    echo "cluster already running in $CLUSTER_DIR: endpoints $(endpoints)"
    return 0
  fi
  local i join=()
  for i in $(seq 1 "$NODES"); do
    if alive "$CLUSTER_DIR/n$i.pid"; then continue; fi
    [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$(gossip_port 1)")
    mkdir -p "$CLUSTER_DIR/n$i"
    # setsid: the node outlives this script and the make that ran it.
    # shellcheck disable=SC2086
    setsid "$BIN/kvnode" --node-id "n$i" --data-dir "$CLUSTER_DIR/n$i/data" --cluster-name dev \
      --grpc-addr "127.0.0.1:$(grpc_port "$i")" --gossip-addr "127.0.0.1:$(gossip_port "$i")" \
      --metrics-addr "127.0.0.1:$(metrics_port "$i")" "${join[@]}" $KVNODE_ARGS \
      >>"$CLUSTER_DIR/n$i.log" 2>&1 </dev/null &
    echo $! >"$CLUSTER_DIR/n$i.pid"
  done
  # Wait until every node sees every node alive and normal (joined and
  # filled with the partitions it replicates) and is ready.
  local deadline=$((SECONDS + 30)) ok st
  while :; do
    ok=1
    for i in $(seq 1 "$NODES"); do
      if ! alive "$CLUSTER_DIR/n$i.pid"; then
        echo "error: n$i exited; last lines of $CLUSTER_DIR/n$i.log:" >&2
        tail -n 5 "$CLUSTER_DIR/n$i.log" >&2
        return 1
      fi
      st=$("$BIN/kvctl" --endpoints "127.0.0.1:$(grpc_port "$i")" --timeout 1s -o json members 2>/dev/null || true)
      if [ "$(grep -c '"state": "alive"' <<<"$st")" != "$NODES" ] ||
         [ "$(grep -c '"ring_state": "normal"' <<<"$st")" != "$NODES" ]; then
        ok=0
      fi
      # Ready: it takes requests (a node starts with its clock fenced
      # until it has measured its peers' clocks).
      if command -v curl >/dev/null; then
        curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$(metrics_port "$i")/readyz" || ok=0
      fi
    done
    [ $ok = 1 ] && break
    if [ $SECONDS -ge $deadline ]; then
      echo "error: the cluster did not come up within 30s; see $CLUSTER_DIR/n*.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "quorumkv: $NODES node(s) running in $CLUSTER_DIR"
  for i in $(seq 1 "$NODES"); do
    echo "  n$i  grpc 127.0.0.1:$(grpc_port "$i")  metrics http://127.0.0.1:$(metrics_port "$i")/metrics  log $CLUSTER_DIR/n$i.log"
  done
  cat <<TXT
Try:
  export KVCTL_ENDPOINTS=$(endpoints)
  $BIN/kvctl put greeting hello
  $BIN/kvctl get greeting
  $BIN/kvctl sadd colors red green && $BIN/kvctl smembers colors
  $BIN/kvctl -o json status
Stop with: make cluster-stop
TXT
}

stop() {
  local i pid stopped=0
  for f in "$CLUSTER_DIR"/n*.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then
      pid=$(cat "$f")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
    rm -f "$f"
  done
  echo "stopped $stopped node(s) in $CLUSTER_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running: $(endpoints)"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
