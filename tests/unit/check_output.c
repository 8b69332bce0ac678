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

static Suite *output_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("output", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(
        tc, kept_streams_reach_the_process_after_the_last_callback_session);
    tcase_add_test(tc, writes_outside_cells_reach_the_process);
    return suite;
}

int main(void)
{
    return tu_main(output_suite());
}
