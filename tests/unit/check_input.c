/*
 * check_input.c -- input() in cells of a session with an input callback
 * (aa_session_set_input): the line and the prompt, EOF and the exceptions
 * the callback names with aa_raise, async cells and threads the cell
 * started, and input() left alone everywhere else.
 */
#include <Python.h>

#define TU_SESSION_FIXTURE
#include "testutil.h"

/* What the callback does and what it saw. */
static struct {
    const char *answer;    /* the line it gives, or NULL */
    int status;            /* what it returns when answer is NULL */
    const char *raise;     /* an exception to aa_raise, or NULL */
    int raise_rc;          /* what aa_raise answered */
    int calls;             /* how many times it ran */
    char prompt[128];      /* the last prompt */
    void *userdata;        /* the last userdata */
    int gil_held;          /* the GIL was held during a call */
    aa_session *interrupt; /* aa_interrupt it, and wait, in the call */
    char stdout_at[128];   /* the session's stdout at the last call */
} in;

static int tag;

static int reader(void *userdata, const char *prompt, char **line)
{
    in.calls++;
    in.userdata = userdata;
    snprintf(in.prompt, sizeof in.prompt, "%s", prompt);
    in.gil_held |= PyGILState_Check();
    snprintf(in.stdout_at, sizeof in.stdout_at, "%s", tu_stdout());
    if (in.interrupt != NULL) {
        aa_interrupt(in.interrupt);
        tu_sleep_ms(300);
    }
    if (in.raise != NULL)
        in.raise_rc = aa_raise(in.raise, "from the callback");
    if (in.answer == NULL)
        return in.status;
    *line = strdup(in.answer);
    return AA_OK;
}

static void reset(void)
{
    memset(&in, 0, sizeof in);
    in.status = AA_EINVAL;
}

START_TEST(input_gets_the_line)
{
    reset();
    ck_assert_int_eq(aa_session_set_input(s, reader, &tag), AA_OK);
    in.answer = "Ada";
    tu_do(s, "print('hello')\nx = input('name? ')", AA_OK);
    tu_expect(s, "x", "'Ada'");
    ck_assert_int_eq(in.calls, 1);
    ck_assert_str_eq(in.prompt, "name? ");
    ck_assert_ptr_eq(in.userdata, &tag);
    ck_assert_int_eq(in.gil_held, 0);
    /* The prompt is not written by the library; what was printed before
     * had reached the callback. */
    ck_assert_str_eq(in.stdout_at, "hello\n");
    ck_assert_str_eq(tu_stdout(), "hello\n");

    /* No prompt is "", any other is str() of it; the line is UTF-8. */
    in.answer = "caf\xc3\xa9";
    tu_expect(s, "input()", "'café'");
    ck_assert_str_eq(in.prompt, "");
    tu_expect(s, "input(42)", "'café'");
    ck_assert_str_eq(in.prompt, "42");
    ck_assert_int_eq(in.calls, 3);
    ck_assert_int_eq(aa_session_set_input(NULL, reader, NULL), AA_EINVAL);
}
END_TEST

START_TEST(eof_and_raised_exceptions)
{
    aa_result *r;

    reset();
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    r = tu_run(s, "input('? ')", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "EOFError");
    aa_result_free(r);
    tu_expect(s,
              "try:\n    input()\nexcept EOFError:\n    caught = True\ncaught",
              "True");

    in.raise = "KeyboardInterrupt";
    r = tu_run(s, "try:\n    input('? ')\nfinally:\n    print('finally ran')",
               AA_EXCEPTION);
    ck_assert_int_eq(in.raise_rc, AA_OK);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    ck_assert_str_eq(aa_result_message(r), "from the callback");
    aa_result_free(r);
    ck_assert_str_eq(tu_stdout(), "finally ran\n");

    /* A named exception wins over a line given all the same. */
    in.raise = "ValueError";
    in.answer = "ignored";
    r = tu_run(s, "input()", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "ValueError");
    aa_result_free(r);

    /* Outside the callback aa_raise is refused, as before. */
    ck_assert_int_eq(aa_raise("KeyboardInterrupt", NULL), AA_EINVAL);
    tu_expect(s, "1 + 1", "2");
}
END_TEST

/* A Jupyter kernel's case: the client interrupts while input() waits for
 * it; the callback is told, and raises KeyboardInterrupt.  The cell ends
 * with it, its finally run, and nothing is left for the next cell. */
START_TEST(interrupted_while_waiting)
{
    static const char *const cells[] = {
        "try:\n    input('? ')\nfinally:\n    print('cleaned up')",
        "import asyncio\nawait asyncio.sleep(0)\n"
        "try:\n    input('? ')\nfinally:\n    print('cleaned up')",
    };
    size_t i;

    reset();
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    for (i = 0; i < 2; i++) {
        aa_result *r;

        in.interrupt = s;
        in.raise = "KeyboardInterrupt";
        r = tu_run(s, cells[i], AA_EXCEPTION);
        ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
        aa_result_free(r);
        in.interrupt = NULL;
        in.raise = NULL;
        in.answer = "next";
        tu_expect(s, "import time\ntime.sleep(0.3)\ninput()", "'next'");
        in.answer = NULL;
    }
    ck_assert_str_eq(tu_stdout(), "cleaned up\ncleaned up\n");
}
END_TEST

