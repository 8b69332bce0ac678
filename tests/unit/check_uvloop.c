/*
 * check_uvloop.c -- the uvloop runner (%autoawait uvloop), the SDK's
 * asyncio family with uvloop's loop: the loop of every cell is uvloop's,
 * values are displayed, a task lives across cells and while the host is
 * idle (aa_session_poll and the guest calls), an interrupt cancels a cell
 * with its cleanup, a started cell is stepped by the host's loop although
 * uvloop has no selector fd, switching runners keeps each one's loop,
 * context variables last, the session ends cleanly with a task pending,
 * and cells run after an idle host find the loop whole (a stop left
 * queued by the idle steps would end the next run at once).  Every test
 * passes with a SKIP line when uvloop cannot be imported.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <unistd.h>

#include <autoawait/runner-sdk.h>

#include "testutil.h"

/* uvloop's import leaks, once per process: its first import is made with
 * LeakSanitizer off (lsan_off.h). */
#include "../lsan_off.h"

/* 1 (after a SKIP line) when uvloop cannot be imported. */
static int uvloop_missing(void)
{
    int missing;

    LSAN_OFF();
    missing = tu_missing("uvloop", " (Debian: python3-uvloop)");
    LSAN_ON();
    return missing;
}

/* True when the running loop is uvloop's, as Python prints it. */
#define RUNNING_IS_UVLOOP                                                      \
    "type(asyncio.get_running_loop()).__module__.startswith('uvloop')"

/* A sync cell that runs the loop itself, which a stop left queued by an
 * earlier run would end before its future is done. */
#define RUN_IN_SYNC_CELL                                                       \
    "asyncio.get_event_loop().run_until_complete("                             \
    "asyncio.sleep(0.01, result='sync'))"

/* A task that counts its wake-ups every ms ms in `ticks`, as t. */
static void start_ticker(aa_session *s, int ms)
{
    char src[256];

    snprintf(src, sizeof src,
             "import asyncio\nticks = 0\nasync def ticker():\n"
             "    global ticks\n    while True:\n        ticks += 1\n"
             "        await asyncio.sleep(%g)\n"
             "t = asyncio.create_task(ticker())\nawait asyncio.sleep(0)",
             ms / 1000.0);
    tu_do(s, src, AA_OK);
}

/* The value of the int expression expr in s. */
static long value_of(aa_session *s, const char *expr)
{
    aa_result *r = tu_run(s, expr, AA_OK);
    long n = atol(aa_result_repr(r));

    aa_result_free(r);
    return n;
}

/*
 * The host's own poll(2) loop for seconds: waits on the session's fd for
 * at most aa_session_timeout, dispatches, until *flag is set (flag may be
 * NULL).  Checks that the timeout asked while the loop has work is at most
 * the family's 10 ms step (uvloop has no fd to watch).  Returns the
 * number of dispatches.
 */
static int guest_loop(aa_session *s, const int *flag, double seconds)
{
    double end = tu_now() + seconds * tu_scale();
    int n = 0;

    while ((flag == NULL || !*flag) && tu_now() < end) {
        struct pollfd p = {aa_session_fd(s), POLLIN, 0};
        int wait = (int)ceil((end - tu_now()) * 1000.0);
        int timeout = aa_session_timeout(s);

        ck_assert_msg(timeout >= 0 && timeout <= 10, "timeout %d", timeout);
        if (timeout < wait)
            wait = timeout;
        ck_assert_msg(poll(&p, 1, wait) >= 0 || errno == EINTR, "poll: %s",
                      strerror(errno));
        ck_assert_int_eq(aa_session_dispatch(s), AA_OK);
        n++;
    }
    return n;
}

typedef struct {
    int ended, status, calls;
    aa_result *r;
} ending;

static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    ending *e = userdata;

    (void)s;
    aa_result_free(e->r);
    e->r = r;
    e->status = status;
    e->calls++;
    e->ended = 1;
}

