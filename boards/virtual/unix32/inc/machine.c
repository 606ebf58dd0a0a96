// ember's virtual board: the `machine` module's port part, included by extmod/modmachine.c
// (MICROPY_PY_MACHINE_INCLUDEFILE). Written for ember; it stands in for a board's hardware:
//
// - reset() ends the interpreter with SIGUSR2; the supervisor restarts it as a hard reset.
//   soft_reset() is extmod's (SystemExit), which the supervisor turns into a soft reboot.
// - Pin: 64 pins whose level is held here; a pin wired to another (EMBER_SIM_PIN_WIRES,
//   "15:13,..." from the profile's [hil] section) reads the driving pin's level, and an input
//   pin's irq() handler runs (scheduled, as a board does) when the level it reads changes.
// - RTC: a wall clock kept as an offset from the host's clock; Timer: POSIX timers whose
//   signal schedules the callback with micropython.schedule's queue.
// - disable_irq()/enable_irq(): block and unblock the signals that stand for interrupts.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "extmod/modmachine.h"
#include "extmod/virtpin.h"
#include "shared/timeutils/timeutils.h"

mp_int_t vboard_setting(const char *name, mp_int_t otherwise);

#define VBOARD_PIN_COUNT (64)
#define VBOARD_TIMER_COUNT (8)
#define VBOARD_TIMER_SIGNAL (SIGRTMIN + 1)
#define VBOARD_RESET_PWRON (1)
#define VBOARD_RESET_HARD (2)
#define VBOARD_RESET_WDT (3)
#define VBOARD_RESET_DEEPSLEEP (4)
#define VBOARD_RESET_SOFT (5)

static mp_obj_t machine_disable_irq_fn(void);
static mp_obj_t machine_enable_irq_fn(mp_obj_t state_in);
static MP_DEFINE_CONST_FUN_OBJ_0(vboard_disable_irq_obj, machine_disable_irq_fn);
static MP_DEFINE_CONST_FUN_OBJ_1(vboard_enable_irq_obj, machine_enable_irq_fn);
extern const mp_obj_type_t machine_pin_type;
extern const mp_obj_type_t machine_rtc_type;
extern const mp_obj_type_t machine_timer_type;

#define MICROPY_PY_MACHINE_EXTRA_GLOBALS \
    { MP_ROM_QSTR(MP_QSTR_Pin), MP_ROM_PTR(&machine_pin_type) }, \
    { MP_ROM_QSTR(MP_QSTR_RTC), MP_ROM_PTR(&machine_rtc_type) }, \
    { MP_ROM_QSTR(MP_QSTR_Timer), MP_ROM_PTR(&machine_timer_type) }, \
    { MP_ROM_QSTR(MP_QSTR_disable_irq), MP_ROM_PTR(&vboard_disable_irq_obj) }, \
    { MP_ROM_QSTR(MP_QSTR_enable_irq), MP_ROM_PTR(&vboard_enable_irq_obj) }, \
    { MP_ROM_QSTR(MP_QSTR_PWRON_RESET), MP_ROM_INT(VBOARD_RESET_PWRON) }, \
    { MP_ROM_QSTR(MP_QSTR_HARD_RESET), MP_ROM_INT(VBOARD_RESET_HARD) }, \
    { MP_ROM_QSTR(MP_QSTR_WDT_RESET), MP_ROM_INT(VBOARD_RESET_WDT) }, \
    { MP_ROM_QSTR(MP_QSTR_DEEPSLEEP_RESET), MP_ROM_INT(VBOARD_RESET_DEEPSLEEP) }, \
    { MP_ROM_QSTR(MP_QSTR_SOFT_RESET), MP_ROM_INT(VBOARD_RESET_SOFT) }, \

static uint32_t vboard_freq_hz;

static void mp_machine_idle(void) {
    // A board sleeps until the next interrupt; the nearest here is a short, signal-ended nap.
    struct timespec nap = { 0, 200000 };
    nanosleep(&nap, NULL);
}

MP_NORETURN static void mp_machine_reset(void) {
    kill(getpid(), SIGUSR2);  // the supervisor restarts the firmware: a hard reset
    for (;;) {
        pause();
    }
}

static mp_int_t mp_machine_reset_cause(void) {
    return vboard_setting("EMBER_SIM_RESET_CAUSE", VBOARD_RESET_PWRON);
}

