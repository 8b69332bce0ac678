/*
 * main.c -- embed-host: a host with its own event loop, and a Python
 * console whose awaits keep that loop serving.
 *
 *     embed-host [-l ADDRESS] [-c CELL]...
 *
 * The host listens on ADDRESS (a UNIX socket path, or a TCP port of
 * 127.0.0.1; default: a free port) and answers every line a client sends
 * with "pong N", while a timer ticks ten times a second.  It runs each -c
 * CELL in one libautoawait session, or, without -c, each line read from
 * standard input.  A cell that awaits host_sleep(seconds) waits in the
 * host's loop, which goes on answering and ticking; after each cell the
 * host says how many ticks and answers its loop managed meanwhile.  Ctrl-C
 * (SIGINT) stops the running cell, not the host.
 *
 * This file uses nothing but <autoawait/autoawait.h> and the two other
 * parts of the example: loop.c (the loop, no Python) and host_runner.c
 * (the runner, the only part that needs Python.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <autoawait/autoawait.h>

#include "host_runner.h"
#include "loop.h"

/* The session SIGINT interrupts.  Set before the handler is installed. */
static aa_session *volatile interrupt_target;

/* aa_interrupt is the one libautoawait call that is async-signal-safe. */
static void on_sigint(int signo)
{
    (void)signo;
    if (interrupt_target != NULL)
        aa_interrupt(interrupt_target);
}

static void catch_sigint(aa_session *s)
{
    struct sigaction sa;

    interrupt_target = s;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/*
 * What cells print arrives here, on the thread running the cell.  Flushed
 * at once, so that it keeps its order with the loop's own lines.
 */
static void write_output(void *userdata, int stream, const char *data,
                         size_t len)
{
    FILE *f = stream == 2 ? stderr : stdout;

    (void)userdata;
    fwrite(data, 1, len, f);
    fflush(f);
}

/*
 * Runs one cell and reports it.  Returns its status; *exit_code is set for
 * AA_SYSTEM_EXIT.
 */
static int run_cell(aa_session *s, host_loop *loop, unsigned n,
                    const char *source, int *exit_code)
{
    unsigned long ticks = loop->ticks, answers = loop->answers;
    long long start = host_loop_now();
    aa_result *r = NULL;
    int rc = aa_exec(s, source, &r);

    if (rc == AA_OK && aa_result_repr(r) != NULL)
        printf("Out[%u]: %s\n", n, aa_result_repr(r));
    else if (rc == AA_SYSTEM_EXIT) /* sys.exit(): no traceback, we just go */
        *exit_code = aa_result_exit_code(r);
    else if (rc > 0 && aa_result_traceback(r) != NULL)
        fputs(aa_result_traceback(r), stderr);
    else if (rc > 0)
        fprintf(stderr, "%s: %s\n", aa_result_exception(r),
                aa_result_message(r) ? aa_result_message(r) : "");
    else if (rc < 0)
        fprintf(stderr, "embed-host: %s\n", aa_session_errmsg(s));
    printf("[host] cell %u: %.2f s, %lu ticks and %lu answers meanwhile\n", n,
           (double)(host_loop_now() - start) / 1000.0, loop->ticks - ticks,
           loop->answers - answers);
    aa_result_free(r);
    return rc;
}

/*
 * Without -c: serves the loop while waiting for input, and runs each line
 * as a cell.  Returns the host's exit status.
 */
static int run_stdin(aa_session *s, host_loop *loop)
{
    char buf[4096]; /* one byte more than a line may take, for its NUL */
    size_t len = 0, line, used;
    unsigned n = 0;
    int failed = 0, exit_code = -1, eof = 0, prompted = 0;

    while (exit_code < 0) {
        char *nl = memchr(buf, '\n', len);

        if (nl == NULL && (eof || len == sizeof buf - 1)) {
            if (len == 0)
                break;
            nl = buf + len; /* a last line, or one too long: as it is */
        }
        if (nl == NULL) {
            ssize_t got;

            if (!prompted && isatty(0)) {
                printf("In [%u]: ", n + 1);
                fflush(stdout);
            }
            prompted = 1;
            /* The host's loop turns while it waits for input. */
            switch (host_loop_serve(loop, -1, 0)) {
            case HOST_ERROR:
                return 1;
            case HOST_INPUT:
                got = read(0, buf + len, sizeof buf - 1 - len);
                if (got > 0)
                    len += (size_t)got;
                else if (got == 0 || errno != EINTR)
                    eof = 1;
                break;
            default: /* woken, or a timeout: nothing to read yet */
                break;
            }
            continue;
        }
        line = (size_t)(nl - buf);
        used = line + (line < len); /* the newline too, when there is one */
        *nl = '\0';
        if (line > 0)
            failed |= run_cell(s, loop, ++n, buf, &exit_code) != AA_OK;
        memmove(buf, buf + used, len - used);
        len -= used;
        prompted = 0;
    }
    return exit_code >= 0 ? exit_code : failed;
}

static int usage(void)
{
    fprintf(stderr, "usage: embed-host [-l ADDRESS] [-c CELL]...\n"
                    "  -l ADDRESS  a UNIX socket path (with a '/'), or a TCP "
                    "port of 127.0.0.1\n"
                    "              (0, the default, picks a free one)\n"
                    "  -c CELL     run CELL; without -c, run each line of "
                    "standard input\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *address = "0";
    const char **cells = calloc((size_t)argc, sizeof *cells);
    host_loop loop;
    aa_options opts;
    aa_session *s = NULL;
    int opt, ncells = 0, i, rc, status = 1, exit_code = -1;

    if (cells == NULL)
        return 1;
    while ((opt = getopt(argc, argv, "l:c:h")) != -1) {
        if (opt == 'l')
            address = optarg;
        else if (opt == 'c')
            cells[ncells++] = optarg;
        else
            return usage();
    }
    if (optind != argc)
        return usage();
    /* Line by line, even into a pipe: the loop's lines and the cells'
     * output then arrive in the order they happened. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (host_loop_open(&loop, address) < 0) {
        fprintf(stderr, "embed-host: cannot listen on %s: %s\n", address,
                strerror(errno));
        return 1;
    }
    printf("[host] listening on %s\n", loop.address);

    /* The runner is registered before the session that names it; the loop
     * is its userdata, handed to its open. */
    if (host_runner_register(&loop) != AA_OK) {
        fprintf(stderr, "embed-host: %s\n", aa_errmsg());
        goto done;
    }
    aa_options_init(&opts);
    opts.runner = HOST_RUNNER_NAME;
    opts.write = write_output;
    if ((rc = aa_session_new(&s, &opts)) != AA_OK) {
        fprintf(stderr, "embed-host: no session: %s\n", aa_errmsg());
        goto done;
    }
    if (aa_exec(s, host_runner_setup, NULL) != AA_OK) {
        fprintf(stderr, "embed-host: the setup cell failed\n");
        goto done;
    }
    catch_sigint(s);

    if (ncells == 0) {
        status = run_stdin(s, &loop);
    } else {
        status = 0;
        for (i = 0; i < ncells && exit_code < 0; i++)
            status |= run_cell(s, &loop, (unsigned)i + 1, cells[i],
                               &exit_code) != AA_OK;
        if (exit_code >= 0)
            status = exit_code;
    }

done:
    signal(SIGINT, SIG_DFL);
    interrupt_target = NULL;
    aa_session_free(s);
    aa_shutdown();
    host_loop_close(&loop);
    free(cells);
    return status;
}
