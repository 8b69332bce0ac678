/*
 * kernel.c -- uv-host's session served to Jupyter clients (-k FILE).
 *
 * The kernel is one more guest of the loop: after aa_kernel_start the
 * loop watches aa_kernel_fd beside the session's fd and calls
 * aa_kernel_dispatch when it is readable; a client's cells start in the
 * session with aa_exec_start and go on in the session's own dispatches
 * (guest.c).  No timer is needed.  A client's shutdown_request stops the
 * kernel, and uv-host goes on; at the end the kernel is stopped before the
 * session is freed (main.c).
 *
 * Built only with libautoawait-kernel (AA_UV_HOST_KERNEL, set by the
 * build when the library is there).  docs/embedding.md, "Serving the
 * session to Jupyter", quotes this file.
 */
#include "uv_host.h"

#ifdef AA_UV_HOST_KERNEL

/* The kernel's log lines (bad signatures, requests it does not serve). */
static void on_kernel_log(void *userdata, const char *line)
{
    (void)userdata;
    complain("kernel: %s\n", line);
}

/*
 * A client's shutdown_request, answered: called from aa_kernel_dispatch,
 * so the kernel is only marked here and stopped once the dispatch is over.
 * A restart cannot be done by a host that keeps its session: it stops too.
 */
static void on_kernel_shutdown(void *userdata, aa_kernel *k, int restart)
{
    struct host *h = userdata;

    (void)k;
    h->kernel_shut = 1;
    say("[uv-host] kernel: shut down by its client%s; serving on without "
        "it\n",
        restart ? " (a restart: not done, the session is the host's)" : "");
}

static void on_kernel_closed(uv_handle_t *handle)
{
    struct host *h = handle->data;

    aa_kernel_stop(h->kernel);
    h->kernel = NULL;
}

static void on_kernel_ready(uv_poll_t *poll, int status, int events)
{
    struct host *h = poll->data;
    int rc, was_running;

    (void)status;
    (void)events;
    rc = aa_kernel_dispatch(h->kernel);
    if (rc < 0)
        complain("kernel: %s\n", aa_strerror(rc));
    /* The dispatch may have started a cell: the session's deadline moved. */
    guest_rearm(h);
    if (h->kernel_shut) {
        /* The fd must not be closed while libuv polls it: stop first. */
        if (!uv_is_closing((uv_handle_t *)poll))
            uv_close((uv_handle_t *)poll, on_kernel_closed);
        h->kernel_shut = 0;
    }
    /* The console's cell that waited for the client's may start now. */
    was_running = h->cell_running;
    guest_retry(h);
    if (was_running && !h->cell_running)
        console_feed(h);
}

int kernel_start(struct host *h, const char *file)
{
    aa_kernel_options opts;
    int rc;

    aa_kernel_options_init(&opts);
    opts.connection_file = file; /* written (0600) when it does not exist */
    opts.log = on_kernel_log;
    opts.shutdown = on_kernel_shutdown;
    opts.userdata = h;
    if (aa_kernel_start(h->session, &opts, &h->kernel) != AA_OK) {
        complain("no kernel: %s\n", aa_kernel_errmsg());
        return -1;
    }
    h->kernel_poll.data = h;
    rc = uv_poll_init(h->loop, &h->kernel_poll, aa_kernel_fd(h->kernel));
    if (rc == 0)
        rc = uv_poll_start(&h->kernel_poll, UV_READABLE, on_kernel_ready);
    if (rc != 0) {
        complain("cannot watch the kernel: %s\n", uv_strerror(rc));
        return -1;
    }
    file = aa_kernel_connection_file(h->kernel);
    say("[uv-host] kernel: %s\n"
        "[uv-host] attach with: jupyter console --existing %s\n",
        file, file);
    return 0;
}

/* At the end, after the loop closed its handles: before aa_session_free. */
void kernel_free(struct host *h)
{
    aa_kernel_stop(h->kernel);
    h->kernel = NULL;
}

int kernel_serving(const struct host *h)
{
    return h->kernel != NULL;
}

#else /* !AA_UV_HOST_KERNEL */

/* main.c refuses -k in this build. */
int kernel_start(struct host *h, const char *file)
{
    (void)h;
    (void)file;
    return -1;
}

void kernel_free(struct host *h)
{
    (void)h;
}

int kernel_serving(const struct host *h)
{
    (void)h;
    return 0;
}

#endif
