# Two entry points (see README): `make quickstart` and `make test`. Both create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eanet-installed
QUICKSTART_OUT ?= runs/quickstart
# Photos cropped to two hands that the quickstart model also runs on: `make quickstart PHOTOS=dir`; by default
# ../shared/assets/images when that folder sits beside the clone.
PHOTOS := $(wildcard ../shared/assets/images)

.PHONY: setup quickstart test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/eanet quickstart --out $(QUICKSTART_OUT) $(if $(PHOTOS),--photos $(PHOTOS))

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests tools
