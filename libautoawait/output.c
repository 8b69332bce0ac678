/*
 * output.c -- a cell's sys.stdout and sys.stderr.
 *
 * sys.stdout is one object for the whole process, and cells of several
 * sessions may run at once on several threads (each gives the GIL up while
 * its loop waits), so it cannot be swapped per cell.  Once a session with
 * a callback (aa_options.write, or one aa_session_set_write gave it at any
 * time) exists, sys.stdout and sys.stderr are two dispatching
 * streams: a write goes to the callback of the session whose cell (or
 * poll) runs on the writing thread; from a thread with none (one a cell
 * started), to the session whose cell began last (while it runs: a cell
 * started with aa_exec_start, between dispatches too); with no session at all,
 * or one without a callback, to the stream that was there before (the
 * process's own), for good: also once the last callback session is gone,
 * for whoever kept the writers.  A cell that replaces sys.stdout has its stream
 * put back when it ends, as before.  Without a callback nothing is swapped; the
 * process's streams are flushed after each cell so that the host's own
 * output keeps its order.  The bytes written and their order are the
 * cell's; this file adds nothing to them.  A runner's own writes
 * (aa_runner_host.write, calls.c) take the same way from C.
 */
#include "internal.h"

#include <errno.h>
#include <unistd.h>

/*
 * The writers are io.TextIOBase (their binary layers, sys.stdout.buffer,
 * io.BufferedIOBase): made on _io's C bases and registered with io's
 * ABCs, so that code which asks for a real text stream (isinstance,
 * buffer, writelines, encoding, errors, fileno) finds one.  They have no
 * fields of their own: which stream one is follows from which object it
 * is, and there is one of each.
 */
static PyTypeObject *writer_type, *buffer_type;
static PyObject *dispatch[3]; /* the writers, by stream */
static PyObject *buffers[3];  /* their binary layers */
static PyObject *fallback[3]; /* what sys.stdout/err were before them */
static aa_session *active;    /* the callback session whose cell began last */
static int callback_sessions; /* how many exist */
static PyObject *unsupported; /* io.UnsupportedOperation */
static PyObject *str_write, *str_buffer;

/* sys.__dict__ and the two keys, kept: PySys_GetObject and PySys_SetObject
 * make their key again on every call, and a cell looks twice. */
static PyObject *sysdict, *keys[3];

/* 1 or 2: the stream of a writer or a buffer. */
static int stream_of(PyObject *self)
{
    return self == dispatch[2] || self == buffers[2] ? 2 : 1;
}

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

/*
 * What a call on self goes on to when no session takes it: the stream
 * that was in sys before the writers (for a buffer, that stream's
 * buffer).  A new reference, or NULL when there is nothing to go on to;
 * an exception is set only when asking for the buffer failed.
 */
static PyObject *fallback_of(PyObject *self)
{
    int stream = stream_of(self);
    PyObject *f = fallback[stream];

    if (f == NULL || f == Py_None || f == dispatch[stream])
        return NULL;
    if (self == buffers[stream])
        return PyObject_GetAttr(f, str_buffer);
    Py_INCREF(f);
    return f;
}

/* Where aa_write_fail puts the errno of the callback running on this
 * thread; NULL while none runs.  Callbacks nest (one may print through a
 * session of its own), each with its own. */
static _Thread_local int *write_failure;

/* Hands len bytes to the session's callback; the errno it reported with
 * aa_write_fail, or 0. */
static int call_back(aa_session *s, int stream, const char *data, size_t len)
{
    int failed = 0, *outer = write_failure;

    write_failure = &failed;
    s->write(s->userdata, stream, data, len);
    write_failure = outer;
    return failed;
}

/* Hands n bytes to the session's callback; -1 with OSError set when the
 * callback reported a failure. */
