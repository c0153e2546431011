# The two commands a fresh machine needs: `make run` and `make test`.
# Everything else here is what they are made of.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test stop services venv unit integration e2e fuzz lint schemas check-schemas \
	bench-reserve clean kafka-cluster kafka-cluster-stop kafka-cluster-check

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Kafka (KRaft, from Maven Central) and PostgreSQL (initdb), unless configured externally.
services: venv
	scripts/kafka.sh start
	scripts/postgres.sh start

## The whole pipeline in the foreground; Ctrl-C stops it and the services it started.
run: venv
	scripts/run.sh

## All three test layers against the real broker and database.
test: services
	scripts/chromium.sh >/dev/null
	scripts/test.sh tests/unit tests/integration tests/e2e

unit: venv
	$(BIN)/pytest -q tests/unit

integration: services
	scripts/test.sh tests/integration

e2e: services
	scripts/chromium.sh >/dev/null
	scripts/test.sh tests/e2e

## schemathesis against the gateway's OpenAPI document, longer than `make test` runs it
## and with a random seed; FUZZ_SEED=<seed> repeats a run, FUZZ_EXAMPLES (cases per
## operation) and FUZZ_SCENARIOS (stateful scenarios) change its size.
fuzz: services
	@seed="$(FUZZ_SEED)"; seed=$${seed:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	examples="$(FUZZ_EXAMPLES)"; scenarios="$(FUZZ_SCENARIOS)"; \
	echo "schemathesis seed $$seed (repeat with: make fuzz FUZZ_SEED=$$seed)"; \
	FUZZ_SEED=$$seed FUZZ_EXAMPLES=$${examples:-400} FUZZ_SCENARIOS=$${scenarios:-400} \
		scripts/test.sh tests/e2e/test_openapi_conformance.py -k schemathesis; \
	rc=$$?; echo "schemathesis seed $$seed"; exit $$rc

## The fault campaign (tests/faults/campaign.py): two workers, two gateways and the
## projector under load while processes, the broker and PostgreSQL are killed, paused and
## restarted; then every invariant is checked. FAULT_SEED repeats a run's schedule,
## FAULT_DURATION sets the seconds of load, FAULT_ARGS passes more options.
.PHONY: faults
faults: services
	@seed="$(FAULT_SEED)"; seed=$${seed:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	duration="$(FAULT_DURATION)"; \
	$(BIN)/python -m tests.faults.campaign --seed $$seed --duration $${duration:-120} $(FAULT_ARGS)

## Three KRaft nodes beside the single broker, for fault testing (replication 3, min ISR 2):
## 127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196 (LOCAL_KAFKA_CLUSTER_PORT moves them).
kafka-cluster:
	scripts/kafka.sh cluster-start

kafka-cluster-stop:
	scripts/kafka.sh cluster-stop

## Kill a broker under load, twice, and check nothing acknowledged is lost
## (scripts/cluster_check.py; not part of `make test`: three more JVMs on two cores).
kafka-cluster-check: venv kafka-cluster
	@export DATABASE_URL="$${DATABASE_URL:-postgresql+asyncpg://inventory@127.0.0.1:$${LOCAL_PG_PORT:-15432}/inventory}"; \
	scripts/postgres.sh start && $(BIN)/python scripts/cluster_check.py

## Stops what this checkout left running: the pipeline `make run` started (by the pids it
## recorded in .local/pids/, so other checkouts' pipelines keep running) and this
## checkout's own Kafka and PostgreSQL (none when they are external).
stop:
	-@if [ -x $(BIN)/python ]; then \
		INVENTORY_PID_DIR=$(CURDIR)/.local/pids $(BIN)/python -m inventory.pidfiles stop; fi
	scripts/kafka.sh cluster-stop
	scripts/kafka.sh stop
	scripts/postgres.sh stop

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy api storage topics inventory agents bench

schemas: venv
	$(BIN)/inventory schemas

check-schemas: venv
	$(BIN)/inventory schemas --check

bench-reserve: services
	$(BIN)/python -m bench.reserve $(BENCH_ARGS)

## The same at 1, 10, 50, 200 and 1,000 clients, with (p), mode (a) against the plain loop of
## bench-drain instead of the worker: a table and docs/bench-reserve-sweep.png.
.PHONY: bench-reserve-sweep
bench-reserve-sweep: services
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench.reserve --modes a,b,c,p --sweep 1,10,50,200,1000 $(BENCH_ARGS)

## Many products: 1,000 products reserved in turn (uniform), two worker processes.
.PHONY: bench-reserve-products
bench-reserve-products: services
	$(BIN)/python -m bench.reserve --modes a,b,c --products 1000 --workers 2 $(BENCH_ARGS)

## CPU per record of a bare faust agent: consume, send, table write (the worker's floor).
.PHONY: bench-floor
bench-floor: services
	$(BIN)/python -m bench.faust_floor

## The worker draining 20,000 queued reservations of one product against a plain aiokafka
## loop of ours doing the same work (bench/plain_loop.py): reservations/s, CPU ms per
## reservation, and the ratios. Needs Kafka only. DRAIN_ARGS passes options, e.g.
## DRAIN_ARGS="--reservations 5000 --rounds 3 --variants worker,plain,plain-notxn --profile".
.PHONY: bench-drain
bench-drain: venv
	scripts/kafka.sh start
	$(BIN)/python -m bench.drain $(DRAIN_ARGS)

## The projector alone writing 20,000 queued reservations' events (decided by the project's
## rules) into a fresh schema: events/s and CPU ms per reservation from its first row to its
## last. PROJECTOR_ARGS passes options, e.g. PROJECTOR_ARGS="--rounds 2 --profile".
.PHONY: bench-projector
bench-projector: services
	$(BIN)/python -m bench.projector $(PROJECTOR_ARGS)

## Worker restart time and RSS against orders taken, RocksDB vs memory store (seeded
## changelogs); a table with ratios, and docs/bench-recovery.png. BENCH_SIZES=10000,100000,...
.PHONY: bench-recovery
bench-recovery: services
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench.recovery --sizes $${BENCH_SIZES:-10000,100000,1000000}

## GET /api/orders/ at 1M orders: first vs deep page over HTTP, OFFSET at the same depth.
.PHONY: bench-queries
bench-queries: services
	$(BIN)/python -m bench.queries

clean: stop
	rm -rf .local $(VENV)
