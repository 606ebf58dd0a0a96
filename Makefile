# ember: every target sets itself up, so on a fresh machine `make demo` and `make test`
# are all a user types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean firmware

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/ember bench loop --json
	$(BIN)/ember bench push --json
	$(BIN)/ember bench faults --json

# A cut-down MicroPython with the runtime frozen in:
#   make firmware BOARD=rp2-pico MICROPY_DIR=~/src/micropython
firmware: $(STAMP)
	$(BIN)/python -m host_tools.firmware_build --board "$(BOARD)" --micropy-dir "$(MICROPY_DIR)"

clean:
	rm -rf $(VENV) build .pytest_cache
