/*
 * sdk.c -- the runner SDK (autoawait/runner-sdk.h) but for the asyncio
 * family (asyncio.c): the entry and the library's calls, names and state,
 * the cell's handshake and outcome, imports, threads, time and waits.
 * Nothing here knows one async library from another, and nothing here is
 * exported: it is linked, hidden, into each plugin.
 */
#include <autoawait/runner-sdk.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------- the entry, the table */

/* The host's table, once the entry has run: one plugin, one library. */
static const aa_runner_host *host_table;

/* 1 when the table given covers field (an offset and size). */
#define HAS(field)                                                             \
    (host_table != NULL &&                                                     \
     host_table->struct_size >=                                                \
         offsetof(aa_runner_host, field) + sizeof(host_table->field) &&        \
     host_table->field)

const aa_runner_host *aa_sdk_host(void)
{
    return host_table;
}

void aa_sdk_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!HAS(set_error))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host_table->set_error("%s", msg);
}

void aa_sdk_error_from_exception(void)
{
    PyObject *t, *v, *tb, *text = NULL;
    const char *name = "exception", *utf8 = NULL;

    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return;
    PyErr_NormalizeException(&t, &v, &tb);
    if (PyType_Check(t)) {
        /* tp_name is "module.Name" for C types: the class name, as the
         * library says it for an exception open leaves set. */
        name = strrchr(((PyTypeObject *)t)->tp_name, '.');
        name = name != NULL ? name + 1 : ((PyTypeObject *)t)->tp_name;
    }
    if (v != NULL && (text = PyObject_Str(v)) != NULL)
        utf8 = PyUnicode_AsUTF8(text);
    PyErr_Clear();
    if (utf8 != NULL && *utf8 != '\0')
        aa_sdk_error("%s: %s", name, utf8);
    else
        aa_sdk_error("%s", name);
    Py_XDECREF(text);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

int aa_sdk_write(int stream, const char *text, size_t len)
{
    return HAS(write) ? host_table->write(stream, text, len) : AA_ENOTFOUND;
}

unsigned long aa_sdk_python_hexversion(void)
{
    return HAS(python_hexversion) ? host_table->python_hexversion : 0;
}

/* --------------------------------------------------------------- names */

static PyObject **name_slot(void *n, const aa_sdk_name *name)
{
    return (PyObject **)((char *)n + name->offset);
}

int aa_sdk_names_init(void *n, const aa_sdk_name *list)
{
    for (; list->text != NULL; list++)
        if ((*name_slot(n, list) = PyUnicode_InternFromString(list->text)) ==
            NULL)
            return -1;
    return 0;
}

void aa_sdk_names_clear(void *n, const aa_sdk_name *list)
{
    for (; list->text != NULL; list++)
        Py_CLEAR(*name_slot(n, list));
}

/* ------------------------------------------------------------- Python */

int aa_sdk_state_open(void **state, size_t size, int (*init)(void *st),
                      void (*free_state)(void *st))
{
    void *st = PyMem_Calloc(1, size);

    if (st == NULL) {
        aa_sdk_error("out of memory for the runner's state");
        return -1;
    }
    if (init(st) < 0) {
        free_state(st);
        aa_sdk_error_from_exception();
        return -1;
    }
    *state = st;
    return 0;
}

/* ------------------------------------------------------------- the cell */

void aa_sdk_cell_begin(aa_sdk_cell *c)
{
    c->running = 1;
    c->interrupted = 0;
}

void aa_sdk_cell_end(aa_sdk_cell *c)
{
    c->running = 0;
    c->interrupted = 0;
}

int aa_sdk_cell_interrupt(aa_sdk_cell *c, PyObject *schedule, PyObject *cancel,
                          PyObject *finished)
{
    PyObject *r, *t, *v, *tb;
    int rc;

    if (!c->running)
        return 1;
    c->interrupted = 1;
    if (schedule == NULL)
        return 0;
    r = PyObject_CallOneArg(schedule, cancel);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    PyErr_Fetch(&t, &v, &tb);
    rc = finished == NULL || !PyErr_GivenExceptionMatches(t, finished);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return rc;
}

/*
 * The traceback of the cancellation raised inside the cell, which carries
 * the user's frames: that of the exception itself, unless a cancellation is
 * chained as its context (a Task that raises a fresh CancelledError chains
 * the cell's); any other context is what the cell was handling when it was
 * cancelled, not where it was.
 */
static PyObject *cell_traceback(PyObject *exc, PyObject *cancelled)
{
    PyObject *inner = PyException_GetContext(exc), *inner_tb = NULL;

    if (inner != NULL && PyErr_GivenExceptionMatches(inner, cancelled))
        inner_tb = PyException_GetTraceback(inner);
    Py_XDECREF(inner);
    return inner_tb != NULL ? inner_tb : PyException_GetTraceback(exc);
}

void aa_sdk_cell_outcome(const aa_sdk_cell *c, PyObject *cancelled)
{
    PyObject *t, *v, *tb, *cell_tb, *kbi;

    if (!c->interrupted || cancelled == NULL ||
        !PyErr_ExceptionMatches(cancelled))
        return;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v == NULL ||
        (kbi = PyObject_CallNoArgs(PyExc_KeyboardInterrupt)) == NULL) {
        PyErr_Restore(t, v, tb);
        return;
    }
    if (tb != NULL)
        PyException_SetTraceback(v, tb);
    cell_tb = cell_traceback(v, cancelled);
    if (cell_tb != NULL)
        PyException_SetTraceback(kbi, cell_tb);
    ((PyBaseExceptionObject *)kbi)->suppress_context = 1;
    PyErr_Restore(Py_NewRef(PyExc_KeyboardInterrupt), kbi, cell_tb);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

PyObject *aa_sdk_run_refused(const char *name, PyObject *coro)
{
    PyErr_Format(PyExc_RuntimeError,
                 "the %s runner is already running a cell of this session",
                 name);
    aa_sdk_close_coro(coro);
    return NULL;
}

void aa_sdk_close_coro(PyObject *coro)
{
    PyObject *t, *v, *tb, *r;

    PyErr_Fetch(&t, &v, &tb);
    r = PyObject_CallMethod(coro, "close", NULL);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    PyErr_Restore(t, v, tb);
}

PyObject *aa_sdk_take_exception(void)
{
    PyObject *t, *v, *tb;

    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v != NULL && tb != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

void aa_sdk_raise_exception(PyObject *exc)
{
    PyErr_Restore(Py_NewRef(Py_TYPE(exc)), Py_NewRef(exc),
                  PyException_GetTraceback(exc));
}

PyObject *aa_sdk_context_call_kw(PyObject *context, PyObject *callable,
                                 PyObject *args, PyObject *kwargs)
{
    PyObject *r;

    if (context == NULL || context == Py_None)
        return PyObject_Call(callable, args, kwargs);
    if (PyContext_Enter(context) < 0)
        return NULL;
    r = PyObject_Call(callable, args, kwargs);
    if (PyContext_Exit(context) < 0)
        Py_CLEAR(r);
    return r;
}

PyObject *aa_sdk_context_call(PyObject *context, PyObject *callable,
                              PyObject *args)
{
    return aa_sdk_context_call_kw(context, callable, args, NULL);
}

/* ------------------------------------------------------------- imports */

PyObject *aa_sdk_own_call(PyObject *(*fn)(void *arg), void *arg)
{
    return HAS(own_imports) ? host_table->own_imports(fn, arg) : fn(arg);
}

static PyObject *import_here(void *name)
{
    return PyImport_ImportModule(name);
}

PyObject *aa_sdk_import(const char *name)
{
    return aa_sdk_own_call(import_here, (void *)name);
}

typedef struct wrapper {
    const char *source, *file;
} wrapper;

static PyObject *run_wrapper_here(void *arg)
{
    const wrapper *w = arg;
    PyObject *code, *globals, *r = NULL;

    code = Py_CompileString(w->source, w->file, Py_file_input);
    if (code == NULL)
        return NULL;
    globals = PyDict_New();
    if (globals != NULL && PyDict_SetItemString(globals, "__builtins__",
                                                PyEval_GetBuiltins()) == 0)
        r = PyEval_EvalCode(code, globals, globals);
    Py_DECREF(code);
    if (r == NULL) {
        Py_XDECREF(globals);
        return NULL;
    }
    Py_DECREF(r);
    return globals;
}

PyObject *aa_sdk_run_wrapper(const char *source, const char *file)
{
    wrapper w = {source, file};

    return aa_sdk_own_call(run_wrapper_here, &w);
}

/* ------------------------------------------------- a call on a thread */

/* One call handed to a thread of its own, and what came of it. */
typedef struct thread_call {
    PyObject *(*fn)(void *arg);
    void *arg;
    PyObject *result;
    PyObject *type, *value, *tb;
} thread_call;

/* The body of the thread; it takes the GIL itself. */
static void *thread_main(void *arg)
{
    thread_call *c = arg;
    PyGILState_STATE g = PyGILState_Ensure();

    c->result = c->fn(c->arg);
    if (c->result == NULL)
        PyErr_Fetch(&c->type, &c->value, &c->tb);
    PyGILState_Release(g);
    return NULL;
}

PyObject *aa_sdk_call_on_thread(PyObject *(*fn)(void *arg), void *arg,
                                const char *what)
{
    thread_call c = {fn, arg, NULL, NULL, NULL, NULL};
    PyThreadState *saved;
    pthread_t thread;
    int rc;

    rc = pthread_create(&thread, NULL, thread_main, &c);
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "cannot start a thread for %s: %s",
                     what, strerror(rc));
        return NULL;
    }
    saved = PyEval_SaveThread();
    pthread_join(thread, NULL);
    PyEval_RestoreThread(saved);
    if (c.result == NULL)
        PyErr_Restore(c.type, c.value, c.tb);
    return c.result;
}

