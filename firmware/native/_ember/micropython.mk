# _ember as a user C module, linked into a firmware (ember firmware build --c-module).
EMBER_NATIVE_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(EMBER_NATIVE_DIR)/_ember.c
