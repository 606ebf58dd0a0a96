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

void ember_uart_init(void);

#endif
