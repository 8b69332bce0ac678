/*
 * guest.c -- the session as a guest of a host's loop: aa-bench plays the
 * host, watching aa_session_fd with poll(2) for aa_session_timeout,
 * calling aa_session_dispatch and starting cells with aa_exec_start, and
 * times four things, each against a reference taken in the same run:
 *
 * - idle: aa_session_dispatch on a session with nothing ready (its
 *   asyncio loop made, no task), against what a host's own check of a
 *   deadline and an fd costs: clock_gettime and epoll_wait(fd, 0) on an
 *   epoll set like the session's (one eventfd in it);
 * - sync: aa_exec_start of `x = N`, done freeing the result, against
 *   aa_execn of the same kind of cell, in the same session;
 * - sleep0: `await asyncio.sleep(0)  # N` started with aa_exec_start and
 *   driven to its end by the host loop, against aa_execn;
 * - wake: the latency from the session fd turning readable to the next
 *   step of the cell that waited for it.  A cell awaits loop.sock_recv on
 *   one end of a socketpair and notes time.monotonic_ns() when it
 *   resumes; a thread writes a byte to the other end, noting the time
 *   first, while this thread sleeps in poll(2) on the session fd.
 *
 * The first three pair blocks in interleaved rounds as cells.c does (the
 * side going first swapping every round, the ratio the median of the
 * rounds' ratios); cell texts are made before a block's clock starts.
 * Timings are reported, never judged.
 */
#define _GNU_SOURCE
#include "autoawait/autoawait.h"
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The longest a host loop here waits for the session before it calls the
 * cell stuck: far beyond any cell of these rows. */
#define STUCK_MS 5000

/* What a block of one row works on. */
typedef struct guest_ctx {
    bench_guest_row *row;
    aa_session *s;
    int fd;           /* aa_session_fd */
    const char *tmpl; /* the cell */
    int epfd, evfd;   /* idle: the floor's epoll set and its eventfd */
    int done;         /* the started cell's done was called */
    int sync;         /* the cells end in aa_exec_start itself */
    int stuck;        /* the session stopped answering: leave the row */
    long dispatches;  /* aa_session_dispatch calls of the host loop */
} guest_ctx;

typedef double (*block_fn)(guest_ctx *g, int n); /* µs per call or cell */

static void note_result(bench_guest_row *row, const char *what, int status,
                        const aa_result *r, aa_session *s)
{
    const char *msg = r != NULL ? aa_result_message(r) : NULL;

    bench_row_note(row, "%s: %s: %s", what, aa_strerror(status),
                   msg != NULL ? msg : aa_session_errmsg(s));
}

static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    guest_ctx *g = userdata;

    if (status != AA_OK)
        note_result(g->row, "done", status, r, s);
    aa_result_free(r);
    g->done = 1;
}

/* The host loop: waits on the session fd for as long as its timeout says,
 * dispatches, until the started cell's done has been called. */
static void drive(guest_ctx *g)
{
    struct pollfd p = {g->fd, POLLIN, 0};
    int t, n, rc;

    while (!g->done && !g->stuck) {
        t = aa_session_timeout(g->s);
        n = poll(&p, 1, t < 0 || t > STUCK_MS ? STUCK_MS : t);
        if (n == 0 && (t < 0 || t > STUCK_MS)) {
            bench_row_note(g->row, "the started cell got no wake-up for %d ms",
                           STUCK_MS);
            g->stuck = 1;
            return;
        }
        if (n < 0 && errno != EINTR)
            bench_die("poll: %s", strerror(errno));
        g->dispatches++;
        if ((rc = aa_session_dispatch(g->s)) != AA_OK)
            note_result(g->row, "aa_session_dispatch", rc, NULL, g->s);
    }
}

/* ------------------------------------------------------------ the blocks */

static double idle_block(guest_ctx *g, int n)
{
    double t0 = bench_now();
    int i, rc;

    for (i = 0; i < n; i++) {
        if ((rc = aa_session_dispatch(g->s)) != AA_OK)
            note_result(g->row, "aa_session_dispatch", rc, NULL, g->s);
    }
    return (bench_now() - t0) * 1e6 / n;
}

