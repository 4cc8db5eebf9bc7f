/* The common case of encode.encode, in C: one span's ``ScopeSpans.spans`` field.
 *
 * Why C: in Python, encoding was the largest part of what our pipeline adds to a traced
 * request beyond the SDK's own span, and the interpreter's dispatch most of it; with this
 * module the export end of a one-span request went from 59,756 to 28,758 instructions
 * (bench_http --instructions; docs/export.md, "A compiled encoder"). Optional: when this
 * module was not built (no compiler at install time), encode.py writes the same bytes in
 * Python.
 *
 * Only C-API calls that run no Python code are made while the attribute dict is walked
 * (no allocation of GC-tracked objects, no callbacks), so no other thread can change it
 * under PyDict_Next; an ended span's attributes are not changed anyway.
 *
 * Contract with encode.py: ``span_field`` returns the bytes the Python path returns for the
 * same arguments, or ``None`` for anything it does not handle (an attribute value that is not
 * exactly str, bool, int within int64, float, bytes or None, or a list or tuple of those; a
 * key that is not exactly str; a
 * string that is not valid UTF-8; an id out of range), and the Python path then encodes the
 * span, with its own error handling. It never raises for such input (only MemoryError).
 * tests/export/test_encode.py compares the two byte for byte. ``fields_field`` is the same
 * from a span's fields as encode.py reads them, for the common span (see its doc), declining
 * the rest to encode.py in the same way; tests/export/test_speedups.py compares it too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    Py_ssize_t n;
    Py_ssize_t cap;
    unsigned char stack[1536];
} Buf;

static int
buf_grow(Buf *b, Py_ssize_t extra)
{
    Py_ssize_t want = b->n + extra;
    if (want <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap * 2 > want ? b->cap * 2 : want;
    unsigned char *p;
    if (b->p == b->stack) {
        p = PyMem_Malloc(cap);
        if (p != NULL) {
            memcpy(p, b->stack, b->n);
        }
    }
    else {
        p = PyMem_Realloc(b->p, cap);
    }
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void
buf_free(Buf *b)
{
    if (b->p != b->stack) {
        PyMem_Free(b->p);
    }
}

static inline int
varint_size(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The callers reserve room first: these never grow the buffer. */
static inline void
put_varint(Buf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->p[b->n++] = (unsigned char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (unsigned char)v;
}

static inline void
put_raw(Buf *b, const void *data, Py_ssize_t n)
{
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static inline void
put_be64(Buf *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b->p[b->n++] = (unsigned char)(v >> (8 * i));
    }
}

static inline void
put_le64(Buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b->p[b->n++] = (unsigned char)(v >> (8 * i));
    }
}

/* A length-delimited field: tag, varint length, payload. */
static int
put_ld(Buf *b, unsigned char tag, const char *data, Py_ssize_t n)
{
    if (buf_grow(b, 1 + 10 + n) < 0) {
        return -1;
    }
    b->p[b->n++] = tag;
    put_varint(b, (uint64_t)n);
    put_raw(b, data, n);
    return 0;
}

/* Ok, not handled here (the Python path encodes the span), or an error is set. */
enum { OK = 0, DECLINE = 1, FAIL = -1 };

static PyObject *two_to_64;  /* the int 2**64, the bound of a 64-bit id */
static PyObject *sixty_four; /* the int 64, for splitting trace ids */

/* 0 <= v < 2**64 as an unsigned 64-bit integer; DECLINE for anything else.
 *
 * Not PyLong_AsUnsignedLongLong: for any int of more than one 30-bit digit (every id and
 * time) it goes through the generic byte-array conversion, and raises (an exception object)
 * on overflow, which every 128-bit trace id did; under callgrind that was a large share of
 * this module's instructions (docs/export.md, "Compiled where the dispatch was the cost").
 * The signed conversion is a plain loop over the digits; ids of 2**63 and more (half of all
 * random span ids) take the masked conversion, another plain loop, after one comparison
 * with 2**64. */
static int
as_u64(PyObject *v, uint64_t *out)
{
    if (!PyLong_CheckExact(v)) {
        return DECLINE;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0) {
        if (x < 0) {
            if (x == -1 && PyErr_Occurred()) {
                PyErr_Clear();
            }
            return DECLINE;
        }
        *out = (uint64_t)x;
        return OK;
    }
    if (overflow < 0) {
        return DECLINE;
    }
    int below = PyObject_RichCompareBool(v, two_to_64, Py_LT);
    if (below <= 0) {
        PyErr_Clear();
        return DECLINE;
    }
    *out = (uint64_t)PyLong_AsUnsignedLongLongMask(v);
    return OK;
}

