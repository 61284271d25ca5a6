/* simqueue.sim._tracepack: packing trace events into fixed-size binary rows, an optional
 * accelerator (loaded by simqueue/sim/tracelog.py, which holds the pure-Python equivalent
 * and documents the row layout).
 *
 *   pack(rows, start, stop, codes) -> (data, jobs, details) or None
 *       rows[start:stop] are trace tuples (time, kind, job_id, attempt, worker, seq,
 *       durable_seq, detail); each becomes one 42-byte row of ``data``; job ids go to the list
 *       ``jobs`` and details that are neither None nor an int to the dict ``details`` (by
 *       index within the block). None when a tuple does not fit the layout exactly (a time
 *       that is not a float, an int out of range, a kind not in ``codes``): the caller keeps
 *       such a block as tuples.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ROW_SIZE 42 /* time f64, seq i64, durable i64, detail i64, attempt i32, worker i32,
                       kind u8, flags u8 */
#define NO_ATTEMPT 1
#define NO_WORKER 2
#define NO_SEQ 4
#define DETAIL_INT 8
#define DETAIL_OBJECT 16

/* An exact int (not a bool) into *out; 0 if it is not one or does not fit. */
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

static int optional_int(PyObject *v, int64_t *out, int64_t lo, int64_t hi, unsigned char none_flag,
                        unsigned char *flags)
{
    if (v == Py_None) {
        *out = 0;
        *flags |= none_flag;
        return 1;
    }
    return exact_int64(v, out) && *out >= lo && *out <= hi;
}

static PyObject *pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "pack(rows, start, stop, codes)");
        return NULL;
    }
    PyObject *rows = args[0], *codes = args[3];
    if (!PyList_Check(rows) || !PyDict_Check(codes)) {
        PyErr_SetString(PyExc_TypeError, "pack needs a list of rows and a dict of kind codes");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (start < 0 || stop > PyList_GET_SIZE(rows) || start > stop) {
        PyErr_SetString(PyExc_IndexError, "pack: start and stop out of range");
        return NULL;
    }
    Py_ssize_t n = stop - start;
    PyObject *data = PyBytes_FromStringAndSize(NULL, n * ROW_SIZE);
    PyObject *jobs = PyList_New(n);
    PyObject *details = PyDict_New();
    if (data == NULL || jobs == NULL || details == NULL)
        goto error;
    char *p = PyBytes_AS_STRING(data);
    for (Py_ssize_t i = 0; i < n; i++, p += ROW_SIZE) {
        PyObject *row = PyList_GET_ITEM(rows, start + i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 8)
            goto unfit;
        PyObject *time = PyTuple_GET_ITEM(row, 0);
        if (!PyFloat_CheckExact(time))
            goto unfit;
        double t = PyFloat_AS_DOUBLE(time);
        PyObject *code = PyDict_GetItemWithError(codes, PyTuple_GET_ITEM(row, 1));
        if (code == NULL) {
            if (PyErr_Occurred())
                goto error;
            goto unfit;
        }
        int64_t kind, attempt, worker, seq, durable, detail_int = 0;
        unsigned char flags = 0;
        if (!exact_int64(code, &kind) || kind < 0 || kind > 255)
            goto unfit;
        if (!optional_int(PyTuple_GET_ITEM(row, 3), &attempt, INT32_MIN, INT32_MAX, NO_ATTEMPT,
                          &flags)
            || !optional_int(PyTuple_GET_ITEM(row, 4), &worker, INT32_MIN, INT32_MAX, NO_WORKER,
                             &flags)
            || !optional_int(PyTuple_GET_ITEM(row, 5), &seq, INT64_MIN, INT64_MAX, NO_SEQ, &flags)
            || !exact_int64(PyTuple_GET_ITEM(row, 6), &durable))
            goto unfit;
        PyObject *detail = PyTuple_GET_ITEM(row, 7);
        if (detail != Py_None) {
            if (exact_int64(detail, &detail_int)) {
                flags |= DETAIL_INT;
            } else {
                PyObject *key = PyLong_FromSsize_t(i);
                if (key == NULL || PyDict_SetItem(details, key, detail) < 0) {
                    Py_XDECREF(key);
                    goto error;
                }
                Py_DECREF(key);
                flags |= DETAIL_OBJECT;
            }
        }
        int32_t attempt32 = (int32_t)attempt, worker32 = (int32_t)worker;
        memcpy(p, &t, 8);
        memcpy(p + 8, &seq, 8);
        memcpy(p + 16, &durable, 8);
        memcpy(p + 24, &detail_int, 8);
        memcpy(p + 32, &attempt32, 4);
        memcpy(p + 36, &worker32, 4);
        p[40] = (char)kind;
        p[41] = (char)flags;
        PyObject *job = PyTuple_GET_ITEM(row, 2);
        Py_INCREF(job);
        PyList_SET_ITEM(jobs, i, job);
    }
    PyObject *out = PyTuple_Pack(3, data, jobs, details);
    Py_DECREF(data);
    Py_DECREF(jobs);
    Py_DECREF(details);
    return out;
unfit:
    Py_DECREF(data);
    Py_DECREF(jobs);
    Py_DECREF(details);
    Py_RETURN_NONE;
error:
    Py_XDECREF(data);
    Py_XDECREF(jobs);
    Py_XDECREF(details);
    return NULL;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL,
     "pack(rows, start, stop, codes) -> (data, jobs, details) or None\n"
     "Pack trace tuples rows[start:stop] into 42-byte rows (simqueue/sim/tracelog.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "simqueue.sim._tracepack",
    "Trace events packed into binary rows in C (an optional accelerator; "
    "simqueue/sim/tracelog.py).",
    -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tracepack(void)
{
    return PyModule_Create(&module);
}