static double idle_floor_block(guest_ctx *g, int n)
{
    struct epoll_event ev;
    struct timespec ts;
    double t0 = bench_now();
    int i;

    for (i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (epoll_wait(g->epfd, &ev, 1, 0) != 0)
            bench_row_note(g->row, "the floor's epoll set was not idle");
    }
    return (bench_now() - t0) * 1e6 / n;
}

static double start_block(guest_ctx *g, int n)
{
    size_t *lens;
    char **cells = bench_cells_make(g->tmpl, n, &lens);
    double t0 = bench_now(), us;
    int i, rc;

    for (i = 0; i < n && !g->stuck; i++) {
        g->done = 0;
        rc = aa_exec_start(g->s, cells[i], lens[i], on_done, g);
        if (rc != AA_OK) {
            note_result(g->row, "aa_exec_start", rc, NULL, g->s);
            continue;
        }
        if (g->sync && !g->done)
            bench_row_note(g->row, "a sync cell did not end in aa_exec_start");
        drive(g);
    }
    us = (bench_now() - t0) * 1e6 / n;
    bench_cells_free(cells, n, lens);
    return us;
}

static double execn_block(guest_ctx *g, int n)
{
    size_t *lens;
    char **cells = bench_cells_make(g->tmpl, n, &lens);
    double t0 = bench_now(), us;
    aa_result *r;
    int i, rc;

    for (i = 0; i < n; i++) {
        r = NULL;
        if ((rc = aa_execn(g->s, cells[i], lens[i], &r)) != AA_OK)
            note_result(g->row, "aa_execn", rc, r, g->s);
        aa_result_free(r);
    }
    us = (bench_now() - t0) * 1e6 / n;
    bench_cells_free(cells, n, lens);
    return us;
}

/* Rounds of a block of each side, the first side swapping every round,
 * after an untimed warm-up block each. */
static void paired_rounds(guest_ctx *g, block_fn side, block_fn ref)
{
    bench_guest_row *row = g->row;
    int i, n = row->n;

    side(g, n / 4 + 1);
    ref(g, n / 4 + 1);
    row->us = bench_xmalloc((size_t)row->rounds * sizeof(double));
    row->ref_us = bench_xmalloc((size_t)row->rounds * sizeof(double));
    for (i = 0; i < row->rounds && !g->stuck; i++) {
        if (i % 2 == 0) {
            row->us[i] = side(g, n);
            row->ref_us[i] = ref(g, n);
        } else {
            row->ref_us[i] = ref(g, n);
            row->us[i] = side(g, n);
        }
    }
    if (g->stuck)
        return;
    row->median = bench_median(row->us, (size_t)row->rounds);
    row->ref_median = bench_median(row->ref_us, (size_t)row->rounds);
    row->ratio = bench_paired_ratio(row->us, row->ref_us, (size_t)row->rounds);
    row->measured = 1;
}

/* ------------------------------------------------------- sessions, rows */

/* A session with runner asyncio and the setup cell run; NULL with the
 * row's note saying why. */
static aa_session *open_session(bench_guest_row *row, const char *setup)
{
    aa_session *s = NULL;
    aa_options opts;
    aa_result *r = NULL;
    int rc;

    aa_options_init(&opts);
    opts.write = bench_write_nothing;
    if ((rc = aa_session_new(&s, &opts)) != AA_OK) {
        bench_row_note(row, "aa_session_new: %s: %s", aa_strerror(rc),
                       aa_errmsg());
        return NULL;
    }
    if ((rc = aa_exec(s, setup, &r)) != AA_OK) {
        note_result(row, "the setup cell", rc, r, s);
        aa_result_free(r);
        aa_session_free(s);
        return NULL;
    }
    aa_result_free(r);
    return s;
}

/* Dispatches until the session has nothing ready: its timeout not 0 and
 * its fd quiet.  0, or -1 when it never settles. */
