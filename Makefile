# Two commands do all the set-up on a fresh machine (Python 3.10+ and git):
#   make book   -> builds the executed book into _build/html/index.html
#   make test   -> runs the test suite (every notebook in the smoke profile included)
#   make test-book -> tests the built book in headless Chromium (after make book)
# Each creates .venv on first use and installs the package with all its extras.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: book test test-book venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[all]"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest

# tests/test_browser.py also runs inside `make test`, but skips there when there is no build,
# the build is older than the sources, or Chromium is missing; here each of those fails.
test-book: $(STAMP)
	PCMCI_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/test_browser.py

clean:
	rm -rf _build