/* A 128-bit trace id as two halves (what int.to_bytes(16, "big") accepts). */
static int
as_u128(PyObject *v, uint64_t *hi, uint64_t *lo)
{
    if (!PyLong_CheckExact(v)) {
        return DECLINE;
    }
    /* The high half is in range (0 <= it < 2**64) exactly when v is (0 <= v < 2**128). */
    PyObject *high = PyNumber_Rshift(v, sixty_four);
    if (high == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    int got = as_u64(high, hi);
    Py_DECREF(high);
    if (got != OK) {
        return got;
    }
    *lo = (uint64_t)PyLong_AsUnsignedLongLongMask(v);
    if (*lo == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return DECLINE;
    }
    return OK;
}

/* UTF-8 of an exact str; DECLINE when it has none (lone surrogates). */
static int
utf8_of(PyObject *s, const char **data, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(s)) {
        return DECLINE;
    }
    *data = PyUnicode_AsUTF8AndSize(s, n);
    if (*data == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    return OK;
}

/* An AnyValue holding a scalar: its one member's tag, then a varint, 8 bytes, or a length
 * and ``data``; ``any`` is the AnyValue's length (0 for None: an empty AnyValue). */
typedef struct {
    enum { NONE, VARINT, FIXED, BYTES } shape;
    unsigned char tag;
    uint64_t number;
    unsigned char fixed[8];
    const char *data;
    Py_ssize_t n;
    Py_ssize_t any;
} Scalar;

static int
scalar_of(PyObject *value, Scalar *v)
{
    if (value == Py_None) {
        v->shape = NONE;
        v->any = 0;
    }
    else if (PyUnicode_CheckExact(value)) {
        if (utf8_of(value, &v->data, &v->n) != OK) {
            return DECLINE;
        }
        v->shape = BYTES;
        v->tag = 0x0a;
        v->any = 1 + varint_size((uint64_t)v->n) + v->n;
    }
    else if (PyBool_Check(value)) {
        v->shape = VARINT;
        v->tag = 0x10;
        v->number = value == Py_True;
        v->any = 2;
    }
    else if (PyLong_CheckExact(value)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (x == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return DECLINE;
        }
        v->shape = VARINT;
        v->tag = 0x18;
        v->number = (uint64_t)x; /* int64: two's complement, ten bytes when negative */
        v->any = 1 + varint_size(v->number);
    }
    else if (PyFloat_CheckExact(value)) {
        if (PyFloat_Pack8(PyFloat_AS_DOUBLE(value), (char *)v->fixed, 1) < 0) {
            PyErr_Clear();
            return DECLINE;
        }
        v->shape = FIXED;
        v->tag = 0x21;
        v->any = 9;
    }
    else if (PyBytes_CheckExact(value)) {
        v->shape = BYTES;
        v->tag = 0x3a;
        v->data = PyBytes_AS_STRING(value);
        v->n = PyBytes_GET_SIZE(value);
        v->any = 1 + varint_size((uint64_t)v->n) + v->n;
    }
    else {
        return DECLINE; /* nested sequences, mappings, subclasses: the Python path */
    }
    return OK;
}

/* The AnyValue's content (room reserved by the caller). */
static void
put_scalar(Buf *b, const Scalar *v)
{
    switch (v->shape) {
    case NONE:
        break;
    case VARINT:
        b->p[b->n++] = v->tag;
        put_varint(b, v->number);
        break;
    case FIXED:
        b->p[b->n++] = v->tag;
        put_raw(b, v->fixed, 8);
        break;
    case BYTES:
        b->p[b->n++] = v->tag;
        put_varint(b, (uint64_t)v->n);
        put_raw(b, v->data, v->n);
        break;
    }
}

/* One attribute as a ``tag``-ged KeyValue field, the bytes caches.KeyValues writes. A list
 * or tuple of scalars is an ArrayValue (AnyValue field 5) of one AnyValue (field 1) each,
 * as wire.encode_any writes it: sized in a first pass, written in a second (an element's
 * encoding is cheap to work out again, and nothing is allocated). */
static int
put_attribute(Buf *b, unsigned char tag, PyObject *key, PyObject *value)
{
    const char *k;
    Py_ssize_t nk;
    if (utf8_of(key, &k, &nk) != OK) {
        return DECLINE;
    }
    Scalar v;
    Py_ssize_t any; /* the AnyValue's length */
    Py_ssize_t array = -1; /* the ArrayValue's length, for a list or tuple */
    PyObject **items = NULL;
    Py_ssize_t count = 0;
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {
        items = PySequence_Fast_ITEMS(value);
        count = PySequence_Fast_GET_SIZE(value);
        array = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            if (scalar_of(items[i], &v) != OK) {
                return DECLINE;
            }
            array += 1 + varint_size((uint64_t)v.any) + v.any;
        }
        any = 1 + varint_size((uint64_t)array) + array;
    }
    else {
        if (scalar_of(value, &v) != OK) {
            return DECLINE;
        }
        any = v.any;
    }
    Py_ssize_t kv = 1 + varint_size((uint64_t)nk) + nk + 1 + varint_size((uint64_t)any) + any;
    if (buf_grow(b, 1 + 10 + kv) < 0) {
        return FAIL;
    }
    b->p[b->n++] = tag;
    put_varint(b, (uint64_t)kv);
    b->p[b->n++] = 0x0a;
    put_varint(b, (uint64_t)nk);
    put_raw(b, k, nk);
    b->p[b->n++] = 0x12;
    put_varint(b, (uint64_t)any);
    if (array < 0) {
        put_scalar(b, &v);
        return OK;
    }
    b->p[b->n++] = 0x2a;
    put_varint(b, (uint64_t)array);
    for (Py_ssize_t i = 0; i < count; i++) {
        /* The same objects as in the first pass: nothing ran in between. */
        (void)scalar_of(items[i], &v);
        b->p[b->n++] = 0x0a;
        put_varint(b, (uint64_t)v.any);
        put_scalar(b, &v);
    }
    return OK;
}