static int settle(guest_ctx *g)
{
    struct pollfd p = {g->fd, POLLIN, 0};
    int i;

    for (i = 0; i < 1000 && !g->done; i++) {
        if (aa_session_timeout(g->s) != 0 && poll(&p, 1, 0) == 0)
            return 0;
        g->dispatches++;
        aa_session_dispatch(g->s);
    }
    return -1;
}

static void run_idle(bench_guest_row *row)
{
    struct epoll_event ev = {EPOLLIN, {.ptr = NULL}};
    guest_ctx g = {.row = row, .epfd = -1, .evfd = -1};

    /* The loop is made by the first async cell. */
    g.s = open_session(row, "import asyncio\nawait asyncio.sleep(0)\n");
    if (g.s == NULL)
        return;
    g.fd = aa_session_fd(g.s);
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    g.evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g.epfd < 0 || g.evfd < 0 ||
        epoll_ctl(g.epfd, EPOLL_CTL_ADD, g.evfd, &ev) < 0)
        bench_die("epoll: %s", strerror(errno));
    if (settle(&g) < 0 || aa_session_timeout(g.s) != -1)
        bench_row_note(row, "the idle session still had work (timeout %d)",
                       aa_session_timeout(g.s));
    else
        paired_rounds(&g, idle_block, idle_floor_block);
    close(g.epfd);
    close(g.evfd);
    aa_session_free(g.s);
}

static void run_cells(bench_guest_row *row, const char *setup, const char *tmpl,
                      int sync)
{
    guest_ctx g = {
        .row = row, .tmpl = tmpl, .sync = sync, .epfd = -1, .evfd = -1};

    if ((g.s = open_session(row, setup)) == NULL)
        return;
    g.fd = aa_session_fd(g.s);
    paired_rounds(&g, start_block, execn_block);
    aa_session_free(g.s);
}

/* ------------------------------------------------------------------ wake */

/* The thread that writes the byte, and what it shares with this one. */
typedef struct waker {
    int go[2];   /* this thread -> the waker: 'g' one byte, 'q' quit */
    int sock[2]; /* [0] the cell's (the session owns it), [1] the waker's */
    pid_t tid;   /* this thread, which must be asleep in poll first */
    _Atomic int64_t t_write; /* ns, CLOCK_MONOTONIC, just before write(2) */
} waker;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 1 when thread tid sleeps (state S in /proc): the host thread does
 * nothing between its request and poll(2), so asleep is in poll. */
static int asleep(pid_t tid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 1; /* no /proc: the sleep below must do */
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    p = strrchr(buf, ')');
    return p == NULL || p[1] == '\0' || p[2] == 'S';
}

static void *waker_main(void *arg)
{
    waker *w = arg;
    struct timespec pause = {0, 50000};
    char c;
    int i;

    while (read(w->go[0], &c, 1) == 1 && c == 'g') {
        nanosleep(&pause, NULL);
        for (i = 0; i < 1000 && !asleep(w->tid); i++)
            nanosleep(&pause, NULL);
        atomic_store(&w->t_write, now_ns());
        if (write(w->sock[1], "x", 1) != 1)
            bench_die("write: %s", strerror(errno));
    }
    return NULL;
}

/* The clock readings of one trial, ns on CLOCK_MONOTONIC. */
typedef struct trial {
    int64_t write;   /* the waker, just before write(2) */
    int64_t ready;   /* poll(2) returned */
    int64_t first;   /* the first dispatch after it returned */
    int64_t resume;  /* the cell, time.monotonic_ns() after its await */
    long dispatches; /* from poll's return to the cell's end */
} trial;

/* One trial: the cell started and waiting, the byte asked for, the wait
 * in poll(2), then the host loop to the cell's end; t gets the times but
 * for resume, which the cell keeps.  -1 when the trial failed (the row's
 * note says how). */
