/*
 * check_poll.c -- aa_session_poll: background tasks run while the host is
 * idle, a descriptor ends the wait, and nothing runs when nothing is there;
 * every runner answers a bad fd, a hang-up, a timeout and a readable fd
 * alike, and the host's wait leaves a cell's own readers alone.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "autoawait/runner.h"

#define TU_SESSION_FIXTURE
#include "testutil.h"

START_TEST(background_tasks_progress_while_idle)
{
    aa_result *r;
    double t0;

    tu_do(s,
          "import asyncio\nticks = []\nasync def ticker():\n"
          "    while True:\n        ticks.append(1)\n"
          "        print('tick', len(ticks))\n"
          "        await asyncio.sleep(0.01)\n"
          "await asyncio.sleep(0)\nt = asyncio.create_task(ticker())",
          AA_OK);
    tu_clear();
    t0 = tu_now();
    ck_assert_int_eq(aa_session_poll(s, -1, 300), 0);
    ck_assert_msg(tu_now() - t0 >= 0.29, "returned after %.3f s",
                  tu_now() - t0);
    r = tu_run(s, "len(ticks)", AA_OK);
    ck_assert_msg(atoi(aa_result_repr(r)) >= 10, "only %s ticks",
                  aa_result_repr(r));
    aa_result_free(r);
    /* What the task printed while idle went to the session's callback. */
    ck_assert_ptr_nonnull(strstr(tu_stdout(), "tick 5\n"));
    /* A timeout of 0 runs what is ready (the next cell is sync: it does
     * not run the loop). */
    tu_do(s, "done = []\nasyncio.get_event_loop().call_soon(done.append, 1)",
          AA_OK);
    ck_assert_int_eq(aa_session_poll(s, -1, 0), 0);
    tu_expect(s, "done", "[1]");
    tu_do(s, "t.cancel()", AA_OK);
}
END_TEST

static int pipe_fds[2];

static void *write_later(void *arg)
{
    (void)arg;
    tu_sleep_ms(150);
    ck_assert_int_eq(write(pipe_fds[1], "k", 1), 1);
    return NULL;
}

START_TEST(a_readable_descriptor_ends_the_wait)
{
    pthread_t t;
    double t0;
    int i;

    ck_assert_int_eq(pipe(pipe_fds), 0);
    /* Once with a loop running tasks, once with no loop at all. */
    for (i = 0; i < 2; i++) {
        aa_session *x = i == 0 ? s : tu_session(NULL);
        char c;
        if (i == 0)
            tu_do(x, "import asyncio\nawait asyncio.sleep(0)", AA_OK);
        ck_assert_int_eq(pthread_create(&t, NULL, write_later, NULL), 0);
        t0 = tu_now();
        ck_assert_int_eq(aa_session_poll(x, pipe_fds[0], 10000), 1);
        ck_assert_msg(tu_now() - t0 < 2.0, "took %.3f s", tu_now() - t0);
        pthread_join(t, NULL);
        /* Still readable: answered at once. */
        ck_assert_int_eq(aa_session_poll(x, pipe_fds[0], 10000), 1);
        ck_assert_int_eq(read(pipe_fds[0], &c, 1), 1);
        ck_assert_int_eq(aa_session_poll(x, pipe_fds[0], 0), 0);
        if (i == 1)
            aa_session_free(x);
    }
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}
END_TEST

START_TEST(with_nothing_to_run_it_just_waits)
{
    double t0 = tu_now();

    ck_assert_int_eq(aa_session_poll(s, -1, 100), 0);
    ck_assert_msg(tu_now() - t0 >= 0.09, "returned after %.3f s",
                  tu_now() - t0);
    ck_assert_int_eq(aa_session_poll(NULL, -1, 0), AA_EINVAL);
}
END_TEST

static int nested_poll;

static void poll_from_cell(void *userdata, int stream, const char *data,
                           size_t len)
{
    (void)stream;
    (void)data;
    (void)len;
    nested_poll = aa_session_poll(*(aa_session **)userdata, -1, 0);
}

