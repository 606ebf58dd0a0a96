// _ember: ember's own streams in C. Pipe and Signal behave exactly as the Python classes
// in firmware/ember/stream.py and signal.py (the same device tests run against both); the
// runtime takes these when `import _ember` works and its Python classes when not.
//
// What C buys: write/readinto/poll are C calls, not Python methods and a Python ioctl, and
// Signal.set() is one store, safe from a hard IRQ. And the loop itself: run() is core.run()'s
// loop in C. bind() hands it core's globals, and it works on the same variables as the Python
// code (the ready ring, the counters, the handler tables), so the two cannot disagree.
//
// The loop's side of the stream protocol is the same as for the Python streams: `_em` (the
// events the loop has handlers for, set by the loop), `_qd` (events queued in its ready ring)
// and `_deliver(mask)`. A write that makes the pipe readable, while the loop reads it, queues
// the pipe in the ring (core.wake, done in C for the core bind() was given); each pipe keeps
// that wake (so the GC sees it: natmod variables are not scanned).
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
#include "py/objlist.h"
#include "py/objtuple.h"
#include "py/smallint.h"

#define EM_POLLIN (1)
#define EM_POLLOUT (4)
#define EM_OWN (128)  // core._OWN: the loop asks for it, ember's streams answer with it
#define EM_EPIPE (32)

// What bind() was given is kept hidden from the GC (a pointer's complement is no heap address):
// natmod variables are GC roots on unix (all exec memory is scanned) and never freed, so a
// plain pointer would keep a core, and all it holds, alive after its module was dropped.
#define EM_HIDE(p) ((uintptr_t)(p) ^ ~(uintptr_t)0)
#define EM_SHOW(type, h) ((type)((h) ^ ~(uintptr_t)0))
uintptr_t em_wake_h;  // core.wake (hidden), from bind() (not static: natmod .bss must not be)

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
    mp_obj_t wake;  // the loop's wake, as bind() gave it when this pipe was made: held here,
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
        if (attr == MP_QSTR__em && em_wake_h != 0
            && mp_obj_get_type(self_in) == (const mp_obj_type_t *)&pipe_type) {
            // The loop that sets _em is the one bound: its wake, held where the GC sees it
            ((pipe_obj_t *)self)->wake = EM_SHOW(mp_obj_t, em_wake_h);
        }
    }
}

// -- The loop (core.run() in C) ----------------------------------------------------------
// bind(globals) finds core's variables in its module dict once; the loop then reads and
// writes them in place (a store to a global rewrites its slot, so Python's changes are seen
// at once). A slot moves only when the dict grows: every use checks the dict's table first.
#define EM_QSIZE (16)
#define EM_QMASK (15)
#define EM_RD_EVENTS (25)  // POLLIN | POLLERR | POLLHUP run the reader
#define EM_WR_EVENTS (28)  // POLLOUT | POLLERR | POLLHUP run the writer
#define EM_POLL_EVERY_MS (8)
#define EM_TICKS_MASK (MP_SMALL_INT_POSITIVE_MASK)  // time.ticks_ms() wraps at this + 1

enum { G_QH, G_QN, G_TN, G_NH, G_STOP, G_WD, G_SICK, G_EVENTS, G_TM, G_FAULT, G_RD, G_WR,
       G_QS, G_QE, G_IPOLL, G_TICKS, G_WAKE, G_N };

typedef struct _em_core_t {
    uintptr_t g;  // core's globals, hidden (core's module holds them; so does a Pipe's wake)
    uintptr_t table;  // g's table when the slots were found, hidden
    uint16_t slot[G_N];  // where in that table each variable is
} em_core_t;

#ifdef MICROPY_ENABLE_DYNRUNTIME
// A natmod reaches the interpreter's nlr through its function table. The buffer is padded:
// the firmware's nlr may save more registers (hard-float Cortex-M) than this build assumes.
typedef struct { nlr_buf_t nlr; uintptr_t spare[16]; } em_nlr_t;
#define EM_NLR_PUSH(b) (mp_fun_table.nlr_push(&(b)->nlr))
#define EM_NLR_POP() (mp_fun_table.nlr_pop())
#define EM_RAISE(e) (mp_fun_table.raise(e))
#define EM_GETITER(o, buf) (mp_fun_table.getiter((o), (buf)), MP_OBJ_NULL)  // iterates in buf
#define EM_ITERNEXT(it, buf) (mp_fun_table.iternext(buf))
#define EM_CALL_METHOD(n, args) (mp_fun_table.call_method_n_kw((n), 0, (args)))
#else
typedef struct { nlr_buf_t nlr; } em_nlr_t;
#define EM_NLR_PUSH(b) (nlr_push(&(b)->nlr))
#define EM_NLR_POP() (nlr_pop())
#define EM_RAISE(e) (nlr_raise(e))
#define EM_GETITER(o, buf) (mp_getiter((o), (buf)))
#define EM_ITERNEXT(it, buf) (mp_iternext(it))
#define EM_CALL_METHOD(n, args) (mp_call_method_n_kw((n), 0, (args)))
#endif

