// The console UART's receive side, interrupt driven, for ember's qemu-mps2-an385 board.
//
// The qemu port polls its UART only when it reads the console, so Ctrl-C cannot stop
// running code and the CPU spins while the REPL waits (a whole host core per board). A
// board's firmware takes each byte in an interrupt instead: Ctrl-C (when enabled with
// micropython.kbd_intr) raises KeyboardInterrupt at once, every other byte goes to a
// receive buffer, and a reader with nothing to read sleeps in WFI until the next interrupt
// (a byte, or the port's 1 ms SysTick). Linked with --wrap: mp_hal_stdin_rx_chr and
// mp_hal_stdio_poll read the buffer in place of the UART.
//
// No byte is ever lost: while the buffer is full the receive interrupt is off, the byte
// stays in the UART, and QEMU holds the host's further bytes back (as a USB CDC link does).
//
// The port's vector table has only the 16 system exceptions, so the table is copied into
// RAM with the machine's interrupts after them, and VTOR points at the copy.

#include <stdint.h>

#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"
#include "shared/runtime/interrupt_char.h"

#include "board.h"

#define EMBER_UART0 ((ember_uart_regs_t *)0x40004000u)
#define UART_STATE_RXFULL EMBER_UART_STATE_RXFULL
#define UART_CTRL_RX_INT_EN EMBER_UART_CTRL_RX_INT_EN
#define UART_INT_RX EMBER_UART_INT_RX
#define UART0_RX_IRQ EMBER_UART0_RX_IRQ

#define SYSTEM_VECTORS (16)
#define MACHINE_IRQS (32)
#define RX_BUFFER_BYTES (1024) // a power of two

// VTOR needs the table aligned to its size rounded up to a power of two (48 words: 256 B).
static uint32_t ember_vectors[SYSTEM_VECTORS + MACHINE_IRQS] __attribute__((aligned(256)));
static uint8_t rx_buffer[RX_BUFFER_BYTES];
static volatile uint32_t rx_head; // written by the interrupt
static volatile uint32_t rx_tail; // written by the reader

static void ember_uart0_rx_irq(void) {
    EMBER_UART0->INTSTATUS = UART_INT_RX; // cleared first: a byte arriving later raises it again
    while (EMBER_UART0->STATE & UART_STATE_RXFULL) {
        if (rx_head - rx_tail >= RX_BUFFER_BYTES) {
            EMBER_UART0->CTRL &= ~UART_CTRL_RX_INT_EN; // full: the reader turns it back on
            return;
        }
        int c = EMBER_UART0->DATA & 0xff;
        if (c == mp_interrupt_char) {
            mp_sched_keyboard_interrupt();
        } else {
            rx_buffer[rx_head % RX_BUFFER_BYTES] = (uint8_t)c;
            rx_head = rx_head + 1;
        }
    }
}

static void ember_unused_irq(void) {
}

// The UART raises its receive interrupt only for a byte that arrives while the interrupt is
// enabled; one that came before (at boot, or while the buffer was full) sits in the UART and
// holds every later byte back. So each time the interrupt is enabled it is also made pending:
// the handler then takes whatever is there.
static void ember_rx_irq_on(void) {
    EMBER_UART0->CTRL |= UART_CTRL_RX_INT_EN;
    EMBER_NVIC_ISPR0 = 1u << UART0_RX_IRQ;
}

void ember_uart_init(void) {
    const uint32_t *port_vectors = (const uint32_t *)EMBER_SCB_VTOR;
    for (int i = 0; i < SYSTEM_VECTORS; ++i) {
        ember_vectors[i] = port_vectors[i];
    }
    for (int i = 0; i < MACHINE_IRQS; ++i) {
        ember_vectors[SYSTEM_VECTORS + i] = (uint32_t)&ember_unused_irq;
    }
    ember_vectors[SYSTEM_VECTORS + UART0_RX_IRQ] = (uint32_t)&ember_uart0_rx_irq;
    ember_vectors[SYSTEM_VECTORS + EMBER_UART1_RX_IRQ] = (uint32_t)&ember_uart1_rx_irq;
    __asm volatile ("dsb");
    EMBER_SCB_VTOR = (uint32_t)ember_vectors;
    __asm volatile ("dsb; isb");
    rx_head = rx_tail = 0;
    EMBER_NVIC_ISER0 = 1u << UART0_RX_IRQ;
    ember_rx_irq_on();
}

void (*ember_vector_set(int index, void (*handler)(void)))(void) {
    void (*old)(void) = (void (*)(void))ember_vectors[index];
    ember_vectors[index] = (uint32_t)handler;
    __asm volatile ("dsb; isb");
    return old;
}

static int ember_rx_take(void) {
    if (rx_head == rx_tail) {
        return -1;
    }
    int c = rx_buffer[rx_tail % RX_BUFFER_BYTES];
    rx_tail = rx_tail + 1;
    if (!(EMBER_UART0->CTRL & UART_CTRL_RX_INT_EN)) {
        ember_rx_irq_on(); // room again: take what waits in the UART
    }
    return c;
}

int __wrap_mp_hal_stdin_rx_chr(void) {
    for (;;) {
        int c = ember_rx_take();
        if (c >= 0) {
            return c;
        }
        mp_handle_pending(true); // a Ctrl-C typed while reading raises here, as on a port
        // Sleep only if still empty, with interrupts masked between the check and WFI (a
        // pending interrupt still ends WFI, and runs once they are unmasked).
        __asm volatile ("cpsid i" : : : "memory");
        if (rx_head == rx_tail) {
            __asm volatile ("wfi");
        }
        __asm volatile ("cpsie i" : : : "memory");
    }
}

uintptr_t __wrap_mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ret = 0;
    if ((poll_flags & MP_STREAM_POLL_RD) && rx_head != rx_tail) {
        ret |= MP_STREAM_POLL_RD;
    }
    if (poll_flags & MP_STREAM_POLL_WR) {
        ret |= MP_STREAM_POLL_WR;
    }
    return ret;
}
