/*
 * functions.c -- what embed-host offers its cells: C functions of the host
 * made callable with aa_define, through libffi, with no Python.h (the
 * library converts arguments and results from each signature).
 *
 *   host.log(text)       "v(us)"  sync: the host prints "[host] text"
 *   host.counts()        "J(u)"   sync: the loop's counters, a dict
 *   host.sleep(seconds)  "v(uFd)" async: a timer of the host's own loop
 *                                 resolves it, with the number of ticks
 *                                 the loop ran meanwhile
 *
 * Cells `import host` and call them.  The userdata of each is the host's
 * loop (loop.h), which knows nothing of Python: host.sleep arms one of its
 * timers, whose callback resolves the future; when the cell stops waiting
 * (Ctrl-C, a timeout in the cell), the cancel callback disarms the timer.
 * The loop is turned by one thread, the one that runs the cells, and only
 * that thread may touch it: a cell's own thread gets a RuntimeError.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <autoawait/autoawait.h>

#include "functions.h"

#define SLEEP_MAX 86400 /* seconds: a day */

static pthread_t loop_thread;

static int on_loop_thread(const char *name)
{
    char msg[128];

    if (pthread_equal(pthread_self(), loop_thread))
        return 1;
    snprintf(msg, sizeof msg, "%s must be called from the loop's thread", name);
    aa_raise("RuntimeError", msg);
    return 0;
}

/* host.log(text): text is the cell's str, as UTF-8, valid during the call. */
static void host_log(void *userdata, const char *text)
{
    (void)userdata;
    printf("[host] %s\n", text);
}

/* host.counts(): malloc'ed JSON, which the library frees (code J). */
static char *host_counts(void *userdata)
{
    host_loop *loop = userdata;
    char *json;

    if (!on_loop_thread("host.counts()"))
        return NULL;
    json = malloc(160);
    if (json == NULL) {
        aa_raise("MemoryError", "host.counts(): out of memory");
        return NULL;
    }
    snprintf(json, 160,
             "{\"ticks\": %lu, \"answers\": %lu, \"clients\": %d, "
             "\"timers\": %d}",
             loop->ticks, loop->answers, host_loop_clients(loop),
             host_loop_timers(loop));
    return json;
}

/* A host.sleep in progress: freed by its timer or by its cancellation. */
typedef struct sleeper {
    host_loop *loop;
    aa_future *future;
    int timer;
    unsigned long ticks; /* the loop's count when it began */
} sleeper;

/* The timer ran: the awaiting cell gets the ticks. */
static void sleep_done(void *arg)
{
    sleeper *sl = arg;

    aa_future_resolve(sl->future, "L", (uint64_t)(sl->loop->ticks - sl->ticks));
    free(sl);
}

/* The cell stopped waiting: the timer is not needed any more. */
static void sleep_cancelled(void *userdata, aa_future *f)
{
    sleeper *sl = userdata;

    (void)f;
    host_timer_cancel(sl->loop, sl->timer);
    free(sl);
}

static void host_sleep(void *userdata, aa_future *f, double seconds)
{
    host_loop *loop = userdata;
    sleeper *sl;
    char msg[128];

    if (!on_loop_thread("host.sleep()"))
        return;
    if (!(seconds >= 0 && seconds <= SLEEP_MAX)) { /* NaN too */
        snprintf(msg, sizeof msg,
                 "host.sleep(): seconds must be from 0 to %d, not %g",
                 SLEEP_MAX, seconds);
        aa_raise("ValueError", msg);
        return;
    }
    sl = malloc(sizeof *sl);
    if (sl == NULL) {
        aa_raise("MemoryError", "host.sleep(): out of memory");
        return;
    }
    *sl = (sleeper){loop, f, -1, loop->ticks};
    sl->timer = host_timer_add(
        loop, host_loop_now() + (long long)(seconds * 1000.0), sleep_done, sl);
    if (sl->timer < 0) {
        free(sl);
        snprintf(msg, sizeof msg,
                 "host.sleep(): the host's %d timers are all armed",
                 HOST_MAX_TIMERS);
        aa_raise("RuntimeError", msg);
        return;
    }
    /* AA_ECANCELLED: the cell stopped waiting already. */
    if (aa_future_on_cancel(f, sleep_cancelled, sl) != AA_OK)
        sleep_cancelled(sl, f);
}

int functions_define(aa_session *s, host_loop *loop)
{
    static const struct {
        const char *name, *signature;
        void (*fn)(void);
    } defs[] = {
        {"host.log", "v(us)", (void (*)(void))host_log},
        {"host.counts", "J(u)", (void (*)(void))host_counts},
        {"host.sleep", "v(uFd)", (void (*)(void))host_sleep},
    };
    size_t i;
    int rc;

    loop_thread = pthread_self();
    for (i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        rc = aa_define(s, defs[i].name, defs[i].signature, defs[i].fn, loop);
        if (rc != AA_OK) {
            fprintf(stderr, "embed-host: cannot define %s: %s\n", defs[i].name,
                    aa_session_errmsg(s));
            return rc;
        }
    }
    return AA_OK;
}
