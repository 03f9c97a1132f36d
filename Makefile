# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_HOME ?= .absorb-demo

.PHONY: demo test test-local clean

$(VENV)/.installed: pyproject.toml
	@echo "creating $(VENV) and installing absorb with its test tools (first run only)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_HOME)
	ABSORB_HOME=$(CURDIR)/$(DEMO_HOME) $(VENV)/bin/absorb demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-local: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) $(DEMO_HOME)
