/*
 * guest.h -- what trio's guest mode calls back into (guest.c): the queue
 * of callbacks trio hands its host, the eventfd that tells the host's loop
 * something came from another thread, and where the run's outcome is left;
 * and where the run itself is kept between steps.
 *
 * trio.lowlevel.start_guest_run takes three callables from its host:
 * run_sync_soon_threadsafe(fn), called from trio's I/O thread when its wait
 * for I/O or a timer is over; run_sync_soon_not_threadsafe(fn), called on
 * the host's thread; and done_callback(outcome), when the run has ended.
 * Here they are C functions bound to a trio_guest.  The guest lives as long
 * as any of them does: trio's I/O thread and the run's own objects hold
 * them, and may outlive a runner state that gave up on its run (the trio
 * runner's close); the state, which holds them too, reads the guest
 * through its pointer.  Everything here runs with the GIL.
 *
 * trio keeps a run in a thread-local, GLOBAL_RUN_CONTEXT (not public), of
 * the thread that started it, and expects every tick there.  A session's
 * steps may come from any thread, with other sessions' cells in between:
 * so between steps the run's values of that thread-local are kept here
 * (stashed), and put on whichever thread steps, for the step only.  A sync
 * cell may call trio.run meanwhile, and another session's guest run step
 * on the same thread.
 */
#ifndef AA_TRIO_GUEST_H
#define AA_TRIO_GUEST_H

#include <autoawait/runner-sdk.h>

typedef struct trio_guest {
    int fd;            /* eventfd, >= 3, close-on-exec, non-blocking */
    PyObject *calls;   /* list of what trio queued for the next step */
    PyObject *outcome; /* what done_callback got, until the runner takes it */
    int orphaned;      /* nobody steps the run any more: drop what comes */
    PyObject *run_context; /* trio's GLOBAL_RUN_CONTEXT, set by the runner */
    PyObject *dict_name;   /* "__dict__" */
    PyObject *locals;      /* the run's values of it, NULL: no run stashed */
} trio_guest;

/* The callables aa__guest_new makes, in this order. */
enum { GUEST_SOON_THREADSAFE, GUEST_SOON, GUEST_DONE, GUEST_CALLABLES };

/*
 * Makes a guest and sets fns[GUEST_SOON_THREADSAFE], fns[GUEST_SOON] and
 * fns[GUEST_DONE] to new references to its three callables.  Returns the
 * guest, valid while any of them lives, or NULL with an exception set.
 */
trio_guest *aa__guest_new(PyObject *fns[GUEST_CALLABLES]);

/*
 * What trio queued up to now (a new reference to a list), an empty queue
 * taking its place: callbacks queued while these run wait for the next
 * step.  The eventfd is read empty first.  NULL with an exception set.
 */
PyObject *aa__guest_take(trio_guest *q);

/*
 * Calls every callable of batch in order.  0, or -1 with the exception of
 * the first that raised: the ones after it go back to the front of the
 * queue, for the next step.
 */
int aa__guest_run(trio_guest *q, PyObject *batch);

/* Puts batch[from:] back at the front of the queue: what a step that
 * failed did not run.  Keeps the exception set. */
void aa__guest_requeue(trio_guest *q, PyObject *batch, Py_ssize_t from);

/*
 * Waits, with the GIL released, until the eventfd is readable or ms
 * milliseconds have passed; at once when callbacks are queued.
 */
void aa__guest_wait(trio_guest *q, int ms);

/* The run is given up: drops what is queued, and all that comes later,
 * and the run's values of the run context. */
void aa__guest_orphan(trio_guest *q);

/*
 * Moves the run's values of the run context from this thread into
 * q->locals, which is left NULL when there are none: trio cleared them as
 * the run ended.  Must not raise (an exception set is kept).
 */
void aa__guest_stash(trio_guest *q);

/* Puts the run's values of the run context on this thread: 0, or -1 with
 * an exception set. */
int aa__guest_unstash(trio_guest *q);

/* 1 when this thread's run context is another run's (a trio.run, or a
 * step of another guest run, is on its stack), 0 when free, -1 with an
 * exception set. */
int aa__guest_taken(trio_guest *q);

#endif /* AA_TRIO_GUEST_H */
