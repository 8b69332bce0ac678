/*
 * functions.c -- what uv-host offers its cells: C functions of the host,
 * made callable with aa_define, with no Python.h (the library converts the
 * arguments and the results from each signature, through libffi).
 *
 *   host.stats()      "J(u)"   the host's counters, as JSON: a dict
 *   host.wait_tick()  "v(uF)"  async: ends at the timer's next tick, with
 *                              the number of that tick
 *   host.run_job(n)   "v(uFl)" async: a job on libuv's thread pool, whose
 *                              worker resolves it: the sum of the squares
 *                              of 1..n, after job_ms of "work"
 *
 * A cell calls them as `import host; await host.wait_tick()`.  They are
 * called on the loop's thread, where the cells run (a cell's own thread
 * gets a RuntimeError: libuv is not thread-safe); so are the cancel
 * callbacks, and the tick and the jobs' ends.  Only a job's worker runs
 * elsewhere, and aa_future_resolve may be called from any thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uv_host.h"

#define JOB_MAX_N 1000000 /* its sum of squares fits an int64_t */

static int on_loop_thread(struct host *h, const char *name)
{
    uv_thread_t self = uv_thread_self();
    char msg[128];

    if (uv_thread_equal(&self, &h->loop_thread))
        return 1;
    snprintf(msg, sizeof msg, "%s must be called from the loop's thread", name);
    aa_raise("RuntimeError", msg);
    return 0;
}

/* ---------------------------------------------------------- host.stats */

/* The JSON the cell gets as a dict; the library frees it (code J). */
static char *host_stats(void *userdata)
{
    struct host *h = userdata;
    double uptime = (double)(uv_hrtime() - h->started) / 1e9;
    char *json = malloc(512);

    if (json == NULL) {
        aa_raise("MemoryError", "host.stats(): out of memory");
        return NULL;
    }
    snprintf(json, 512,
             "{\"uptime\": %.3f, \"tick_ms\": %u, \"ticks\": %lu, "
             "\"connections\": %lu, \"answers\": %lu, \"waiting\": %zu, "
             "\"jobs_running\": %lu, \"jobs_done\": %lu}",
             uptime, h->tick_ms, h->ticks, h->connections, h->answers,
             h->nwaiters, h->jobs - h->jobs_done, h->jobs_done);
    return json;
}

/* ------------------------------------------------------ host.wait_tick */

/* The cell stopped waiting (Ctrl-C, a timeout): the tick forgets it. */
static void tick_cancelled(void *userdata, aa_future *f)
{
    struct host *h = userdata;
    size_t i;

    for (i = 0; i < h->nwaiters; i++) {
        if (h->waiters[i] == f) {
            h->waiters[i] = h->waiters[--h->nwaiters];
            return;
        }
    }
}

static void host_wait_tick(void *userdata, aa_future *f)
{
    struct host *h = userdata;

    if (!on_loop_thread(h, "host.wait_tick()"))
        return;
    if (h->nwaiters == h->waiters_cap) {
        size_t cap = h->waiters_cap ? h->waiters_cap * 2 : 8;
        aa_future **p = realloc(h->waiters, cap * sizeof *p);

        if (p == NULL) {
            aa_raise("MemoryError", "host.wait_tick(): out of memory");
            return;
        }
        h->waiters = p;
        h->waiters_cap = cap;
    }
    /* AA_ECANCELLED: the cell stopped waiting already, nothing to keep. */
    if (aa_future_on_cancel(f, tick_cancelled, h) == AA_OK)
        h->waiters[h->nwaiters++] = f;
}

/* Called by the timer (server.c) after each tick: every waiter gets it. */
void functions_tick(struct host *h)
{
    size_t i, n = h->nwaiters;

    /* Resolving runs no Python and calls no cancel callback: the list
     * stays as it is while it is walked. */
    h->nwaiters = 0;
    for (i = 0; i < n; i++)
        aa_future_resolve(h->waiters[i], "l", (int64_t)h->ticks);
}

/* -------------------------------------------------------- host.run_job */

struct job {
    uv_work_t req;
    struct host *host;
    aa_future *future;
    unsigned long number; /* the host's count, for its messages */
    int64_t n;
    int resolved; /* what aa_future_resolve answered the worker */
};

/* On a thread of libuv's pool: the job, and its future resolved. */
static void job_work(uv_work_t *req)
{
    struct job *job = req->data;
    int64_t i, sum = 0;

    uv_sleep(job->host->job_ms);
    for (i = 1; i <= job->n; i++)
        sum += i * i;
    /* AA_ECANCELLED when the cell stopped waiting: the sum is dropped. */
    job->resolved = aa_future_resolve(job->future, "l", sum);
}

/* Back on the loop's thread, once the worker is done. */
static void job_done(uv_work_t *req, int status)
{
    struct job *job = req->data;
    struct host *h = job->host;

    (void)status;
    h->jobs_done++;
    if (job->resolved == AA_ECANCELLED)
        say("[uv-host] job %lu (n=%" PRId64 ") is done, but its cell "
            "stopped waiting\n",
            job->number, job->n);
    free(job);
}

static void host_run_job(void *userdata, aa_future *f, int64_t n)
{
    struct host *h = userdata;
    struct job *job;
    char msg[128];

    if (!on_loop_thread(h, "host.run_job()"))
        return;
    if (n < 0 || n > JOB_MAX_N) {
        snprintf(msg, sizeof msg,
                 "host.run_job(): n must be from 0 to %d, not %" PRId64,
                 JOB_MAX_N, n);
        aa_raise("ValueError", msg);
        return;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        aa_raise("MemoryError", "host.run_job(): out of memory");
        return;
    }
    job->req.data = job;
    job->host = h;
    job->future = f;
    job->n = n;
    job->number = h->jobs + 1;
    if (uv_queue_work(h->loop, &job->req, job_work, job_done) != 0) {
        free(job);
        aa_raise("RuntimeError", "host.run_job(): libuv refused the job");
        return;
    }
    h->jobs++;
}

/* --------------------------------------------------------------- setup */

/* Defines the functions in h's session; 0, or -1 said. */
int functions_define(struct host *h)
{
    static const struct {
        const char *name, *signature;
        void (*fn)(void);
    } defs[] = {
        {"host.stats", "J(u)", (void (*)(void))host_stats},
        {"host.wait_tick", "v(uF)", (void (*)(void))host_wait_tick},
        {"host.run_job", "v(uFl)", (void (*)(void))host_run_job},
    };
    size_t i;

    h->loop_thread = uv_thread_self();
    h->started = uv_hrtime();
    for (i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        if (aa_define(h->session, defs[i].name, defs[i].signature, defs[i].fn,
                      h) != AA_OK) {
            complain("cannot define %s: %s\n", defs[i].name,
                     aa_session_errmsg(h->session));
            return -1;
        }
    }
    return 0;
}

/* After aa_session_free, which called the cancel callbacks of the rest. */
void functions_free(struct host *h)
{
    free(h->waiters);
    h->waiters = NULL;
    h->nwaiters = h->waiters_cap = 0;
}