START_TEST(a_running_cell_makes_poll_busy)
{
    aa_session *x = NULL;
    aa_options o;

    aa_options_init(&o);
    o.write = poll_from_cell;
    o.userdata = &x;
    ck_assert_int_eq(aa_session_new(&x, &o), AA_OK);
    ck_assert_int_eq(aa_exec(x, "print('hi')", NULL), AA_OK);
    ck_assert_int_eq(nested_poll, AA_EBUSY);
    aa_session_free(x);
}
END_TEST

START_TEST(an_escaping_exception_is_reported_and_the_session_goes_on)
{
    tu_do(s,
          "import asyncio\nawait asyncio.sleep(0)\nloop = "
          "asyncio.get_running_loop()\n"
          "def boom():\n    raise KeyboardInterrupt\n"
          "loop.call_later(0.01, boom)",
          AA_OK);
    ck_assert_int_eq(aa_session_poll(s, -1, 200), AA_ERUNNER);
    ck_assert_ptr_nonnull(strstr(aa_session_errmsg(s), "KeyboardInterrupt"));
    ck_assert_ptr_nonnull(strstr(tu_stderr(), "KeyboardInterrupt"));
    tu_expect(s, "await asyncio.sleep(0.01, result='fine')", "'fine'");
}
END_TEST

START_TEST(a_closed_pipe_and_no_timeout_end_the_wait)
{
    int fds[2];

    /* The writer is gone: the reader sees the end of input at once, with
     * a loop and without one. */
    ck_assert_int_eq(pipe(fds), 0);
    close(fds[1]);
    ck_assert_int_eq(aa_session_poll(s, fds[0], 5000), 1);
    tu_do(s, "import asyncio\nawait asyncio.sleep(0)", AA_OK);
    ck_assert_int_eq(aa_session_poll(s, fds[0], 5000), 1);
    close(fds[0]);
}
END_TEST

/* Drives a coroutine that never suspends: a runner with no loop, and so
 * no poll, which leaves the wait to the library. */
static PyObject *nopoll_run(void *state, PyObject *coro, PyObject *context)
{
    (void)state;
    (void)context;
    return tu_send_once(coro);
}

/* Checks that poll of x on fd, a descriptor that is not open, fails with
 * AA_EINVAL and a message naming fd, with and without a timeout. */
static void expect_bad_fd(aa_session *x, const char *who, int fd)
{
    char name[32];
    int i, rc;

    snprintf(name, sizeof name, "fd %d", fd);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    for (i = 0; i < 3; i++) {
        int timeout = i == 0 ? -1 : i == 1 ? 0 : 5000;
        double t0 = tu_now();
        rc = aa_session_poll(x, fd, timeout);
        ck_assert_msg(rc == AA_EINVAL, "%s: fd %d, timeout %d: %d", who, fd,
                      timeout, rc);
        ck_assert_msg(tu_now() - t0 < 2.0 * tu_scale(), "%s: took %.3f s", who,
                      tu_now() - t0);
        ck_assert_msg(strstr(aa_session_errmsg(x), name) != NULL &&
                          strstr(aa_session_errmsg(x),
                                 "not an open file descriptor") != NULL,
                      "%s: %s", who, aa_session_errmsg(x));
    }
}

/*
 * What every runner answers (H4): a closed fd and one never opened fail
 * with AA_EINVAL; a pipe whose writer is gone is readable (1); an empty
 * pipe times out (0); a byte in it is readable (1); no fd and no timeout
 * is AA_EINVAL, as nothing could end that wait; no fd and a timeout of 0
 * answers 0 at once.
 */
