// machine.Timer for ember's qemu-mps2-an385 board: MicroPython's soft timers
// (extmod/machine_timer.c over shared/runtime/softtimer.c), as the rp2 and stm32 ports have.
//
// The qemu port has no machine.Timer: its only clock is the 1 ms SysTick. This board runs
// the soft timers off that tick, as stm32 does: the SysTick handler (the port's, then
// ember's check) pends PendSV once the earliest timer is due, and PendSV runs the due
// callbacks (a soft one is scheduled, a hard one runs there, with the heap locked). What the
// soft timers need of a port is here: soft_timer_get_ms(), soft_timer_schedule_at_ms(), the
// timers' GC marking (linked with --wrap=gc_collect_end) and their removal at a soft reset
// (board_main.c).

#include <stdbool.h>
#include <stdint.h>

#include "py/gc.h"
#include "py/mphal.h"
#include "shared/runtime/softtimer.h"

#include "board.h"

#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSVSET (1u << 28)
#define PENDSV_VECTOR (14)
#define SYSTICK_VECTOR (15)

// The names shared/runtime/mpirq.c uses: a library source, so not scanned for qstrs itself.
static const qstr ember_mpirq_names[] __attribute__((unused)) = {
    MP_QSTR_flags, MP_QSTR_handler, MP_QSTR_hard, MP_QSTR_irq, MP_QSTR_trigger,
};

static volatile uint32_t timer_due_ms;  // when the earliest soft timer is due
static volatile bool timer_armed;
static void (*port_systick)(void);

uint32_t soft_timer_get_ms(void) {
    return mp_hal_ticks_ms();
}

void soft_timer_schedule_at_ms(uint32_t ticks_ms) {
    timer_due_ms = ticks_ms;
    timer_armed = true;
    if (soft_timer_ticks_diff(ticks_ms, mp_hal_ticks_ms()) <= 0) {
        SCB_ICSR = ICSR_PENDSVSET;  // due already: at once, not at the next tick
    }
}

static void ember_systick(void) {
    port_systick();  // the port's: its millisecond count
    if (timer_armed && soft_timer_ticks_diff(timer_due_ms, mp_hal_ticks_ms()) <= 0) {
        SCB_ICSR = ICSR_PENDSVSET;
    }
}

static void ember_pendsv(void) {
    timer_armed = false;  // soft_timer_handler arms it again for the next timer
    soft_timer_handler();
}

void ember_timer_init(void) {
    timer_armed = false;
    port_systick = ember_vector_set(SYSTICK_VECTOR, ember_systick);
    ember_vector_set(PENDSV_VECTOR, ember_pendsv);
}

// gc_collect (the port's) ends its mark phase here: armed timers live in the GC heap and are
// reachable only from the soft timers' own list.
void __real_gc_collect_end(void);
void __wrap_gc_collect_end(void) {
    soft_timer_gc_mark_all();
    __real_gc_collect_end();
}
