#!/usr/bin/env bash
# Starts, shows or stops a local quorumkv cluster in the background.
#
#   scripts/cluster.sh start|stop|status|env
#
# Environment:
#   CLUSTER_DIR  data and logs (default .cluster)
#   PORT_BASE    ports: gRPC PORT_BASE+i, gossip PORT_BASE+100+i, RESP
#                (Redis protocol) PORT_BASE+200+i, peer gRPC PORT_BASE+300+i,
#                metrics PORT_BASE+2100+i for node ni (default 7000)
#   NODES        how many nodes (default 3): n1 creates the cluster, the
#                others join it through n1's gossip address
#   BIN          where kvnode and kvctl are (default bin)
#   KVNODE_ARGS  extra kvnode flags for every node
#   STOP_TIMEOUT seconds stop waits for the nodes before it kills them
#                (default 15)
#   CLUSTER_TLS  1 (default): mutual TLS with a development CA, node
#                certificates, an admin client certificate and a gossip key
#                made once under CLUSTER_DIR/certs; 0: plain gRPC
#
#   scripts/cluster.sh env prints the export lines that point kvctl at the
#   cluster (endpoints and, with TLS, its CA and admin certificate).
set -euo pipefail

CLUSTER_DIR=${CLUSTER_DIR:-.cluster}
PORT_BASE=${PORT_BASE:-7000}
NODES=${NODES:-3}
BIN=${BIN:-bin}
KVNODE_ARGS=${KVNODE_ARGS:-}
CLUSTER_TLS=${CLUSTER_TLS:-1}
CERTS="$CLUSTER_DIR/certs"

grpc_port()    { echo $((PORT_BASE + $1)); }
gossip_port()  { echo $((PORT_BASE + 100 + $1)); }
resp_port()    { echo $((PORT_BASE + 200 + $1)); }
peer_port()    { echo $((PORT_BASE + 300 + $1)); }
metrics_port() { echo $((PORT_BASE + 2100 + $1)); }

alive() { # pid file -> 0 if the process runs (a zombie does not)
  [ -f "$1" ] && pid_alive "$(cat "$1")"
}

pid_alive() { # pid -> 0 if the process runs and is not a zombie
  local state
  kill -0 "$1" 2>/dev/null || return 1
  # The third field of /proc/PID/stat, after "(comm)", is the state.
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null || true)
  [ "$state" != Z ] && [ "$state" != X ]
}

endpoints() {
  local eps=() i
  for i in $(seq 1 "$NODES"); do eps+=("127.0.0.1:$(grpc_port "$i")"); done
  (IFS=,; echo "${eps[*]}")
}

tls_on() { [ "$CLUSTER_TLS" = 1 ]; }

# certs makes, once, the development CA, the gossip key, a certificate for
# each node (hosts 127.0.0.1 and localhost) and an admin client certificate.
certs() {
  local i
  [ -f "$CERTS/ca.crt" ] || "$BIN/kvctl" certs create-ca --dir "$CERTS" >/dev/null
  [ -f "$CERTS/gossip.key" ] || "$BIN/kvctl" certs create-gossip-key --dir "$CERTS" >/dev/null
  for i in $(seq 1 "$NODES"); do
    [ -f "$CERTS/node-n$i.crt" ] ||
      "$BIN/kvctl" certs create-node "n$i" --host 127.0.0.1,localhost --dir "$CERTS" >/dev/null
  done
  [ -f "$CERTS/client-admin.crt" ] ||
    "$BIN/kvctl" certs create-client admin --role admin --dir "$CERTS" >/dev/null
}

tls_node_args() { # node number -> kvnode's TLS flags
  tls_on || return 0
  echo --tls-cert "$CERTS/node-n$1.crt" --tls-key "$CERTS/node-n$1.key" --tls-ca "$CERTS/ca.crt" \
    --gossip-key-file "$CERTS/gossip.key"
}

# ctl runs kvctl with the cluster's admin certificate when TLS is on.
ctl() {
  if tls_on; then
    "$BIN/kvctl" --cacert "$CERTS/ca.crt" --cert "$CERTS/client-admin.crt" --key "$CERTS/client-admin.key" "$@"
  else
    "$BIN/kvctl" "$@"
  fi
}

