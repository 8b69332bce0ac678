/*
 * runner-sdk.h -- the runner SDK: what a runner plugin is made of, so that
 * a plugin says only what is its own.
 *
 * The SDK is a static library, libautoawait-runner.a, built against the
 * CPython the library embeds and linked into a plugin (found by pkg-config
 * as autoawait-runner, and by CMake as the target autoawait::runner of the
 * autoawait package).  Every function here is hidden inside the plugin:
 * the entry stays the one symbol a plugin exports.  The shipped runners,
 * asyncio, trio and curio, are built on it.
 *
 * What it gives, in the order of this file:
 *   - the entry (AA_SDK_PLUGIN), and the library's calls through the table
 *     the entry was given: an error message the host sees, the session's
 *     output, the CPython version;
 *   - interned names kept per session, and the per-session state;
 *   - the cell: the running/interrupted handshake of interrupt, the
 *     cancellation turned into KeyboardInterrupt with the cell's frames,
 *     an exception taken and raised again, the session's Context;
 *   - the runner's own imports and Python wrapper, a call on a thread of
 *     its own, descriptors and time for the idle and guest entries;
 *   - the asyncio family: a whole runner made from a loop factory
 *     (AA_SDK_ASYNCIO_PLUGIN).
 *
 * docs/runner-plugins.md explains each with examples;
 * examples/runner-plugin holds two plugins made with it.
 *
 * Everything here is called with the GIL held, unless its comment says
 * otherwise, and keeps runner.h's rules: no Python object in a
 * process-wide static, nothing printed to the process's streams.
 */
#ifndef AUTOAWAIT_RUNNER_SDK_H
#define AUTOAWAIT_RUNNER_SDK_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

#include <stddef.h>

#include "runner.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ the entry */

/*
 * The whole of a plugin's entry: for a host of this ABI version, keeps the
 * host's table (for the calls below) and sets *out to runner; answers 0.
 * Answers -1, after aa_sdk_error says why, for another ABI version or a
 * NULL argument.
 */
int aa_sdk_entry(const aa_runner_host *host, const aa_runner **out,
                 const aa_runner *runner);

/*
 * Defines the plugin's entry for runner, an aa_runner the plugin keeps
 * (a static const one, its python_version set with
 * AA_RUNNER_PYTHON_VERSION).  At file scope, followed by a semicolon:
 *
 *     AA_SDK_PLUGIN(my_runner);
 */
#define AA_SDK_PLUGIN(runner)                                                  \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out);                         \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out)                          \
    {                                                                          \
        return aa_sdk_entry(host, out, &(runner));                             \
    }                                                                          \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out)

/* The table the entry was given, or NULL before the entry ran. */
const aa_runner_host *aa_sdk_host(void);

/*
 * The library's calls, each safe with any library: one whose table lacks
 * the call (older than 0.4) gets none of it.
 *
 * aa_sdk_error sets the message of a failing entry or open (see
 * aa_runner_host.set_error); aa_sdk_error_from_exception sets it from the
 * Python exception set now, "Class: text", and clears the exception.
 * aa_sdk_write writes to the current session's stdout (1) or stderr (2)
 * and answers what aa_runner_host.write does (AA_ENOTFOUND with a library
 * older than 0.4).  aa_sdk_python_hexversion is the hex version of the
 * library's CPython (0 with a library older than 0.4).
 */
