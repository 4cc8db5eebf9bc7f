/* The head sampler's answer for the common child span, in one C call.
 *
 * Why: the SDK asks the sampler about every span. For a span whose parent is a sampled span
 * of this process, ``HeadSampler.should_sample`` answers ``RECORD_AND_SAMPLE`` with the
 * parent's trace state: in one result shared by the trace state when the span starts without
 * attributes or with our instrumentation's (``StartAttributes``), else in a result carrying
 * the attributes. In Python that answer is eight frames (the method, ``current_span``,
 * ``get_span_context``, four ``SpanContext`` properties and ``_child_result``): about 0.7 us
 * a child span, more than the rest of our pipeline's start (docs/sampling.md, "The cost,
 * and turning the tail off"). ``Child`` reads the current span from the runtime context's
 * ``ContextVar`` and the parent's ``SpanContext`` tuple from the SDK's live span, and returns
 * the result the Python method returned last for that trace state (held here, so the state's
 * identity cannot be reused), or builds the ``SamplingResult`` it would build for the
 * attributes. Every other call (keywords, attributes other than a dict, no current span of
 * the SDK's class, an unsampled, remote or invalid parent, a trace state not seen last) goes
 * to ``slow``, the Python method, unchanged; an answer of it for the shared case is what is
 * kept.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *slow;             /* HeadSampler.should_sample, bound */
    PyObject *context_var;      /* the runtime context's ContextVar (its default a Context) */
    PyObject *span_key;         /* the API's key of the current span in a Context */
    PyObject *live_span;        /* the SDK's live span class */
    PyObject *start_attributes; /* StartAttributes: attributes the sampler never reads */
    PyObject *result_type;      /* SamplingResult */
    PyObject *sampled;          /* Decision.RECORD_AND_SAMPLE */
    PyObject *last_state;       /* the trace state the kept result is for, or NULL */
    PyObject *last_result;
} Child;

static PyObject *context_name; /* "_context" */

/* The sampled, valid, local parent's trace state (new reference), or NULL with no error
 * set when the call is not the common case. */
static PyObject *
child_parent_state(Child *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 5) {
        return NULL;
    }
    PyObject *attributes = args[4];
    if (attributes != Py_None && (PyObject *)Py_TYPE(attributes) != self->start_attributes &&
        !PyDict_CheckExact(attributes)) {
        return NULL;
    }
    PyObject *context = args[0];
    PyObject *current = NULL;
    if (context == Py_None) {
        if (PyContextVar_Get(self->context_var, NULL, &current) < 0 || current == NULL) {
            PyErr_Clear();
            return NULL;
        }
        context = current;
    }
    PyObject *span = PyDict_Check(context) ? PyDict_GetItemWithError(context, self->span_key)
                                           : NULL;
    if (span == NULL || (PyObject *)Py_TYPE(span) != self->live_span) {
        PyErr_Clear();
        Py_XDECREF(current);
        return NULL;
    }
    PyObject *ctx = PyObject_GetAttr(span, context_name);
    Py_XDECREF(current); /* after the read: the context held the span until then */
    if (ctx == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *state = NULL;
    /* ``SpanContext`` is a tuple: (trace id, span id, is_remote, flags, state, is_valid). */
    if (PyTuple_Check(ctx) && PyTuple_GET_SIZE(ctx) >= 6 && PyTuple_GET_ITEM(ctx, 5) == Py_True &&
        PyTuple_GET_ITEM(ctx, 2) == Py_False && PyLong_Check(PyTuple_GET_ITEM(ctx, 3))) {
        long flags = PyLong_AsLong(PyTuple_GET_ITEM(ctx, 3));
        if (flags == -1 && PyErr_Occurred()) {
            PyErr_Clear();
        }
        else if (flags & 1) {
            state = Py_NewRef(PyTuple_GET_ITEM(ctx, 4));
        }
    }
    Py_DECREF(ctx);
    return state;
}

