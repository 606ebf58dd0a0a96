// Sleeping delays for ember's qemu-mps2-an385 board (linked with --wrap=mp_hal_delay_ms).
// The qemu port's time.sleep_ms spins; a board's waits in WFI between interrupts (the 1 ms
// SysTick wakes it), running scheduled callbacks as it goes, so an idle board leaves the
// host's CPU to others.

#include "py/mphal.h"
#include "py/runtime.h"

void __wrap_mp_hal_delay_ms(mp_uint_t ms) {
    mp_uint_t start = mp_hal_ticks_ms();
    while (mp_hal_ticks_ms() - start < ms) {
        mp_event_wait_ms(ms - (mp_hal_ticks_ms() - start));
    }
    if (ms == 0) {
        mp_handle_pending(true);
    }
}

// The board's clock, for littlefs's file times and the time module (board_time.h): like an
// RTC that starts at the epoch at every power-on, it counts from the boot.
uint64_t mp_hal_time_ns(void) {
    return (uint64_t)mp_hal_ticks_ms() * 1000000u;
}
