/*
 * interrupt.c -- aa_interrupt, and getting it to the running cell.
 *
 * aa_interrupt must be safe in a signal handler, so it only sets a flag and
 * writes a byte to the session's pipe.  Each session has a watcher thread
 * that reads the pipe, takes the GIL, and asks the running cell to stop:
 * an async cell through its runner's interrupt (asyncio cancels the cell's
 * task, so its cleanup runs), a sync cell with an asynchronous
 * KeyboardInterrupt in its thread.  PyErr_SetInterrupt is of no use here:
 * from another thread it does not wake a busy main thread, and it does
 * nothing without Python's own signal handlers, which a host that owns its
 * signals does not have.  The session marks its cells with
 * aa__interrupt_cell_begin/end; everything else is left to exec.c.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define BYTE_INTERRUPT 'i'
#define BYTE_QUIT 'q'

/* Called with the GIL held, on the watcher thread. */
static void deliver(aa_session *s)
{
    aa__opened *o;

    if (!atomic_exchange(&s->intr_pending, 0))
        return;
    /* A nested session's cell running inside this one is what the user
     * waits for: stop the innermost. */
    while (s->inner != NULL)
        s = s->inner;
    o = s->runner;
    /* The first interrupt of an async cell goes through the runner; a
     * second one, or one the runner cannot take, forces the cell: a
     * coroutine stuck in a busy loop never lets a cancellation run. */
    if (s->cell_kind == AA__CELL_ASYNC && !s->intr_delivered && o != NULL &&
        o->entry->vt.interrupt != NULL) {
        int rc = o->entry->vt.interrupt(o->state);
        if (PyErr_Occurred())
            PyErr_Clear();
        s->intr_delivered = 1;
        if (rc == 0)
            return;
    }
    if (s->cell_kind != AA__CELL_NONE) {
        PyThreadState_SetAsyncExc(s->cell_thread, PyExc_KeyboardInterrupt);
        s->async_exc_set = 1;
        /* The exception fires only when the cell's thread runs bytecode: a
         * loop asleep in its selector must be woken for it, and asking the
         * runner again does that (asyncio writes to its self-pipe). */
        if (s->cell_kind == AA__CELL_ASYNC && o != NULL &&
            o->entry->vt.interrupt != NULL) {
            o->entry->vt.interrupt(o->state);
            if (PyErr_Occurred())
                PyErr_Clear();
        }
    }
}

static void *watch(void *arg)
{
    aa_session *s = arg;
    char c;

    for (;;) {
        ssize_t n = read(s->intr_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == BYTE_QUIT)
            break;
        {
            PyGILState_STATE g = PyGILState_Ensure();
            deliver(s);
            PyGILState_Release(g);
        }
    }
    return NULL;
}

int aa__interrupt_start(aa_session *s)
{
    if (pipe(s->intr_pipe) != 0)
        return -1;
    fcntl(s->intr_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(s->intr_pipe[1], F_SETFD, FD_CLOEXEC);
    /* A signal handler must never block on a full pipe. */
    fcntl(s->intr_pipe[1], F_SETFL, O_NONBLOCK);
    if (pthread_create(&s->watcher, NULL, watch, s) != 0)
        return -1;
    s->watcher_started = 1;
    return 0;
}

/* Stops the watcher.  Called with the GIL held: it is given up while the
 * watcher finishes, since the watcher may be waiting for it. */
void aa__interrupt_stop(aa_session *s)
{
    char c = BYTE_QUIT;

    if (s->watcher_started) {
        /* The pipe may be full of interrupts; wait until the byte fits. */
        int fl = fcntl(s->intr_pipe[1], F_GETFL);
        fcntl(s->intr_pipe[1], F_SETFL, fl & ~O_NONBLOCK);
        Py_BEGIN_ALLOW_THREADS
            while (write(s->intr_pipe[1], &c, 1) < 0 && errno == EINTR)
                ;
            pthread_join(s->watcher, NULL);
        Py_END_ALLOW_THREADS
        s->watcher_started = 0;
    }
    if (s->intr_pipe[0] >= 0)
        close(s->intr_pipe[0]);
    if (s->intr_pipe[1] >= 0)
        close(s->intr_pipe[1]);
    s->intr_pipe[0] = s->intr_pipe[1] = -1;
}

void aa_interrupt(aa_session *s)
{
    int saved = errno;
    char c = BYTE_INTERRUPT;

    if (s == NULL || s->intr_pipe[1] < 0)
        return;
    atomic_store(&s->intr_pending, 1);
    /* A full pipe already holds an interrupt: dropping this one is fine. */
    if (write(s->intr_pipe[1], &c, 1) < 0) {
        /* nothing else to do in a signal handler */
    }
    errno = saved;
}

/* Marks the start of a cell; the GIL is held. */
void aa__interrupt_cell_begin(aa_session *s, int kind)
{
    s->cell_kind = kind;
    s->intr_delivered = 0;
    s->cell_thread = PyThread_get_thread_ident();
}

/* Marks its end: an asynchronous KeyboardInterrupt that has not fired yet
 * would fire in whatever Python code the thread runs next; withdraw it. */
void aa__interrupt_cell_end(aa_session *s)
{
    s->cell_kind = AA__CELL_NONE;
    if (s->async_exc_set) {
        PyThreadState_SetAsyncExc(s->cell_thread, NULL);
        s->async_exc_set = 0;
    }
}