static mp_obj_t mp_machine_unique_id(void) {
    const char *hex = getenv("EMBER_SIM_UID");
    byte id[8] = {0};
    for (size_t i = 0; hex && i < sizeof(id) && hex[2 * i] && hex[2 * i + 1]; i++) {
        char pair[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        id[i] = strtol(pair, NULL, 16);
    }
    return mp_obj_new_bytes(id, sizeof(id));
}

static mp_obj_t mp_machine_get_freq(void) {
    if (vboard_freq_hz == 0) {
        vboard_freq_hz = vboard_setting("EMBER_SIM_FREQ", 125000000);
    }
    return mp_obj_new_int_from_uint(vboard_freq_hz);
}

static void mp_machine_set_freq(size_t n_args, const mp_obj_t *args) {
    vboard_freq_hz = mp_obj_get_int(args[0]);
}

static void mp_machine_lightsleep(size_t n_args, const mp_obj_t *args) {
    if (n_args > 0) {
        mp_hal_delay_ms(mp_obj_get_int(args[0]));
    }
}

MP_NORETURN static void mp_machine_deepsleep(size_t n_args, const mp_obj_t *args) {
    mp_machine_lightsleep(n_args, args);
    mp_machine_reset();
}

// -- interrupts ---------------------------------------------------------------------------
// The critical section of ember_config.h (board_hal.c): the signals that stand for IRQs.
static mp_obj_t machine_disable_irq_fn(void) {
    return MP_OBJ_NEW_SMALL_INT(MICROPY_BEGIN_ATOMIC_SECTION());
}

static mp_obj_t machine_enable_irq_fn(mp_obj_t state_in) {
    MICROPY_END_ATOMIC_SECTION(mp_obj_get_int(state_in));
    return mp_const_none;
}

// -- Pin ----------------------------------------------------------------------------------
enum { PIN_IN = 0, PIN_OUT = 1, PIN_OPEN_DRAIN = 2 };
enum { PIN_PULL_NONE = 0, PIN_PULL_UP = 1, PIN_PULL_DOWN = 2 };
enum { PIN_IRQ_FALLING = 1, PIN_IRQ_RISING = 2 };

typedef struct _machine_pin_obj_t {
    mp_obj_base_t base;
    uint8_t id;
} machine_pin_obj_t;

static machine_pin_obj_t vboard_pins[VBOARD_PIN_COUNT];
static uint8_t vboard_pin_mode[VBOARD_PIN_COUNT];
static uint8_t vboard_pin_pull[VBOARD_PIN_COUNT];
static uint8_t vboard_pin_level[VBOARD_PIN_COUNT];  // what an output drives
static int8_t vboard_pin_wire[VBOARD_PIN_COUNT];  // the pin wired to this one, or -1
static uint8_t vboard_pin_trigger[VBOARD_PIN_COUNT];
static uint8_t vboard_pin_seen[VBOARD_PIN_COUNT];  // last level an irq pin read
static bool vboard_pins_ready;
MP_REGISTER_ROOT_POINTER(mp_obj_t vboard_pin_handler[64]);

static void vboard_pins_init(void) {
    if (vboard_pins_ready) {
        return;
    }
    vboard_pins_ready = true;
    memset(vboard_pin_wire, -1, sizeof(vboard_pin_wire));
    const char *wires = getenv("EMBER_SIM_PIN_WIRES");  // "15:13,4:5": each pair both ways
    while (wires && *wires) {
        char *end;
        long a = strtol(wires, &end, 10);
        if (*end != ':') {
            break;
        }
        long b = strtol(end + 1, &end, 10);
        if (a >= 0 && a < VBOARD_PIN_COUNT && b >= 0 && b < VBOARD_PIN_COUNT) {
            vboard_pin_wire[a] = b;
            vboard_pin_wire[b] = a;
        }
        wires = *end == ',' ? end + 1 : end + (*end != 0);
    }
}

// The level a pin reads: its own drive if it is an output, else the wired pin's drive, else
// its pull (a floating input reads 0).
static int vboard_pin_read(int id) {
    if (vboard_pin_mode[id] == PIN_OUT) {
        return vboard_pin_level[id];
    }
    int other = vboard_pin_wire[id];
    if (other >= 0 && (vboard_pin_mode[other] == PIN_OUT
                       || (vboard_pin_mode[other] == PIN_OPEN_DRAIN && !vboard_pin_level[other]))) {
        return vboard_pin_level[other];
    }
    if (vboard_pin_mode[id] == PIN_OPEN_DRAIN && !vboard_pin_level[id]) {
        return 0;
    }
    return vboard_pin_pull[id] == PIN_PULL_UP || vboard_pin_mode[id] == PIN_OPEN_DRAIN;
}

static void vboard_pin_check_irq(int id) {
    if (id < 0 || MP_STATE_PORT(vboard_pin_handler)[id] == MP_OBJ_NULL) {
        return;
    }
    int level = vboard_pin_read(id);
    int was = vboard_pin_seen[id];
    vboard_pin_seen[id] = level;
    if ((level && !was && (vboard_pin_trigger[id] & PIN_IRQ_RISING))
        || (!level && was && (vboard_pin_trigger[id] & PIN_IRQ_FALLING))) {
        mp_sched_schedule(MP_STATE_PORT(vboard_pin_handler)[id], MP_OBJ_FROM_PTR(&vboard_pins[id]));
    }
}

static void vboard_pin_drive(int id, int level) {
    vboard_pin_level[id] = level ? 1 : 0;
    vboard_pin_check_irq(id);
    vboard_pin_check_irq(vboard_pin_wire[id]);
}

static int vboard_pin_id(mp_obj_t id_in) {
    mp_int_t id;
    if (mp_obj_is_str(id_in)) {
        // Board names ("GP15", "D1", "PA10") end in the pin's number here.
        const char *name = mp_obj_str_get_str(id_in);
        const char *digits = name + strlen(name);
        while (digits > name && unichar_isdigit(digits[-1])) {
            digits--;
        }
        if (!*digits) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid pin"));
        }
        id = strtol(digits, NULL, 10);
    } else {
        id = mp_obj_get_int(id_in);
    }
    if (id < 0 || id >= VBOARD_PIN_COUNT) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid pin"));
    }
    return id;
}