static int
put_bytes_arg(Buf *b, PyObject *v)
{
    if (!PyBytes_CheckExact(v)) {
        return DECLINE;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(v);
    if (buf_grow(b, n) < 0) {
        return FAIL;
    }
    put_raw(b, PyBytes_AS_STRING(v), n);
    return OK;
}

/* An optional time (None or 0: absent) as a fixed64 field. */
static int
put_time(Buf *b, unsigned char tag, PyObject *t)
{
    if (t == Py_None) {
        return OK;
    }
    uint64_t v;
    if (as_u64(t, &v) != OK) {
        return DECLINE;
    }
    if (v) {
        b->p[b->n++] = tag;
        put_le64(b, v);
    }
    return OK;
}

static int
put_body(Buf *b, PyObject *const *args)
{
    PyObject *trace_id = args[0], *span_id = args[1], *state = args[2], *parent = args[3];
    PyObject *name = args[4], *kind = args[5], *start = args[6], *end = args[7];
    PyObject *attributes = args[8], *rare = args[9], *tail = args[10];
    uint64_t hi, lo, sid, pid = 0, kind_value;
    int got;
    if ((got = as_u128(trace_id, &hi, &lo)) != OK || (got = as_u64(span_id, &sid)) != OK) {
        return got;
    }
    if (parent != Py_None && (got = as_u64(parent, &pid)) != OK) {
        return got;
    }
    if ((got = as_u64(kind, &kind_value)) != OK || kind_value >= 0x80) {
        return DECLINE;
    }
    if (!PyDict_CheckExact(attributes)) {
        return DECLINE;
    }
    /* Fixed part: ids (2 + 16 + 2 + 8), parent (2 + 8), kind (2), times (2 * 9). */
    if (buf_grow(b, 28 + 10 + 2 + 18) < 0) {
        return FAIL;
    }
    b->p[b->n++] = 0x0a;
    b->p[b->n++] = 0x10;
    put_be64(b, hi);
    put_be64(b, lo);
    b->p[b->n++] = 0x12;
    b->p[b->n++] = 0x08;
    put_be64(b, sid);
    if ((got = put_bytes_arg(b, state)) != OK) {
        return got;
    }
    if (buf_grow(b, 10 + 2 + 18) < 0) {
        return FAIL;
    }
    if (parent != Py_None) {
        b->p[b->n++] = 0x22;
        b->p[b->n++] = 0x08;
        put_be64(b, pid);
    }
    const char *text;
    Py_ssize_t n;
    if (utf8_of(name, &text, &n) != OK) {
        return DECLINE;
    }
    if (n && put_ld(b, 0x2a, text, n) < 0) {
        return FAIL;
    }
    if (buf_grow(b, 2 + 18) < 0) {
        return FAIL;
    }
    b->p[b->n++] = 0x30;
    b->p[b->n++] = (unsigned char)kind_value;
    if ((got = put_time(b, 0x39, start)) != OK || (got = put_time(b, 0x41, end)) != OK) {
        return got;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(attributes, &pos, &key, &value)) {
        if ((got = put_attribute(b, 0x4a, key, value)) != OK) {
            return got;
        }
    }
    if ((got = put_bytes_arg(b, rare)) != OK || (got = put_bytes_arg(b, tail)) != OK) {
        return got;
    }
    return OK;
}

/* The field for the 11 arguments of ``span_field``: bytes, None (declined) or NULL (error). */
static PyObject *
field_of(PyObject *const *args)
{
    Buf b;
    b.p = b.stack;
    b.n = 0;
    b.cap = (Py_ssize_t)sizeof(b.stack);
    /* The body is written 11 bytes in, so the field's tag and length go in front of it
     * without a copy. */
    const Py_ssize_t head = 11;
    b.n = head;
    int got = put_body(&b, args);
    if (got != OK) {
        buf_free(&b);
        if (got == FAIL) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    uint64_t body = (uint64_t)(b.n - head);
    int size = varint_size(body);
    Py_ssize_t start = head - 1 - size;
    Py_ssize_t end = b.n;
    b.n = start;
    b.p[b.n++] = 0x12;
    put_varint(&b, body);
    PyObject *out = PyBytes_FromStringAndSize((const char *)b.p + start, end - start);
    buf_free(&b);
    return out;
}

PyDoc_STRVAR(span_field_doc,
"span_field(trace_id, span_id, state_field, parent_span_id, name, kind, start, end,\n"
"           attributes, rare, tail) -> bytes | None\n\n"
"A span's ``ScopeSpans.spans`` field, as encode.encode writes it; None when the Python\n"
"path must encode this span.");

static PyObject *
span_field(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 11) {
        PyErr_Format(PyExc_TypeError, "span_field takes 11 arguments (%zd given)", nargs);
        return NULL;
    }
    return field_of(args);
}

static PyObject *empty_bytes; /* b"": no rare fields */

/* The object paired with ``key`` (by identity) in ``pairs``, a flat tuple of (key, value)
 * pairs, or ``fallback``. */
static PyObject *
paired(PyObject *pairs, PyObject *key, PyObject *fallback)
{
    Py_ssize_t n = PyTuple_GET_SIZE(pairs);
    for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
        if (PyTuple_GET_ITEM(pairs, i) == key) {
            return PyTuple_GET_ITEM(pairs, i + 1);
        }
    }
    return fallback;
}

