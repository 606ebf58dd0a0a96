# ember: every target sets itself up, so on a fresh machine `make demo` and `make test`
# are all a user types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# MicroPython's source for the virtual boards' firmware (a clone or a release .tar.gz); the
# release tarball beside this checkout, or beside the one it was cloned from, when there is
# one. Builds are cached in build/.
TARBALL := shared/micropython/micropython-1.28.0.tar.gz
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
MICROPY_DIR ?= $(firstword $(wildcard $(abspath $(CURDIR)/../$(TARBALL)) \
	$(if $(ORIGIN),$(abspath $(ORIGIN)/../$(TARBALL)))))
export MICROPY_DIR
export EMBER_BUILD_DIR ?= $(CURDIR)/build
# Debian packages the virtual firmware build needs (a 32-bit C library for gcc -m32).
DEB_PACKAGES := gcc-multilib
# ... and the bare-metal virtual board, qemu-mps2-an385: the Arm GNU toolchain, newlib, QEMU.
QEMU_DEB_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
QEMU_BOARD := qemu-mps2-an385
# The virtual firmware the tests use; other profiles' firmware is built on first use.
VIRTUAL_BOARDS := rp2-pico esp8266-generic samd21-generic
# The part of the suite `make test` runs again on the qemu board (the rest runs there with
# `pytest --ember-board qemu-mps2-an385 tests/device tests/hil`, the push power-cut campaign
# included): about 25 s on 2 cores. Its own tests run in the suite (tests/hil/test_qemu_*).
QEMU_TESTS := tests/hil/test_virtual_board.py tests/device/test_timers.py \
	tests/device/test_handlers.py

.PHONY: setup toolchain virtual-firmware demo native-example test lint bench clean firmware

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# gcc -m32 must link a static 32-bit program; as root (CI) the set-up installs what it lacks.
toolchain:
	@probe() { echo 'int main(void){return 0;}' | gcc -m32 -static -x c - -o /dev/null 2>/dev/null; }; \
	if probe; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(DEB_PACKAGES) for the virtual boards' 32-bit firmware"; \
		(apt-get install -y -q $(DEB_PACKAGES) || (apt-get update -q && apt-get install -y -q $(DEB_PACKAGES))) >/dev/null; \
	else \
		echo "ember: virtual boards need $(DEB_PACKAGES) (sudo apt-get install $(DEB_PACKAGES)); without it they run the 64-bit PyPI interpreter"; \
	fi
	@probe() { command -v qemu-system-arm >/dev/null && echo '#include <string.h>' | \
		arm-none-eabi-gcc -mthumb -mcpu=cortex-m3 -x c -c - -o /dev/null 2>/dev/null; }; \
	if probe; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(QEMU_DEB_PACKAGES) for the $(QEMU_BOARD) virtual board"; \
		(apt-get install -y -q $(QEMU_DEB_PACKAGES) || (apt-get update -q && apt-get install -y -q $(QEMU_DEB_PACKAGES))) >/dev/null; \
	else \
		echo "ember: the $(QEMU_BOARD) board needs $(QEMU_DEB_PACKAGES) (sudo apt-get install $(QEMU_DEB_PACKAGES)); its tests are skipped without them"; \
	fi

virtual-firmware: $(STAMP) toolchain
	@if [ -z "$(MICROPY_DIR)" ]; then \
		echo "ember: no MicroPython source (set MICROPY_DIR): virtual boards run the 64-bit PyPI interpreter"; \
	else for board in $(VIRTUAL_BOARDS); do \
		$(BIN)/ember -q firmware build --virtual --board $$board >/dev/null || exit 1; \
	done; \
	if command -v qemu-system-arm >/dev/null && command -v arm-none-eabi-gcc >/dev/null; then \
		$(BIN)/ember -q firmware build --board $(QEMU_BOARD) >/dev/null || exit 1; \
	fi; fi

demo: virtual-firmware
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

# A C stream (examples/native_stream): built for a virtual rp2-pico by `ember push`, run.
native-example: virtual-firmware
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/native_stream/run.sh

# Device code (MicroPython) gets the checks that hold there too: undefined names, unused
# imports, syntax. Manifests take their names from MicroPython's manifest tool.
DEVICE_LINT = $(BIN)/ruff check --isolated --select F,E9 --extend-exclude '*manifest*.py' \
	firmware boards tests/device examples

test: virtual-firmware
	$(BIN)/ruff check .
	$(DEVICE_LINT)
	$(BIN)/pytest -n 2 tests
	@echo "the device tests again with ember's native module (_ember: C Pipe and Signal)"
	$(BIN)/pytest -n 2 --ember-native tests/device
	@if command -v qemu-system-arm >/dev/null && command -v arm-none-eabi-gcc >/dev/null; then \
		echo "the same tests on the bare-metal board: $(QEMU_BOARD)"; \
		$(BIN)/pytest -n 2 --ember-board $(QEMU_BOARD) $(QEMU_TESTS); \
	elif [ -n "$$CI" ]; then \
		echo "ember: CI must run the $(QEMU_BOARD) board: $(QEMU_DEB_PACKAGES) missing"; exit 1; \
	else \
		echo "ember: $(QEMU_BOARD) tests skipped: sudo apt-get install $(QEMU_DEB_PACKAGES)"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(DEVICE_LINT)

bench: virtual-firmware
	$(BIN)/ember bench firmware --json
	$(BIN)/ember bench loop --json
	$(BIN)/ember bench push --json
	$(BIN)/ember bench faults --json

# MicroPython with the runtime frozen in, for a board's real port or its virtual target:
#   make firmware BOARD=rp2-pico MICROPY_DIR=~/src/micropython [VIRTUAL=1]
firmware: $(STAMP)
	$(BIN)/ember firmware build --board "$(BOARD)" $(if $(VIRTUAL),--virtual)

clean:
	rm -rf $(VENV) build .pytest_cache