em_core_t em_core;
mp_obj_t em_sleep_ms = MP_OBJ_NULL;  // time.sleep_ms (built in: not in the heap)

#define EM_G(i) (EM_SHOW(mp_map_elem_t *, em_core.table)[em_core.slot[i]].value)
#define EM_INT(i) MP_OBJ_SMALL_INT_VALUE(EM_G(i))
#define EM_SET_INT(i, v) (EM_G(i) = MP_OBJ_NEW_SMALL_INT(v))

static uint16_t em_find(mp_map_t *map, qstr name) {
    mp_obj_t key = MP_OBJ_NEW_QSTR(name);
    for (size_t i = 0; i < map->alloc; i++) {
        if (map->table[i].key == key) {
            return i;
        }
    }
    mp_raise_msg(&mp_type_RuntimeError, MP_ERROR_TEXT("_ember: not ember's core"));
    return 0;
}

static void em_find_all(void) {
    const qstr names[G_N] = {  // (a natmod's qstrs are known at load, not compile, time)
        MP_QSTR__qh, MP_QSTR__qn, MP_QSTR__tn, MP_QSTR__nh, MP_QSTR__stop, MP_QSTR__wd,
        MP_QSTR__sick, MP_QSTR_events, MP_QSTR__tm, MP_QSTR__fault, MP_QSTR__rd, MP_QSTR__wr,
        MP_QSTR__qs, MP_QSTR__qe, MP_QSTR__ipoll, MP_QSTR_ticks_ms, MP_QSTR_wake,
    };
    mp_map_t *map = &EM_SHOW(mp_obj_dict_t *, em_core.g)->map;
    for (size_t i = 0; i < G_N; i++) {
        em_core.slot[i] = em_find(map, names[i]);
    }
    em_core.table = EM_HIDE(map->table);
}

// Call before touching a slot after anything that may have run Python code.
static inline void em_fresh(void) {
    if (EM_HIDE(EM_SHOW(mp_obj_dict_t *, em_core.g)->map.table) != em_core.table) {
        em_find_all();
    }
}

static inline mp_obj_t em_call1(mp_obj_t fn, mp_obj_t arg) {
    return mp_call_function_n_kw(fn, 1, 0, &arg);
}

static mp_obj_t em_call_method(mp_obj_t obj, qstr name, size_t n_args, mp_obj_t *args) {
    mp_obj_t call[4];
    mp_load_method(obj, name, call);
    for (size_t i = 0; i < n_args; i++) {
        call[2 + i] = args[i];
    }
    return EM_CALL_METHOD(n_args, call);
}

// core.wake(s, ev) for ember's own C streams: the same as the Python function.
static void em_enqueue(em_stream_t *s, mp_int_t ev) {
    mp_int_t qn = EM_INT(G_QN);
    if ((s->qd & ev) || qn >= EM_QSIZE) {
        return;  // queued already, or full: poll will report it
    }
    s->qd |= ev;
    mp_int_t i = (EM_INT(G_QH) + qn) & EM_QMASK;
    ((mp_obj_list_t *)MP_OBJ_TO_PTR(EM_G(G_QS)))->items[i] = MP_OBJ_FROM_PTR(s);
    mp_buffer_info_t qe;
    mp_get_buffer_raise(EM_G(G_QE), &qe, MP_BUFFER_WRITE);
    ((uint8_t *)qe.buf)[i] = ev | EM_OWN;
    EM_SET_INT(G_QN, qn + 1);
}

static bool em_is_own_c(mp_obj_t s) {
    const mp_obj_type_t *type = mp_obj_get_type(s);
    return type == (const mp_obj_type_t *)&pipe_type || type == (const mp_obj_type_t *)&signal_type;
}

