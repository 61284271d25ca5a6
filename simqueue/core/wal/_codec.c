/* simqueue.core.wal._codec: the WAL record codec in C, an optional accelerator
 * (loaded by simqueue/core/wal/accel.py).
 *
 * Two functions, each the exact equivalent of a pure-Python function in
 * simqueue/core/wal/format.py (which is used when this module is not built, or when
 * SIMQUEUE_PURE_PYTHON is set):
 *
 *   frame_into(buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)
 *       append one framed record (CRC-32, size, fixed fields, id, payload) to the bytearray
 *       ``buf``; byte for byte what format.frame_into_py writes.
 *
 *   decode_plain(data, off, expect, limit) -> (records, off, expect)
 *       decode up to ``limit`` records from ``off`` that need no judgement (whole, checksum
 *       right, the expected seq, a known type, a UTF-8 id) into tuples
 *       (rtype, seq, time, attempt, worker, extra, reason, job_id, payload, offset); stop at
 *       the first record that is anything else and return where it starts. Deciding what such
 *       a record is (torn tail or corruption) stays in Python (scan.SegmentScan.records).
 *
 * The record layout is documented in simqueue/core/wal/format.py. All integers little-endian.
 * CRC-32 is zlib's (IEEE 802.3, reflected, polynomial 0xEDB88320), computed slicing-by-8: zlib's
 * own routine spends most of its time on set-up for records this small.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define FIXED_SIZE 44 /* crc u32, size u32, type u8, seq u64, time f64, attempt u32,
                         worker i32, extra f64, reason u8, id_len u16 */
#define BODY_FIXED 36 /* the fixed fields counted in ``size`` */
#define TYPE_MIN 1
#define TYPE_MAX 5

static uint32_t crc_table[8][256];
static PyObject *struct_error; /* struct.error: what the pure-Python codec raises for a field
                                  out of range, so both codecs fail the same way */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
}