/* Runs Python source from C, on no session's cell. */
static void run_from_c(const char *src)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = PyRun_SimpleString(src);

    PyGILState_Release(g);
    ck_assert_int_eq(rc, 0);
}

START_TEST(other_sessions_keep_their_input)
{
    aa_session *plain = NULL;

    reset();
    tu_do(s, "import builtins\nbuiltins.process_input = builtins.input", AA_OK);
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    in.answer = "from the callback";
    ck_assert_int_eq(aa_session_new(&plain, NULL), AA_OK);
    tu_do(plain, "import io, sys\nsys.stdin = io.StringIO('typed\\n')", AA_OK);
    tu_expect(plain, "input()", "'typed'");
    run_from_c("import io, sys\nsys.stdin = io.StringIO('from C\\n')\n"
               "assert input() == 'from C'\n");
    ck_assert_int_eq(in.calls, 0);
    tu_expect(s, "input()", "'from the callback'");
    ck_assert_int_eq(in.calls, 1);

    /* AA_ENOTFOUND passes the call on, to sys.stdin. */
    in.answer = NULL;
    in.status = AA_ENOTFOUND;
    tu_do(s, "import io, sys\nsys.stdin = io.StringIO('passed on\\n')", AA_OK);
    tu_expect(s, "input()", "'passed on'");
    ck_assert_int_eq(in.calls, 2);

    /* NULL puts the process's own input() back. */
    ck_assert_int_eq(aa_session_set_input(s, NULL, NULL), AA_OK);
    tu_do(s, "sys.stdin = io.StringIO('back\\n')", AA_OK);
    tu_expect(s, "input()", "'back'");
    tu_expect(s, "builtins.input is builtins.process_input", "True");
    ck_assert_int_eq(in.calls, 2);
    aa_session_free(plain);
}
END_TEST

START_TEST(async_cells_and_threads)
{
    reset();
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    in.answer = "line";
    tu_expect(s,
              "import asyncio\nawait asyncio.sleep(0)\n"
              "x = input('async? ')\nawait asyncio.sleep(0)\nx",
              "'line'");
    ck_assert_str_eq(in.prompt, "async? ");
    tu_expect(s,
              "import threading\n"
              "got = []\n"
              "t = threading.Thread(target=lambda: got.append(input('t? ')))\n"
              "t.start()\nt.join()\ngot",
              "['line']");
    ck_assert_str_eq(in.prompt, "t? ");
    ck_assert_int_eq(in.calls, 2);
}
END_TEST

static void on_done(void *userdata, aa_session *session, int status,
                    aa_result *r)
{
    int *ended = userdata;

    (void)session;
    ck_assert_int_eq(status, AA_OK);
    ck_assert_str_eq(aa_result_repr(r), "['bg']");
    aa_result_free(r);
    *ended = 1;
}

/* A cell started with aa_exec_start goes on between the host's
 * dispatches: a thread it started asks the session's callback even while
 * no dispatch runs (the host waits on the session's fd). */
START_TEST(threads_of_a_started_cell)
{
    static const char cell[] = "import asyncio, threading, time\n"
                               "got = []\n"
                               "def ask():\n"
                               "    time.sleep(0.1)\n"
                               "    got.append(input('bg? '))\n"
                               "t = threading.Thread(target=ask)\n"
                               "t.start()\n"
                               "await asyncio.sleep(0.5)\n"
                               "t.join()\n"
                               "got";
    int ended = 0;

    reset();
    in.answer = "bg";
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    ck_assert_int_eq(aa_exec_start(s, cell, strlen(cell), on_done, &ended),
                     AA_OK);
    tu_dispatch_until(s, &ended, 10);
    ck_assert_str_eq(in.prompt, "bg? ");
}
END_TEST

/* sys.stderr and sys.stdout are flushed before the callback runs, as
 * python3's input() flushes them before it reads. */
START_TEST(streams_are_flushed_first)
{
    reset();
    ck_assert_int_eq(aa_session_set_input(s, reader, NULL), AA_OK);
    in.answer = "y";
    tu_expect(s,
              "import sys\n"
              "class Log:\n"
              "    def __init__(self, name):\n"
              "        self.name = name\n"
              "    def write(self, text):\n"
              "        calls.append((self.name, text))\n"
              "    def flush(self):\n"
              "        calls.append((self.name, 'flush'))\n"
              "calls = []\n"
              "sys.stdout, sys.stderr = Log('out'), Log('err')\n"
              "print('Continue? ', end='')\n"
              "answer = input()\n"
              "calls.append(answer)\n"
              "calls",
              "[('out', 'Continue? '), ('out', ''), ('err', 'flush'), ('out', "
              "'flush'), "
              "'y']");
    ck_assert_int_eq(in.calls, 1);
}
END_TEST

static Suite *input_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("input", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, input_gets_the_line);
    tcase_add_test(tc, eof_and_raised_exceptions);
    tcase_add_test(tc, interrupted_while_waiting);
    tcase_add_test(tc, other_sessions_keep_their_input);
    tcase_add_test(tc, async_cells_and_threads);
    tcase_add_test(tc, threads_of_a_started_cell);
    tcase_add_test(tc, streams_are_flushed_first);
    return suite;
}

int main(void)
{
    return tu_main(input_suite());
}
