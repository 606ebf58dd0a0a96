// ember's virtual board: the parts of a microcontroller port's HAL the unix port lacks.
//
// Written for ember (not copied): the unix port reads its console with \n turned into \r and
// writes text unchanged, counting on a terminal to add \r. A board does neither: bytes from
// the host reach the REPL as sent, and text output ends lines in \r\n. The linker's --wrap
// (mpconfigvariant.mk) sends the unix HAL's two functions here. sys.stdin/stdout/stderr are
// a board's, so text is cooked and .buffer is raw.
//
// Also the `_vboard` module: the flash chip, a block device over the descriptor the
// supervisor opened on the board's flash image (EMBER_SIM_FLASH_FD), so no path of the host
// is ever named from inside the interpreter.
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "py/mphal.h"
#include "py/runtime.h"
#include "py/reader.h"
#include "py/stream.h"
#include "extmod/vfs.h"

// The GC heap at a low address, as on a board (RAM at 0x20000000 on Arm, 0x3FFxxxxx on the
// ESP8266/ESP32): the unix port mallocs it, and glibc would mmap a heap of this size near
// the top of a 32-bit address space. There an object's address is a negative int, so
// id(obj), and select.poll's table that is keyed by it, make a long int at every call:
// heap a board never spends. Below the mmap threshold malloc takes it from the program
// break, just above the image. Runs before main().
__attribute__((constructor)) static void board_heap_low(void) {
    mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);  // glibc's most on a 32-bit build
}

// ---------------------------------------------------------------------------------------
// sys.stdin, sys.stdout, sys.stderr: a board's (as shared/runtime/sys_stdio_mphal.c makes
// them: text reads turn \r into \n, text writes are cooked, .buffer is raw both ways) that
// also name their descriptor, so select.poll waits on the console itself rather than
// polling it every millisecond: the same answers a board gives, at a host's cost.
typedef struct _board_stdio_obj_t {
    mp_obj_base_t base;
    int fd;
} board_stdio_obj_t;

static mp_uint_t board_stdio_read(mp_obj_t self_in, void *buf, mp_uint_t size, int *errcode,
    bool text) {
    board_stdio_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->fd != STDIN_FILENO) {
        *errcode = MP_EPERM;
        return MP_STREAM_ERROR;
    }
    for (mp_uint_t i = 0; i < size; i++) {
        int c = mp_hal_stdin_rx_chr();
        ((byte *)buf)[i] = text && c == '\r' ? '\n' : c;
    }
    return size;
}

static mp_uint_t board_stdio_write(mp_obj_t self_in, const void *buf, mp_uint_t size,
    int *errcode, bool text) {
    board_stdio_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->fd == STDIN_FILENO) {
        *errcode = MP_EPERM;
        return MP_STREAM_ERROR;
    }
    if (text) {
        mp_hal_stdout_tx_strn_cooked(buf, size);
    } else {
        mp_hal_stdout_tx_strn(buf, size);
    }
    return size;
}

static mp_uint_t board_stdio_text_read(mp_obj_t self, void *buf, mp_uint_t size, int *errcode) {
    return board_stdio_read(self, buf, size, errcode, true);
}
static mp_uint_t board_stdio_text_write(mp_obj_t self, const void *buf, mp_uint_t size, int *errcode) {
    return board_stdio_write(self, buf, size, errcode, true);
}
static mp_uint_t board_stdio_raw_read(mp_obj_t self, void *buf, mp_uint_t size, int *errcode) {
    return board_stdio_read(self, buf, size, errcode, false);
}
static mp_uint_t board_stdio_raw_write(mp_obj_t self, const void *buf, mp_uint_t size, int *errcode) {
    return board_stdio_write(self, buf, size, errcode, false);
}

static mp_uint_t board_stdio_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    board_stdio_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (request) {
        case MP_STREAM_POLL: {
            struct pollfd pfd = { .fd = self->fd, .events = 0 };
            pfd.events |= (arg & MP_STREAM_POLL_RD) ? POLLIN : 0;
            pfd.events |= (arg & MP_STREAM_POLL_WR) ? POLLOUT : 0;
            mp_uint_t ret = 0;
            if (poll(&pfd, 1, 0) > 0) {
                ret |= (pfd.revents & POLLIN) ? MP_STREAM_POLL_RD : 0;
                ret |= (pfd.revents & POLLOUT) ? MP_STREAM_POLL_WR : 0;
            }
            return ret & arg;
        }
        case MP_STREAM_GET_FILENO:
            return self->fd;
        case MP_STREAM_CLOSE:
        case MP_STREAM_FLUSH:
            return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static void board_stdio_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    board_stdio_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "<io.%s %d>", mp_obj_get_type_str(self_in), self->fd);
}