static void expect_answers(aa_session *x, const char *who)
{
    int fds[2], closed, rc;
    double t0;
    char c;

    ck_assert_int_eq(pipe(fds), 0);
    closed = fds[0];
    close(fds[0]);
    close(fds[1]);
    expect_bad_fd(x, who, closed);
    expect_bad_fd(x, who, 100000); /* never opened */

    ck_assert_int_eq(pipe(fds), 0);
    t0 = tu_now();
    rc = aa_session_poll(x, fds[0], 100);
    ck_assert_msg(rc == 0, "%s: an empty pipe: %d", who, rc);
    ck_assert_msg(tu_now() - t0 >= 0.09, "%s: returned after %.3f s", who,
                  tu_now() - t0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    rc = aa_session_poll(x, fds[0], -1);
    ck_assert_msg(rc == 1, "%s: a byte in the pipe, no timeout: %d", who, rc);
    rc = aa_session_poll(x, fds[0], 5000);
    ck_assert_msg(rc == 1, "%s: a byte in the pipe: %d", who, rc);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[1]);
    t0 = tu_now();
    rc = aa_session_poll(x, fds[0], -1);
    ck_assert_msg(rc == 1, "%s: hung up, no timeout: %d", who, rc);
    rc = aa_session_poll(x, fds[0], 5000);
    ck_assert_msg(rc == 1, "%s: hung up: %d", who, rc);
    ck_assert_msg(tu_now() - t0 < 2.0 * tu_scale(), "%s: took %.3f s", who,
                  tu_now() - t0);
    close(fds[0]);

    rc = aa_session_poll(x, -1, -1);
    ck_assert_msg(rc == AA_EINVAL, "%s: no fd, no timeout: %d", who, rc);
    ck_assert_msg(strstr(aa_session_errmsg(x), "nothing") != NULL, "%s: %s",
                  who, aa_session_errmsg(x));
    t0 = tu_now();
    rc = aa_session_poll(x, -1, 0);
    ck_assert_msg(rc == 0, "%s: no fd, no wait: %d", who, rc);
    ck_assert_msg(tu_now() - t0 < 2.0 * tu_scale(), "%s: took %.3f s", who,
                  tu_now() - t0);
}

START_TEST(every_runner_answers_alike)
{
    aa_runner vt = AA_RUNNER_INIT;
    aa_session *x;

    /* asyncio before any loop: the library waits itself. */
    expect_answers(s, "asyncio, no loop");
    /* asyncio with a loop and a task on it: the runner waits. */
    tu_do(s,
          "import asyncio\nasync def tick():\n    while True:\n"
          "        await asyncio.sleep(0.01)\n"
          "t = asyncio.create_task(tick())\nawait asyncio.sleep(0)",
          AA_OK);
    expect_answers(s, "asyncio, a task running");
    tu_do(s, "t.cancel()", AA_OK);
    /* trio has no poll: the library waits, after a trio cell. */
    if (!tu_missing("trio", "")) {
        x = tu_session("trio");
        tu_do(x, "import trio\nawait trio.sleep(0)", AA_OK);
        expect_answers(x, "trio");
        aa_session_free(x);
    }
    if (!tu_missing("curio", "")) {
        x = tu_session("curio");
        tu_do(x,
              "import curio\nasync def tick():\n    while True:\n"
              "        await curio.sleep(0.01)\n"
              "await curio.spawn(tick, daemon=True)",
              AA_OK);
        expect_answers(x, "curio");
        aa_session_free(x);
    }
    /* A runner without poll at all. */
    vt.name = "nopoll";
    vt.run = nopoll_run;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_OK);
    x = tu_session("nopoll");
    tu_expect(x, "async def f():\n    return 6\nawait f() * 7", "42");
    expect_answers(x, "a runner without poll");
    aa_session_free(x);
    ck_assert_str_eq(tu_stderr(), "");
}
END_TEST