static int wake_trial(guest_ctx *g, waker *w, const char *cell, size_t len,
                      trial *t)
{
    struct pollfd p = {g->fd, POLLIN, 0};
    int rc;

    g->done = 0;
    if ((rc = aa_exec_start(g->s, cell, len, on_done, g)) != AA_OK) {
        note_result(g->row, "aa_exec_start", rc, NULL, g->s);
        return -1;
    }
    if (settle(g) < 0 || g->done) {
        bench_row_note(g->row, "the waiting cell %s",
                       g->done ? "ended before the byte came" : "never waited");
        drive(g);
        return -1;
    }
    if (write(w->go[1], "g", 1) != 1)
        bench_die("write: %s", strerror(errno));
    rc = poll(&p, 1, STUCK_MS);
    t->ready = now_ns();
    if (rc <= 0) {
        bench_row_note(g->row, "the session fd did not turn readable after the "
                               "write");
        g->stuck = 1;
        return -1;
    }
    /* The first dispatch, timed on its own: the one the wake-up is for. */
    if ((rc = aa_session_dispatch(g->s)) != AA_OK)
        note_result(g->row, "aa_session_dispatch", rc, NULL, g->s);
    t->first = now_ns();
    g->dispatches = 1;
    drive(g);
    t->dispatches = g->dispatches;
    t->write = atomic_load(&w->t_write);
    return g->stuck ? -1 : 0;
}

/* The times the cells noted, read back from their list into t: how
 * many. */
static int resume_times(guest_ctx *g, trial *t, int max)
{
    static const char cell[] = "' '.join(map(str, _bench_times))";
    aa_result *r = NULL;
    const char *p;
    char *end;
    int n = 0, rc;

    if ((rc = aa_exec(g->s, cell, &r)) != AA_OK) {
        note_result(g->row, "reading the times", rc, r, g->s);
    } else {
        for (p = aa_result_repr(r); p != NULL && *p && n < max; p = end) {
            while (*p && (*p < '0' || *p > '9'))
                p++;
            if (*p == '\0')
                break;
            t[n++].resume = strtoll(p, &end, 10);
        }
    }
    aa_result_free(r);
    return n;
}

/* The median and p90 of what part() reads off each of n trials, in µs. */
static void span(const trial *t, int n, double (*part)(const trial *),
                 double *median, double *p90)
{
    double *v = bench_xmalloc((size_t)n * sizeof *v);
    int i;

    for (i = 0; i < n; i++)
        v[i] = part(&t[i]);
    *median = bench_median(v, (size_t)n);
    *p90 = bench_quantile(v, (size_t)n, 0.9);
    free(v);
}

static double whole(const trial *t)
{
    return (double)(t->resume - t->write) / 1e3;
}

static double kernel(const trial *t)
{
    return (double)(t->ready - t->write) / 1e3;
}

static double library(const trial *t)
{
    return (double)(t->resume - t->ready) / 1e3;
}

static double first_dispatch(const trial *t)
{
    return (double)(t->first - t->ready) / 1e3;
}

static double dispatches(const trial *t)
{
    return (double)t->dispatches;
}

static void wake_figures(bench_guest_row *row, const trial *t, int n)
{
    double ignored;

    span(t, n, whole, &row->median, &row->p90);
    span(t, n, kernel, &row->wake_median, &row->wake_p90);
    span(t, n, library, &row->step_median, &row->step_p90);
    span(t, n, first_dispatch, &row->first_median, &row->first_p90);
    span(t, n, dispatches, &row->dispatches_median, &ignored);
    row->min = row->max = whole(&t[0]);
    for (; n > 0; n--, t++) {
        row->min = whole(t) < row->min ? whole(t) : row->min;
        row->max = whole(t) > row->max ? whole(t) : row->max;
    }
    row->measured = 1;
}

/* warm untimed trials, then trials: the figures are the trials'. */
static void wake_trials(guest_ctx *g, waker *w, int warm, int trials)
{
    int total = warm + trials, i;
    trial *t = bench_xmalloc((size_t)total * sizeof *t);
    size_t *lens;
    char **cells = bench_cells_make(g->tmpl, total, &lens);

    for (i = 0; i < total; i++) {
        if (wake_trial(g, w, cells[i], lens[i], &t[i]) < 0)
            break;
    }
    if (i == total && resume_times(g, t, total) != total)
        bench_row_note(g->row,
                       "the cells noted fewer times than there were trials");
    else if (i == total)
        wake_figures(g->row, t + warm, trials);
    bench_cells_free(cells, total, lens);
    free(t);
}

