/* simqueue.sim._tracepack: a block of trace events packed into columns in C, an optional
 * accelerator (loaded by simqueue/sim/tracelog.py). simqueue/sim/tracecolumns.py documents
 * the layout and holds the pure-Python packer, pack_py, which packs the same bytes.
 *
 *   pack(rows, start, stop, codes) -> the fields of tracecolumns.Packed as a tuple, or None
 *       (a tuple of rows[start:stop] does not fit the columns exactly: the caller keeps the
 *       block as tuples). A column is (base, width, data): each value is base plus an
 *       unsigned little-endian integer of 1, 2, 4 or 8 bytes, the fewest its range needs.
 *
 * Two passes: the first checks each tuple, writes the time, kind, flags and float detail
 * columns, gathers the integers with each column's range, builds the table of ids (a dict from
 * id to number, behind a table of the id objects met); the second writes the integer columns.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { NO_ATTEMPT = 1, NO_WORKER = 2, NO_SEQ = 4, DETAIL_INT = 8, DETAIL_OBJECT = 16,
       DETAIL_FLOAT = 32 }; /* flags */

/* The integers of one column, gathered in the first pass. */
typedef struct {
    int64_t *values;
    Py_ssize_t count;
    int64_t min, max;         /* of the values that are not None; min > max: none yet */
    unsigned char none_flag;  /* rows whose flags have it hold None (stored as 0) */
} Column;

/* The kinds and job ids met so far, by object: one met again costs no dict lookup and no read
 * of the object (the events of a run share their kind and job id objects). Open addressing
 * on the pointer; each key is a strong reference, released when packing ends. */
typedef struct { PyObject *key; int64_t value; } Slot;
typedef struct { Slot *slots; size_t mask, used; } Seen;

typedef struct {
    Column attempt, worker, seq, durable, detail, job, ends;
    Seen kinds, jobs;
    unsigned char *time, *kind, *flags; /* those columns' bytes, filled in place */
    unsigned char *fdetail; /* the float details' bytes: room for one an event, ... */
    Py_ssize_t floats;      /* ... this many written */
    PyObject *ids;     /* bytearray: the UTF-8 of the distinct ids, one after another */
    PyObject *number;  /* dict: job id -> its number in the table */
    PyObject *details; /* dict: position -> detail that is an object */
} Block;

static inline void column_add(Column *c, int64_t v)
{
    c->values[c->count++] = v;
    if (v < c->min)
        c->min = v;
    if (v > c->max)
        c->max = v;
}

/* A float's 8 bytes at p, its bits as they are, little-endian whatever the machine's order. */
static inline void put_f64(unsigned char *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    for (int j = 0; j < 8; j++)
        p[j] = (unsigned char)(bits >> (8 * j));
}

static int seen_init(Seen *s, size_t size)
{
    *s = (Seen){PyMem_Calloc(size, sizeof(Slot)), size - 1, 0};
    return s->slots != NULL ? 0 : (PyErr_NoMemory(), -1);
}

static void seen_free(Seen *s)
{
    if (s->slots == NULL)
        return;
    for (size_t i = 0; i <= s->mask; i++)
        Py_XDECREF(s->slots[i].key);
    PyMem_Free(s->slots);
}

