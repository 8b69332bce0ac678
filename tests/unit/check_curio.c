/*
 * check_curio.c -- the curio runner: cells on the session's kernel, tasks
 * that outlive their cell, tracebacks, interrupts, context variables,
 * polling, switching runners, nesting, and the kernel's shutdown; and the
 * session as a guest of a host's loop (aa_exec_start, aa_session_fd,
 * aa_session_timeout, aa_session_dispatch).  curio is not a Debian
 * package: every test passes with a SKIP line when it cannot be imported
 * (put its source on PYTHONPATH to run them).
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <unistd.h>

#include "testutil.h"

/* 1 (after a SKIP line) when curio cannot be imported. */
static int curio_missing(void)
{
    return tu_missing("curio", " (put its source on PYTHONPATH to run these)");
}

/* Runs src while another thread interrupts s after 300 ms. */
static aa_result *run_interrupted(aa_session *s, const char *src, int want,
                                  double *took)
{
    tu_interrupter it = {.delay_ms = 300, .count = 1};

    return tu_run_interrupted(s, src, want, &it, took);
}

/* What a started cell's done callback got. */
typedef struct done_box {
    int calls;
    int status;
    aa_result *result;
} done_box;

static void on_done(void *userdata, aa_session *s, int status,
                    aa_result *result)
{
    done_box *d = userdata;

    (void)s;
    d->calls++;
    d->status = status;
    d->result = result;
}

/* Starts src in s; fails the test unless it started, and returns the
 * seconds aa_exec_start took. */
static double start_cell(aa_session *s, const char *src, done_box *d)
{
    double t0 = tu_now();

    ck_assert_int_eq(aa_exec_start(s, src, strlen(src), on_done, d), AA_OK);
    return tu_now() - t0;
}

/*
 * A host's loop, as small as one gets: poll(2) on the session's fd for the
 * session's timeout, then aa_session_dispatch, until d (when not NULL) has
 * its done call or seconds (stretched by tu_scale()) have passed.  Returns
 * how many times it dispatched.
 */
static int host_loop(aa_session *s, done_box *d, double seconds)
{
    double end = tu_now() + seconds * tu_scale(), left;
    struct pollfd p = {aa_session_fd(s), POLLIN, 0};
    int timeout, n = 0;

    ck_assert_int_ge(p.fd, 0);
    while ((d == NULL || d->calls == 0) && (left = end - tu_now()) > 0) {
        timeout = aa_session_timeout(s);
        if (timeout < 0 || timeout > left * 1000)
            timeout = (int)(left * 1000) + 1;
        ck_assert_int_ge(poll(&p, 1, timeout), 0);
        ck_assert_int_eq(aa_session_dispatch(s), AA_OK);
        n++;
    }
    return n;
}

/* The int the sync expression src displays in s. */
static long int_of(aa_session *s, const char *src)
{
    aa_result *r = tu_run(s, src, AA_OK);
    long v = atol(aa_result_repr(r));

    aa_result_free(r);
    return v;
}

