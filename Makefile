# Quick start: `make demo` and `make test`; both create/refresh .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINTED := vbq metaanalysis tests benchmarks data

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vbq demo --out demo_output/vbq
	$(BIN)/metaanalysis reproduce --out demo_output/metaanalysis
	@echo "Read the demo phantom in the browser (prints the address to open; Ctrl-C stops it):"
	@echo "  $(BIN)/vbq serve demo_output/vbq/phantom/series --db demo_output/vbq-readings.sqlite --out demo_output/vbq-exports"

# lint: ruff, the import contract (no cycles, layers pointing one way) and mypy on both
# packages; test: the same, then the suite (doctests and notebooks included)
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python tests/test_import_contract.py
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .mypy_cache
