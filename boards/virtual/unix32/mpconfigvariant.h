// ember's virtual board: feature level and settings read before the unix port's own.
// ember_config.h (MP_CONFIGFILE) then overrides what the unix port sets unconditionally.

// A microcontroller port's feature level (rp2, esp32, stm32 use EXTRA_FEATURES); a profile
// may lower it with -DMICROPY_CONFIG_ROM_LEVEL=... in CFLAGS_EXTRA.
#ifndef MICROPY_CONFIG_ROM_LEVEL
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#endif

// sys.path as on a board: frozen code first, then /lib (set by the frozen boot module).
#define MICROPY_PY_SYS_PATH_DEFAULT ".frozen"

// As on every board ember serves: single-precision float, mpz long ints.
#ifndef MICROPY_FLOAT_IMPL
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#endif
#ifndef MICROPY_LONGINT_IMPL
#define MICROPY_LONGINT_IMPL (MICROPY_LONGINT_IMPL_MPZ)
#endif

// Exceptions can still be reported when the heap is full, and .mpy files load.
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE (256)
#define MICROPY_PERSISTENT_CODE_LOAD (1)
#define MICROPY_PY_GC_COLLECT_RETVAL (1)
#define MICROPY_MEM_STATS (1)
#define MICROPY_DEBUG_PRINTERS (1)  // `micropython -v` only: to stderr, never the console
#define MICROPY_MALLOC_USES_ALLOCATED_SIZE (1)
#define MICROPY_OPT_COMPUTED_GOTO (1)
#ifndef MICROPY_ERROR_REPORTING
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)
#endif
#define MICROPY_REPL_EMACS_WORDS_MOVE (1)
#define MICROPY_USE_READLINE_HISTORY (0)

// Every port ember serves has a scheduler (micropython.schedule, pin and timer callbacks),
// and ember's firmware needs select.poll, which even the BASIC_FEATURES level keeps here.
#define MICROPY_ENABLE_SCHEDULER (1)
#define MICROPY_PY_SELECT (1)

// What every port ember serves has at any feature level (the SAMD21's BASIC_FEATURES board
// turns each of these on in ports/samd/mcu/samd21/mpconfigmcu.h).
#define MICROPY_KBD_EXCEPTION (1)
#define MICROPY_HELPER_REPL (1)
#define MICROPY_REPL_AUTO_INDENT (1)
#define MICROPY_ENABLE_SOURCE_LINE (1)
#define MICROPY_STREAMS_NON_BLOCK (1)
#define MICROPY_MODULE_BUILTIN_INIT (1)
#define MICROPY_PY_BUILTINS_HELP (1)
#define MICROPY_PY_BUILTINS_HELP_MODULES (1)
#define MICROPY_PY_BUILTINS_BYTES_HEX (1)
#define MICROPY_PY_BUILTINS_MEMORYVIEW (1)
#define MICROPY_PY_BUILTINS_INPUT (1)
#define MICROPY_PY_MICROPYTHON_MEM_INFO (1)
#define MICROPY_PY_ARRAY_SLICE_ASSIGN (1)
#define MICROPY_PY_SYS_MAXSIZE (1)
#define MICROPY_PY_IO_IOBASE (1)
#define MICROPY_PY_OS (1)
#define MICROPY_PY_OS_UNAME (1)  // sysname: sys.platform; machine: board and MCU names
#ifndef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME "ember virtual board"
#endif
#define MICROPY_HW_MCU_NAME "unix32"
#define MICROPY_PY_JSON (1)
#define MICROPY_PY_RE (1)
#define MICROPY_PY_BINASCII (1)
#define MICROPY_PY_UCTYPES (1)
#define MICROPY_PY_HEAPQ (1)
#define MICROPY_PY_RANDOM (1)
#define MICROPY_PY_PLATFORM (1)

// The unix time module (sleep, ticks, localtime); select.poll on descriptors.
#define MICROPY_PY_TIME (1)
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#define MICROPY_PY_TIME_CUSTOM_SLEEP (1)
#define MICROPY_PY_TIME_INCLUDEFILE "ports/unix/modtime.c"
#define MICROPY_PY_SELECT_POSIX_OPTIMISATIONS (1)
#define MICROPY_PY_SELECT_SELECT (0)
#define MICROPY_PY_OS_URANDOM (0)

// A board's machine module (boards/virtual/unix32/inc/machine.c), in firmware, not heap.
#define MICROPY_PY_MACHINE (1)
#define MICROPY_PY_MACHINE_MEMX (0)  // the unix port maps /dev/mem: host memory
#define MICROPY_PY_MACHINE_RESET (1)
#define MICROPY_PY_MACHINE_BARE_METAL_FUNCS (1)
#define MICROPY_PY_MACHINE_PIN_BASE (1)
#define MICROPY_PY_MACHINE_PULSE (0)
#define MICROPY_PY_MACHINE_UART (1)
#define MICROPY_PY_MACHINE_UART_INCLUDEFILE "inc/machine_uart.c"
#define MICROPY_PY_MACHINE_UART_READCHAR_WRITECHAR (1)
#define MICROPY_PY_MACHINE_DISABLE_IRQ_ENABLE_IRQ (0)  // machine.c has its own

// A board's stdio objects (board_hal.c: text cooked, .buffer raw).
#define MICROPY_PY_SYS_STDFILES (1)
#define MICROPY_PY_SYS_STDIO_BUFFER (1)

// A board has littlefs on its flash (MICROPY_VFS_LFS2, the unix port's default) and a
// ROMFS; not the host's filesystem.
#define MICROPY_VFS_ROM (1)
#define MICROPY_VFS_ROM_IOCTL (0)

// No TLS library in this build (socket and ssl are the host's network): hashlib keeps its
// built-in sha256, as most boards without networking have.
#define MICROPY_PY_CRYPTOLIB (0)
#define MICROPY_PY_HASHLIB_MD5 (0)
#define MICROPY_PY_HASHLIB_SHA1 (0)
