// irqring: a stream written in C that an ember program reads with set_read_handler.
//
// The template for a user's own C stream joining ember's loop (examples/native_stream/
// README.md): a type with MicroPython's stream protocol whose ioctl answers MP_STREAM_POLL.
// select.poll, and so ember's loop, waits on any such object; nothing about ember is in C.
//
// Ring(size) holds bytes fed by an interrupt: feed(buf) copies what fits and allocates
// nothing, so it may run in a hard IRQ handler (machine.Timer(..., hard=True), a pin IRQ, or
// a C interrupt routine calling ring_feed()). One producer (the IRQ) and one consumer (the
// loop) share it without a lock: the producer only moves `head`, the consumer only `tail`,
// each after its bytes are copied, so neither ever sees a half-written byte.
//
// One source, built two ways:
// - a native .mpy (natmod, the Makefile) for the board's architecture: `ember push` builds
//   it when it pushes the folder this module's folder is in, and puts irqring.mpy beside
//   the program;
// - a user C module linked into the firmware (micropython.mk, MicroPython's
//   USER_C_MODULES): `ember firmware build --c-module <this folder>`.
// The ring and its stream are the same code; only how the type and the module are made
// differs (at load time in RAM for the natmod, as constants in flash for the firmware).

#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/mperrno.h"
#include "py/runtime.h"
#include "py/stream.h"
#endif

typedef struct _ring_obj_t {
    mp_obj_base_t base;
    uint8_t *buf;
    mp_uint_t size;           // a power of two
    volatile mp_uint_t head;  // bytes ever written (only feed moves it)
    volatile mp_uint_t tail;  // bytes ever read (only the reader moves it)
    volatile mp_uint_t dropped;  // bytes feed could not store: the reader was too slow
} ring_obj_t;

#ifdef MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t ring_type;  // filled in by mpy_init
#else
extern const mp_obj_type_t ring_type;
#endif

static mp_uint_t ring_held(ring_obj_t *self) {
    return self->head - self->tail;  // unsigned wrap-around keeps this right
}

// What an interrupt routine in C calls; feed() below is its Python face.
static mp_uint_t ring_feed(ring_obj_t *self, const uint8_t *data, mp_uint_t len) {
    mp_uint_t room = self->size - ring_held(self);
    mp_uint_t n = len < room ? len : room;
    mp_uint_t head = self->head;
    for (mp_uint_t i = 0; i < n; i++) {
        self->buf[(head + i) & (self->size - 1)] = data[i];
    }
    self->head = head + n;  // publish after the copy
    self->dropped += len - n;
    return n;
}

static mp_obj_t ring_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    mp_int_t want = n_args ? mp_obj_get_int(args[0]) : 256;
    if (want < 1 || want > 65536) {
        mp_raise_ValueError(MP_ERROR_TEXT("size: 1 to 65536"));
    }
    mp_uint_t size = 1;
    while (size < (mp_uint_t)want) {
        size <<= 1;
    }
    ring_obj_t *self = mp_obj_malloc(ring_obj_t, type);
    self->buf = m_new(uint8_t, size);  // reachable from self: the GC keeps it
    self->size = size;
    self->head = self->tail = self->dropped = 0;
    return MP_OBJ_FROM_PTR(self);
}

// feed(buf): store what fits of buf; return how many bytes were stored. No allocation.
static mp_obj_t ring_feed_py(mp_obj_t self_in, mp_obj_t data_in) {
    ring_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t info;
    mp_get_buffer_raise(data_in, &info, MP_BUFFER_READ);
    return mp_obj_new_int(ring_feed(self, info.buf, info.len));
}
static MP_DEFINE_CONST_FUN_OBJ_2(ring_feed_obj, ring_feed_py);

