# One command each: `make run` (installs, then a search on the offline default task) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUDGET ?= 3m
METHOD ?= tpe
WORKERS ?= 2

.PHONY: install run test lint bench clean

install: $(STAMP)

# Re-installs only when the pinned requirements or the project metadata change.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: install
	$(BIN)/bttackler run --task digits --method $(METHOD) --budget $(BUDGET) --workers $(WORKERS)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bttackler tasks tests benchmarks
	$(BIN)/ruff format --check bttackler tasks tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/slot_turnaround.py
	$(BIN)/python benchmarks/kill_latency.py
	$(BIN)/python benchmarks/ring_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
