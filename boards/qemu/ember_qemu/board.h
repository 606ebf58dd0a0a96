// ember's qemu-mps2-an385 board: what its C files share.
#ifndef EMBER_QEMU_BOARD_H
#define EMBER_QEMU_BOARD_H

#include <stdint.h>

// The machine's 16 MiB PSRAM (QEMU's mps2-an385 main RAM at 0x21000000): the firmware never
// uses it as RAM (its linker script keeps everything in the 4 MiB at 0), so ember's
// supervisor backs it with the board's flash image, a shared file mapping (board_flash.c).
#define EMBER_FLASH_BASE (0x21000000u)
#define EMBER_FLASH_REGION_BYTES (16u * 1024u * 1024u)

// The System Control Block registers this board uses (ARMv7-M).
#define EMBER_SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define EMBER_SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define EMBER_NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define EMBER_NVIC_ISPR0 (*(volatile uint32_t *)0xE000E200u)

// The MPS2's CMSDK APB UARTs (QEMU hw/char/cmsdk-apb-uart.c): UART0 is the console
// (board_uart.c), UART1 is machine.UART(1) (board_machine_uart.c).
typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
    volatile uint32_t INTSTATUS;
    volatile uint32_t BAUDDIV;
} ember_uart_regs_t;

#define EMBER_UART_STATE_TXFULL (1u << 0)
#define EMBER_UART_STATE_RXFULL (1u << 1)
#define EMBER_UART_CTRL_TX_EN (1u << 0)
#define EMBER_UART_CTRL_RX_EN (1u << 1)
#define EMBER_UART_CTRL_RX_INT_EN (1u << 3)
#define EMBER_UART_INT_RX (1u << 1)
// QEMU hw/arm/mps2.c: UART n's receive interrupt is 2n (n < 3).
#define EMBER_UART0_RX_IRQ (0)
#define EMBER_UART1_RX_IRQ (2)

void ember_uart_init(void);
void ember_uart1_rx_irq(void);
// Sets vector `index` of the board's vector table (in RAM: board_uart.c); returns the old one.
void (*ember_vector_set(int index, void (*handler)(void)))(void);
void ember_timer_init(void);  // machine.Timer (board_timer.c)

#endif