/* Starts src, steps it in the host's loop until it ends (at most 10 s),
 * and checks it ended once with status want; e holds the result. */
static void run_started(aa_session *s, const char *src, int want, ending *e)
{
    int rc = aa_exec_start(s, src, strlen(src), on_done, e);

    ck_assert_msg(rc == AA_OK, "aa_exec_start: %s, %s", aa_strerror(rc),
                  aa_session_errmsg(s));
    guest_loop(s, &e->ended, 10.0);
    ck_assert_int_eq(e->calls, 1);
    ck_assert_msg(e->status == want, "status %d, want %d: %s", e->status, want,
                  aa_result_message(e->r) ? aa_result_message(e->r) : "");
}

/*
 * The session of the suite's first tests, on uvloop: made before each
 * test, or NULL after a SKIP line when uvloop cannot be imported (the test
 * then returns at once), and freed after it.
 */
static aa_session *s;

static void uv_setup(void)
{
    s = uvloop_missing() ? NULL : tu_session("uvloop");
}

static void uv_teardown(void)
{
    aa_session_free(s);
    s = NULL;
    tu_clear();
}

/* Ends the test's session: its loop drained and closed. */
static void end_session(void)
{
    aa_session_free(s);
    s = NULL;
}

/* Ends it, and checks that nothing was written to stderr meanwhile. */
static void end_clean(void)
{
    end_session();
    ck_assert_str_eq(tu_stderr(), "");
}

START_TEST(every_cell_runs_on_uvloop)
{
    aa_result *r;

    if (s == NULL)
        return;
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0)\n" RUNNING_IS_UVLOOP,
              "True");
    tu_do(s, "await asyncio.sleep(0)\nloop = asyncio.get_running_loop()",
          AA_OK);
    r = tu_run(s, "asyncio.get_event_loop() is loop", AA_OK);
    ck_assert_int_eq(aa_result_is_async(r), 0);
    ck_assert_str_eq(aa_result_repr(r), "True");
    aa_result_free(r);
    tu_expect(s, "await asyncio.sleep(0)\nasyncio.get_running_loop() is loop",
              "True");
    end_clean();
}
END_TEST

START_TEST(a_value_is_displayed)
{
    aa_result *r;

    if (s == NULL)
        return;
    r = tu_run(s, "import asyncio\nawait asyncio.sleep(0.01, result=42)",
               AA_OK);
    ck_assert_int_eq(aa_result_is_async(r), 1);
    ck_assert_str_eq(aa_result_repr(r), "42");
    aa_result_free(r);
    tu_expect(s, "_", "42");
}
END_TEST

START_TEST(a_task_runs_across_cells_and_while_idle)
{
    long n;

    if (s == NULL)
        return;
    start_ticker(s, 5);
    n = value_of(s, "ticks");
    /* While the next cell awaits. */
    tu_do(s, "await asyncio.sleep(0.1)", AA_OK);
    ck_assert_int_gt(value_of(s, "ticks"), n + 5);
    /* While the host waits in aa_session_poll. */
    n = value_of(s, "ticks");
    ck_assert_int_eq(aa_session_poll(s, -1, 200), 0);
    ck_assert_int_gt(value_of(s, "ticks"), n + 5);
    /* While the host's own loop waits and dispatches. */
    n = value_of(s, "ticks");
    ck_assert_int_gt(guest_loop(s, NULL, 0.2), 5);
    ck_assert_int_gt(value_of(s, "ticks"), n + 5);
    tu_expect(s, "t.done()", "False");
    end_clean();
}
END_TEST

START_TEST(an_interrupt_ends_a_sleep_with_its_cleanup)
{
    tu_interrupter it = {.delay_ms = 300, .count = 1};
    aa_result *r;

    if (s == NULL)
        return;
    tu_do(s, "import asyncio\nlog = []\nawait asyncio.sleep(0)", AA_OK);
    r = tu_run_stopped(s,
                       "try:\n    await asyncio.sleep(30)\n"
                       "    log.append('resumed')\nfinally:\n"
                       "    log.append('cleanup')",
                       &it, 1.3);
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "CancelledError"));
    aa_result_free(r);
    tu_expect(s, "await asyncio.sleep(0.05)\nlog", "['cleanup']");
    end_clean();
}
END_TEST

