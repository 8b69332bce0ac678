/*
 * check_interrupt.c -- aa_interrupt from another thread and from a signal
 * handler: an awaiting cell is cancelled with its cleanup run and never
 * resumes, a busy sync cell stops, the session and its loop go on.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

static aa_session *signal_target;

static void on_sigusr1(int sig)
{
    (void)sig;
    aa_interrupt(signal_target);
}

/* An interrupter's fire that goes through on_sigusr1. */
static void by_signal(aa_session *s)
{
    (void)s;
    kill(getpid(), SIGUSR1);
}

START_TEST(awaiting_cell_is_cancelled_with_cleanup)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 1};
    aa_result *r;

    tu_do(s,
          "import asyncio\nlog = []\nawait asyncio.sleep(0)\n"
          "L = asyncio.get_running_loop()",
          AA_OK);
    r = tu_run_stopped(s,
                       "try:\n    log.append('start')\n"
                       "    await asyncio.sleep(30)\n"
                       "    log.append('resumed')\nfinally:\n"
                       "    print('cleanup ran')\n",
                       &it, 2.0);
    ck_assert_str_eq(tu_stdout(), "cleanup ran\n");
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "CancelledError"));
    aa_result_free(r);
    /* The loop is the same and usable; the cancelled cell never resumes. */
    tu_expect(s,
              "await asyncio.sleep(0.2)\n"
              "(asyncio.get_running_loop() is L, log)",
              "(True, ['start'])");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(async_context_managers_exit_on_interrupt)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 1};
    aa_result *r;

    tu_do(s,
          "import asyncio, contextlib\nexits = []\n"
          "@contextlib.asynccontextmanager\nasync def cm():\n"
          "    try:\n        yield\n    finally:\n"
          "        await asyncio.sleep(0)\n        exits.append('aexit')\n",
          AA_OK);
    r = tu_run_stopped(s, "async with cm():\n    await asyncio.sleep(30)", &it,
                       10.0);
    aa_result_free(r);
    tu_expect(s, "exits", "['aexit']");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(busy_sync_cell_gets_keyboard_interrupt)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 1};
    aa_result *r;

    r = tu_run_stopped(s, "n = 0\nwhile True:\n    n += 1", &it, 2.0);
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "<cell-1>"));
    aa_result_free(r);
    tu_expect(s, "n > 0", "True");
    aa_session_free(s);
}
END_TEST

START_TEST(busy_async_cell_is_forced_by_a_second_interrupt)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 3};
    aa_result *r;

    r = tu_run_stopped(s,
                       "import asyncio\nawait asyncio.sleep(0)\n"
                       "while True:\n    pass",
                       &it, 3.0);
    aa_result_free(r);
    tu_sleep_ms(500); /* the third interrupt arrives between cells */
    tu_expect(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
    aa_session_free(s);
}
END_TEST

START_TEST(interrupt_between_cells_does_nothing)
{
    aa_session *s = tu_session(NULL);

    aa_interrupt(s);
    aa_interrupt(s);
    tu_sleep_ms(200);
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0.05, result=1)", "1");
    tu_expect(s, "sum(range(100000))", "4999950000");
    aa_interrupt(NULL);
    aa_session_free(s);
}
END_TEST

/* An interrupt sent while no cell runs is dropped, however soon the next
 * cell starts: it must not land in that cell (issue 9, W1). */
START_TEST(interrupt_between_cells_never_reaches_the_next)
{
    aa_session *s = tu_session(NULL);
    int i;

    tu_do(s, "import asyncio\nawait asyncio.sleep(0)", AA_OK);
    for (i = 0; i < 200; i++) {
        aa_interrupt(s);
        tu_expect(s, "n = 0\nfor k in range(20000):\n    n += k\nn",
                  "199990000");
        aa_interrupt(s);
        tu_expect(s, "await asyncio.sleep(0.001, result=7)", "7");
    }
    aa_session_free(s);
}
END_TEST

/*
 * The runner's interrupt is asked once per aa_interrupt that reaches its
 * cell (issue 9, W8): the first asks it to cancel; a later one comes with
 * the KeyboardInterrupt the library raises in the cell's thread, to wake
 * its loop.  A runner that refused is not asked again for that cell.  The
 * intr fixture counts its calls in sys._aa_fixture_interrupts; it runs
 * coroutines the echo way, so it cannot really cancel anything.
 */
START_TEST(a_runner_is_asked_once_per_interrupt)
{
    static const char *busy = "async def busy():\n    while True:\n"
                              "        pass\nawait busy()";
    aa_session *s = tu_session("intr");
    tu_interrupter once = {.delay_ms = 300, .count = 1};
    tu_interrupter twice = {.delay_ms = 300, .count = 2};
    aa_result *r;

    tu_do(s,
          "import sys\nsys._aa_fixture_interrupts = 0\n"
          "sys._aa_fixture_refuse = True",
          AA_OK);
    r = tu_run_stopped(s, busy, &once, 10.0);
    aa_result_free(r);
    tu_expect(s, "sys._aa_fixture_interrupts", "1");

    tu_do(s,
          "sys._aa_fixture_interrupts = 0\n"
          "sys._aa_fixture_refuse = False",
          AA_OK);
    r = tu_run_stopped(s, busy, &twice, 10.0);
    aa_result_free(r);
    tu_expect(s, "sys._aa_fixture_interrupts", "2");
    aa_interrupt(s);
    tu_sleep_ms(200);
    tu_expect(s, "sys._aa_fixture_interrupts", "2");
    aa_session_free(s);
}
END_TEST

