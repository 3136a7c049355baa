# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv and installs what it needs on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv test demo incident recovery demo-inprocess demo-ha demo-ha-incident demo-ha-recovery \
	demo-sqs demo-kafka demo-csv bench bench-csv soak lint screenshots \
	typecheck clean dev-aws proto browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The console's browser tests (tests/console/) and `make screenshots` need Debian's Chromium
# and its driver, never a downloaded browser: installed here when missing (as root, with the
# Debian registry reachable), otherwise a one-line error saying what to install.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing chromium and chromium-driver (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends chromium chromium-driver >/dev/null; \
		else \
			echo "make: chromium and chromedriver are missing: run" \
				"'apt-get install chromium chromium-driver' as root" >&2; \
			exit 1; \
		fi; \
	fi

# On every core: the suite waits on brokers, subprocesses and sockets as much as on the CPU.
test: lint typecheck browser
	$(BIN)/python -m pytest -n $$(( $$(nproc) * 2 )) --dist worksteal

demo: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.demo

incident: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.incident

recovery: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.recovery

demo-inprocess: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.inprocess

# The recipe's container HA reference in processes: a local AWS (moto), one coordinator with the
# recipe's minimum configuration and one REST worker, on free 127.0.0.1 ports; then the
# original's incident (worker SIGKILLed mid-transition) and recovery (coordinator SIGKILLed with
# parked executions) on the same shape.
demo-ha: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.ha.demo

demo-ha-incident: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.ha.incident

demo-ha-recovery: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.ha.recovery

# The restaurant demo with its decisions over a broker: a local moto SQS / Tansu Kafka, started
# and stopped by the demo (or a real one: see "Broker demos" in the README).
demo-sqs: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.broker_demo sqs

demo-kafka: $(STAMP)
	$(BIN)/python -m demos.restaurant_approval.broker_demo kafka

# The csv-payments demo (spec §11.2) on the HA shape: moto, one coordinator, one REST worker and
# the mock payment provider; SQS lane by default, TPF_CSV_AWAIT_TRANSPORT=kafka for Kafka (Tansu).
demo-csv: $(STAMP)
	$(BIN)/python -m demos.csv_payments.demo

bench: $(STAMP)
	$(BIN)/python -m bench

# The csv-payments demo at scale (streams: 10,000 records per lane, 100,000 on SQLite); long.
bench-csv: $(STAMP)
	$(BIN)/python -m bench csv

# The README's console screenshots (docs/screenshots/inbox.png, timeline.png), taken in headless
# Chromium against a coordinator served on a free 127.0.0.1 port.
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.console.screenshots docs/screenshots

# A local AWS (moto on 127.0.0.1:4566) bootstrapped for the durable HA shape; Ctrl-C stops it.
dev-aws: $(STAMP)
	$(BIN)/tpf dev aws

# Regenerates the checked-in gRPC modules beside the .proto (protoc from grpcio-tools, with the
# package path, so the service module imports its messages package-qualified).
# tests/transports/workers/test_grpc_codegen.py runs this into a temporary PROTO_OUT and checks
# the checked-in files are byte-identical.
PROTO     := tpf/transports/workers/remote/grpc/transition_worker.proto
PROTO_OUT ?= .
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) \
		--grpc_python_out=$(PROTO_OUT) $(PROTO)

# Slow soak and chaos runs, kept out of `make test`.
soak: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) .tpf .mypy_cache .ruff_cache .pytest_cache
