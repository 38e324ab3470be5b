# vidmesh: one entry point for setup, code generation, checks, running and benchmarks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools/bin
GRPCURL_VERSION := v1.9.4
TUSD_VERSION := v2.9.1
GHZ_VERSION := v0.120.0
PROTOS = $(shell find proto/vidmesh -name '*.proto' | LC_ALL=C sort)
# From the googleapis-common-protos wheel, into the descriptor set only: Envoy's transcoder
# needs them to render error statuses and their details as JSON.
RPC_STATUS_PROTOS = google/rpc/status.proto google/rpc/error_details.proto

.PHONY: install gen check-gen lint test test-fast run bench bench-upload ci clean

## install: create .venv and install vidmesh with every tool it needs (safe to re-run)
install: $(VENV)/.installed node_modules/.installed $(TOOLS)/grpcurl

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

$(TOOLS)/grpcurl:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(TOOLS)/ghz:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(TOOLS)/tusd:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/tus/tusd/v2/cmd/tusd@$(TUSD_VERSION)

## gen: regenerate gen/python (messages, stubs, type stubs) and the descriptor set
gen: $(VENV)/.installed
	$(call protoc,gen)

# protoc into $(1): Python modules under $(1)/python, descriptor set for Envoy under $(1)/descriptor
define protoc
	rm -rf $(1)/python/vidmesh $(1)/descriptor
	mkdir -p $(1)/python $(1)/descriptor
	$(PY) -m grpc_tools.protoc -I proto -I "$$($(PY) -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
	  -I "$$($(PY) -c 'import google.rpc, os; print(os.path.dirname(os.path.dirname(google.rpc.__path__[0])))')" \
	  --python_out=$(1)/python --pyi_out=$(1)/python --grpc_python_out=$(1)/python \
	  --include_imports --include_source_info --descriptor_set_out=$(1)/descriptor/vidmesh.binpb \
	  $(PROTOS) $(RPC_STATUS_PROTOS)
	rm -rf $(1)/python/google
endef

## check-gen: fail if gen/ differs from what `make gen` would write
check-gen: $(VENV)/.installed
	rm -rf build/gen-check
	$(call protoc,build/gen-check)
	diff -r gen build/gen-check > /dev/null || { diff -r gen build/gen-check | head -20; echo "gen/ is stale: run 'make gen' and commit"; exit 1; }

## lint: buf lint (STANDARD) on proto/
lint: node_modules/.installed
	node_modules/.bin/buf lint

## cassandra: resolve Apache Cassandra (pinned in scripts/cassandra/pom.xml) from Maven Central into .cache/cassandra
.PHONY: cassandra
cassandra: install
	$(PY) -m vidmesh_services.platform.cassandra resolve

## test: every check and the whole suite against real Valkey, Envoy and Cassandra
test: install lint check-gen cassandra
	$(PY) -m pytest -q

## browser: Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download)
.PHONY: browser
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
test: browser

# Debian's redis-server: the catalog cache tests run against it as well as against Valkey.
.PHONY: redis-server
redis-server:
	command -v redis-server >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server)
test: redis-server

## run: start the whole platform on embedded defaults (Ctrl-C stops it)
run: install
	$(VENV)/bin/vidmesh up

## bench-upload: 1 GiB through Envoy vs tusd, figures for docs/benchmarks.md
bench-upload: install $(TOOLS)/tusd
	$(PY) bench/upload.py

## bench-transcode: a 1080p 60 s source to HLS ladders, vidmesh's pipeline vs the ffmpeg CLI, figures for docs/benchmarks.md
# Installs Debian's ffmpeg (the reference it is measured against) if it is missing; the tests never need it.
.PHONY: bench-transcode
bench-transcode: install
	command -v ffmpeg >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ffmpeg)
	$(PY) bench/transcode.py

## bench-catalog: GetVideo / BatchGetVideos through Envoy, cache hit vs SQLite vs Cassandra, figures for docs/benchmarks.md
.PHONY: bench-catalog
bench-catalog: install cassandra $(TOOLS)/ghz
	$(PY) bench/catalog.py

## bench-edge: Envoy cache hits vs nginx (wrk), the miss path, time to first frame in Chromium; figures for docs/benchmarks.md
# Installs Debian's wrk and nginx (the load generator and the reference) if missing; the tests never need them.
.PHONY: bench-edge
bench-edge: install browser
	command -v wrk >/dev/null && command -v nginx >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk nginx-light)
	$(PY) bench/edge.py

# One after the other, even under make -j: on a 2-core machine each benchmark needs the whole machine.
bench:
	$(MAKE) bench-upload
	$(MAKE) bench-transcode
	$(MAKE) bench-catalog
	$(MAKE) bench-edge

ci: test

clean:
	rm -rf $(VENV) node_modules .tools build