abspath() { # path -> absolute path (the directory exists)
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# env prints the export lines that point kvctl at the cluster.
env_lines() {
  echo "export KVCTL_ENDPOINTS=$(endpoints)"
  if tls_on; then
    local dir
    mkdir -p "$CERTS"
    dir=$(abspath "$CERTS")
    echo "export KVCTL_CACERT=$dir/ca.crt KVCTL_CERT=$dir/client-admin.crt KVCTL_KEY=$dir/client-admin.key"
  else
    echo "unset KVCTL_CACERT KVCTL_CERT KVCTL_KEY"
  fi
}

# redis_cli_line prints the redis-cli command that reaches n1's RESP
# listener (with the admin certificate when TLS is on).
redis_cli_line() {
  if tls_on; then
    local dir
    dir=$(abspath "$CERTS")
    echo "redis-cli -p $(resp_port 1) --tls --cacert $dir/ca.crt --cert $dir/client-admin.crt --key $dir/client-admin.key"
  else
    echo "redis-cli -p $(resp_port 1)"
  fi
}

start() {
  mkdir -p "$CLUSTER_DIR"
  tls_on && certs
  local i join=() how=()
  for i in $(seq 1 "$NODES"); do
    if alive "$CLUSTER_DIR/n$i.pid"; then how[i]="found running"; continue; fi
    how[i]=started
    [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$(gossip_port 1)")
    mkdir -p "$CLUSTER_DIR/n$i"
    # setsid: the node outlives this script and the make that ran it.
    # shellcheck disable=SC2086
    setsid "$BIN/kvnode" --node-id "n$i" --data-dir "$CLUSTER_DIR/n$i/data" --cluster-name dev \
      --grpc-addr "127.0.0.1:$(grpc_port "$i")" --gossip-addr "127.0.0.1:$(gossip_port "$i")" \
      --peer-addr "127.0.0.1:$(peer_port "$i")" --resp-addr "127.0.0.1:$(resp_port "$i")" \
      --metrics-addr "127.0.0.1:$(metrics_port "$i")" "${join[@]}" $(tls_node_args "$i") $KVNODE_ARGS \
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
      st=$(ctl --endpoints "127.0.0.1:$(grpc_port "$i")" --timeout 1s -o json members 2>/dev/null || true)
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
    echo "  n$i  pid $(cat "$CLUSTER_DIR/n$i.pid")  grpc 127.0.0.1:$(grpc_port "$i")  resp 127.0.0.1:$(resp_port "$i")  ${how[i]}  (metrics http://127.0.0.1:$(metrics_port "$i")/metrics, log $CLUSTER_DIR/n$i.log)"
  done
  cat <<TXT
Try (or: eval "\$(make -s cluster-env)"):
$(env_lines | sed 's/^/  /')
  $BIN/kvctl put greeting hello
  $BIN/kvctl get greeting
  $BIN/kvctl sadd colors red green && $BIN/kvctl smembers colors
  $BIN/kvctl members
  $(redis_cli_line)   (then: SET greeting hello, GET greeting, INFO cluster)
Status with: make cluster-status    Stop with: make cluster-stop
TXT
}

# status prints each node's pid and whether it runs, then the member table
# of the running nodes, as kvctl members prints it. Exits 0 when every
# node runs and one of them answers, 1 otherwise.
status() {
  local i pid eps=() rc=0
  for i in $(seq 1 "$NODES"); do
    if [ ! -f "$CLUSTER_DIR/n$i.pid" ]; then
      echo "n$i  pid -  grpc 127.0.0.1:$(grpc_port "$i")  not running (no pid file)"
      rc=1
      continue
    fi
    pid=$(cat "$CLUSTER_DIR/n$i.pid")
    if alive "$CLUSTER_DIR/n$i.pid"; then
      echo "n$i  pid $pid  grpc 127.0.0.1:$(grpc_port "$i")  alive"
      eps+=("127.0.0.1:$(grpc_port "$i")")
    else
      echo "n$i  pid $pid  grpc 127.0.0.1:$(grpc_port "$i")  dead (see $CLUSTER_DIR/n$i.log)"
      rc=1
    fi
  done
  if [ ${#eps[@]} -eq 0 ]; then
    echo "no node of $CLUSTER_DIR is running; start with: make cluster"
    return 1
  fi
  echo
  if ! ctl --endpoints "$(IFS=,; echo "${eps[*]}")" --timeout 2s members; then
    return 1
  fi
  return $rc
}

# stop sends SIGTERM to every node at once, then waits for each to exit
# (an idle node exits at once), and kills those still running after
# STOP_TIMEOUT seconds (default 15).
stop() {
  local f pid pids=() killed=0
  for f in "$CLUSTER_DIR"/n*.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then
      pid=$(cat "$f")
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$f"
  done
  local deadline=$((SECONDS + ${STOP_TIMEOUT:-15}))
  for pid in "${pids[@]}"; do
    while pid_alive "$pid" && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
    if pid_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      killed=$((killed + 1))
    fi
  done
  if [ $killed -gt 0 ]; then
    echo "stopped ${#pids[@]} node(s) in $CLUSTER_DIR ($killed killed after ${STOP_TIMEOUT:-15}s)"
  else
    echo "stopped ${#pids[@]} node(s) in $CLUSTER_DIR"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
