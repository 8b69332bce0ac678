/*
 * main.c -- glib-host: a libautoawait session as a guest of a GLib main
 * loop, in the fewest lines that are still right.
 *
 *     glib-host CELL
 *
 * Runs CELL with aa_exec_start while a 20 ms g_timeout ticks, and quits
 * the loop from the cell's done callback.  The session is watched the way
 * any GLib program watches a descriptor and a deadline: g_unix_fd_add on
 * aa_session_fd, and one timeout source, made anew from aa_session_timeout
 * after every call into the session.  Prints the cell's output, "Out: "
 * and its value (or its traceback on stderr), then "ticks: N", the ticks
 * the loop made while the cell ran.  Exit status 0 when the cell succeeded.
 *
 * docs/embedding.md, "Hosts with their own event loop", quotes this file.
 */
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>
#include <glib.h>

#include <autoawait/autoawait.h>

struct host {
    GMainLoop *loop;
    aa_session *session;
    guint timer; /* the session's timeout source, or 0 */
    unsigned ticks;
    int done, status;
};

static gboolean on_session_due(gpointer data);

/* After each call into the session: its deadline may have moved. */
static void rearm(struct host *h)
{
    int ms = aa_session_timeout(h->session);

    if (h->timer != 0)
        g_source_remove(h->timer);
    h->timer = ms < 0 ? 0 : g_timeout_add(ms, on_session_due, h);
}

static void dispatch(struct host *h)
{
    aa_session_dispatch(h->session);
    rearm(h);
}

static gboolean on_session_ready(gint fd, GIOCondition condition, gpointer data)
{
    (void)fd;
    (void)condition;
    dispatch(data);
    return G_SOURCE_CONTINUE;
}

static gboolean on_session_due(gpointer data)
{
    struct host *h = data;

    h->timer = 0; /* this source ends when it returns */
    dispatch(h);
    return G_SOURCE_REMOVE;
}

static gboolean on_tick(gpointer data)
{
    struct host *h = data;

    h->ticks++;
    return G_SOURCE_CONTINUE;
}

/* From aa_exec_start itself (a sync cell) or from a dispatch. */
static void on_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    struct host *h = userdata;

    (void)s;
    if (status == AA_OK && aa_result_repr(r) != NULL)
        printf("Out: %s\n", aa_result_repr(r));
    else if (status > 0 && aa_result_traceback(r) != NULL)
        fputs(aa_result_traceback(r), stderr);
    else if (status != AA_OK)
        fprintf(stderr, "glib-host: %s\n", aa_strerror(status));
    aa_result_free(r);
    h->status = status;
    h->done = 1;
    g_main_loop_quit(h->loop);
}

int main(int argc, char **argv)
{
    struct host h = {0};
    guint watch, tick;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: glib-host CELL\n");
        return 2;
    }
    if (aa_session_new(&h.session, NULL) != AA_OK) {
        fprintf(stderr, "glib-host: no session: %s\n", aa_errmsg());
        return 1;
    }
    h.loop = g_main_loop_new(NULL, FALSE);
    watch =
        g_unix_fd_add(aa_session_fd(h.session), G_IO_IN, on_session_ready, &h);
    tick = g_timeout_add(20, on_tick, &h);
    rc = aa_exec_start(h.session, argv[1], strlen(argv[1]), on_done, &h);
    if (rc < 0)
        fprintf(stderr, "glib-host: %s\n", aa_session_errmsg(h.session));
    rearm(&h);
    /* A sync cell is done already: a quit before the run would be lost. */
    if (rc == AA_OK && !h.done)
        g_main_loop_run(h.loop);
    printf("ticks: %u\n", h.ticks);
    if (h.timer != 0)
        g_source_remove(h.timer);
    g_source_remove(tick);
    g_source_remove(watch);
    g_main_loop_unref(h.loop);
    aa_session_free(h.session);
    aa_shutdown();
    return rc == AA_OK && h.status == AA_OK ? 0 : 1;
}
