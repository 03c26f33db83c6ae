# regcred — make targets. `make test` and `make demo` work on a fresh clone: they install what is missing.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := build

NODE_STAMP := node_modules/.package-lock.json
TEST_REPORTER ?= spec

## Every recipe runs on the pinned Node.js release (hack/node-release.env), installed into the cache by
## hack/install-node.sh: its bin/ comes first on PATH, so `node`, npm's scripts, the tests and every
## process they start (the CLI, the controller, `node` wrappers) use it. npm itself is the machine's.
include hack/node-release.env
CACHE_ROOT := $(or $(REGCRED_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/regcred)
NODE_HOME := $(CACHE_ROOT)/node-$(NODE_VERSION)
NODE := $(NODE_HOME)/bin/node
export PATH := $(NODE_HOME)/bin:$(PATH)

.PHONY: build node deps system-deps controlplane test test-quick test-unit test-integration test-reliability demo bench bench-controller typecheck clean

$(NODE):
	@bash hack/install-node.sh >/dev/null

node: $(NODE)

$(NODE_STAMP): package.json package-lock.json | $(NODE)
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

system-deps:
	@bash hack/install-deps.sh

controlplane: system-deps
	@bash test/harness/build-controlplane.sh >/dev/null

deps: $(NODE_STAMP) system-deps controlplane

build: $(NODE_STAMP) $(NODE)
	npm run build --silent

typecheck: $(NODE_STAMP) $(NODE)
	npx tsc -p tsconfig.json --noEmit

## Every test, in one run of Node's test runner (its summary is the last lines): unit, integration
## (real control plane, registry, moto, doubles) and the reliability suite (zero gap, outage,
## restarts, failover, watch stall, 15-minute soak). About 40 minutes; `make test-quick` skips the
## reliability suite (about 8 minutes).
test: deps build
	node --test --test-concurrency=1 --test-reporter=$(TEST_REPORTER) dist/test/unit/ dist/test/integration/ dist/test/reliability/

test-quick: deps build
	node --test --test-concurrency=1 --test-reporter=$(TEST_REPORTER) dist/test/unit/ dist/test/integration/

test-unit: build
	node --test --test-reporter=$(TEST_REPORTER) dist/test/unit/

test-integration: deps build
	node --test --test-concurrency=1 --test-reporter=$(TEST_REPORTER) dist/test/integration/

## Reliability suite (issue 7), not part of `make test`: control-plane restarts, watch stalls, rotation.
test-reliability: deps build
	node --test --test-concurrency=1 --test-reporter=$(TEST_REPORTER) dist/test/reliability/

## The whole loop in about half a minute: control plane, registry, rotating broker, controller, skopeo pulls.
demo: deps build
	node dist/test/harness/demo.js

## Benchmarks, not part of `make test` (docs/benchmarks.md): fan-out into 1,000 namespaces against
## kubectl and a raw client; then the controller's new-namespace latency, idle cost and memory.
bench: deps build
	@bash hack/install-deps.sh kubectl
	@bash bench/eso/build-eso.sh >/dev/null
	node dist/bench/fanout.js
	node dist/bench/controller.js
	node dist/bench/scale.js
	node dist/bench/report.js

## The controller at cluster scale and External Secrets Operator beside it (part of `make bench`).
bench-scale: deps build
	@bash hack/install-deps.sh kubectl
	@bash bench/eso/build-eso.sh >/dev/null
	node dist/bench/scale.js

bench-controller: deps build
	node dist/bench/controller.js

clean:
	rm -rf dist