static int deliver(aa_session *s, int stream, const char *data, Py_ssize_t n)
{
    int failed;

    if (n <= 0 || (failed = call_back(s, stream, data, (size_t)n)) == 0)
        return 0;
    errno = failed;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/* A write no session takes: on to the fallback, or dropped when there is
 * none (as python3 drops print() with sys.stdout None).  n is what a
 * dropped write answers. */
static PyObject *write_elsewhere(PyObject *self, PyObject *arg, Py_ssize_t n)
{
    PyObject *f = fallback_of(self), *r;

    if (f == NULL)
        return PyErr_Occurred() ? NULL : PyLong_FromSsize_t(n);
    r = PyObject_CallMethodOneArg(f, str_write, arg);
    Py_DECREF(f);
    return r;
}

static PyObject *writer_write(PyObject *self, PyObject *arg)
{
    aa_session *s = owner();
    int stream = stream_of(self);
    PyObject *bytes = NULL;
    const char *data;
    Py_ssize_t n;
    int rc;

    if (!PyUnicode_Check(arg)) {
        return PyErr_Format(PyExc_TypeError,
                            "write() argument must be str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    }
    if (s == NULL)
        return write_elsewhere(self, arg, PyUnicode_GET_LENGTH(arg));
    data = PyUnicode_AsUTF8AndSize(arg, &n);
    if (data == NULL) {
        /* Lone surrogates cannot be UTF-8: python3's stdout refuses them
         * (errors="strict"), its stderr escapes them. */
        if (stream == 1)
            return NULL;
        PyErr_Clear();
        bytes = PyUnicode_AsEncodedString(arg, "utf-8", "backslashreplace");
        if (bytes == NULL)
            return NULL;
        data = PyBytes_AS_STRING(bytes);
        n = PyBytes_GET_SIZE(bytes);
    }
    rc = deliver(s, stream, data, n);
    Py_XDECREF(bytes);
    return rc == 0 ? PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg)) : NULL;
}

/* sys.stdout.buffer.write: the bytes as they are. */
static PyObject *buffer_write(PyObject *self, PyObject *arg)
{
    aa_session *s = owner();
    Py_buffer view;
    int rc;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (s == NULL) {
        PyObject *r = write_elsewhere(self, arg, view.len);
        PyBuffer_Release(&view);
        return r;
    }
    rc = deliver(s, stream_of(self), view.buf, view.len);
    PyBuffer_Release(&view);
    return rc == 0 ? PyLong_FromSsize_t(view.len) : NULL;
}

/*
 * flush, isatty and fileno: on the fallback when no session takes the
 * stream; for a session's callback (or with nothing to fall back to) the
 * answer is otherwise, or, when that is NULL, io.UnsupportedOperation, as
 * io.StringIO answers fileno().
 */
static PyObject *forward(PyObject *self, const char *method,
                         PyObject *otherwise)
{
    PyObject *f = owner() == NULL ? fallback_of(self) : NULL, *r;

    if (f != NULL) {
        r = PyObject_CallMethod(f, method, NULL);
        Py_DECREF(f);
        return r;
    }
    if (PyErr_Occurred())
        return NULL;
    if (otherwise == NULL) {
        PyErr_SetString(unsupported, "the session's stream has no file "
                                     "number");
        return NULL;
    }
    Py_INCREF(otherwise);
    return otherwise;
}

static PyObject *writer_flush(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "flush", Py_None);
}

static PyObject *writer_isatty(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "isatty", Py_False);
}

static PyObject *writer_fileno(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "fileno", NULL);
}