static uint32_t crc32_of(const unsigned char *p, Py_ssize_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
#if PY_BIG_ENDIAN
        a = __builtin_bswap32(a);
        b = __builtin_bswap32(b);
#endif
        a ^= c;
        c = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
            crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^ crc_table[3][b & 0xff] ^
            crc_table[2][(b >> 8) & 0xff] ^ crc_table[1][(b >> 16) & 0xff] ^
            crc_table[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Little-endian stores and loads, whatever the machine. */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_le(p, v, 8);
}

static double get_f64(const unsigned char *p)
{
    uint64_t v = get_le(p, 8);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

/* An integer argument within [lo, hi], or -1 with an exception set (callers check
 * PyErr_Occurred). What it takes and refuses is what struct.pack takes and refuses: an int, or
 * any object with __index__ (numpy's integers), within the range. */
static long long int_arg(PyObject *o, long long lo, long long hi, const char *field)
{
    PyObject *n;
    if (PyLong_Check(o)) {
        n = Py_NewRef(o);
    } else if (PyIndex_Check(o)) {
        if ((n = PyNumber_Index(o)) == NULL)
            return -1;
    } else {
        PyErr_Format(struct_error, "WAL record field %s is not an integer: %R", field, o);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(n, &overflow);
    Py_DECREF(n);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(struct_error, "WAL record field %s out of range: %R", field, o);
        return -1;
    }
    return v;
}

/* A float argument, or -1.0 with an exception set: struct.error for anything PyFloat_AsDouble
 * refuses, as struct.pack's "d" does. */
static double float_arg(PyObject *o, const char *field)
{
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(struct_error, "WAL record field %s is not a float: %R", field, o);
    }
    return d;
}

static PyObject *frame_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "frame_into takes 10 arguments");
        return NULL;
    }
    PyObject *buf = args[0], *job_id = args[8], *payload = args[9];
    if (!PyByteArray_Check(buf) || !PyBytes_Check(job_id) || !PyBytes_Check(payload)) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_into needs a bytearray buffer and bytes id and payload");
        return NULL;
    }
    /* One field at a time: no C API call may run with an exception already set. */
    long long rtype, attempt, worker, reason;
    unsigned long long seq;
    double time, extra;
    if ((rtype = int_arg(args[1], 0, 255, "type")) == -1 && PyErr_Occurred())
        return NULL;
    if ((seq = PyLong_AsUnsignedLongLong(args[2])) == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if ((time = float_arg(args[3], "time")) == -1.0 && PyErr_Occurred())
        return NULL;
    if ((attempt = int_arg(args[4], 0, 0xFFFFFFFFLL, "attempt")) == -1 && PyErr_Occurred())
        return NULL;
    if ((worker = int_arg(args[5], INT32_MIN, INT32_MAX, "worker")) == -1 && PyErr_Occurred())
        return NULL;
    if ((extra = float_arg(args[6], "extra")) == -1.0 && PyErr_Occurred())
        return NULL;
    if ((reason = int_arg(args[7], 0, 255, "reason")) == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n_id = PyBytes_GET_SIZE(job_id), n_payload = PyBytes_GET_SIZE(payload);
    if (n_id > 0xFFFF || BODY_FIXED + n_id + n_payload > (Py_ssize_t)0xFFFFFFFFLL) {
        PyErr_SetString(struct_error, "WAL record too large (id over 65535 bytes)");
        return NULL;
    }
    Py_ssize_t total = FIXED_SIZE + n_id + n_payload;
    Py_ssize_t old = PyByteArray_GET_SIZE(buf);
    if (PyByteArray_Resize(buf, old + total) < 0)
        return NULL;
    unsigned char *p = (unsigned char *)PyByteArray_AS_STRING(buf) + old;
    put_le(p + 4, (uint64_t)(BODY_FIXED + n_id + n_payload), 4);
    p[8] = (unsigned char)rtype;
    put_le(p + 9, seq, 8);
    put_f64(p + 17, time);
    put_le(p + 25, (uint64_t)attempt, 4);
    put_le(p + 29, (uint64_t)(uint32_t)(int32_t)worker, 4);
    put_f64(p + 33, extra);
    p[41] = (unsigned char)reason;
    put_le(p + 42, (uint64_t)n_id, 2);
    memcpy(p + FIXED_SIZE, PyBytes_AS_STRING(job_id), (size_t)n_id);
    if (n_payload)
        memcpy(p + FIXED_SIZE + n_id, PyBytes_AS_STRING(payload), (size_t)n_payload);
    put_le(p, crc32_of(p + 4, total - 4), 4);
    Py_RETURN_NONE;
}

static PyObject *decode_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "decode_plain takes 4 arguments");
        return NULL;
    }
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    unsigned long long expect = PyLong_AsUnsignedLongLong(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *data = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        goto fail;
    if (off < 0)
        off = n; /* nothing to decode */
    while (off <= n - FIXED_SIZE && PyList_GET_SIZE(out) < limit) {
        const unsigned char *r = data + off;
        uint32_t crc = (uint32_t)get_le(r, 4);
        Py_ssize_t size = (Py_ssize_t)get_le(r + 4, 4);
        unsigned int rtype = r[8];
        unsigned long long seq = get_le(r + 9, 8);
        Py_ssize_t id_len = (Py_ssize_t)get_le(r + 42, 2);
        Py_ssize_t end = off + 8 + size;
        if (end > n || seq != expect || size < BODY_FIXED || id_len > size - BODY_FIXED ||
            rtype < TYPE_MIN || rtype > TYPE_MAX || crc32_of(r + 4, size + 4) != crc)
            break;
        PyObject *job_id = PyUnicode_DecodeUTF8((const char *)r + FIXED_SIZE, id_len, "strict");
        if (job_id == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                goto fail;
            PyErr_Clear(); /* not plain: SegmentScan.records says what it is */
            break;
        }
        Py_ssize_t id_end = off + FIXED_SIZE + id_len;
        PyObject *item = PyTuple_New(10);
        if (item == NULL) {
            Py_DECREF(job_id);
            goto fail;
        }
        /* The ten fields; job_id's reference goes to the tuple. A NULL left by a failed
         * allocation is caught below, after the tuple owns whatever did get made. */
        PyTuple_SET_ITEM(item, 0, PyLong_FromLong(rtype));
        PyTuple_SET_ITEM(item, 1, PyLong_FromUnsignedLongLong(seq));
        PyTuple_SET_ITEM(item, 2, PyFloat_FromDouble(get_f64(r + 17)));
        PyTuple_SET_ITEM(item, 3, PyLong_FromUnsignedLong((unsigned long)get_le(r + 25, 4)));
        PyTuple_SET_ITEM(item, 4, PyLong_FromLong((long)(int32_t)(uint32_t)get_le(r + 29, 4)));
        PyTuple_SET_ITEM(item, 5, PyFloat_FromDouble(get_f64(r + 33)));
        PyTuple_SET_ITEM(item, 6, PyLong_FromLong(r[41]));
        PyTuple_SET_ITEM(item, 7, job_id);
        PyTuple_SET_ITEM(item, 8, PyBytes_FromStringAndSize((const char *)data + id_end,
                                                            end - id_end));
        PyTuple_SET_ITEM(item, 9, PyLong_FromSsize_t(off));
        for (int i = 0; i < 10; i++) {
            if (PyTuple_GET_ITEM(item, i) == NULL) {
                Py_DECREF(item); /* tuple dealloc skips the NULL slots */
                goto fail;
            }
        }
        int rc = PyList_Append(out, item);
        Py_DECREF(item);
        if (rc < 0)
            goto fail;
        expect = seq + 1;
        off = end;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NnK)", out, off, expect);
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"frame_into", (PyCFunction)(void (*)(void))frame_into, METH_FASTCALL,
     "frame_into(buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)\n"
     "Append one framed WAL record to the bytearray buf."},
    {"decode_plain", (PyCFunction)(void (*)(void))decode_plain, METH_FASTCALL,
     "decode_plain(data, off, expect, limit) -> (records, off, expect)\n"
     "Decode up to limit records that need no judgement, stopping at the first that does."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "simqueue.core.wal._codec",
    "The WAL record codec in C (an optional accelerator; simqueue/core/wal/accel.py).",
    -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__codec(void)
{
    crc_init();
    PyObject *struct_module = PyImport_ImportModule("struct");
    if (struct_module == NULL)
        return NULL;
    struct_error = PyObject_GetAttrString(struct_module, "error");
    Py_DECREF(struct_module);
    if (struct_error == NULL)
        return NULL;
    return PyModule_Create(&module);
}
