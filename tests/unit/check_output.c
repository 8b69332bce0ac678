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
#define _POSIX_C_SOURCE 200809L
#include <Python.h>

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
    fd_capture out;
    char *text;

    tu_do(s, "import sys, builtins\nbuiltins.kept_out = sys.stdout", AA_OK);
    fd_capture_begin(&out, 1);
    run_from_c("kept_out.write('between cells\\n')\nkept_out.flush()\n");
    text = fd_capture_end(&out);
    ck_assert_str_eq(text, "between cells\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "");
    run_from_c("import builtins\ndel builtins.kept_out\n");
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
    fd_capture out;
    char *text;

    tu_do(s, "import sys, builtins\nbuiltins.kept_out = sys.stdout", AA_OK);
    fd_capture_begin(&out, 1);
    run_from_c("kept_out.buffer.write(b'raw \\xff\\n')\n"
               "kept_out.buffer.flush()\n"
               "assert kept_out.buffer.fileno() == 1\n");
    text = fd_capture_end(&out);
    ck_assert_str_eq(text, "raw \xff\n");
    free(text);
    ck_assert_str_eq(tu_stdout(), "");
    run_from_c("import builtins\ndel builtins.kept_out\n");
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
    tcase_add_test(tc, streams_are_text_io);
    tcase_add_test(tc, writes_of_every_kind_reach_the_callback_in_order);
    tcase_add_test(tc, encoding_errors_are_pythons);
    tcase_add_test(tc, buffer_outside_cells_reaches_the_process);
    return suite;
}

int main(void)
{
    return tu_main(output_suite());
}
