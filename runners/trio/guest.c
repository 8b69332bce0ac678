/*
 * guest.c -- the queue between trio's guest run and its host (guest.h).
 * When and on which thread the queue is run, and what a run's outcome
 * means, are the runner's (trio.c).
 */
#include "guest.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static trio_guest *guest_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, NULL);
}

/*
 * run_sync_soon_not_threadsafe(fn): from the host's thread, in a step or
 * in start.  The queue alone says there is work: the library asks the
 * runner's timeout after every call, and that answers 0.
 */
static PyObject *soon(PyObject *capsule, PyObject *fn)
{
    trio_guest *q = guest_of(capsule);

    if (q == NULL)
        return NULL;
    if (!q->orphaned && PyList_Append(q->calls, fn) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/*
 * run_sync_soon_threadsafe(fn): from trio's I/O thread (with the GIL, as
 * any Python call), while the host's loop may be waiting on the eventfd.
 */
static PyObject *soon_threadsafe(PyObject *capsule, PyObject *fn)
{
    trio_guest *q = guest_of(capsule);
    uint64_t one = 1;

    if (q == NULL || soon(capsule, fn) == NULL)
        return NULL;
    /* EAGAIN is a counter at its maximum: readable already. */
    if (!q->orphaned && write(q->fd, &one, sizeof one) < 0 && errno != EAGAIN)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* done_callback(outcome): in a step, on the host's thread. */
static PyObject *done(PyObject *capsule, PyObject *outcome)
{
    trio_guest *q = guest_of(capsule);

    if (q == NULL)
        return NULL;
    if (!q->orphaned)
        Py_XSETREF(q->outcome, Py_NewRef(outcome));
    Py_RETURN_NONE;
}

static PyMethodDef guest_defs[GUEST_CALLABLES] = {
    [GUEST_SOON_THREADSAFE] = {"run_sync_soon_threadsafe", soon_threadsafe,
                               METH_O, NULL},
    [GUEST_SOON] = {"run_sync_soon_not_threadsafe", soon, METH_O, NULL},
    [GUEST_DONE] = {"done_callback", done, METH_O, NULL},
};

/* The capsule's destructor: the last callable bound to the guest is gone. */
static void guest_free(PyObject *capsule)
{
    trio_guest *q = guest_of(capsule);

    if (q == NULL) {
        PyErr_Clear();
        return;
    }
    Py_XDECREF(q->calls);
    Py_XDECREF(q->outcome);
    Py_XDECREF(q->run_context);
    Py_XDECREF(q->dict_name);
    Py_XDECREF(q->locals);
    if (q->fd >= 0)
        close(q->fd);
    PyMem_Free(q);
}

/* An eventfd >= 3, close-on-exec and non-blocking, or -1 with an OSError. */
static int make_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), high;

    if (fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (fd >= 3)
        return fd;
    /* The duplicate shares the non-blocking flag, a flag of the file. */
    high = aa_sdk_fd_watch(fd);
    close(fd);
    return high;
}

trio_guest *aa__guest_new(PyObject *fns[GUEST_CALLABLES])
{
    trio_guest *q = PyMem_Calloc(1, sizeof *q);
    PyObject *capsule = NULL;
    int i;

    for (i = 0; i < GUEST_CALLABLES; i++)
        fns[i] = NULL;
    if (q == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    q->fd = make_eventfd();
    if (q->fd < 0 || (q->calls = PyList_New(0)) == NULL ||
        (q->dict_name = PyUnicode_InternFromString("__dict__")) == NULL ||
        (capsule = PyCapsule_New(q, NULL, guest_free)) == NULL) {
        Py_XDECREF(q->calls);
        Py_XDECREF(q->dict_name);
        if (q->fd >= 0)
            close(q->fd);
        PyMem_Free(q);
        return NULL;
    }
    for (i = 0; i < GUEST_CALLABLES; i++)
        if ((fns[i] = PyCFunction_New(&guest_defs[i], capsule)) == NULL)
            break;
    Py_DECREF(capsule);
    if (i == GUEST_CALLABLES)
        return q;
    while (i-- > 0)
        Py_CLEAR(fns[i]);
    return NULL;
}

PyObject *aa__guest_take(trio_guest *q)
{
    PyObject *batch, *empty = PyList_New(0);
    uint64_t count;

    if (empty == NULL)
        return NULL;
    /* Nothing to read (EAGAIN) is fine: the queue is what counts. */
    if (read(q->fd, &count, sizeof count) < 0 && errno != EAGAIN) {
        Py_DECREF(empty);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    batch = q->calls;
    q->calls = empty;
    return batch;
}

void aa__guest_requeue(trio_guest *q, PyObject *batch, Py_ssize_t from)
{
    PyObject *rest, *t, *v, *tb;

    PyErr_Fetch(&t, &v, &tb);
    rest = PyList_GetSlice(batch, from, PyList_GET_SIZE(batch));
    if (rest == NULL || PyList_SetSlice(q->calls, 0, 0, rest) < 0)
        PyErr_Clear();
    Py_XDECREF(rest);
    PyErr_Restore(t, v, tb);
}

int aa__guest_run(trio_guest *q, PyObject *batch)
{
    Py_ssize_t i, n = PyList_GET_SIZE(batch);
    PyObject *r;

    for (i = 0; i < n; i++) {
        r = PyObject_CallNoArgs(PyList_GET_ITEM(batch, i));
        if (r == NULL) {
            aa__guest_requeue(q, batch, i + 1);
            return -1;
        }
        Py_DECREF(r);
    }
    return 0;
}

void aa__guest_wait(trio_guest *q, int ms)
{
    struct pollfd p = {q->fd, POLLIN, 0};

    if (PyList_GET_SIZE(q->calls) > 0)
        return;
    Py_BEGIN_ALLOW_THREADS(void)
        poll(&p, 1, ms);
    Py_END_ALLOW_THREADS
}

void aa__guest_orphan(trio_guest *q)
{
    q->orphaned = 1;
    Py_CLEAR(q->outcome);
    Py_CLEAR(q->locals);
    if (PyList_SetSlice(q->calls, 0, PyList_GET_SIZE(q->calls), NULL) < 0)
        PyErr_Clear();
}

/* ------------------------------------------- the run between steps */

/* This thread's values of the run context: a new reference to its
 * __dict__, or NULL with an exception set. */
static PyObject *run_context_here(trio_guest *q)
{
    return PyObject_GetAttr(q->run_context, q->dict_name);
}

void aa__guest_stash(trio_guest *q)
{
    PyObject *t, *v, *tb, *here;

    PyErr_Fetch(&t, &v, &tb);
    Py_CLEAR(q->locals);
    here = run_context_here(q);
    if (here != NULL && PyDict_GET_SIZE(here) > 0 &&
        (q->locals = PyDict_Copy(here)) != NULL)
        PyDict_Clear(here);
    Py_XDECREF(here);
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

int aa__guest_unstash(trio_guest *q)
{
    PyObject *here = run_context_here(q);
    int rc = here != NULL ? PyDict_Update(here, q->locals) : -1;

    Py_XDECREF(here);
    return rc;
}

int aa__guest_taken(trio_guest *q)
{
    PyObject *here = run_context_here(q);
    int rc = here != NULL ? PyDict_GET_SIZE(here) > 0 : -1;

    Py_XDECREF(here);
    return rc;
}