static inline size_t seen_slot(const Seen *s, PyObject *key)
{
    size_t i = (size_t)(((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u) >> 32) & s->mask;
    while (s->slots[i].key != key && s->slots[i].key != NULL)
        i = (i + 1) & s->mask;
    return i;
}

/* The value met with ``key``, or -1. */
static inline int64_t seen_get(const Seen *s, PyObject *key)
{
    const Slot *slot = &s->slots[seen_slot(s, key)];
    return slot->key == key ? slot->value : -1;
}

/* Remember ``key`` (not met yet) with ``value``; the table doubles when half full. */
static int seen_put(Seen *s, PyObject *key, int64_t value)
{
    if (2 * (s->used + 1) > s->mask + 1) {
        Seen grown;
        if (seen_init(&grown, 2 * (s->mask + 1)) < 0)
            return -1;
        for (size_t i = 0; i <= s->mask; i++)
            if (s->slots[i].key != NULL)
                grown.slots[seen_slot(&grown, s->slots[i].key)] = s->slots[i];
        grown.used = s->used;
        PyMem_Free(s->slots);
        *s = grown;
    }
    s->slots[seen_slot(s, key)] = (Slot){Py_NewRef(key), value};
    s->used++;
    return 0;
}

/* An exact int (not a bool) that fits int64 into *out: 1; 0 if it is not one. */
static int exact_int64(PyObject *v, int64_t *out)
{
    if (!PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = (int64_t)x;
    return 1;
}

/* An int64 or None (which sets ``c->none_flag`` in *flags) into column c; 0 if neither. */
static int optional_int(Column *c, PyObject *v, unsigned char *flags)
{
    int64_t x;
    if (v == Py_None) {
        c->values[c->count++] = 0;
        *flags |= c->none_flag;
    } else if (exact_int64(v, &x))
        column_add(c, x);
    else
        return 0;
    return 1;
}

/* A job id not met before, at the end of the table: its number, or -1 on error. */
static int64_t new_id(Block *b, PyObject *job)
{
    PyObject *encoded = NULL;
    const char *utf8;
    Py_ssize_t size;
    if (PyUnicode_IS_ASCII(job)) { /* the str's own bytes are its UTF-8 */
        utf8 = (const char *)PyUnicode_DATA(job);
        size = PyUnicode_GET_LENGTH(job);
    } else {
        encoded = PyUnicode_AsEncodedString(job, "utf-8", "surrogatepass");
        if (encoded == NULL)
            return -1;
        utf8 = PyBytes_AS_STRING(encoded);
        size = PyBytes_GET_SIZE(encoded);
    }
    Py_ssize_t at = PyByteArray_GET_SIZE(b->ids);
    if (PyByteArray_Resize(b->ids, at + size) < 0) { /* it grows by more than asked */
        Py_XDECREF(encoded);
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(b->ids) + at, utf8, (size_t)size);
    Py_XDECREF(encoded);
    column_add(&b->ends, at + size);
    int64_t number = b->ends.count;
    PyObject *value = PyLong_FromLongLong(number);
    int failed = value == NULL || PyDict_SetItem(b->number, job, value) < 0;
    Py_XDECREF(value);
    return failed ? -1 : number;
}

/* The number of job id ``job`` in the block's table (a new id goes at its end) onto the job
 * column: 1, or 0 if ``job`` is neither a str nor None, -1 on error. */
static int job_number(Block *b, PyObject *job)
{
    int64_t number = job == Py_None ? 0 : seen_get(&b->jobs, job);
    if (number < 0) { /* an object not met yet */
        if (!PyUnicode_CheckExact(job))
            return 0;
        PyObject *known = PyDict_GetItemWithError(b->number, job); /* an equal str, met */
        if (known != NULL)
            number = PyLong_AsLongLong(known);
        else if (PyErr_Occurred() || (number = new_id(b, job)) < 0)
            return -1;
        if (seen_put(&b->jobs, job, number) < 0)
            return -1;
    }
    column_add(&b->job, number);
    return 1;
}

/* The code of ``kind`` in ``codes``: 0 to 255, or -2 if it is not a str with such a code,
 * -1 on error. */
static int64_t kind_code(Block *b, PyObject *kind, PyObject *codes)
{
    int64_t k = seen_get(&b->kinds, kind);
    if (k >= 0)
        return k;
    if (!PyUnicode_CheckExact(kind))
        return -2;
    PyObject *code = PyDict_GetItemWithError(codes, kind);
    if (code == NULL)
        return PyErr_Occurred() ? -1 : -2;
    if (!exact_int64(code, &k) || k < 0 || k > 255)
        return -2;
    return seen_put(&b->kinds, kind, k) < 0 ? -1 : k;
}

/* The first pass over event i (``row``): 1, 0 if it does not fit, -1 on error. */
static int read_row(Block *b, PyObject *row, Py_ssize_t i, PyObject *codes)
{
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 8)
        return 0;
    PyObject *time = PyTuple_GET_ITEM(row, 0);
    if (!PyFloat_CheckExact(time))
        return 0;
    int64_t k = kind_code(b, PyTuple_GET_ITEM(row, 1), codes), durable;
    if (k < 0)
        return k == -1 ? -1 : 0;
    unsigned char flags = 0;
    if (!optional_int(&b->attempt, PyTuple_GET_ITEM(row, 3), &flags)
        || !optional_int(&b->worker, PyTuple_GET_ITEM(row, 4), &flags)
        || !optional_int(&b->seq, PyTuple_GET_ITEM(row, 5), &flags)
        || !exact_int64(PyTuple_GET_ITEM(row, 6), &durable))
        return 0;
    column_add(&b->durable, durable);
    int fits = job_number(b, PyTuple_GET_ITEM(row, 2));
    if (fits <= 0)
        return fits;
    PyObject *detail = PyTuple_GET_ITEM(row, 7);
    int64_t number;
    if (PyFloat_CheckExact(detail)) {
        put_f64(b->fdetail + 8 * b->floats++, PyFloat_AS_DOUBLE(detail));
        flags |= DETAIL_FLOAT;
    } else if (detail != Py_None && exact_int64(detail, &number)) {
        column_add(&b->detail, number);
        flags |= DETAIL_INT;
    } else if (detail != Py_None) {
        PyObject *key = PyLong_FromSsize_t(i);
        int failed = key == NULL || PyDict_SetItem(b->details, key, detail) < 0;
        Py_XDECREF(key);
        if (failed)
            return -1;
        flags |= DETAIL_OBJECT;
    }
    put_f64(b->time + 8 * i, PyFloat_AS_DOUBLE(time));
    b->kind[i] = (unsigned char)k;
    b->flags[i] = flags;
    return 1;
}

/* Column c written as (base, width, data) in the fewest bytes that hold its range. */
static PyObject *column_tuple(const Column *c, const unsigned char *flags)
{
    int64_t base = c->min <= c->max ? c->min : 0;
    uint64_t span = c->min <= c->max ? (uint64_t)c->max - (uint64_t)c->min : 0;
    int width = span <= 0xFF ? 1 : span <= 0xFFFF ? 2 : span <= 0xFFFFFFFFu ? 4 : 8;
    PyObject *data = PyBytes_FromStringAndSize(NULL, c->count * width);
    if (data == NULL)
        return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(data);
    const int64_t *values = c->values; /* locals: the stores through p cannot change them */
    const Py_ssize_t count = c->count;
    const unsigned char none = c->none_flag;
    const uint64_t from = (uint64_t)base;
/* One loop per width: a constant width lets the compiler write each value in one store. A
 * None (its flag set; none is 0 for a column without None) is stored as 0. */
#define WRITE(W)                                                                           \
    for (Py_ssize_t i = 0; i < count; i++, p += (W)) {                                     \
        uint64_t d = ((uint64_t)values[i] - from) & -(uint64_t)((flags[i] & none) == 0);   \
        for (int k = 0; k < (W); k++)                                                      \
            p[k] = (unsigned char)(d >> (8 * k));                                          \
    }
    switch (width) {
    case 1: WRITE(1) break;
    case 2: WRITE(2) break;
    case 4: WRITE(4) break;
    default: WRITE(8) break;
    }
#undef WRITE
    return Py_BuildValue("(LiN)", (long long)base, width, data);
}

/* The block's fields as the tuple pack returns (see the top of this file). */
static PyObject *block_tuple(Block *b, PyObject *time, PyObject *kind, PyObject *flags)
{
    const Column *columns[] = {&b->attempt, &b->worker, &b->seq,  &b->durable,
                               &b->detail,  &b->job,    &b->ends};
    static const int fields[] = {3, 4, 5, 6, 7, 9, 11}; /* each column's */
    PyObject *out = PyTuple_New(13);
    if (out == NULL)
        return NULL;
    PyTuple_SET_ITEM(out, 0, Py_NewRef(time));
    PyTuple_SET_ITEM(out, 1, Py_NewRef(kind));
    PyTuple_SET_ITEM(out, 2, Py_NewRef(flags));
    PyTuple_SET_ITEM(out, 12, Py_NewRef(b->details));
    for (int k = 0; k < 7; k++) {
        PyObject *column = column_tuple(columns[k], b->flags);
        if (column == NULL)
            goto error;
        PyTuple_SET_ITEM(out, fields[k], column);
    }
    const char *data[] = {(const char *)b->fdetail, PyByteArray_AS_STRING(b->ids)};
    const Py_ssize_t size[] = {8 * b->floats, PyByteArray_GET_SIZE(b->ids)};
    for (int k = 0; k < 2; k++) { /* fields 8 and 10: copies of the bytes filled */
        PyObject *bytes = PyBytes_FromStringAndSize(data[k], size[k]);
        if (bytes == NULL)
            goto error;
        PyTuple_SET_ITEM(out, 8 + 2 * k, bytes);
    }
    return out;
error:
    Py_DECREF(out); /* the items not yet set are NULL, which a tuple's dealloc skips */
    return NULL;
}

static PyObject *pack(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "pack(rows: list, start, stop, codes: dict)");
        return NULL;
    }
    PyObject *rows = args[0], *codes = args[3];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (start < 0 || stop > PyList_GET_SIZE(rows) || start > stop) {
        PyErr_SetString(PyExc_IndexError, "pack: start and stop out of range");
        return NULL;
    }
    Py_ssize_t n = stop - start;
    /* A copy of the rows, which holds them however the code of a lookup in codes might
     * change the list (a key's __eq__). */
    PyObject *block = PyList_GetSlice(rows, start, stop);
    PyObject *out = NULL, *time = PyBytes_FromStringAndSize(NULL, 8 * n);
    PyObject *kind = PyBytes_FromStringAndSize(NULL, n), *flags = PyBytes_FromStringAndSize(NULL, n);
    Block b = {.number = PyDict_New(), .details = PyDict_New(),
               .ids = PyByteArray_FromStringAndSize(NULL, 0)}; /* the rest zero */
    int64_t *values = PyMem_Malloc(sizeof(int64_t) * 8 * (size_t)(n > 0 ? n : 1)); /* 7 + fdetail */
    if (block == NULL || time == NULL || kind == NULL || flags == NULL || values == NULL
        || b.number == NULL || b.details == NULL || b.ids == NULL) {
        if (values == NULL)
            PyErr_NoMemory();
        goto done;
    }
    if (seen_init(&b.kinds, 64) < 0 || seen_init(&b.jobs, 4096) < 0)
        goto done;
    Column *columns[] = {&b.attempt, &b.worker, &b.seq, &b.durable, &b.detail, &b.job, &b.ends};
    const unsigned char none_flags[] = {NO_ATTEMPT, NO_WORKER, NO_SEQ, 0, 0, 0, 0};
    for (int k = 0; k < 7; k++)
        *columns[k] = (Column){values + k * n, 0, INT64_MAX, INT64_MIN, none_flags[k]};
    b.fdetail = (unsigned char *)(values + 7 * n);
    b.time = (unsigned char *)PyBytes_AS_STRING(time);
    b.kind = (unsigned char *)PyBytes_AS_STRING(kind);
    b.flags = (unsigned char *)PyBytes_AS_STRING(flags);
    for (Py_ssize_t i = 0; i < n; i++) {
        int fits = read_row(&b, PyList_GET_ITEM(block, i), i, codes);
        if (fits < 0)
            goto done;
        if (fits == 0) {
            out = Py_NewRef(Py_None);
            goto done;
        }
    }
    out = block_tuple(&b, time, kind, flags);
done:
    Py_XDECREF(block);
    Py_XDECREF(time);
    Py_XDECREF(kind);
    Py_XDECREF(flags);
    Py_XDECREF(b.number);
    Py_XDECREF(b.details);
    seen_free(&b.kinds);
    seen_free(&b.jobs);
    Py_XDECREF(b.ids);
    PyMem_Free(values);
    return out;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL,
     "pack(rows, start, stop, codes) -> tuple or None\n"
     "Pack trace tuples rows[start:stop] into columns (simqueue/sim/tracecolumns.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "simqueue.sim._tracepack",
    "Trace events packed into columns in C (an optional accelerator; "
    "simqueue/sim/tracecolumns.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tracepack(void)
{
    return PyModule_Create(&module);
}
