/*
 * check_output.c -- unit tests of a session's sys.stdout and sys.stderr:
 * where a write goes when no session takes it (the process's own streams,
 * also through an object kept after the last session with a callback is
 * gone), and the stream's interface as io.TextIOBase promises it.
 *
 * Output that must reach the process's own descriptors is read back
 * through a pipe put on fd 1 or 2 for the time of the test (Check runs
 * each test in its own process).
 */
#define _GNU_SOURCE /* memmem */
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define TU_SESSION_FIXTURE
#include "testutil.h"

/* ------------------------------------------------ the process's streams */

/* fd put on a pipe until fd_capture_end, which answers what was written. */
typedef struct {
    int fd, saved, pipe[2];
} fd_capture;

static void fd_capture_begin(fd_capture *c, int fd)
{
    c->fd = fd;
    ck_assert_int_eq(pipe(c->pipe), 0);
    c->saved = dup(fd);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_eq(dup2(c->pipe[1], fd), fd);
    close(c->pipe[1]);
}

/* The text written (malloc'd), after the fd is back. */
static char *fd_capture_end(fd_capture *c)
{
    char *text = calloc(1, 65536);
    size_t len = 0;
    ssize_t n;

    ck_assert_int_eq(dup2(c->saved, c->fd), c->fd);
    close(c->saved);
    ck_assert_ptr_nonnull(text);
    while (len < 65535 && (n = read(c->pipe[0], text + len, 65535 - len)) > 0)
        len += (size_t)n;
    close(c->pipe[0]);
    return text;
}

/* Runs Python source from C, on no session's cell. */
static void run_from_c(const char *src)
{
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = PyRun_SimpleString(src);

    PyGILState_Release(g);
    ck_assert_int_eq(rc, 0);
}

/* Runs src from C and checks what reached the process's fd. */
static void expect_from_c(int fd, const char *src, const char *want)
{
    fd_capture c;
    char *text;

    fd_capture_begin(&c, fd);
    run_from_c(src);
    text = fd_capture_end(&c);
    ck_assert_str_eq(text, want);
    free(text);
}

/*
 * A logging handler made on a session's sys.stdout, and the streams
 * themselves, kept in a module after the last session with a callback is
 * freed: they write, flush and answer fileno() as the process's own
 * streams, from a session without a callback and from C.
 */
