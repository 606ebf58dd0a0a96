# irqring as a user C module (MicroPython's USER_C_MODULES): linked into the firmware by
# `ember firmware build --c-module <this folder>`. The Makefile beside it builds the same
# source as a native .mpy instead.
IRQRING_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(IRQRING_MOD_DIR)/irqring.c