static mp_int_t em_deliver(mp_obj_t s, mp_int_t ev);  // by stream kind, below

// bind(globals): core's module dict, whose loop run() runs from now on.
static mp_obj_t em_bind(mp_obj_t g) {
    em_core.g = EM_HIDE(MP_OBJ_TO_PTR(g));
    em_find_all();
    em_wake_h = EM_HIDE(EM_G(G_WAKE));
    #ifdef MICROPY_ENABLE_DYNRUNTIME
    if (em_sleep_ms == MP_OBJ_NULL) {
        mp_obj_t time = mp_fun_table.import_name(MP_QSTR_time, mp_const_none,
            MP_OBJ_NEW_SMALL_INT(0));
        em_sleep_ms = mp_load_attr(time, MP_QSTR_sleep_ms);
    }
    #endif
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(em_bind_obj, em_bind);

// Exceptions a handler raises that the loop reports and survives: Exception and below.
static bool em_is_exception(mp_obj_t exc) {
    return mp_obj_is_true(mp_binary_op(MP_BINARY_OP_EXCEPTION_MATCH, exc,
        MP_OBJ_FROM_PTR(&mp_type_Exception)));
}


// fn(s), isolated: an Exception goes to core._fault(e, fn); anything else stops the loop.
static void em_dispatch(mp_obj_t fn, mp_obj_t s) {
    em_fresh();
    if (EM_G(G_WD) != MP_OBJ_NEW_SMALL_INT(0)) {
        mp_obj_t args[2] = { fn, s };
        em_call_method(EM_G(G_TM), MP_QSTR_call, 2, args);  // timed: the watchdog's timers
        return;
    }
    mp_obj_t events = EM_G(G_EVENTS);
    if (mp_obj_is_small_int(events) && MP_OBJ_SMALL_INT_VALUE(events) < MP_SMALL_INT_MAX) {
        EM_G(G_EVENTS) = MP_OBJ_NEW_SMALL_INT(MP_OBJ_SMALL_INT_VALUE(events) + 1);
    } else {
        EM_G(G_EVENTS) = mp_binary_op(MP_BINARY_OP_ADD, events, MP_OBJ_NEW_SMALL_INT(1));
    }
    em_nlr_t buf;
    if (EM_NLR_PUSH(&buf) == 0) {
        em_call1(fn, s);
        EM_NLR_POP();
    } else {
        mp_obj_t exc = MP_OBJ_FROM_PTR(buf.nlr.ret_val);
        if (!em_is_exception(exc)) {
            EM_RAISE(exc);  // KeyboardInterrupt, SystemExit: not the loop's to keep
        }
        em_fresh();
        mp_obj_t args[2] = { exc, fn };
        mp_call_function_n_kw(EM_G(G_FAULT), 2, 0, args);
    }
}

static mp_obj_t em_lookup(mp_obj_t table, mp_obj_t s) {
    #ifdef MICROPY_ENABLE_DYNRUNTIME
    // No map lookup in a natmod's table: find the key by identity (a stream's equality).
    mp_map_t *map = &((mp_obj_dict_t *)MP_OBJ_TO_PTR(table))->map;
    for (size_t i = 0; i < map->alloc; i++) {
        if (map->table[i].key == s) {
            return map->table[i].value;
        }
    }
    return mp_const_none;
    #else
    mp_map_elem_t *elem = mp_map_lookup(&((mp_obj_dict_t *)MP_OBJ_TO_PTR(table))->map, s,
        MP_MAP_LOOKUP);
    return elem == NULL ? mp_const_none : elem->value;
    #endif
}

// run(globals, until, health): core.run()'s loop, for the core whose globals these are
// (core.run() keeps the rest: the nested-run check, _stop's reset). health is diag.health
// while this boot is still counted, else None.
static mp_obj_t em_run(mp_obj_t g, mp_obj_t until, mp_obj_t health) {
    if (EM_HIDE(MP_OBJ_TO_PTR(g)) != em_core.g) {
        em_bind(g);  // another ember was imported since: this one runs now
    }
    em_fresh();
    mp_obj_t rd = EM_G(G_RD);
    mp_obj_t wr = EM_G(G_WR);
    mp_obj_t ipoll = EM_G(G_IPOLL);
    mp_obj_t ticks = EM_G(G_TICKS);
    mp_obj_list_t *qs = MP_OBJ_TO_PTR(EM_G(G_QS));
    mp_buffer_info_t qe_info;
    mp_get_buffer_raise(EM_G(G_QE), &qe_info, MP_BUFFER_WRITE);
    uint8_t *qe = qe_info.buf;
    mp_int_t last = MP_OBJ_SMALL_INT_VALUE(mp_call_function_n_kw(ticks, 0, 0, NULL));
    for (;;) {
        em_fresh();
        if (EM_INT(G_STOP) >= 2) {
            break;
        }
        if (until != mp_const_none && mp_obj_is_true(mp_load_attr(until, MP_QSTR_done))) {
            break;
        }
        em_fresh();  // (a property may have run Python)
        mp_int_t t = -1;  // poll timeout: none while no timer is armed
        if (EM_G(G_TN) != MP_OBJ_NEW_SMALL_INT(0)) {
            t = mp_obj_get_int(em_call_method(EM_G(G_TM), MP_QSTR_step, 0, NULL));
            em_fresh();
        }
        if (EM_G(G_QN) != MP_OBJ_NEW_SMALL_INT(0) || t == 0) {
            mp_int_t now = MP_OBJ_SMALL_INT_VALUE(mp_call_function_n_kw(ticks, 0, 0, NULL));
            if (EM_G(G_NH) != MP_OBJ_NEW_SMALL_INT(0)
                && ((now - last) & EM_TICKS_MASK) >= EM_POLL_EVERY_MS) {
                t = 0;
                last = now;
            } else {
                t = -2;
            }
        } else if (EM_G(G_NH) == MP_OBJ_NEW_SMALL_INT(0) && t < 0) {
            break;  // idle: nothing can happen any more
        }
        if (t > -2 && health != mp_const_none && mp_obj_is_true(EM_G(G_SICK))) {
            t = mp_obj_get_int(em_call1(health, MP_OBJ_NEW_SMALL_INT(t)));
            em_fresh();
        }
        mp_obj_t s0 = MP_OBJ_NULL;
        mp_int_t e0 = 0;
        if (t > -2) {
            // As in Python: copy into the ring, dispatch after the iteration.
            mp_obj_iter_buf_t iter;
            mp_obj_t it = EM_GETITER(em_call1(ipoll, MP_OBJ_NEW_SMALL_INT(t)), &iter);
            (void)it;
            em_fresh();  // the poll ran Python ioctls and scheduled callbacks
            mp_obj_t item;
            while ((item = EM_ITERNEXT(it, &iter)) != MP_OBJ_STOP_ITERATION) {
                mp_obj_tuple_t *pair = MP_OBJ_TO_PTR(item);
                mp_int_t qn = EM_INT(G_QN);
                if (s0 == MP_OBJ_NULL && qn == 0) {
                    s0 = pair->items[0];
                    e0 = MP_OBJ_SMALL_INT_VALUE(pair->items[1]);
                } else if (qn >= EM_QSIZE) {
                    break;  // level-triggered: the rest is reported next time
                } else {
                    mp_int_t i = (EM_INT(G_QH) + qn) & EM_QMASK;
                    qs->items[i] = pair->items[0];
                    qe[i] = MP_OBJ_SMALL_INT_VALUE(pair->items[1]);
                    EM_SET_INT(G_QN, qn + 1);
                }
            }
        }
        // Dispatch s0, then what is queued now; entries queued meanwhile wait for the next round.
        mp_int_t n = EM_INT(G_QN);
        for (;;) {
            em_fresh();
            if (EM_INT(G_STOP) >= 2) {
                break;
            }
            mp_obj_t s;
            mp_int_t ev;
            if (s0 != MP_OBJ_NULL) {
                s = s0;
                ev = e0;
                s0 = MP_OBJ_NULL;
            } else if (n) {
                n--;
                mp_int_t i = EM_INT(G_QH);
                s = qs->items[i];
                ev = qe[i];
                qs->items[i] = mp_const_none;
                EM_SET_INT(G_QH, (i + 1) & EM_QMASK);
                EM_SET_INT(G_QN, EM_INT(G_QN) - 1);
            } else {
                break;
            }
            if (ev & EM_OWN) {
                ev = em_deliver(s, ev);  // another handler may have drained it since
            }
            if (ev & EM_RD_EVENTS) {
                mp_obj_t fn = em_lookup(rd, s);
                if (fn != mp_const_none) {
                    em_dispatch(fn, s);
                }
            }
            if (ev & EM_WR_EVENTS) {
                mp_obj_t fn = em_lookup(wr, s);
                if (fn != mp_const_none) {
                    em_dispatch(fn, s);
                }
            }
        }
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(em_run_obj, em_run);

static void em_wake_loop(mp_obj_t self, mp_obj_t wake, mp_int_t ev) {
    if (wake == MP_OBJ_NULL) {
        return;
    }
    if (EM_HIDE(wake) == em_wake_h) {  // this pipe's core is bound (its wake keeps it alive)
        em_fresh();
        em_enqueue(MP_OBJ_TO_PTR(self), ev);  // the loop's wake, without a Python call
    } else {
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
    self->wake = MP_OBJ_NULL;  // set with _em: by the loop that reads the pipe
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

// Called by a poll that finds one of these streams not ready: run the callbacks scheduled
// meanwhile (a soft IRQ's, a machine.Timer's) first, as the VM does when a Python ioctl runs.
// Without it, on the unix port a write such a callback makes is seen a poll period (1 ms)
// late: the port's poll runs them only after checking the streams, then sleeps.
static void em_run_pending(void) {
    #ifdef MICROPY_ENABLE_DYNRUNTIME
    if (em_sleep_ms != MP_OBJ_NULL) {
        em_call1(em_sleep_ms, MP_OBJ_NEW_SMALL_INT(0));  // on unix: mp_handle_pending(true)
    }
    #elif MICROPY_ENABLE_SCHEDULER
    if (MP_STATE_VM(sched_state) == MP_SCHED_PENDING) {
        mp_handle_pending(MP_HANDLE_PENDING_CALLBACKS_AND_EXCEPTIONS);
    }
    #endif
}

static mp_uint_t pipe_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    pipe_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        mp_int_t ev = pipe_ready(self, arg);
        if (!ev && (arg & EM_OWN)) {  // (only ember's own poller: not mid another's)
            em_run_pending();
            ev = pipe_ready(self, arg);
        }
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
static mp_int_t signal_take(signal_obj_t *self, mp_int_t mask) {
    mp_int_t ev = self->flag ? (mask & EM_POLLIN) : 0;
    self->flag = false;
    return ev;
}

static mp_obj_t signal_deliver(mp_obj_t self_in, mp_obj_t mask) {
    return MP_OBJ_NEW_SMALL_INT(signal_take(MP_OBJ_TO_PTR(self_in), mp_obj_get_int(mask)));
}
static MP_DEFINE_CONST_FUN_OBJ_2(signal_deliver_obj, signal_deliver);

static mp_uint_t signal_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    signal_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        if (!self->flag && (arg & EM_OWN)) {
            em_run_pending();
        }
        return (self->flag && (arg & EM_POLLIN)) ? (EM_POLLIN | (arg & EM_OWN)) : 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t signal_stream_p = {
    .ioctl = signal_ioctl,
};

// The loop's check just before it runs a handler of one of ember's own streams: clear what
// was queued, return what is ready now (C streams directly; Python ones by their methods).
static mp_int_t em_deliver(mp_obj_t s, mp_int_t ev) {
    if (em_is_own_c(s)) {
        em_stream_t *own = MP_OBJ_TO_PTR(s);
        own->qd &= ~ev;
        if (mp_obj_get_type(s) == (const mp_obj_type_t *)&pipe_type) {
            return pipe_ready(MP_OBJ_TO_PTR(s), ev);
        }
        return signal_take(MP_OBJ_TO_PTR(s), ev);
    }
    mp_int_t qd = mp_obj_get_int(mp_load_attr(s, MP_QSTR__qd));
    mp_store_attr(s, MP_QSTR__qd, MP_OBJ_NEW_SMALL_INT(qd & ~ev));
    mp_obj_t mask = MP_OBJ_NEW_SMALL_INT(ev);
    return mp_obj_get_int(em_call_method(s, MP_QSTR__deliver, 1, &mask));
}

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
    mp_store_global(MP_QSTR_bind, MP_OBJ_FROM_PTR(&em_bind_obj));
    mp_store_global(MP_QSTR_run, MP_OBJ_FROM_PTR(&em_run_obj));

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
    { MP_ROM_QSTR(MP_QSTR_bind), MP_ROM_PTR(&em_bind_obj) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&em_run_obj) },
};
static MP_DEFINE_CONST_DICT(em_module_globals, em_module_globals_table);

const mp_obj_module_t em_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&em_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR__ember, em_module);
#endif
