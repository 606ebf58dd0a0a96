# ember's C module for the qemu-mps2-an385 board (a USER_C_MODULES folder): the board's
# main (flash mounted, boot.py and main.py run, as on a real port), its flash as a block
# device, a UART receive interrupt (Ctrl-C interrupts running code, the CPU sleeps while it
# waits) and a hard reset. host_tools/install/qemu_firmware.py builds it into the qemu
# port's MPS2_AN385 firmware.
EMBER_QEMU_DIR := $(USERMOD_DIR)

SRC_USERMOD_C += $(EMBER_QEMU_DIR)/board_main.c
SRC_USERMOD_C += $(EMBER_QEMU_DIR)/board_flash.c
SRC_USERMOD_C += $(EMBER_QEMU_DIR)/board_uart.c

# The port's own main, console input and exit give way to ember's (board_*.c says why):
# a --wrap'd name is called wherever another object file calls it.
LDFLAGS_USERMOD += -Wl,--wrap=main -Wl,--wrap=exit -Wl,--wrap=mp_semihosting_init
LDFLAGS_USERMOD += -Wl,--wrap=mp_hal_stdin_rx_chr -Wl,--wrap=mp_hal_stdio_poll
SRC_USERMOD_C += $(EMBER_QEMU_DIR)/board_hal.c
LDFLAGS_USERMOD += -Wl,--wrap=mp_hal_delay_ms
# Waiting for an event (select.poll, the scheduler) sleeps until the next interrupt.
CFLAGS_USERMOD += '-DMICROPY_INTERNAL_WFE(TIMEOUT_MS)=__asm__ volatile ("wfi")'
# A board's time module: time(), localtime(), gmtime(), mktime() on the board's clock.
CFLAGS_USERMOD += -DMICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME=1 -DMICROPY_PY_TIME_TIME_TIME_NS=1
CFLAGS_USERMOD += '-DMICROPY_PY_TIME_INCLUDEFILE="$(EMBER_QEMU_DIR)/board_time.h"'
SRC_USERMOD_LIB_C += shared/timeutils/timeutils.c
# machine.UART(1): the board's second UART (board_machine_uart.c).
CFLAGS_USERMOD += -DMICROPY_PY_MACHINE_UART=1
CFLAGS_USERMOD += '-DMICROPY_PY_MACHINE_UART_INCLUDEFILE="$(EMBER_QEMU_DIR)/board_machine_uart.c"'
# machine.Timer: MicroPython's soft timers off the 1 ms SysTick (board_timer.c). The soft
# timers' critical sections mask interrupts (PRIMASK saved and restored).
SRC_USERMOD_C += $(EMBER_QEMU_DIR)/board_timer.c
SRC_USERMOD_LIB_C += shared/runtime/softtimer.c shared/runtime/mpirq.c
CFLAGS_USERMOD += -DMICROPY_PY_MACHINE_TIMER=1
CFLAGS_USERMOD += '-DMICROPY_PY_MACHINE_EXTRA_GLOBALS={ MP_ROM_QSTR(MP_QSTR_Timer), MP_ROM_PTR(&machine_timer_type) },'
CFLAGS_USERMOD += '-DMICROPY_PY_PENDSV_ENTER=uint32_t ember_primask; __asm__ volatile ("mrs %0, primask; cpsid i" : "=r" (ember_primask))'
CFLAGS_USERMOD += '-DMICROPY_PY_PENDSV_EXIT=__asm__ volatile ("msr primask, %0" : : "r" (ember_primask))'
LDFLAGS_USERMOD += -Wl,--wrap=gc_collect_end
