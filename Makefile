# The two commands of the README.  The work lives in scripts/ and `interlock sandbox demo`.
SHELL := /bin/bash
UV := scripts/uv
SANDBOX_DIR ?= .sandbox
DEMO_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help demo test

help:
	@echo "make demo  - install what is missing, start a MariaDB sandbox (primary + 2 replicas)"
	@echo "             and Interlock on 127.0.0.1:4006; Ctrl-C stops both"
	@echo "make test  - install what is missing and run the whole test suite"

demo:
	@scripts/install-deps.sh demo
	@$(UV) sync --quiet
	@$(UV) run --quiet interlock sandbox demo --dir $(SANDBOX_DIR) $(DEMO_ARGS)

test:
	@scripts/install-deps.sh test
	@$(UV) sync --frozen --quiet
	$(UV) run --frozen pytest
