/*
 * main.c -- uv-host: a libuv application with a Python console whose
 * session is a guest of the application's loop.
 *
 *     uv-host [-p PORT] [-i] [-t TICK_MS] [-j JOB_MS] [-k FILE]
 *
 * The application answers every line a TCP client sends to 127.0.0.1:PORT
 * (0, the default: a free port, printed at start) with "pong", and counts
 * the ticks of a timer (every TICK_MS, 100 by default).  Standard input is
 * a console: its cells run in one libautoawait session, and while one
 * awaits (asyncio, or trio after `%autoawait trio`) the server answers and
 * the timer ticks; tasks a cell leaves on the session's loop run while the
 * console waits for input.  Cells may call the host (functions.c):
 * host.stats(), `await host.wait_tick()`, `await host.run_job(n)` (a job on
 * a worker thread that takes JOB_MS, 200 by default).
 * Ctrl-C (SIGINT) cancels the running cell, never the host.  The end of
 * standard input, or a cell's SystemExit, ends it.
 * With -k FILE (a build with libautoawait-kernel) the session is also
 * served to Jupyter clients (kernel.c): `jupyter console --existing FILE`.
 *
 * See README.md beside this file, and docs/embedding.md, "Hosts with their
 * own event loop", which quotes guest.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uv_host.h"

/* The host SIGINT reaches; set before the handler is installed. */
static struct host *volatile sigint_host;

/*
 * aa_interrupt and uv_async_send are both async-signal-safe.  A real
 * handler, not uv_signal_t: a sync cell runs inside aa_exec_start, with
 * the loop not turning, and must be reached all the same.
 */
static void on_sigint(int signo)
{
    struct host *h = sigint_host;

    (void)signo;
    if (h == NULL)
        return;
    if (!h->cell_running)
        h->sigint_at_input = 1;
    aa_interrupt(h->session);
    uv_async_send(&h->sigint_async);
}

static void on_sigint_async(uv_async_t *async)
{
    console_interrupted(async->data);
}

static void catch_sigint(struct host *h)
{
    struct sigaction sa;

    sigint_host = h;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h != NULL ? on_sigint : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/*
 * Cells' output, on the thread that runs them (this one).  Through stdio,
 * flushed, so that it keeps its order with the host's own lines.
 */
static void write_output(void *userdata, int stream, const char *data,
                         size_t len)
{
    FILE *f = stream == 2 ? stderr : stdout;

    (void)userdata;
    if (fwrite(data, 1, len, f) != len || fflush(f) != 0)
        aa_write_fail(errno != 0 ? errno : EIO);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Closes every handle: uv_run returns once they are closed. */
void host_stop(struct host *h)
{
    h->stopping = 1;
    server_stop(h);
    uv_walk(h->loop, close_handle, NULL);
}

#ifdef AA_UV_HOST_KERNEL
#define KERNEL_HELP ""
#else
#define KERNEL_HELP                                                            \
    "                 (not in this uv-host: built without "                    \
    "libautoawait-kernel)\n"
#endif

static int usage(const char *argv0, int help)
{
    fprintf(help ? stdout : stderr,
            "usage: %s [-p PORT] [-i] [-t TICK_MS] [-j JOB_MS] [-k FILE]\n",
            argv0);
    if (help)
        printf("  -p PORT        the TCP port of 127.0.0.1 to serve (0: a "
               "free one)\n"
               "  -i             prompts even when stdin is no terminal\n"
               "  -t TICK_MS     the timer's period (100)\n"
               "  -j JOB_MS      how long a host.run_job() job works (200)\n"
               "  -k FILE        serve the session to Jupyter clients too: "
               "FILE is the\n"
               "                 connection file, written (0600) when it "
               "does not exist;\n"
               "                 attach with `jupyter console --existing "
               "FILE`\n" KERNEL_HELP);
    return help ? 0 : 2;
}

/* The decimal number arg, from min to max, or -1. */
static long number(const char *arg, long min, long max)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || n < min || n > max)
        return -1;
    return n;
}

static int run(struct host *h, int port, const char *kernel_file)
{
    aa_options opts;
    int bound;

    aa_options_init(&opts);
    opts.write = write_output;
    if (aa_session_new(&h->session, &opts) != AA_OK) {
        complain("no session: %s\n", aa_errmsg());
        return 1;
    }
    if (functions_define(h) != 0)
        return 1;
    h->sigint_async.data = h;
    if (uv_async_init(h->loop, &h->sigint_async, on_sigint_async) != 0 ||
        server_start(h, port, &bound) != 0 || guest_start(h) != 0) {
        host_stop(h);
        uv_run(h->loop, UV_RUN_DEFAULT);
        return 1;
    }
    say("[uv-host] listening on 127.0.0.1:%d\n", bound);
    if (kernel_file != NULL && kernel_start(h, kernel_file) != 0) {
        host_stop(h);
        uv_run(h->loop, UV_RUN_DEFAULT);
        return 1;
    }
    catch_sigint(h);
    if (console_start(h) != 0)
        host_stop(h);
    uv_run(h->loop, UV_RUN_DEFAULT);
    catch_sigint(NULL);
    if (h->exit_code != 0)
        return h->exit_code;
    return h->failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct host h;
    int opt, port = 0, status;
    const char *kernel_file = NULL;
    long n;

    memset(&h, 0, sizeof h);
    h.interactive = isatty(STDIN_FILENO);
    h.tick_ms = 100;
    h.job_ms = 200;
    while ((opt = getopt(argc, argv, "p:it:j:k:h")) != -1) {
        switch (opt) {
        case 'p':
            if ((n = number(optarg, 0, 65535)) < 0)
                return usage(argv[0], 0);
            port = (int)n;
            break;
        case 'i':
            h.interactive = 1;
            break;
        case 't':
            if ((n = number(optarg, 1, 3600000)) < 0)
                return usage(argv[0], 0);
            h.tick_ms = (unsigned)n;
            break;
        case 'j':
            if ((n = number(optarg, 0, 3600000)) < 0)
                return usage(argv[0], 0);
            h.job_ms = (unsigned)n;
            break;
        case 'k':
#ifndef AA_UV_HOST_KERNEL
            complain("-k: this uv-host was built without "
                     "libautoawait-kernel\n");
            return 2;
#endif
            kernel_file = optarg;
            break;
        case 'h':
            return usage(argv[0], 1);
        default:
            return usage(argv[0], 0);
        }
    }
    if (optind != argc)
        return usage(argv[0], 0);
    /* A client that hangs up, or a closed stdout, is an error, not death. */
    signal(SIGPIPE, SIG_IGN);
    h.loop = uv_default_loop();
    h.next_number = 1;
    status = run(&h, port, kernel_file);
    /* The kernel first: it gives the session back its callbacks. */
    kernel_free(&h);
    /* A cell still running is cancelled, its done callback called. */
    aa_session_free(h.session);
    functions_free(&h);
    aa_shutdown();
    uv_loop_close(h.loop);
    free(h.pending);
    free(h.cell);
    return status;
}