START_TEST(a_started_cell_is_stepped_by_the_hosts_loop)
{
    const char *forever = "try:\n    await asyncio.sleep(30)\n"
                          "finally:\n    log.append('cleanup')";
    ending e = {0};
    double t0;

    if (s == NULL)
        return;
    tu_do(s, "import asyncio\nlog = []", AA_OK);
    t0 = tu_now();
    run_started(s,
                "await asyncio.sleep(0.1)\n"
                "(" RUNNING_IS_UVLOOP ", 'guest')",
                AA_OK, &e);
    ck_assert_str_eq(aa_result_repr(e.r), "(True, 'guest')");
    aa_result_free(e.r);
    ck_assert_msg(tu_now() - t0 < 2.0 * tu_scale(), "took %.2f s",
                  tu_now() - t0);
    /* An interrupt reaches a started cell; its finally runs. */
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(aa_exec_start(s, forever, strlen(forever), on_done, &e),
                     AA_OK);
    guest_loop(s, NULL, 0.1);
    ck_assert_int_eq(e.calls, 0);
    aa_interrupt(s);
    guest_loop(s, &e.ended, 2.0);
    ck_assert_int_eq(e.status, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(e.r), "KeyboardInterrupt");
    aa_result_free(e.r);
    /* The loop is whole: a sync cell runs it, async cells run on it. */
    tu_expect(s, RUN_IN_SYNC_CELL, "'sync'");
    tu_expect(s, "await asyncio.sleep(0.01)\nlog", "['cleanup']");
    end_clean();
}
END_TEST

START_TEST(switching_keeps_each_runners_loop)
{

    if (s == NULL)
        return;
    start_ticker(s, 5);
    tu_do(s, "uv = asyncio.get_event_loop()", AA_OK);
    tu_do(s, "%autoawait asyncio", AA_OK);
    tu_expect(s,
              "await asyncio.sleep(0)\nplain = asyncio.get_running_loop()\n"
              "(type(plain).__module__, plain is uv, "
              "asyncio.get_event_loop() is plain)",
              "('asyncio.unix_events', False, True)");
    tu_do(s, "%autoawait uvloop", AA_OK);
    tu_expect(s, "asyncio.get_event_loop() is uv", "True");
    tu_expect(s,
              "n = ticks\nawait asyncio.sleep(0.1)\n"
              "(asyncio.get_running_loop() is uv, ticks > n + 5, t.done())",
              "(True, True, False)");
    tu_do(s, "%autoawait asyncio", AA_OK);
    tu_expect(s,
              "await asyncio.sleep(0.01)\nasyncio.get_running_loop() is plain",
              "True");
    end_clean();
}
END_TEST

START_TEST(a_context_variable_lasts_across_cells)
{

    if (s == NULL)
        return;
    tu_do(s,
          "import asyncio, contextvars\nv = contextvars.ContextVar('v')\n"
          "await asyncio.sleep(0)\nv.set('set in cell 1')",
          AA_OK);
    tu_expect(s, "await asyncio.sleep(0)\nv.get()", "'set in cell 1'");
    tu_expect(s, "v.get()", "'set in cell 1'");
}
END_TEST

