/*
 * guest.c -- the session as a guest of the host's event loop.
 *
 * A session has one fd for its whole life: an epoll set holding an eventfd
 * of its own (wake-ups) and the fd each guest runner it opened waits on
 * (asyncio's selector, trio's wake-up fd, curio's selector).  Runners come
 * and go, and a cell may close or replace a loop, so after every call into
 * a runner its fd is asked again and put in the set (epoll drops a closed
 * file by itself); its timeout is asked too and kept as a due time on the
 * monotonic clock, so that aa_session_timeout and a dispatch with nothing
 * to do need neither the GIL nor a runner.
 *
 * A dispatch steps each runner whose fd is ready or whose time is due,
 * then looks whether the started cell ended.  aa_exec is the same steps
 * with waits between them; aa_session_poll is dispatches with waits that
 * also watch the host's fd.  Starting and ending cells is exec.c's; the
 * brackets around a call, session.c's.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

double aa__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int aa__guest_open(aa_session *s)
{
    struct epoll_event ev = {EPOLLIN, {.ptr = NULL}};

    s->due = -1;
    s->epfd = aa__fd_above_stdio(epoll_create1(EPOLL_CLOEXEC));
    s->wakefd = aa__fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (s->epfd < 0 || s->wakefd < 0)
        return -1;
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev);
}

void aa__guest_close(aa_session *s)
{
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
    s->epfd = s->wakefd = -1;
}

/* Makes the session fd readable, so that the host dispatches: every guest
 * runner is stepped then.  Async-signal-safe. */
void aa__guest_wake(aa_session *s)
{
    uint64_t one = 1;

    if (write(s->wakefd, &one, sizeof one) < 0) {
        /* full (2^64 - 2 wake-ups pending): readable anyway */
    }
}

static void drain_wake(aa_session *s)
{
    uint64_t n;

    if (read(s->wakefd, &n, sizeof n) < 0) {
        /* EAGAIN: nothing was pending */
    }
}

/*
 * Puts o's fd in the set, and keeps when it is due.  An fd that changed
 * leaves the set; one that is the same number is added again, which
 * answers EEXIST when it is still there and puts it back when the file it
 * named was closed and the number reused (epoll dropped it then).  The GIL
 * is held.
 */
static void watch_one(aa_session *s, aa__opened *o, double now)
{
    struct epoll_event ev = {EPOLLIN, {.ptr = o}};
    int fd = aa__runner_fd(o), ms = aa__runner_timeout(o);

    if (o->fd >= 0 && o->fd != fd)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, o->fd, NULL);
    o->fd = -1;
    if (fd >= 0 &&
        (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST))
        o->fd = fd;
    o->due = ms < 0 ? -1 : now + ms;
}

/* Asks every guest runner of s for its fd and timeout again. */
void aa__guest_watch(aa_session *s)
{
    double now = aa__now_ms();
    aa__opened *o;

    s->due = -1;
    for (o = s->opened; o != NULL; o = o->next) {
        if (!aa__runner_is_guest(o))
            continue;
        watch_one(s, o, now);
        if (o->due >= 0 && (s->due < 0 || o->due < s->due))
            s->due = o->due;
    }
}

/* Writes what escaped a loop (a runner's step, named by runner, or poll,
 * runner NULL) to the session's stderr, keeps it as the session's message,
 * and answers AA_ERUNNER. */
int aa__loop_failed(aa_session *s, const char *runner)
{
    aa_result r = {0};
    int rc;

    aa__result_from_exception(NULL, &r, AA__PHASE_RUN);
    if (r.traceback != NULL)
        aa__output_error(r.traceback);
    rc = aa__session_fail(
        s, AA_ERUNNER, "%s%s%s%s: %s", runner ? "runner '" : "",
        runner ? runner : "", runner ? "': " : "",
        r.exception ? r.exception : "error", r.message ? r.message : "");
    free(r.repr);
    free(r.exception);
    free(r.message);
    free(r.traceback);
    return rc;
}

static int step_failed(aa_session *s, const aa__opened *o)
{
    return aa__loop_failed(s, o->entry->name);
}

/*
 * An exception escaped the loop the started cell runs on (a background
 * task's SystemExit, a callback's KeyboardInterrupt): as when one ends
 * python3's asyncio.run, it ends the cell.  The cell is cancelled, so that
 * it never resumes and its cleanup runs, and reports that exception when
 * it has ended.
 */
