# The commands of the README.  The work lives in scripts/, `interlock sandbox demo` and bench/.
SHELL := /bin/bash
UV := scripts/uv
SANDBOX_DIR ?= .sandbox
DEMO_ARGS ?=
# make bench QUICK=1: a few minutes (1 repetition of 1 s per run); BENCH_ARGS: see
# `uv run python -m bench.run --help` (e.g. BENCH_ARGS="--reps 5 --duration 30")
QUICK ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help demo test bench

help:
	@echo "make demo  - install what is missing, start a MariaDB sandbox (primary + 2 replicas)"
	@echo "             and Interlock on 127.0.0.1:4006; Ctrl-C stops both"
	@echo "make test  - install what is missing and run the whole test suite"
	@echo "make bench - install what is missing (HAProxy, sysbench, matplotlib) and benchmark"
	@echo "             direct vs HAProxy vs Interlock; QUICK=1 for a run of a few minutes;"
	@echo "             results in bench/results/"

demo:
	@scripts/install-deps.sh demo
	@$(UV) sync --quiet
	@$(UV) run --quiet interlock sandbox demo --dir $(SANDBOX_DIR) $(DEMO_ARGS)

test:
	@scripts/install-deps.sh test
	@$(UV) sync --frozen --quiet
	$(UV) run --frozen pytest

bench:
	@scripts/install-deps.sh bench
	@$(UV) sync --frozen --quiet
	$(UV) run --frozen python -m bench.run $(if $(filter-out 0 no false,$(QUICK)),--quick) $(BENCH_ARGS)