START_TEST(runs_and_displays)
{
    aa_session *s;
    aa_result *r;

    if (curio_missing())
        return;
    s = tu_session("curio");
    r = tu_run(s,
               "import curio\nasync def f():\n    await curio.sleep(0)\n"
               "    return 'curio ok'\nawait f()",
               AA_OK);
    ck_assert_int_eq(aa_result_is_async(r), 1);
    ck_assert_str_eq(aa_result_repr(r), "'curio ok'");
    aa_result_free(r);
    r = tu_run(s, "1 + 1", AA_OK);
    ck_assert_int_eq(aa_result_is_async(r), 0);
    aa_result_free(r);
    /* A sync cell may run curio itself. */
    tu_expect(s, "async def m():\n    return 5\ncurio.run(m)", "5");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(tasks_outlive_their_cell)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio\nlog = []\nasync def worker():\n"
          "    await curio.sleep(0.05)\n    log.append('done')\n    return 7\n"
          "t = await curio.spawn(worker)\nlog",
          AA_OK);
    tu_expect(s, "log", "[]");
    tu_expect(s, "await curio.sleep(0.1)\nlog", "['done']");
    tu_expect(s, "await t.join()", "7");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(exception_keeps_user_frames_only)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_expect_user_frames_only(s, "curio", "curio/");
    tu_expect(s, "await curio.sleep(0)\nok = 'usable'\nok", "'usable'");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(asyncio_under_curio_fails_and_session_goes_on)
{
    aa_session *s;
    aa_result *r;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio\nlog = []\nasync def later():\n"
          "    await curio.sleep(0.05)\n    log.append('later')\n"
          "await curio.spawn(later, daemon=True)",
          AA_OK);
    r = tu_run(s, "import asyncio\nawait asyncio.sleep(0)", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "TypeError");
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "curio cannot run"));
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "<cell-2>"));
    aa_result_free(r);
    /* The kernel, and the task it runs, go on. */
    tu_expect(s, "await curio.sleep(0.1)\nlog", "['later']");
    /* A spawned task has no such guard: curio disables the kernel, and the
     * session gets a new one. */
    r = tu_run(s,
               "async def foreign():\n    await asyncio.sleep(0)\n"
               "await curio.spawn(foreign)\nawait curio.sleep(0.01)",
               AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "TypeError");
    aa_result_free(r);
    tu_expect(s, "await curio.sleep(0.01)\nlog", "['later']");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(interrupt_cancels_with_cleanup)
{
    aa_session *s;
    aa_result *r;
    double took;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio\nlog = []\nasync def ticker():\n"
          "    while True:\n        await curio.sleep(0.01)\n"
          "        log.append(1)\n"
          "bg = await curio.spawn(ticker, daemon=True)",
          AA_OK);
    r = run_interrupted(s,
                        "try:\n    log.append('start')\n"
                        "    await curio.sleep(30)\n"
                        "    log.append('resumed')\nfinally:\n"
                        "    print('cleanup ran')\n",
                        AA_EXCEPTION, &took);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    ck_assert_msg(took < 2.0 * tu_scale(), "the cell took %.2f s to stop",
                  took);
    ck_assert_str_eq(tu_stdout(), "cleanup ran\n");
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "<cell-2>"));
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "TaskCancelled"));
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "curio/"));
    aa_result_free(r);
    /* The kernel goes on, its other task with it. */
    tu_expect(s,
              "n = len(log)\nawait curio.sleep(0.05)\n"
              "('resumed' in log, len(log) > n, bg.terminated)",
              "(False, True, False)");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(interrupt_runs_aexit_and_a_caught_cancel_returns)
{
    aa_session *s;
    aa_result *r;
    double took;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio, contextlib\nexits = []\n"
          "@contextlib.asynccontextmanager\nasync def cm():\n"
          "    try:\n        yield\n    finally:\n"
          "        await curio.sleep(0)\n        exits.append('aexit')\n",
          AA_OK);
    r = run_interrupted(s, "async with cm():\n    await curio.sleep(30)",
                        AA_EXCEPTION, &took);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    aa_result_free(r);
    tu_expect(s, "exits", "['aexit']");
    r = run_interrupted(
        s,
        "try:\n    await curio.sleep(30)\n"
        "except curio.TaskCancelled:\n    caught = True\ncaught",
        AA_OK, &took);
    ck_assert_str_eq(aa_result_repr(r), "True");
    aa_result_free(r);
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(context_vars_persist)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import contextvars, curio\n"
          "v = contextvars.ContextVar('v', default=0)\nv.set(1)",
          AA_OK);
    tu_expect(s, "await curio.sleep(0)\nv.set(v.get() + 1)\nv.get()", "2");
    tu_expect(s, "await curio.sleep(0)\nv.get()", "2");
    tu_expect(s, "v.get()", "2");
    /* A token from one cell resets in another: it is the same Context. */
    tu_do(s, "await curio.sleep(0)\ntok = v.set(5)", AA_OK);
    tu_expect(s, "await curio.sleep(0)\nv.reset(tok)\nv.get()", "2");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(poll_runs_background_tasks)
{
    aa_session *s;
    int fds[2];
    double t0, took;

    if (curio_missing())
        return;
    s = tu_session("curio");
    /* Before the first async cell there is nothing to run. */
    ck_assert_int_eq(aa_session_poll(s, -1, 10), 0);
    tu_do(s,
          "import curio\nasync def later():\n"
          "    await curio.sleep(0.05)\n    print('background ran')\n"
          "await curio.spawn(later, daemon=True)",
          AA_OK);
    ck_assert_str_eq(tu_stdout(), "");
    ck_assert_int_eq(aa_session_poll(s, -1, 200), 0);
    ck_assert_str_eq(tu_stdout(), "background ran\n");
    /* A readable fd ends the wait. */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    t0 = tu_now();
    ck_assert_int_eq(aa_session_poll(s, fds[0], 5000), 1);
    took = tu_now() - t0;
    ck_assert_msg(took < 1.0 * tu_scale(), "poll took %.2f s", took);
    ck_assert_int_eq(aa_session_poll(s, fds[0], 0), 1);
    close(fds[0]);
    close(fds[1]);
    tu_expect(s, "n = await curio.sleep(0)\nn > 0", "True");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(free_shuts_the_kernel_down)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio\nasync def forever():\n    try:\n"
          "        await curio.sleep(30)\n    finally:\n"
          "        print('task cancelled')\n"
          "await curio.spawn(forever)",
          AA_OK);
    aa_session_free(s);
    ck_assert_str_eq(tu_stdout(), "task cancelled\n");
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(switching_keeps_loop_and_kernel)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session(NULL);
    tu_do(s,
          "import asyncio\nawait asyncio.sleep(0)\n"
          "L = asyncio.get_running_loop()",
          AA_OK);
    tu_do(s, "%autoawait curio", AA_OK);
    ck_assert_str_eq(aa_session_runner(s), "curio");
    tu_do(s,
          "import curio\nk = await curio.traps._get_kernel()\n"
          "t = await curio.spawn(curio.sleep, 30, daemon=True)",
          AA_OK);
    tu_do(s, "%autoawait asyncio", AA_OK);
    tu_expect(s, "await asyncio.sleep(0)\nasyncio.get_running_loop() is L",
              "True");
    tu_do(s, "%autoawait curio", AA_OK);
    tu_expect(s, "(await curio.traps._get_kernel()) is k and not t.terminated",
              "True");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(nested_curio_session)
{
    aa_session *s;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s, "import autoawait, curio\ninner = autoawait.Session()", AA_OK);
    tu_expect(s, "inner.runner", "'curio'");
    tu_expect(s,
              "await curio.sleep(0)\n"
              "inner.exec('import curio\\nawait curio.sleep(0.01)\\n[1, 2]')",
              "[1, 2]");
    /* Closing it from a curio cell shuts its kernel down all the same. */
    tu_do(s,
          "inner.exec('async def bg():\\n    try:\\n"
          "        await curio.sleep(30)\\n    finally:\\n"
          "        print(\"inner task cancelled\")\\n"
          "await curio.spawn(bg)')\n"
          "await curio.sleep(0)\ninner.close()",
          AA_OK);
    ck_assert_str_eq(tu_stdout(), "inner task cancelled\n");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/*
 * A started cell returns at once; the host's own loop, waiting on the
 * session's fd and timeout, finishes it, without spinning: a 0.2 s sleep
 * takes a handful of dispatches, not thousands.
 */
