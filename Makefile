# vidmesh: one entry point for setup, code generation, checks, running and benchmarks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools/bin
BUF := node_modules/.bin/buf
GRPCURL_VERSION := v1.9.4
TUSD_VERSION := v2.9.1
GHZ_VERSION := v0.120.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
# The API as last released: `buf breaking` compares proto/ with it. `make api-baseline` moves it,
# which is how a deliberate breaking change is made (and reviewed).
API_BASELINE := proto/api-baseline.json

.PHONY: install gen check-gen lint format check breaking api-baseline test test-fast run bench bench-upload ci clean

## install: create .venv and install vidmesh with every tool it needs (safe to re-run)
install: $(VENV)/.installed node_modules/.installed $(TOOLS)/grpcurl $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,dev,spark]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

$(TOOLS)/grpcurl:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(TOOLS)/protoc-gen-go:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/ghz:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(TOOLS)/tusd:
	mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) go install github.com/tus/tusd/v2/cmd/tusd@$(TUSD_VERSION)

## gen: regenerate gen/ (Python, Go, TypeScript and Envoy's descriptor set) from proto/ with buf.gen.yaml
gen: install
	$(call generate,.)

# Generates gen/ under the root $(1) (buf.gen.yaml's outputs are relative to it): the generated
# folders are cleared first (gen/go/go.mod and go.sum are hand-written and stay).
define generate
	rm -rf $(1)/gen/python/vidmesh $(1)/gen/go/vidmesh $(1)/gen/ts $(1)/gen/descriptor
	mkdir -p $(1)/gen/descriptor
	$(BUF) generate --template buf.gen.yaml --output $(1)
	$(BUF) build -o $(1)/gen/descriptor/vidmesh.binpb
endef

## check-gen: fail if gen/ differs from what `make gen` would write
check-gen: install
	rm -rf build/gen-check
	$(call generate,build/gen-check)
	diff -r -x go.mod -x go.sum gen build/gen-check/gen > /dev/null || { diff -r -x go.mod -x go.sum gen build/gen-check/gen | head -20; echo "gen/ is stale: run 'make gen' and commit"; exit 1; }

## lint: buf lint (STANDARD) on proto/
lint: node_modules/.installed
	$(BUF) lint

## breaking: proto/ against the released API (proto/api-baseline.json)
breaking: node_modules/.installed
	$(BUF) breaking --against $(API_BASELINE)

## api-baseline: make today's proto/ the released API that `make breaking` protects
api-baseline: node_modules/.installed
	$(BUF) build --exclude-source-info -o $(API_BASELINE)

## format: rewrite Python and proto files in the house format
format: install
	$(PY) -m ruff format services clients/python envoy tests bench scripts
	$(PY) -m ruff check --fix services clients/python envoy tests bench scripts
	$(BUF) format -w

## check: every static check: buf format, lint and breaking; ruff lint and format; mypy (strict)
check: install lint breaking
	$(BUF) format -d --exit-code
	$(PY) -m ruff check services clients/python envoy tests bench scripts
	$(PY) -m ruff format --check services clients/python envoy tests bench scripts
	$(PY) -m mypy

## cassandra: resolve Apache Cassandra (pinned in scripts/cassandra/pom.xml) from Maven Central into .cache/cassandra
.PHONY: cassandra
cassandra: install
	$(PY) -m vidmesh_services.platform.cassandra resolve

## test: every check and the whole suite against real Valkey, Envoy, Cassandra, Chromium, Go and TypeScript clients
test: install check check-gen cassandra browser redis-server ffmpeg clients
	$(PY) -m pytest -q

## test-fast: the unit tests only (seconds, no servers)
test-fast: install
	$(PY) -m pytest -q tests/unit

## clients: fetch the Go and TypeScript clients' dependencies and compile them (their tests run inside `make test`)
.PHONY: clients
clients: install
	cd clients/go && go vet ./...
	node_modules/.bin/tsc -p clients/ts

## browser: Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download)
.PHONY: browser
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

# Debian's ffmpeg CLI: the live tests publish RTMP with it, as OBS would.
.PHONY: ffmpeg
ffmpeg:
	command -v ffmpeg >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg)

# Debian's redis-server: the catalog cache tests run against it as well as against Valkey.
.PHONY: redis-server
redis-server:
	command -v redis-server >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server)

## run: start the whole platform on embedded defaults (Ctrl-C stops it)
run: install
	$(VENV)/bin/vidmesh up

## bench-upload: 1 GiB through Envoy vs tusd, figures for docs/benchmarks.md
bench-upload: install $(TOOLS)/tusd
	$(PY) bench/upload.py

## bench-transcode: a 1080p 60 s source to HLS ladders, vidmesh's pipeline vs the ffmpeg CLI, figures for docs/benchmarks.md
# Debian's ffmpeg CLI (make ffmpeg) is the reference it is measured against.
.PHONY: bench-transcode
bench-transcode: install ffmpeg
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

## bench-analytics: player events through Envoy (gRPC, REST) vs raw stream appends, lag, over-count, Parquet rows/s, DuckDB on 10M events
.PHONY: bench-analytics
bench-analytics: install
	$(PY) bench/analytics.py $(ARGS)

## bench-search: 1M videos, tantivy vs SQLite FTS5: build docs/s, query p50/p99, typos, through Envoy, change-to-searchable lag
.PHONY: bench-search
bench-search: install
	$(PY) bench/search.py $(ARGS)

## bench-recs: ALS training on a MovieLens-20M-shaped history (time, RSS, NDCG vs popularity), implicit vs Spark, serving p50/p99
.PHONY: bench-recs
bench-recs: install $(TOOLS)/ghz
	$(PY) bench/recs.py $(ARGS)

## bench-live: LL-HLS glass-to-glass in Chromium vs a standard-HLS baseline, the ingest floor, ladder CPU, viewers per machine
.PHONY: bench-live
bench-live: install browser ffmpeg
	$(PY) bench/live.py $(ARGS)

# One after the other, even under make -j: on a 2-core machine each benchmark needs the whole machine.
bench:
	$(MAKE) bench-upload
	$(MAKE) bench-transcode
	$(MAKE) bench-catalog
	$(MAKE) bench-edge
	$(MAKE) bench-analytics
	$(MAKE) bench-search
	$(MAKE) bench-recs
	$(MAKE) bench-live

ci: test

clean:
	rm -rf $(VENV) node_modules .tools build