static const mp_stream_p_t board_stdio_raw_p = {
    .read = board_stdio_raw_read,
    .write = board_stdio_raw_write,
    .ioctl = board_stdio_ioctl,
    .is_text = false,
};

static const mp_rom_map_elem_t board_stdio_buffer_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj) },
};
static MP_DEFINE_CONST_DICT(board_stdio_buffer_locals, board_stdio_buffer_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    board_stdio_buffer_type, MP_QSTR_FileIO, MP_TYPE_FLAG_ITER_IS_STREAM,
    print, board_stdio_print,
    protocol, &board_stdio_raw_p,
    locals_dict, &board_stdio_buffer_locals);

static const board_stdio_obj_t board_stdin_buffer = {{&board_stdio_buffer_type}, STDIN_FILENO};
static const board_stdio_obj_t board_stdout_buffer = {{&board_stdio_buffer_type}, STDOUT_FILENO};

static mp_obj_t board_stdio_buffer_attr(mp_obj_t self_in) {
    board_stdio_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_FROM_PTR(self->fd == STDIN_FILENO ? &board_stdin_buffer : &board_stdout_buffer);
}

static void board_stdio_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest);

static const mp_stream_p_t board_stdio_text_p = {
    .read = board_stdio_text_read,
    .write = board_stdio_text_write,
    .ioctl = board_stdio_ioctl,
    .is_text = true,
};

static const mp_rom_map_elem_t board_stdio_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj)},
    { MP_ROM_QSTR(MP_QSTR_readlines), MP_ROM_PTR(&mp_stream_unbuffered_readlines_obj)},
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_flush), MP_ROM_PTR(&mp_stream_flush_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mp_identity_obj) },
    { MP_ROM_QSTR(MP_QSTR___enter__), MP_ROM_PTR(&mp_identity_obj) },
    { MP_ROM_QSTR(MP_QSTR___exit__), MP_ROM_PTR(&mp_stream___exit___obj) },
};
static MP_DEFINE_CONST_DICT(board_stdio_locals, board_stdio_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    board_stdio_type, MP_QSTR_TextIOWrapper, MP_TYPE_FLAG_ITER_IS_STREAM,
    print, board_stdio_print,
    attr, board_stdio_attr,
    protocol, &board_stdio_text_p,
    locals_dict, &board_stdio_locals);

// `.buffer` as an attribute, the rest from the locals table.
static void board_stdio_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] == MP_OBJ_NULL && attr == MP_QSTR_buffer) {
        dest[0] = board_stdio_buffer_attr(self_in);
        return;
    }
    dest[1] = MP_OBJ_SENTINEL;  // not handled here: look in locals_dict
}

const board_stdio_obj_t mp_sys_stdin_obj = {{&board_stdio_type}, STDIN_FILENO};
const board_stdio_obj_t mp_sys_stdout_obj = {{&board_stdio_type}, STDOUT_FILENO};
const board_stdio_obj_t mp_sys_stderr_obj = {{&board_stdio_type}, STDERR_FILENO};

// The unix REPL sets its terminal modes with TCSAFLUSH as it starts and as it ends, which
// throws away what the host has typed and the REPL not yet read. A board's UART keeps it
// (a host types the next command while the board soft-resets after SystemExit): here the
// modes change once the output is drained, and unread input stays.
int __real_tcsetattr(int fd, int action, const struct termios *attrs);
int __wrap_tcsetattr(int fd, int action, const struct termios *attrs) {
    return __real_tcsetattr(fd, action == TCSAFLUSH ? TCSADRAIN : action, attrs);
}

// ---------------------------------------------------------------------------------------
// The status pipe (EMBER_SIM_STATUS_FD): what the supervisor must know of the interpreter
// and cannot see from outside without Linux's /proc, told by the firmware itself.
//
//   "w<bytes> <interrupts>\n"  about to block reading the console: <bytes> read from it so
//                              far, <interrupts> Ctrl-C signals taken so far. The supervisor
//                              counts what it wrote and the SIGINTs it sent; when both
//                              match, the interpreter waits with nothing unread, for input
//                              that has not come (a stale report can never match).
//   "k1\n" / "k0\n"            SIGINT is caught (micropython.kbd_intr(3) in force) / not.
//
// Only the supervisor holds the read end, and only this process the write end, so the pipe
// also tells the supervisor when the firmware has exited (end of file), on any POSIX system.
// Hooks, all by the linker's --wrap (mpconfigvariant.mk), none a change to MicroPython:
// every console read goes through mp_hal_stdin_rx_chr (readline, both REPLs, sys.stdin),
// every change of the interrupt character through mp_hal_set_interrupt_char, and the
// unix port's SIGINT handler schedules the KeyboardInterrupt with mp_sched_keyboard_interrupt.
static int vboard_status_fd = -2;  // -2: not looked up yet; -1: none (run by hand)
static uint32_t vboard_console_bytes;  // bytes read from the console since the start
static volatile sig_atomic_t vboard_interrupts;  // SIGINTs taken (counted in the handler)