static PyObject *
child_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Child *self = (Child *)op;
    PyObject *state = kwnames == NULL
                          ? child_parent_state(self, args, PyVectorcall_NARGS(nargsf))
                          : NULL;
    if (state == NULL) {
        return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
    }
    PyObject *attributes = args[4];
    if (PyDict_CheckExact(attributes) && PyDict_GET_SIZE(attributes) > 0) {
        /* Attributes of the caller's own: the Python method hands them on in a result of
         * their own, ``SamplingResult(RECORD_AND_SAMPLE, attributes, state)``. */
        PyObject *argv[3] = {self->sampled, attributes, state};
        PyObject *result = PyObject_Vectorcall(self->result_type, argv, 3, NULL);
        Py_DECREF(state);
        return result;
    }
    if (state == self->last_state) {
        Py_DECREF(state);
        return Py_NewRef(self->last_result);
    }
    PyObject *result = PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
    if (result == NULL) {
        Py_DECREF(state);
        return NULL;
    }
    Py_XSETREF(self->last_result, Py_NewRef(result));
    Py_XSETREF(self->last_state, state);
    return result;
}

static int
child_traverse(Child *self, visitproc visit, void *arg)
{
    Py_VISIT(self->slow);
    Py_VISIT(self->context_var);
    Py_VISIT(self->span_key);
    Py_VISIT(self->live_span);
    Py_VISIT(self->start_attributes);
    Py_VISIT(self->sampled);
    Py_VISIT(self->result_type);
    Py_VISIT(self->last_state);
    Py_VISIT(self->last_result);
    return 0;
}

static int
child_clear(Child *self)
{
    Py_CLEAR(self->slow);
    Py_CLEAR(self->context_var);
    Py_CLEAR(self->span_key);
    Py_CLEAR(self->live_span);
    Py_CLEAR(self->start_attributes);
    Py_CLEAR(self->sampled);
    Py_CLEAR(self->result_type);
    Py_CLEAR(self->last_state);
    Py_CLEAR(self->last_result);
    return 0;
}

static void
child_dealloc(Child *self)
{
    PyObject_GC_UnTrack(self);
    child_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
child_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"slow",        "context_var", "span_key", "live_span",
                            "start_attributes", "result_type", "sampled", NULL};
    PyObject *slow, *context_var, *span_key, *live_span, *start_attributes, *result_type,
        *sampled;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!OO!O!O!O:Child", names, &slow,
                                     &PyContextVar_Type, &context_var, &span_key, &PyType_Type,
                                     &live_span, &PyType_Type, &start_attributes, &PyType_Type,
                                     &result_type, &sampled)) {
        return NULL;
    }
    Child *self = (Child *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = child_call;
    self->slow = Py_NewRef(slow);
    self->context_var = Py_NewRef(context_var);
    self->span_key = Py_NewRef(span_key);
    self->live_span = Py_NewRef(live_span);
    self->start_attributes = Py_NewRef(start_attributes);
    self->result_type = Py_NewRef(result_type);
    self->sampled = Py_NewRef(sampled);
    return (PyObject *)self;
}

PyDoc_STRVAR(child_doc,
"Child(slow, context_var, span_key, live_span, start_attributes, result_type, sampled)\n\n"
"HeadSampler.should_sample for the common child span (see head.py): called as the SDK calls\n"
"a sampler, it answers a sampled local child without attributes of its own with the result\n"
"``slow`` gave last for the parent's trace state; any other call goes to ``slow``.");

static PyTypeObject ChildType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "saler_tracing._internal.sampling._child.Child",
    .tp_basicsize = sizeof(Child),
    .tp_dealloc = (destructor)child_dealloc,
    .tp_vectorcall_offset = offsetof(Child, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = child_doc,
    .tp_traverse = (traverseproc)child_traverse,
    .tp_clear = (inquiry)child_clear,
    .tp_new = child_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "saler_tracing._internal.sampling._child",
    "The head sampler's answer for the common child span in C (see head.py).",
    -1,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__child(void)
{
    if (context_name == NULL) {
        context_name = PyUnicode_InternFromString("_context");
        if (context_name == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&ChildType) < 0) {
        return NULL;
    }
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(mod, "Child", (PyObject *)&ChildType) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
