# The two commands of the README: `make demo` (set up + run the demo suite on the local
# sandbox) and `make test` (set up + run the tests). Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/coldbench run targets/local.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check coldbench tests benchmarks
	$(BIN)/mypy coldbench

clean:
	rm -rf $(VENV) build *.egg-info