PyDoc_STRVAR(fields_field_doc,
"fields_field(fields, trace_states, kinds, tails) -> bytes | None\n\n"
"The same field as ``span_field``, straight from the encoder's fields of a span\n"
"(``sdk.private.SpanFields``), for its common case: no events, links or dropped counts, no\n"
"status description, a trace state already in ``trace_states`` (by id: (state, field)), a\n"
"kind in ``kinds`` and a status code in the row of ``tails`` for its parent (flat (object,\n"
"value) pairs, by identity; a row's last item is the tail without a status). None for\n"
"anything else: encode.py's path then encodes the span.");

/* ``fields_field`` without its argument count: shared with ``Offer``. */
static PyObject *
field_from(PyObject *fields, PyObject *states, PyObject *kinds, PyObject *tails)
{
    if (!PyTuple_CheckExact(fields) || PyTuple_GET_SIZE(fields) != 12 ||
        !PyDict_CheckExact(states) || !PyTuple_CheckExact(kinds) ||
        !PyTuple_CheckExact(tails) || PyTuple_GET_SIZE(tails) != 2) {
        Py_RETURN_NONE;
    }
    PyObject *ctx = PyTuple_GET_ITEM(fields, 0), *parent = PyTuple_GET_ITEM(fields, 1);
    PyObject *rare = PyTuple_GET_ITEM(fields, 7), *code = PyTuple_GET_ITEM(fields, 8);
    PyObject *description = PyTuple_GET_ITEM(fields, 9);
    if (rare != Py_None) {
        Py_RETURN_NONE;
    }
    if (description != Py_None &&
        !(PyUnicode_CheckExact(description) && PyUnicode_GET_LENGTH(description) == 0)) {
        Py_RETURN_NONE;
    }
    /* ``SpanContext`` is a tuple: (trace id, span id, is_remote, flags, state, is_valid). */
    if (!PyTuple_Check(ctx) || PyTuple_GET_SIZE(ctx) < 5) {
        Py_RETURN_NONE;
    }
    PyObject *state = PyTuple_GET_ITEM(ctx, 4);
    PyObject *key = PyLong_FromVoidPtr(state);
    if (key == NULL) {
        return NULL;
    }
    PyObject *entry = PyDict_GetItemWithError(states, key);
    Py_DECREF(key);
    if (entry == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE; /* a state not seen yet: encode.py encodes and caches it */
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 ||
        PyTuple_GET_ITEM(entry, 0) != state) {
        Py_RETURN_NONE;
    }
    PyObject *parent_id = Py_None;
    Py_ssize_t remote = 0;
    if (parent != Py_None) {
        if (!PyTuple_Check(parent) || PyTuple_GET_SIZE(parent) < 3) {
            Py_RETURN_NONE;
        }
        parent_id = PyTuple_GET_ITEM(parent, 1);
        PyObject *is_remote = PyTuple_GET_ITEM(parent, 2);
        if (is_remote == Py_True) {
            remote = 1;
        }
        else if (is_remote != Py_False) {
            Py_RETURN_NONE;
        }
    }
    PyObject *kind = paired(kinds, PyTuple_GET_ITEM(fields, 3), NULL);
    PyObject *row = PyTuple_GET_ITEM(tails, remote);
    if (kind == NULL || !PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) < 1) {
        Py_RETURN_NONE;
    }
    PyObject *tail = paired(row, code, PyTuple_GET_ITEM(row, PyTuple_GET_SIZE(row) - 1));
    /* Every object below is held by ``fields``, ``states``' entry or the constant tuples,
     * and nothing until the bytes are written runs Python code, so borrowed is safe. */
    PyObject *call[11] = {
        PyTuple_GET_ITEM(ctx, 0),    /* trace id */
        PyTuple_GET_ITEM(ctx, 1),    /* span id */
        PyTuple_GET_ITEM(entry, 1),  /* trace state field */
        parent_id,
        PyTuple_GET_ITEM(fields, 2), /* name */
        kind,
        PyTuple_GET_ITEM(fields, 4), /* start */
        PyTuple_GET_ITEM(fields, 5), /* end */
        PyTuple_GET_ITEM(fields, 6), /* attributes */
        empty_bytes,
        tail,
    };
    return field_of(call);
}

static PyObject *
fields_field(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "fields_field takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    return field_from(args[0], args[1], args[2], args[3]);
}

/* ---- Offer: the export end's ``on_end`` for the common span, in one call -------------------
 *
 * Why: in Python, the export end's on_end (the flags, the queue checks, ``prepare`` with its
 * timing, ``encode`` and the fields' cache) was four frames a span around the one C call that
 * writes the bytes, and these frames cost the thread that ends the span more than the
 * encoding itself (docs/export.md, "The export end in one call"). An ``Offer`` is installed
 * as the processor's ``on_end`` (processor.py) and does what the Python path does for a
 * sampled SDK span whose fields the scrub stage just read and ``field_from`` encodes:
 * encode, time, queue, and call ``after(depth)`` once the queue reaches ``threshold``. Every
 * other span, and any error on the way, goes to ``slow`` (the Python ``on_end``), which
 * starts over and counts what it drops; so this path never drops or counts anything itself.
 */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *items;       /* the span queue (a deque: always the same object) */
    PyObject *append;      /* items.append */
    Py_ssize_t capacity;   /* the queue's bound: at it, ``slow`` refuses and counts */
    Py_ssize_t threshold;  /* from this depth on, ``after(depth)`` runs */
    Py_ssize_t max_bytes;  /* a larger span is ``slow``'s to drop and count */
    PyObject *after;
    PyObject *slow;
    PyObject *cache;       /* sdk.private's globals, holding ``_last_fields`` */
    PyObject *read_fields; /* sdk.private.span_fields, when the cache holds another span */
    PyObject *clock;       /* time.perf_counter, as ``prepare`` times encoding */
    PyObject *states;
    PyObject *kinds;
    PyObject *tails;
} Offer;

