// The time module's clock for ember's qemu-mps2-an385 board: included into MicroPython's
// extmod/modtime.c (MICROPY_PY_TIME_INCLUDEFILE, set in micropython.mk), as each port
// includes its own. The qemu port has no clock; a board's time.time(), localtime() and
// gmtime() read its RTC. This board's RTC starts at MicroPython's epoch (1970-01-01) at
// every power-on and counts from there (board_hal.c: mp_hal_time_ns).

#include "py/mphal.h"
#include "py/obj.h"
#include "shared/timeutils/timeutils.h"

static void mp_time_localtime_get(timeutils_struct_time_t *tm) {
    timeutils_seconds_since_epoch_to_struct_time(mp_hal_time_ns() / 1000000000u, tm);
}

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_int_from_uint(mp_hal_time_ns() / 1000000000u);
}