/* The lowest descriptor number free now. */
static int lowest_free_fd(void)
{
    int fd = dup(2);

    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

/* The int that the expression src, run in x, displays. */
static int int_of(aa_session *x, const char *src)
{
    aa_result *r = tu_run(x, src, AA_OK);
    int n = atoi(aa_result_repr(r));

    aa_result_free(r);
    return n;
}

static int cell_pipe_w;

static void *write_to_cell_pipe(void *arg)
{
    (void)arg;
    tu_sleep_ms(100);
    ck_assert_int_eq(write(cell_pipe_w, "k", 1), 1);
    return NULL;
}

/*
 * W10 on x: setup, a cell, makes a pipe r, w and a reader of r (the
 * cell's own) that appends what it reads to `got`; nap is a statement
 * that lets it run.  The host's polls on r leave the reader alone, and
 * 1 means r is readable as the call returns: when the cell's reader took
 * what came, the host waits on until its time runs out.  No descriptor
 * is left open.
 */
static void expect_reader_left_alone(aa_session *x, const char *setup,
                                     const char *nap)
{
    char src[200];
    pthread_t t;
    int rfd, free_fd;
    double t0;

    tu_do(x, setup, AA_OK);
    rfd = int_of(x, "r");
    cell_pipe_w = int_of(x, "w");
    free_fd = lowest_free_fd();

    /* Nothing to read: the time runs out, and the reader is still there. */
    ck_assert_int_eq(aa_session_poll(x, rfd, 50), 0);
    snprintf(src, sizeof src, "os.write(w, b'a')\n%s\ngot", nap);
    tu_expect(x, src, "[b'a']");

    /* A byte comes while the host waits: the cell's reader takes it then
     * (the sync cell after does not run the loop), and the host, left
     * with nothing to read, waits on until its time runs out. */
    ck_assert_int_eq(pthread_create(&t, NULL, write_to_cell_pipe, NULL), 0);
    t0 = tu_now();
    ck_assert_int_eq(aa_session_poll(x, rfd, 1000), 0);
    ck_assert_msg(tu_now() - t0 >= 0.9, "returned after %.3f s", tu_now() - t0);
    pthread_join(t, NULL);
    tu_expect(x, "got", "[b'a', b'k']");

    /* A byte there before the host looks: readable at once, and the
     * cell's reader still takes it at the next turn of the loop. */
    ck_assert_int_eq(write(cell_pipe_w, "z", 1), 1);
    ck_assert_int_eq(aa_session_poll(x, rfd, 1000), 1);
    snprintf(src, sizeof src, "%s\ngot", nap);
    tu_expect(x, src, "[b'a', b'k', b'z']");
    ck_assert_int_eq(lowest_free_fd(), free_fd);
}

/* W10: a cell's loop.add_reader on the fd the host waits for. */
START_TEST(the_hosts_wait_leaves_a_cells_reader_alone)
{
    expect_reader_left_alone(
        s,
        "import asyncio, os\nr, w = os.pipe()\ngot = []\n"
        "def cb():\n    got.append(os.read(r, 100))\n"
        "await asyncio.sleep(0)\n"
        "loop = asyncio.get_running_loop()\nloop.add_reader(r, cb)",
        "await asyncio.sleep(0.2)");
    tu_expect(s, "loop.remove_reader(r)", "True");
    tu_do(s, "os.close(r)\nos.close(w)", AA_OK);
    ck_assert_str_eq(tu_stderr(), "");
}
END_TEST

/*
 * W10 for curio: a task of the cell waiting on the fd the host waits for,
 * through curio.traps._read_wait or a curio socket's recv.  curio lets one
 * task at a time wait to read an fd: the host's wait must neither fail
 * because a cell's task waits there already, nor make one that starts to
 * wait meanwhile fail.
 */
START_TEST(the_hosts_wait_leaves_a_curio_tasks_reader_alone)
{
    aa_session *x;
    pthread_t t;
    int free_fd;

    if (tu_missing("curio", " (put its source on PYTHONPATH to run it)"))
        return;
    x = tu_session("curio");
    expect_reader_left_alone(
        x,
        "import curio, os\nr, w = os.pipe()\ngot = []\n"
        "async def reader():\n    while True:\n"
        "        await curio.traps._read_wait(r)\n"
        "        got.append(os.read(r, 100))\n"
        "t = await curio.spawn(reader, daemon=True)\nawait curio.sleep(0)",
        "await curio.sleep(0.2)");
    tu_expect(x, "t.terminated", "False");

    /* A task that starts to read a curio socket while the host already
     * waits on it gets what comes. */
    free_fd = lowest_free_fd();
    tu_do(x,
          "a, b = curio.socket.socketpair()\n"
          "async def listen():\n    await curio.sleep(0.05)\n"
          "    return await a.recv(100)\n"
          "u = await curio.spawn(listen)",
          AA_OK);
    cell_pipe_w = int_of(x, "b.fileno()");
    ck_assert_int_eq(pthread_create(&t, NULL, write_to_cell_pipe, NULL), 0);
    ck_assert_int_eq(aa_session_poll(x, int_of(x, "a.fileno()"), 1000), 0);
    pthread_join(t, NULL);
    tu_expect(x, "await u.join()", "b'k'");
    tu_do(x, "await a.close()\nawait b.close()", AA_OK);
    ck_assert_int_eq(lowest_free_fd(), free_fd);

    tu_do(x, "await t.cancel()\nos.close(r)\nos.close(w)", AA_OK);
    aa_session_free(x);
    ck_assert_str_eq(tu_stderr(), "");
}
END_TEST

/*
 * An exception that escapes curio's kernel during a poll (a task raised
 * KeyboardInterrupt) cuts the host's wait short: AA_ERUNNER, as with
 * asyncio.  The wait it cut short is gone with it: the host waits on the
 * same fd again, and a task of the cell may wait on it too.
 */
START_TEST(a_curio_poll_cut_short_leaves_no_wait_behind)
{
    aa_session *x;
    char src[160];
    int fds[2], free_fd;

    if (tu_missing("curio", " (put its source on PYTHONPATH to run it)"))
        return;
    x = tu_session("curio");
    ck_assert_int_eq(pipe(fds), 0);
    tu_do(x,
          "import curio, os\nasync def boom():\n    await curio.sleep(0.05)\n"
          "    raise KeyboardInterrupt\nawait curio.spawn(boom, daemon=True)",
          AA_OK);
    free_fd = lowest_free_fd();
    ck_assert_int_eq(aa_session_poll(x, fds[0], 5000), AA_ERUNNER);
    ck_assert_ptr_nonnull(strstr(aa_session_errmsg(x), "KeyboardInterrupt"));
    tu_clear();

    ck_assert_int_eq(aa_session_poll(x, fds[0], 50), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(aa_session_poll(x, fds[0], 5000), 1);
    snprintf(src, sizeof src,
             "await curio.traps._read_wait(%d)\nos.read(%d, 10)", fds[0],
             fds[0]);
    tu_expect(x, src, "b'x'");
    ck_assert_int_eq(lowest_free_fd(), free_fd); /* no descriptor left open */
    aa_session_free(x);
    close(fds[0]);
    close(fds[1]);
    ck_assert_str_eq(tu_stderr(), "");
}
END_TEST

static Suite *poll_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("poll", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, background_tasks_progress_while_idle);
    tcase_add_test(tc, a_readable_descriptor_ends_the_wait);
    tcase_add_test(tc, with_nothing_to_run_it_just_waits);
    tcase_add_test(tc, a_closed_pipe_and_no_timeout_end_the_wait);
    tcase_add_test(tc, every_runner_answers_alike);
    tcase_add_test(tc, the_hosts_wait_leaves_a_cells_reader_alone);
    tcase_add_test(tc, the_hosts_wait_leaves_a_curio_tasks_reader_alone);
    tcase_add_test(tc, a_curio_poll_cut_short_leaves_no_wait_behind);
    tcase_add_test(tc, a_running_cell_makes_poll_busy);
    tcase_add_test(tc,
                   an_escaping_exception_is_reported_and_the_session_goes_on);
    return suite;
}

int main(void)
{
    return tu_main(poll_suite());
}
