# quorumkv — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
GOTOOL ?= $(GO) tool -modfile=tools/go.mod
BIN ?= bin
CLUSTER_DIR ?= .cluster
PORT_BASE ?= 7000
# auto: stamp the VCS commit into the binaries (--version) when building in
# a git clone; a git worktree or -buildvcs=false builds say "commit unknown".
BUILDVCS ?= auto
export CLUSTER_DIR PORT_BASE

.DEFAULT_GOAL := help

-include proto/Makefile.inc

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build kvnode and kvctl into bin/
	$(GO) build -buildvcs=$(BUILDVCS) -o $(BIN)/ ./cmd/...

.PHONY: test
test: ## unit, property and end-to-end tests, with -race
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 20s) each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$${FUZZTIME:-20s} $$pkg || exit 1; \
	  done; \
	done

.PHONY: bench
bench: build ## load harness: kvctl bench on a fresh 3-node cluster of its own (BENCH_ARGS); writes bench/results/
	@scripts/bench.sh

.PHONY: bench-micro
bench-micro: ## Go benchmarks: merge and encoding, storage, ring, transport, coordinator, anti-entropy (benchstat format)
	$(GO) test -run='^$$' -bench=. -benchmem ./conflict/ ./storage/ ./cluster/ring/ ./replication/

.PHONY: chaos
chaos: build ## partition and crash suite: every nemesis x workload on real nodes in network namespaces (root; CHAOS_ARGS)
	$(GO) build -o $(BIN)/chaos ./chaos
	$(BIN)/chaos -kvnode $(BIN)/kvnode -kvctl $(BIN)/kvctl -out chaos/out $(CHAOS_ARGS)

.PHONY: lint
lint: ## golangci-lint (pinned in tools/go.mod)
	$(GOTOOL) golangci-lint run ./...

.PHONY: tidy
tidy: ## go mod tidy for the module and the tools module
	$(GO) mod tidy
	cd tools && $(GO) mod tidy

.PHONY: tidy-check
tidy-check: ## fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

.PHONY: cluster
cluster: build ## start a local cluster in the background, with mutual TLS unless CLUSTER_TLS=0 (CLUSTER_DIR, PORT_BASE)
	@scripts/cluster.sh start

.PHONY: cluster-status
cluster-status: ## show each local node's pid and state, then kvctl members
	@scripts/cluster.sh status

.PHONY: cluster-env
cluster-env: ## print the export lines pointing kvctl at the local cluster: eval "$$(make -s cluster-env)"
	@scripts/cluster.sh env

.PHONY: cluster-stop
cluster-stop: ## stop the local cluster
	@scripts/cluster.sh stop

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
