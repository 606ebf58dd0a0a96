// _ember: ember's own streams in C. Pipe and Signal behave exactly as the Python classes
// in firmware/ember/stream.py and signal.py (the same device tests run against both); the
// runtime takes these when `import _ember` works and its Python classes when not.
//
// What C buys: write/readinto/poll are C calls, not Python methods and a Python ioctl, and
// Signal.set() is one store, safe from a hard IRQ. The loop's side of the protocol is the
// same as for the Python streams: `_em` (the events the loop has handlers for, set by the
// loop), `_qd` (events queued in its ready ring) and `_deliver(mask)`; a write that makes
// the pipe readable, while the loop reads it, calls the loop's wake(pipe, POLLIN), which
// init() hands over and each pipe keeps (so the GC sees it: natmod variables are not
// scanned; between init() and a pipe, core's module holds it).
//
// One source, built two ways: a native .mpy (the Makefile, `#ifdef MICROPY_ENABLE_DYNRUNTIME`)
// or a user C module linked into the firmware (micropython.mk).

#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include <string.h>
#include "py/mperrno.h"
#include "py/runtime.h"
#include "py/stream.h"
#endif

#define EM_POLLIN (1)
#define EM_POLLOUT (4)
#define EM_OWN (128)  // core._OWN: the loop asks for it, ember's streams answer with it
#define EM_EPIPE (32)

mp_obj_t em_wake = MP_OBJ_NULL;  // core.wake, from init() (not static: natmod .bss must not be)

// Both types begin with these fields, so that one attr handler serves both.
typedef struct _em_stream_t {
    mp_obj_base_t base;
    mp_int_t em;  // events the loop has handlers for
    mp_int_t qd;  // events queued in the loop's ready ring
} em_stream_t;

typedef struct _pipe_obj_t {
    mp_obj_base_t base;
    mp_int_t em;
    mp_int_t qd;
    mp_obj_t wake;  // the loop's wake, as init() gave it when this pipe was made: held here,
    // where the GC sees it (a natmod's own variables are not scanned)
    uint8_t *buf;
    mp_int_t size;
    mp_int_t r;  // offset of the first unread byte
    mp_int_t n;  // bytes held
    bool closed;
} pipe_obj_t;

typedef struct _signal_obj_t {
    mp_obj_base_t base;
    mp_int_t em;
    mp_int_t qd;
    volatile bool flag;
} signal_obj_t;

#ifdef MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t pipe_type;
mp_obj_full_type_t signal_type;
static void *em_memmove(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
#else
extern const mp_obj_type_t pipe_type;
extern const mp_obj_type_t signal_type;
#define em_memmove memmove
#endif

// _em and _qd: plain integer attributes, read and written by the loop.
static void em_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    em_stream_t *self = MP_OBJ_TO_PTR(self_in);
    mp_int_t *field = attr == MP_QSTR__em ? &self->em : attr == MP_QSTR__qd ? &self->qd : NULL;
    if (field == NULL) {
        dest[1] = MP_OBJ_SENTINEL;  // not ours: look in the type's methods
    } else if (dest[0] == MP_OBJ_NULL) {
        dest[0] = mp_obj_new_int(*field);
    } else if (dest[1] != MP_OBJ_NULL) {
        *field = mp_obj_get_int(dest[1]);
        dest[0] = MP_OBJ_NULL;  // stored
    }
}

static void em_wake_loop(mp_obj_t self, mp_obj_t wake, mp_int_t ev) {
    if (wake != MP_OBJ_NULL) {
        mp_obj_t args[2] = { self, MP_OBJ_NEW_SMALL_INT(ev) };
        mp_call_function_n_kw(wake, 2, 0, args);
    }
}

// -- Pipe ------------------------------------------------------------------------------
static mp_int_t pipe_ready(pipe_obj_t *self, mp_int_t mask) {
    mp_int_t ev = (self->n || self->closed) ? EM_POLLIN : 0;
    if (self->n < self->size && !self->closed) {
        ev |= EM_POLLOUT;
    }
    return ev & mask;
}

