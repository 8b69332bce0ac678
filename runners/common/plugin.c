/*
 * plugin.c -- the helpers every runner plugin of this tree is built with
 * (see plugin.h).  Nothing here knows one async library from another, and
 * nothing here is exported.
 */
#include "plugin.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>

/* --------------------------------------------------------------- names */

static PyObject **name_slot(void *n, const aa_name *name)
{
    return (PyObject **)((char *)n + name->offset);
}

int aa__names_init(void *n, const aa_name *list)
{
    for (; list->text != NULL; list++)
        if ((*name_slot(n, list) = PyUnicode_InternFromString(list->text)) ==
            NULL)
            return -1;
    return 0;
}

void aa__names_clear(void *n, const aa_name *list)
{
    for (; list->text != NULL; list++)
        Py_CLEAR(*name_slot(n, list));
}

/* ------------------------------------------------------------- Python */

int aa__state_open(void **state, size_t size, int (*init)(void *st),
                   void (*free_state)(void *st))
{
    void *st = PyMem_Calloc(1, size);

    if (st == NULL)
        return -1;
    if (init(st) < 0) {
        free_state(st);
        PyErr_Clear();
        return -1;
    }
    *state = st;
    return 0;
}

PyObject *aa__run_refused(const char *name, PyObject *coro, PyObject *close)
{
    PyErr_Format(PyExc_RuntimeError,
                 "the %s runner is already running a cell of this session",
                 name);
    aa__close_coro(coro, close);
    return NULL;
}

void aa__close_coro(PyObject *coro, PyObject *close)
{
    PyObject *t, *v, *tb, *r;

    PyErr_Fetch(&t, &v, &tb);
    r = PyObject_CallMethodNoArgs(coro, close);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    PyErr_Restore(t, v, tb);
}

/* The host's own_imports, when its table has one. */
static PyObject *(*own_imports)(PyObject *(*fn)(void *arg), void *arg);

static PyObject *own_call(PyObject *(*fn)(void *arg), void *arg)
{
    return own_imports != NULL ? own_imports(fn, arg) : fn(arg);
}

static PyObject *import_here(void *name)
{
    return PyImport_Import(name);
}

PyObject *aa__own_import(PyObject *name)
{
    return own_call(import_here, name);
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

PyObject *aa__run_wrapper(const char *source, const char *file)
{
    wrapper w = {source, file};

    return own_call(run_wrapper_here, &w);
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

PyObject *aa__call_on_thread(PyObject *(*fn)(void *arg), void *arg,
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

/* ----------------------------------------------------------- the rest */

int aa__fd_watch(int fd)
{
    int watch = fcntl(fd, F_DUPFD_CLOEXEC, 3);

    if (watch < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    return watch;
}

int aa__plugin_entry(const aa_runner_host *host, const aa_runner **out,
                     const aa_runner *runner)
{
    if (host == NULL || out == NULL ||
        host->abi_version != AA_RUNNER_ABI_VERSION)
        return -1;
    if (host->struct_size >=
        offsetof(aa_runner_host, own_imports) + sizeof(host->own_imports))
        own_imports = host->own_imports;
    *out = runner;
    return 0;
}