static void machine_pin_init_helper(machine_pin_obj_t *self, size_t n_args, const mp_obj_t *pos_args,
    mp_map_t *kw_args) {
    enum { ARG_mode, ARG_pull, ARG_value };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_pull, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_value, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (args[ARG_value].u_obj != mp_const_none) {
        vboard_pin_level[self->id] = mp_obj_is_true(args[ARG_value].u_obj);
    }
    if (args[ARG_mode].u_obj != mp_const_none) {
        mp_int_t mode = mp_obj_get_int(args[ARG_mode].u_obj);
        if (mode < PIN_IN || mode > PIN_OPEN_DRAIN) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid pin mode"));
        }
        vboard_pin_mode[self->id] = mode;
    }
    if (args[ARG_pull].u_obj != mp_const_none) {
        vboard_pin_pull[self->id] = mp_obj_get_int(args[ARG_pull].u_obj);
    }
    vboard_pin_drive(self->id, vboard_pin_level[self->id]);
}

static mp_obj_t machine_pin_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    vboard_pins_init();
    int id = vboard_pin_id(args[0]);
    machine_pin_obj_t *self = &vboard_pins[id];  // pins live in firmware, not on the heap
    self->base.type = &machine_pin_type;
    self->id = id;
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        machine_pin_init_helper(self, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static void machine_pin_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "Pin(%u)", self->id);
}

static mp_obj_t machine_pin_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (n_args == 0) {
        return MP_OBJ_NEW_SMALL_INT(vboard_pin_read(self->id));
    }
    vboard_pin_drive(self->id, mp_obj_is_true(args[0]));
    return mp_const_none;
}

static mp_obj_t machine_pin_obj_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    machine_pin_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_pin_init_obj, 1, machine_pin_obj_init);

