/*
 * runner.h -- the runner contract of libautoawait.
 *
 * A runner runs the coroutine of an async cell to completion and hands back
 * its result: IPython's "loop runner", as a C ABI.  It comes either from a
 * plugin (a shared object aa_runner_<name>.so exporting AA_RUNNER_ENTRY) or
 * straight from a host through aa_runner_register().  Both go through the
 * same checks and the same dispatch.
 *
 * Versioning.  Both structs below start with their ABI version and their
 * size.  AA_RUNNER_ABI_VERSION changes only when an existing field changes
 * meaning; the library refuses any other version with AA_EABI and a message
 * naming both.  New fields are only ever appended: the library reads only
 * the fields the declared struct_size covers (older plugins keep working),
 * and a plugin must read only the host fields host->struct_size covers.
 * Version 2 (libautoawait 0.2) added the guest entries (start, step,
 * collect, fd, timeout), made run optional for a runner that has them, and
 * stopped calling poll for such a runner; what later versions of the
 * library add (host functions, a table of library calls) is appended to
 * these two structs without a new version.  Version 1 plugins are refused:
 * rebuild them against this header.
 *
 * Python objects cross this ABI as `struct _object *`, which is PyObject *:
 * a plugin includes <Python.h> and uses PyObject * freely; this header does
 * not need Python.h.
 *
 * Rules every runner keeps:
 *   - Python objects are kept in the per-session state, never in
 *     process-wide statics: the entry runs once per process.
 *   - open, close, enter, leave, run, interrupt and poll are called with the
 *     GIL held, and must return with it held (they may release and retake
 *     it in between, as a loop does while it waits).
 *   - A runner never prints to the process's streams: what it has to say
 *     goes to the session's output (aa_runner_host.write), and a failure is
 *     a Python exception (for run) or a status with a message (for open:
 *     aa_runner_host.set_error).
 *   - A runner keeps no reference to a session's objects after close.
 */
#ifndef AUTOAWAIT_RUNNER_H
#define AUTOAWAIT_RUNNER_H

#include <stddef.h>

#include "autoawait.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AA_RUNNER_ABI_VERSION 2

/* What a runner's poll answers. */
enum { AA_POLL_TIMEOUT = 0, AA_POLL_READY = 1, AA_POLL_IDLE = 2 };

struct _object; /* PyObject */

/*
 * What the library hands a plugin at load time.  Append-only.
 */
