/*
 * main.c -- embed-host: a host with its own event loop, and a Python
 * console that is the loop's guest.
 *
 *     embed-host [-l ADDRESS] [-c CELL]...
 *
 * The host listens on ADDRESS (a UNIX socket path, or a TCP port of
 * 127.0.0.1; default: a free port) and answers every line a client sends
 * with "pong N", while a timer ticks ten times a second.  It runs each -c
 * CELL in one libautoawait session, or, without -c, each line read from
 * standard input.  Its poll(2) loop stays in charge the whole time: it
 * watches the session's fd beside its own sockets, waits no longer than the
 * session's timeout, dispatches the session when either says so, and
 * starts cells with aa_exec_start, so a cell that awaits (asyncio.sleep,
 * under the default runner) leaves the host answering and ticking.  After
 * each cell the host says how many ticks and answers its loop managed
 * meanwhile.  Ctrl-C (SIGINT) cancels the running cell, not the host.
 * Cells may call the host: `import host`, then host.log(text),
 * host.counts() and `await host.sleep(seconds)`, which a timer of the
 * host's loop ends.
 *
 * This file uses nothing but <autoawait/autoawait.h> and the two other
 * parts of the example: loop.c (the loop) and functions.c (the host
 * functions, defined with aa_define).  No part of it needs Python.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <autoawait/autoawait.h>

#include "functions.h"
#include "loop.h"

/* The host: its loop, its session, and where it is in its cells. */
typedef struct host {
    host_loop loop;
    aa_session *s;
    const char **cells; /* the -c cells, or NULL: read standard input */
    int ncells, next;   /* how many, and the next to start */
    char buf[4096];     /* standard input not yet run */
    size_t len;
    char line[4096]; /* the line of it being started, NUL-terminated */
    int eof;         /* standard input has ended */
    int prompted;    /* the prompt for the next line is out */
    unsigned n;      /* cells started */
    int running;     /* a cell is started and its done not called yet */
    int failed;      /* a cell did not succeed */
    int exit_code;   /* a SystemExit's code, or -1 */
    /* The running cell's start, for its report. */
    long long since;
    unsigned long ticks, answers;
} host;

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
 * What cells print arrives here: from aa_exec_start, or from
 * aa_session_dispatch for an awaiting cell and the tasks it left behind.
 * Flushed at once, so that it keeps its order with the loop's own lines.
 */
static void write_output(void *userdata, int stream, const char *data,
                         size_t len)
{
    FILE *f = stream == 2 ? stderr : stdout;

    (void)userdata;
    fwrite(data, 1, len, f);
    fflush(f);
}

/* Shows how a cell ended, and what the loop did meanwhile. */
static void report(host *h, int status, const aa_result *r)
{
    if (status == AA_OK && aa_result_repr(r) != NULL)
        printf("Out[%u]: %s\n", h->n, aa_result_repr(r));
    else if (status == AA_SYSTEM_EXIT) /* sys.exit(): no traceback, we go */
        h->exit_code = aa_result_exit_code(r);
    else if (status > 0 && aa_result_traceback(r) != NULL)
        fputs(aa_result_traceback(r), stderr);
    else if (status > 0)
        fprintf(stderr, "%s: %s\n", aa_result_exception(r),
                aa_result_message(r) ? aa_result_message(r) : "");
    else if (status < 0)
        fprintf(stderr, "embed-host: %s\n",
                aa_result_message(r) ? aa_result_message(r)
                                     : aa_strerror(status));
    if (status != AA_OK)
        h->failed = 1;
    printf("[host] cell %u: %.2f s, %lu ticks and %lu answers meanwhile\n",
           h->n, (double)(host_loop_now() - h->since) / 1000.0,
           h->loop.ticks - h->ticks, h->loop.answers - h->answers);
}

/*
 * The cell's done callback: called once per started cell, from
 * aa_exec_start for a cell that did not wait, else from a later
 * aa_session_dispatch (or aa_session_free).  The result is ours.
 */
static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    host *h = userdata;

    (void)s;
    report(h, status, r);
    aa_result_free(r);
    h->running = 0;
}

/* Starts one cell; its report comes from on_done. */
static void start_cell(host *h, const char *source, size_t len)
{
    int rc;

    h->n++;
    h->running = 1;
    h->since = host_loop_now();
    h->ticks = h->loop.ticks;
    h->answers = h->loop.answers;
    rc = aa_exec_start(h->s, source, len, on_done, h);
    if (rc == AA_ENOTSUP) {
        /* An async cell on a runner that cannot be a guest (a Python
         * callable's): aa_execn still runs it, the loop standing still. */
        aa_result *r = NULL;
        printf("[host] %s: the loop waits for this cell\n",
               aa_session_errmsg(h->s));
        rc = aa_execn(h->s, source, len, &r);
        on_done(h, h->s, rc, r);
    } else if (rc < 0) { /* nothing was started, done is not called */
        fprintf(stderr, "embed-host: %s\n", aa_session_errmsg(h->s));
        h->failed = 1;
        h->running = 0;
    }
}