static mp_obj_t pipe_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    mp_int_t size = n_args ? mp_obj_get_int(args[0]) : 256;
    if (size < 1) {
        mp_raise_ValueError(MP_ERROR_TEXT("size must be at least 1"));
    }
    pipe_obj_t *self = mp_obj_malloc(pipe_obj_t, type);
    self->wake = em_wake;
    self->buf = m_new(uint8_t, size);  // reachable from self: the GC keeps it
    self->size = size;
    self->em = self->qd = self->r = self->n = 0;
    self->closed = false;
    return MP_OBJ_FROM_PTR(self);
}

// write(buf, off=0, n=-1): append what fits; the count, or None when full.
static mp_obj_t pipe_write(size_t n_args, const mp_obj_t *args) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    if (self->closed) {
        mp_raise_OSError(EM_EPIPE);
    }
    mp_buffer_info_t info;
    mp_get_buffer_raise(args[1], &info, MP_BUFFER_READ);
    mp_int_t off = n_args > 2 ? mp_obj_get_int(args[2]) : 0;
    mp_int_t n = n_args > 3 ? mp_obj_get_int(args[3]) : -1;
    if (off < 0 || off > (mp_int_t)info.len) {
        mp_raise_ValueError(MP_ERROR_TEXT("offset out of range"));
    }
    if (n < 0 || n > (mp_int_t)info.len - off) {
        n = info.len - off;
    }
    mp_int_t k = self->size - self->n;
    if (n < k) {
        k = n;
    }
    if (k <= 0) {
        return mp_const_none;
    }
    if (self->r + self->n + k > self->size) {  // not enough room past the data: compact
        em_memmove(self->buf, self->buf + self->r, self->n);
        self->r = 0;
    }
    em_memmove(self->buf + self->r + self->n, (uint8_t *)info.buf + off, k);
    self->n += k;
    if (self->em & EM_POLLIN) {
        em_wake_loop(args[0], self->wake, EM_POLLIN);  // the reader runs next round, no poll
    }
    return MP_OBJ_NEW_SMALL_INT(k);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pipe_write_obj, 2, 4, pipe_write);

// Takes up to `want` bytes off the front into `out` (NULL: the caller copies first).
static mp_int_t pipe_take(pipe_obj_t *self, mp_obj_t self_in, uint8_t *out, mp_int_t want) {
    mp_int_t k = self->n < want ? self->n : want;
    if (out != NULL) {
        em_memmove(out, self->buf + self->r, k);
    }
    self->n -= k;
    self->r = self->n ? self->r + k : 0;
    if (self->em & EM_POLLOUT) {
        em_wake_loop(self_in, self->wake, EM_POLLOUT);
    }
    return k;
}

// readinto(buf, n=-1): the count moved, None when empty, 0 once closed and drained.
static mp_obj_t pipe_readinto(size_t n_args, const mp_obj_t *args) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_buffer_info_t info;
    mp_get_buffer_raise(args[1], &info, MP_BUFFER_WRITE);
    mp_int_t n = n_args > 2 ? mp_obj_get_int(args[2]) : -1;
    if (n < 0 || n > (mp_int_t)info.len) {
        n = info.len;
    }
    if (!self->n) {
        return self->closed ? MP_OBJ_NEW_SMALL_INT(0) : mp_const_none;
    }
    return MP_OBJ_NEW_SMALL_INT(pipe_take(self, args[0], info.buf, n));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pipe_readinto_obj, 2, 3, pipe_readinto);

// read(n=-1): up to n bytes (all by default), None when empty, b"" once closed and drained.
static mp_obj_t pipe_read(size_t n_args, const mp_obj_t *args) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_int_t n = n_args > 1 ? mp_obj_get_int(args[1]) : -1;
    if (!self->n) {
        return self->closed ? mp_obj_new_bytes(NULL, 0) : mp_const_none;
    }
    mp_int_t k = (n >= 0 && n < self->n) ? n : self->n;
    mp_obj_t data = mp_obj_new_bytes(self->buf + self->r, k);  // allocates, before taking
    pipe_take(self, args[0], NULL, k);
    return data;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pipe_read_obj, 1, 2, pipe_read);