static PyObject *last_fields_key; /* "_last_fields" */

/* The fields of ``span`` (new reference), from the cache when it holds this span; NULL with
 * no error set when they cannot be had here. */
static PyObject *
offer_fields(Offer *self, PyObject *span)
{
    PyObject *last = PyDict_GetItemWithError(self->cache, last_fields_key);
    if (last != NULL && PyTuple_CheckExact(last) && PyTuple_GET_SIZE(last) == 2 &&
        PyTuple_GET_ITEM(last, 0) == span) {
        PyObject *fields = PyTuple_GET_ITEM(last, 1);
        Py_INCREF(fields);
        return fields;
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *fields = PyObject_CallOneArg(self->read_fields, span);
    if (fields == NULL) {
        PyErr_Clear();
    }
    return fields;
}

static int
offer_clock(Offer *self, double *out)
{
    PyObject *now = PyObject_CallNoArgs(self->clock);
    if (now == NULL) {
        return -1;
    }
    *out = PyFloat_AsDouble(now);
    Py_DECREF(now);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* The queued item of a sampled span (new reference), or NULL with no error set when
 * ``slow`` must take the span; ``*skip`` is set for a span that is not sampled. */
static PyObject *
offer_item(Offer *self, PyObject *span, int *skip)
{
    PyObject *fields = offer_fields(self, span);
    if (fields == NULL) {
        return NULL;
    }
    PyObject *item = NULL, *field = NULL, *encoded = NULL, *took = NULL;
    if (!PyTuple_CheckExact(fields) || PyTuple_GET_SIZE(fields) != 12) {
        goto done;
    }
    /* ``SpanContext`` is a tuple: (trace id, span id, is_remote, flags, state, is_valid). */
    PyObject *ctx = PyTuple_GET_ITEM(fields, 0), *parent = PyTuple_GET_ITEM(fields, 1);
    if (!PyTuple_Check(ctx) || PyTuple_GET_SIZE(ctx) < 4 ||
        !PyLong_Check(PyTuple_GET_ITEM(ctx, 3))) {
        goto done;
    }
    long flags = PyLong_AsLong(PyTuple_GET_ITEM(ctx, 3));
    if (flags == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (!(flags & 1)) {
        *skip = 1; /* not sampled: the Python path ignores it too */
        goto done;
    }
    PyObject *root = Py_True; /* no parent, or a remote one: a local root */
    if (parent != Py_None) {
        if (!PyTuple_Check(parent) || PyTuple_GET_SIZE(parent) < 3) {
            goto done;
        }
        PyObject *is_remote = PyTuple_GET_ITEM(parent, 2);
        if (is_remote == Py_False) {
            root = Py_False;
        }
        else if (is_remote != Py_True) {
            goto done;
        }
    }
    Py_ssize_t depth = PyObject_Length(self->items);
    if (depth < 0 || depth >= self->capacity) {
        goto done; /* full: ``slow`` refuses the span and counts it */
    }
    double started, ended;
    if (offer_clock(self, &started) < 0) {
        goto done;
    }
    field = field_from(fields, self->states, self->kinds, self->tails);
    if (field == NULL || !PyBytes_CheckExact(field) ||
        PyBytes_GET_SIZE(field) > self->max_bytes || offer_clock(self, &ended) < 0) {
        goto done; /* declined, too large or failed: ``slow`` encodes, drops or counts */
    }
    encoded = PyTuple_Pack(3, PyTuple_GET_ITEM(fields, 10), PyTuple_GET_ITEM(fields, 11), field);
    took = encoded == NULL ? NULL : PyFloat_FromDouble(ended - started);
    if (took != NULL) {
        item = PyTuple_Pack(3, encoded, root, took);
    }
done:
    if (item == NULL && PyErr_Occurred()) {
        PyErr_Clear();
    }
    Py_XDECREF(took);
    Py_XDECREF(encoded);
    Py_XDECREF(field);
    Py_DECREF(fields);
    return item;
}

static PyObject *
offer_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Offer *self = (Offer *)op;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "on_end takes one span");
        return NULL;
    }
    int skip = 0;
    PyObject *item = offer_item(self, args[0], &skip);
    if (item == NULL) {
        if (skip) {
            Py_RETURN_NONE;
        }
        return PyObject_CallOneArg(self->slow, args[0]);
    }
    PyObject *done = PyObject_CallOneArg(self->append, item);
    Py_DECREF(item);
    if (done == NULL) {
        return NULL;
    }
    Py_DECREF(done);
    Py_ssize_t depth = PyObject_Length(self->items);
    if (depth < 0) {
        return NULL;
    }
    if (depth < self->threshold) {
        Py_RETURN_NONE;
    }
    PyObject *n = PyLong_FromSsize_t(depth);
    if (n == NULL) {
        return NULL;
    }
    PyObject *out = PyObject_CallOneArg(self->after, n);
    Py_DECREF(n);
    return out;
}