void aa_sdk_error(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void aa_sdk_error_from_exception(void);
int aa_sdk_write(int stream, const char *text, size_t len);
unsigned long aa_sdk_python_hexversion(void);

/* ---------------------------------------------------- names and state */

/*
 * Interned names.  A runner lists the names it looks up in an X-macro,
 * NAMES(X), and AA_SDK_NAMES(NAMES) then makes `names`, a struct with one
 * PyObject * field per name, and `names_list`, what aa_sdk_names_init and
 * aa_sdk_names_clear go through.  They are kept per session, not in
 * process-wide statics: the entry runs once per process, but the
 * interpreter may be finalized and started again.
 */
typedef struct aa_sdk_name {
    const char *text; /* NULL ends a list */
    size_t offset;    /* of its field in `names` */
} aa_sdk_name;

#define AA_SDK_NAME_FIELD(n) PyObject *n;
#define AA_SDK_NAME_ENTRY(n) {#n, offsetof(names, n)},
#define AA_SDK_NAMES(list)                                                     \
    typedef struct names {                                                     \
        list(AA_SDK_NAME_FIELD)                                                \
    } names;                                                                   \
    static const aa_sdk_name names_list[] = {list(AA_SDK_NAME_ENTRY){NULL, 0}}

/* Interns every name of list into n: 0, or -1 with an exception set (what
 * it made is then for aa_sdk_names_clear). */
int aa_sdk_names_init(void *n, const aa_sdk_name *list);

/* Drops every name of list from n. */
void aa_sdk_names_clear(void *n, const aa_sdk_name *list);

/*
 * What a runner's open does: makes a zeroed state of size bytes
 * (PyMem_Calloc) and hands it to init (0, or -1 with an exception set).
 * Returns 0 with *state set, or -1 after handing the state to free_state
 * (which must accept a state init left half made) and turning the
 * exception into the open's error message (aa_sdk_error_from_exception).
 */
int aa_sdk_state_open(void **state, size_t size, int (*init)(void *st),
                      void (*free_state)(void *st));

/* ------------------------------------------------------------ the cell */

/*
 * The running/interrupted handshake.  A runner keeps one aa_sdk_cell in its
 * state; start (or run) calls aa_sdk_cell_begin, collect (or the end of
 * run) aa_sdk_cell_end, and interrupt is aa_sdk_cell_interrupt.
 */
typedef struct aa_sdk_cell {
    int running;     /* a cell is started and not yet collected */
    int interrupted; /* interrupt was called for it */
} aa_sdk_cell;

void aa_sdk_cell_begin(aa_sdk_cell *c);
void aa_sdk_cell_end(aa_sdk_cell *c);

/*
 * The body of a runner's interrupt (runner.h): answers 1 when no cell is
 * running (the library then raises KeyboardInterrupt in the cell's thread
 * itself).  Otherwise marks the cell interrupted and, when schedule is not
 * NULL, calls schedule(cancel): a thread-safe way into the loop
 * (loop.call_soon_threadsafe, a trio token's run_sync_soon) with what
 * cancels the cell there (its task's cancel, its cancel scope's cancel).
 * schedule NULL means the cell has no task yet: the flag is all there is,
 * and start must look at it.  Answers 0 when the cancellation is on its
 * way; 1 when schedule raised (cleared), unless what it raised is an
 * instance of finished (may be NULL), which says the loop has ended and
 * needs no cancellation: 0.  Every later interrupt of the same cell calls
 * schedule again, which wakes a loop the library's KeyboardInterrupt
 * could not reach while it slept: the second-interrupt force of
 * runner.h.
 */
int aa_sdk_cell_interrupt(aa_sdk_cell *c, PyObject *schedule, PyObject *cancel,
                          PyObject *finished);

/*
 * The outcome of the cell, with its exception set (or none): when the cell
 * was interrupted and the exception is an instance of cancelled (the
 * async library's cancellation class: asyncio.CancelledError,
 * trio.Cancelled), replaces it by KeyboardInterrupt with the cell's frames
 * (the cancellation's traceback, or that of a cancellation chained as its
 * context, which a Task raising a fresh CancelledError leaves) and nothing
 * chained.  Any other exception is left as it is.
 */
void aa_sdk_cell_outcome(const aa_sdk_cell *c, PyObject *cancelled);

/*
 * Refuses a cell while the runner runs one of the same session (a cell
 * run from inside a cell): a RuntimeError "the NAME runner is already
 * running a cell of this session", coro closed; returns NULL.
 */
PyObject *aa_sdk_run_refused(const char *name, PyObject *coro);

/* Closes coro so that a coroutine that will never run does not warn "was
 * never awaited"; the exception set, the reason, is kept. */
void aa_sdk_close_coro(PyObject *coro);

/* The exception set now, taken: its value (a new reference) with its
 * traceback attached, or NULL when none was set. */
PyObject *aa_sdk_take_exception(void);

/* Sets exc (an exception instance, borrowed) as the exception, with its own
 * traceback. */
void aa_sdk_raise_exception(PyObject *exc);

/*
 * Calls callable(*args) inside context, the session's contextvars.Context
 * (NULL or None: as it is), as asyncio's Handle and Context.run do, so
 * that what it sets in context variables stays for the next cells.
 * Returns a new reference, or NULL with an exception set (a context
 * entered already, on this thread or another, raises RuntimeError).
 */
PyObject *aa_sdk_context_call(PyObject *context, PyObject *callable,
                              PyObject *args);

/* aa_sdk_context_call with keyword arguments too: kwargs a dict, or NULL
 * for none (trio's start_guest_run, curio's kernel.run(shutdown=True)). */
PyObject *aa_sdk_context_call_kw(PyObject *context, PyObject *callable,
                                 PyObject *args, PyObject *kwargs);

/* ------------------------------------------ imports, threads, time, fds */

/*
 * Imports the module name for the runner itself, with the library's own
 * imports in force (aa_runner_host.own_imports): neither it nor what it
 * imports can come from the current folder or a folder user code put
 * first on sys.path.  A plain import with a library that lacks them.
 * Returns a new reference, or NULL with an exception set.
 */
PyObject *aa_sdk_import(const char *name);

/* Calls fn(arg) with the runner's own imports in force (as aa_sdk_import
 * does for one import) and returns what it returned. */
PyObject *aa_sdk_own_call(PyObject *(*fn)(void *arg), void *arg);

/*
 * Compiles source, a runner's Python wrapper, under the file name file and
 * runs it in a namespace of its own, with the runner's own imports.
 * Returns that namespace (a dict, new reference), or NULL with an
 * exception set.  AA_SDK_UNTIL_SOURCE is Python a wrapper may start with:
 * _until(lib, tb) cuts traceback tb after the last frame before the first
 * one in the package of module lib (where the cell called into its async
 * library) and returns it.
 */
PyObject *aa_sdk_run_wrapper(const char *source, const char *file);

#define AA_SDK_UNTIL_SOURCE                                                    \
    "from os.path import dirname, join\n"                                      \
    "def _until(lib, tb):\n"                                                   \
    "    inside = join(dirname(lib.__file__), '')\n"                           \
    "    first = tb\n"                                                         \
    "    while tb.tb_next is not None and not \\\n"                            \
    "            tb.tb_next.tb_frame.f_code.co_filename.startswith(inside):\n" \
    "        tb = tb.tb_next\n"                                                \
    "    tb.tb_next = None\n"                                                  \
    "    return first\n"

/*
 * Calls fn(arg) on a thread of its own, which takes the GIL for it, while
 * the calling thread waits with the GIL released: how a runner runs its
 * async library when it runs already on this thread and will not run
 * inside itself.  Returns what fn returned, or NULL with fn's exception
 * set, or a RuntimeError "cannot start a thread for WHAT: reason".
 */
PyObject *aa_sdk_call_on_thread(PyObject *(*fn)(void *arg), void *arg,
                                const char *what);

/*
 * A duplicate of fd, >= 3 and close-on-exec, for a runner's fd entry (a
 * descriptor that came out as 0, 1 or 2 would be taken for a standard
 * stream by a host that closed them).  Returns it, or -1 with an OSError
 * set.
 */
int aa_sdk_fd_watch(int fd);

/* Milliseconds on the monotonic clock.  Thread: any | GIL: not needed. */
double aa_sdk_now_ms(void);

/*
 * What a timeout entry answers for a deadline of a clock in seconds (now
 * its current reading): 0 when due, else the milliseconds to it rounded
 * up, at most INT_MAX; -1 when deadline is not finite.  Thread: any |
 * GIL: not needed.
 */
int aa_sdk_timeout_ms(double deadline, double now);

/*
 * The wait of a poll entry: waits, with the GIL released, until fd (when
 * >= 0) is readable or timeout_ms has passed (negative: fd alone).
 * Answers AA_POLL_READY, AA_POLL_TIMEOUT, or -1 with an OSError set.
 */
int aa_sdk_wait(int fd, int timeout_ms);

/* --------------------------------------------------- the asyncio family */

/*
 * A whole runner in the asyncio family, made from a loop factory: the
 * shipped asyncio runner is one, and so is uvloop's.  What it does is
 * docs/runner-plugins.md's "The asyncio family": one loop per session,
 * made when a cell first needs it and kept across cells (tasks a cell
 * leaves run in the next ones and while the host is idle), made the
 * thread's current loop around every cell, each async cell a task of it in
 * the session's Context, interrupt cancelling that task, a guest of the
 * host's loop through the selector's fd (a loop whose queues Python cannot
 * read, as uvloop's, is stepped on a schedule instead), drained and closed
 * with the session.
 */
typedef struct aa_sdk_asyncio {
    const char *name; /* the runner's name, [a-z0-9_]+ */
    /*
     * What makes a loop: "module:callable", imported as the runner's own
     * and called with no argument ("uvloop:new_event_loop"); NULL is
     * "asyncio:new_event_loop".
     */
    const char *factory;
    /*
     * Or made in C, used instead of factory when not NULL: a new loop (a
     * new reference) or NULL with an exception set.  Called with the
     * runner's own imports in force.
     */
    PyObject *(*new_loop)(void *userdata);
    void *userdata; /* for new_loop */
} aa_sdk_asyncio;

/*
 * Fills runner (which the caller keeps for as long as the process may use
 * it) with the family's entries for family (kept too).  A plugin has one
 * family, whose open gets userdata NULL; a host that registers such runners
 * itself passes the family as aa_runner_register's userdata, which open
 * then uses.
 */
void aa_sdk_asyncio_runner(aa_runner *runner, const aa_sdk_asyncio *family);

/*
 * The whole plugin for family, an aa_sdk_asyncio at file scope:
 *
 *     static const aa_sdk_asyncio uvloop = {"uvloop", "uvloop:new_event_loop"};
 *     AA_SDK_ASYNCIO_PLUGIN(uvloop);
 */
#define AA_SDK_ASYNCIO_PLUGIN(family)                                          \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out);                         \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out)                          \
    {                                                                          \
        static aa_runner runner_;                                              \
        aa_sdk_asyncio_runner(&runner_, &(family));                            \
        return aa_sdk_entry(host, out, &runner_);                              \
    }                                                                          \
    AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host,                     \
                               const aa_runner **out)

#ifdef __cplusplus
}
#endif
#endif /* AUTOAWAIT_RUNNER_SDK_H */