/*
 * Takes the next whole line of standard input out of the buffer into
 * h->line; a last line without a newline, or one that fills the buffer,
 * counts as whole.  Returns its length, or -1 for none yet.
 */
static long next_line(host *h)
{
    char *nl = memchr(h->buf, '\n', h->len);
    size_t len, used;

    if (nl == NULL && !h->eof && h->len < sizeof h->buf - 1)
        return -1;
    if (nl == NULL && h->len == 0)
        return -1;
    len = nl != NULL ? (size_t)(nl - h->buf) : h->len;
    used = len + (nl != NULL);
    memcpy(h->line, h->buf, len);
    h->line[len] = '\0';
    memmove(h->buf, h->buf + used, h->len - used);
    h->len -= used;
    return (long)len;
}

/*
 * Starts cells while none is running and one is at hand: a sync cell is
 * over by the time aa_exec_start returns, and the next one may follow at
 * once.  Returns 1 when no cell is running and none will come.
 */
static int start_cells(host *h)
{
    long len;

    while (!h->running && h->exit_code < 0) {
        if (h->cells != NULL) {
            if (h->next == h->ncells)
                return 1;
            start_cell(h, h->cells[h->next], strlen(h->cells[h->next]));
            h->next++;
        } else if ((len = next_line(h)) >= 0) {
            h->prompted = 0;
            if (len > 0)
                start_cell(h, h->line, (size_t)len);
        } else {
            return h->eof;
        }
    }
    return !h->running;
}

/* Reads what standard input has; called when poll says it is readable. */
static void read_input(host *h)
{
    ssize_t got = read(0, h->buf + h->len, sizeof h->buf - 1 - h->len);

    if (got > 0)
        h->len += (size_t)got;
    else if (got == 0 || (errno != EINTR && errno != EAGAIN))
        h->eof = 1;
}

/*
 * The host's main loop.  Each turn it asks the session for its fd and its
 * timeout afresh (both may change after any call into the session), polls
 * them beside its own descriptors, and dispatches the session when its fd
 * is readable or its timeout has run out.  Standard input is watched only
 * while no cell runs and no whole line is waiting.  Returns -1 when the
 * loop failed.
 */
static int serve(host *h)
{
    for (;;) {
        host_watch watch[2];
        long long due;
        int timeout, want_input;

        if (start_cells(h) || h->exit_code >= 0)
            return 0;
        want_input = h->cells == NULL && !h->running && !h->eof;
        if (want_input && !h->prompted && isatty(0)) {
            printf("In [%u]: ", h->n + 1);
            fflush(stdout);
        }
        h->prompted |= want_input;
        timeout = aa_session_timeout(h->s);
        due = timeout < 0 ? -1 : host_loop_now() + timeout;
        watch[0] = (host_watch){aa_session_fd(h->s), 0};
        watch[1] = (host_watch){want_input ? 0 : -1, 0};
        if (host_loop_turn(&h->loop, watch, 2, due) < 0)
            return -1;
        if (watch[0].ready || (due >= 0 && host_loop_now() >= due))
            aa_session_dispatch(h->s); /* it reports what fails in it */
        if (watch[1].ready)
            read_input(h);
    }
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
    static host h;
    const char *address = "0";
    aa_options opts;
    int opt, status = 1;

    h.cells = calloc((size_t)argc, sizeof *h.cells);
    h.exit_code = -1;
    if (h.cells == NULL)
        return 1;
    while ((opt = getopt(argc, argv, "l:c:h")) != -1) {
        if (opt == 'l')
            address = optarg;
        else if (opt == 'c')
            h.cells[h.ncells++] = optarg;
        else
            return usage();
    }
    if (optind != argc)
        return usage();
    if (h.ncells == 0) {
        free(h.cells);
        h.cells = NULL;
    }
    /* Line by line, even into a pipe: the loop's lines and the cells'
     * output then arrive in the order they happened. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (host_loop_open(&h.loop, address) < 0) {
        fprintf(stderr, "embed-host: cannot listen on %s: %s\n", address,
                strerror(errno));
        free(h.cells);
        return 1;
    }
    printf("[host] listening on %s\n", h.loop.address);

    aa_options_init(&opts); /* the runner: asyncio, the default */
    opts.write = write_output;
    if (aa_session_new(&h.s, &opts) != AA_OK) {
        fprintf(stderr, "embed-host: no session: %s\n", aa_errmsg());
        goto done;
    }
    /* host.log, host.counts, host.sleep; the loop is their userdata. */
    if (functions_define(h.s, &h.loop) != AA_OK)
        goto done;
    catch_sigint(h.s);

    if (serve(&h) < 0)
        fprintf(stderr, "embed-host: poll: %s\n", strerror(errno));
    else if (h.exit_code >= 0)
        status = h.exit_code;
    else
        status = h.failed;

done:
    signal(SIGINT, SIG_DFL);
    interrupt_target = NULL;
    aa_session_free(h.s); /* a cell still running is cancelled first */
    aa_shutdown();
    host_loop_close(&h.loop);
    free(h.cells);
    return status;
}