START_TEST(the_end_with_a_task_pending_is_clean)
{

    if (s == NULL)
        return;
    tu_do(s,
          "import asyncio\nasync def forever():\n    try:\n"
          "        await asyncio.sleep(3600)\n    finally:\n"
          "        print('task cleaned up')\n"
          "t = asyncio.create_task(forever())\nawait asyncio.sleep(0)\n"
          "async def agen():\n    yield 1\n    yield 2\n"
          "g = agen()\nawait g.__anext__()",
          AA_OK);
    end_session();
    ck_assert_str_eq(tu_stdout(), "task cleaned up\n");
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/* Cells after the host idled in poll with a task that wakes often: the
 * idle steps stop the loop on every pass, which must never leave a stop
 * behind for the next cell's run. */
START_TEST(cells_after_an_idle_host_run_whole)
{
    int fds[2], i;
    char src[64], want[16];

    if (s == NULL)
        return;
    start_ticker(s, 1);
    ck_assert_int_eq(aa_session_poll(s, -1, 200), 0);
    /* The host's fd readable: poll answers at once, many times. */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    for (i = 0; i < 20; i++)
        ck_assert_int_eq(aa_session_poll(s, fds[0], 1000), 1);
    for (i = 0; i < 5; i++) {
        snprintf(src, sizeof src, "await asyncio.sleep(0.01, result=%d)", i);
        snprintf(want, sizeof want, "%d", i);
        tu_expect(s, src, want);
        ck_assert_int_eq(aa_session_poll(s, -1, 20), 0);
    }
    guest_loop(s, NULL, 0.1);
    tu_expect(s, RUN_IN_SYNC_CELL, "'sync'");
    tu_expect(s, "await asyncio.sleep(0.01)\nt.done()", "False");
    close(fds[0]);
    close(fds[1]);
    end_clean();
}
END_TEST

/* A background task's KeyboardInterrupt escapes the loop while the host
 * idles: reported, and the next cells run whole. */
START_TEST(an_escape_while_idle_leaves_the_loop_whole)
{

    if (s == NULL)
        return;
    tu_do(s,
          "import asyncio\nawait asyncio.sleep(0)\n"
          "def boom():\n    raise KeyboardInterrupt\n"
          "asyncio.get_running_loop().call_later(0.01, boom)",
          AA_OK);
    ck_assert_int_eq(aa_session_poll(s, -1, 200), AA_ERUNNER);
    ck_assert_msg(strstr(tu_stderr(), "KeyboardInterrupt") != NULL,
                  "stderr: %s, errmsg: %s", tu_stderr(), aa_session_errmsg(s));
    tu_expect(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
    tu_expect(s, RUN_IN_SYNC_CELL, "'sync'");
    /* A cell that raises KeyboardInterrupt itself, out of the loop. */
    tu_do(s, "await asyncio.sleep(0)\nraise KeyboardInterrupt", AA_EXCEPTION);
    tu_expect(s, RUN_IN_SYNC_CELL, "'sync'");
    tu_expect(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
}
END_TEST

/*
 * 1 (after a SKIP line) when uvloop cannot be found, looked for without
 * importing it (which would import asyncio), or when asyncio is imported
 * already (an earlier test in the same process, CK_FORK=no): the test
 * needs a process where no session has imported asyncio yet.
 */
static int no_fresh_process(void)
{
    aa_session *x = NULL;
    aa_result *r = NULL;
    int skip;

    ck_assert_int_eq(aa_session_new(&x, NULL), AA_OK);
    ck_assert_int_eq(aa_exec(x,
                             "import importlib.util, sys\n"
                             "('uvloop is not installed' "
                             "if importlib.util.find_spec('uvloop') is None "
                             "else 'asyncio is imported already' "
                             "if 'asyncio' in sys.modules else 'ok')",
                             &r),
                     AA_OK);
    skip = strcmp(aa_result_repr(r), "'ok'") != 0;
    if (skip)
        printf("SKIP: %.*s\n", (int)strlen(aa_result_repr(r)) - 2,
               aa_result_repr(r) + 1); /* the repr's quotes left out */
    aa_result_free(r);
    aa_session_free(x);
    return skip;
}

/* A session whose first cell is sync and asks asyncio for the current
 * loop gets uvloop's too, the loop the async cells then run on. */
START_TEST(a_sync_cell_first_gets_uvloop)
{
    aa_session *x;

    if (no_fresh_process())
        return;
    x = tu_session("uvloop");
    /* The first import of uvloop, made by the runner before this cell. */
    LSAN_OFF();
    tu_expect(x,
              "import asyncio\nloop = asyncio.get_event_loop()\n"
              "type(loop).__module__",
              "'uvloop'");
    LSAN_ON();
    tu_expect(x, "await asyncio.sleep(0)\nasyncio.get_running_loop() is loop",
              "True");
    aa_session_free(x);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

/* A loop made in C, for a family without a factory string: asyncio's own,
 * marked so that a cell can tell it is this one. */
static PyObject *marked_loop(void *userdata)
{
    PyObject *mod = PyImport_ImportModule("asyncio"), *loop = NULL;

    if (mod != NULL)
        loop = PyObject_CallMethod(mod, "new_event_loop", NULL);
    Py_XDECREF(mod);
    if (loop != NULL &&
        PyObject_SetAttrString(loop, "made_by", (PyObject *)userdata) < 0)
        Py_CLEAR(loop);
    return loop;
}

/*
 * Runners of the asyncio family registered by the host itself, as
 * docs/runner-plugins.md shows: each session's open gets its own family
 * (the userdata of aa_runner_register), so two families live side by
 * side, one from a factory string, one from a loop made in C.
 */
START_TEST(a_host_registers_families_of_its_own)
{
    static aa_sdk_asyncio uv = {.name = "hostuv",
                                .factory = "uvloop:new_event_loop"};
    static aa_sdk_asyncio marked = {.name = "hostmarked",
                                    .new_loop = marked_loop};
    aa_runner runner;
    aa_session *x;
    PyGILState_STATE g;

    if (uvloop_missing())
        return;
    x = tu_session(NULL); /* the interpreter, for the marker string */
    g = PyGILState_Ensure();
    marked.userdata = PyUnicode_FromString("the host");
    PyGILState_Release(g);
    aa_sdk_asyncio_runner(&runner, &uv);
    ck_assert_int_eq(aa_runner_register(&runner, &uv), AA_OK);
    aa_sdk_asyncio_runner(&runner, &marked);
    ck_assert_int_eq(aa_runner_register(&runner, &marked), AA_OK);
    tu_do(x, "%autoawait hostuv", AA_OK);
    tu_expect(x, "import asyncio\nawait asyncio.sleep(0)\n" RUNNING_IS_UVLOOP,
              "True");
    tu_do(x, "%autoawait hostmarked", AA_OK);
    tu_expect(x,
              "await asyncio.sleep(0.01)\n"
              "asyncio.get_running_loop().made_by",
              "'the host'");
    tu_do(x, "%autoawait hostuv", AA_OK);
    tu_expect(x, "await asyncio.sleep(0.01, result=7)", "7");
    aa_session_free(x);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

int main(void)
{
    TCase *tc, *own;
    Suite *suite = tu_suite("uvloop", 60, &tc);

    tcase_add_checked_fixture(tc, uv_setup, uv_teardown);
    /* The tests that make their sessions themselves. */
    own = tcase_create("uvloop_own_sessions");
    tcase_set_timeout(own, 60);
    suite_add_tcase(suite, own);

    tcase_add_test(tc, every_cell_runs_on_uvloop);
    tcase_add_test(tc, a_value_is_displayed);
    tcase_add_test(tc, a_task_runs_across_cells_and_while_idle);
    tcase_add_test(tc, an_interrupt_ends_a_sleep_with_its_cleanup);
    tcase_add_test(tc, a_started_cell_is_stepped_by_the_hosts_loop);
    tcase_add_test(tc, switching_keeps_each_runners_loop);
    tcase_add_test(tc, a_context_variable_lasts_across_cells);
    tcase_add_test(tc, the_end_with_a_task_pending_is_clean);
    tcase_add_test(tc, cells_after_an_idle_host_run_whole);
    tcase_add_test(tc, an_escape_while_idle_leaves_the_loop_whole);
    tcase_add_test(own, a_sync_cell_first_gets_uvloop);
    tcase_add_test(own, a_host_registers_families_of_its_own);
    return tu_main(suite);
}
