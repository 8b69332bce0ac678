/*
 * check_threads.c -- sessions and threads: a session per thread, one
 * session handed from thread to thread, two threads racing on one session,
 * two sessions' cells at the same moment on two threads (their output, a
 * first import of asyncio), and aa_interrupt at random times from another
 * thread and from a signal handler.  Every cell's status and value is
 * checked, nothing deadlocks (an alarm bounds each test even with
 * CK_FORK=no), and each session still works at the end.
 *
 * Worker threads never call ck_assert (a failure would longjmp or exit
 * from the wrong thread): they note the first thing that went wrong, and
 * the test's own thread asserts once they are joined.
 */
#define _POSIX_C_SOURCE 200809L
#include <Python.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Far beyond what any test needs (a few seconds plain, under ASan
 * tens): only a deadlock gets there. */
#define ALARM_SECONDS 240
/* No cell of these tests may take longer, interrupted or not. */
#define CELL_BOUND_S 10.0

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The first failure a thread saw; "" while none. */
typedef struct {
    char msg[2048];
} failure;

static void fail_note(failure *f, const char *fmt, ...)
{
    va_list ap;

    if (f->msg[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
}

/* Output of one session, for a thread of its own. */
typedef struct {
    char data[4096];
    size_t len;
} outbuf;

static void out_write(void *userdata, int stream, const char *data, size_t len)
{
    outbuf *b = userdata;

    (void)stream;
    if (len > sizeof b->data - 1 - b->len)
        len = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/*
 * Runs src; 0 when its status is want and its displayed value is repr
 * (NULL: nothing displayed), else -1 with the failure noted.  When exc is
 * not NULL the result must name that exception, and message when given.
 */
static int run_check(aa_session *s, const char *src, int want, const char *repr,
                     const char *exc, const char *message, failure *f)
{
    aa_result *r = NULL;
    int rc = aa_exec(s, src, &r);
    const char *got = aa_result_repr(r), *e = aa_result_exception(r);
    const char *m = aa_result_message(r);
    int ok =
        r != NULL && rc == want && aa_result_status(r) == rc &&
        (repr == NULL ? got == NULL : got != NULL && strcmp(got, repr) == 0) &&
        (exc == NULL || (e != NULL && strcmp(e, exc) == 0)) &&
        (message == NULL || (m != NULL && strcmp(m, message) == 0));

    if (!ok)
        fail_note(f,
                  "cell %s\n-> status %d, repr %s, exception %s: %s\n"
                  "want status %d, repr %s, exception %s: %s\n%s",
                  src, rc, got ? got : "(none)", e ? e : "(none)",
                  m ? m : "(none)", want, repr ? repr : "(none)",
                  exc ? exc : "(none)", message ? message : "(none)",
                  aa_result_traceback(r) ? aa_result_traceback(r) : "");
    aa_result_free(r);
    return ok ? 0 : -1;
}

/* -------------------------------------------- (a) a session per thread */

#define SOLO_THREADS 4
#define SOLO_CELLS 300

typedef struct {
    int id;
    int cells; /* cells run and found right */
    outbuf out;
    failure fail;
} solo;

/* Cell i of thread id: a mix of sync and async cells, values, output,
 * exceptions and tasks, every one depending on the thread and on what
 * the session's namespace has accumulated (acc). */
static int solo_cell(aa_session *s, solo *w, int i, long *acc)
{
    char src[512], want[128], msg[64];
    int id = w->id, rc;

    *acc += i;
    w->out.len = 0;
    w->out.data[0] = '\0';
    switch (i % 6) {
    case 0:
        snprintf(src, sizeof src,
                 "await asyncio.sleep(0)\nacc += %d\n(tid, acc)", i);
        snprintf(want, sizeof want, "(%d, %ld)", id, *acc);
        return run_check(s, src, AA_OK, want, NULL, NULL, &w->fail);
    case 1:
        snprintf(src, sizeof src, "acc += %d\nacc * tid + %d", i, i);
        snprintf(want, sizeof want, "%ld", *acc * id + i);
        return run_check(s, src, AA_OK, want, NULL, NULL, &w->fail);
    case 2:
        snprintf(src, sizeof src,
                 "await asyncio.sleep(0)\nacc += %d\nprint(tid, acc)", i);
        rc = run_check(s, src, AA_OK, NULL, NULL, NULL, &w->fail);
        snprintf(want, sizeof want, "%d %ld\n", id, *acc);
        if (rc == 0 && strcmp(w->out.data, want) != 0) {
            fail_note(&w->fail, "cell %s printed '%s', want '%s'", src,
                      w->out.data, want);
            rc = -1;
        }
        return rc;
    case 3:
        snprintf(src, sizeof src, "acc += %d\nraise ValueError(f'{tid}:{acc}')",
                 i);
        snprintf(msg, sizeof msg, "%d:%ld", id, *acc);
        return run_check(s, src, AA_EXCEPTION, NULL, "ValueError", msg,
                         &w->fail);
    case 4:
        snprintf(src, sizeof src,
                 "t = asyncio.create_task(asyncio.sleep(0, result=tid * "
                 "%d))\nacc += %d\nawait t",
                 i, i);
        snprintf(want, sizeof want, "%d", id * i);
        return run_check(s, src, AA_OK, want, NULL, NULL, &w->fail);
    default:
        snprintf(src, sizeof src, "acc += %d\nf'{tid}-{acc}'", i);
        snprintf(want, sizeof want, "'%d-%ld'", id, *acc);
        return run_check(s, src, AA_OK, want, NULL, NULL, &w->fail);
    }
}

static void *solo_main(void *arg)
{
    solo *w = arg;
    aa_session *s = NULL;
    aa_options o;
    char src[128], want[64];
    long acc = 0;
    int i, rc;

    aa_options_init(&o);
    o.write = out_write;
    o.userdata = &w->out;
    if ((rc = aa_session_new(&s, &o)) != AA_OK) {
        fail_note(&w->fail, "aa_session_new: %s: %s", aa_strerror(rc),
                  aa_errmsg());
        return NULL;
    }
    snprintf(src, sizeof src, "import asyncio\nacc = 0\ntid = %d", w->id);
    if (run_check(s, src, AA_OK, NULL, NULL, NULL, &w->fail) == 0)
        w->cells++;
    for (i = 1; i < SOLO_CELLS - 1 && w->fail.msg[0] == '\0'; i++)
        if (solo_cell(s, w, i, &acc) == 0)
            w->cells++;
    snprintf(want, sizeof want, "%ld", acc);
    if (w->fail.msg[0] == '\0' &&
        run_check(s, "acc", AA_OK, want, NULL, NULL, &w->fail) == 0)
        w->cells++;
    aa_session_free(s);
    return NULL;
}

START_TEST(a_session_per_thread)
{
    pthread_t t[SOLO_THREADS];
    solo w[SOLO_THREADS];
    aa_session *s;
    double t0 = now();
    int i, total = 0;

    alarm(ALARM_SECONDS);
    /* Sessions whose first cells import asyncio on several threads at once
     * meet a half-imported module: a_cell_while_another_thread_imports_
     * asyncio has that case to itself. */
    s = tu_session(NULL);
    tu_expect(s, "import asyncio", NULL);
    aa_session_free(s);
    memset(w, 0, sizeof w);
    for (i = 0; i < SOLO_THREADS; i++) {
        w[i].id = i + 1;
        ck_assert_int_eq(pthread_create(&t[i], NULL, solo_main, &w[i]), 0);
    }
    for (i = 0; i < SOLO_THREADS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < SOLO_THREADS; i++) {
        ck_assert_msg(w[i].fail.msg[0] == '\0', "thread %d: %s", w[i].id,
                      w[i].fail.msg);
        ck_assert_int_eq(w[i].cells, SOLO_CELLS);
        total += w[i].cells;
    }
    printf("threads: %d sessions on %d threads, %d cells, %.2f s\n",
           SOLO_THREADS, SOLO_THREADS, total, now() - t0);
    alarm(0);
}
END_TEST

/* ------------------------------- (b) one session handed between threads */

#define RELAY_THREADS 4
#define RELAY_TURNS 200

typedef struct {
    aa_session *s;
    pthread_mutex_t lock;
    pthread_cond_t turned;
    int turn; /* cells run so far; thread turn % RELAY_THREADS is next */
    failure fail;
} relay;

typedef struct {
    relay *r;
    int id;
} relay_arg;

static void *relay_main(void *arg)
{
    relay_arg *a = arg;
    relay *r = a->r;
    char src[256], want[64];
    int j, n;

    for (j = 0; j < RELAY_TURNS; j++) {
        pthread_mutex_lock(&r->lock);
        while (r->turn % RELAY_THREADS != a->id)
            pthread_cond_wait(&r->turned, &r->lock);
        n = ++r->turn;
        /* Odd cells are sync; every tenth leaves a task on the loop that
         * a later async cell, on another thread, runs. */
        if (n % 10 == 0)
            snprintf(src, sizeof src,
                     "await asyncio.sleep(0)\n"
                     "tasks.append(asyncio.create_task(bump()))\n"
                     "counter += 1\n(counter, %d)",
                     a->id);
        else if (n % 2 == 0)
            snprintf(src, sizeof src,
                     "await asyncio.sleep(0)\ncounter += 1\n(counter, %d)",
                     a->id);
        else
            snprintf(src, sizeof src, "counter += 1\n(counter, %d)", a->id);
        snprintf(want, sizeof want, "(%d, %d)", n, a->id);
        if (r->fail.msg[0] == '\0')
            run_check(r->s, src, AA_OK, want, NULL, NULL, &r->fail);
        pthread_cond_broadcast(&r->turned);
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

START_TEST(one_session_handed_between_threads)
{
    pthread_t t[RELAY_THREADS];
    relay_arg args[RELAY_THREADS];
    relay r;
    double t0 = now();
    int i;

    alarm(ALARM_SECONDS);
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.turned, NULL);
    r.s = tu_session(NULL);
    tu_expect(r.s,
              "import asyncio\ncounter = bumped = 0\ntasks = []\n"
              "async def bump():\n    global bumped\n"
              "    await asyncio.sleep(0)\n    bumped += 1",
              NULL);
    for (i = 0; i < RELAY_THREADS; i++) {
        args[i].r = &r;
        args[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, relay_main, &args[i]), 0);
    }
    for (i = 0; i < RELAY_THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_msg(r.fail.msg[0] == '\0', "%s", r.fail.msg);
    ck_assert_int_eq(r.turn, RELAY_THREADS * RELAY_TURNS);
    /* Every task made on one thread's turn ran on the shared loop. */
    tu_expect(r.s,
              "await asyncio.gather(*tasks)\n(counter, bumped, len(tasks))",
              "(800, 80, 80)");
    aa_session_free(r.s);
    tu_clear();
    pthread_cond_destroy(&r.turned);
    pthread_mutex_destroy(&r.lock);
    printf("threads: 1 session handed between %d threads, %d cells, "
           "%.2f s\n",
           RELAY_THREADS, RELAY_THREADS * RELAY_TURNS, now() - t0);
    alarm(0);
}
END_TEST

/* --------------------- (c) two threads on one session, no mutex at all */

#define RACE_THREADS 2
#define RACE_CELLS 150          /* cells each thread gets to run */
#define RACE_MAX_CALLS 1000000L /* a bound, should EBUSY never end */

typedef struct {
    aa_session *s;
    int id;
    unsigned seed;
    long calls, ran, busy;
    failure fail;
} racer;

/* 0 when r is what was wanted (repr and exc NULL: none), else -1. */
static int result_is(const aa_result *r, int status, const char *repr,
                     const char *exc, const char *message)
{
    const char *got = aa_result_repr(r), *e = aa_result_exception(r);
    const char *m = aa_result_message(r);

    if (aa_result_status(r) != status)
        return -1;
    if (repr == NULL ? got != NULL : got == NULL || strcmp(got, repr) != 0)
        return -1;
    if (exc == NULL ? e != NULL : e == NULL || strcmp(e, exc) != 0)
        return -1;
    return message == NULL || (m != NULL && strcmp(m, message) == 0) ? 0 : -1;
}

static void *race_main(void *arg)
{
    racer *w = arg;
    char src[128], want[32], msg[16];

    snprintf(msg, sizeof msg, "%d", w->id);
    while (w->ran < RACE_CELLS && w->calls < RACE_MAX_CALLS &&
           w->fail.msg[0] == '\0') {
        const char *repr = NULL, *exc = NULL, *message = NULL;
        int status = AA_OK, kind = (int)(w->calls % 3), rc;
        aa_result *r = NULL;

        w->calls++;
        if (kind == 0) {
            snprintf(src, sizeof src,
                     "await asyncio.sleep(0.001)\nn += 1\n'a%d'", w->id);
            snprintf(want, sizeof want, "'a%d'", w->id);
            repr = want;
        } else if (kind == 1) {
            snprintf(src, sizeof src, "n += 1\nsum(range(20000))");
            repr = "199990000";
        } else {
            snprintf(src, sizeof src, "n += 1\nraise KeyError(%d)", w->id);
            status = AA_EXCEPTION, exc = "KeyError", message = msg;
        }
        rc = aa_exec(w->s, src, &r);
        if (rc == AA_EBUSY) {
            /* The call itself was refused: a result that says so, and
             * nothing of the cell ran. */
            if (r == NULL || aa_result_status(r) != AA_EBUSY ||
                aa_result_message(r) == NULL || aa_result_repr(r) != NULL ||
                aa_result_exception(r) != NULL)
                fail_note(&w->fail, "AA_EBUSY with a bad result");
            aa_result_free(r);
            w->busy++;
            sleep_us(rand_r(&w->seed) % 300);
            continue;
        }
        /* Not refused: it ran, and its answer must be its own. */
        if (r == NULL || rc != status ||
            result_is(r, status, repr, exc, message) < 0)
            fail_note(&w->fail,
                      "cell %s -> %d (%s), repr %s, exception %s: %s; "
                      "want %d or AA_EBUSY",
                      src, rc, aa_strerror(rc),
                      aa_result_repr(r) ? aa_result_repr(r) : "(none)",
                      aa_result_exception(r) ? aa_result_exception(r)
                                             : "(none)",
                      aa_result_message(r) ? aa_result_message(r) : "", status);
        aa_result_free(r);
        w->ran++;
    }
    return NULL;
}

START_TEST(two_threads_race_on_one_session)
{
    pthread_t t[RACE_THREADS];
    racer w[RACE_THREADS];
    aa_session *s = tu_session(NULL);
    char want[32];
    long busy = 0, ran = 0, calls = 0;
    double t0 = now();
    int i;

    alarm(ALARM_SECONDS);
    tu_expect(s, "import asyncio\nn = 0\nawait asyncio.sleep(0)", NULL);
    memset(w, 0, sizeof w);
    for (i = 0; i < RACE_THREADS; i++) {
        w[i].s = s;
        w[i].id = i;
        w[i].seed = 1234u + (unsigned)i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_main, &w[i]), 0);
    }
    for (i = 0; i < RACE_THREADS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < RACE_THREADS; i++) {
        ck_assert_msg(w[i].fail.msg[0] == '\0', "thread %d: %s", i,
                      w[i].fail.msg);
        ck_assert_int_eq(w[i].ran, RACE_CELLS);
        busy += w[i].busy;
        ran += w[i].ran;
        calls += w[i].calls;
    }
    /* Each cell that was not refused ran exactly once. */
    snprintf(want, sizeof want, "%ld", ran);
    tu_expect(s, "n", want);
    /* The async cells sleep with the GIL given up: the other thread's
     * calls meet a busy session then. */
    ck_assert_int_gt(busy, 0);
    aa_session_free(s);
    tu_clear();
    printf("threads: 2 threads on 1 session, %ld calls, %ld cells ran, "
           "%ld AA_EBUSY, %.2f s\n",
           calls, ran, busy, now() - t0);
    alarm(0);
}
END_TEST

/* --------------------------- sessions on threads, at the same moment */

typedef struct {
    aa_session *s;
    const char *src;
    int rc;
    outbuf out;
} cell_job;

static void *cell_job_main(void *arg)
{
    cell_job *j = arg;

    j->rc = aa_exec(j->s, j->src, NULL);
    return NULL;
}

static aa_session *job_session(cell_job *j)
{
    aa_options o;
    int rc;

    aa_options_init(&o);
    o.write = out_write;
    o.userdata = &j->out;
    rc = aa_session_new(&j->s, &o);
    ck_assert_msg(rc == AA_OK, "aa_session_new: %s", aa_errmsg());
    return j->s;
}

/* The process's sys.stdout, a new reference. */
static PyObject *process_stdout(void)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *f = PySys_GetObject("stdout");

    Py_XINCREF(f);
    PyGILState_Release(g);
    return f;
}

START_TEST(output_of_sessions_on_two_threads_stays_apart)
{
    cell_job a, b;
    pthread_t ta, tb;
    PyObject *before, *after;
    int same;

    alarm(ALARM_SECONDS);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    job_session(&a);
    job_session(&b);
    ck_assert_int_eq(aa_exec(a.s, "import asyncio", NULL), AA_OK);
    ck_assert_int_eq(aa_exec(b.s, "import asyncio", NULL), AA_OK);
    before = process_stdout();
    /* A's cell waits while B's starts, then prints while B's waits; B's
     * prints after A's has ended.  Each session's output is its own. */
    a.src = "await asyncio.sleep(0.3)\nprint('from A')";
    b.src = "await asyncio.sleep(0.5)\nprint('from B')";
    ck_assert_int_eq(pthread_create(&ta, NULL, cell_job_main, &a), 0);
    tu_sleep_ms(100);
    ck_assert_int_eq(pthread_create(&tb, NULL, cell_job_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    after = process_stdout();
    same = before == after;
    {
        PyGILState_STATE g = PyGILState_Ensure();
        Py_XDECREF(before);
        Py_XDECREF(after);
        PyGILState_Release(g);
    }
    ck_assert_int_eq(a.rc, AA_OK);
    ck_assert_int_eq(b.rc, AA_OK);
    /* And the host's stream is back once both cells ended. */
    ck_assert_msg(strcmp(a.out.data, "from A\n") == 0 &&
                      strcmp(b.out.data, "from B\n") == 0 && same,
                  "A's callback got '%s', B's got '%s' (want 'from A\\n', "
                  "'from B\\n'); after both cells sys.stdout is %s",
                  a.out.data, b.out.data,
                  same ? "the process's own again" : "NOT the process's own");
    aa_session_free(a.s);
    aa_session_free(b.s);
    alarm(0);
}
END_TEST

START_TEST(a_cell_while_another_thread_imports_asyncio)
{
    cell_job a;
    aa_session *b = tu_session(NULL);
    aa_result *r;
    pthread_t ta;

    alarm(ALARM_SECONDS);
    memset(&a, 0, sizeof a);
    job_session(&a);
    r = tu_run(b, "import sys\n'asyncio' in sys.modules", AA_OK);
    if (strcmp(aa_result_repr(r), "True") == 0) {
        /* CK_FORK=no: an earlier test imported it; nothing to reproduce. */
        printf("threads: asyncio was imported already, the race with its "
               "import is not tried\n");
        aa_result_free(r);
        aa_session_free(a.s);
        aa_session_free(b);
        tu_clear();
        alarm(0);
        return;
    }
    aa_result_free(r);
    /* Session A's thread imports asyncio, slowly: the module sits half
     * made in sys.modules for half a second.  Session B's cells, sync
     * ones included, must not trip over it. */
    a.src = "import sys, time, importlib.abc\n"
            "class Slow(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'asyncio.base_events':\n"
            "            time.sleep(0.5)\n"
            "sys.meta_path.insert(0, Slow())\n"
            "import asyncio\n"
            "sys.meta_path.pop(0)\n";
    ck_assert_int_eq(pthread_create(&ta, NULL, cell_job_main, &a), 0);
    tu_sleep_ms(200);
    r = tu_run(b, "21 * 2", AA_OK);
    aa_result_free(r);
    pthread_join(ta, NULL);
    ck_assert_int_eq(a.rc, AA_OK);
    tu_expect(b, "import asyncio\nawait asyncio.sleep(0, result=42)", "42");
    aa_session_free(a.s);
    aa_session_free(b);
    tu_clear();
    alarm(0);
}
END_TEST

/* ------------------------------ (d, e) interrupts at random times */

/* Cells per interrupt test: 200, or $AA_TEST_INTERRUPT_CELLS for a long
 * hunt (a rare case shows up once in a few thousand cells). */
static int intr_cells(void)
{
    const char *env = getenv("AA_TEST_INTERRUPT_CELLS");
    int n = env != NULL ? atoi(env) : 0;

    return n > 0 ? n : 200;
}

typedef struct {
    aa_session *s;
    pthread_t target; /* the thread running the cells, for signals */
    int by_signal;
    unsigned seed;
    atomic_int stop;
    long sent;
} interrupter;

static aa_session *volatile signal_target;

static void on_sigusr1(int sig)
{
    (void)sig;
    aa_interrupt(signal_target);
}

static void *interrupt_main(void *arg)
{
    interrupter *it = arg;

    while (!atomic_load(&it->stop)) {
        sleep_us((long)(rand_r(&it->seed) % 21) * 1000L);
        if (atomic_load(&it->stop))
            break;
        if (it->by_signal)
            pthread_kill(it->target, SIGUSR1);
        else
            aa_interrupt(it->s);
        it->sent++;
    }
    return NULL;
}

typedef struct {
    unsigned seed; /* the cells' lengths */
    int ok, interrupted;
    double longest;
    long last_done; /* the value the last AA_OK cell showed */
    failure fail;
} tally;

/* Runs intr_cells() cells while it interrupts them; no ck_assert until the
 * interrupter has stopped. */
static void run_under_interrupts(aa_session *s, interrupter *it, tally *t)
{
    pthread_t th;
    int i, cells = intr_cells();

    it->s = s;
    it->target = pthread_self();
    ck_assert_int_eq(pthread_create(&th, NULL, interrupt_main, it), 0);
    for (i = 0; i < cells && t->fail.msg[0] == '\0'; i++) {
        /* Async cells sleep 1 to 8 ms, sync ones spin for about as long,
         * so that interrupts land in cells, between them, and at their
         * edges alike. */
        int ms = 1 + (int)(rand_r(&t->seed) % 8);
        char src[128];
        aa_result *r = NULL;
        double t0, took;
        const char *exc;
        int rc;

        if (i % 2)
            snprintf(src, sizeof src,
                     "for _ in range(%d):\n    pass\ndone += 1\ndone",
                     ms * 20000);
        else
            snprintf(src, sizeof src,
                     "await asyncio.sleep(%d / 1000)\ndone += 1\ndone", ms);
        t0 = now();
        rc = aa_exec(s, src, &r);
        exc = aa_result_exception(r);

        took = now() - t0;
        if (took > t->longest)
            t->longest = took;
        if (took > CELL_BOUND_S)
            fail_note(&t->fail, "cell %d took %.1f s", i, took);
        if (rc == AA_OK && aa_result_repr(r) != NULL) {
            long done = atol(aa_result_repr(r));
            if (done <= t->last_done || done > i + 1)
                fail_note(&t->fail, "cell %d shows done = %ld after %ld", i,
                          done, t->last_done);
            t->last_done = done;
            t->ok++;
        } else if (rc == AA_EXCEPTION && exc != NULL &&
                   strcmp(exc, "KeyboardInterrupt") == 0) {
            t->interrupted++;
        } else {
            fail_note(&t->fail, "cell %d (%s) -> %d (%s) %s: %s\n%s", i,
                      i % 2 ? "sync" : "async", rc, aa_strerror(rc),
                      exc ? exc : "", aa_result_message(r),
                      aa_result_traceback(r) ? aa_result_traceback(r) : "");
        }
        aa_result_free(r);
    }
    atomic_store(&it->stop, 1);
    pthread_join(th, NULL);
    /* What is still in the pipe reaches no cell. */
    tu_sleep_ms(100);
}

/* Asserts what run_under_interrupts saw, then that the session goes on. */
static void check_tally(aa_session *s, tally *t, const char *how,
                        interrupter *it)
{
    char src[64];
    int cells = intr_cells();

    ck_assert_msg(t->fail.msg[0] == '\0', "%s", t->fail.msg);
    ck_assert_int_eq(t->ok + t->interrupted, cells);
    /* Interrupted cells may or may not have counted themselves. */
    snprintf(src, sizeof src, "%ld <= done <= %d", t->last_done, cells);
    tu_expect(s, src, "True");
    tu_expect(s, "sum(range(10))", "45");
    tu_expect(s, "await asyncio.sleep(0.01, result='after')", "'after'");
    printf("threads: interrupts %s: %ld sent over %d cells, %d ended "
           "AA_OK, %d KeyboardInterrupt, longest cell %.3f s\n",
           how, it->sent, cells, t->ok, t->interrupted, t->longest);
}

START_TEST(interrupts_from_another_thread)
{
    aa_session *s = tu_session(NULL);
    interrupter it;
    tally t;

    alarm(ALARM_SECONDS);
    memset(&it, 0, sizeof it);
    memset(&t, 0, sizeof t);
    it.seed = 42;
    t.seed = 7;
    tu_expect(s, "import asyncio\ndone = 0\nawait asyncio.sleep(0)", NULL);
    run_under_interrupts(s, &it, &t);
    check_tally(s, &t, "from a thread", &it);
    aa_session_free(s);
    tu_clear();
    alarm(0);
}
END_TEST

START_TEST(interrupts_from_a_signal_handler)
{
    aa_session *s = tu_session(NULL);
    struct sigaction sa, old;
    interrupter it;
    tally t;

    alarm(ALARM_SECONDS);
    memset(&it, 0, sizeof it);
    memset(&t, 0, sizeof t);
    it.seed = 4242;
    t.seed = 77;
    it.by_signal = 1;
    tu_expect(s, "import asyncio\ndone = 0\nawait asyncio.sleep(0)", NULL);
    /* No SA_RESTART: the cell's thread sees EINTR wherever it is. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    signal_target = s;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
    run_under_interrupts(s, &it, &t);
    signal_target = NULL;
    ck_assert_int_eq(sigaction(SIGUSR1, &old, NULL), 0);
    check_tally(s, &t, "from a signal handler", &it);
    aa_session_free(s);
    tu_clear();
    alarm(0);
}
END_TEST

/* ------------------------------------------- frees from other threads */

typedef struct {
    aa_session *s;
    int wait_fd;              /* a byte to read before freeing, or -1 */
    int done_fd;              /* a byte written once the free returned, or -1 */
    pthread_barrier_t *start; /* or NULL */
    pthread_t thread;
} freer;

static void *free_main(void *arg)
{
    freer *f = arg;
    char c;

    if (f->start != NULL)
        pthread_barrier_wait(f->start);
    if (f->wait_fd >= 0 && read(f->wait_fd, &c, 1) != 1)
        return NULL;
    aa_session_free(f->s);
    if (f->done_fd >= 0 && write(f->done_fd, "x", 1) != 1)
        return NULL;
    return NULL;
}

/* A captured session with an object whose finalizer prints "finalized",
 * and y = 5. */
static aa_session *finalizing_session(void)
{
    aa_session *s = tu_session(NULL);

    tu_expect(s,
              "import asyncio\nclass Bye:\n    def __del__(self):\n"
              "        print('finalized')\nb = Bye()\ny = 5",
              NULL);
    return s;
}

/*
 * aa_session_free from another thread while a cell of the session runs
 * (issue 9, C2): a cell waiting on the loop, one blocked in C, one busy in
 * Python.  Each tells the freeing thread it runs, then waits for the free
 * to have returned: the free never waits for the cell.  The session is
 * freed when the cell ends, before its aa_exec returns; the cell finishes
 * with its namespace and loop intact.
 */
START_TEST(free_from_another_thread_waits_for_the_cell)
{
    static const char *waits[] = {
        "L = asyncio.get_running_loop()\nfut = L.create_future()\n"
        "L.add_reader(FREED, fut.set_result, None)\n"
        "await asyncio.wait_for(fut, 30)\nL.remove_reader(FREED)\n",
        "select.select([FREED], [], [], 30)\n",
        "t = time.time()\n"
        "while not select.select([FREED], [], [], 0)[0] and "
        "time.time() - t < 30:\n    pass\n"};
    static freer f; /* static: with CK_FORK=no a failure leaves it behind */
    char cell[512];
    size_t i;

    alarm(ALARM_SECONDS);
    for (i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        int started[2], freed[2];
        aa_result *r;

        tu_clear();
        ck_assert_int_eq(pipe(started), 0);
        ck_assert_int_eq(pipe(freed), 0);
        memset(&f, 0, sizeof f);
        f.s = finalizing_session();
        f.wait_fd = started[0];
        f.done_fd = freed[1];
        ck_assert_int_eq(pthread_create(&f.thread, NULL, free_main, &f), 0);
        snprintf(cell, sizeof cell,
                 "import os, select, time\nFREED = %d\nos.write(%d, b'x')\n"
                 "%sprint('freed' if select.select([FREED], [], [], 0)[0] "
                 "else 'not freed')\ny * 2",
                 freed[0], started[1], waits[i]);
        r = tu_run(f.s, cell, AA_OK);
        ck_assert_str_eq(aa_result_repr(r), "10");
        ck_assert_str_eq(tu_stdout(), "freed\nfinalized\n");
        aa_result_free(r);
        pthread_join(f.thread, NULL);
        close(started[0]);
        close(started[1]);
        close(freed[0]);
        close(freed[1]);
    }
    tu_clear();
    alarm(0);
}
END_TEST

/* Two threads free one session at the same moment: it is freed once. */
START_TEST(two_threads_free_one_session)
{
    static freer f[2];
    pthread_barrier_t start;
    int round, i;

    alarm(ALARM_SECONDS);
    for (round = 0; round < 20; round++) {
        aa_session *s = finalizing_session();

        tu_clear();
        ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
        for (i = 0; i < 2; i++) {
            memset(&f[i], 0, sizeof f[i]);
            f[i].s = s;
            f[i].wait_fd = f[i].done_fd = -1;
            f[i].start = &start;
            ck_assert_int_eq(
                pthread_create(&f[i].thread, NULL, free_main, &f[i]), 0);
        }
        for (i = 0; i < 2; i++)
            pthread_join(f[i].thread, NULL);
        pthread_barrier_destroy(&start);
        ck_assert_str_eq(tu_stdout(), "finalized\n");
    }
    tu_clear();
    alarm(0);
}
END_TEST

static Suite *threads_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("threads", ALARM_SECONDS, &tc);

    tcase_add_test(tc, a_session_per_thread);
    tcase_add_test(tc, one_session_handed_between_threads);
    tcase_add_test(tc, two_threads_race_on_one_session);
    tcase_add_test(tc, output_of_sessions_on_two_threads_stays_apart);
    tcase_add_test(tc, a_cell_while_another_thread_imports_asyncio);
    tcase_add_test(tc, interrupts_from_another_thread);
    tcase_add_test(tc, interrupts_from_a_signal_handler);
    tcase_add_test(tc, free_from_another_thread_waits_for_the_cell);
    tcase_add_test(tc, two_threads_free_one_session);
    return suite;
}

int main(void)
{
    return tu_main(threads_suite());
}
