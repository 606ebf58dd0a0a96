// ember's main for the qemu-mps2-an385 board, in place of the qemu port's own (linked with
// --wrap=main: the port's startup calls this). The port's main runs a bare REPL; a board's
// firmware also mounts its flash and runs boot.py then main.py at every (soft) reset, which
// is what this does, in the order MicroPython's bare-metal ports use. The heap is
// MICROPY_HEAP_SIZE bytes, which ember's build sets from the board profile.
//
// Reset: the port's machine.reset() and fatal errors call exit(), a semihosting call that
// ends QEMU. ember runs QEMU without semihosting (so no program on the board reaches a host
// file), and a board resets instead: exit() becomes a system reset request (AIRCR
// SYSRESETREQ), on which QEMU restarts the machine in place, flash kept.

#include <stdint.h>

#include "py/gc.h"
#include "py/mperrno.h"
#include "py/runtime.h"
#include "py/cstack.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"
#include "shared/runtime/softtimer.h"

#include "board.h"

#if MICROPY_HEAP_SIZE <= 0
#error MICROPY_HEAP_SIZE must be a positive integer.
#endif

static uint32_t ember_heap[MICROPY_HEAP_SIZE / sizeof(uint32_t)];

MP_NORETURN void __wrap_exit(int status) {
    (void)status;
    __asm volatile ("dsb");
    EMBER_SCB_AIRCR = 0x05FA0004u; // VECTKEY | SYSRESETREQ
    __asm volatile ("dsb");
    for (;;) {
        __asm volatile ("wfi");
    }
}

// The port's start-up opens the semihosting console; without semihosting that call would
// fault, and the console is the UART anyway.
void __wrap_mp_semihosting_init(void) {
}

// Runs a frozen or flash script at boot; true when it asked for a soft reset (sys.exit()).
static bool ember_run_boot_file(int (*run)(const char *), const char *name) {
    int ret = run(name);
    return (ret & PYEXEC_FORCED_EXIT) != 0;
}

static int ember_run_frozen(const char *name) {
    return pyexec_frozen_module(name, false);
}

int __wrap_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    mp_cstack_init_with_sp_here(10240);
    gc_init(ember_heap, (char *)ember_heap + sizeof(ember_heap));
    ember_uart_init();
    ember_timer_init();

    for (;;) {
        mp_init();
        readline_init0();

        // _boot (boards/qemu/frozen/_boot.py) mounts the flash at / and sets sys.path.
        bool stop = ember_run_boot_file(ember_run_frozen, "_boot.py");
        if (!stop) {
            stop = ember_run_boot_file(pyexec_file_if_exists, "boot.py");
        }
        if (!stop && pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
            stop = ember_run_boot_file(pyexec_file_if_exists, "main.py");
        }

        if (!stop) {
            for (;;) {
                if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL) {
                    if (pyexec_raw_repl() != 0) {
                        break;
                    }
                } else {
                    if (pyexec_friendly_repl() != 0) {
                        break;
                    }
                }
            }
        }

        mp_printf(&mp_plat_print, "MPY: soft reboot\n");
        soft_timer_deinit();  // the timers in the heap go with it
        gc_sweep_all();
        mp_deinit();
    }
}
