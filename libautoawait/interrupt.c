/*
 * interrupt.c -- aa_interrupt, and getting it to the cell it was meant for.
 *
 * aa_interrupt must be safe in a signal handler, so it only notes which
 * cell it is meant for (the number of the cell running, an atomic) and
 * sends the session's address as one datagram on the process's interrupt
 * channel.  One watcher thread per process reads the channel, takes the
 * GIL, checks that the address is a live session's (live.c) and, when that
 * very cell still runs, asks it to stop: an async cell through its
 * runner's interrupt (asyncio cancels the cell's task, so its cleanup
 * runs), a sync cell with an asynchronous KeyboardInterrupt in its thread.
 * A started cell (aa_exec_start) runs only while the host dispatches: the
 * KeyboardInterrupt that forces one is raised on the thread of its next
 * step, never in whatever the host's thread runs in between.  An
 * interrupt sent while no cell runs is dropped, never kept for the next
 * cell.  PyErr_SetInterrupt is of no use here: from another thread it does
 * not wake a busy main thread, and it does nothing without Python's own
 * signal handlers, which a host that owns its signals does not have.
 *
 * The channel is a datagram socket pair: each interrupt is one whole
 * message, send() with MSG_NOSIGNAL never raises SIGPIPE in the host, and
 * shutting it down ends the watcher whatever the buffer holds.  It is made
 * with the first session and closed with the last; its descriptors are
 * close-on-exec and never 0, 1 or 2, which a host that started with them
 * closed would take for its standard streams.  In a child of fork the
 * watcher is not there and the channel is the parent's: the child sends
 * nothing on it, and makes a channel of its own for sessions it makes.
 * The session marks its cells and their steps with the aa__interrupt_*
 * calls below; the rest is left to exec.c and session.c.
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

/* The process's channel and its watcher; guarded by chan_lock. */
static pthread_mutex_t chan_lock = PTHREAD_MUTEX_INITIALIZER;
static int chan[2] = {-1,
                      -1};  /* aa_interrupt sends on 1, the watcher reads 0 */
static pid_t chan_pid;      /* the process that made them */
static unsigned chan_users; /* sessions of this process using it */
static pthread_t watcher;

/* Numbers cells across the process, so that an interrupt meant for a cell
 * of a session that is gone never matches a cell of one made at the same
 * address. */
static atomic_ulong cells_begun;

/* Raises KeyboardInterrupt in the cell's thread, now when its code may run
 * there, or at its next step. */
static void force(aa_session *s)
{
    if (!s->stepping) {
        s->force_pending = 1;
        return;
    }
    PyThreadState_SetAsyncExc(s->cell_thread, PyExc_KeyboardInterrupt);
    s->async_exc_set = 1;
}

/* Called with the GIL held, on the watcher thread. */
static void deliver(aa_session *s)
{
    unsigned long target = atomic_exchange(&s->intr_target, 0);
    int ask;

    /* Meant for a cell that has ended since: dropped. */
    if (target == 0 || target != atomic_load(&s->cell_running))
        return;
    /* A nested session's cell running inside this one is what the user
     * waits for: stop the innermost. */
    while (s->inner != NULL && s->inner->cell_kind != AA__CELL_NONE)
        s = s->inner;
    ask =
        s->cell_kind == AA__CELL_ASYNC && s->runner != NULL && !s->intr_refused;
    /* The first interrupt of an async cell goes through the runner; a
     * second one, or one the runner cannot take, forces the cell: a
     * coroutine stuck in a busy loop never lets a cancellation run. */
    if (ask && !s->intr_asked) {
        s->intr_asked = 1;
        if (aa__runner_interrupt(s->runner) == 0)
            return;
        s->intr_refused = 1;
        ask = 0;
    }
    force(s);
    /* The exception fires only when the cell's thread runs bytecode: a
     * loop asleep in its selector (a cell that swallowed the cancellation
     * and awaits again) must be woken for it, and asking the runner again
     * does that (asyncio writes to its self-pipe).  runner.h says so. */
    if (ask)
        aa__runner_interrupt(s->runner);
}

static void *watch(void *arg)
{
    int fd = *(int *)arg;
    aa_session *s;

    for (;;) {
        ssize_t n = recv(fd, &s, sizeof s, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shut down: the last session ended */
        if (n == (ssize_t)sizeof s) {
            PyGILState_STATE g = PyGILState_Ensure();
            /* Sessions are destroyed with the GIL held: one that is
             * listed now stays whole until it is released. */
            if (aa__live_has(s))
                deliver(s);
            PyGILState_Release(g);
        }
    }
    return NULL;
}

static void close_chan(void)
{
    int i;

    for (i = 0; i < 2; i++) {
        if (chan[i] >= 0)
            close(chan[i]);
        chan[i] = -1;
    }
}

/* Makes the channel and starts the watcher; chan_lock is held. */
static int open_chan(void)
{
    static int reader;
    int fd[2], i;

    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fd) != 0)
        return -1;
    for (i = 0; i < 2; i++)
        chan[i] = aa__fd_above_stdio(fd[i]);
    if (chan[0] < 0 || chan[1] < 0) {
        close_chan();
        return -1;
    }
