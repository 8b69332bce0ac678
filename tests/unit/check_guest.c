/*
 * check_guest.c -- the session as a guest of the host's event loop
 * (aa_session_fd, aa_session_timeout, aa_session_dispatch, aa_exec_start),
 * through the public header alone, the way a C host with a poll(2) loop of
 * its own uses it: a cell that never waits ends inside aa_exec_start, an
 * awaiting one ends in the host's loop without making it spin, one cell at
 * a time, a runner that cannot be a guest says so, interrupts and frees
 * reach a started cell, and the one fd stays served whatever cells do to
 * the loop.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include "testutil.h"

/* What a done callback was given, and how often. */
typedef struct {
    int calls;
    int status;
    aa_result *r;
    aa_session *s;
    int ended; /* the flag host_loop waits for */
} ending;

static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    ending *e = userdata;

    if (e->calls++ > 0)
        aa_result_free(e->r); /* a second call is the bug; keep the last */
    e->status = status;
    e->r = r;
    e->s = s;
    e->ended = 1;
}

static void ending_clear(ending *e)
{
    aa_result_free(e->r);
    memset(e, 0, sizeof *e);
}

/* Checks that done was called once, with status and a result of that
 * status, whose displayed value is repr (when repr is not NULL). */
static void expect_ended(const ending *e, int status, const char *repr)
{
    ck_assert_msg(e->calls == 1, "done called %d times", e->calls);
    ck_assert_msg(e->status == status, "status %d (%s), want %d\n%s%s",
                  e->status, aa_strerror(e->status), status,
                  aa_result_traceback(e->r) ? aa_result_traceback(e->r) : "",
                  aa_result_message(e->r) ? aa_result_message(e->r) : "");
    ck_assert_int_eq(aa_result_status(e->r), status);
    if (repr != NULL)
        ck_assert_str_eq(aa_result_repr(e->r) ? aa_result_repr(e->r) : "(null)",
                         repr);
}

/* What the host's loop saw: dispatches made, and those that failed. */
static int host_dispatches, host_failures, host_last_failure;

/*
 * The host's own loop, as a C program built on poll(2) runs it: waits for
 * the session fd to be readable for at most aa_session_timeout (and the
 * time left), dispatches, and goes on until *flag is set (flag may be
 * NULL) or seconds (stretched by tu_scale) have passed.  A signal that
 * interrupts poll is a reason to dispatch, as in any loop.  Once *flag is
 * set s is not touched again: the done callback that set it may have freed
 * the session.  Returns the number of dispatches.
 */
static int host_loop(aa_session *s, const int *flag, double seconds)
{
    double end = tu_now() + seconds * tu_scale();
    int n = 0;

    host_failures = host_last_failure = 0;
    while (flag == NULL || !*flag) {
        struct pollfd p = {aa_session_fd(s), POLLIN, 0};
        double left = end - tu_now();
        int wait, timeout = aa_session_timeout(s), rc;

        if (left <= 0)
            break;
        wait = (int)ceil(left * 1000.0);
        if (timeout >= 0 && timeout < wait)
            wait = timeout;
        ck_assert_msg(poll(&p, 1, wait) >= 0 || errno == EINTR, "poll: %s",
                      strerror(errno));
        rc = aa_session_dispatch(s);
        n++;
        if (rc != AA_OK) {
            host_failures++;
            host_last_failure = rc;
        }
    }
    host_dispatches = n;
    return n;
}

/* aa_exec_start of the NUL-terminated src. */
static int start_cell(aa_session *s, const char *src, aa_done_fn done,
                      void *userdata)
{
    return aa_exec_start(s, src, strlen(src), done, userdata);
}

/* Starts src on s with e as its done's userdata; wants AA_OK. */
static void start(aa_session *s, const char *src, ending *e)
{
    int rc = start_cell(s, src, on_done, e);

    ck_assert_msg(rc == AA_OK, "aa_exec_start(%s): %s, %s", src,
                  aa_strerror(rc), aa_session_errmsg(s));
}

/* Starts src, runs the host's loop until it ends (at most 10 s) and checks
 * the status; the result is in e, which the caller clears. */
static void run_guest(aa_session *s, const char *src, int want, ending *e)
{
    start(s, src, e);
    host_loop(s, &e->ended, 10.0);
    expect_ended(e, want, NULL);
}