static int
offer_traverse(Offer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->items);
    Py_VISIT(self->append);
    Py_VISIT(self->after);
    Py_VISIT(self->slow);
    Py_VISIT(self->cache);
    Py_VISIT(self->read_fields);
    Py_VISIT(self->clock);
    Py_VISIT(self->states);
    Py_VISIT(self->kinds);
    Py_VISIT(self->tails);
    return 0;
}

static int
offer_clear(Offer *self)
{
    Py_CLEAR(self->items);
    Py_CLEAR(self->append);
    Py_CLEAR(self->after);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->read_fields);
    Py_CLEAR(self->clock);
    Py_CLEAR(self->states);
    Py_CLEAR(self->kinds);
    Py_CLEAR(self->tails);
    return 0;
}

static void
offer_dealloc(Offer *self)
{
    PyObject_GC_UnTrack(self);
    offer_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
offer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"items", "capacity", "threshold", "max_bytes", "after", "slow",
                            "cache", "read_fields", "clock", "states", "kinds", "tails", NULL};
    PyObject *items, *after, *slow, *cache, *read_fields, *clock, *states, *kinds, *tails;
    Py_ssize_t capacity, threshold, max_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OnnnOOO!OOO!O!O!:Offer", names, &items,
                                     &capacity, &threshold, &max_bytes, &after, &slow,
                                     &PyDict_Type, &cache, &read_fields, &clock, &PyDict_Type,
                                     &states, &PyTuple_Type, &kinds, &PyTuple_Type, &tails)) {
        return NULL;
    }
    PyObject *append = PyObject_GetAttrString(items, "append");
    if (append == NULL) {
        return NULL;
    }
    Offer *self = (Offer *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(append);
        return NULL;
    }
    self->vectorcall = offer_call;
    self->append = append;
    self->capacity = capacity;
    self->threshold = threshold;
    self->max_bytes = max_bytes;
    self->items = Py_NewRef(items);
    self->after = Py_NewRef(after);
    self->slow = Py_NewRef(slow);
    self->cache = Py_NewRef(cache);
    self->read_fields = Py_NewRef(read_fields);
    self->clock = Py_NewRef(clock);
    self->states = Py_NewRef(states);
    self->kinds = Py_NewRef(kinds);
    self->tails = Py_NewRef(tails);
    return (PyObject *)self;
}

PyDoc_STRVAR(offer_doc,
"Offer(items, capacity, threshold, max_bytes, after, slow, cache, read_fields, clock,\n"
"      states, kinds, tails)\n\n"
"The export end's on_end for the common span (see processor.py): called with a span, it\n"
"queues the span's encoded item on ``items`` as ``OtlpSink.prepare`` makes it and calls\n"
"``after(depth)`` once the queue is ``threshold`` long; any other span goes to ``slow``.");

static PyTypeObject OfferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "saler_tracing._internal.export._speedups.Offer",
    .tp_basicsize = sizeof(Offer),
    .tp_dealloc = (destructor)offer_dealloc,
    .tp_vectorcall_offset = offsetof(Offer, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = offer_doc,
    .tp_traverse = (traverseproc)offer_traverse,
    .tp_clear = (inquiry)offer_clear,
    .tp_new = offer_new,
};

/* ---- Pass: the whole chain's on_end for the common child span, in one call --------------
 *
 * Why: a sampled span whose parent is in this process (four of every five spans of a request
 * in bench_floor.py) meets stages that all pass it on unchanged: the metrics stage counts
 * local roots only, the tail stage forwards what the head sampled, the scrub stage's compiled
 * check clears its attributes. In Python that is six frames a span (the guarded root, each
 * stage, ``root_fields`` and ``span_flags``) that decide nothing before ``Offer`` encodes it
 * (docs/export.md, "The chain in one call"). A ``Pass`` is installed as the guarded root's
 * ``on_end`` (fused.py) and makes the same checks here: while the chain is the one it was
 * built for (``guards``: each ``(dict, key, expected)`` is looked up on every call; ``None``
 * expects the key absent), for the SDK's own ``ReadableSpan`` (``span_type``), sampled,
 * not a local root, and passed by the scrub stage's check (``quick``, its ``quick_view``; or
 * ``None`` with no scrub stage), it calls the export end's ``Offer`` (from ``end_dict``)
 * itself. Every other span, and any error on the way, goes to ``slow`` (the guarded root's own
 * ``on_end``), which runs every stage as before; an exception from ``Offer`` (an ``after``
 * that failed) goes to ``on_error``, as the guarded root's ``except`` hands it on.
 */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *slow;
    PyObject *on_error;
    PyObject *span_type;
    PyObject *read_fields; /* sdk.private.span_fields: fills the cache ``Offer`` reads */
    PyObject *guards;
    PyObject *quick;
    PyObject *end_dict;
} Pass;

static PyObject *on_end_key; /* "on_end" */

/* 1 when the chain is as built, 0 when it is not, -1 on an error. */
static int
pass_chain_holds(Pass *self)
{
    Py_ssize_t n = PyTuple_GET_SIZE(self->guards);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *guard = PyTuple_GET_ITEM(self->guards, i);
        PyObject *found = PyDict_GetItemWithError(PyTuple_GET_ITEM(guard, 0),
                                                  PyTuple_GET_ITEM(guard, 1));
        if (found == NULL && PyErr_Occurred()) {
            return -1;
        }
        PyObject *expected = PyTuple_GET_ITEM(guard, 2);
        if (expected == Py_None ? found != NULL : found != expected) {
            return 0;
        }
    }
    return 1;
}

