# ember: every target sets itself up, so on a fresh machine `make demo` and `make test`
# are all a user types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FARM_STAMP := $(VENV)/.farm-installed

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

# make farm-test: a local labgrid farm of FARM_BOARDS virtual boards, the suite across its
# places (one per worker). tests/hil's tests that start their own virtual boards skip there.
FARM_BOARDS := 2
FARM_BOARD := rp2-pico
FARM_TESTS := tests/device tests/hil
FARM_DEB_PACKAGES := ser2net

.PHONY: setup toolchain virtual-firmware demo native-example test lint bench clean firmware \
	farm-deps farm-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# labgrid (the `farm` extra) in the venv, and ser2net: as root installed, else named.
$(FARM_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,farm]'
	touch $(FARM_STAMP)

farm-deps: $(FARM_STAMP)
	@if command -v ser2net >/dev/null || [ -x /usr/sbin/ser2net ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(FARM_DEB_PACKAGES) for the farm's RFC 2217 ports"; \
		(apt-get install -y -q $(FARM_DEB_PACKAGES) || (apt-get update -q && apt-get install -y -q $(FARM_DEB_PACKAGES))) >/dev/null; \
	else \
		echo "ember: the farm needs $(FARM_DEB_PACKAGES) (sudo apt-get install $(FARM_DEB_PACKAGES))"; exit 1; \
	fi

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

# In CI the farm's tests (tests/farm) must run: the set-up installs labgrid and ser2net
# there; elsewhere they skip, saying why, when either is missing.
test: virtual-firmware $(if $(CI),farm-deps)
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

# Brings the farm up in a folder of its own, runs the suite on its places with one worker
# per place, brings it down whatever happens (a trap: failure, Ctrl-C, TERM).
farm-test: virtual-firmware farm-deps
	@farm_dir=$$(mktemp -d -t ember-farm-XXXXXX); export EMBER_FARM_DIR=$$farm_dir; \
	trap '$(BIN)/ember -q farm down; rm -rf "$$farm_dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	start=$$(date +%s%N); \
	coordinator=$$($(BIN)/ember farm up --boards $(FARM_BOARDS) --board $(FARM_BOARD)) || exit 1; \
	echo "farm up in $$(( ($$(date +%s%N) - start) / 1000000 )) ms"; \
	eval "$$coordinator"; echo "$$coordinator"; \
	$(BIN)/pytest -n $(FARM_BOARDS) --ember-labgrid 'farm-*' $(FARM_TESTS)

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
