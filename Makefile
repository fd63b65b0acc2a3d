# The two commands a newcomer runs (README): `make run` and `make test`.
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint setup default-benchmarks

$(BIN)/eahas: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[torch,test]"
	touch $(BIN)/eahas

setup: $(BIN)/eahas

# The main job: a 200-trial energy-aware search on the default CIFAR-10 benchmark, stored in
# out/eahas.db (running it again continues the same study).
run: setup
	mkdir -p out
	$(BIN)/eahas run --dataset cifar10 --n-trials 200 --seed 0 --storage sqlite:///out/eahas.db

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

# Rebuild the default benchmarks shipped in optuna_eahas/data from the simulator's seed
# (deterministic; see docs/benchmarks.md for the expected validation metrics).
default-benchmarks: setup
	mkdir -p out
	$(BIN)/eahas simulate --dataset cifar10 --n 20000 --seed 0 -o out/cifar10-records.jsonl.gz
	$(BIN)/eahas fit out/cifar10-records.jsonl.gz -o optuna_eahas/data/cifar10 --seed 0 --overwrite
	$(BIN)/eahas simulate --dataset tinyimagenet --n 13885 --seed 0 -o out/tinyimagenet-records.jsonl.gz
	$(BIN)/eahas fit out/tinyimagenet-records.jsonl.gz -o optuna_eahas/data/tinyimagenet --seed 0 --overwrite
