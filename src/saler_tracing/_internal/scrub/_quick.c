/* The scrubber's "nothing to do here" answer, in C: one call for an attribute mapping whose
 * values the scrubber has already cleared (scrubber.py, ``Scrubber.attributes``).
 *
 * Why C: nearly every span's attributes are cleared by the first checks of that loop (a
 * short string, a digit shape the prefilter passed before, a statement or text seen clean,
 * a number that cannot be a card), and in Python each value's checks are a few dozen
 * bytecodes of dispatch; here they are a dict lookup, a byte loop and a set lookup
 * (docs/privacy.md, "Cost"). Optional: when this module was not built, the Python loop
 * alone decides.
 *
 * Contract with scrubber.py: ``clean`` returns how many of the leading entries of
 * ``to_check`` the Python loop, given the same arguments, would pass over without calling a
 * detector, a callback or a marker, and without reporting anything: all of them for a clean
 * mapping, and the loop then does not run. It stops at the first value it cannot judge with
 * those checks (or a type it does not know, or input of another shape: 0), and the Python
 * loop takes over from that entry (it caches what it clears, so the next such value is
 * cleared here). It never raises (only MemoryError) and runs no Python code.
 * tests/privacy/test_quick.py checks the contract against the Python loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define CARD_MIN 1000000000000LL /* smaller integers are never card numbers (scrubber.py) */
#define MIN_TEXT 6               /* shorter strings are never looked at (scrubber.py) */

/* The digit shape of a str (prefilter.digit_shape: UTF-8 with every digit a 0), as bytes;
 * NULL with no exception when it is not valid UTF-8 (the Python loop decides). */
static PyObject *
shape_of(PyObject *text)
{
    Py_ssize_t n;
    const char *data = PyUnicode_AsUTF8AndSize(text, &n);
    if (data == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *shape = PyBytes_FromStringAndSize(NULL, n);
    if (shape == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(shape);
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = data[i];
        out[i] = (c >= '0' && c <= '9') ? '0' : c;
    }
    return shape;
}

/* 1: cleared; 0: the Python loop must look; -1: error. */
static int
text_cleared(PyObject *value, PyObject *clean, PyObject *harmless)
{
    if (PyUnicode_CheckExact(value)) {
        if (PyUnicode_GET_LENGTH(value) < MIN_TEXT) {
            return 1;
        }
        if (harmless != Py_None) {
            PyObject *shape = shape_of(value);
            if (shape == NULL) {
                return PyErr_Occurred() ? -1 : 0;
            }
            int found = PySet_Contains(harmless, shape);
            Py_DECREF(shape);
            if (found != 0) {
                return found;
            }
        }
        return PySet_Contains(clean, value);
    }
    if (PyFloat_CheckExact(value) || PyBool_Check(value)) {
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (x == -1 && PyErr_Occurred()) {
            return -1;
        }
        return overflow < 0 || (overflow == 0 && x < CARD_MIN);
    }
    return 0;
}

PyDoc_STRVAR(clean_doc,
"clean(attrs, to_check, clean, harmless, statements) -> int\n\n"
"How many of the leading entries of ``to_check`` ((key, plan, rule) triples) have values in\n"
"``attrs`` that pass the scrubber's first checks: a ``text`` value shorter than six\n"
"characters, whose digit shape is in ``harmless`` (None: the prefilter is off) or which is\n"
"in ``clean``, or a float, bool or integer below 10**12; a ``statement`` value in\n"
"``statements``. ``len(to_check)`` when all do; the Python loop takes over from the first\n"
"that does not.");

static PyObject *
clean(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "clean takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *attrs = args[0], *to_check = args[1], *clean_texts = args[2];
    PyObject *harmless = args[3], *statements = args[4];
    if (!PyDict_CheckExact(attrs) || !PyTuple_CheckExact(to_check) ||
        !PyAnySet_CheckExact(clean_texts) || !PyAnySet_CheckExact(statements) ||
        (harmless != Py_None && !PyAnySet_CheckExact(harmless))) {
        return PyLong_FromLong(0);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(to_check);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *entry = PyTuple_GET_ITEM(to_check, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) < 2) {
            return PyLong_FromSsize_t(i);
        }
        PyObject *key = PyTuple_GET_ITEM(entry, 0), *plan = PyTuple_GET_ITEM(entry, 1);
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(plan)) {
            return PyLong_FromSsize_t(i);
        }
        /* A str key: its hash is cached and its comparison runs no Python code. */
        PyObject *value = PyDict_GetItemWithError(attrs, key);
        if (value == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            return PyLong_FromSsize_t(i);
        }
        int cleared;
        if (PyUnicode_CompareWithASCIIString(plan, "text") == 0) {
            cleared = text_cleared(value, clean_texts, harmless);
        }
        else if (PyUnicode_CompareWithASCIIString(plan, "statement") == 0) {
            cleared = PyUnicode_CheckExact(value) ? PySet_Contains(statements, value) : 0;
        }
        else {
            cleared = 0;
        }
        if (cleared < 0) {
            return NULL;
        }
        if (!cleared) {
            return PyLong_FromSsize_t(i);
        }
    }
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"clean", (PyCFunction)(void (*)(void))clean, METH_FASTCALL, clean_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "saler_tracing._internal.scrub._quick",
    "The scrubber's first checks of an attribute mapping in C (see scrubber.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__quick(void)
{
    return PyModule_Create(&module);
}