START_TEST(kept_streams_reach_the_process_after_the_last_callback_session)
{
    aa_session *plain = NULL;
    fd_capture out, err;
    char *text;

    tu_do(s,
          "import logging, sys\n"
          "log = logging.getLogger('kept')\n"
          "log.propagate = False\n"
          "log.addHandler(logging.StreamHandler(sys.stdout))\n"
          "logging.kept_out, logging.kept_err = sys.stdout, sys.stderr",
          AA_OK);
    aa_session_free(s);
    s = NULL;
    ck_assert_str_eq(tu_stdout(), "");

    fd_capture_begin(&out, 1);
    fd_capture_begin(&err, 2);
    ck_assert_int_eq(aa_session_new(&plain, NULL), AA_OK);
    tu_do(plain,
          "import logging\n"
          "logging.getLogger('kept').warning('from a session')\n"
          "logging.kept_err.write('err from a session\\n')\n"
          "logging.kept_err.flush()\n"
          "assert logging.kept_out.fileno() == 1\n"
          "assert logging.kept_err.fileno() == 2",
          AA_OK);
    aa_session_free(plain);
    run_from_c("import logging\n"
               "logging.getLogger('kept').warning('from C')\n"
               "logging.kept_out.write('written from C\\n')\n"
               "logging.kept_out.flush()\n");
    text = fd_capture_end(&err);
    ck_assert_str_eq(text, "err from a session\n");
    free(text);
    text = fd_capture_end(&out);
    ck_assert_str_eq(text, "from a session\nfrom C\nwritten from C\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "");
}
END_TEST

/* While a session with a callback lives, a write from a thread with no
 * cell, outside any cell, goes to the process's stream too. */
START_TEST(writes_outside_cells_reach_the_process)
{
    tu_do(s, "import sys, builtins\nbuiltins.kept_out = sys.stdout", AA_OK);
    expect_from_c(1, "kept_out.write('between cells\\n')\nkept_out.flush()\n",
                  "between cells\n");
    ck_assert_str_eq(tu_stdout(), "");
    run_from_c("import builtins\ndel builtins.kept_out\n");
}
END_TEST

/* A session without a callback that swaps the writers (sys.stdout is
 * the stderr writer) never makes one writer the other's fallback: that
 * was a RecursionError on every print. */
START_TEST(swapped_writers_do_not_recurse)
{
    aa_session *plain = NULL;

    tu_do(s, "1", AA_OK); /* the writers are in sys */
    ck_assert_int_eq(aa_session_new(&plain, NULL), AA_OK);
    tu_do(plain, "import sys\nsys.stdout, sys.stderr = sys.stderr, sys.stdout",
          AA_OK);
    tu_do(s, "print('in s')", AA_OK);
    tu_do(plain, "print('in plain', flush=True)", AA_OK);
    aa_session_free(plain);
    ck_assert_str_eq(tu_stdout(), "in s\n");
}
END_TEST

/* ------------------------------------------------- io.TextIOBase */

/* What each attribute of the session's streams answers (a repr). */
static const struct {
    const char *expr, *repr;
} interface[] = {
    {"isinstance(sys.stdout, io.TextIOBase)", "True"},
    {"isinstance(sys.stderr, io.TextIOBase)", "True"},
    {"isinstance(sys.stdout.buffer, io.BufferedIOBase)", "True"},
    {"sys.stdout.buffer is sys.stdout.buffer", "True"},
    {"sys.stdout.encoding, sys.stderr.encoding", "('utf-8', 'utf-8')"},
    /* python3's, in a UTF-8 locale. */
    {"sys.stdout.errors, sys.stderr.errors", "('strict', 'backslashreplace')"},
    {"sys.stdout.name, sys.stderr.name", "('<stdout>', '<stderr>')"},
    {"sys.stdout.buffer.name, sys.stderr.buffer.name",
     "('<stdout>', '<stderr>')"},
    {"sys.stdout.mode, sys.stdout.buffer.mode", "('w', 'wb')"},
    {"sys.stdout.isatty(), sys.stdout.buffer.isatty()", "(False, False)"},
    {"sys.stdout.readable(), sys.stdout.writable(), sys.stdout.seekable()",
     "(False, True, False)"},
    {"b = sys.stdout.buffer\nb.readable(), b.writable(), b.seekable()",
     "(False, True, False)"},
    {"sys.stdout.closed, sys.stdout.buffer.closed", "(False, False)"},
    {"repr(sys.stdout.newlines)", "'None'"},
    {"sys.stdout.line_buffering, sys.stdout.write_through", "(False, True)"},
    {"sys.stdout.flush(), sys.stdout.buffer.flush()", "(None, None)"},
    /* No file number behind a callback: as io.StringIO says. */
    {"unsupported(sys.stdout.fileno)", "True"},
    {"unsupported(sys.stderr.buffer.fileno)", "True"},
    {"unsupported(sys.stdout.read)", "True"},
    {"unsupported(sys.stdout.buffer.read)", "True"},
    {"unsupported(sys.stdout.detach)", "True"},
    {"unsupported(lambda: sys.stdout.seek(0))", "True"},
    {"with sys.stdout as f: f.write('x')\nsys.stdout.closed", "False"},
    /* One type for every session: no cell may patch it or make more. */
    {"refused(lambda: setattr(type(sys.stdout), 'write', print))", "True"},
    {"refused(lambda: setattr(type(sys.stdout.buffer), 'write', print))",
     "True"},
    {"refused(type(sys.stdout))", "True"},
};

START_TEST(streams_are_text_io)
{
    size_t i;

    tu_do(s,
          "import io, sys\n"
          "def unsupported(call):\n"
          "    try:\n        call()\n"
          "    except io.UnsupportedOperation:\n        return True\n"
          "    return False\n"
          "def refused(call):\n"
          "    try:\n        call()\n"
          "    except TypeError:\n        return True\n"
          "    return False",
          AA_OK);
    for (i = 0; i < sizeof interface / sizeof *interface; i++)
        tu_expect(s, interface[i].expr, interface[i].repr);
}
END_TEST

START_TEST(writes_of_every_kind_reach_the_callback_in_order)
{
    tu_do(s,
          "import sys\n"
          "print('to err', file=sys.stderr)\n"
          "sys.stdout.writelines(['a\\n', 'b', 'c\\n'])\n"
          "n = sys.stdout.buffer.write(b'\\xff\\n')\n"
          "sys.stdout.buffer.writelines([b'x', bytearray(b'y'), "
          "memoryview(b'z\\n')])\n"
          "sys.stderr.buffer.write(b'raw err\\n')\n"
          "print('end', flush=True)",
          AA_OK);
    tu_expect(s, "n", "2");
    ck_assert_str_eq(tu_stdout(), "a\nbc\n\xff\nxyz\nend\n");
    ck_assert_str_eq(tu_stderr(), "to err\nraw err\n");
}
END_TEST

START_TEST(encoding_errors_are_pythons)
{
    aa_result *r;

    /* python3's stdout is strict, its stderr backslashreplace. */
    r = tu_run(s, "print('\\udce9')", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "UnicodeEncodeError");
    aa_result_free(r);
    r = tu_run(s, "import sys\nsys.stdout.buffer.write('text')", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "TypeError");
    aa_result_free(r);
    tu_do(s, "print('\\udce9', file=sys.stderr)", AA_OK);
    ck_assert_str_eq(tu_stdout(), "");
    ck_assert_str_eq(tu_stderr(), "\\udce9\n");
}
END_TEST

/* The binary layer falls back as the text one does: to the buffer of the
 * process's own stream. */
START_TEST(buffer_outside_cells_reaches_the_process)
{
    tu_do(s, "import sys, builtins\nbuiltins.kept_out = sys.stdout", AA_OK);
    expect_from_c(1,
                  "kept_out.buffer.write(b'raw \\xff\\n')\n"
                  "kept_out.buffer.flush()\n"
                  "assert kept_out.buffer.fileno() == 1\n",
                  "raw \xff\n");
    ck_assert_str_eq(tu_stdout(), "");
    run_from_c("import builtins\ndel builtins.kept_out\n");
}
END_TEST

/* ------------------------------------------------ writes that fail */

static int fail_errno; /* what failing_write reports for "fail" */

/* Keeps what it gets, and reports fail_errno for a write holding "fail". */
static void failing_write(void *userdata, int stream, const char *data,
                          size_t len)
{
    tu_write(userdata, stream, data, len);
    if (len >= 4 && memmem(data, len, "fail", 4) != NULL)
        ck_assert_int_eq(aa_write_fail(fail_errno),
                         fail_errno > 0 ? AA_OK : AA_EINVAL);
}

START_TEST(a_failed_write_raises_in_the_cell)
{
    aa_session *f = tu_session_with(NULL, failing_write);
    aa_result *r;

    fail_errno = EPIPE;
    r = tu_run(f, "print('ok')\nprint('fail')\nprint('never')", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "BrokenPipeError");
    ck_assert_str_eq(aa_result_message(r), "[Errno 32] Broken pipe");
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "line 2"));
    aa_result_free(r);
    ck_assert_str_eq(tu_stdout(), "ok\nfail");
    /* Caught, as python3's own would be; the session goes on. */
    tu_expect(f,
              "import sys\n"
              "def errnos(*writes):\n"
              "    got = []\n"
              "    for w in writes:\n"
              "        try:\n            w()\n"
              "        except OSError as e:\n"
              "            got.append((type(e).__name__, e.errno))\n"
              "    return got\n"
              "errnos(lambda: sys.stderr.write('fail'),\n"
              "       lambda: sys.stdout.buffer.write(b'fail'),\n"
              "       lambda: sys.stdout.writelines(['a', 'fail']),\n"
              "       lambda: sys.stdout.write('fine'))",
              "[('BrokenPipeError', 32), ('BrokenPipeError', 32), "
              "('BrokenPipeError', 32)]");
    fail_errno = ENOSPC;
    r = tu_run(f, "sys.stdout.write('fail')", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "OSError");
    ck_assert_str_eq(aa_result_message(r),
                     "[Errno 28] No space left on device");
    aa_result_free(r);
    /* errnum 0 is no failure: the write stands. */
    fail_errno = 0;
    tu_do(f, "print('fail, but not really')", AA_OK);
    aa_session_free(f);
}
END_TEST

