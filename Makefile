# Everyday commands; each is also a plain command you can run without make.
PYTHON ?= python3

.PHONY: install test lint bench demo snapshots

install:  ## the package with what the tests need
	$(PYTHON) -m pip install -e '.[test]'

test:  ## the whole suite, as CI runs it after `make lint`
	$(PYTHON) -m pytest

lint:  ## style, types and the import contracts, without the rest of the suite
	$(PYTHON) -m ruff check gembatch tests benchmarks
	$(PYTHON) -m ruff format --check gembatch tests benchmarks
	$(PYTHON) -m mypy gembatch tests
	lint-imports

bench:  ## every benchmark in turn (minutes; see benchmarks/README.md)
	$(PYTHON) benchmarks/all.py

demo:  ## the monitor against the built-in simulator, no API key needed
	$(PYTHON) -m gembatch demo

snapshots:  ## redraw the SVG snapshots after a deliberate change to the screen
	$(PYTHON) -m pytest tests/test_snapshots.py --snapshot-update
