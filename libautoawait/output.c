/*
 * output.c -- a cell's sys.stdout and sys.stderr.
 *
 * When the host gives aa_options.write, each session has two small file
 * objects that hand what a cell writes to that callback; they are put in
 * sys.stdout and sys.stderr for the length of a cell and the previous
 * streams are put back afterwards.  Without a callback the process's own
 * streams stay, and are flushed after each cell so that the host's own
 * output keeps its order.  The bytes written and their order are the
 * cell's; this file adds nothing to them.
 */
#include "internal.h"

#include <string.h>

typedef struct {
    PyObject_HEAD aa_session
        *s;     /* borrowed: the session outlives its writers */
    int stream; /* 1 or 2 */
} writer;

static PyTypeObject *writer_type;

static PyObject *writer_write(PyObject *self, PyObject *arg)
{
    writer *w = (writer *)self;
    PyObject *bytes = NULL;
    const char *data;
    Py_ssize_t n;

    if (!PyUnicode_Check(arg)) {
        return PyErr_Format(PyExc_TypeError,
                            "write() argument must be str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    }
    data = PyUnicode_AsUTF8AndSize(arg, &n);
    if (data == NULL) {
        /* Lone surrogates cannot be UTF-8: escape them, as a terminal's
         * stream with errors="backslashreplace" would. */
        PyErr_Clear();
        bytes = PyUnicode_AsEncodedString(arg, "utf-8", "backslashreplace");
        if (bytes == NULL)
            return NULL;
        data = PyBytes_AS_STRING(bytes);
        n = PyBytes_GET_SIZE(bytes);
    }
    if (w->s != NULL && w->s->write != NULL && n > 0)
        w->s->write(w->s->userdata, w->stream, data, (size_t)n);
    Py_XDECREF(bytes);
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

static PyObject *writer_none(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyObject *writer_false(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *writer_true(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *writer_fileno(PyObject *self, PyObject *unused)
{
    PyObject *io = PyImport_ImportModule("io"), *unsupported;

    (void)self;
    (void)unused;
    if (io == NULL)
        return NULL;
    unsupported = PyObject_GetAttrString(io, "UnsupportedOperation");
    Py_DECREF(io);
    if (unsupported == NULL)
        return NULL;
    PyErr_SetString(unsupported, "the session's stream has no file number");
    Py_DECREF(unsupported);
    return NULL;
}

static PyObject *writer_get_str(PyObject *self, void *what)
{
    const char *v = what;
    if (strcmp(v, "name") == 0)
        v = ((writer *)self)->stream == 1 ? "<stdout>" : "<stderr>";
    return PyUnicode_FromString(v);
}

static PyObject *writer_get_false(PyObject *self, void *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyMethodDef writer_methods[] = {
    {"write", writer_write, METH_O, NULL},
    {"flush", writer_none, METH_NOARGS, NULL},
    {"isatty", writer_false, METH_NOARGS, NULL},
    {"readable", writer_false, METH_NOARGS, NULL},
    {"seekable", writer_false, METH_NOARGS, NULL},
    {"writable", writer_true, METH_NOARGS, NULL},
    {"fileno", writer_fileno, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef writer_getset[] = {
    {"encoding", writer_get_str, NULL, NULL, "utf-8"},
    {"errors", writer_get_str, NULL, NULL, "backslashreplace"},
    {"mode", writer_get_str, NULL, NULL, "w"},
    {"name", writer_get_str, NULL, NULL, "name"},
    {"closed", writer_get_false, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot writer_slots[] = {
    {Py_tp_methods, writer_methods},
    {Py_tp_getset, writer_getset},
    {0, NULL},
};

static PyType_Spec writer_spec = {
    "autoawait.SessionStream", sizeof(writer), 0,
    Py_TPFLAGS_DEFAULT,        writer_slots,
};

static PyObject *make_writer(aa_session *s, int stream)
{
    writer *w;

    if (writer_type == NULL) {
        writer_type = (PyTypeObject *)PyType_FromSpec(&writer_spec);
        if (writer_type == NULL)
            return NULL;
    }
    w = PyObject_New(writer, writer_type);
    if (w == NULL)
        return NULL;
    w->s = s;
    w->stream = stream;
    return (PyObject *)w;
}

int aa__output_make(aa_session *s)
{
    if (s->write == NULL)
        return 0;
    s->out = make_writer(s, 1);
    s->err = s->out != NULL ? make_writer(s, 2) : NULL;
    return s->err != NULL ? 0 : -1;
}

/*
 * sys.__dict__ and the two keys, kept: PySys_GetObject and PySys_SetObject
 * make their key again on every call, and a cell swaps streams twice.
 */
static PyObject *sysdict, *key_out, *key_err;

static int stream_keys(void)
{
    PyObject *sys;

    if (sysdict != NULL)
        return 0;
    key_out = PyUnicode_InternFromString("stdout");
    key_err = PyUnicode_InternFromString("stderr");
    sys = PyImport_AddModule("sys"); /* borrowed */
    if (key_out == NULL || key_err == NULL || sys == NULL)
        return -1;
    sysdict = PyModule_GetDict(sys);
    Py_XINCREF(sysdict);
    return sysdict != NULL ? 0 : -1;
}

/* Sets sys.KEY to value (a NULL value deletes it, as PySys_SetObject). */
static int set_stream(PyObject *key, PyObject *value)
{
    if (value != NULL)
        return PyDict_SetItem(sysdict, key, value);
    if (PyDict_DelItem(sysdict, key) == 0)
        return 0;
    if (PyErr_ExceptionMatches(PyExc_KeyError))
        PyErr_Clear();
    return PyErr_Occurred() ? -1 : 0;
}

/* Puts the session's writers in place; saved gets what was there. */
int aa__output_begin(aa_session *s, PyObject *saved[2])
{
    saved[0] = saved[1] = NULL;
    if (s->out == NULL)
        return 0;
    if (stream_keys() < 0)
        return -1;
    saved[0] = PyDict_GetItemWithError(sysdict, key_out);
    saved[1] = PyDict_GetItemWithError(sysdict, key_err);
    if (PyErr_Occurred())
        return -1;
    Py_XINCREF(saved[0]);
    Py_XINCREF(saved[1]);
    if (set_stream(key_out, s->out) < 0 || set_stream(key_err, s->err) < 0)
        return -1;
    return 0;
}

static void flush(const char *name)
{
    PyObject *f = PySys_GetObject(name), *r;

    if (f == NULL || f == Py_None)
        return;
    r = PyObject_CallMethod(f, "flush", NULL);
    if (r == NULL)
        PyErr_Clear(); /* a closed stdout is the cell's business */
    Py_XDECREF(r);
}

/* Puts back what begin replaced; never raises. */
void aa__output_end(aa_session *s, PyObject *saved[2])
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    if (s->out == NULL) {
        flush("stdout");
        flush("stderr");
    } else {
        if (set_stream(key_out, saved[0]) < 0 ||
            set_stream(key_err, saved[1]) < 0)
            PyErr_Clear();
        Py_XDECREF(saved[0]);
        Py_XDECREF(saved[1]);
    }
    PyErr_Restore(type, value, tb);
}

/* Writes text to the cell's sys.stdout (the session's, during a cell). */
int aa__output_write(const char *text)
{
    PyObject *f = PySys_GetObject("stdout"), *r;

    if (f == NULL || f == Py_None)
        return 0;
    r = PyObject_CallMethod(f, "write", "s", text);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* Writes text to the cell's sys.stderr; never raises. */
void aa__output_error(const char *text)
{
    PyObject *f = PySys_GetObject("stderr"), *r;

    if (f == NULL || f == Py_None)
        return;
    r = PyObject_CallMethod(f, "write", "s", text);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}

/* Detaches the writers: a cell may have kept one, and it must not reach a
 * freed session. */
void aa__output_free(aa_session *s)
{
    if (s->out != NULL)
        ((writer *)s->out)->s = NULL;
    if (s->err != NULL)
        ((writer *)s->err)->s = NULL;
    Py_CLEAR(s->out);
    Py_CLEAR(s->err);
}
