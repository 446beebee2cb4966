# Two commands for a fresh machine: `make demo` and `make test` (`make check`: the fast part). Each installs what it needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check install browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=... to use another 3.11+)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,ray,vae,watermark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deepfake-detect demo --out runs/demo

# Headless Chromium for the web page's browser test (Debian packages; skipped if unavailable).
browser:
	@bash scripts/install-browser.sh

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The edit-test loop: everything but the tests marked slow (what CI runs is `make test`).
check: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow"

clean:
	rm -rf $(VENV) runs
