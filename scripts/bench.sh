#!/usr/bin/env bash
# Runs `kvctl bench` against a fresh 3-node cluster of its own: its own data
# directory and ports (never a running `make cluster`), stopped at the end,
# also on failure or Ctrl-C.
#
#   scripts/bench.sh
#
# Environment:
#   BIN               where kvnode and kvctl are (default bin)
#   BENCH_RESULTS     where the JSON report and the SVG go (default bench/results)
#   BENCH_PORT_BASE   the cluster's PORT_BASE (default: the first free one from 27000)
#   BENCH_ARGS        extra kvctl bench flags, after the defaults (so they override them)
set -euo pipefail

BIN=${BIN:-bin}
BENCH_RESULTS=${BENCH_RESULTS:-bench/results}
BENCH_ARGS=${BENCH_ARGS:-}

listening() { # port -> 0 if something listens on it
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ports_free() { # base -> 0 if every port cluster.sh would use is free
  local i p
  for i in 1 2 3; do
    for p in $(($1 + i)) $(($1 + 100 + i)) $(($1 + 200 + i)) $(($1 + 300 + i)) $(($1 + 2100 + i)); do
      if listening "$p"; then return 1; fi
    done
  done
}

base=${BENCH_PORT_BASE:-}
if [ -z "$base" ]; then
  base=27000
  until ports_free "$base"; do
    base=$((base + 10))
    if [ "$base" -ge 30000 ]; then echo "error: no free ports for the bench cluster" >&2; exit 1; fi
  done
fi

export CLUSTER_DIR PORT_BASE=$base NODES=3 BIN
CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/quorumkv-bench-XXXXXX")
stop() {
  scripts/cluster.sh stop >/dev/null || true
  rm -rf "$CLUSTER_DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "bench: starting a 3-node cluster in $CLUSTER_DIR on ports $((base + 1))-$((base + 3))" >&2
scripts/cluster.sh start >/dev/null
eval "$(scripts/cluster.sh env)" # the cluster's CA and admin certificate for kvctl

mkdir -p "$BENCH_RESULTS"
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
# shellcheck disable=SC2086
"$BIN/kvctl" --endpoints "$endpoints" bench --load --keys 100000 \
  --workload write,a,b,c --consistency one,quorum,all --duration 20s \
  --clients 64 --value-size 100 \
  --report "$BENCH_RESULTS/$stamp.json" --plot "$BENCH_RESULTS/$stamp.svg" $BENCH_ARGS
echo "bench: wrote $BENCH_RESULTS/$stamp.json and $BENCH_RESULTS/$stamp.svg" >&2
