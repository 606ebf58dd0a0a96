// machine.UART for ember's qemu-mps2-an385 board: the port part of MicroPython's
// extmod/machine_uart.c, which includes this file (MICROPY_PY_MACHINE_UART_INCLUDEFILE, set
// in micropython.mk). The qemu port has no machine.UART; a board has its UARTs. UART(1) is
// the MPS2's second CMSDK APB UART, which ember's supervisor connects to a host pty of its
// own (the board's record lists it), for loopback tests. Receiving is interrupt driven into
// a buffer, lossless as the console is (board_uart.c); sending waits for the UART.

#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/stream.h"

#include "board.h"

#define MICROPY_PY_MACHINE_UART_CLASS_CONSTANTS

#define UART1_BASE ((ember_uart_regs_t *)0x40005000u)
#define UART1_RX_BYTES (512) // a power of two

typedef struct _machine_uart_obj_t {
    mp_obj_base_t base;
    uint8_t id;
    uint32_t baudrate;
    uint16_t timeout; // ms to wait for the first byte
    uint16_t timeout_char; // ms to wait for each further byte
} machine_uart_obj_t;

static machine_uart_obj_t uart1_obj = {{&machine_uart_type}, 1, 115200, 0, 2};
static uint8_t uart1_rx[UART1_RX_BYTES];
static volatile uint32_t uart1_head, uart1_tail;

static void uart1_rx_irq_on(void) {
    UART1_BASE->CTRL |= EMBER_UART_CTRL_RX_INT_EN;
    EMBER_NVIC_ISPR0 = 1u << EMBER_UART1_RX_IRQ;
}

void ember_uart1_rx_irq(void) {
    UART1_BASE->INTSTATUS = EMBER_UART_INT_RX;
    while (UART1_BASE->STATE & EMBER_UART_STATE_RXFULL) {
        if (uart1_head - uart1_tail >= UART1_RX_BYTES) {
            UART1_BASE->CTRL &= ~EMBER_UART_CTRL_RX_INT_EN; // full: reading turns it back on
            return;
        }
        uart1_rx[uart1_head % UART1_RX_BYTES] = UART1_BASE->DATA & 0xff;
        uart1_head = uart1_head + 1;
    }
}

static int uart1_take(void) {
    if (uart1_head == uart1_tail) {
        return -1;
    }
    int c = uart1_rx[uart1_tail % UART1_RX_BYTES];
    uart1_tail = uart1_tail + 1;
    if (!(UART1_BASE->CTRL & EMBER_UART_CTRL_RX_INT_EN)) {
        uart1_rx_irq_on();
    }
    return c;
}

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
        self->baudrate = args[ARG_baudrate].u_int; // QEMU's UART has no bit timing
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
    if (id != 1) { // UART0 is the REPL's
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("UART(%d) doesn't exist"), (int)id);
    }
    machine_uart_obj_t *self = &uart1_obj;
    if (!(UART1_BASE->CTRL & EMBER_UART_CTRL_RX_EN)) {
        UART1_BASE->BAUDDIV = 16;
        UART1_BASE->CTRL = EMBER_UART_CTRL_TX_EN | EMBER_UART_CTRL_RX_EN;
        EMBER_NVIC_ISER0 = 1u << EMBER_UART1_RX_IRQ;
        uart1_rx_irq_on();
    }
    mp_map_t kw_args;
    mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
    mp_machine_uart_init_helper(self, n_args - 1, args + 1, &kw_args);
    return MP_OBJ_FROM_PTR(self);
}

static void mp_machine_uart_deinit(machine_uart_obj_t *self) {
    // The UART is the board's wiring: it stays on for the next UART(1).
}

static mp_int_t mp_machine_uart_any(machine_uart_obj_t *self) {
    return uart1_head - uart1_tail;
}

static bool mp_machine_uart_txdone(machine_uart_obj_t *self) {
    return true;
}

// Waits up to timeout_ms for a received byte, sleeping between interrupts.
static bool uart1_wait(uint32_t timeout_ms) {
    mp_uint_t start = mp_hal_ticks_ms();
    while (uart1_head == uart1_tail) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return false;
        }
        mp_event_wait_ms(1);
    }
    return true;
}

static mp_uint_t mp_machine_uart_read(mp_obj_t self_in, void *buf_in, mp_uint_t size, int *errcode) {
    machine_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    byte *buf = buf_in;
    mp_uint_t got = 0;
    uint32_t wait_ms = self->timeout;
    while (got < size && uart1_wait(wait_ms)) {
        buf[got++] = uart1_take();
        wait_ms = self->timeout_char;
    }
    if (got == 0 && size > 0) {
        *errcode = MP_EAGAIN; // nothing within the timeout: read() returns None
        return MP_STREAM_ERROR;
    }
    return got;
}

static mp_uint_t mp_machine_uart_write(mp_obj_t self_in, const void *buf_in, mp_uint_t size, int *errcode) {
    const byte *buf = buf_in;
    for (mp_uint_t i = 0; i < size; ++i) {
        while (UART1_BASE->STATE & EMBER_UART_STATE_TXFULL) {
        }
        UART1_BASE->DATA = buf[i];
    }
    return size;
}

static mp_uint_t mp_machine_uart_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    switch (request) {
        case MP_STREAM_POLL: {
            mp_uint_t ret = 0;
            if ((arg & MP_STREAM_POLL_RD) && uart1_head != uart1_tail) {
                ret |= MP_STREAM_POLL_RD;
            }
            if ((arg & MP_STREAM_POLL_WR) && !(UART1_BASE->STATE & EMBER_UART_STATE_TXFULL)) {
                ret |= MP_STREAM_POLL_WR;
            }
            return ret;
        }
        case MP_STREAM_FLUSH:
            return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}