START_TEST(write_fail_outside_a_callback_is_refused)
{
    ck_assert_int_eq(aa_write_fail(EPIPE), AA_EINVAL);
    ck_assert_int_eq(aa_write_fail(0), AA_EINVAL);
    /* Nor does a refused call reach the next write. */
    tu_do(s, "print('after')", AA_OK);
    ck_assert_str_eq(tu_stdout(), "after\n");
}
END_TEST

/* ---------------------------------------- the callback swapped at run time */

static tu_buf other; /* what other_write got, both streams */
static int other_tag;

static void other_write(void *userdata, int stream, const char *data,
                        size_t len)
{
    char *p = realloc(other.data, other.len + len + 1);

    (void)stream;
    ck_assert_ptr_eq(userdata, &other_tag);
    ck_assert_ptr_nonnull(p);
    memcpy(p + other.len, data, len);
    other.len += len;
    p[other.len] = '\0';
    other.data = p;
}

static const char *other_text(void)
{
    return other.data != NULL ? other.data : "";
}

/* Is sys.stdout the process's own (sys.__stdout__), seen from C? */
static int process_streams_in_sys(void)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *out = PySys_GetObject("stdout"), *err = PySys_GetObject("stderr");
    int own = out == PySys_GetObject("__stdout__") &&
              err == PySys_GetObject("__stderr__");

    PyGILState_Release(g);
    return own;
}

