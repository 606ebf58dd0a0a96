// ember's virtual board: machine.UART's port part, included by extmod/machine_uart.c
// (MICROPY_PY_MACHINE_UART_INCLUDEFILE). Written for ember: UART n is the pseudo-terminal
// the supervisor opened and passed in as descriptor EMBER_SIM_UART<n>_FD; the supervisor
// relays its other end to the host-side port that a loopback test opens. select.poll waits
// on the descriptor itself (MP_STREAM_GET_FILENO), as on the unix port's own streams.
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

mp_int_t vboard_setting(const char *name, mp_int_t otherwise);

#define MICROPY_PY_MACHINE_UART_CLASS_CONSTANTS

typedef struct _machine_uart_obj_t {
    mp_obj_base_t base;
    int8_t id;
    int fd;
    uint32_t baudrate;
    uint16_t timeout;  // ms to wait for the first byte
    uint16_t timeout_char;  // ms to wait for each further byte
} machine_uart_obj_t;

static void mp_machine_uart_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "UART(%u, baudrate=%u, timeout=%u, timeout_char=%u)",
        self->id, self->baudrate, self->timeout, self->timeout_char);
}

static void mp_machine_uart_init_helper(machine_uart_obj_t *self, size_t n_args,
    const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_baudrate, ARG_bits, ARG_parity, ARG_stop, ARG_tx, ARG_rx, ARG_timeout,
           ARG_timeout_char, ARG_rxbuf, ARG_txbuf };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_baudrate, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_bits, MP_ARG_INT, {.u_int = 8} },
        { MP_QSTR_parity, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_stop, MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_tx, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_rx, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_timeout_char, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_rxbuf, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_txbuf, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (args[ARG_baudrate].u_int > 0) {
        self->baudrate = args[ARG_baudrate].u_int;
    }
    if (args[ARG_timeout].u_int >= 0) {
        self->timeout = args[ARG_timeout].u_int;
    }
    if (args[ARG_timeout_char].u_int >= 0) {
        self->timeout_char = args[ARG_timeout_char].u_int;
    }
}

static mp_obj_t mp_machine_uart_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    mp_int_t id = mp_obj_get_int(args[0]);
    char name[32];
    snprintf(name, sizeof(name), "EMBER_SIM_UART%d_FD", (int)id);
    int fd = vboard_setting(name, -1);
    if (id < 0 || fd < 0) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("UART(%d) doesn't exist"), (int)id);
    }
    machine_uart_obj_t *self = mp_obj_malloc(machine_uart_obj_t, type);
    self->id = id;
    self->fd = fd;
    self->baudrate = 115200;
    self->timeout = 0;
    self->timeout_char = 2;
    mp_map_t kw_args;
    mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
    mp_machine_uart_init_helper(self, n_args - 1, args + 1, &kw_args);
    return MP_OBJ_FROM_PTR(self);
}

static void mp_machine_uart_deinit(machine_uart_obj_t *self) {
    // The descriptor is the board's wiring: it stays open for the next UART(n).
}

static bool uart_wait(machine_uart_obj_t *self, short events, int timeout_ms) {
    // A deadline, not a timeout per try: a fast machine.Timer's signals must not keep a
    // read waiting for ever.
    struct pollfd pfd = { .fd = self->fd, .events = events };
    mp_uint_t start = mp_hal_ticks_ms();
    for (;;) {
        int left = timeout_ms - (int)(mp_hal_ticks_ms() - start);
        int n = poll(&pfd, 1, left > 0 ? left : 0);
        if (n >= 0) {
            return n > 0 && (pfd.revents & events);
        }
        if (errno != EINTR) {
            return false;
        }
        mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_EXCEPTIONS);
    }
}

static mp_int_t mp_machine_uart_any(machine_uart_obj_t *self) {
    int waiting = 0;
    if (ioctl(self->fd, FIONREAD, &waiting) != 0) {
        return uart_wait(self, POLLIN, 0);
    }
    return waiting;
}

static bool mp_machine_uart_txdone(machine_uart_obj_t *self) {
    return true;
}

static mp_int_t mp_machine_uart_readchar(machine_uart_obj_t *self) {
    byte c;
    if (!uart_wait(self, POLLIN, self->timeout) || read(self->fd, &c, 1) != 1) {
        return -1;
    }
    return c;
}

static void mp_machine_uart_writechar(machine_uart_obj_t *self, uint16_t data) {
    byte c = data;
    (void)!write(self->fd, &c, 1);
}

static mp_uint_t mp_machine_uart_read(mp_obj_t self_in, void *buf_in, mp_uint_t size, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    byte *buf = buf_in;
    mp_uint_t got = 0;
    int wait_ms = self->timeout;
    while (got < size && uart_wait(self, POLLIN, wait_ms)) {
        ssize_t n = read(self->fd, buf + got, size - got);
        if (n <= 0) {
            break;
        }
        got += n;
        wait_ms = self->timeout_char;
    }
    if (got == 0 && size > 0) {
        *errcode = MP_EAGAIN;  // nothing within the timeout: read() returns None
        return MP_STREAM_ERROR;
    }
    return got;
}

static mp_uint_t mp_machine_uart_write(mp_obj_t self_in, const void *buf_in, mp_uint_t size, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    const byte *buf = buf_in;
    mp_uint_t sent = 0;
    while (sent < size) {
        ssize_t n = write(self->fd, buf + sent, size - sent);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            uart_wait(self, POLLOUT, 100);
            continue;
        }
        if (n <= 0) {
            *errcode = MP_EIO;
            return sent ? sent : MP_STREAM_ERROR;
        }
        sent += n;
    }
    return sent;
}

static mp_uint_t mp_machine_uart_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (request) {
        case MP_STREAM_POLL: {
            mp_uint_t ret = 0;
            if ((arg & MP_STREAM_POLL_RD) && uart_wait(self, POLLIN, 0)) {
                ret |= MP_STREAM_POLL_RD;
            }
            if ((arg & MP_STREAM_POLL_WR) && uart_wait(self, POLLOUT, 0)) {
                ret |= MP_STREAM_POLL_WR;
            }
            return ret;
        }
        case MP_STREAM_FLUSH:
            return 0;
        case MP_STREAM_GET_FILENO:
            return self->fd;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}
