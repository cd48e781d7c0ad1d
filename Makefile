# reprobook: the two commands of the README, and their set-up.
#   make test   unit tests + every chapter notebook under nbval in smoke mode
#   make book   execute every chapter with papermill (incremental) and render the HTML book
# Both create the project virtual environment .venv and install what is missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reprobook-installed
SMOKE  := _build/smoke
# torch and torchvision are installed as a matched pair from the registry (never a +cpu torch
# with a registry torchvision: `import torchvision` then fails).
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install browser test book clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# The browser tests need headless Chromium and its driver from Debian's packages; installed here
# when missing and running as root (as CI does), otherwise those tests fail naming the packages.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: install the Debian packages chromium and chromium-driver for the browser tests"; fi; \
	fi

# Two pytest workers on the 2-core machine; --dist loadfile keeps each notebook's cells in one kernel.
test: install browser
	rm -rf $(SMOKE)
	$(BIN)/reprobook smoke $(SMOKE)
	$(BIN)/python -m pytest tests $(SMOKE) --nbval-lax --nbval-current-env -n 2 --dist loadfile -q

book: install
	$(BIN)/reprobook book

clean:
	rm -rf _build book/runs book/_generated runs