// close(): no more writes; the reader gets the rest, then EOF.
static mp_obj_t pipe_close(mp_obj_t self_in) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->closed) {
        self->closed = true;
        if (self->em & EM_POLLIN) {
            em_wake_loop(self_in, self->wake, EM_POLLIN);
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pipe_close_obj, pipe_close);

// _deliver(mask): the loop's check just before it runs a handler.
static mp_obj_t pipe_deliver(mp_obj_t self_in, mp_obj_t mask) {
    return MP_OBJ_NEW_SMALL_INT(pipe_ready(MP_OBJ_TO_PTR(self_in), mp_obj_get_int(mask)));
}
static MP_DEFINE_CONST_FUN_OBJ_2(pipe_deliver_obj, pipe_deliver);

static mp_uint_t pipe_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        mp_int_t ev = pipe_ready(self, arg);
        return ev ? (ev | (arg & EM_OWN)) : 0;
    }
    if (request == MP_STREAM_CLOSE) {
        pipe_close(self_in);
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t pipe_stream_p = {
    .ioctl = pipe_ioctl,
};

// -- Signal ----------------------------------------------------------------------------
static mp_obj_t signal_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    signal_obj_t *self = mp_obj_malloc(signal_obj_t, type);
    self->em = self->qd = 0;
    self->flag = false;
    return MP_OBJ_FROM_PTR(self);
}