/* -------------------------------------------------- fds, time, waits */

int aa_sdk_fd_watch(int fd)
{
    int watch = fcntl(fd, F_DUPFD_CLOEXEC, 3);

    if (watch < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    return watch;
}

double aa_sdk_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int aa_sdk_timeout_ms(double deadline, double now)
{
    double ms;

    if (!isfinite(deadline))
        return -1;
    if (deadline <= now)
        return 0;
    ms = ceil((deadline - now) * 1e3);
    return ms >= (double)INT_MAX ? INT_MAX : (int)ms;
}

int aa_sdk_wait(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    PyThreadState *saved;
    int n, err;

    saved = PyEval_SaveThread();
    do
        n = poll(&p, fd >= 0 ? 1 : 0, timeout_ms < 0 ? -1 : timeout_ms);
    while (n < 0 && errno == EINTR);
    err = errno;
    PyEval_RestoreThread(saved);
    if (n < 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return n > 0 ? AA_POLL_READY : AA_POLL_TIMEOUT;
}

int aa_sdk_entry(const aa_runner_host *host, const aa_runner **out,
                 const aa_runner *runner)
{
    if (host == NULL || out == NULL || runner == NULL)
        return -1;
    /* A table of another version has another layout: nothing of it is
     * read, not even set_error; the library says which versions differ. */
    if (host->abi_version != AA_RUNNER_ABI_VERSION)
        return -1;
    host_table = host;
    *out = runner;
    return 0;
}