START_TEST(set_write_swaps_the_callback)
{
    aa_write_fn old = NULL;
    void *old_userdata = &old;

    tu_do(s, "print('one')", AA_OK);
    ck_assert_int_eq(
        aa_session_set_write(s, other_write, &other_tag, &old, &old_userdata),
        AA_OK);
    ck_assert(old == tu_write);
    ck_assert_ptr_null(old_userdata);
    tu_do(s, "import sys\nprint('two')\nprint('err', file=sys.stderr)", AA_OK);
    ck_assert_str_eq(tu_stdout(), "one\n");
    ck_assert_str_eq(other_text(), "two\nerr\n");
    /* And back: the old values are the other's, and either pointer may be
     * NULL. */
    ck_assert_int_eq(aa_session_set_write(s, old, NULL, &old, NULL), AA_OK);
    ck_assert(old == other_write);
    tu_do(s, "print('three')", AA_OK);
    ck_assert_str_eq(tu_stdout(), "one\nthree\n");
    ck_assert_int_eq(aa_session_set_write(NULL, tu_write, NULL, NULL, NULL),
                     AA_EINVAL);
}
END_TEST

/* NULL sends a session's writes to the process's streams; with no
 * callback session left, sys.stdout is the process's own again; a session
 * made without a callback can get one, and give it up. */
