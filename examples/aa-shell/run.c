/*
 * run.c -- running one cell and telling the user how it went.
 *
 * It owns the SIGINT handler (Ctrl-C while a cell runs reaches the cell
 * through aa_interrupt, which is async-signal-safe; a second Ctrl-C while it
 * unwinds calls aa_interrupt again, which forces it), the session's write
 * callback (which must not scribble over a line the console is editing,
 * and reports a failed write to the cell through aa_write_fail), and the
 * reports: Out[n], tracebacks, SystemExit.  Reading cells is left
 * to batch.c and console.c, the %magics to magics.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shell.h"

volatile sig_atomic_t sigint_count;
static volatile sig_atomic_t cell_running;
static aa_session *sigint_session;

/* -------------------------------------------------------------- SIGINT */

static void on_sigint(int signo)
{
    (void)signo;
    if (sigint_count < 100)
        sigint_count++;
    if (cell_running)
        aa_interrupt(sigint_session);
}

/*
 * While a cell runs, interrupted system calls restart, so that only the
 * cell sees Ctrl-C; while the shell waits for input they do not, so that
 * Ctrl-C ends the wait at once.
 */
static void catch_sigint(int restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

void sigint_install(aa_session *s)
{
    sigint_session = s;
    catch_sigint(0);
}

void sigint_running(int running)
{
    cell_running = running;
    catch_sigint(running);
}

/* -------------------------------------------------------------- output */

/*
 * The session's write callback: what cells (and, while the console waits,
 * background tasks) print.  At the prompt, the line being edited is
 * cleared first; the console draws it again once the poll returns.
 */
void output_write(void *userdata, int stream, const char *data, size_t len)
{
    struct shell *sh = userdata;

    if (len == 0)
        return;
    if (sh->out_mode == OUT_CAPTURE && stream == 1) {
        buf_append(&sh->capture, data, len);
        return;
    }
    if (sh->out_mode == OUT_PROMPT && !sh->line_cleared) {
        if (sh->clear_input != NULL)
            sh->clear_input(sh);
        sh->line_cleared = 1;
    }
    flush_stdout(sh);
    if (write_all(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, data, len) !=
        0) {
        int err = errno;
        /* As for python3's own streams: the cell's write raises OSError
         * (BrokenPipeError once the reader has gone, SIGPIPE being
         * ignored), so that the cell stops and its finally blocks run. */
        if (stream == 1) {
            sh->out_lost = err;
            sh->at_line_start = 1; /* no line is left to end */
        }
        aa_write_fail(err);
        return;
    }
    sh->at_line_start = data[len - 1] == '\n';
}

void finish_output_line(struct shell *sh)
{
    if (!sh->at_line_start) {
        flush_stdout(sh);
        if (write_all(STDOUT_FILENO, "\n", 1) != 0)
            sh->own_out_errno = errno;
        sh->at_line_start = 1;
    }
}

void flush_stdout(struct shell *sh)
{
    if (fflush(stdout) != 0 && sh->own_out_errno == 0)
        sh->own_out_errno = errno;
}

int output_gone(const struct shell *sh, int status)
{
    return ferror(stdout) || sh->own_out_errno != 0 ||
           (sh->out_lost != 0 && status != AA_OK);
}

/* ------------------------------------------------------------ reports */

static int is_integer_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        return 0;
    while (*s >= '0' && *s <= '9')
        s++;
    return *s == '\0';
}

/* SystemExit("bye") prints its argument, as Python does; None, bools and
 * integers print nothing. */
static void report_system_exit(const aa_result *r)
{
    const char *msg = aa_result_message(r);

    if (msg == NULL || *msg == '\0' || is_integer_text(msg) ||
        strcmp(msg, "None") == 0 || strcmp(msg, "True") == 0 ||
        strcmp(msg, "False") == 0)
        return;
    fprintf(stderr, "%s\n", msg);
}

