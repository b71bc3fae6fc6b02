# One command to the submission PDF (`make pdf`), one to the tests (`make test`).
# Both set up what they need: a .venv from requirements.txt and, on
# Debian/Ubuntu as root or with sudo, TeX, pandoc, latexmk, fonts and the
# offline FashionMNIST package.
#
# The best run is the default: `make pdf` shows each committed notebook
# (notebooks/<stem>.ipynb, outputs included) as it is while the run it records
# (metadata.hw_run) matches its inputs (code cells, the files it declares in
# metadata.hw.reads, HW_SEED), and executes only the notebooks whose inputs
# changed, at PROFILE, into build/runs/<stem>/. FRESH=1 runs every notebook
# afresh at PROFILE. Runs never write figures/: `make publish NB=<stem>` is
# the one step that copies a finished run into figures/ and notebooks/.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD ?= build
# Profile of the runs make starts: smoke | quick | full. Default: full with a CUDA GPU, quick without.
PROFILE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo full || echo quick)
# FRESH=1: run every notebook afresh at PROFILE instead of showing its committed run.
FRESH ?=
# FORCE=1: let `make publish` replace a committed run of a higher profile.
FORCE ?=
# NB: the notebooks `make run` / `make publish` act on (stems, space-separated).
NB ?=
# TIMEOUT: seconds one notebook cell may run before it is stopped as hung (default 8 h at full, 1 h otherwise).
TIMEOUT ?=

