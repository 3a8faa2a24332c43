# monotheory — two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
# Both create .venv if missing and install the project into it (editable, with the vision and dev extras).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch/torchvision pinned to a matching pair; override e.g. TORCH_SPEC="torch torchvision" on another machine.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test test-slow install lint bench clean toy-search

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[vision,dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/monotheory check --out results $(ARGS)

# the recorded C5 condition search (search seeds 0-3); rewrites monotheory/data/toy_conditions.json
toy-search: $(STAMP)
	$(BIN)/monotheory toy search --seeds 4 --steps 1000 --out results/toy_search --write-conditions

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check monotheory tests paper_checks benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_theory.py
	$(BIN)/python benchmarks/bench_toy.py
	$(BIN)/python benchmarks/bench_probes.py
	$(BIN)/python benchmarks/bench_vision.py

clean:
	rm -rf results .pytest_cache build *.egg-info