typedef struct aa_runner_host {
    unsigned abi_version;        /* AA_RUNNER_ABI_VERSION of the library */
    size_t struct_size;          /* sizeof(aa_runner_host) of the library */
    const char *library_version; /* aa_version() */
    const char *name;            /* the name the runner is loaded under */

    /*
     * Calls fn(arg) and returns what it returned, with the library's own
     * imports in force on this thread meanwhile: a top-level module
     * imported then, and every module it imports in turn, comes from
     * sys.path as the interpreter set it up (without '', a script's folder
     * or what user code put in front since), so that a file in the current
     * folder cannot stand in for it.  For what a runner imports on its own
     * behalf: its async library when a cell first needs it, the source of
     * its Python wrapper.  Never around a cell's coroutine or any other
     * user code, whose imports follow sys.path.  A module already in
     * sys.modules is used as it is.  Called with the GIL held.  Read it
     * only when struct_size covers it (an earlier library has no such
     * field: import plainly then).
     */
    struct _object *(*own_imports)(struct _object *(*fn)(void *arg), void *arg);

    /*
     * The library's calls (libautoawait 0.4).  The table the library hands
     * a plugin is the library's own: it stays valid, unchanged, for the
     * life of the process, so a plugin may keep the pointer its entry was
     * given.  Read each field only when struct_size covers it (the SDK's
     * aa_sdk_* wrappers do: autoawait/runner-sdk.h).
     */

    /* PY_VERSION_HEX of the CPython the library embeds and runs, and the
     * same as text, "3.11.2" (PY_VERSION). */
    unsigned long python_hexversion;
    const char *python_version;

    /*
     * Sets the message of the failure in progress on this thread, in
     * printf style (at most 1 KiB is kept; a longer one is cut).  The library
     * reads it when the plugin's entry refuses the load ("cannot load runner
     * 'NAME' from PATH: MESSAGE", in aa_errmsg or aa_session_errmsg) and
     * when open fails ("runner 'NAME' could not open: MESSAGE", in
     * aa_session_errmsg after aa_session_set_runner or a cell's switch);
     * each of those calls starts with no message, and a message set at any
     * other time is never shown.  Without one, the library says what it
     * knows: the Python exception open left set ("Class: text"), or the
     * status the entry returned.
     * Thread: any | GIL: not needed | Errors: none.
     */
    void (*set_error)(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
        __attribute__((format(printf, 1, 2)))
#endif
        ;

    /*
     * Writes len bytes of text to the standard output (stream 1) or error
     * (stream 2) of the session whose call into the runner is in progress
     * on this thread (open, close, run, poll, enter, leave, the guest
     * entries): through its aa_options.write, as a cell's print would, or
     * to the process's stream when it has none.  text need not end in a
     * newline nor in NUL; invalid UTF-8 is written as it is.  Returns AA_OK,
     * AA_EINVAL (stream neither 1 nor 2, text NULL with len > 0), or
     * AA_ENOTFOUND when no session's call is in progress on this thread (in
     * the entry, say, or on a thread of the runner's own).
     * Thread: the one of the call | GIL: held | Errors: AA_EINVAL,
     * AA_ENOTFOUND.
     */
    int (*write)(int stream, const char *text, size_t len);
} aa_runner_host;

/*
 * The runner's vtable.  Fill it with AA_RUNNER_INIT and then set the
 * fields.  The struct must stay valid while the process may use it (a
 * static const struct is the usual way).
 */
typedef struct aa_runner {
    unsigned abi_version; /* AA_RUNNER_ABI_VERSION the runner was built for */
    size_t struct_size;   /* sizeof(aa_runner) the runner was built with */
    const char *name;     /* [a-z0-9_]+; a plugin's must match its file name */

    /*
     * Makes the per-session state: called once when a session starts to use
     * the runner.  userdata is what aa_runner_register was given (NULL for
     * a plugin).  Returns 0 and sets *state, or non-zero (a failure that
     * leaves the session on its old runner; an exception it leaves set is
     * cleared).  It runs with the library's own imports in force (see
     * aa_runner_host.own_imports): what it imports is the runner's, not
     * the user's.  Optional: NULL means a NULL state.
     */
    int (*open)(void *userdata, void **state);

    /*
     * Ends a session's use of the runner: cancel and drain what is left,
     * release every reference, free state.  Must not raise; an exception it
     * leaves set is cleared.  Optional.
     */
    void (*close)(void *state);

    /*
     * Runs coro, the coroutine of an async cell, to completion.
     *   coro     borrowed; the runner must either run it or close it.
     *   context  borrowed: the session's contextvars.Context, not entered.
     *            A runner that can should run the coroutine inside it, so
     *            that context variables persist from cell to cell (asyncio:
     *            loop.create_task(coro, context=context)).
     * Returns a new reference to the coroutine's result (when the cell
     * ends with an expression, its value: the session displays what run
     * returns, so a runner must hand it back), or NULL with a
     * Python exception set (the cell's exception).  When interrupt was
     * called during the run and the cell ended by that cancellation, the
     * exception is KeyboardInterrupt; a cell that caught the cancellation
     * and returned normally has its result returned.
     * NULL without an exception set is a broken runner: the cell then fails
     * with AA_ERUNNER.  Required, unless the runner has the guest entries
     * (start, step, collect) and its start never answers 1.
     */
    struct _object *(*run)(void *state, struct _object *coro,
                           struct _object *context);

    /*
     * Asks the cell that run is running to stop, so that its cleanup runs
     * and run returns with KeyboardInterrupt.  Called with the GIL from a
     * library-owned thread, not the one inside run, while run is in
     * progress (its thread waiting in the loop, or running Python code),
     * once for each aa_interrupt that reaches the cell:
     *   - the first asks the runner to cancel the cell.  It must not block;
     *     typically it schedules a cancellation thread-safely.  Returns 0,
     *     or non-zero when it could not: the library then raises
     *     KeyboardInterrupt in the cell's thread itself, and never calls
     *     interrupt again for that cell;
     *   - each later one comes right after the library raised
     *     KeyboardInterrupt in the cell's thread (a cancellation lands only
     *     at the cell's next await, and a busy cell never gets there).  That
     *     exception fires only when the thread runs Python code, so the
     *     runner must wake its loop if it sleeps (the cell may have caught
     *     the cancellation and awaited again): scheduling the cancellation
     *     again, thread-safely, does it.  Its return value is ignored.
     * An exception it leaves set is cleared.  Optional: without it every
     * interrupt raises KeyboardInterrupt in the cell's thread.
     */
    int (*interrupt)(void *state);

    /*
     * Gives background work (tasks a cell left on the loop) time while the
     * host is idle: runs it until fd (when >= 0) is readable or timeout_ms
     * milliseconds have passed (a negative timeout waits for fd alone).
     * The library calls it only with fd an open descriptor or < 0, and
     * never with both fd and timeout_ms negative.
     * Returns AA_POLL_READY when fd is readable (POLLIN, POLLHUP or
     * POLLERR; or no longer open: the library then answers AA_EINVAL),
     * AA_POLL_TIMEOUT when the time ran out, AA_POLL_IDLE when it has
     * nothing to run and waited for nothing (the library then waits for fd
     * and the timeout itself), or -1 with a Python exception set.  The
     * wait must leave the session's own watchers of fd alone (asyncio: a
     * cell's loop.add_reader on it; curio: a task waiting to read it).
     * Called only for a runner without the guest entries (below), which
     * step instead.  Optional: NULL is AA_POLL_IDLE.
     */
    int (*poll)(void *state, int fd, int timeout_ms);

    /*
     * Called before and after every cell of the session, sync or async, on
     * the cell's thread, and around poll and every batch of guest calls
     * (start, step, collect): a started cell's steps may come
     * from any thread, with other sessions' cells in between.  A runner with a
     * loop makes it the thread's current loop here.  enter returns 0, or
     * non-zero with a Python exception set: the cell, sync or async, then does
     * not run and fails with AA_ERUNNER, its message "runner 'NAME' could not
     * start the cell: Class: text" and aa_result_exception the exception's
     * class, and leave is not called.  So a runner should fail enter only when
     * no cell can run: a loop it cannot make is better reported by run, so that
     * sync cells (the one that repairs the loop, say) still run.  leave must
     * not raise.  Optional.
     */
    int (*enter)(void *state);
    void (*leave)(void *state);

    /*
     * The guest entries (ABI 2): how a session runs as a guest of the
     * host's event loop (autoawait.h, aa_exec_start).  A runner gives
     * start, step and collect together, or none of them; fd and timeout
     * are optional beside them.  With them the library no longer calls run
     * (which is then optional) nor poll: aa_exec is start, then waits on
     * the session's fd and steps until collect says the cell ended, and
     * aa_session_poll and aa_session_dispatch step.  Every guest entry is
     * called with the GIL and must never block; start, step and collect
     * between enter and leave, fd and timeout at any time (after each of
     * those calls, and for a runner that is not the current one): they
     * must be cheap, run none of the user's code and leave no exception.
     *
     * start begins coro (borrowed; the runner keeps its own reference or
     * closes it) as the session's cell, inside context as for run, and
     * returns without waiting: 0 started; -1 with an exception set, the
     * cell's failure (coro closed); 1 when it cannot be started without
     * blocking at this moment (trio while a trio run is on this thread's
     * stack): the library then calls run, which must exist.  At most one
     * cell is started at a time.
     */
    int (*start)(void *state, struct _object *coro, struct _object *context);

    /*
     * Runs what is ready now in the runner's loop (the started cell, and
     * tasks cells left behind): due timers, ready I/O and the callbacks and
     * tasks they wake, once, with no wait at all.  Called when the session
     * fd or the timeout says there is work, and whenever the host
     * dispatches.  0, or -1 with an exception that escaped the loop and is
     * not the started cell's (the cell's own ending, whatever it is, is for
     * collect).  While a cell is started on the runner, that exception
     * ends the cell: the library interrupts it and, once collect says it
     * ended, reports the exception as its outcome, as asyncio.run would
     * end; otherwise the session writes it to its stderr and goes on.
     */
    int (*step)(void *state);

    /*
     * Whether the started cell has ended: 0 not yet; 1 ended, with *result
     * a new reference to its value, or NULL and the cell's exception set,
     * under run's rules (KeyboardInterrupt for a cell interrupt stopped).
     * After 1 the runner has forgotten the cell.
     */
    int (*collect)(void *state, struct _object **result);

    /*
     * The descriptor the runner's loop waits on (an epoll or other
     * selector's fd), readable when step has I/O to handle, or -1 when it
     * has none now.  Asked after every call into the runner: the library
     * watches whatever it answers then, so it may change (a cell closed the
     * loop).  A runner whose work comes from another thread (trio's guest
     * mode) answers an fd it makes readable itself.  Optional: NULL is -1.
     */
    int (*fd)(void *state);

    /*
     * Milliseconds until step must run even if fd stays quiet: -1 never, 0
     * now (callbacks are ready), else until the next timer is due (rounded
     * up).  Asked after every call into the runner.  Optional: NULL is -1.
     */
    int (*timeout)(void *state);

    /*
     * PY_VERSION_HEX of the CPython the runner was built against
     * (libautoawait 0.4), or 0 for a runner that does not say.  The
     * library refuses a runner whose major.minor differs from its own
     * CPython's with AA_EABI and a message naming both ("built against
     * CPython 3.12, this library embeds CPython 3.11"), before it calls
     * any of its entries: such a plugin's calls into CPython would reach
     * the library's CPython, whose structures differ.  AA_RUNNER_INIT and
     * AA_RUNNER_PYTHON_VERSION fill it when <Python.h> was included before
     * this header; a runner that sets it as 0 is not checked.
     */
    unsigned long python_version;
} aa_runner;

/* PY_VERSION_HEX when <Python.h> came before this header, else 0. */
#ifdef PY_VERSION_HEX
#define AA_RUNNER_PYTHON_VERSION PY_VERSION_HEX
#else
#define AA_RUNNER_PYTHON_VERSION 0UL
#endif

/* clang-format off */
#define AA_RUNNER_INIT {AA_RUNNER_ABI_VERSION, sizeof(aa_runner), NULL, \
                        NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                        NULL, NULL, NULL, NULL, NULL, \
                        AA_RUNNER_PYTHON_VERSION}
