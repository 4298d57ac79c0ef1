#!/usr/bin/env bash
# Measures a ring change under no other load: a fresh 3-node cluster (no
# TLS) is loaded with KEYS keys of 100 bytes, written at ALL; then
#   join:  n4 starts and joins; the time until it is normal (filled), and
#          until the three others dropped what it took (the sum of keys
#          over the four nodes is 3 x KEYS);
#   leave: kvctl leave --wait on n4; the time until it has left, and until
#          the three others hold every key again (3 x KEYS over three).
# It prints one line per step, with n4's bytes written to disk.
#
#   scripts/ring-move.sh                   # 100,000 keys
#   KEYS=20000 scripts/ring-move.sh
#
# Environment: BIN (default bin), KEYS (default 100000).
set -euo pipefail

BIN=${BIN:-bin}
KEYS=${KEYS:-100000}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=28500
while listening $((base + 1)) || listening $((base + 4)) || listening $((base + 104)) || listening $((base + 304)); do
  base=$((base + 10))
done
export CLUSTER_DIR PORT_BASE=$base NODES=3 BIN CLUSTER_TLS=0
CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/quorumkv-ringmove-XXXXXX")
n4pid=
stop() {
  [ -n "$n4pid" ] && kill "$n4pid" 2>/dev/null && wait "$n4pid" 2>/dev/null
  scripts/cluster.sh stop >/dev/null || true
  rm -rf "$CLUSTER_DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

scripts/cluster.sh start >/dev/null
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
"$BIN/kvctl" --endpoints "$endpoints" bench --load --keys "$KEYS" --value-size 100 --workload c \
  --consistency all --clients 32 --duration 1s >/dev/null 2>&1

keys_on() { # sum of status keys over the given node numbers
  local sum=0 k i
  for i in "$@"; do
    k=$("$BIN/kvctl" --endpoints "127.0.0.1:$((base + i))" -o json status 2>/dev/null | sed -n 's/.*"keys": \([0-9]*\).*/\1/p')
    sum=$((sum + ${k:-0}))
  done
  echo "$sum"
}
ms() { date +%s%3N; }
await() { # await WHAT CMD...: until CMD succeeds (10 minutes at most)
  local what=$1 deadline=$((SECONDS + 600))
  shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && { echo "error: $what not within 10 minutes" >&2; exit 1; }
    sleep 0.1
  done
}
normal4() { "$BIN/kvctl" --endpoints "127.0.0.1:$((base + 4))" -o json members 2>/dev/null | grep -A6 '"id": "n4"' | grep -q '"ring_state": "normal"'; }
copies() { local want=$1; shift; [ "$(keys_on "$@")" = "$want" ]; }

echo "$(keys_on 1 2 3) copies of $KEYS keys on n1..n3"
t0=$(ms)
mkdir -p "$CLUSTER_DIR/n4"
setsid "$BIN/kvnode" --node-id n4 --data-dir "$CLUSTER_DIR/n4/data" --cluster-name dev \
  --grpc-addr "127.0.0.1:$((base + 4))" --gossip-addr "127.0.0.1:$((base + 104))" \
  --peer-addr "127.0.0.1:$((base + 304))" --metrics-addr "127.0.0.1:$((base + 204))" \
  --join "127.0.0.1:$((base + 101))" >>"$CLUSTER_DIR/n4.log" 2>&1 </dev/null &
n4pid=$!
await "n4 normal" normal4
t1=$(ms)
await "three copies over four nodes" copies $((3 * KEYS)) 1 2 3 4
t2=$(ms)
written=$(sed -n 's/^write_bytes: //p' "/proc/$n4pid/io")
echo "join:  n4 normal after $((t1 - t0)) ms holding $(keys_on 4) keys ($((written / 1048576)) MiB written by n4); the others dropped what it took $((t2 - t1)) ms later"
t3=$(ms)
"$BIN/kvctl" --endpoints "127.0.0.1:$((base + 4))" --timeout 10m leave --wait 2>/dev/null
t4=$(ms)
await "three copies over three nodes" copies $((3 * KEYS)) 1 2 3
t5=$(ms)
echo "leave: n4 left after $((t4 - t3)) ms; three copies of every key on n1..n3 $((t5 - t4)) ms later"