/* A cell that swallows the cancellation and sleeps again is asleep in the
 * loop's selector: the second interrupt must wake the loop for its
 * KeyboardInterrupt to land. */
START_TEST(a_cell_ignoring_the_cancellation_is_woken_and_stopped)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 2};
    aa_result *r;

    r = tu_run_stopped(s,
                       "import asyncio\ntry:\n"
                       "    await asyncio.sleep(30)\n"
                       "except asyncio.CancelledError:\n"
                       "    print('ignored')\n"
                       "    await asyncio.sleep(30)",
                       &it, 5.0);
    ck_assert_str_eq(tu_stdout(), "ignored\n");
    aa_result_free(r);
    tu_expect(s, "await asyncio.sleep(0, result=4)", "4");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* What the racing thread and the freeing session's callback share. */
static atomic_int firing_stop, firing_stopped;

static void *fire_until_told(void *arg)
{
    while (!atomic_load(&firing_stop))
        aa_interrupt(arg);
    atomic_store(&firing_stopped, 1);
    return NULL;
}

/* The session's finalizer prints "bye" while aa_session_free runs: the
 * firing thread is stopped then, before the free returns. */
static void stop_firing_on_bye(void *userdata, int stream, const char *data,
                               size_t len)
{
    (void)userdata;
    (void)stream;
    if (len >= 3 && memcmp(data, "bye", 3) == 0) {
        atomic_store(&firing_stop, 1);
        while (!atomic_load(&firing_stopped))
            tu_sleep_ms(1);
    }
}

/*
 * aa_interrupt may be called until aa_session_free returns (issue 9, C2):
 * a thread still firing while another frees the session must not kill the
 * host with SIGPIPE (the default disposition, as in most hosts) nor write
 * into a descriptor the free closed.
 */
START_TEST(interrupts_racing_a_free_never_raise_sigpipe)
{
    int round;

    signal(SIGPIPE, SIG_DFL);
    for (round = 0; round < 20; round++) {
        aa_session *s = tu_session_with(NULL, stop_firing_on_bye);
        pthread_t t;

        tu_do(s,
              "class Bye:\n    def __del__(self):\n        print('bye')\n"
              "b = Bye()",
              AA_OK);
        atomic_store(&firing_stop, 0);
        atomic_store(&firing_stopped, 0);
        ck_assert_int_eq(pthread_create(&t, NULL, fire_until_told, s), 0);
        tu_sleep_ms(5);
        aa_session_free(s);
        ck_assert_msg(atomic_load(&firing_stopped),
                      "the session's finalizer did not run");
        pthread_join(t, NULL);
    }
}
END_TEST

START_TEST(interrupt_from_a_signal_handler)
{
    aa_session *s = tu_session(NULL);
    tu_interrupter it = {.delay_ms = 300, .count = 1, .fire = by_signal};
    struct sigaction sa;
    aa_result *r;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    signal_target = s;
    r = tu_run_stopped(s, "import asyncio\nawait asyncio.sleep(30)", &it, 2.0);
    aa_result_free(r);
    tu_expect(s, "await asyncio.sleep(0, result=2)", "2");
    aa_session_free(s);
}
END_TEST

START_TEST(cell_raising_keyboard_interrupt_itself_does_not_hang)
{
    aa_session *s = tu_session(NULL);
    aa_result *r;

    r = tu_run(s,
               "import asyncio\nawait asyncio.sleep(0)\n"
               "raise KeyboardInterrupt",
               AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    aa_result_free(r);
    tu_expect(s, "await asyncio.sleep(0, result=3)", "3");
    aa_session_free(s);
    ck_assert_str_eq(tu_stderr(), "");
    tu_clear();
}
END_TEST

START_TEST(the_host_keeps_its_sigint)
{
    struct sigaction sa;
    aa_session *s;

    /* A host that left SIGINT alone: the library must too, and so must
     * asyncio.run in a cell (it installs a handler only over Python's). */
    signal(SIGINT, SIG_DFL);
    s = tu_session(NULL);
    tu_expect(s, "import asyncio, signal\nsignal.getsignal(signal.SIGINT)",
              "<Handlers.SIG_DFL: 0>");
    tu_expect(s, "asyncio.run(asyncio.sleep(0, result='ran'))", "'ran'");
    tu_expect(s, "await asyncio.sleep(0, result='ran')", "'ran'");
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert_msg(sa.sa_handler == SIG_DFL, "SIGINT is no longer SIG_DFL");
    aa_session_free(s);
}
END_TEST

static Suite *interrupt_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("interrupt", 60, &tc);

    tcase_add_test(tc, awaiting_cell_is_cancelled_with_cleanup);
    tcase_add_test(tc, async_context_managers_exit_on_interrupt);
    tcase_add_test(tc, busy_sync_cell_gets_keyboard_interrupt);
    tcase_add_test(tc, busy_async_cell_is_forced_by_a_second_interrupt);
    tcase_add_test(tc, interrupt_between_cells_does_nothing);
    tcase_add_test(tc, interrupt_between_cells_never_reaches_the_next);
    tcase_add_test(tc, a_runner_is_asked_once_per_interrupt);
    tcase_add_test(tc, a_cell_ignoring_the_cancellation_is_woken_and_stopped);
    tcase_add_test(tc, interrupts_racing_a_free_never_raise_sigpipe);
    tcase_add_test(tc, interrupt_from_a_signal_handler);
    tcase_add_test(tc, cell_raising_keyboard_interrupt_itself_does_not_hang);
    tcase_add_test(tc, the_host_keeps_its_sigint);
    return suite;
}

int main(void)
{
    return tu_main(interrupt_suite());
}
