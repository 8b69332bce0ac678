/*
 * interrupt.c -- aa_interrupt, and getting it to the cell it was meant for.
 *
 * aa_interrupt must be safe in a signal handler, so it only notes which
 * cell it is meant for (the number of the cell running, an atomic) and
 * sends a byte on the session's socket pair.  Each session has a watcher
 * thread that reads the socket, takes the GIL and, when that very cell
 * still runs, asks it to stop: an async cell through its runner's
 * interrupt (asyncio cancels the cell's task, so its cleanup runs), a sync
 * cell with an asynchronous KeyboardInterrupt in its thread.  An interrupt
 * sent while no cell runs is dropped, never kept for the next cell.
 * PyErr_SetInterrupt is of no use here: from another thread it does not
 * wake a busy main thread, and it does nothing without Python's own signal
 * handlers, which a host that owns its signals does not have.
 *
 * The channel is a socket pair, not a pipe: send() with MSG_NOSIGNAL never
 * raises SIGPIPE in the host, and shutting the socket down ends the
 * watcher whatever the buffer holds and whoever else (a child of fork)
 * still has the descriptors.  Its descriptors are close-on-exec and never
 * 0, 1 or 2, which a host that started with them closed would take for its
 * standard streams.  In a child of fork the watcher is not there and the
 * socket is the parent's too: the child sends nothing and shuts nothing.
 * The session marks its cells with aa__interrupt_cell_begin/end; the rest
 * is left to exec.c and session.c.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

/* A signal handler may only touch atomics that need no lock. */
#if ATOMIC_INT_LOCK_FREE != 2 || ATOMIC_LONG_LOCK_FREE != 2
#error "aa_interrupt needs lock-free atomic int and long"
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

/* Moves fd above the standard streams (close-on-exec) when it is one of
 * them; returns the descriptor to use, or -1. */
int aa__fd_above_stdio(int fd)
{
    int high;

    if (fd < 0 || fd > 2)
        return fd;
    high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return high;
}

/* Asks the runner o to stop its cell; 0 when it will. */
static int ask_runner(aa__opened *o)
{
    int rc = o->entry->vt.interrupt(o->state);

    if (PyErr_Occurred())
        PyErr_Clear();
    return rc;
}

/* Called with the GIL held, on the watcher thread. */
static void deliver(aa_session *s)
{
    unsigned long target = atomic_exchange(&s->intr_target, 0);
    aa__opened *o;
    int ask;

    /* Meant for a cell that has ended since: dropped. */
    if (target == 0 || target != atomic_load(&s->cell_running))
        return;
    /* A nested session's cell running inside this one is what the user
     * waits for: stop the innermost. */
    while (s->inner != NULL && s->inner->cell_kind != AA__CELL_NONE)
        s = s->inner;
    o = s->runner;
    ask = s->cell_kind == AA__CELL_ASYNC && o != NULL &&
          o->entry->vt.interrupt != NULL && !s->intr_refused;
    /* The first interrupt of an async cell goes through the runner; a
     * second one, or one the runner cannot take, forces the cell: a
     * coroutine stuck in a busy loop never lets a cancellation run. */
    if (ask && !s->intr_asked) {
        s->intr_asked = 1;
        if (ask_runner(o) == 0)
            return;
        s->intr_refused = 1;
        ask = 0;
    }
    PyThreadState_SetAsyncExc(s->cell_thread, PyExc_KeyboardInterrupt);
    s->async_exc_set = 1;
    /* The exception fires only when the cell's thread runs bytecode: a
     * loop asleep in its selector (a cell that swallowed the cancellation
     * and awaits again) must be woken for it, and asking the runner again
     * does that (asyncio writes to its self-pipe).  runner.h says so. */
    if (ask)
        ask_runner(o);
}

static void *watch(void *arg)
{
    aa_session *s = arg;
    char buf[64];

    for (;;) {
        ssize_t n = recv(s->intr_fd[0], buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shut down: the session ends */
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
    int fd[2], i;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) != 0)
        return -1;
    for (i = 0; i < 2; i++)
        s->intr_fd[i] = aa__fd_above_stdio(fd[i]);
    if (s->intr_fd[0] < 0 || s->intr_fd[1] < 0)
        return -1;
#ifdef SO_NOSIGPIPE
    {
        int one = 1;
        setsockopt(s->intr_fd[1], SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    if (pthread_create(&s->watcher, NULL, watch, s) != 0)
        return -1;
    s->watcher_started = 1;
    return 0;
}

/*
 * Stops the watcher and closes the channel.  In the process that made the
 * session it is called with the GIL held (given up while the watcher
 * finishes, since the watcher may be waiting for it); in a child of fork
 * the GIL is not needed: only the child's copies of the descriptors are
 * closed.
 */
void aa__interrupt_stop(aa_session *s)
{
    int own = s->pid == getpid();

    atomic_store(&s->intr_closing, 1);
    /* An aa_interrupt past its check is about to send: let it finish, then
     * nothing uses the descriptors again.  It never blocks.  A child has no
     * such call in flight: what the count says is the parent's. */
    while (own && atomic_load(&s->intr_senders) != 0)
        sched_yield();
    if (s->watcher_started && own) {
        shutdown(s->intr_fd[1], SHUT_WR);
        Py_BEGIN_ALLOW_THREADS
            pthread_join(s->watcher, NULL);
        Py_END_ALLOW_THREADS
    }
    s->watcher_started = 0;
    if (s->intr_fd[0] >= 0)
        close(s->intr_fd[0]);
    if (s->intr_fd[1] >= 0)
        close(s->intr_fd[1]);
    s->intr_fd[0] = s->intr_fd[1] = -1;
}

void aa_interrupt(aa_session *s)
{
    int saved = errno;
    unsigned long cell;
    char c = 'i';

    if (s == NULL)
        return;
    atomic_fetch_add(&s->intr_senders, 1);
    cell = atomic_load(&s->cell_running);
    /* With no cell running there is nothing to stop.  A child of fork
     * would wake the parent's watcher, for the parent's cell. */
    if (cell != 0 && !atomic_load(&s->intr_closing) && s->pid == getpid()) {
        atomic_store(&s->intr_target, cell);
        /* A full socket holds an interrupt already: dropping this is fine. */
        if (send(s->intr_fd[1], &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            /* nothing else to do in a signal handler */
        }
    }
    atomic_fetch_sub(&s->intr_senders, 1);
    errno = saved;
}

/* Marks the start of a cell's code; the GIL is held. */
void aa__interrupt_cell_begin(aa_session *s, int kind)
{
    s->cell_kind = kind;
    s->intr_asked = s->intr_refused = 0;
    s->cell_thread = PyThread_get_thread_ident();
    if (++s->cell_seq == 0)
        ++s->cell_seq; /* 0 means no cell */
    atomic_store(&s->cell_running, s->cell_seq);
}

/* Marks its end: an asynchronous KeyboardInterrupt that has not fired yet
 * would fire in whatever Python code the thread runs next; withdraw it. */
void aa__interrupt_cell_end(aa_session *s)
{
    atomic_store(&s->cell_running, 0);
    s->cell_kind = AA__CELL_NONE;
    if (s->async_exc_set) {
        PyThreadState_SetAsyncExc(s->cell_thread, NULL);
        s->async_exc_set = 0;
    }
}