#ifdef SO_NOSIGPIPE
    {
        int one = 1;
        setsockopt(chan[1], SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    reader = chan[0];
    if (pthread_create(&watcher, NULL, watch, &reader) != 0) {
        close_chan();
        return -1;
    }
    chan_pid = getpid();
    return 0;
}

static void chan_take(void)
{
    pthread_mutex_lock(&chan_lock);
}

static void chan_give(void)
{
    pthread_mutex_unlock(&chan_lock);
}

/* A fork() while another thread holds chan_lock would leave it locked in
 * the child for good. */
static void chan_init(void)
{
    pthread_atfork(chan_take, chan_give, chan_give);
}

int aa__interrupt_start(aa_session *s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int rc = 0;

    pthread_once(&once, chan_init);
    pthread_mutex_lock(&chan_lock);
    /* In a child of fork the channel is the parent's, and its watcher is
     * not here: the child's sessions get a channel of their own. */
    if (chan_users > 0 && chan_pid != getpid()) {
        close_chan(); /* the child's copies */
        chan_users = 0;
    }
    if (chan_users == 0)
        rc = open_chan();
    if (rc == 0) {
        chan_users++;
        s->intr_started = 1;
    }
    pthread_mutex_unlock(&chan_lock);
    return rc;
}

/*
 * Ends the session's use of the channel.  In the process that made the
 * session it is called with the GIL held (given up while the watcher
 * finishes, when this was the last session: the watcher may be waiting for
 * it); a session the parent made, in a child of fork, never used the
 * child's channel and touches nothing.
 */
void aa__interrupt_stop(aa_session *s)
{
    int own = s->pid == getpid(), last;

    atomic_store(&s->intr_closing, 1);
    /* An aa_interrupt past its check is about to send: let it finish, then
     * nothing uses s again.  It never blocks.  A child has no such call in
     * flight: what the count says is the parent's. */
    while (own && atomic_load(&s->intr_senders) != 0)
        sched_yield();
    if (!own || !s->intr_started)
        return;
    s->intr_started = 0;
    pthread_mutex_lock(&chan_lock);
    last = chan_pid == getpid() && chan_users > 0 && --chan_users == 0;
    if (last) {
        shutdown(chan[1], SHUT_RDWR);
        shutdown(chan[0], SHUT_RDWR);
        Py_BEGIN_ALLOW_THREADS
            pthread_join(watcher, NULL);
        Py_END_ALLOW_THREADS
        close_chan();
    }
    pthread_mutex_unlock(&chan_lock);
}

void aa_interrupt(aa_session *s)
{
    int saved = errno;
    unsigned long cell;

    if (s == NULL)
        return;
    atomic_fetch_add(&s->intr_senders, 1);
    cell = atomic_load(&s->cell_running);
    /* With no cell running there is nothing to stop.  A child of fork
     * would wake the parent's watcher, for the parent's cell. */
    if (cell != 0 && !atomic_load(&s->intr_closing) && s->pid == getpid()) {
        atomic_store(&s->intr_target, cell);
        /* A full socket holds interrupts already: dropping this is fine. */
        if (send(chan[1], &s, sizeof s, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            /* nothing else to do in a signal handler */
        }
    }
    atomic_fetch_sub(&s->intr_senders, 1);
    errno = saved;
}

/* Marks the start of a cell's code, on the thread it begins on; the GIL
 * is held. */
void aa__interrupt_cell_begin(aa_session *s, int kind)
{
    unsigned long seq = atomic_fetch_add(&cells_begun, 1) + 1;

    if (seq == 0) /* 0 means no cell */
        seq = atomic_fetch_add(&cells_begun, 1) + 1;
    s->cell_kind = kind;
    s->intr_asked = s->intr_refused = s->force_pending = 0;
    s->cell_seq = seq;
    aa__interrupt_step_begin(s);
    atomic_store(&s->cell_running, seq);
}

/* Marks its end.  It ends where it began or at a later step; either way
 * its code no longer runs. */
void aa__interrupt_cell_end(aa_session *s)
{
    atomic_store(&s->cell_running, 0);
    aa__interrupt_step_end(s);
    s->cell_kind = AA__CELL_NONE;
    s->force_pending = 0;
}

/* Marks that the cell's code may run on this thread now: its first part,
 * or a step of a started cell.  A KeyboardInterrupt forced while none ran
 * is raised now. */
void aa__interrupt_step_begin(aa_session *s)
{
    s->cell_thread = PyThread_get_thread_ident();
    s->stepping = 1;
    if (s->force_pending) {
        s->force_pending = 0;
        force(s);
    }
}

/* Marks that it no longer does: an asynchronous KeyboardInterrupt that
 * has not fired yet would fire in whatever Python code the thread runs
 * next; withdraw it. */
void aa__interrupt_step_end(aa_session *s)
{
    s->stepping = 0;
    if (s->async_exc_set) {
        PyThreadState_SetAsyncExc(s->cell_thread, NULL);
        s->async_exc_set = 0;
    }
}