// any(): bytes waiting. dropped(): bytes lost since the last call (and resets the count).
static mp_obj_t ring_any(mp_obj_t self_in) {
    return mp_obj_new_int(ring_held(MP_OBJ_TO_PTR(self_in)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(ring_any_obj, ring_any);

static mp_obj_t ring_dropped(mp_obj_t self_in) {
    ring_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_uint_t n = self->dropped;
    self->dropped -= n;  // an IRQ may add to it meanwhile: only what was read is taken off
    return mp_obj_new_int(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(ring_dropped_obj, ring_dropped);

// The stream protocol: read/readinto never block (empty: EAGAIN, which the stream layer
// turns into None); poll reports POLLIN while bytes wait.
static mp_uint_t ring_read(mp_obj_t self_in, void *out, mp_uint_t size, int *errcode) {
    ring_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_uint_t held = ring_held(self);
    if (held == 0) {
        *errcode = MP_EAGAIN;
        return MP_STREAM_ERROR;
    }
    mp_uint_t n = size < held ? size : held;
    mp_uint_t tail = self->tail;
    for (mp_uint_t i = 0; i < n; i++) {
        ((uint8_t *)out)[i] = self->buf[(tail + i) & (self->size - 1)];
    }
    self->tail = tail + n;  // give the room back after the copy
    return n;
}

static mp_uint_t ring_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    ring_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        return ring_held(self) ? (arg & MP_STREAM_POLL_RD) : 0;
    }
    if (request == MP_STREAM_CLOSE) {
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t ring_stream_p = {
    .read = ring_read,
    .ioctl = ring_ioctl,
};

#ifdef MICROPY_ENABLE_DYNRUNTIME
// The native .mpy: the type and the module's globals are made when it is imported.
mp_map_elem_t ring_locals_dict_table[5];
static MP_DEFINE_CONST_DICT(ring_locals_dict, ring_locals_dict_table);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    ring_type.base.type = (void *)&mp_type_type;
    ring_type.flags = MP_TYPE_FLAG_ITER_IS_STREAM;
    ring_type.name = MP_QSTR_Ring;
    MP_OBJ_TYPE_SET_SLOT(&ring_type, make_new, ring_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&ring_type, protocol, &ring_stream_p, 1);
    ring_locals_dict_table[0] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_feed), MP_OBJ_FROM_PTR(&ring_feed_obj) };
    ring_locals_dict_table[1] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_any), MP_OBJ_FROM_PTR(&ring_any_obj) };
    ring_locals_dict_table[2] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_dropped), MP_OBJ_FROM_PTR(&ring_dropped_obj) };
    ring_locals_dict_table[3] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_read), MP_OBJ_FROM_PTR(&mp_stream_read_obj) };
    ring_locals_dict_table[4] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_readinto), MP_OBJ_FROM_PTR(&mp_stream_readinto_obj) };
    MP_OBJ_TYPE_SET_SLOT(&ring_type, locals_dict, (void *)&ring_locals_dict, 2);

    mp_store_global(MP_QSTR_Ring, MP_OBJ_FROM_PTR(&ring_type));

    MP_DYNRUNTIME_INIT_EXIT
}
#else
// The firmware's module: constants, in flash.
static const mp_rom_map_elem_t ring_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_feed), MP_ROM_PTR(&ring_feed_obj) },
    { MP_ROM_QSTR(MP_QSTR_any), MP_ROM_PTR(&ring_any_obj) },
    { MP_ROM_QSTR(MP_QSTR_dropped), MP_ROM_PTR(&ring_dropped_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
};
static MP_DEFINE_CONST_DICT(ring_locals_dict, ring_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    ring_type, MP_QSTR_Ring, MP_TYPE_FLAG_ITER_IS_STREAM,
    make_new, ring_make_new,
    protocol, &ring_stream_p,
    locals_dict, &ring_locals_dict
    );

static const mp_rom_map_elem_t irqring_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_irqring) },
    { MP_ROM_QSTR(MP_QSTR_Ring), MP_ROM_PTR(&ring_type) },
};
static MP_DEFINE_CONST_DICT(irqring_globals, irqring_globals_table);

const mp_obj_module_t irqring_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&irqring_globals,
};

MP_REGISTER_MODULE(MP_QSTR_irqring, irqring_module);
#endif
