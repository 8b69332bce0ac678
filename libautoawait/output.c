/*
 * output.c -- a cell's sys.stdout and sys.stderr.
 *
 * sys.stdout is one object for the whole process, and cells of several
 * sessions may run at once on several threads (each gives the GIL up while
 * its loop waits), so it cannot be swapped per cell.  Once a session with
 * aa_options.write exists, sys.stdout and sys.stderr are two dispatching
 * streams: a write goes to the callback of the session whose cell (or
 * poll) runs on the writing thread; from a thread with none (one a cell
 * started), to the session whose cell began last; with no session at all,
 * or one without a callback, to the stream that was there before (the
 * process's own).  A cell that replaces sys.stdout has its stream put back
 * when it ends, as before.  Without a callback nothing is swapped; the
 * process's streams are flushed after each cell so that the host's own
 * output keeps its order.  The bytes written and their order are the
 * cell's; this file adds nothing to them.
 */
#include "internal.h"

#include <string.h>

typedef struct {
    PyObject_HEAD int stream; /* 1 or 2 */
} writer;

static PyTypeObject *writer_type;
static PyObject *dispatch[3]; /* the writers, by stream */
static PyObject *fallback[3]; /* what sys.stdout/err were before them */
static aa_session *active;    /* the callback session whose cell began last */
static int callback_sessions; /* how many exist */

/* sys.__dict__ and the two keys, kept: PySys_GetObject and PySys_SetObject
 * make their key again on every call, and a cell looks twice. */
static PyObject *sysdict, *keys[3];

/* The session a write from this thread belongs to, or NULL. */
static aa_session *owner(void)
{
    aa_session *s = aa__current_session();

    /* A nested session without a callback writes where its outer cell
     * does, as it would through the outer cell's sys.stdout. */
    while (s != NULL && s->write == NULL)
        s = s->outer;
    if (s == NULL && aa__current_session() == NULL)
        s = active;
    return s != NULL && s->write != NULL ? s : NULL;
}

/* The stream a write goes on to when no session takes it (borrowed). */
static PyObject *fallback_of(PyObject *self)
{
    PyObject *f = fallback[((writer *)self)->stream];

    return f != NULL && f != Py_None && f != self ? f : NULL;
}

