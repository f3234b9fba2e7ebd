# Two entry points: `make demo` (whole workflow on the embedded demo) and `make test`.
# Both build .venv on first use. Torch comes from pip (the pinned CPU/GPU wheel pair).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0
# torchrun (pretrain rule) and the scripts must come from the project's venv.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test venv report lint clean bench slurm-up slurm-down

$(BIN)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml --report results/report.html
	$(BIN)/python -m devcurriculum.eval.learning results/summary.parquet --metrics-glob 'results/runs/*/*/seed*/metrics.parquet'
	@echo "Done: results/summary.parquet, results/comparisons.parquet, results/plots/ (stage_curves.png first), results/report.html"

test: venv
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/snakemake --lint --configfile config.yaml
	$(BIN)/snakefmt --check Snakefile rules/

bench: venv
	for b in benchmarks/*.py; do OMP_NUM_THREADS=1 $(BIN)/python $$b || exit 1; done

slurm-up:
	bash scripts/slurm_local_cluster.sh up

slurm-down:
	bash scripts/slurm_local_cluster.sh down

clean:
	rm -rf results logs .snakemake
