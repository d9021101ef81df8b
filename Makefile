# Quickstart: `make demo` and `make test` work on a fresh machine that has only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-extras

.PHONY: demo test fuzz lint install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# crowd-kit is only the Dawid-Skene reference in the tests; its NLP dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps "crowd-kit>=1.4,<2"
	# imgaug only ships data the vision tests read (a real photo annotated with a box and a
	# polygon); it is never imported, so its imaging dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps "imgaug==0.4.0"
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[extras]"
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/cleanframe demo

# A crashed worker ends the run at once, naming its test (with --dist loadgroup a replaced
# worker can leave the run waiting forever); a hung test is dumped and then stopped by the
# pytest timeouts in pyproject.toml.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --max-worker-restart=0 tests

# The property tests only, with fresh random examples and many more of them (the "fuzz" profile
# of tests/conftest.py), to search for new counterexamples; `make test` under CI=true replays a
# fixed set. Long: tens of minutes.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -n 2 --dist loadgroup --max-worker-restart=0 -m hypothesis tests

# Style, types and the layer contracts. Every check runs (so one run shows every problem); the
# target fails if any of them does.
LINT_PATHS := cleanframe tests benchmarks
lint: $(STAMP)
	@status=0; \
	echo "ruff check $(LINT_PATHS)"; $(BIN)/ruff check $(LINT_PATHS) || status=1; \
	echo "ruff format --check $(LINT_PATHS)"; $(BIN)/ruff format --check $(LINT_PATHS) || status=1; \
	echo "mypy cleanframe"; $(BIN)/mypy cleanframe || status=1; \
	echo "lint-imports"; $(BIN)/lint-imports --no-cache --no-logo || status=1; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_label_issues.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
