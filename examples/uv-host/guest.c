/*
 * guest.c -- the session as a guest of the libuv loop.
 *
 * The whole recipe: the loop watches the session's one fd for reading and
 * runs one timer armed from aa_session_timeout; when either fires it calls
 * aa_session_dispatch, which runs what is ready and returns.  Cells are
 * started with aa_exec_start and end in their done callback.  After every
 * call that may run Python code (dispatch, start, aa_is_complete) the timer
 * is armed anew: the session's next deadline may have moved.  Nothing here
 * blocks, so the loop goes on serving while a cell awaits.
 *
 * What to do with lines and results is console.c's business.
 */
#include "uv_host.h"

static void on_session_due(uv_timer_t *timer);

/*
 * Arms the session's timer from its deadline: -1 none, 0 at the loop's
 * next turn.  Called after each call into the session that runs code.
 * The loop's clock is brought up to date first: a cell may have run for a
 * while inside the call, and libuv counts from the time it last read.
 */
void guest_rearm(struct host *h)
{
    int ms = aa_session_timeout(h->session);

    if (ms < 0) {
        uv_timer_stop(&h->session_timer);
    } else {
        uv_update_time(h->loop);
        uv_timer_start(&h->session_timer, on_session_due, (uint64_t)ms, 0);
    }
}

static void dispatch(struct host *h)
{
    int was_running = h->cell_running;
    int rc = aa_session_dispatch(h->session);

    /* AA_ERUNNER: a background task's error, already on stderr. */
    if (rc < 0 && rc != AA_ERUNNER)
        complain("dispatch: %s\n", aa_session_errmsg(h->session));
    guest_rearm(h);
    /* -k: a Jupyter client's cell may have ended, and a held one start. */
    guest_retry(h);
    /* The cell ended in this dispatch: read the next lines. */
    if (was_running && !h->cell_running)
        console_feed(h);
}

static void on_session_ready(uv_poll_t *poll, int status, int events)
{
    (void)status;
    (void)events;
    dispatch(poll->data);
}

static void on_session_due(uv_timer_t *timer)
{
    dispatch(timer->data);
}

/*
 * The cell's end: from aa_exec_start itself (a sync cell) or from a
 * dispatch.  The result is ours to free.
 */
static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    struct host *h = userdata;

    (void)s;
    h->cell_running = 0;
    console_report(h, h->running_number, status, r);
    aa_result_free(r);
}

/*
 * A runner that cannot be a guest (AA_ENOTSUP: a Python callable made a
 * runner) still runs the cell with aa_execn, the documented fallback; the
 * loop, and so the server, waits until it ends.
 */
static int exec_blocking(struct host *h, const char *source, size_t len)
{
    aa_result *r = NULL;
    int rc;

    complain("%s: the server waits for this cell\n",
             aa_session_errmsg(h->session));
    rc = aa_execn(h->session, source, len, &r);
    on_done(h, h->session, rc, r);
    return AA_OK;
}

/*
 * Starts a cell.  Returns AA_OK with the cell started (h->cell_running
 * says whether it is still going), or the failure, already reported.
 */
int guest_exec(struct host *h, const char *source, size_t len)
{
    int rc;

    h->running_number = h->next_number++;
    h->cell_running = 1;
    rc = aa_exec_start(h->session, source, len, on_done, h);
    if (rc == AA_EBUSY && kernel_serving(h)) {
        /*
         * -k: a Jupyter client's cell runs, and a session runs one cell at
         * a time.  This one waits until the client's has ended
         * (guest_retry); the console reads no more lines meanwhile, so
         * source stays as it is.
         */
        h->held = source;
        h->held_len = len;
        return AA_OK;
    }
    if (rc == AA_ENOTSUP)
        rc = exec_blocking(h, source, len);
    if (rc < 0) {
        h->cell_running = 0;
        complain("%s\n", aa_session_errmsg(h->session));
        h->failed = 1;
    }
    guest_rearm(h);
    return rc;
}

/*
 * -k: starts the console's cell that waited for a Jupyter client's, as
 * the same In [n], if the client's has ended.  The caller reads the next
 * lines if it ended at once.
 */
void guest_retry(struct host *h)
{
    const char *source = h->held;

    if (source == NULL || h->stopping)
        return;
    h->held = NULL;
    h->next_number = h->running_number;
    guest_exec(h, source, h->held_len);
}

int guest_start(struct host *h)
{
    int rc;

    h->session_poll.data = h;
    h->session_timer.data = h;
    rc = uv_poll_init(h->loop, &h->session_poll, aa_session_fd(h->session));
    if (rc == 0)
        rc = uv_poll_start(&h->session_poll, UV_READABLE, on_session_ready);
    if (rc == 0)
        rc = uv_timer_init(h->loop, &h->session_timer);
    if (rc != 0) {
        complain("cannot watch the session: %s\n", uv_strerror(rc));
        return -1;
    }
    guest_rearm(h);
    return 0;
}
