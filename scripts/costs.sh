#!/usr/bin/env bash
# Measures what one request costs the servers: runs `kvctl bench` against a
# fresh 3-node cluster of its own (no TLS unless COSTS_TLS=1) and reads each
# kvnode's /proc counters around the run phase: disk bytes written
# (/proc/PID/io write_bytes) and CPU (utime+stime from /proc/PID/stat),
# summed over the three nodes and divided by the operations done.
#
#   scripts/costs.sh                       # QUORUM puts, 64 clients, 100,000 keys of 100 bytes
#   COSTS_ARGS="--workload c" scripts/costs.sh
#
# Environment:
#   BIN          where kvnode and kvctl are (default bin)
#   COSTS_ARGS   extra kvctl bench flags (they override the defaults)
#   COSTS_TLS    1: run the cluster with TLS (default 0)
#   KVNODE_ARGS  extra kvnode flags
set -euo pipefail

BIN=${BIN:-bin}
COSTS_ARGS=${COSTS_ARGS:-}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=28000
while listening $((base + 1)) || listening $((base + 101)) || listening $((base + 301)) || listening $((base + 2101)); do
  base=$((base + 10))
done

export CLUSTER_DIR PORT_BASE=$base NODES=3 BIN CLUSTER_TLS=${COSTS_TLS:-0}
CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/quorumkv-costs-XXXXXX")
stop() {
  scripts/cluster.sh stop >/dev/null || true
  rm -rf "$CLUSTER_DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

scripts/cluster.sh start >/dev/null
eval "$(scripts/cluster.sh env)"
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
pids=$(cat "$CLUSTER_DIR"/n[123].pid)
tick=$(getconf CLK_TCK)

sample() { # -> "write_bytes cpu_ticks" summed over the nodes
  local p wb=0 cpu=0 f
  for p in $pids; do
    wb=$((wb + $(awk '/^write_bytes/ {print $2}' "/proc/$p/io")))
    read -ra f <"/proc/$p/stat"
    cpu=$((cpu + f[13] + f[14]))
  done
  echo "$wb $cpu"
}

# Load the keys first, outside the measured phase.
"$BIN/kvctl" --endpoints "$endpoints" bench --load --keys 100000 --value-size 100 \
  --workload write --consistency quorum --clients 64 --duration 1s >/dev/null 2>&1
read -r wb0 cpu0 < <(sample)
# shellcheck disable=SC2086
out=$("$BIN/kvctl" --endpoints "$endpoints" -o json bench --keys 100000 --value-size 100 \
  --workload write --consistency quorum --clients 64 --duration 20s $COSTS_ARGS 2>/dev/null)
read -r wb1 cpu1 < <(sample)
ops=$(echo "$out" | python3 -c 'import json,sys; print(sum(r["ops"] for r in json.load(sys.stdin)["results"]))')
echo "$out" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    l = r["latency_us"]
    print("%s %s: %.0f ops/s, errors %d, p50 %.2f ms, p99 %.2f ms" % (r["workload"], r["consistency"], r["ops_per_sec"], r["errors"], l["p50"]/1000, l["p99"]/1000))'
python3 - "$ops" "$wb0" "$wb1" "$cpu0" "$cpu1" "$tick" <<'PY'
import sys
ops, wb0, wb1, c0, c1, tick = map(int, sys.argv[1:])
print(f"per operation, summed over 3 nodes: {(wb1 - wb0) / ops:.0f} bytes written to disk, {(c1 - c0) / tick / ops * 1e6:.0f} us of kvnode CPU ({ops} operations)")
PY
