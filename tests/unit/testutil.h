/*
 * testutil.h -- what the unit suites share: a session whose output is
 * captured, one-call cell runs, and for the runner suites a skip when a
 * library is not installed and the check that a traceback shows only the
 * user's frames; the time, and interrupts from another thread.
 * Header-only so that each suite stays one file; every function is static
 * inline.
 */
#ifndef AA_TESTUTIL_H
#define AA_TESTUTIL_H

#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoawait/autoawait.h"

typedef struct {
    char *data;
    size_t len;
} tu_buf;

/* Output of the current test's sessions: [1] stdout, [2] stderr. */
static tu_buf tu_out[3];

static inline void tu_write(void *userdata, int stream, const char *data,
                            size_t len)
{
    tu_buf *b = &tu_out[stream == 2 ? 2 : 1];
    char *p = realloc(b->data, b->len + len + 1);

    (void)userdata;
    ck_assert_ptr_nonnull(p);
    memcpy(p + b->len, data, len);
    b->len += len;
    p[b->len] = '\0';
    b->data = p;
}

static inline void tu_clear(void)
{
    int i;
    for (i = 1; i < 3; i++) {
        free(tu_out[i].data);
        tu_out[i].data = NULL;
        tu_out[i].len = 0;
    }
}

static inline const char *tu_stdout(void)
{
    return tu_out[1].data != NULL ? tu_out[1].data : "";
}

static inline const char *tu_stderr(void)
{
    return tu_out[2].data != NULL ? tu_out[2].data : "";
}

/* A session on runner (NULL: the default) whose output goes to out. */
static inline aa_session *tu_session_with(const char *runner, aa_write_fn out)
{
    aa_session *s = NULL;
    aa_options o;
    int rc;

    aa_options_init(&o);
    o.write = out;
    if (runner != NULL)
        o.runner = runner;
    rc = aa_session_new(&s, &o);
    ck_assert_msg(rc == AA_OK, "aa_session_new: %s", aa_strerror(rc));
    return s;
}

/* A session on runner (NULL: the default) whose output is captured. */
static inline aa_session *tu_session(const char *runner)
{
    return tu_session_with(runner, tu_write);
}

/*
 * 1, after a line "SKIP: <module> is not installed<how>", when a session
 * cannot import module; 0 when it can.  how says how to get it, or is "".
 */
static inline int tu_missing(const char *module, const char *how)
{
    aa_session *s = NULL;
    char src[64];
    int rc;

    ck_assert_int_eq(aa_session_new(&s, NULL), AA_OK);
    snprintf(src, sizeof src, "import %s", module);
    rc = aa_exec(s, src, NULL);
    aa_session_free(s);
    if (rc == AA_OK)
        return 0;
    printf("SKIP: %s is not installed%s\n", module, how);
    return 1;
}

/* Runs src; fails the test unless the status is want.  Returns the result,
 * which the caller frees. */
static inline aa_result *tu_run(aa_session *s, const char *src, int want)
{
    aa_result *r = NULL;
    int rc = aa_exec(s, src, &r);

    ck_assert_ptr_nonnull(r);
    ck_assert_msg(
        rc == want, "cell %s\n-> status %d (%s), want %d\n%s%s\nstderr: %s",
        src, rc, aa_strerror(rc), want,
        aa_result_traceback(r) ? aa_result_traceback(r) : "",
        aa_result_message(r) ? aa_result_message(r) : "", tu_stderr());
    ck_assert_int_eq(aa_result_status(r), rc);
    return r;
}

/* Runs src and wants the status want; the result is not needed. */
static inline void tu_do(aa_session *s, const char *src, int want)
{
    aa_result_free(tu_run(s, src, want));
}

/* Runs src, wants AA_OK, and checks the displayed value (NULL: none). */
static inline void tu_expect(aa_session *s, const char *src, const char *repr)
{
    aa_result *r = tu_run(s, src, AA_OK);

    if (repr == NULL)
        ck_assert_ptr_null(aa_result_repr(r));
    else
        ck_assert_str_eq(aa_result_repr(r) ? aa_result_repr(r) : "(none)",
                         repr);
    aa_result_free(r);
}

/*
 * For a runner whose library is module: runs a cell, the first of s, that
 * raises KeyError from a function after awaiting module.sleep(0), and
 * checks that the traceback shows the user's frames only, none of frames
 * (the library's, by a part of their path) nor the runner's wrapper.
 */
static inline void tu_expect_user_frames_only(aa_session *s, const char *module,
                                              const char *frames)
{
    const char *tb, *head = "Traceback (most recent call last):\n"
                            "  File \"<cell-1>\", line 5, in <module>\n";
    char src[160], wrapper[64];
    aa_result *r;

    snprintf(src, sizeof src,
             "import %s\nasync def f():\n    await %s.sleep(0)\n"
             "    raise KeyError('k')\nawait f()",
             module, module);
    snprintf(wrapper, sizeof wrapper, "autoawait %s", module);
    r = tu_run(s, src, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "KeyError");
    tb = aa_result_traceback(r);
    ck_assert_msg(strncmp(tb, head, strlen(head)) == 0, "traceback:\n%s", tb);
    ck_assert_ptr_nonnull(strstr(tb, "line 4, in f"));
    ck_assert_ptr_null(strstr(tb, frames));
    ck_assert_ptr_null(strstr(tb, wrapper));
    aa_result_free(r);
}