static void report_exception(const struct shell *sh, const aa_result *r,
                             int status, int interrupted)
{
    const char *tb = aa_result_traceback(r);
    const char *exc = aa_result_exception(r);
    const char *msg = aa_result_message(r);

    /* Ctrl-C at the console: the user knows where they were. */
    if (interrupted && sh->interactive && exc != NULL &&
        strcmp(exc, "KeyboardInterrupt") == 0)
        fputs("KeyboardInterrupt\n", stderr);
    else if (tb != NULL)
        fputs(tb, stderr);
    else if (exc != NULL && msg != NULL && *msg != '\0')
        fprintf(stderr, "%s: %s\n", exc, msg);
    else if (exc != NULL)
        fprintf(stderr, "%s\n", exc);
    else
        fprintf(stderr, "%s\n", aa_strerror(status));
}

/* A failure of the call itself, not of the user's code. */
static void report_failure(const struct shell *sh, const aa_result *r,
                           int status)
{
    const char *msg = aa_session_errmsg(sh->session);

    if (msg == NULL || *msg == '\0')
        msg = aa_result_message(r);
    if (msg == NULL || *msg == '\0')
        msg = aa_strerror(status);
    fprintf(stderr, "%s: %s\n", PROGNAME, msg);
}

void show_value(struct shell *sh, const aa_result *r, int n)
{
    const char *repr = aa_result_repr(r);
    const char *sep;

    if (repr == NULL)
        return;
    /* IPython starts a multi-line value on a line of its own. */
    sep = strchr(repr, '\n') ? "\n" : "";
    if (sh->color)
        printf("\033[31mOut[\033[1;31m%d\033[0;31m]:\033[0m %s%s\n", n, sep,
               repr);
    else
        printf("Out[%d]: %s%s\n", n, sep, repr);
    flush_stdout(sh);
}

void report_result(struct shell *sh, const aa_result *r, int status, int n,
                   int show)
{
    int interrupted = sigint_count > 0;
    const char *exc = aa_result_exception(r);

    if (interrupted && isatty(STDIN_FILENO))
        sh->at_line_start = 0; /* the terminal echoed ^C */
    finish_output_line(sh);
    if (status < 0) {
        report_failure(sh, r, status);
        sh->failed = 1;
    } else if (status == AA_SYSTEM_EXIT) {
        sh->exit_code = aa_result_exit_code(r);
        sh->stop = 1;
        report_system_exit(r);
    } else if (status != AA_OK) {
        report_exception(sh, r, status, interrupted);
        sh->failed = 1;
        if (interrupted && !sh->interactive && exc != NULL &&
            strcmp(exc, "KeyboardInterrupt") == 0)
            sh->stop = sh->killed = 1;
    } else if (show) {
        show_value(sh, r, n);
    }
    fflush(stderr);
    flush_stdout(sh);
}

int cell_exit_status(const struct shell *sh, int status)
{
    if (status == AA_OK)
        return 0;
    if (status == AA_SYSTEM_EXIT)
        return sh->exit_code;
    return 1;
}

/* -------------------------------------------------------------- cells */

int exec_source(struct shell *sh, const char *src, size_t len, aa_result **out)
{
    int status;

    flush_stdout(sh);
    fflush(stderr);
    sigint_count = 0;
    sh->out_lost = 0;
    sigint_running(1);
    status = aa_execn(sh->session, src, len, out);
    sigint_running(0);
    return status;
}

int run_hidden(struct shell *sh, const char *src, aa_result **out)
{
    enum out_mode saved = sh->out_mode;
    int status;

    buf_reset(&sh->capture);
    sh->out_mode = OUT_CAPTURE;
    status = exec_source(sh, src, strlen(src), out);
    sh->out_mode = saved;
    return status;
}

int run_cell(struct shell *sh, const char *src, size_t len)
{
    aa_result *r = NULL;
    int n = sh->count++;
    int status;

    if (run_magic(sh, src, n, &status))
        return status;
    status = exec_source(sh, src, len, &r);
    report_result(sh, r, status, n, 1);
    aa_result_free(r);
    return status;
}