static mp_obj_t machine_pin_value(size_t n_args, const mp_obj_t *args) {
    return machine_pin_call(args[0], n_args - 1, 0, args + 1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_pin_value_obj, 1, 2, machine_pin_value);

static mp_obj_t machine_pin_on(mp_obj_t self_in) {
    vboard_pin_drive(((machine_pin_obj_t *)MP_OBJ_TO_PTR(self_in))->id, 1);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_pin_on_obj, machine_pin_on);

static mp_obj_t machine_pin_off(mp_obj_t self_in) {
    vboard_pin_drive(((machine_pin_obj_t *)MP_OBJ_TO_PTR(self_in))->id, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_pin_off_obj, machine_pin_off);

static mp_obj_t machine_pin_toggle(mp_obj_t self_in) {
    int id = ((machine_pin_obj_t *)MP_OBJ_TO_PTR(self_in))->id;
    vboard_pin_drive(id, !vboard_pin_level[id]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_pin_toggle_obj, machine_pin_toggle);

static mp_obj_t machine_pin_mode(size_t n_args, const mp_obj_t *args) {
    int id = ((machine_pin_obj_t *)MP_OBJ_TO_PTR(args[0]))->id;
    if (n_args == 1) {
        return MP_OBJ_NEW_SMALL_INT(vboard_pin_mode[id]);
    }
    vboard_pin_mode[id] = mp_obj_get_int(args[1]);
    vboard_pin_drive(id, vboard_pin_level[id]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_pin_mode_obj, 1, 2, machine_pin_mode);

static mp_obj_t machine_pin_pull(size_t n_args, const mp_obj_t *args) {
    int id = ((machine_pin_obj_t *)MP_OBJ_TO_PTR(args[0]))->id;
    if (n_args == 1) {
        return MP_OBJ_NEW_SMALL_INT(vboard_pin_pull[id]);
    }
    vboard_pin_pull[id] = mp_obj_get_int(args[1]);
    vboard_pin_drive(id, vboard_pin_level[id]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_pin_pull_obj, 1, 2, machine_pin_pull);

static mp_obj_t machine_pin_irq(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_handler, ARG_trigger };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_handler, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_trigger, MP_ARG_INT, {.u_int = PIN_IRQ_FALLING | PIN_IRQ_RISING} },
    };
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    mp_obj_t handler = args[ARG_handler].u_obj;
    MP_STATE_PORT(vboard_pin_handler)[self->id] = handler == mp_const_none ? MP_OBJ_NULL : handler;
    vboard_pin_trigger[self->id] = args[ARG_trigger].u_int;
    vboard_pin_seen[self->id] = vboard_pin_read(self->id);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_pin_irq_obj, 1, machine_pin_irq);

static const mp_rom_map_elem_t machine_pin_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&machine_pin_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&machine_pin_value_obj) },
    { MP_ROM_QSTR(MP_QSTR_on), MP_ROM_PTR(&machine_pin_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_off), MP_ROM_PTR(&machine_pin_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_high), MP_ROM_PTR(&machine_pin_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_low), MP_ROM_PTR(&machine_pin_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_toggle), MP_ROM_PTR(&machine_pin_toggle_obj) },
    { MP_ROM_QSTR(MP_QSTR_mode), MP_ROM_PTR(&machine_pin_mode_obj) },
    { MP_ROM_QSTR(MP_QSTR_pull), MP_ROM_PTR(&machine_pin_pull_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq), MP_ROM_PTR(&machine_pin_irq_obj) },
    { MP_ROM_QSTR(MP_QSTR_IN), MP_ROM_INT(PIN_IN) },
    { MP_ROM_QSTR(MP_QSTR_OUT), MP_ROM_INT(PIN_OUT) },
    { MP_ROM_QSTR(MP_QSTR_OPEN_DRAIN), MP_ROM_INT(PIN_OPEN_DRAIN) },
    { MP_ROM_QSTR(MP_QSTR_PULL_UP), MP_ROM_INT(PIN_PULL_UP) },
    { MP_ROM_QSTR(MP_QSTR_PULL_DOWN), MP_ROM_INT(PIN_PULL_DOWN) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_FALLING), MP_ROM_INT(PIN_IRQ_FALLING) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_RISING), MP_ROM_INT(PIN_IRQ_RISING) },
};
static MP_DEFINE_CONST_DICT(machine_pin_locals, machine_pin_locals_table);

// machine.Signal and other virtual-pin users read and write through this.
static mp_uint_t machine_pin_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (request) {
        case MP_PIN_READ:
            return vboard_pin_read(self->id);
        case MP_PIN_WRITE:
            vboard_pin_drive(self->id, arg);
            return 0;
    }
    return -1;
}
static const mp_pin_p_t machine_pin_pin_p = { .ioctl = machine_pin_ioctl };