static PyObject *writer_none(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyObject *writer_true(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *get_false(PyObject *self, void *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *get_true(PyObject *self, void *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

/* A text attribute; closure is {stdout's, stderr's}. */
static PyObject *get_text(PyObject *self, void *closure)
{
    const char *const *pair = closure;

    return PyUnicode_FromString(pair[stream_of(self) - 1]);
}

static PyObject *get_buffer(PyObject *self, void *unused)
{
    PyObject *b = buffers[stream_of(self)];

    (void)unused;
    Py_INCREF(b);
    return b;
}

static const char *const names[] = {"<stdout>", "<stderr>"};
static const char *const encodings[] = {"utf-8", "utf-8"};
static const char *const errors[] = {"strict", "backslashreplace"};
static const char *const text_modes[] = {"w", "w"};
static const char *const binary_modes[] = {"wb", "wb"};

/* write takes str on a writer, bytes on a buffer. */
static PyObject *stream_write(PyObject *self, PyObject *arg)
{
    return self == buffers[1] || self == buffers[2] ? buffer_write(self, arg)
                                                    : writer_write(self, arg);
}

/* The same methods on the writers and their buffers.  The host's stream is
 * the host's to close: closing it from a cell is allowed, as on any
 * stream, and changes nothing. */
static PyMethodDef stream_methods[] = {
    {"write", stream_write, METH_O, NULL},
    {"flush", writer_flush, METH_NOARGS, NULL},
    {"close", writer_none, METH_NOARGS, NULL},
    {"isatty", writer_isatty, METH_NOARGS, NULL},
    {"writable", writer_true, METH_NOARGS, NULL},
    {"fileno", writer_fileno, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* Every write reaches the callback at once: nothing waits for a line. */
static PyGetSetDef writer_getset[] = {
    {"buffer", get_buffer, NULL, NULL, NULL},
    {"encoding", get_text, NULL, NULL, (void *)encodings},
    {"errors", get_text, NULL, NULL, (void *)errors},
    {"mode", get_text, NULL, NULL, (void *)text_modes},
    {"name", get_text, NULL, NULL, (void *)names},
    {"closed", get_false, NULL, NULL, NULL},
    {"line_buffering", get_false, NULL, NULL, NULL},
    {"write_through", get_true, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyGetSetDef buffer_getset[] = {
    {"mode", get_text, NULL, NULL, (void *)binary_modes},
    {"name", get_text, NULL, NULL, (void *)names},
    {"closed", get_false, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot writer_slots[] = {
    {Py_tp_methods, stream_methods},
    {Py_tp_getset, writer_getset},
    {0, NULL},
};

static PyType_Slot buffer_slots[] = {
    {Py_tp_methods, stream_methods},
    {Py_tp_getset, buffer_getset},
    {0, NULL},
};

/* A basic size of 0 takes the base's: the writers add no field.  The
 * types are shared by every session, so no cell may patch them, as no
 * cell may patch io.TextIOWrapper. */
#define WRITER_FLAGS                                                           \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION |                  \
     Py_TPFLAGS_IMMUTABLETYPE)

static PyType_Spec writer_spec = {"autoawait.SessionStream", 0, 0, WRITER_FLAGS,
                                  writer_slots};

static PyType_Spec buffer_spec = {"autoawait.SessionStreamBuffer", 0, 0,
                                  WRITER_FLAGS, buffer_slots};

/* A type of spec on _io's base, registered with io's ABC abc. */
static PyTypeObject *make_type(PyType_Spec *spec, PyObject *_io,
                               const char *base, PyObject *io, const char *abc)
{
    PyObject *b = PyObject_GetAttrString(_io, base), *type = NULL, *a, *r;

    if (b != NULL)
        type = PyType_FromSpecWithBases(spec, b);
    Py_XDECREF(b);
    if (type == NULL || (a = PyObject_GetAttrString(io, abc)) == NULL) {
        Py_XDECREF(type);
        return NULL;
    }
    r = PyObject_CallMethod(a, "register", "O", type);
    Py_DECREF(a);
    if (r == NULL)
        Py_CLEAR(type);
    Py_XDECREF(r);
    return (PyTypeObject *)type;
}

/* Makes the types, the writers, the names and sys.__dict__ at hand, once. */
static int prepare(void)
{
    PyObject *sys, *io = NULL, *_io = NULL;
    int i, rc = -1;

    if (sysdict != NULL)
        return 0;
    if ((io = aa__import("io")) == NULL || (_io = aa__import("_io")) == NULL)
        goto done;
    /* A failure half-way (out of memory) is made good by the next call. */
    if (unsupported == NULL)
        unsupported = PyObject_GetAttrString(io, "UnsupportedOperation");
    if (writer_type == NULL)
        writer_type =
            make_type(&writer_spec, _io, "_TextIOBase", io, "TextIOBase");
    if (buffer_type == NULL)
        buffer_type = make_type(&buffer_spec, _io, "_BufferedIOBase", io,
                                "BufferedIOBase");
    if (keys[1] == NULL)
        keys[1] = PyUnicode_InternFromString("stdout");
    if (keys[2] == NULL)
        keys[2] = PyUnicode_InternFromString("stderr");
    if (str_write == NULL)
        str_write = PyUnicode_InternFromString("write");
    if (str_buffer == NULL)
        str_buffer = PyUnicode_InternFromString("buffer");
    sys = PyImport_AddModule("sys"); /* borrowed */
    if (unsupported == NULL || writer_type == NULL || buffer_type == NULL ||
        keys[1] == NULL || keys[2] == NULL || str_write == NULL ||
        str_buffer == NULL || sys == NULL)
        goto done;
    for (i = 1; i <= 2; i++) {
        if (dispatch[i] == NULL)
            dispatch[i] = PyType_GenericAlloc(writer_type, 0);
        if (buffers[i] == NULL)
            buffers[i] = PyType_GenericAlloc(buffer_type, 0);
        if (dispatch[i] == NULL || buffers[i] == NULL)
            goto done;
    }
    sysdict = PyModule_GetDict(sys);
    Py_XINCREF(sysdict);
    rc = sysdict != NULL ? 0 : -1;
done:
    Py_XDECREF(io);
    Py_XDECREF(_io);
    return rc;
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
 * there; what was there becomes the fallback, unless it is the other
 * writer (a session without a callback swapped them): a writer falling
 * back on a writer would call itself. */
static int install(void)
{
    int i;

    for (i = 1; i <= 2; i++) {
        PyObject *cur = PyDict_GetItemWithError(sysdict, keys[i]);
        if (cur == dispatch[i])
            continue;
        if (cur == NULL && PyErr_Occurred())
            return -1;
        if (cur != NULL && (cur == dispatch[1] || cur == dispatch[2])) {
            if (set_stream(keys[i], dispatch[i]) < 0)
                return -1;
            continue;
        }
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
        if (active == s && s->started == NULL)
            active = NULL;
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* A cell of s was started (aa_exec_start) and goes on between the host's
 * dispatches: what the threads it started write is still its own. */
void aa__output_started(aa_session *s)
{
    if (s->write != NULL)
        active = s;
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
 * A runner's write (aa_runner_host.write) for s: to the callback a cell's
 * print would reach, or else to the process's file descriptor, after
 * what Python holds for it (a cell's print, buffered in sys.stdout) so
 * that the order is kept.  A failure has no one to go to: the runner's
 * call goes on.  Never raises; the GIL is held.
 */
void aa__output_raw(aa_session *s, int stream, const char *text, size_t len)
{
    PyObject *type, *value, *tb, *f, *r;

    while (s != NULL && s->write == NULL)
        s = s->outer;
    if (s != NULL) {
        call_back(s, stream, text, len);
        return;
    }
    PyErr_Fetch(&type, &value, &tb);
    f = PySys_GetObject(stream == 1 ? "stdout" : "stderr"); /* borrowed */
    if (f != NULL && f == dispatch[stream])
        f = fallback[stream];
    if (f != NULL && f != Py_None) {
        r = PyObject_CallMethod(f, "flush", NULL);
        Py_XDECREF(r);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    Py_BEGIN_ALLOW_THREADS
        while (len > 0) {
            ssize_t n = write(stream, text, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            text += n;
            len -= (size_t)n;
        }
    Py_END_ALLOW_THREADS
}

/*
 * A session stops having a callback (it ends, or gives its callback up).
 * When no callback session is left, the process's own streams go back.
 * The writers keep them as their fallback all the same: a logging handler
 * or any other holder of the writers still writes to the process's
 * streams.
 */
static void callback_gone(void)
{
    int i;

    if (--callback_sessions > 0)
        return;
    for (i = 1; i <= 2; i++) {
        PyObject *cur = PyDict_GetItemWithError(sysdict, keys[i]);
        if (cur == dispatch[i] && set_stream(keys[i], fallback[i]) < 0)
            PyErr_Clear();
    }
    PyErr_Clear();
}

void aa__output_free(aa_session *s)
{
    if (active == s)
        active = NULL;
    if (s->write != NULL && sysdict != NULL)
        callback_gone();
}

int aa_write_fail(int errnum)
{
    if (write_failure == NULL || errnum <= 0)
        return AA_EINVAL;
    *write_failure = errnum;
    return AA_OK;
}

/*
 * A callback given to a session that had none is counted as
 * aa_session_new counts it, and one taken away as aa_session_free does.
 * While a cell of s runs (this call comes from inside it, from its write
 * callback, or from another thread while the cell waits; a started cell
 * between the host's dispatches), its streams
 * follow at once, the writes of the threads it started included: the
 * writers go in place and s is the session whose cell began last, or, its
 * callback gone, no longer is.
 */
int aa_session_set_write(aa_session *s, aa_write_fn write, void *userdata,
                         aa_write_fn *old_write, void **old_userdata)
{
    PyGILState_STATE g;
    int rc;

    if (s == NULL)
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    if (s->write == NULL && write != NULL && prepare() < 0) {
        PyErr_Clear();
        aa__interp_leave(g);
        return aa__session_fail(s, AA_EPYTHON, "cannot set up the streams");
    }
    if (old_write != NULL)
        *old_write = s->write;
    if (old_userdata != NULL)
        *old_userdata = s->userdata;
    if (s->write == NULL && write != NULL)
        callback_sessions++;
    else if (s->write != NULL && write == NULL)
        callback_gone();
    s->write = write;
    s->userdata = userdata;
    if ((s->busy || s->started != NULL) && write != NULL) {
        active = s;
        if (install() < 0)
            PyErr_Clear(); /* the cell's next begin tries again */
    } else if (active == s && write == NULL) {
        active = NULL;
    }
    aa__interp_leave(g);
    return AA_OK;
}
