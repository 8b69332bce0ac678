/*
 * family.h -- what the two files of the SDK's asyncio family share: the
 * per-session state, its interned names, and the session's loop (loop.c)
 * that the cell and the guest entries (asyncio.c) run on.  Private to the
 * SDK: nothing here is installed, and every function is hidden in the
 * plugin that links the SDK.
 */
#ifndef AA_SDK_FAMILY_H
#define AA_SDK_FAMILY_H

#include <autoawait/runner-sdk.h>

/*
 * Interned names of what the runner looks up, kept per session (see
 * runner-sdk.h, AA_SDK_NAMES: asyncio.c makes names_list).  Sessions cannot
 * outlive their interpreter.
 */
#define NAMES(X)                                                               \
    X(asyncio)                                                                 \
    X(set_event_loop)                                                          \
    X(get_event_loop_policy)                                                   \
    X(_get_running_loop)                                                       \
    X(_local)                                                                  \
    X(_loop)                                                                   \
    X(is_closed)                                                               \
    X(is_running)                                                              \
    X(create_task)                                                             \
    X(context)                                                                 \
    X(run_until_complete)                                                      \
    X(run_forever)                                                             \
    X(_selector)                                                               \
    X(_get_backend_id)                                                         \
    X(fileno)                                                                  \
    X(_ready)                                                                  \
    X(_scheduled)                                                              \
    X(_when)                                                                   \
    X(_fut_waiter)                                                             \
    X(call_soon_threadsafe)                                                    \
    X(call_soon)                                                               \
    X(stop)                                                                    \
    X(done)                                                                    \
    X(cancel)                                                                  \
    X(exception)                                                               \
    X(close)                                                                   \
    X(all_tasks)                                                               \
    X(wait)                                                                    \
    X(timeout)                                                                 \
    X(cancelled)                                                               \
    X(shutdown_asyncgens)                                                      \
    X(shutdown_default_executor)                                               \
    X(result)                                                                  \
    X(CancelledError)

typedef struct names {
    NAMES(AA_SDK_NAME_FIELD)
} names;

typedef struct runner_state {
    names str;
    const aa_sdk_asyncio *family; /* what makes the loop */
    aa_sdk_cell cell;             /* the started cell's handshake */
    PyObject *context_kw;         /* ("context",), the kwnames of create_task */
    PyObject *asyncio;            /* the module, once some code imported it */
    PyObject *loop;        /* the session's loop, NULL until one is needed */
    PyObject *task;        /* the task of the cell started */
    int settling;          /* its task is done, the loop's pass not yet */
    int settled;           /* a foreign loop's pass ran after it was done */
    PyObject *pass_end;    /* pass_end() bound to this state */
    PyObject *pass_handle; /* its Handle queued now, or NULL */
    int passes;            /* passes of the loop in this step */
    int foreign_steps;     /* steps of a foreign loop since the cell moved */
    const void *waiter;    /* what the cell's task awaited then (compared) */
    int stopped;           /* pass_end called loop.stop() in this step */
    PyObject *flush_end;   /* flush_end() bound to this state */
    PyObject *flush_exc;   /* the class flush_end raises */
    int asyncio_at_enter;  /* asyncio was imported when the cell began */
} runner_state;

/* The most passes of the loop one step runs. */
#define STEP_PASSES 16

/*
 * A loop that is not asyncio's own (uvloop's) has no ready queue nor timer
 * heap to read, so its timers cannot be waited for: while a cell runs on
 * it, the FOREIGN_EAGER steps after the cell began or moved on (its task
 * awaits another future) come at once, so that a cell awaiting what is
 * ready ends in them; then one every millisecond for FOREIGN_BRISK steps,
 * so that short sleeps end on time; then every FOREIGN_LOOP_MS, which is
 * also how often it is stepped when no cell runs but tasks cells left do,
 * and every FOREIGN_IDLE_MS when no task is left (for timers alone: a
 * call_later of a sync cell).  Its I/O wakes it at once when it has a
 * descriptor to watch (uvloop's backend fd).
 */
#define FOREIGN_EAGER 4
#define FOREIGN_BRISK 100
#define FOREIGN_LOOP_MS 10
#define FOREIGN_IDLE_MS 100

/* ------------------------------------------------------------ loop.c */

/* obj.name() and its truth: 1, 0, or -1 with an exception. */
int aa__family_call_bool(PyObject *obj, PyObject *name);

/* obj.name() for its effect; an exception is left set. */
int aa__family_call_void(PyObject *obj, PyObject *name);

/* asyncio from sys.modules, never imported: 1 (st->asyncio set), 0, -1. */
int aa__family_find_asyncio(runner_state *st);

/* The thread's current loop as the policy keeps it (new reference), None,
 * or NULL without an exception. */
PyObject *aa__family_peek_current(runner_state *st);

/* 1 when loop is neither closed nor running, 0 when it is, -1 on error. */
int aa__family_loop_usable(runner_state *st, PyObject *loop);

/* 1 when the session's loop cannot run from here (it runs, or another
 * loop runs in this thread), 0, or -1. */
int aa__family_loop_busy(runner_state *st);

/* Makes sure the session has a loop, from the family's factory: 0 or -1. */
int aa__family_ensure_loop(runner_state *st);

/* Makes the session's loop the thread's current one: 0 or -1. */
int aa__family_make_current(runner_state *st);

/* Forgets the session's loop as the thread's current one, if it is. */
void aa__family_unset_current(runner_state *st);

/* What asyncio.run() does when it ends, to the session's loop. */
void aa__family_shutdown_loop(runner_state *st);

#endif /* AA_SDK_FAMILY_H */