static inline void tu_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Seconds on the monotonic clock. */
static inline double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * How much slower than usual the tests run: AA_TEST_TIME_SCALE (under
 * valgrind, tests/memcheck/memcheck.sh sets it).  Waits before an
 * interrupt and bounds on how long a cell may take are stretched by it.
 */
static inline double tu_scale(void)
{
    const char *v = getenv("AA_TEST_TIME_SCALE");
    double f = v != NULL ? atof(v) : 1.0;

    return f >= 1.0 ? f : 1.0;
}

/*
 * Interrupts session s from a thread of its own: count times, the first
 * after delay_ms, then every 200 ms.  Each interrupt is aa_interrupt(s),
 * or fire(s) when fire is set.
 */
typedef struct {
    aa_session *s;
    long delay_ms;
    int count;
    void (*fire)(aa_session *s);
    pthread_t thread;
} tu_interrupter;

static inline void *tu_interrupter_main(void *arg)
{
    tu_interrupter *it = arg;
    int i;

    tu_sleep_ms((long)(it->delay_ms * tu_scale()));
    for (i = 0; i < it->count; i++) {
        if (i > 0)
            tu_sleep_ms((long)(200 * tu_scale()));
        if (it->fire != NULL)
            it->fire(it->s);
        else
            aa_interrupt(it->s);
    }
    return NULL;
}

static inline void tu_interrupter_start(tu_interrupter *it)
{
    ck_assert_int_eq(pthread_create(&it->thread, NULL, tu_interrupter_main, it),
                     0);
}

static inline void tu_interrupter_join(tu_interrupter *it)
{
    pthread_join(it->thread, NULL);
}

/*
 * Runs src as tu_run does while it interrupts s (it->s is set to s), and
 * sets *took, when took is not NULL, to the seconds the cell took.
 */
static inline aa_result *tu_run_interrupted(aa_session *s, const char *src,
                                            int want, tu_interrupter *it,
                                            double *took)
{
    aa_result *r;
    double t0 = tu_now();

    it->s = s;
    tu_interrupter_start(it);
    r = tu_run(s, src, want);
    if (took != NULL)
        *took = tu_now() - t0;
    tu_interrupter_join(it);
    return r;
}

/*
 * Runs src while it interrupts s, as tu_run_interrupted does, and checks
 * that the cell ended with KeyboardInterrupt within bound_s seconds
 * (stretched by tu_scale()).  Returns the result, which the caller frees.
 */
static inline aa_result *tu_run_stopped(aa_session *s, const char *src,
                                        tu_interrupter *it, double bound_s)
{
    double took;
    aa_result *r = tu_run_interrupted(s, src, AA_EXCEPTION, it, &took);

    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    ck_assert_msg(took < bound_s * tu_scale(), "the cell took %.2f s to stop",
                  took);
    return r;
}

#ifdef Py_PYTHON_H
/* The whole of a test runner's run for cells that never suspend: drives
 * coro once, its result or NULL with an exception set. */
static inline PyObject *tu_send_once(PyObject *coro)
{
    PyObject *result = NULL;

    if (PyIter_Send(coro, Py_None, &result) == PYGEN_RETURN)
        return result;
    Py_XDECREF(result);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "the cell suspended");
    return NULL;
}
#endif

/*
 * The loop of a host whose session is its guest, at its simplest: waits on
 * the session's fd for at most aa_session_timeout, dispatches (wanting
 * AA_OK), and goes on until *flag is set (by a done callback) or seconds
 * (stretched by tu_scale) have passed.  Between dispatches the library
 * runs nothing on this thread.
 */
static inline void tu_dispatch_until(aa_session *s, const int *flag,
                                     double seconds)
{
    double end = tu_now() + seconds * tu_scale();

    while (!*flag && tu_now() < end) {
        struct pollfd p = {aa_session_fd(s), POLLIN, 0};

        poll(&p, 1, aa_session_timeout(s));
        ck_assert_int_eq(aa_session_dispatch(s), AA_OK);
    }
    ck_assert_msg(*flag, "the started cell did not end");
}

/* Runs a Check suite; the exit status says whether all passed. */
/* A suite of one test case, both called name, whose tests may each take
 * seconds (Check's CK_TIMEOUT_MULTIPLIER stretches it); the tests go to
 * *tc. */
static inline Suite *tu_suite(const char *name, double seconds, TCase **tc)
{
    Suite *suite = suite_create(name);

    *tc = tcase_create(name);
    tcase_set_timeout(*tc, seconds);
    suite_add_tcase(suite, *tc);
    return suite;
}

#ifdef TU_SESSION_FIXTURE
/*
 * For suites whose every test works in one fresh session, s: defined
 * before including this file, it gives s and tu_session_fixture(tc),
 * which makes s before each test and frees it, and what it wrote, after.
 */
static aa_session *s;

static void tu_session_setup(void)
{
    s = tu_session(NULL);
}

static void tu_session_teardown(void)
{
    aa_session_free(s);
    tu_clear();
}

static inline void tu_session_fixture(TCase *tc)
{
    tcase_add_checked_fixture(tc, tu_session_setup, tu_session_teardown);
}
#endif

static inline int tu_main(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* AA_TESTUTIL_H */