MP_DEFINE_CONST_OBJ_TYPE(
    machine_pin_type, MP_QSTR_Pin, MP_TYPE_FLAG_NONE,
    make_new, machine_pin_make_new,
    print, machine_pin_print,
    call, machine_pin_call,
    protocol, &machine_pin_pin_p,
    locals_dict, &machine_pin_locals);

// -- RTC ----------------------------------------------------------------------------------
typedef struct _machine_rtc_obj_t {
    mp_obj_base_t base;
} machine_rtc_obj_t;

static const machine_rtc_obj_t machine_rtc_obj = {{&machine_rtc_type}};
static int64_t vboard_rtc_offset_s;  // board time = host time + this

static mp_obj_t machine_rtc_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    return MP_OBJ_FROM_PTR(&machine_rtc_obj);
}

// datetime(): (year, month, day, weekday, hours, minutes, seconds, subseconds), as rp2/esp32.
static mp_obj_t machine_rtc_datetime(size_t n_args, const mp_obj_t *args) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (n_args == 1) {
        timeutils_struct_time_t tm;
        timeutils_seconds_since_epoch_to_struct_time(now.tv_sec + vboard_rtc_offset_s, &tm);
        mp_obj_t items[8] = {
            mp_obj_new_int(tm.tm_year), mp_obj_new_int(tm.tm_mon), mp_obj_new_int(tm.tm_mday),
            mp_obj_new_int(tm.tm_wday), mp_obj_new_int(tm.tm_hour), mp_obj_new_int(tm.tm_min),
            mp_obj_new_int(tm.tm_sec), mp_obj_new_int(now.tv_nsec / 1000),
        };
        return mp_obj_new_tuple(8, items);
    }
    mp_obj_t *items;
    mp_obj_get_array_fixed_n(args[1], 8, &items);
    int64_t board = timeutils_seconds_since_epoch(
        mp_obj_get_int(items[0]), mp_obj_get_int(items[1]), mp_obj_get_int(items[2]),
        mp_obj_get_int(items[4]), mp_obj_get_int(items[5]), mp_obj_get_int(items[6]));
    vboard_rtc_offset_s = board - now.tv_sec;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_rtc_datetime_obj, 1, 2, machine_rtc_datetime);

static mp_obj_t machine_rtc_init(mp_obj_t self_in, mp_obj_t datetime) {
    mp_obj_t args[2] = { self_in, datetime };
    return machine_rtc_datetime(2, args);
}
static MP_DEFINE_CONST_FUN_OBJ_2(machine_rtc_init_obj, machine_rtc_init);

static const mp_rom_map_elem_t machine_rtc_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&machine_rtc_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_datetime), MP_ROM_PTR(&machine_rtc_datetime_obj) },
};
static MP_DEFINE_CONST_DICT(machine_rtc_locals, machine_rtc_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    machine_rtc_type, MP_QSTR_RTC, MP_TYPE_FLAG_NONE,
    make_new, machine_rtc_make_new,
    locals_dict, &machine_rtc_locals);

// -- Timer --------------------------------------------------------------------------------
// Timer(id=-1, mode=PERIODIC, period=ms, callback=f) or freq=; init() re-arms, deinit() stops.
// Each armed timer is a POSIX timer whose signal schedules `callback(timer)`.
typedef struct _machine_timer_obj_t {
    mp_obj_base_t base;
    mp_obj_t callback;
    timer_t timer;
    int8_t slot;  // index in vboard_timers while armed, else -1
    uint8_t periodic;
    uint8_t created;  // `timer` is a POSIX timer to delete (armed or spent)
} machine_timer_obj_t;

MP_REGISTER_ROOT_POINTER(mp_obj_t vboard_timers[8]);  // armed timers stay reachable

static void vboard_timer_signal(int signum, siginfo_t *info, void *context) {
    int slot = info->si_value.sival_int;
    if (slot < 0 || slot >= VBOARD_TIMER_COUNT) {
        return;
    }
    mp_obj_t timer = MP_STATE_PORT(vboard_timers)[slot];
    if (timer == MP_OBJ_NULL) {
        return;
    }
    machine_timer_obj_t *self = MP_OBJ_TO_PTR(timer);
    mp_sched_schedule(self->callback, timer);
    if (!self->periodic) {
        MP_STATE_PORT(vboard_timers)[slot] = MP_OBJ_NULL;
        self->slot = -1;
    }
}