static PyObject *writer_write(PyObject *self, PyObject *arg)
{
    aa_session *s = owner();
    PyObject *bytes = NULL, *f;
    const char *data;
    Py_ssize_t n;

    if (!PyUnicode_Check(arg)) {
        return PyErr_Format(PyExc_TypeError,
                            "write() argument must be str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    }
    if (s == NULL) {
        f = fallback_of(self);
        if (f == NULL)
            return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
        return PyObject_CallMethod(f, "write", "O", arg);
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
    if (n > 0)
        s->write(s->userdata, ((writer *)self)->stream, data, (size_t)n);
    Py_XDECREF(bytes);
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

/* flush, isatty and fileno ask the fallback when no session takes the
 * stream; for a session's callback they answer as a pipe would. */
static PyObject *forward(PyObject *self, const char *method)
{
    PyObject *f = owner() == NULL ? fallback_of(self) : NULL;

    if (f != NULL)
        return PyObject_CallMethod(f, method, NULL);
    if (strcmp(method, "isatty") == 0)
        Py_RETURN_FALSE;
    if (strcmp(method, "fileno") == 0) {
        PyObject *io = PyImport_ImportModule("io"), *unsupported;
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
    Py_RETURN_NONE;
}

static PyObject *writer_flush(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "flush");
}

static PyObject *writer_isatty(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "isatty");
}

static PyObject *writer_fileno(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "fileno");
}

static PyObject *writer_none(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyObject *writer_bool(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(self != NULL && Py_TYPE(self) == writer_type);
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
    {"flush", writer_flush, METH_NOARGS, NULL},
    /* The host's stream is the host's to close: closing it from a cell is
     * allowed, as on any stream, and changes nothing. */
    {"close", writer_none, METH_NOARGS, NULL},
    {"isatty", writer_isatty, METH_NOARGS, NULL},
    {"writable", writer_bool, METH_NOARGS, NULL},
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

/* Makes the writers, the keys and sys.__dict__ at hand, once. */
static int prepare(void)
{
    PyObject *sys;
    int i;

    if (sysdict != NULL)
        return 0;
    writer_type = (PyTypeObject *)PyType_FromSpec(&writer_spec);
    keys[1] = PyUnicode_InternFromString("stdout");
    keys[2] = PyUnicode_InternFromString("stderr");
    sys = PyImport_AddModule("sys"); /* borrowed */
    if (writer_type == NULL || keys[1] == NULL || keys[2] == NULL ||
        sys == NULL)
        return -1;
    for (i = 1; i <= 2; i++) {
        writer *w = PyObject_New(writer, writer_type);
        if (w == NULL)
            return -1;
        w->stream = i;
        dispatch[i] = (PyObject *)w;
    }
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

/* Puts the writers in sys.stdout and sys.stderr if something else is
 * there; what was there becomes the fallback. */
static int install(void)
{
    int i;

    for (i = 1; i <= 2; i++) {
        PyObject *cur = PyDict_GetItemWithError(sysdict, keys[i]);
        if (cur == dispatch[i])
            continue;
        if (cur == NULL && PyErr_Occurred())
            return -1;
        Py_XINCREF(cur);
        Py_XSETREF(fallback[i], cur);
        if (set_stream(keys[i], dispatch[i]) < 0)
            return -1;
    }
    return 0;
}

int aa__output_make(aa_session *s)
{
    if (s->write == NULL)
        return 0;
    if (prepare() < 0)
        return -1;
    callback_sessions++;
    return 0;
}

/* Before a cell (or a poll, a completion) of s. */
int aa__output_begin(aa_session *s)
{
    if (s->write == NULL)
        return 0;
    active = s;
    return install();
}

static void flush(PyObject *key)
{
    PyObject *f = PyDict_GetItemWithError(sysdict, key), *r;

    if (f == NULL || f == Py_None) {
        PyErr_Clear();
        return;
    }
    r = PyObject_CallMethod(f, "flush", NULL);
    if (r == NULL)
        PyErr_Clear(); /* a closed stdout is the cell's business */
    Py_XDECREF(r);
}

/* After it; never raises. */
void aa__output_end(aa_session *s)
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    if (s->write == NULL) {
        if (prepare() == 0) {
            flush(keys[1]);
            flush(keys[2]);
        }
    } else {
        /* A cell that replaced sys.stdout had it for itself alone. */
        int i;
        for (i = 1; i <= 2; i++) {
            PyObject *cur = PyDict_GetItemWithError(sysdict, keys[i]);
            if (cur != dispatch[i] && set_stream(keys[i], dispatch[i]) < 0)
                PyErr_Clear();
        }
        if (active == s)
            active = NULL;
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* Writes text to sys.stdout (the session's, during its cell). */
int aa__output_write(const char *text)
{
    PyObject *f = PySys_GetObject("stdout"), *r;

    if (f == NULL || f == Py_None)
        return 0;
    r = PyObject_CallMethod(f, "write", "s", text);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* Writes text to sys.stderr; never raises. */
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

/*
 * The session ends: nothing may reach its callback any more.  When no
 * callback session is left, the process's own streams go back.  The
 * writers keep them as their fallback all the same: a logging handler or
 * any other holder of the writers still writes to the process's streams.
 */
void aa__output_free(aa_session *s)
{
    int i;

    if (active == s)
        active = NULL;
    if (s->write == NULL || sysdict == NULL)
        return;
    if (--callback_sessions > 0)
        return;
    for (i = 1; i <= 2; i++) {
        PyObject *cur = PyDict_GetItemWithError(sysdict, keys[i]);
        if (cur == dispatch[i] && set_stream(keys[i], fallback[i]) < 0)
            PyErr_Clear();
    }
    PyErr_Clear();
}