static void vboard_status(const char *report, size_t len) {
    if (vboard_status_fd == -2) {
        const char *value = getenv("EMBER_SIM_STATUS_FD");
        vboard_status_fd = value && *value ? (int)strtol(value, NULL, 10) : -1;
    }
    if (vboard_status_fd >= 0) {
        // Under PIPE_BUF: one write, never interleaved. Blocking: the supervisor reads it
        // at every turn of its loop, so the firmware never waits long here.
        ssize_t ret;
        do {
            ret = write(vboard_status_fd, report, len);
        } while (ret < 0 && errno == EINTR);
    }
}

void __real_mp_sched_keyboard_interrupt(void);
void __wrap_mp_sched_keyboard_interrupt(void) {
    vboard_interrupts++;  // in the SIGINT handler: nothing but the count here
    __real_mp_sched_keyboard_interrupt();
}

void __real_mp_hal_set_interrupt_char(char c);
void __wrap_mp_hal_set_interrupt_char(char c) {
    static int reported = -1;
    int caught = c == CHAR_CTRL_C;
    if (!caught && reported != 0) {
        vboard_status("k0\n", 3);  // told before the handler goes: a SIGINT sent on the
        reported = 0;              // old news then finds it still there, not a dead default
    }
    __real_mp_hal_set_interrupt_char(c);
    if (caught && reported != 1) {
        vboard_status("k1\n", 3);  // told once the handler is in place
        reported = 1;
    }
}

int __wrap_mp_hal_stdin_rx_chr(void) {
    unsigned char c;
    ssize_t ret;
    for (;;) {
        struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
        if (poll(&pfd, 1, 0) == 0) {  // nothing to read: this read blocks, say so first
            char report[32];
            int len = snprintf(report, sizeof(report), "w%lu %lu\n",
                (unsigned long)vboard_console_bytes, (unsigned long)vboard_interrupts);
            vboard_status(report, len);
        }
        ret = read(STDIN_FILENO, &c, 1);
        if (ret < 0 && errno == EINTR) {
            mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_EXCEPTIONS);  // may raise
            continue;
        }
        break;
    }
    if (ret == 1) {
        vboard_console_bytes++;
        return c;
    }
    return CHAR_CTRL_D;  // the host end closed: as a Ctrl-D, like the unix HAL
}

void __wrap_mp_hal_stdout_tx_strn_cooked(const char *str, size_t len) {
    const char *end = str + len;
    while (str < end) {
        const char *newline = memchr(str, '\n', end - str);
        if (newline == NULL) {
            mp_hal_stdout_tx_strn(str, end - str);
            return;
        }
        if (newline > str) {
            mp_hal_stdout_tx_strn(str, newline - str);
        }
        mp_hal_stdout_tx_strn("\r\n", 2);
        str = newline + 1;
    }
}

// The unix port reads a script from stdin when stdin is not a terminal (main.c); the
// console here is always one, and with no POSIX file reader built that path has nothing to
// read through: it fails as a board would fail to open a host file.
void mp_reader_new_file_from_fd(mp_reader_t *reader, int fd, bool close_fd) {
    mp_raise_OSError(MP_ENOENT);
}

// Interrupts on this board are signals: SIGINT (Ctrl-C) and the machine.Timer signal.
#define VBOARD_TIMER_SIGNAL (SIGRTMIN + 1)

unsigned int vboard_irq_save(void) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, VBOARD_TIMER_SIGNAL);
    sigprocmask(SIG_BLOCK, &set, &old);
    return sigismember(&old, VBOARD_TIMER_SIGNAL) ? 0 : 1;  // 1: they were enabled
}

void vboard_irq_restore(unsigned int state) {
    if (state) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, VBOARD_TIMER_SIGNAL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    }
}

// A whole number from the supervisor's environment, or `otherwise`.
mp_int_t vboard_setting(const char *name, mp_int_t otherwise) {
    const char *value = getenv(name);
    return value && *value ? strtol(value, NULL, 0) : otherwise;
}

// ---------------------------------------------------------------------------------------
// _vboard.Flash(): the board's flash chip, the block protocol vfs.VfsLfs2 mounts.
typedef struct _vboard_flash_obj_t {
    mp_obj_base_t base;
    int fd;
    uint32_t block_size;
    uint32_t block_count;
} vboard_flash_obj_t;