static void machine_timer_disarm(machine_timer_obj_t *self) {
    unsigned int state = MICROPY_BEGIN_ATOMIC_SECTION();
    if (self->created) {
        timer_delete(self->timer);  // a spent one-shot's too: no kernel timer is left behind
        self->created = 0;
    }
    if (self->slot >= 0) {
        MP_STATE_PORT(vboard_timers)[self->slot] = MP_OBJ_NULL;
        self->slot = -1;
    }
    MICROPY_END_ATOMIC_SECTION(state);
}

static mp_obj_t machine_timer_init_helper(machine_timer_obj_t *self, size_t n_args,
    const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_mode, ARG_callback, ARG_period, ARG_freq };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_callback, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_period, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_freq, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    machine_timer_disarm(self);
    uint64_t period_ns;
    if (args[ARG_freq].u_obj != mp_const_none) {
        mp_float_t freq = mp_obj_get_float(args[ARG_freq].u_obj);
        if (freq <= 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("freq must be positive"));
        }
        period_ns = (uint64_t)(MICROPY_FLOAT_CONST(1e9) / freq);
    } else if (args[ARG_period].u_int >= 0) {
        period_ns = (uint64_t)args[ARG_period].u_int * 1000000;
    } else {
        period_ns = 1000000000;
    }
    if (period_ns == 0) {
        period_ns = 1;
    }
    self->callback = args[ARG_callback].u_obj;
    self->periodic = args[ARG_mode].u_int == 1;
    if (self->callback == mp_const_none) {
        return mp_const_none;
    }
    int slot = 0;
    while (slot < VBOARD_TIMER_COUNT && MP_STATE_PORT(vboard_timers)[slot] != MP_OBJ_NULL) {
        slot++;
    }
    if (slot == VBOARD_TIMER_COUNT) {
        mp_raise_OSError(MP_EBUSY);
    }
    static bool handler_installed;
    if (!handler_installed) {
        struct sigaction action = {0};
        action.sa_sigaction = vboard_timer_signal;
        action.sa_flags = SA_SIGINFO | SA_RESTART;
        sigaction(VBOARD_TIMER_SIGNAL, &action, NULL);
        handler_installed = true;
    }
    struct sigevent event = {0};
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = VBOARD_TIMER_SIGNAL;
    event.sigev_value.sival_int = slot;
    if (timer_create(CLOCK_MONOTONIC, &event, &self->timer) != 0) {
        mp_raise_OSError(MP_ENOMEM);
    }
    self->created = 1;
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = period_ns / 1000000000;
    spec.it_value.tv_nsec = period_ns % 1000000000;
    if (self->periodic) {
        spec.it_interval = spec.it_value;
    }
    self->slot = slot;
    MP_STATE_PORT(vboard_timers)[slot] = MP_OBJ_FROM_PTR(self);
    timer_settime(self->timer, 0, &spec, NULL);
    return mp_const_none;
}

static mp_obj_t machine_timer_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, true);
    machine_timer_obj_t *self = mp_obj_malloc(machine_timer_obj_t, type);
    self->callback = mp_const_none;
    self->slot = -1;
    self->created = 0;
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        machine_timer_init_helper(self, n_args > 0 ? n_args - 1 : 0, args + (n_args > 0), &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t machine_timer_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return machine_timer_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_timer_init_obj, 1, machine_timer_init);

static mp_obj_t machine_timer_deinit(mp_obj_t self_in) {
    machine_timer_disarm(MP_OBJ_TO_PTR(self_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_timer_deinit_obj, machine_timer_deinit);

static const mp_rom_map_elem_t machine_timer_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&machine_timer_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&machine_timer_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_ONE_SHOT), MP_ROM_INT(0) },
    { MP_ROM_QSTR(MP_QSTR_PERIODIC), MP_ROM_INT(1) },
};
static MP_DEFINE_CONST_DICT(machine_timer_locals, machine_timer_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    machine_timer_type, MP_QSTR_Timer, MP_TYPE_FLAG_NONE,
    make_new, machine_timer_make_new,
    locals_dict, &machine_timer_locals);