# Every notebook, in PDF order (each graded notebook, then its companion), from bundle.toml: the one
# list of the bundle's assignments and notebooks (read with standard-library Python, no venv needed).
NOTEBOOKS := $(shell $(PYTHON) tools/manifest.py stems 2>&1)
ifneq ($(findstring FAILED,$(NOTEBOOKS)),)
$(error $(NOTEBOOKS))
endif
SHOWN := $(BUILD)/notebooks
THEORY_SOURCES := $(wildcard theory/*.tex theory/sections/*.tex theory/*.bib) $(wildcard figures/theory/*) bundle.toml tools/manifest.py
SETUP_STAMP := $(VENV)/.setup-done
LOCK := $(BUILD)/.lock
# A yes/no make variable (FRESH, FORCE) is read as the notebooks read one: 1/true/yes/on in any case
# (tools/settings.py refuses a word that is neither yes nor no); `lower` knows the letters of those words.
lower = $(subst A,a,$(subst B,b,$(subst E,e,$(subst N,n,$(subst O,o,$(subst R,r,$(subst S,s,$(subst T,t,$(subst U,u,$(subst Y,y,$(1)))))))))))
yes = $(filter 1 true yes on,$(call lower,$(strip $(1))))
TRUE_FRESH := $(call yes,$(FRESH))
# `make -q`: only the real files answer (the phony set-up check would always say "out of date").
QUESTION := $(findstring q,$(firstword -$(MAKEFLAGS)))
SYSTEM := $(if $(QUESTION),,system)
# Before a notebook runs: its embedded copies of hwcommon.py and the graded library are current.
SYNC_CHECK ?= $(PY) tools/sync_notebooks.py --check
# Before any work: every setting, make's variables and the notebooks' HW_* variables, by the
# notebooks' own rules; one line naming a bad one (tools/settings.py, `make check-settings`).
# `make pdf` checks them once, for its inner make too, once it holds $(LOCK).
SETTINGS := $(if $(QUESTION)$(SETTINGS_CHECKED),,check-settings)
# Hold $(LOCK) for the rest of a recipe line: the line's shell opens it as fd 9 and then execs the
# command, so that a signal make passes on (SIGTERM) reaches the command itself, not a wrapper that
# would leave it running. A second make in this tree says so in one line ($(1)) and waits.
hold_lock = exec 9>>$(LOCK); flock -n 9 || { echo "$(1)"; flock 9; }

export HW_UNATTENDED := 1
export HW_DATA_DIR := $(CURDIR)/data
# One Ctrl-C reaches make and every job it runs: the first tool to stop names the interruption, once
# (tools/faults.py); this file, unique to the make the user started, says it was named.
ifndef HW_STOP_MARK
export HW_STOP_MARK := $(abspath $(BUILD))/.interrupted-$(shell echo $$PPID)-$(shell date +%s%N)
endif

.DEFAULT_GOAL := help
.PHONY: help setup system data sync notebooks theory pdf test clean run publish FORCE check-settings
# The wording of tools/settings.py (the notebooks' rule for HW_PROFILE), checked here while make reads this file.
ifneq ($(words $(PROFILE)) $(filter smoke quick full,$(PROFILE)),1 $(strip $(PROFILE)))
$(error FAILED: PROFILE must be one of smoke, quick, full; got '$(PROFILE)')
endif
# A failed recipe must not leave a half-made target that looks up to date.
.DELETE_ON_ERROR:
# These are written whole (a temp file renamed) or not at all: a failed or interrupted make leaves them.
.PRECIOUS: $(SHOWN)/%.ipynb $(SHOWN)/%.pdf $(BUILD)/submission.pdf $(BUILD)/theory.pdf

# What each notebook's PDF must show, as build/stamps/<stem>.want: written
# while make reads this file (standard-library Python, no venv needed), and
# only when it changes, so that file dates alone answer `make -q pdf`.
STAMPS := $(shell $(PYTHON) tools/run_record.py stamps --build $(BUILD) --profile $(PROFILE) \
	--seed "$(HW_SEED)" --fresh "$(FRESH)" $(NOTEBOOKS) 2>&1)
ifneq ($(STAMPS),ok)
$(error $(STAMPS))
endif

help: ## @student list the targets
	@echo "make pdf    -> $(BUILD)/submission.pdf (theory + notebooks), per-assignment PDFs and zips"
	@echo "make test   -> the test suite (smoke profile)"
	@for group in student notebooks benchmarks checks; do \
	  case $$group in student) echo "For students:";; notebooks) echo "Running and publishing notebooks (docs/maintaining.md):";; \
	    benchmarks) echo "Benchmarks, not part of make pdf (docs/results.md):";; checks) echo "Maintenance checks, not part of make test:";; esac; \
	  grep -E "^[a-z][a-z-]*:.*## @$$group " $(MAKEFILE_LIST) | sed -E "s/:.*## @$$group /\t/" | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'; \
	done
	@echo "Variables: PROFILE=smoke|quick|full (now: $(PROFILE)), FRESH=1, NB=<stem>, FORCE=1, TIMEOUT=<seconds>, BUILD=$(BUILD)"

setup: $(SETUP_STAMP) system ## @student create .venv from requirements.txt and install system packages

system: ## @student install TeX, pandoc, latexmk, fonts, dataset-fashion-mnist if missing (apt)
	@bash tools/setup_system.sh

$(SETUP_STAMP): requirements.txt requirements-data.txt tools/setup_venv.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv (pip's indexes and settings, pip when uv fails), then the bytecode on every core: tools/setup_venv.py
	$(PY) tools/setup_venv.py $(PY)
	@touch $@

data: setup ## @notebooks find or fetch every dataset into data/ (offline fallbacks print one line)
	cd notebooks && ../$(PY) -c "import hwcommon as hw; hw.fashion_mnist('$(HW_DATA_DIR)'); hw.mnist('$(HW_DATA_DIR)'); hw.reviews('$(HW_DATA_DIR)'); hw.minilm('$(HW_DATA_DIR)')"

sync: | $(SETUP_STAMP) ## @notebooks copy notebooks/hwcommon.py into each notebook's hidden plumbing cell (and the Colab links)
	$(PY) tools/sync_notebooks.py

# ---------------------------------------------------------------- notebooks

notebooks: $(foreach n,$(NOTEBOOKS),$(SHOWN)/$(n).ipynb) ## @notebooks the notebooks the PDFs show -> build/notebooks/ (runs only those whose inputs changed)

# build/notebooks/<stem>.ipynb: the committed notebook when its recorded run
# matches its inputs, else a run at PROFILE from build/runs/<stem>/ (made now
# when there is none that matches). It must carry the current copy of
# hwcommon.py before it runs (`make sync` writes it).
$(SHOWN)/%.ipynb: $(BUILD)/stamps/%.want notebooks/%.ipynb | $(SETUP_STAMP) $(SETTINGS) $(SYSTEM)
	@grep -q '^committed' $< || $(SYNC_CHECK)
	@$(PY) tools/run_notebook.py select $* --build $(BUILD) --profile $(PROFILE) $(if $(TRUE_FRESH),--fresh) $(if $(TIMEOUT),--timeout $(TIMEOUT))

$(BUILD)/stamps/%.want: ;

$(SHOWN)/%.pdf: $(SHOWN)/%.ipynb tools/build_pdf.py $(wildcard tools/nbconvert_template/*)
	@$(PY) tools/build_pdf.py notebook $< $@

run: | $(SETUP_STAMP) $(SETTINGS) system ## @notebooks a fresh run of NB=<stem> at PROFILE -> build/runs/<stem>/ (then `make publish NB=<stem>`)
	@test -n "$(NB)" || { echo "FAILED: make run: name the notebook, NB=<stem> with a stem of: $(NOTEBOOKS)" >&2; exit 2; }
	@$(SYNC_CHECK)
	@mkdir -p $(BUILD); $(call hold_lock,make run: waiting for the other make in this tree ($(LOCK))); \
	exec $(PY) tools/run_notebook.py run $(NB) --build $(BUILD) --profile $(PROFILE) $(if $(TIMEOUT),--timeout $(TIMEOUT))

publish: | $(SETUP_STAMP) $(SETTINGS) ## @notebooks copy the finished run of NB=<stem> into figures/ and notebooks/, rewrite docs/results.md's table (FORCE=1: over a higher profile)
	@test -n "$(NB)" || { echo "FAILED: make publish: name the notebook, NB=<stem> with a stem of: $(NOTEBOOKS)" >&2; exit 2; }
	@mkdir -p $(BUILD); $(call hold_lock,make publish: waiting for the other make in this tree ($(LOCK))); \
	exec $(PY) tools/publish.py $(NB) --build $(BUILD) $(if $(call yes,$(FORCE)),--force)

# ---------------------------------------------------------------- documents

theory: $(BUILD)/theory.pdf ## @notebooks build the written answers alone -> build/theory.pdf

$(BUILD)/theory.pdf: $(THEORY_SOURCES) tools/build_pdf.py | $(SETUP_STAMP) $(SYSTEM)
	@mkdir -p $(BUILD)
	@$(call hold_lock,make theory: another make pdf/theory is running in this tree; waiting for it ($(LOCK))); \
	exec $(PY) tools/build_pdf.py --build $(BUILD) theory

PDF_INPUTS := $(THEORY_SOURCES) tools/build_pdf.py $(foreach n,$(NOTEBOOKS),$(SHOWN)/$(n).pdf)

# `make pdf` holds $(LOCK) for the whole build: a second one in the same tree
# says so in one line and waits. `make -q pdf` asks the real targets.
ifneq ($(QUESTION),)
pdf: $(BUILD)/submission.pdf
else
pdf: | $(SETUP_STAMP) ## @student theory + notebooks -> build/submission.pdf, build/<assignment>.pdf/.zip/.pages.json
	@mkdir -p $(BUILD)
	@$(call hold_lock,make pdf: another make pdf is running in this tree; waiting for it to finish ($(LOCK))); \
	$(MAKE) --no-print-directory check-settings CHECK_FOR=pdf \
	&& $(PY) tools/run_record.py summary --build $(BUILD) --profile $(PROFILE) --seed "$(HW_SEED)" --fresh "$(FRESH)" $(NOTEBOOKS) \
	&& exec $(MAKE) --no-print-directory -j$$(nproc) SETTINGS_CHECKED=1 $(BUILD)/submission.pdf
endif

$(BUILD)/submission.pdf: $(PDF_INPUTS) | $(SETUP_STAMP) $(SYSTEM)
	@$(PY) tools/build_pdf.py --build $(BUILD) documents --notebooks $(SHOWN)

# make's variables reach the check as MAKEVAR_<name> in its environment (no shell quoting to get wrong).
check-settings: export MAKEVAR_PROFILE = $(PROFILE)
check-settings: export MAKEVAR_FRESH = $(FRESH)
check-settings: export MAKEVAR_FORCE = $(FORCE)
check-settings: export MAKEVAR_TIMEOUT = $(TIMEOUT)
check-settings: export MAKEVAR_NB = $(NB)
check-settings: export MAKEVAR_GOALS = $(or $(CHECK_FOR),$(MAKECMDGOALS))
check-settings: | $(SETUP_STAMP)
	@$(PY) tools/settings.py

# Each make a test starts is a make of its own: it names its own interruptions (HW_STOP_MARK, unset here).
test: setup ## @student run the tests (notebooks in the smoke profile, theory checks, the PDF build)
	env -u HW_STOP_MARK $(PY) -m pytest -q -n 2 --dist loadgroup tests

clean: ## @student remove build/ (keeps .venv and data/)
	rm -rf $(BUILD)

FORCE:

.PHONY: ganseeds
ganseeds: | $(SETUP_STAMP) ## @benchmarks GAN benchmark: plain vs our recipe on seeds 0, 1, 2 at the quick budget, classifier-feature and Inception FIDs -> seeds.json in the GAN companion's figures/ folder (~66 min; not part of pdf)
	HW_THREADS=$${HW_THREADS:-1} $(PY) tools/bench/gan_seeds.py --jobs $${JOBS:-3}

.PHONY: binaryablation
binaryablation: | $(SETUP_STAMP) ## @benchmarks binary addition Part 2: which levers move the question's model -> part2_ablation.json, shown by the binary companion (~1 h on 2 cores; not part of pdf)
	$(PY) tools/bench/binary_part2_ablation.py --jobs $${JOBS:-2}

.PHONY: sentiment-ablation
sentiment-ablation: | $(SETUP_STAMP) ## @benchmarks sentiment recipes, each choice measured -> ablation.json, shown by the sentiment companion (~22 min on one core; not part of pdf)
	HW_THREADS=$${HW_THREADS:-1} $(PY) tools/bench/sentiment_ablation.py

.PHONY: colab-check
colab-check: | $(SETUP_STAMP) ## @checks each graded notebook alone in fresh venvs: Colab's published versions and the oldest supported ones (tools/checks/colab_check.py STACKS), offline and with loopback internet (slow; not in make test)
	$(PY) tools/checks/colab_check.py

.PHONY: mutation-check
mutation-check: | $(SETUP_STAMP) ## @checks put one known bug at a time into a copy of the project and run the tests that should catch it; lists the survivors (~5 min; not in make test)
	$(PY) tools/checks/mutation_check.py