/* clang-format on */

/* The smallest struct_size the library accepts: up to and including run. */
#define AA_RUNNER_MIN_SIZE                                                     \
    (offsetof(aa_runner, run) + sizeof(((aa_runner *)0)->run))

/*
 * The one symbol a plugin exports.  It checks host (at least its
 * abi_version), sets *out to its vtable and returns 0; non-zero refuses the
 * load (the plugin is then dlclosed; host->set_error, when the table has
 * it, says why).  Called with the GIL held, once per process.  It should
 * not call into CPython: the library checks the vtable's python_version
 * only once the entry has returned it.
 */
#define AA_RUNNER_ENTRY aa_runner_entry
#define AA_RUNNER_ENTRY_NAME "aa_runner_entry"
typedef int (*aa_runner_entry_fn)(const aa_runner_host *host,
                                  const aa_runner **out);

/*
 * Registers a runner from the host process, under runner->name, with
 * userdata handed to its open.  Goes through the checks a plugin does.
 * The vtable is copied; the strings it points to must outlive the process's
 * use of it.  A name already registered (or loaded) is refused.
 * Thread: any | GIL: not needed | Errors: AA_EINVAL (NULL, bad name, no run,
 * name taken), AA_EABI (other ABI version, struct too short), AA_ENOMEM;
 * aa_errmsg() says why.
 */
AA_API int aa_runner_register(const aa_runner *runner, void *userdata);

#ifdef __cplusplus
}
#endif
#endif /* AUTOAWAIT_RUNNER_H */
