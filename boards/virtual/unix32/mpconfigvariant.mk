# ember's virtual board firmware: MicroPython's unix port built 32-bit and shaped like a
# microcontroller port. Used as VARIANT_DIR by host_tools/firmware_build.py, which adds the
# profile's cuts (CFLAGS_EXTRA) and CC="gcc -m32".
#
# Left out, each because a real board has no such thing and a test could trip on it:
# - ffi: calls into the host's C library (libc's open, system, ...);
# - termios: the host's terminal settings;
# - socket and ssl: the host's network (a profile with networking turns socket back on);
# - btree: the stock ESP8266 build cuts it too, and ember never uses it;
# - threads: a board's _thread is not the host's pthreads, and the firmware's machine module
#   relies on one thread to make disable_irq() a real critical section.
MICROPY_PY_FFI = 0
MICROPY_PY_TERMIOS = 0
MICROPY_PY_SOCKET = 0
MICROPY_PY_SSL = 0
MICROPY_SSL_AXTLS = 0
MICROPY_SSL_MBEDTLS = 0
MICROPY_PY_BTREE = 0
MICROPY_PY_THREAD = 0
MICROPY_USE_READLINE = 1

# The board's own settings (ember_config.h) override the unix port's after it is read.
CFLAGS += -DMP_CONFIGFILE='"ember_config.h"'

# Bytes from the host pass to the REPL unchanged, and text output ends lines in \r\n, as
# every bare-metal port's HAL does: board_hal.c wraps the unix HAL's two functions that differ.
LDFLAGS_EXTRA += -Wl,--wrap=mp_hal_stdin_rx_chr -Wl,--wrap=mp_hal_stdout_tx_strn_cooked
# ... and tell the supervisor, on the status pipe, when the REPL waits for input and whether
# SIGINT is caught (board_hal.c): what it would otherwise read from Linux's /proc.
LDFLAGS_EXTRA += -Wl,--wrap=mp_hal_set_interrupt_char -Wl,--wrap=mp_sched_keyboard_interrupt
# ... and typed input survives the REPL's terminal set-up, as in a board's UART buffer.
LDFLAGS_EXTRA += -Wl,--wrap=tcsetattr
# Static, so the supervisor can run it in an empty root where the machine allows.
LDFLAGS_EXTRA += -static

# FROZEN_MANIFEST: written per build by host_tools/virtual_firmware.py (manifest_boot.py,
# asyncio where the port freezes it, the ember runtime).