// set(): one store, no allocation: safe in a hard IRQ.
static mp_obj_t signal_set(mp_obj_t self_in) {
    ((signal_obj_t *)MP_OBJ_TO_PTR(self_in))->flag = true;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(signal_set_obj, signal_set);

static mp_obj_t signal_clear(mp_obj_t self_in) {
    ((signal_obj_t *)MP_OBJ_TO_PTR(self_in))->flag = false;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(signal_clear_obj, signal_clear);

static mp_obj_t signal_is_set(mp_obj_t self_in) {
    return mp_obj_new_bool(((signal_obj_t *)MP_OBJ_TO_PTR(self_in))->flag);
}
static MP_DEFINE_CONST_FUN_OBJ_1(signal_is_set_obj, signal_is_set);

// _deliver(mask): just before the reader runs: consume the flag.
static mp_obj_t signal_deliver(mp_obj_t self_in, mp_obj_t mask) {
    signal_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_int_t ev = self->flag ? (mp_obj_get_int(mask) & EM_POLLIN) : 0;
    self->flag = false;
    return MP_OBJ_NEW_SMALL_INT(ev);
}
static MP_DEFINE_CONST_FUN_OBJ_2(signal_deliver_obj, signal_deliver);

static mp_uint_t signal_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    signal_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        return (self->flag && (arg & EM_POLLIN)) ? (EM_POLLIN | (arg & EM_OWN)) : 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t signal_stream_p = {
    .ioctl = signal_ioctl,
};

// init(wake): the loop's wake(stream, ev), which a Pipe calls as the Python one does.
static mp_obj_t em_init(mp_obj_t wake) {
    em_wake = wake;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(em_init_obj, em_init);

#ifdef MICROPY_ENABLE_DYNRUNTIME
mp_map_elem_t pipe_locals_table[5];
static MP_DEFINE_CONST_DICT(pipe_locals_dict, pipe_locals_table);
mp_map_elem_t signal_locals_table[4];
static MP_DEFINE_CONST_DICT(signal_locals_dict, signal_locals_table);

#define EM_ENTRY(name, obj) (mp_map_elem_t){ MP_OBJ_NEW_QSTR(name), MP_OBJ_FROM_PTR(obj) }

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    pipe_type.base.type = (void *)&mp_type_type;
    pipe_type.name = MP_QSTR_Pipe;
    MP_OBJ_TYPE_SET_SLOT(&pipe_type, make_new, pipe_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&pipe_type, protocol, &pipe_stream_p, 1);
    MP_OBJ_TYPE_SET_SLOT(&pipe_type, attr, em_attr, 2);
    pipe_locals_table[0] = EM_ENTRY(MP_QSTR_write, &pipe_write_obj);
    pipe_locals_table[1] = EM_ENTRY(MP_QSTR_readinto, &pipe_readinto_obj);
    pipe_locals_table[2] = EM_ENTRY(MP_QSTR_read, &pipe_read_obj);
    pipe_locals_table[3] = EM_ENTRY(MP_QSTR_close, &pipe_close_obj);
    pipe_locals_table[4] = EM_ENTRY(MP_QSTR__deliver, &pipe_deliver_obj);
    MP_OBJ_TYPE_SET_SLOT(&pipe_type, locals_dict, (void *)&pipe_locals_dict, 3);

    signal_type.base.type = (void *)&mp_type_type;
    signal_type.name = MP_QSTR_Signal;
    MP_OBJ_TYPE_SET_SLOT(&signal_type, make_new, signal_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&signal_type, protocol, &signal_stream_p, 1);
    MP_OBJ_TYPE_SET_SLOT(&signal_type, attr, em_attr, 2);
    signal_locals_table[0] = EM_ENTRY(MP_QSTR_set, &signal_set_obj);
    signal_locals_table[1] = EM_ENTRY(MP_QSTR_clear, &signal_clear_obj);
    signal_locals_table[2] = EM_ENTRY(MP_QSTR_is_set, &signal_is_set_obj);
    signal_locals_table[3] = EM_ENTRY(MP_QSTR__deliver, &signal_deliver_obj);
    MP_OBJ_TYPE_SET_SLOT(&signal_type, locals_dict, (void *)&signal_locals_dict, 3);

    mp_store_global(MP_QSTR_Pipe, MP_OBJ_FROM_PTR(&pipe_type));
    mp_store_global(MP_QSTR_Signal, MP_OBJ_FROM_PTR(&signal_type));
    mp_store_global(MP_QSTR_init, MP_OBJ_FROM_PTR(&em_init_obj));

    MP_DYNRUNTIME_INIT_EXIT
}
#else
static const mp_rom_map_elem_t pipe_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&pipe_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&pipe_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&pipe_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&pipe_close_obj) },
    { MP_ROM_QSTR(MP_QSTR__deliver), MP_ROM_PTR(&pipe_deliver_obj) },
};
static MP_DEFINE_CONST_DICT(pipe_locals_dict, pipe_locals_table);
MP_DEFINE_CONST_OBJ_TYPE(pipe_type, MP_QSTR_Pipe, MP_TYPE_FLAG_NONE,
    make_new, pipe_make_new, protocol, &pipe_stream_p, attr, em_attr,
    locals_dict, &pipe_locals_dict);

static const mp_rom_map_elem_t signal_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_set), MP_ROM_PTR(&signal_set_obj) },
    { MP_ROM_QSTR(MP_QSTR_clear), MP_ROM_PTR(&signal_clear_obj) },
    { MP_ROM_QSTR(MP_QSTR_is_set), MP_ROM_PTR(&signal_is_set_obj) },
    { MP_ROM_QSTR(MP_QSTR__deliver), MP_ROM_PTR(&signal_deliver_obj) },
};
static MP_DEFINE_CONST_DICT(signal_locals_dict, signal_locals_table);
MP_DEFINE_CONST_OBJ_TYPE(signal_type, MP_QSTR_Signal, MP_TYPE_FLAG_NONE,
    make_new, signal_make_new, protocol, &signal_stream_p, attr, em_attr,
    locals_dict, &signal_locals_dict);

static const mp_rom_map_elem_t em_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__ember) },
    { MP_ROM_QSTR(MP_QSTR_Pipe), MP_ROM_PTR(&pipe_type) },
    { MP_ROM_QSTR(MP_QSTR_Signal), MP_ROM_PTR(&signal_type) },
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&em_init_obj) },
};
static MP_DEFINE_CONST_DICT(em_module_globals, em_module_globals_table);

const mp_obj_module_t em_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&em_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__ember, em_module);
#endif