START_TEST(a_started_cell_is_finished_by_the_hosts_loop)
{
    aa_session *s;
    done_box d = {0, 0, NULL};
    double t0, took;
    int n;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s, "import curio", AA_OK);
    t0 = tu_now();
    took = start_cell(s, "await curio.sleep(0.2)\n6 * 7", &d);
    ck_assert_msg(took < 0.1 * tu_scale(), "aa_exec_start took %.2f s", took);
    ck_assert_int_eq(d.calls, 0);
    n = host_loop(s, &d, 10);
    took = tu_now() - t0;
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.status, AA_OK);
    ck_assert_int_eq(aa_result_is_async(d.result), 1);
    ck_assert_str_eq(aa_result_repr(d.result), "42");
    aa_result_free(d.result);
    ck_assert_msg(took >= 0.19, "the sleep ended after %.3f s", took);
    ck_assert_msg(n < 100, "%d dispatches for a 0.2 s sleep", n);
    /* The next cell, blocking or started, finds the session as it was. */
    tu_expect(s, "await curio.sleep(0)\n_", "42");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/* A task one cell spawned runs while the host dispatches and no cell runs;
 * sync cells meanwhile leave it where it is. */
START_TEST(a_task_ticks_during_dispatches_between_cells)
{
    aa_session *s;
    long before, after;
    int n;

    if (curio_missing())
        return;
    s = tu_session("curio");
    tu_do(s,
          "import curio\nticks = []\nasync def tick():\n    while True:\n"
          "        await curio.sleep(0.02)\n        ticks.append(1)\n"
          "t = await curio.spawn(tick, daemon=True)",
          AA_OK);
    before = int_of(s, "len(ticks)");
    n = host_loop(s, NULL, 0.3);
    after = int_of(s, "len(ticks)");
    ck_assert_msg(after - before >= 5, "%ld ticks in 0.3 s of dispatching",
                  after - before);
    ck_assert_msg(n < 150, "%d dispatches in 0.3 s", n);
    tu_expect(s, "t.terminated", "False");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/*
 * A curio session whose second cell, started and dispatched for 0.1 s,
 * sleeps for 30 s in a try whose finally runs cleanup (a statement; sys is
 * imported).
 */
static aa_session *start_sleeper(done_box *d, const char *cleanup)
{
    aa_session *s = tu_session("curio");
    char src[160];

    tu_do(s, "import curio, sys", AA_OK);
    snprintf(src, sizeof src,
             "try:\n    await curio.sleep(30)\nfinally:\n    %s\n", cleanup);
    start_cell(s, src, d);
    host_loop(s, d, 0.1);
    ck_assert_int_eq(d->calls, 0);
    return s;
}

/* aa_interrupt (a host's Ctrl-C) stops a started cell: its finally runs on
 * a later dispatch and done gets KeyboardInterrupt with the user's
 * traceback; the kernel goes on. */
START_TEST(interrupt_stops_a_started_cell)
{
    aa_session *s;
    done_box d = {0, 0, NULL};
    double t0, took;
    const char *tb;

    if (curio_missing())
        return;
    s = start_sleeper(&d, "print('cleanup ran')");
    t0 = tu_now();
    aa_interrupt(s);
    host_loop(s, &d, 10);
    took = tu_now() - t0;
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.status, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(d.result), "KeyboardInterrupt");
    tb = aa_result_traceback(d.result);
    ck_assert_ptr_nonnull(strstr(tb, "<cell-2>"));
    ck_assert_ptr_null(strstr(tb, "curio/"));
    ck_assert_ptr_null(strstr(tb, "TaskCancelled"));
    aa_result_free(d.result);
    ck_assert_msg(took < 2.0 * tu_scale(), "the cell took %.2f s to stop",
                  took);
    ck_assert_str_eq(tu_stdout(), "cleanup ran\n");
    tu_expect(s, "await curio.sleep(0)\n'usable'", "'usable'");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/*
 * Freeing the session with a started cell cancels the cell, runs its
 * cleanup and calls done before aa_session_free returns, and leaves
 * nothing open: the kernel's epoll and socket pair are closed.  What the
 * cell does meanwhile is seen from another session (its output, while its
 * session is freed, is no longer the session's).
 */
START_TEST(free_with_a_started_cell_calls_done_first)
{
    aa_session *s, *other;
    done_box d = {0, 0, NULL};
    long fds;

    if (curio_missing())
        return;
    other = tu_session("curio");
    tu_do(other,
          "import curio, os, sys, types\nawait curio.sleep(0)\n"
          "sys.modules['freed'] = freed = types.SimpleNamespace(log=[])\n"
          "def fds():\n    return len(os.listdir('/proc/self/fd'))",
          AA_OK);
    fds = int_of(other, "fds()");
    s = start_sleeper(&d, "sys.modules['freed'].log.append('cleanup ran')");
    aa_session_free(s);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.status, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(d.result), "KeyboardInterrupt");
    aa_result_free(d.result);
    tu_expect(other, "freed.log", "['cleanup ran']");
    ck_assert_int_eq(int_of(other, "fds()"), fds);
    aa_session_free(other);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

static Suite *curio_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("curio", 60, &tc);

    tcase_add_test(tc, runs_and_displays);
    tcase_add_test(tc, tasks_outlive_their_cell);
    tcase_add_test(tc, exception_keeps_user_frames_only);
    tcase_add_test(tc, asyncio_under_curio_fails_and_session_goes_on);
    tcase_add_test(tc, interrupt_cancels_with_cleanup);
    tcase_add_test(tc, interrupt_runs_aexit_and_a_caught_cancel_returns);
    tcase_add_test(tc, context_vars_persist);
    tcase_add_test(tc, poll_runs_background_tasks);
    tcase_add_test(tc, free_shuts_the_kernel_down);
    tcase_add_test(tc, switching_keeps_loop_and_kernel);
    tcase_add_test(tc, nested_curio_session);
    tcase_add_test(tc, a_started_cell_is_finished_by_the_hosts_loop);
    tcase_add_test(tc, a_task_ticks_during_dispatches_between_cells);
    tcase_add_test(tc, interrupt_stops_a_started_cell);
    tcase_add_test(tc, free_with_a_started_cell_calls_done_first);
    return suite;
}

int main(void)
{
    return tu_main(curio_suite());
}