static void run_wake(bench_guest_row *row)
{
    guest_ctx g = {.row = row, .epfd = -1, .evfd = -1};
    waker w = {.go = {-1, -1}, .sock = {-1, -1}};
    char setup[512];
    pthread_t thread;

    if (pipe2(w.go, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w.sock) < 0)
        bench_die("socketpair: %s", strerror(errno));
    w.tid = (pid_t)syscall(SYS_gettid);
    snprintf(setup, sizeof setup,
             "import asyncio, socket, time\n"
             "_bench_sock = socket.socket(fileno=%d)\n"
             "_bench_sock.setblocking(False)\n"
             "_bench_times = []\n",
             w.sock[0]);
    /* The cell awaits the byte, then notes the time: its next step. */
    g.tmpl = "await asyncio.get_running_loop().sock_recv(_bench_sock, 1); "
             "_bench_times.append(time.monotonic_ns())  # " BENCH_COUNTER;
    if ((g.s = open_session(row, setup)) == NULL) {
        close(w.sock[0]);
    } else {
        g.fd = aa_session_fd(g.s);
        if (pthread_create(&thread, NULL, waker_main, &w) != 0)
            bench_die("pthread_create failed");
        wake_trials(&g, &w, row->n / 4 + 1, row->n);
        if (write(w.go[1], "q", 1) != 1 || pthread_join(thread, NULL) != 0)
            bench_die("the waker thread did not end");
        aa_session_free(g.s); /* closes the cell's end, _bench_sock's */
    }
    close(w.sock[1]);
    close(w.go[0]);
    close(w.go[1]);
}

/* ------------------------------------------------------------- the rows */

void bench_guest_rows_init(bench_report *rep)
{
    static const bench_guest_row rows[BENCH_NGUEST] = {
        {.name = "guest_idle",
         .label = "dispatch, nothing ready",
         .ref_label = "clock_gettime + epoll_wait(fd, 0)",
         .target = 2},
        {.name = "guest_sync",
         .label = "aa_exec_start x = N",
         .ref_label = "aa_execn",
         .target = 1.1},
        {.name = "guest_sleep0",
         .label = "aa_exec_start await asyncio.sleep(0)",
         .ref_label = "aa_execn",
         .target = 1.3},
        {.name = "guest_wake",
         .label = "the session fd readable -> the cell resumes",
         .ref_label = "",
         .target = 100},
    };

    memcpy(rep->guest, rows, sizeof rows);
}

void bench_run_guest(bench_report *rep, const bench_options *o)
{
    bench_guest_row *g = rep->guest;
    int k;

    g[GUEST_IDLE].n = o->cells * 10;
    g[GUEST_SYNC].n = g[GUEST_SLEEP0].n = o->cells;
    g[GUEST_WAKE].n = o->wake_trials;
    for (k = 0; k < BENCH_NGUEST; k++) {
        g[k].rounds = k == GUEST_WAKE ? 1 : o->rounds;
        if (g[k].selected)
            fprintf(stderr, "aa-bench: %s: %d rounds of %d\n", g[k].name,
                    g[k].rounds, g[k].n);
    }
    if (g[GUEST_IDLE].selected)
        run_idle(&g[GUEST_IDLE]);
    if (g[GUEST_SYNC].selected)
        run_cells(&g[GUEST_SYNC], "", "x = " BENCH_COUNTER, 1);
    if (g[GUEST_SLEEP0].selected)
        run_cells(&g[GUEST_SLEEP0], "import asyncio",
                  "await asyncio.sleep(0)  # " BENCH_COUNTER, 0);
    if (g[GUEST_WAKE].selected)
        run_wake(&g[GUEST_WAKE]);
    rep->guest_ran = 1;
}
