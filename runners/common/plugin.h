/*
 * plugin.h -- what the runner plugins of this tree (asyncio, trio, curio)
 * share: the interned names a runner keeps in its per-session state, making
 * that state, refusing a run inside a run of the same session, closing a
 * coroutine that will not run, a runner's Python wrapper (running it, and
 * the traceback cutting such wrappers start with), the runner's own
 * imports, a call made on a thread of its own while the caller waits
 * without the GIL, a descriptor moved above the standard streams, and the
 * entry's check of the host.
 *
 * plugin.c is compiled into every plugin and stays hidden in it: the entry
 * is still the one symbol a plugin exports.  What a runner does with its
 * library (its loop, its wrapper's source, its vtable) stays in its own
 * file.  The plugin template (examples/runner-plugin) does not use this: it
 * shows a plugin made from the public headers alone.
 */
#ifndef AA_RUNNER_PLUGIN_H
#define AA_RUNNER_PLUGIN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

#include <autoawait/runner.h>

/*
 * Interned names.  A runner lists the names it looks up in an X-macro,
 * NAMES(X), and AA_NAMES(NAMES) then makes `names`, a struct with one
 * PyObject * field per name, and `names_list`, what aa__names_init and
 * aa__names_clear go through.  They are kept per session, not in
 * process-wide statics: the entry runs once per process, but the
 * interpreter may be finalized and started again, and every object of the
 * old one dies with it.
 */
typedef struct aa_name {
    const char *text; /* NULL ends a list */
    size_t offset;    /* of its field in `names` */
} aa_name;

#define AA_NAME_FIELD(n) PyObject *n;
#define AA_NAME_ENTRY(n) {#n, offsetof(names, n)},
#define AA_NAMES(list)                                                         \
    typedef struct names {                                                     \
        list(AA_NAME_FIELD)                                                    \
    } names;                                                                   \
    static const aa_name names_list[] = {list(AA_NAME_ENTRY){NULL, 0}}

/* Interns every name of list into n: 0, or -1 with an exception set (what
 * it made is then for aa__names_clear). */
int aa__names_init(void *n, const aa_name *list);

/* Drops every name of list from n. */
void aa__names_clear(void *n, const aa_name *list);

/*
 * What every runner's open does: makes a zeroed state of size bytes and
 * hands it to init (0, or -1 with an exception set).  Returns 0 with *state
 * set, or -1 after handing the state to free_state and clearing the
 * exception: a failure of open is a status, not an exception.
 */
int aa__state_open(void **state, size_t size, int (*init)(void *st),
                   void (*free_state)(void *st));

/*
 * What run does when it is called while it runs already (a cell of this
 * session run from inside one of its cells): the library answers AA_EBUSY
 * first, but the outer run's state must survive even a library that does
 * not.  Sets a RuntimeError "the <name> runner is already running a cell of
 * this session", closes coro (close is the interned "close") and returns
 * NULL.
 */
PyObject *aa__run_refused(const char *name, PyObject *coro, PyObject *close);

/*
 * Calls coro.close() (close is the interned "close"), so that a coroutine
 * that never started does not warn "was never awaited"; a finished one is
 * left as it is.  The exception already set, the reason, is kept.
 */
void aa__close_coro(PyObject *coro, PyObject *close);

/*
 * Python source a runner's wrapper starts with when it cuts tracebacks:
 * _until(lib, tb) cuts the traceback tb after the last frame before the
 * first one in the package of module lib (where the cell's code called
 * into the library) and returns it.
 */
#define AA_UNTIL_SOURCE                                                        \
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
 * Compiles source, a runner's Python wrapper, under the file name file and
 * runs it in a namespace of its own, its imports being the runner's own
 * (see aa__own_import).  Returns that namespace, a new reference, or NULL
 * with an exception set.
 */
PyObject *aa__run_wrapper(const char *source, const char *file);

/*
 * Imports the module called name (a str) for the runner itself, through
 * the host's own_imports: neither it nor what it imports in turn can come
 * from the current folder or any folder user code put first on sys.path.
 * With a library whose host table lacks own_imports, a plain import.
 * Returns a new reference, or NULL with an exception set.
 */
PyObject *aa__own_import(PyObject *name);

/*
 * Calls fn(arg) on a thread of its own, which takes the GIL for it, while
 * the calling thread waits with the GIL released: how a runner runs its
 * library when the library already runs on this thread and will not run
 * again inside itself.  The caller stays blocked meanwhile, as it would in
 * any sync call.  Returns what fn returned, or NULL with fn's exception
 * set, or a RuntimeError "cannot start a thread for <what>: <reason>".
 * Called with the GIL.
 */
PyObject *aa__call_on_thread(PyObject *(*fn)(void *arg), void *arg,
                             const char *what);

/*
 * A duplicate of fd, >= 3 and close-on-exec like every descriptor the
 * library makes (a descriptor a runner made that came out as 0, 1 or 2,
 * which a host that started with them closed would take for its standard
 * streams, moves up this way).  Returns it, or -1 with an OSError set.
 */
int aa__fd_watch(int fd);

/*
 * The whole of a plugin's entry: sets *out to runner and answers 0 for a
 * host of this ABI version, -1 for any other or for NULL arguments.  Keeps
 * the host's own_imports for aa__own_import and aa__run_wrapper.
 */
int aa__plugin_entry(const aa_runner_host *host, const aa_runner **out,
                     const aa_runner *runner);

/* Defined by each plugin with aa__plugin_entry; the one symbol it exports. */
AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host, const aa_runner **out);

#endif /* AA_RUNNER_PLUGIN_H */
