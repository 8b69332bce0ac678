/*
 * interp.c -- the interpreter's life and the GIL around every public call.
 *
 * Starts CPython when the host has not (without Python's signal handlers:
 * the host owns its signals), remembers whether the library owns it, hands
 * out session ids, and finalizes only an interpreter it started, and only
 * through aa_shutdown.  Sessions, cells and runners are left to others.
 */
#include "internal.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

static pthread_mutex_t interp_lock = PTHREAD_MUTEX_INITIALIZER;
static int interp_owned;     /* the library called Py_Initialize */
static int interp_finalized; /* it was finalized: no restart */
static int atexit_set;       /* forget_python is registered */
static unsigned live_ids[4096 / (8 * sizeof(unsigned))];
static unsigned live_sessions;

/*
 * Extension modules of Debian's Python (_asyncio, _ctypes, ...) are not
 * linked against libpython: they expect its symbols to be global.  A host
 * that dlopen()ed this library with RTLD_LOCAL would break them, so make
 * libpython global; a no-op when it already is.
 */
static void promote_libpython(void)
{
#ifdef AA_PYTHON_SONAME
    void *h = dlopen(AA_PYTHON_SONAME, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (h != NULL)
        dlclose(h);
#endif
}

/*
 * CPython's signal module, when first imported (by asyncio, say), installs
 * its KeyboardInterrupt handler for SIGINT wherever the disposition is
 * SIG_DFL, install_signal_handlers or not; asyncio.run and trio.run then
 * install their own on top.  The host owns its signals: import the module
 * now, and give SIGINT back the disposition the host had, through the
 * module so that Python's own view agrees (signal.getsignal answers
 * SIG_DFL, and no library later takes the handler for Python's).
 */
static void keep_host_sigint(void)
{
    struct sigaction before, after;
    PyObject *mod, *dfl, *r = NULL;

    sigaction(SIGINT, NULL, &before);
    if ((mod = aa__import("_signal")) == NULL) {
        PyErr_Clear();
        return;
    }
    sigaction(SIGINT, NULL, &after);
    if (after.sa_handler != before.sa_handler &&
        (dfl = PyObject_GetAttrString(mod, "SIG_DFL")) != NULL) {
        r = before.sa_handler == SIG_DFL
                ? PyObject_CallMethod(mod, "signal", "iO", SIGINT, dfl)
                : NULL;
        Py_DECREF(dfl);
    }
    Py_XDECREF(r);
    PyErr_Clear();
    Py_DECREF(mod);
    sigaction(SIGINT, NULL, &after);
    if (after.sa_handler != before.sa_handler)
        sigaction(SIGINT, &before, NULL);
}

static int start_python(void)
{
    PyConfig config;
    PyStatus st;

    promote_libpython();
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    /* The host's stdin, stdout and stderr are the host's: PYTHONUNBUFFERED
     * (or -u's setting) must not turn its C streams unbuffered, which made
     * a host reading stdin with getline read it a byte at a time. */
    config.configure_c_stdio = 0;
#ifdef AA_PYTHON_EXECUTABLE
    /* Without it, CPython finds "python3" on PATH and may take another
     * installation's executable (a pyenv shim, say) for its own. */
    if (access(AA_PYTHON_EXECUTABLE, X_OK) == 0) {
        st = PyConfig_SetBytesString(&config, &config.program_name,
                                     AA_PYTHON_EXECUTABLE);
        if (PyStatus_Exception(st))
            goto fail;
    }
#endif
    st = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(st))
        goto fail;
    PyConfig_Clear(&config);
    aa__imports_init(); /* sys.path is the interpreter's own, untouched */
    keep_host_sigint();
    interp_owned = 1;
    /* Give the GIL back: every call takes it through PyGILState_Ensure. */
    PyEval_SaveThread();
    return AA_OK;
fail:
    PyConfig_Clear(&config);
    return AA_EPYTHON;
}

/*
 * Called by Py_FinalizeEx, whoever calls it.  The library keeps Python
 * objects of the interpreter (interned names, types, the module) for the
 * life of the process, so an interpreter started again later is refused
 * rather than half served.
 */
static void forget_python(void)
{
    interp_finalized = 1;
}

int aa__interp_enter(PyGILState_STATE *gil)
{
    int rc = AA_OK;

    pthread_mutex_lock(&interp_lock);
    if (interp_finalized)
        rc = AA_EPYTHON;
    else if (!Py_IsInitialized())
        rc = start_python();
    pthread_mutex_unlock(&interp_lock);
    if (rc == AA_OK) {
        *gil = PyGILState_Ensure();
        /* A host's interpreter: before the library's first own import. */
        aa__imports_init();
        if (!atexit_set)
            atexit_set = Py_AtExit(forget_python) == 0;
    }
    return rc;
}

void aa__interp_leave(PyGILState_STATE gil)
{
    PyGILState_Release(gil);
}

/* Returns the smallest free session id (from 1), or 0 when all are used. */
unsigned aa__interp_session_added(void)
{
    unsigned bits = 8 * sizeof(unsigned), id = 0;
    size_t i;

    pthread_mutex_lock(&interp_lock);
    for (i = 1; i < 8 * sizeof live_ids; i++) {
        if (!(live_ids[i / bits] & (1u << (i % bits)))) {
            live_ids[i / bits] |= 1u << (i % bits);
            id = (unsigned)i;
            live_sessions++;
            break;
        }
    }
    pthread_mutex_unlock(&interp_lock);
    return id;
}

void aa__interp_session_removed(unsigned id)
{
    unsigned bits = 8 * sizeof(unsigned);

    pthread_mutex_lock(&interp_lock);
    if (id != 0 && (live_ids[id / bits] & (1u << (id % bits)))) {
        live_ids[id / bits] &= ~(1u << (id % bits));
        live_sessions--;
    }
    pthread_mutex_unlock(&interp_lock);
}

int aa_shutdown(void)
{
    int rc = AA_OK;

    pthread_mutex_lock(&interp_lock);
    if (live_sessions > 0) {
        rc = AA_EBUSY;
    } else if (interp_owned && Py_IsInitialized()) {
        PyGILState_Ensure();
        Py_FinalizeEx();
        interp_owned = 0;
        interp_finalized = 1;
    }
    pthread_mutex_unlock(&interp_lock);
    return rc;
}
