# Two commands do all the set-up on a fresh machine (Python 3.10+ and git):
#   make book   -> builds the executed book into _build/html/index.html
#   make test   -> runs the test suite (every notebook in the smoke profile included)
#   make test-book -> tests the built book in headless Chromium (after make book)
#   make lock   -> rewrites requirements-lock.txt: the exact versions installed in .venv
# Each creates .venv on first use and installs the package with all its extras;
# `make LOCKED=1 test` (or book) installs the exact versions of requirements-lock.txt instead
# of the newest ones that pyproject.toml allows.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements-lock.txt
LOCKED ?=

.PHONY: book test test-book venv clean lock

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(if $(LOCKED),-r $(LOCK)) -e ".[all]"
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

# The exact environment: every package installed in $(VENV) but pcmci_edu itself, pinned
# (Linux x86_64, Python 3.11; PyTorch's CUDA wheels as pip resolved them). Refresh it after a
# change of pyproject.toml or an upgrade: make lock, then commit requirements-lock.txt.
lock: $(STAMP)
	{ echo "# The exact environment pcmci_edu is tested in: written by \`make lock\` (pip freeze of the environment make installs)."; \
	  echo "# Python $$($(BIN)/python -c 'import platform; print(platform.python_version(), platform.machine())')."; \
	  echo "# Install: pip install -r $(LOCK) -e \".[all]\"   (or: make LOCKED=1 test)"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