/* run_guest wanting AA_OK and the displayed value repr (NULL: none). */
static void expect_guest(aa_session *s, const char *src, const char *repr)
{
    ending e = {0};

    run_guest(s, src, AA_OK, &e);
    expect_ended(&e, AA_OK, repr != NULL ? repr : "(null)");
    ending_clear(&e);
}

static const char *or_none(const char *text)
{
    return text != NULL ? text : "(null)";
}

/* ------------------------------------------------ cells that never wait */

START_TEST(cells_that_never_wait_end_inside_aa_exec_start)
{
    static const struct {
        const char *src;
        int status;
    } cells[] = {
        {"x = 6 * 7\nx", AA_OK},
        {"%autoawait", AA_OK},
        {"1 +", AA_SYNTAX_ERROR},
        {"1 / 0", AA_EXCEPTION},
        {"raise SystemExit(4)", AA_SYSTEM_EXIT},
        {"", AA_OK},
    };
    aa_session *s = tu_session(NULL);
    size_t i;

    for (i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        const char *src = cells[i].src;
        aa_result *want = NULL;
        ending e = {0};
        int rc = aa_execn(s, src, strlen(src), &want);

        char *printed;

        ck_assert_int_eq(rc, cells[i].status);
        printed = strdup(tu_stdout());
        tu_clear();
        rc = aa_exec_start(s, src, strlen(src), on_done, &e);
        ck_assert_msg(rc == AA_OK, "%s: %s", src, aa_strerror(rc));
        /* Ended before aa_exec_start returned, once, with what aa_execn
         * gives for the same cell. */
        ck_assert_msg(e.calls == 1, "%s: done called %d times", src, e.calls);
        ck_assert_ptr_eq(e.s, s);
        ck_assert_int_eq(e.status, cells[i].status);
        ck_assert_int_eq(aa_result_status(e.r), cells[i].status);
        ck_assert_int_eq(aa_result_is_async(e.r), 0);
        ck_assert_str_eq(or_none(aa_result_repr(e.r)),
                         or_none(aa_result_repr(want)));
        ck_assert_str_eq(or_none(aa_result_exception(e.r)),
                         or_none(aa_result_exception(want)));
        /* The same message, but for the cell's number in a SyntaxError's. */
        if (cells[i].status != AA_SYNTAX_ERROR)
            ck_assert_str_eq(or_none(aa_result_message(e.r)),
                             or_none(aa_result_message(want)));
        else
            ck_assert_ptr_nonnull(
                strstr(or_none(aa_result_message(e.r)), "invalid syntax"));
        ck_assert_int_eq(aa_result_exit_code(e.r), aa_result_exit_code(want));
        /* It printed the same, through the session's callback. */
        ck_assert_str_eq(tu_stdout(), printed);
        if (strcmp(src, "%autoawait") == 0)
            ck_assert_str_eq(printed, "autoawait is `on`, and set to use "
                                      "`asyncio`\n");
        free(printed);
        tu_clear();
        aa_result_free(want);
        ending_clear(&e);
    }
    tu_expect(s, "x", "42");
    /* Without done the result is freed (memcheck and LeakSanitizer see a
     * leak otherwise), for a cell that ends at once and for one that ends
     * in the host's loop. */
    ck_assert_int_eq(start_cell(s, "big = 'y' * 100000\nbig", NULL, NULL),
                     AA_OK);
    ck_assert_int_eq(start_cell(s, "1 +", NULL, NULL), AA_OK);
    ck_assert_int_eq(start_cell(s,
                                "import asyncio\nawait asyncio.sleep(0.01)\n"
                                "done_without_callback = 'y' * 1000\n"
                                "done_without_callback",
                                NULL, NULL),
                     AA_OK);
    host_loop(s, NULL, 0.3);
    tu_expect(s, "len(done_without_callback)", "1000");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* -------------------------------------------- an awaiting cell, no spin */

START_TEST(an_awaiting_cell_ends_in_the_hosts_loop_without_spinning)
{
    aa_session *s = tu_session(NULL);
    /* 0.2 s, stretched with the other bounds under valgrind. */
    double sleep_s = 0.2 * tu_scale(), t0, started;
    ending e = {0};
    char src[64];
    int timeout;

    snprintf(src, sizeof src, "await asyncio.sleep(%.3f, result=42)", sleep_s);

    ck_assert_int_eq(aa_session_timeout(s), -1);
    /* The session's loop is made and asyncio imported once, by the first
     * async cell; after it nothing is pending. */
    tu_do(s, "import asyncio\nawait asyncio.sleep(0)", AA_OK);
    ck_assert_int_eq(aa_session_timeout(s), -1);
    t0 = tu_now();
    start(s, src, &e);
    started = tu_now() - t0;
    ck_assert_msg(started < 0.1 * tu_scale(), "aa_exec_start took %.3f s",
                  started);
    ck_assert_int_eq(e.calls, 0);
    /* The task is ready to take its first step. */
    ck_assert_int_eq(aa_session_timeout(s), 0);
    /* It has, and sleeps: the session is due when its timer is. */
    ck_assert_int_eq(aa_session_dispatch(s), AA_OK);
    ck_assert_int_eq(e.calls, 0);
    timeout = aa_session_timeout(s);
    ck_assert_msg(timeout > 0 && timeout <= sleep_s * 1000, "timeout %d",
                  timeout);
    host_loop(s, &e.ended, 10.0);
    expect_ended(&e, AA_OK, "42");
    ck_assert_msg(tu_now() - t0 >= sleep_s - 0.01, "ended after %.3f s",
                  tu_now() - t0);
    ck_assert_int_eq(aa_result_is_async(e.r), 1);
    ck_assert_msg(host_dispatches < 50, "%d dispatches in %.3f s",
                  host_dispatches, sleep_s);
    ck_assert_int_eq(host_failures, 0);
    /* Nothing is pending any more, and a dispatch is then a no-op. */
    ck_assert_int_eq(aa_session_timeout(s), -1);
    ck_assert_int_eq(aa_session_dispatch(s), AA_OK);
    ck_assert_int_eq(e.calls, 1);
    ending_clear(&e);
    /* The cell's names are the session's. */
    tu_expect(s, "_", "42");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* --------------------------------------------------- one cell at a time */

START_TEST(one_started_cell_at_a_time)
{
    aa_session *s = tu_session(NULL);
    ending first = {0}, second = {0};
    aa_result *r = NULL;

    start(s, "import asyncio\nawait asyncio.sleep(0.1, result='first')",
          &first);
    ck_assert_int_eq(start_cell(s, "ran = 1", on_done, &second), AA_EBUSY);
    ck_assert_int_eq(
        start_cell(s, "await asyncio.sleep(0)\nran = 1", on_done, &second),
        AA_EBUSY);
    ck_assert_int_eq(second.calls, 0);
    ck_assert_int_eq(aa_exec(s, "ran = 2", &r), AA_EBUSY);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(aa_result_status(r), AA_EBUSY);
    aa_result_free(r);
    ck_assert_int_eq(aa_session_set_runner(s, "echo"), AA_EBUSY);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    host_loop(s, &first.ended, 10.0);
    ck_assert_int_eq(first.status, AA_OK);
    ck_assert_str_eq(or_none(aa_result_repr(first.r)), "'first'");
    ck_assert_int_eq(second.calls, 0);
    /* None of the refused cells ran. */
    tu_expect(s, "'ran' in globals()", "False");
    ending_clear(&first);
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* What the write callback of a session saw when it called into it. */
static int nested_dispatch = 1, nested_start = 1;

static void call_from_cell(void *userdata, int stream, const char *data,
                           size_t len)
{
    aa_session *s = *(aa_session **)userdata;

    (void)stream;
    (void)data;
    (void)len;
    nested_dispatch = aa_session_dispatch(s);
    nested_start = start_cell(s, "1", NULL, NULL);
}

/* Runs src in a session whose write callback calls aa_session_dispatch
 * and aa_exec_start on it, and checks that both answered AA_EBUSY. */
static void expect_busy_inside(const char *src)
{
    aa_session *s = NULL;
    ending e = {0};
    aa_options o;

    aa_options_init(&o);
    o.write = call_from_cell;
    o.userdata = &s;
    ck_assert_int_eq(aa_session_new(&s, &o), AA_OK);
    nested_dispatch = nested_start = 1;
    run_guest(s, src, AA_OK, &e);
    ending_clear(&e);
    ck_assert_msg(nested_dispatch == AA_EBUSY,
                  "aa_session_dispatch from the write callback answered %d",
                  nested_dispatch);
    ck_assert_msg(nested_start == AA_EBUSY,
                  "aa_exec_start from the write callback answered %d",
                  nested_start);
    aa_session_free(s);
}

/* An awaiting cell that prints in a step of the host's dispatch, when the
 * session has work (its timer is due). */
START_TEST(dispatch_from_inside_a_cell_is_busy)
{
    expect_busy_inside("import asyncio\nawait asyncio.sleep(0.01)\n"
                       "print('hi')");
}
END_TEST

/*
 * Failed on the core of 1b3364c, which looked for work before it looked
 * whether it was called from inside the session.  A sync cell that prints
 * inside aa_exec_start, in a session with nothing pending: aa_session_dispatch
 * from the write callback answers AA_OK, not the AA_EBUSY the header promises
 * for a call from inside a cell, because aa_session_dispatch looks for work
 * before it looks whether the session is busy.
 */
START_TEST(dispatch_from_inside_a_cell_is_busy_with_nothing_ready)
{
    expect_busy_inside("print('hi')");
}
END_TEST

/* ---------------------------------------- runners that cannot be guests */

/* Checks, on s whose runner is called name and cannot be a guest, that an
 * async cell is refused by aa_exec_start and runs under aa_exec, and that
 * a sync cell still goes through aa_exec_start. */
static void expect_not_a_guest(aa_session *s, const char *name)
{
    const char *async_cell = "async def f():\n    return 5\nv = await f()\nv";
    char quoted[64];
    ending e = {0};
    int rc;

    snprintf(quoted, sizeof quoted, "'%s'", name);
    rc = start_cell(s, async_cell, on_done, &e);
    ck_assert_msg(rc == AA_ENOTSUP, "%s: %s", name, aa_strerror(rc));
    ck_assert_msg(strstr(aa_session_errmsg(s), quoted) != NULL &&
                      strstr(aa_session_errmsg(s), "aa_exec") != NULL,
                  "%s: errmsg %s", name, aa_session_errmsg(s));
    host_loop(s, NULL, 0.05);
    ck_assert_int_eq(e.calls, 0);
    tu_expect(s, "'v' in globals()", "False");
    rc = start_cell(s, "w = 2 + 3\nw", on_done, &e);
    ck_assert_int_eq(rc, AA_OK);
    expect_ended(&e, AA_OK, "5");
    ending_clear(&e);
    tu_expect(s, async_cell, "5");
}

START_TEST(a_runner_without_guest_entries_answers_enotsup)
{
    aa_session *s = tu_session("echo"); /* the fixture, via AA_RUNNER_PATH */

    expect_not_a_guest(s, "echo");
    aa_session_free(s);

    /* A Python callable made a runner has no guest entries either; back on
     * asyncio the same cell starts. */
    s = tu_session(NULL);
    tu_do(s,
          "import asyncio\ndef my_runner(coro):\n"
          "    return asyncio.new_event_loop().run_until_complete(coro)",
          AA_OK);
    tu_do(s, "%autoawait my_runner", AA_OK);
    expect_not_a_guest(s, "my_runner");
    tu_do(s, "%autoawait asyncio", AA_OK);
    expect_guest(s, "await asyncio.sleep(0.01, result='guest')", "'guest'");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* ----------------------------------------------------------- interrupts */

static const char *sleeper = "import asyncio\ntry:\n"
                             "    await asyncio.sleep(30)\nfinally:\n"
                             "    print('cleanup')\n";

/* Checks that e ended with KeyboardInterrupt after its cleanup printed,
 * within a second of t0, then that the session runs the next cell. */
static void expect_interrupted(aa_session *s, ending *e, double t0)
{
    double took = tu_now() - t0;

    expect_ended(e, AA_EXCEPTION, NULL);
    ck_assert_str_eq(or_none(aa_result_exception(e->r)), "KeyboardInterrupt");
    ck_assert_msg(took < 1.0 * tu_scale(), "stopped after %.3f s", took);
    ck_assert_str_eq(tu_stdout(), "cleanup\n");
    ending_clear(e);
    expect_guest(s, "await asyncio.sleep(0.01, result='next')", "'next'");
}

START_TEST(aa_interrupt_cancels_a_started_cell)
{
    aa_session *s = tu_session(NULL);
    ending e = {0};
    double t0;

    start(s, sleeper, &e);
    host_loop(s, &e.ended, 0.1);
    ck_assert_int_eq(e.calls, 0);
    t0 = tu_now();
    aa_interrupt(s);
    host_loop(s, &e.ended, 5.0);
    expect_interrupted(s, &e, t0);
    aa_session_free(s);
    tu_clear();
}
END_TEST

static aa_session *signal_target;

static void on_sigalrm(int sig)
{
    (void)sig;
    aa_interrupt(signal_target);
}

START_TEST(aa_interrupt_from_a_signal_handler_while_the_host_polls)
{
    aa_session *s = tu_session(NULL);
    struct itimerval in_200ms = {{0, 0}, {0, 200000}};
    struct sigaction sa;
    ending e = {0};
    double t0;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigalrm;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    signal_target = s;
    start(s, sleeper, &e);
    t0 = tu_now();
    ck_assert_int_eq(setitimer(ITIMER_REAL, &in_200ms, NULL), 0);
    host_loop(s, &e.ended, 10.0);
    ck_assert_msg(tu_now() - t0 >= 0.19, "ended after %.3f s", tu_now() - t0);
    expect_interrupted(s, &e, t0 + 0.2);
    signal(SIGALRM, SIG_IGN);
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* -------------------------------------------------------------- the end */

/* Whether another session sees the mark a cell left in sys (which all
 * sessions share). */
static int sys_mark(const char *name)
{
    aa_session *x = tu_session_with(NULL, NULL);
    char src[96];
    aa_result *r;
    int set;

    snprintf(src, sizeof src, "import sys\ngetattr(sys, '%s', None)", name);
    r = tu_run(x, src, AA_OK);
    set = aa_result_repr(r) != NULL;
    aa_result_free(r);
    aa_session_free(x);
    return set;
}

/* What a start from a done called by aa_session_free answered. */
static int start_in_free = 1;

static void start_on_done(void *userdata, aa_session *s, int status,
                          aa_result *r)
{
    on_done(userdata, s, status, r);
    start_in_free = start_cell(s, "1", NULL, NULL);
}

START_TEST(freeing_the_session_ends_its_started_cell_first)
{
    aa_session *s = tu_session(NULL);
    const char *src = "import asyncio, sys\ntry:\n    await asyncio.sleep(30)\n"
                      "finally:\n    sys._aa_guest_finally = 1\n";
    ending e = {0};

    ck_assert_int_eq(start_cell(s, src, start_on_done, &e), AA_OK);
    host_loop(s, &e.ended, 0.1);
    ck_assert_int_eq(e.calls, 0);
    ck_assert_int_eq(sys_mark("_aa_guest_finally"), 0);
    aa_session_free(s);
    expect_ended(&e, AA_EXCEPTION, NULL);
    ck_assert_ptr_eq(e.s, s);
    ck_assert_str_eq(or_none(aa_result_exception(e.r)), "KeyboardInterrupt");
    ck_assert_int_eq(sys_mark("_aa_guest_finally"), 1);
    /* The session is on its way out: done cannot start another cell. */
    ck_assert_int_eq(start_in_free, AA_EBUSY);
    ending_clear(&e);
    tu_clear();
}
END_TEST

/*
 * Failed on the core of 1b3364c, whose freeing session refused its own
 * bracket and so its streams.  What a started cell's cleanup prints while
 * aa_session_free ends it is the session's output, as the runner's
 * cleanup during the free is (destroy() in session.c), and what a running
 * cell writes goes to the callback (aa_write_fn).  It goes to the
 * process's stdout instead: aa__session_finish_started's bracket is
 * refused once the free has begun, and the streams are not put in place.
 */
START_TEST(a_freed_cells_cleanup_prints_through_the_callback)
{
    aa_session *s = tu_session(NULL);
    ending e = {0};

    start(s, sleeper, &e);
    host_loop(s, &e.ended, 0.1);
    aa_session_free(s);
    ck_assert_int_eq(e.calls, 1);
    ck_assert_str_eq(tu_stdout(), "cleanup\n");
    ending_clear(&e);
    tu_clear();
}
END_TEST

/* A done that frees its session. */
static void free_on_done(void *userdata, aa_session *s, int status,
                         aa_result *r)
{
    on_done(userdata, s, status, r);
    aa_session_free(s);
}

START_TEST(done_may_free_the_session)
{
    int i;

    /* Called from aa_exec_start (a sync cell), and from a dispatch. */
    for (i = 0; i < 2; i++) {
        const char *src =
            i == 0 ? "'bye'"
                   : "import asyncio\nawait asyncio.sleep(0.05)\n'bye'";
        aa_session *s = tu_session(NULL);
        ending e = {0};

        ck_assert_int_eq(start_cell(s, src, free_on_done, &e), AA_OK);
        if (i == 1) {
            ck_assert_int_eq(e.calls, 0);
            host_loop(s, &e.ended, 10.0);
        }
        expect_ended(&e, AA_OK, "'bye'");
        /* Gone: a second free does nothing. */
        aa_session_free(s);
        ending_clear(&e);
    }
    tu_clear();
}
END_TEST

/* A chain of cells, each started by the done of the one before. */
typedef struct {
    const char *const *cells;
    int next;
    ending last;
    int failed;      /* aa_exec_start's status when it was not AA_OK */
    int exec_failed; /* the same for aa_exec */
} chain;

static void chain_on(void *userdata, aa_session *s, int status, aa_result *r)
{
    chain *c = userdata;
    const char *src = c->cells[c->next];
    int rc;

    if (src == NULL || status != AA_OK) {
        on_done(&c->last, s, status, r);
        return;
    }
    aa_result_free(r);
    c->next++;
    /* A blocking cell in between works there too. */
    if ((rc = aa_exec(s, "execs = globals().get('execs', 0) + 1", NULL)) !=
        AA_OK)
        c->exec_failed = rc;
    rc = start_cell(s, src, chain_on, c);
    if (rc != AA_OK) {
        c->failed = rc;
        c->last.ended = 1;
    }
}

START_TEST(done_may_start_the_next_cell)
{
    static const char *const cells[] = {
        "x = 1",    "import asyncio\nawait asyncio.sleep(0.02)\nx += 10",
        "x += 100", "await asyncio.sleep(0.02)\nx += 1000\nx",
        NULL,
    };
    aa_session *s = tu_session(NULL);
    chain c = {cells, 1, {0}, 0, 0};

    ck_assert_int_eq(start_cell(s, cells[0], chain_on, &c), AA_OK);
    host_loop(s, &c.last.ended, 10.0);
    ck_assert_msg(c.failed == AA_OK, "a start from done: %s",
                  aa_strerror(c.failed));
    ck_assert_msg(c.exec_failed == AA_OK, "aa_exec from done: %s",
                  aa_strerror(c.exec_failed));
    ck_assert_int_eq(c.next, 4);
    expect_ended(&c.last, AA_OK, "1111");
    ending_clear(&c.last);
    tu_expect(s, "execs", "3");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* aa_session_poll, the blocking form, dispatches a started cell too, and
 * calls its done. */
START_TEST(aa_session_poll_ends_a_started_cell)
{
    aa_session *s = tu_session(NULL);
    ending e = {0};
    double t0 = tu_now();

    start(s, "import asyncio\nawait asyncio.sleep(0.1, result='polled')", &e);
    while (e.calls == 0 && tu_now() - t0 < 10.0 * tu_scale())
        ck_assert_int_eq(aa_session_poll(s, -1, 50), 0);
    expect_ended(&e, AA_OK, "'polled'");
    ending_clear(&e);
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* A runner whose enter fails fails the cell, not the start: done gets
 * AA_ERUNNER (the fixture 'enterfail', via AA_RUNNER_PATH). */
START_TEST(a_cell_that_fails_once_taken_ends_in_done)
{
    aa_session *s = tu_session("enterfail");
    ending e = {0};

    ck_assert_int_eq(start_cell(s, "1 + 1", on_done, &e), AA_OK);
    expect_ended(&e, AA_ERUNNER, NULL);
    ck_assert_ptr_nonnull(
        strstr(or_none(aa_result_message(e.r)), "'enterfail'"));
    ending_clear(&e);
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* ------------------------------------------------ one fd, always served */

/* The number a sync cell src of s displays. */
static int count(aa_session *s, const char *src)
{
    aa_result *r = tu_run(s, src, AA_OK);
    int n = atoi(or_none(aa_result_repr(r)));

    aa_result_free(r);
    return n;
}

/*
 * Runs the host's loop on s, no cell running, for 0.3 s and checks that
 * the background work a cell set up made at least 5 ticks (the length of
 * the list called ticks), without failures or a spin.
 */
static void expect_ticks(aa_session *s, const char *ticks, const char *what)
{
    char src[64];
    int before, after;

    snprintf(src, sizeof src, "len(%s)", ticks);
    before = count(s, src);
    host_loop(s, NULL, 0.3);
    after = count(s, src);
    ck_assert_int_eq(host_failures, 0);
    ck_assert_msg(host_dispatches < 100 * tu_scale(),
                  "%s: %d dispatches in 0.3 s", what, host_dispatches);
    ck_assert_msg(after - before >= 5, "%s: %d %s in 0.3 s", what,
                  after - before, ticks);
}

/*
 * Checks that s, whose fd is fd, is still served by the host's loop while
 * no cell runs: a task a started cell made ticks every 20 ms (the timer
 * side: aa_session_timeout), and callbacks a thread hands the loop every
 * 20 ms run (the I/O side: the loop's self-pipe behind the session fd, for
 * nothing else wakes the host then); and an awaiting cell started
 * afterwards ends.  what says after what, for the messages.
 */
static void expect_served(aa_session *s, int fd, const char *what)
{
    ck_assert_msg(aa_session_fd(s) == fd, "%s: fd %d, was %d", what,
                  aa_session_fd(s), fd);
    expect_guest(s,
                 "import asyncio\nticks = []\nasync def ticker():\n"
                 "    while True:\n        ticks.append(1)\n"
                 "        await asyncio.sleep(0.02)\n"
                 "t = asyncio.get_running_loop().create_task(ticker())\n"
                 "await asyncio.sleep(0)",
                 NULL);
    expect_ticks(s, "ticks", what);
    tu_do(s, "t.cancel()", AA_OK);
    host_loop(s, NULL, 0.05);
    expect_guest(s,
                 "import threading\nfeeds = []\nstop = threading.Event()\n"
                 "loop = asyncio.get_running_loop()\ndef feeder():\n"
                 "    while not stop.wait(0.02):\n"
                 "        loop.call_soon_threadsafe(feeds.append, 1)\n"
                 "feeder_thread = threading.Thread(target=feeder)\n"
                 "feeder_thread.start()\nawait asyncio.sleep(0)",
                 NULL);
    expect_ticks(s, "feeds", what);
    tu_do(s, "stop.set()\nfeeder_thread.join()", AA_OK);
    expect_guest(s, "await asyncio.sleep(0.1, result='slept')", "'slept'");
    ck_assert_int_eq(aa_session_fd(s), fd);
}

START_TEST(the_session_fd_stays_the_same_and_served)
{
    aa_session *s = tu_session(NULL);
    int fd = aa_session_fd(s);

    ck_assert_int_ge(fd, 3);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    expect_served(s, fd, "a new session");
    expect_guest(s, "asyncio.get_event_loop().close()", NULL);
    expect_served(s, fd, "a closed loop");
    expect_guest(s, "asyncio.set_event_loop(asyncio.new_event_loop())", NULL);
    expect_served(s, fd, "a replaced loop");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(the_session_fd_is_served_after_a_runner_switch)
{
    aa_session *s;
    int fd;

    if (tu_missing("trio", " (pip install trio)"))
        return;
    s = tu_session(NULL);
    fd = aa_session_fd(s);
    expect_guest(s, "%autoawait trio", NULL);
    /* aa_exec: the trio cell runs whether or not its runner is a guest. */
    tu_expect(s, "import trio\nawait trio.sleep(0.05)\n'trio'", "'trio'");
    ck_assert_int_eq(aa_session_fd(s), fd);
    expect_guest(s, "%autoawait asyncio", NULL);
    expect_served(s, fd, "trio and back");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* ------------------------------------------- exceptions escaping a loop */

START_TEST(an_exception_escaping_the_loop_ends_the_started_cell)
{
    aa_session *s = tu_session(NULL);
    ending e = {0};

    run_guest(s,
              "import asyncio\ndef boom():\n    raise SystemExit(5)\n"
              "asyncio.get_running_loop().call_later(0.05, boom)\n"
              "try:\n    await asyncio.sleep(10)\nfinally:\n"
              "    print('cleanup')\n",
              AA_SYSTEM_EXIT, &e);
    ck_assert_int_eq(aa_result_exit_code(e.r), 5);
    ck_assert_str_eq(tu_stdout(), "cleanup\n");
    ending_clear(&e);
    expect_guest(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(an_exception_escaping_the_loop_between_cells_is_reported)
{
    aa_session *s = tu_session(NULL);

    expect_guest(s, "import asyncio\nawait asyncio.sleep(0)", NULL);
    tu_do(s,
          "def boom():\n    raise KeyboardInterrupt('from a callback')\n"
          "asyncio.get_event_loop().call_later(0.05, boom)",
          AA_OK);
    host_loop(s, NULL, 0.3);
    ck_assert_int_eq(host_failures, 1);
    ck_assert_int_eq(host_last_failure, AA_ERUNNER);
    ck_assert_msg(strstr(aa_session_errmsg(s), "KeyboardInterrupt") != NULL,
                  "errmsg: %s", aa_session_errmsg(s));
    ck_assert_msg(strstr(tu_stderr(), "Traceback") != NULL &&
                      strstr(tu_stderr(), "from a callback") != NULL,
                  "stderr: %s", tu_stderr());
    expect_guest(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* --------------------------------------------------------------- misuse */

START_TEST(null_and_bad_arguments)
{
    aa_session *s = tu_session(NULL);
    ending e = {0};

    ck_assert_int_eq(aa_session_fd(NULL), AA_EINVAL);
    ck_assert_int_eq(aa_session_timeout(NULL), -1);
    ck_assert_int_eq(aa_session_dispatch(NULL), AA_EINVAL);
    ck_assert_int_eq(aa_exec_start(NULL, "1", 1, on_done, &e), AA_EINVAL);
    ck_assert_int_eq(aa_exec_start(s, NULL, 1, on_done, &e), AA_EINVAL);
    ck_assert_int_eq(e.calls, 0);
    /* NULL and no bytes is an empty cell, as for aa_execn. */
    ck_assert_int_eq(aa_exec_start(s, NULL, 0, on_done, &e), AA_OK);
    expect_ended(&e, AA_OK, NULL);
    ending_clear(&e);
    /* A NUL among the bytes is a syntax error, not a truncation. */
    ck_assert_int_eq(aa_exec_start(s, "1\0 +", 4, on_done, &e), AA_OK);
    expect_ended(&e, AA_SYNTAX_ERROR, NULL);
    ending_clear(&e);
    aa_session_free(s);
    tu_clear();
}
END_TEST

static Suite *guest_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("guest", 60, &tc);

    tcase_add_test(tc, cells_that_never_wait_end_inside_aa_exec_start);
    tcase_add_test(tc,
                   an_awaiting_cell_ends_in_the_hosts_loop_without_spinning);
    tcase_add_test(tc, one_started_cell_at_a_time);
    tcase_add_test(tc, dispatch_from_inside_a_cell_is_busy);
    tcase_add_test(tc, a_runner_without_guest_entries_answers_enotsup);
    tcase_add_test(tc, aa_interrupt_cancels_a_started_cell);
    tcase_add_test(tc, aa_interrupt_from_a_signal_handler_while_the_host_polls);
    tcase_add_test(tc, freeing_the_session_ends_its_started_cell_first);
    tcase_add_test(tc, done_may_free_the_session);
    tcase_add_test(tc, done_may_start_the_next_cell);
    tcase_add_test(tc, aa_session_poll_ends_a_started_cell);
    tcase_add_test(tc, a_cell_that_fails_once_taken_ends_in_done);
    tcase_add_test(tc, the_session_fd_stays_the_same_and_served);
    tcase_add_test(tc, the_session_fd_is_served_after_a_runner_switch);
    tcase_add_test(tc, an_exception_escaping_the_loop_ends_the_started_cell);
    tcase_add_test(tc,
                   an_exception_escaping_the_loop_between_cells_is_reported);
    tcase_add_test(tc, null_and_bad_arguments);
    tcase_add_test(tc, dispatch_from_inside_a_cell_is_busy_with_nothing_ready);
    tcase_add_test(tc, a_freed_cells_cleanup_prints_through_the_callback);
    return suite;
}

int main(void)
{
    return tu_main(guest_suite());
}