START_TEST(set_write_null_reaches_the_process)
{
    aa_session *plain = NULL;
    fd_capture c;
    char *text;
    aa_write_fn old = tu_write;

    ck_assert_int_eq(aa_session_set_write(s, NULL, NULL, NULL, NULL), AA_OK);
    fd_capture_begin(&c, 1);
    tu_do(s, "print('to the process')", AA_OK);
    text = fd_capture_end(&c);
    ck_assert_str_eq(text, "to the process\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "");
    ck_assert(process_streams_in_sys());

    ck_assert_int_eq(aa_session_new(&plain, NULL), AA_OK);
    ck_assert_int_eq(aa_session_set_write(plain, tu_write, NULL, &old, NULL),
                     AA_OK);
    ck_assert(old == NULL);
    tu_do(plain, "print('plain, caught')", AA_OK);
    ck_assert_str_eq(tu_stdout(), "plain, caught\n");
    ck_assert(!process_streams_in_sys());
    ck_assert_int_eq(aa_session_set_write(plain, NULL, NULL, NULL, NULL),
                     AA_OK);
    ck_assert(process_streams_in_sys());
    /* Counted right: freeing both leaves the process's streams alone. */
    ck_assert_int_eq(aa_session_set_write(plain, tu_write, NULL, NULL, NULL),
                     AA_OK);
    aa_session_free(s);
    s = NULL;
    tu_do(plain, "print('still caught')", AA_OK);
    ck_assert_str_eq(tu_stdout(), "plain, caught\nstill caught\n");
    aa_session_free(plain);
    ck_assert(process_streams_in_sys());
}
END_TEST

/* The callback swaps itself out, from inside a write. */
static void swapping_write(void *userdata, int stream, const char *data,
                           size_t len)
{
    aa_write_fn old = NULL;

    tu_write(NULL, stream, data, len);
    if (len >= 4 && memmem(data, len, "swap", 4) != NULL) {
        ck_assert_int_eq(
            aa_session_set_write(userdata, other_write, &other_tag, &old, NULL),
            AA_OK);
        ck_assert(old == swapping_write);
    }
}

START_TEST(set_write_from_the_write_callback)
{
    aa_session *w = NULL;
    aa_options o;

    aa_options_init(&o);
    o.write = swapping_write;
    ck_assert_int_eq(aa_session_new(&w, &o), AA_OK);
    ck_assert_int_eq(aa_session_set_write(w, swapping_write, w, NULL, NULL),
                     AA_OK);
    tu_do(w, "print('before')\nprint('swap')\nprint('after')", AA_OK);
    ck_assert_str_eq(tu_stdout(), "before\nswap");
    ck_assert_str_eq(other_text(), "\nafter\n");
    aa_session_free(w);
}
END_TEST

/* What the host function below sets: the session, and the callback. */
static struct {
    aa_session *s;
    aa_write_fn write;
    void *userdata;
} swap_to;

static void host_swap(void *userdata)
{
    (void)userdata;
    ck_assert_int_eq(aa_session_set_write(swap_to.s, swap_to.write,
                                          swap_to.userdata, NULL, NULL),
                     AA_OK);
}

/* A cell that starts a thread, swaps the callback (a host function) while
 * the thread waits, and lets the thread print. */
static const char swap_cell[] = "import sys, threading\n"
                                "go = threading.Event()\n"
                                "def later():\n"
                                "    go.wait()\n"
                                "    print('from the thread')\n"
                                "t = threading.Thread(target=later)\n"
                                "t.start()\n"
                                "print('before', flush=True)\n"
                                "swap()\n"
                                "print('after')\n"
                                "go.set()\n"
                                "t.join()\n"
                                "sys.stdout.flush()";

START_TEST(set_write_from_inside_a_cell)
{
    aa_session *plain = NULL;
    fd_capture c;
    char *text;

    /* From one callback to another. */
    swap_to.s = s;
    swap_to.write = other_write;
    swap_to.userdata = &other_tag;
    ck_assert_int_eq(
        aa_define(s, "swap", "v(u)", (void (*)(void))host_swap, NULL), AA_OK);
    tu_do(s, swap_cell, AA_OK);
    ck_assert_str_eq(tu_stdout(), "before\n");
    ck_assert_str_eq(other_text(), "after\nfrom the thread\n");

    /* From none to one: the streams are put in place at once. */
    tu_clear();
    ck_assert_int_eq(aa_session_new(&plain, NULL), AA_OK);
    swap_to.s = plain;
    swap_to.write = tu_write;
    swap_to.userdata = NULL;
    ck_assert_int_eq(
        aa_define(plain, "swap", "v(u)", (void (*)(void))host_swap, NULL),
        AA_OK);
    fd_capture_begin(&c, 1);
    tu_do(plain, swap_cell, AA_OK);
    text = fd_capture_end(&c);
    ck_assert_str_eq(text, "before\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "after\nfrom the thread\n");

    /* And from one to none. */
    swap_to.write = NULL;
    tu_clear();
    ck_assert_int_eq(aa_session_set_write(plain, tu_write, NULL, NULL, NULL),
                     AA_OK);
    fd_capture_begin(&c, 1);
    tu_do(plain, swap_cell, AA_OK);
    text = fd_capture_end(&c);
    ck_assert_str_eq(text, "after\nfrom the thread\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "before\n");
    aa_session_free(plain);
}
END_TEST

static void on_done(void *userdata, aa_session *session, int status,
                    aa_result *r)
{
    (void)session;
    ck_assert_int_eq(status, AA_OK);
    aa_result_free(r);
    *(int *)userdata = 1;
}

/* A cell started with aa_exec_start goes on between the host's
 * dispatches: what a thread it started prints while no dispatch runs (the
 * host waits on the session's fd) is the session's output too. */
START_TEST(threads_of_a_started_cell_write_to_it)
{
    static const char cell[] = "import asyncio, threading, time\n"
                               "def later():\n"
                               "    time.sleep(0.1)\n"
                               "    print('from the thread')\n"
                               "t = threading.Thread(target=later)\n"
                               "t.start()\n"
                               "await asyncio.sleep(0.5)\n"
                               "t.join()";
    int ended = 0;

    ck_assert_int_eq(aa_exec_start(s, cell, strlen(cell), on_done, &ended),
                     AA_OK);
    tu_dispatch_until(s, &ended, 10);
    ck_assert_str_eq(tu_stdout(), "from the thread\n");
}
END_TEST

static Suite *output_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("output", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(
        tc, kept_streams_reach_the_process_after_the_last_callback_session);
    tcase_add_test(tc, writes_outside_cells_reach_the_process);
    tcase_add_test(tc, swapped_writers_do_not_recurse);
    tcase_add_test(tc, streams_are_text_io);
    tcase_add_test(tc, writes_of_every_kind_reach_the_callback_in_order);
    tcase_add_test(tc, encoding_errors_are_pythons);
    tcase_add_test(tc, buffer_outside_cells_reaches_the_process);
    tcase_add_test(tc, a_failed_write_raises_in_the_cell);
    tcase_add_test(tc, write_fail_outside_a_callback_is_refused);
    tcase_add_test(tc, threads_of_a_started_cell_write_to_it);
    tcase_add_test(tc, set_write_swaps_the_callback);
    tcase_add_test(tc, set_write_null_reaches_the_process);
    tcase_add_test(tc, set_write_from_the_write_callback);
    tcase_add_test(tc, set_write_from_inside_a_cell);
    return suite;
}

int main(void)
{
    return tu_main(output_suite());
}
