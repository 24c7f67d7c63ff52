# The two commands of the README: `make demo` (set up + run the demo suite on the local
# sandbox) and `make test` (set up + run the tests). Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	$(BIN)/python -m coldbench.workerd.install
	touch $(STAMP)

setup: $(STAMP)

# Chromium (Debian) renders the HTML report in the screenshot test. Best effort: without it
# (not root, no apt) that one test skips and says why.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian) for the report screenshot test..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation) >/dev/null 2>&1 \
	      || echo "warning: could not install chromium; the screenshot test will skip"; \
	  fi; }

demo: $(STAMP)
	$(BIN)/coldbench run targets/local.toml

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest -q benchmarks --benchmark-only $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check coldbench tests benchmarks
	$(BIN)/mypy coldbench

clean:
	rm -rf $(VENV) build *.egg-info