/* 1 when the scrub stage's compiled check clears the span (``ScrubStage.on_end``'s quick
 * path, line for line), 0 when it does not, -1 on an error. */
static int
pass_scrub_clears(Pass *self, PyObject *fields)
{
    if (PyTuple_GET_ITEM(fields, 7) != Py_None) {
        return 0; /* events, links or dropped counts */
    }
    int described = PyObject_IsTrue(PyTuple_GET_ITEM(fields, 9));
    if (described != 0) {
        return described < 0 ? -1 : 0;
    }
    /* (to_check_by_keys, check, clean, harmless, statements) */
    PyObject *to_check_by_keys = PyTuple_GET_ITEM(self->quick, 0);
    PyObject *check = PyTuple_GET_ITEM(self->quick, 1);
    PyObject *clean = PyTuple_GET_ITEM(self->quick, 2);
    int seen = PySequence_Contains(clean, PyTuple_GET_ITEM(fields, 2));
    if (seen != 1) {
        return seen;
    }
    PyObject *attributes = PyTuple_GET_ITEM(fields, 6);
    PyObject *keys = PySequence_Tuple(attributes);
    if (keys == NULL) {
        return -1;
    }
    PyObject *to_check = PyDict_GetItemWithError(to_check_by_keys, keys);
    Py_DECREF(keys);
    if (to_check == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(to_check);
    int cleared = 0;
    Py_ssize_t wanted = PyObject_Length(to_check);
    if (wanted < 0) {
        cleared = -1;
    }
    else if (wanted == 0) {
        cleared = 1;
    }
    else {
        PyObject *argv[5] = {attributes, to_check, clean, PyTuple_GET_ITEM(self->quick, 3),
                             PyTuple_GET_ITEM(self->quick, 4)};
        PyObject *passed = PyObject_Vectorcall(check, argv, 5, NULL);
        if (passed == NULL) {
            cleared = -1;
        }
        else {
            Py_ssize_t count = PyLong_Check(passed) ? PyLong_AsSsize_t(passed) : -1;
            Py_DECREF(passed);
            if (count == -1 && PyErr_Occurred()) {
                cleared = -1;
            }
            else {
                cleared = count == wanted;
            }
        }
    }
    Py_DECREF(to_check);
    return cleared;
}

/* 1 when this call may hand ``span`` to the export end itself, 0 when ``slow`` must take it,
 * -1 on an error. */
static int
pass_takes(Pass *self, PyObject *span)
{
    if ((PyObject *)Py_TYPE(span) != self->span_type) {
        return 0; /* a subclass may override any property: the stages read it publicly */
    }
    int holds = pass_chain_holds(self);
    if (holds != 1) {
        return holds;
    }
    PyObject *fields = PyObject_CallOneArg(self->read_fields, span);
    if (fields == NULL) {
        return -1;
    }
    int takes = 0;
    if (!PyTuple_CheckExact(fields) || PyTuple_GET_SIZE(fields) != 12) {
        goto done; /* ``None``: its fields are not where this SDK keeps them */
    }
    /* ``SpanContext`` is a tuple: (trace id, span id, is_remote, flags, state, is_valid). */
    PyObject *ctx = PyTuple_GET_ITEM(fields, 0), *parent = PyTuple_GET_ITEM(fields, 1);
    if (!PyTuple_Check(ctx) || PyTuple_GET_SIZE(ctx) < 4 ||
        !PyLong_Check(PyTuple_GET_ITEM(ctx, 3))) {
        goto done;
    }
    long flags = PyLong_AsLong(PyTuple_GET_ITEM(ctx, 3));
    if (flags == -1 && PyErr_Occurred()) {
        takes = -1;
        goto done;
    }
    /* Sampled, with a parent in this process: no stage acts on it but the scrub check. A
     * local root is the metrics and tail stages' to count; an unsampled span the tail's. */
    if (!(flags & 1) || !PyTuple_Check(parent) || PyTuple_GET_SIZE(parent) < 3 ||
        PyTuple_GET_ITEM(parent, 2) != Py_False) {
        goto done;
    }
    takes = self->quick == Py_None ? 1 : pass_scrub_clears(self, fields);
done:
    Py_DECREF(fields);
    return takes;
}

static PyObject *
pass_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Pass *self = (Pass *)op;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "on_end takes one span");
        return NULL;
    }
    PyObject *span = args[0];
    /* The export end first: after its shutdown (or without the compiled module) it has no
     * ``Offer``, and nothing else here is worth reading. */
    PyObject *offer = PyDict_GetItemWithError(self->end_dict, on_end_key);
    if (offer == NULL || Py_TYPE(offer) != &OfferType) {
        PyErr_Clear();
        return PyObject_CallOneArg(self->slow, span);
    }
    Py_INCREF(offer);
    int takes = pass_takes(self, span);
    if (takes != 1) {
        Py_DECREF(offer);
        if (takes < 0) {
            PyErr_Clear(); /* the stages will meet it again in Python, and count it there */
        }
        return PyObject_CallOneArg(self->slow, span);
    }
    PyObject *out = offer_call(offer, args, 1, NULL);
    Py_DECREF(offer);
    if (out != NULL || !PyErr_ExceptionMatches(PyExc_Exception)) {
        return out; /* as the guarded root: only an ``Exception`` is caught */
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb != NULL && exc != NULL) {
        PyException_SetTraceback(exc, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    /* ``on_error`` raises only where ``handle_internal_error`` does (under the test suite),
     * as the guarded root's ``except`` would. */
    out = PyObject_CallOneArg(self->on_error, exc != NULL ? exc : Py_None);
    Py_XDECREF(exc);
    return out;
}

static int
pass_traverse(Pass *self, visitproc visit, void *arg)
{
    Py_VISIT(self->slow);
    Py_VISIT(self->on_error);
    Py_VISIT(self->span_type);
    Py_VISIT(self->read_fields);
    Py_VISIT(self->guards);
    Py_VISIT(self->quick);
    Py_VISIT(self->end_dict);
    return 0;
}

static int
pass_clear(Pass *self)
{
    Py_CLEAR(self->slow);
    Py_CLEAR(self->on_error);
    Py_CLEAR(self->span_type);
    Py_CLEAR(self->read_fields);
    Py_CLEAR(self->guards);
    Py_CLEAR(self->quick);
    Py_CLEAR(self->end_dict);
    return 0;
}

static void
pass_dealloc(Pass *self)
{
    PyObject_GC_UnTrack(self);
    pass_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
pass_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"slow", "on_error", "span_type", "read_fields", "guards", "quick",
                            "end_dict", NULL};
    PyObject *slow, *on_error, *span_type, *read_fields, *guards, *quick, *end_dict;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO!OO!OO!:Pass", names, &slow, &on_error,
                                     &PyType_Type, &span_type, &read_fields, &PyTuple_Type,
                                     &guards, &quick, &PyDict_Type, &end_dict)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(guards); i++) {
        PyObject *guard = PyTuple_GET_ITEM(guards, i);
        if (!PyTuple_CheckExact(guard) || PyTuple_GET_SIZE(guard) != 3 ||
            !PyDict_Check(PyTuple_GET_ITEM(guard, 0))) {
            PyErr_SetString(PyExc_TypeError, "each guard is a (dict, key, expected) tuple");
            return NULL;
        }
    }
    if (quick != Py_None && (!PyTuple_CheckExact(quick) || PyTuple_GET_SIZE(quick) != 5 ||
                             !PyDict_Check(PyTuple_GET_ITEM(quick, 0)))) {
        PyErr_SetString(PyExc_TypeError,
                        "quick is None or (to_check_by_keys, check, clean, harmless, statements)");
        return NULL;
    }
    Pass *self = (Pass *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = pass_call;
    self->slow = Py_NewRef(slow);
    self->on_error = Py_NewRef(on_error);
    self->span_type = Py_NewRef(span_type);
    self->read_fields = Py_NewRef(read_fields);
    self->guards = Py_NewRef(guards);
    self->quick = Py_NewRef(quick);
    self->end_dict = Py_NewRef(end_dict);
    return (PyObject *)self;
}