static const mp_obj_type_t vboard_flash_type;

static mp_obj_t vboard_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    int fd = vboard_setting("EMBER_SIM_FLASH_FD", -1);
    off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    if (size <= 0) {
        mp_raise_OSError(MP_ENODEV);
    }
    vboard_flash_obj_t *self = mp_obj_malloc(vboard_flash_obj_t, type);
    self->fd = fd;
    self->block_size = vboard_setting("EMBER_SIM_BLOCK_SIZE", 4096);
    self->block_count = size / self->block_size;
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t vboard_flash_transfer(size_t n_args, const mp_obj_t *args, bool write) {
    vboard_flash_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_uint_t block = mp_obj_get_int(args[1]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, write ? MP_BUFFER_READ : MP_BUFFER_WRITE);
    mp_uint_t offset = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    uint64_t start = (uint64_t)block * self->block_size + offset;
    if (start + buf.len > (uint64_t)self->block_count * self->block_size) {
        mp_raise_OSError(MP_EIO);
    }
    size_t done = 0;
    while (done < buf.len) {
        ssize_t n = write
            ? pwrite(self->fd, (const byte *)buf.buf + done, buf.len - done, start + done)
            : pread(self->fd, (byte *)buf.buf + done, buf.len - done, start + done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            mp_raise_OSError(MP_EIO);
        }
        done += n;
    }
    return MP_OBJ_NEW_SMALL_INT(0);
}

static mp_obj_t vboard_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    return vboard_flash_transfer(n_args, args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(vboard_flash_readblocks_obj, 3, 4,
    vboard_flash_readblocks);

static mp_obj_t vboard_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    return vboard_flash_transfer(n_args, args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(vboard_flash_writeblocks_obj, 3, 4,
    vboard_flash_writeblocks);

static mp_obj_t vboard_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    vboard_flash_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(self->block_count);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(self->block_size);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE: {
            // An erased block reads 0xFF, as a NOR flash sector does. No block past the
            // chip's last: the image never grows.
            mp_int_t block = mp_obj_get_int(arg_in);
            if (block < 0 || (mp_uint_t)block >= self->block_count) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
            }
            uint64_t start = (uint64_t)block * self->block_size;
            byte erased[256];
            memset(erased, 0xff, sizeof(erased));
            for (uint32_t done = 0; done < self->block_size; done += sizeof(erased)) {
                if (pwrite(self->fd, erased, sizeof(erased), start + done) != sizeof(erased)) {
                    return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
                }
            }
            return MP_OBJ_NEW_SMALL_INT(0);
        }
        default:
            return MP_OBJ_NEW_SMALL_INT(0);  // init, deinit, sync: every write is already out
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(vboard_flash_ioctl_obj, vboard_flash_ioctl);

static const mp_rom_map_elem_t vboard_flash_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&vboard_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&vboard_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&vboard_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(vboard_flash_locals, vboard_flash_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    vboard_flash_type, MP_QSTR_Flash, MP_TYPE_FLAG_NONE,
    make_new, vboard_flash_make_new,
    locals_dict, &vboard_flash_locals);

// _vboard.boot(): (run main.py?, stay in the raw REPL?) for this start, from the supervisor.
// Called once the flash is mounted (and the supervisor told so): it waits for the
// supervisor's go byte on EMBER_SIM_BOOT_FD. The supervisor sends, before that byte, the
// SIGINT of a Ctrl-C the host typed while the board booted, so the signal is always handled
// here, before boot.py and main.py, as a board's UART interrupt sees a Ctrl-C the moment it
// comes. Without this a short main.py (no loop: no pending-exception check) could finish,
// and reset the board, before the signal landed.
static mp_obj_t vboard_boot(void) {
    int go_fd = vboard_setting("EMBER_SIM_BOOT_FD", -1);
    if (go_fd >= 0) {
        char go;
        while (read(go_fd, &go, 1) < 0 && errno == EINTR) {
        }
        close(go_fd);
        mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_EXCEPTIONS);
    }
    mp_obj_t items[2] = {
        mp_obj_new_bool(vboard_setting("EMBER_SIM_MAIN", 1)),
        mp_obj_new_bool(vboard_setting("EMBER_SIM_RAW", 0)),
    };
    return mp_obj_new_tuple(2, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(vboard_boot_obj, vboard_boot);

static const mp_rom_map_elem_t vboard_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__vboard) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&vboard_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_boot), MP_ROM_PTR(&vboard_boot_obj) },
};
static MP_DEFINE_CONST_DICT(vboard_module_globals, vboard_module_globals_table);

const mp_obj_module_t mp_module_vboard = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&vboard_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__vboard, mp_module_vboard);