static void end_cell_with(aa__cell *cell)
{
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    if (cell->escaped == NULL && value != NULL) {
        cell->escaped = value;
        value = NULL;
        aa__runner_interrupt(cell->runner);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* One step of o, in its enter and leave, marked as the cell's step when
 * the started cell runs on it. */
static int step_one(aa_session *s, aa__opened *o, aa__cell *cell)
{
    int mine = cell != NULL && cell->runner == o, rc = AA_OK;

    if (aa__runner_enter(o) < 0)
        return step_failed(s, o);
    if (mine)
        aa__interrupt_step_begin(s);
    if (aa__runner_step(o) < 0) {
        if (mine)
            end_cell_with(cell);
        else
            rc = step_failed(s, o);
    }
    if (mine)
        aa__interrupt_step_end(s);
    aa__runner_leave(o);
    return rc;
}

/*
 * Steps every guest runner of s whose fd is ready or whose time is due;
 * cell is the cell started on one of them, or NULL.  AA_OK, or AA_ERUNNER
 * when a step raised (reported, the others stepped all the same).  In a
 * child of fork the loops are the parent's: nothing is stepped.  The GIL
 * is held, inside the session's bracket.
 */
int aa__guest_step(aa_session *s, aa__cell *cell)
{
    struct epoll_event ev[8];
    double now = aa__now_ms();
    aa__opened *o;
    int n, i, woke = 0, rc = AA_OK;

    if (s->pid != getpid())
        return AA_OK;
    n = epoll_wait(s->epfd, ev, 8, 0);
    for (i = 0; i < n; i++)
        if (ev[i].data.ptr == NULL)
            woke = 1;
    if (woke)
        drain_wake(s);
    for (o = s->opened; o != NULL; o = o->next) {
        int ready = woke || (o->due >= 0 && o->due <= now);
        for (i = 0; i < n && !ready; i++)
            ready = ev[i].data.ptr == o;
        if (ready && aa__runner_is_guest(o) && step_one(s, o, cell) != AA_OK)
            rc = AA_ERUNNER;
    }
    aa__guest_watch(s);
    return rc;
}

/* The milliseconds to wait for s, -1 for no limit. */
static int due_ms(const aa_session *s, double now)
{
    double left;

    if (s->due < 0)
        return -1;
    left = ceil(s->due - now);
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* poll(2) of the session fd and fd for the wait due_ms and timeout_ms
 * allow; the number poll answered, revents of fd in *fd_revents. */
static int wait_fds(aa_session *s, int fd, int timeout_ms, short *fd_revents)
{
    struct pollfd p[2] = {{s->epfd, POLLIN, 0}, {fd, POLLIN, 0}};
    int wait = due_ms(s, aa__now_ms()), n;

    if (timeout_ms >= 0 && (wait < 0 || timeout_ms < wait))
        wait = timeout_ms;
    n = poll(p, fd >= 0 ? 2 : 1, wait);
    *fd_revents = n > 0 && fd >= 0 ? p[1].revents : 0;
    return n;
}

/*
 * Waits until the session fd is readable, its due time comes, fd (when
 * >= 0) is readable or timeout_ms (when >= 0) has passed.  *fd_revents
 * says what poll(2) said of fd.  0, or -1 for EINTR (a signal came) and
 * other failures of poll (errno set).  Called with the GIL, which it
 * releases meanwhile, when gil is 1; without it when 0.
 */
int aa__guest_wait(aa_session *s, int fd, int timeout_ms, short *fd_revents,
                   int gil)
{
    int n, err;

    if (!gil)
        return wait_fds(s, fd, timeout_ms, fd_revents) < 0 ? -1 : 0;
    Py_BEGIN_ALLOW_THREADS
        n = wait_fds(s, fd, timeout_ms, fd_revents);
        err = errno;
    Py_END_ALLOW_THREADS
    errno = err;
    return n < 0 ? -1 : 0;
}

/* --------------------------------------------------------- the public calls */

int aa_session_fd(aa_session *s)
{
    return s != NULL ? s->epfd : AA_EINVAL;
}

int aa_session_timeout(aa_session *s)
{
    return s != NULL ? due_ms(s, aa__now_ms()) : -1;
}

/* 1 when s may have something to dispatch: its fd is readable, a runner's
 * time is due.  Needs no GIL. */
int aa__guest_has_work(aa_session *s)
{
    struct epoll_event ev;

    if (s->due >= 0 && s->due <= aa__now_ms())
        return 1;
    return epoll_wait(s->epfd, &ev, 1, 0) > 0;
}

int aa_session_dispatch(aa_session *s)
{
    if (s == NULL)
        return AA_EINVAL;
    /* From inside a cell or a callback of s: refused, work or not.  Read
     * without the GIL, busy is only ever true for this thread's own call
     * or another thread's, which this call would have to wait for. */
    if (s->busy)
        return aa__session_fail(s, AA_EBUSY,
                                "a cell of the session is running");
    if (!aa__guest_has_work(s))
        return AA_OK;
    return aa__session_dispatch(s);
}