PyDoc_STRVAR(pass_doc,
"Pass(slow, on_error, span_type, read_fields, guards, quick, end_dict)\n\n"
"The guarded root's on_end for the common child span (see fused.py): called with a span, it\n"
"hands it to the export end's Offer in end_dict when the chain is as built and no stage\n"
"would act on it; any other span goes to ``slow``.");

static PyTypeObject PassType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "saler_tracing._internal.export._speedups.Pass",
    .tp_basicsize = sizeof(Pass),
    .tp_dealloc = (destructor)pass_dealloc,
    .tp_vectorcall_offset = offsetof(Pass, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = pass_doc,
    .tp_traverse = (traverseproc)pass_traverse,
    .tp_clear = (inquiry)pass_clear,
    .tp_new = pass_new,
};

static PyMethodDef methods[] = {
    {"span_field", (PyCFunction)(void (*)(void))span_field, METH_FASTCALL, span_field_doc},
    {"fields_field", (PyCFunction)(void (*)(void))fields_field, METH_FASTCALL, fields_field_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "saler_tracing._internal.export._speedups",
    "The OTLP span encoder's common case in C (see encode.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (sixty_four == NULL) {
        sixty_four = PyLong_FromLong(64);
        if (sixty_four == NULL) {
            return NULL;
        }
    }
    if (two_to_64 == NULL) {
        PyObject *one = PyLong_FromLong(1);
        if (one == NULL) {
            return NULL;
        }
        two_to_64 = PyNumber_Lshift(one, sixty_four);
        Py_DECREF(one);
        if (two_to_64 == NULL) {
            return NULL;
        }
    }
    if (empty_bytes == NULL) {
        empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
        if (empty_bytes == NULL) {
            return NULL;
        }
    }
    if (last_fields_key == NULL) {
        last_fields_key = PyUnicode_InternFromString("_last_fields");
        if (last_fields_key == NULL) {
            return NULL;
        }
    }
    if (on_end_key == NULL) {
        on_end_key = PyUnicode_InternFromString("on_end");
        if (on_end_key == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&OfferType) < 0 || PyType_Ready(&PassType) < 0) {
        return NULL;
    }
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(mod, "Offer", (PyObject *)&OfferType) < 0 ||
        PyModule_AddObjectRef(mod, "Pass", (PyObject *)&PassType) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
