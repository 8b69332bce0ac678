/*
 * autoawait.h -- the host API of libautoawait.
 *
 * A host links against libautoawait and gets Python consoles ("sessions") in
 * which top-level `await`, `async with` and `async for` just work.  This
 * header is the whole host contract; it needs neither Python.h nor ffi.h.
 *
 * Conventions kept by every call:
 *   - Calls return int: AA_OK (0) on success, a positive value for an outcome
 *     of the user's code, a negative value for a failure of the call itself.
 *   - Any thread may call; the library takes the GIL itself.
 *   - The library starts the interpreter if the host has not, and never
 *     finalizes one it did not start.
 *   - A failing call leaves the session usable.
 *   - Each prototype ends with a line "Thread: ... | GIL: ... | Errors: ...".
 */
#ifndef AUTOAWAIT_H
#define AUTOAWAIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(AA_BUILDING_LIBRARY)
#define AA_API __declspec(dllexport)
#elif defined(_WIN32)
#define AA_API __declspec(dllimport)
#elif defined(__GNUC__)
#define AA_API __attribute__((visibility("default")))
#else
#define AA_API
#endif

#define AA_VERSION_MAJOR 0
#define AA_VERSION_MINOR 4
#define AA_VERSION_PATCH 0
#define AA_VERSION_STRING "0.4.0"
/* One number that orders versions: 0x00MMmmpp. */
#define AA_VERSION_NUMBER                                                      \
    ((AA_VERSION_MAJOR << 16) | (AA_VERSION_MINOR << 8) | AA_VERSION_PATCH)

/*
 * Status codes.  0 is success; > 0 an outcome of the user's code; < 0 a
 * failure of the call itself.  Codes are only ever appended.
 */
#define AA_STATUS_MAP(X)                                                       \
    X(AA_OK, 0, "success")                                                     \
    X(AA_EXCEPTION, 1, "the cell raised an exception")                         \
    X(AA_SYNTAX_ERROR, 2, "the cell is not valid Python")                      \
    X(AA_SYSTEM_EXIT, 3, "the cell raised SystemExit")                         \
    X(AA_EINVAL, -1, "invalid argument")                                       \
    X(AA_ENOMEM, -2, "out of memory")                                          \
    X(AA_ENOTFOUND, -3, "not found")                                           \
    X(AA_EABI, -4, "runner ABI version mismatch")                              \
    X(AA_EBUSY, -5, "the session is running a cell")                           \
    X(AA_EPYTHON, -6, "the Python interpreter failed")                         \
    X(AA_ERUNNER, -7, "the runner failed")                                     \
    X(AA_ENOTSUP, -8, "the session's runner cannot do that")                   \
    X(AA_ECANCELLED, -9, "the cell stopped waiting for it")

/* clang-format off */
enum {
#define AA__STATUS_ENUM(name, value, text) name = value,
    AA_STATUS_MAP(AA__STATUS_ENUM)
#undef AA__STATUS_ENUM
    AA__STATUS_END_ = 0
};
/* clang-format on */

/*
 * A short English text for any status; never NULL, never allocates.  An
 * unknown value answers "unknown status".
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_strerror(int status);

/*
 * The library's version, "MAJOR.MINOR.PATCH"; a static string.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_version(void);

/* ---------------------------------------------------------------- options */

/*
 * Receives what a cell writes to sys.stdout (stream 1) or sys.stderr
 * (stream 2), as bytes that are not NUL-terminated: text as UTF-8 (a lone
 * surrogate raises UnicodeEncodeError on stdout and is escaped on stderr,
 * as python3's streams do), and what is written to sys.stdout.buffer or
 * sys.stderr.buffer as it was written.  Called with the
 * GIL held, on the thread that writes: the cell's own, during
 * aa_session_poll (background tasks), or a thread the running cell started
 * (its writes go to the session whose cell began last).  Writes made while
 * no cell of a session with a callback runs go to the process's own
 * streams.  It must not call aa_exec on the same session (that answers
 * AA_EBUSY).
 */
typedef void (*aa_write_fn)(void *userdata, int stream, const char *data,
                            size_t len);

/*
 * Called by a write callback, from inside the call, to report that the
 * write it is handling failed with the errno value errnum (EPIPE when the
 * reader of a pipe has gone, ENOSPC, ...).  When the callback returns, the
 * Python write that made the call raises OSError for errnum (the subclass
 * Python picks: BrokenPipeError for EPIPE), as a failed write to python3's
 * own stdout does; the cell may catch it, and otherwise ends with it.
 * Without this call a write always succeeds.  It applies to the callback
 * running on the calling thread; outside one it answers AA_EINVAL and
 * changes nothing.
 * Thread: the write callback's | GIL: held by the library for the callback
 * | Errors: AA_EINVAL (no write callback runs on this thread, errnum <= 0)
 */
AA_API int aa_write_fail(int errnum);

typedef struct aa_options {
    size_t size;        /* sizeof(aa_options): lets the struct grow */
    int autoawait;      /* default 1 */
    const char *runner; /* default "asyncio"; copied by aa_session_new */
    aa_write_fn write;  /* NULL: the process's own stdout and stderr */
    void *userdata;     /* handed to write */
} aa_options;

/*
 * Fills *opts with the defaults, size included.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API void aa_options_init(aa_options *opts);

/* --------------------------------------------------------------- sessions */

typedef struct aa_session aa_session; /* opaque */
typedef struct aa_result aa_result;   /* opaque */

/*
 * Makes a session: a fresh `__main__`-like namespace, its own
 * contextvars.Context, and the runner opts->runner (loaded on demand).
 * opts may be NULL for the defaults; a struct whose size is smaller than
 * today's is read only as far as its size covers.  Starts the interpreter
 * when the host has not.  On success *out owns a session the caller frees
 * with aa_session_free; on failure *out is NULL.
 * Thread: any | GIL: taken | Errors: AA_EINVAL (out NULL, size 0, bad
 * runner name), AA_ENOMEM, AA_EPYTHON (no interpreter), AA_ENOTFOUND and
 * AA_EABI (the runner could not be loaded), AA_ERUNNER (its open failed)
 */
AA_API int aa_session_new(aa_session **out, const aa_options *opts);

/*
 * Frees a session: cancels and drains what is left on its runner (for
 * asyncio, the pending tasks of its loop), closes the runner, drops the
 * namespace.  NULL is fine.  Called while a cell of the session (or its
 * aa_session_poll) runs, from the session's write callback, from inside the
 * cell or from another thread, it returns at once and the session is freed
 * when that call ends, before it returns.  A second free of the same
 * session, or two at once, free it once; the others do nothing (unless a
 * new session got the same address in between).  aa_interrupt(s) may be
 * called until aa_session_free(s) returns, not after.  In a child of
 * fork(), a session the parent made is only forgotten: the library's
 * memory is released, nothing shared with the parent is touched.
 * Thread: any | GIL: taken (not for a parent's session in a child) |
 * Errors: none
 */
AA_API void aa_session_free(aa_session *s);

/*
 * Runs one cell.  source is NUL-terminated UTF-8.  Returns the cell's
 * status: AA_OK, AA_EXCEPTION, AA_SYNTAX_ERROR or AA_SYSTEM_EXIT for an
 * outcome of the code, or a negative failure of the call.  When out is not
 * NULL, *out receives a result the caller frees with aa_result_free (also on
 * failures of the call, whose message is then aa_result_message); it is
 * NULL only for AA_EINVAL on a NULL session or source, and AA_ENOMEM.
 * A cell that does not compile runs nothing.  SystemExit never exits.
 * Thread: any | GIL: taken, released while the runner waits |
 * Errors: AA_EINVAL, AA_ENOMEM, AA_EBUSY (a cell of this session is
 * running), AA_EPYTHON, AA_ERUNNER
 */
AA_API int aa_exec(aa_session *s, const char *source, aa_result **out);

/*
 * As aa_exec, for len bytes that need not be NUL-terminated.  A NUL byte or
 * invalid UTF-8 in them is an AA_SYNTAX_ERROR (a SyntaxError naming the
 * byte offset), never a truncation.
 * Thread: any | GIL: taken, released while the runner waits |
 * Errors: as aa_exec
 */
AA_API int aa_execn(aa_session *s, const char *source, size_t len,
                    aa_result **out);

/*
 * Runs the file at path as ONE cell, so that a script with top-level await
 * just runs.  The cell is compiled under the file's name (tracebacks show
 * `File "path", line N` and its lines), and `__file__` is set in the
 * namespace, as Python does for the script it runs.  Statuses and *out as
 * aa_exec; a file that cannot be read answers AA_ENOTFOUND and
 * aa_session_errmsg names it and why, with *out NULL.
 * Thread: any | GIL: taken, released while the runner waits |
 * Errors: as aa_exec, AA_ENOTFOUND
 */
AA_API int aa_exec_file(aa_session *s, const char *path, aa_result **out);

/*
 * Sets sys.argv (process-wide, as in Python) to argv[0..argc-1], decoded as
 * file names are.  argc 0 makes it [''], as for an interactive Python.
 * Starts the interpreter if need be.
 * Thread: any | GIL: taken | Errors: AA_EINVAL, AA_EPYTHON
 */
AA_API int aa_set_argv(int argc, const char *const *argv);

/* ---------------------------------------------------------------- results */

/*
 * Accessors of a result.  Strings live as long as the result; NULL where
 * there is nothing (no displayed value, no exception).
 *   status     the value aa_exec returned
 *   is_async   1 when the cell ran as a coroutine through the runner
 *   repr       repr() of the displayed value of the last expression
 *   exception  the exception's class name, e.g. "ZeroDivisionError"
 *   message    str() of the exception; for a failure of the call, its reason
 *   traceback  formatted like Python's, the user's frames only
 *   exit_code  for AA_SYSTEM_EXIT, the code the process would have exited
 *              with (None is 0, an integer is itself, anything else is 1)
 * A NUL character in Python's text (a repr or a message may hold one) is
 * written as the four characters \x00, so that nothing after it is lost;
 * the same holds for aa_session_errmsg.
 * A NULL result answers AA_EINVAL, 0 or NULL.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API int aa_result_status(const aa_result *r);
AA_API int aa_result_is_async(const aa_result *r);
AA_API const char *aa_result_repr(const aa_result *r);
AA_API const char *aa_result_exception(const aa_result *r);
AA_API const char *aa_result_message(const aa_result *r);
AA_API const char *aa_result_traceback(const aa_result *r);
AA_API int aa_result_exit_code(const aa_result *r);

/*
 * Frees a result and its strings.  NULL is fine.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API void aa_result_free(aa_result *r);

/* ------------------------------------------------------ autoawait, runners */

/*
 * Turns top-level await on (non-zero) or off (0).  With it off a cell with
 * top-level await fails like plain Python: "'await' outside function".
 * It takes effect from the next cell.
 * Thread: any | GIL: not needed | Errors: AA_EINVAL (s NULL)
 */
AA_API int aa_session_set_autoawait(aa_session *s, int on);

/*
 * 1 when autoawait is on, 0 when off, AA_EINVAL for a NULL session.
 * Thread: any | GIL: not needed | Errors: AA_EINVAL
 */
AA_API int aa_session_autoawait(const aa_session *s);

/*
 * Switches the session's runner to the one called name ([a-z0-9_]+),
 * registered in process or loaded on demand from its plugin
 * aa_runner_<name>.so, looked for in each absolute folder of
 * AA_RUNNER_PATH, then in the runner folder beside libautoawait.so, then
 * in the folder the library was installed with; never in the current
 * directory.  A plugin is loaded only when, on its real path, the file and
 * every folder up to / belong to root or the process's user and neither
 * group nor others may write them (/tmp included).
 * On failure the session keeps its runner and aa_session_errmsg says why,
 * naming the paths tried.
 * Thread: any | GIL: taken | Errors: AA_EINVAL (bad name, or the plugin
 * calls itself by another name), AA_ENOTFOUND (no such runner anywhere),
 * AA_EABI (the file is no plugin of this ABI: other version, short vtable,
 * no entry symbol), AA_ERUNNER (dlopen failed, the entry refused, open
 * failed, or the plugin's file or a folder on its real path belongs to
 * another user or may be written by others), AA_EBUSY,
 * AA_ENOMEM
 */
AA_API int aa_session_set_runner(aa_session *s, const char *name);

/*
 * The name of the session's runner; valid until the runner changes or the
 * session is freed.  NULL for a NULL session.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_session_runner(const aa_session *s);

/*
 * The message of the last call on this session that failed (a negative
 * status: aa_exec, aa_session_set_runner, ...), or "" when none has.  Kept
 * per session; valid until the next call on the session.  A NULL session
 * answers "no session".
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_session_errmsg(const aa_session *s);

/*
 * The message of the last failed call on this thread that had no session
 * to keep it: aa_session_new (which runner, which paths were tried, why a
 * plugin was refused) and aa_runner_register.  "" when none failed.  Kept
 * per thread; valid until the next such call on the thread.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_errmsg(void);

/*
 * Asks the cell of s running now to stop: an awaiting cell is cancelled
 * through its runner (its finally blocks and __aexit__ run) and reports
 * KeyboardInterrupt; a busy sync cell gets KeyboardInterrupt.  With no cell
 * running it does nothing, and nothing is kept for the next cell.
 * Async-signal-safe: it only sends a byte on the session's socket (never
 * raising SIGPIPE); it never allocates and takes no lock and no GIL.  It
 * may be called until aa_session_free(s) returns.  In a child of fork(),
 * on a session the parent made, it does nothing.
 * Thread: any, a signal handler included | GIL: not taken | Errors: none
 */
AA_API void aa_interrupt(aa_session *s);

/* --------------------------------------------------------------- consoles */

/* What aa_is_complete answers. */
enum {
    AA_INPUT_COMPLETE = 0,   /* a whole cell: run it */
    AA_INPUT_INCOMPLETE = 1, /* more lines are wanted */
    AA_INPUT_INVALID = 2     /* it can never be valid: run it to show why */
};

/*
 * Tells a console whether source, the lines typed so far, each ending in
 * "\n" (so a blank line typed adds "\n"), is a whole cell.  It is parsed with
 * the session's flags, so with autoawait on `async with x:` wants more lines,
 * like `with x:`.  As in Python's console, a block (a last line that is
 * indented) ends with a blank line; input whose first line is a magic (`%...`)
 * is always complete.  When the answer is AA_INPUT_INCOMPLETE and indent is not
 * NULL, *indent gets the number of spaces the next line should start with (one
 * level more after a line ending in ':'); otherwise 0.  Runs nothing. Thread:
 * any | GIL: taken | Errors: AA_EINVAL, AA_EPYTHON
 */
AA_API int aa_is_complete(aa_session *s, const char *source, int *indent);

typedef struct aa_completions aa_completions; /* opaque */

/*
 * Completes the word before byte offset cursor of line (NUL-terminated
 * UTF-8), from the session's namespace and builtins: names, keywords,
 * attributes along a dotted name (reached with getattr: a property's
 * getter runs, nothing else is called), module names after `import` and `from`,
 * and names after `from MODULE import`.  Names starting with '_' are offered
 * only when the word starts with '_'.  On AA_OK *out gets a sorted list the
 * caller frees with aa_completions_free (possibly empty); each item replaces
 * the bytes from aa_completions_start to the cursor.  On failure *out is NULL.
 * Thread: any | GIL: taken | Errors: AA_EINVAL (NULLs, cursor past the
 * end), AA_ENOMEM, AA_EPYTHON
 */
AA_API int aa_complete(aa_session *s, const char *line, size_t cursor,
                       aa_completions **out);

/*
 * Accessors of a completion list: how many items, item i (NULL past the
 * end; valid as long as the list), and the byte offset in the line where
 * the completed word starts.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API size_t aa_completions_count(const aa_completions *c);
AA_API const char *aa_completions_item(const aa_completions *c, size_t i);
AA_API size_t aa_completions_start(const aa_completions *c);

/*
 * Frees a completion list.  NULL is fine.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API void aa_completions_free(aa_completions *c);

/*
 * Describes the object named at byte offset cursor of code (NUL-terminated
 * UTF-8), as IPython's `obj?` does: the dotted name the cursor is in or just
 * after (in `f(x, y` with the cursor at the end, the function whose call is
 * open, f), looked up in the session's namespace and builtins and along
 * its attributes with getattr, as aa_complete does; nothing is called but
 * a property's getter.  On AA_OK *text gets plain text (no terminal
 * escapes) the caller frees with aa_free, in lines "Signature: f(a, b=1)"
 * (for what inspect.signature can read), "Type: function", "String form:
 * ..." (cut to one line), "File: ..." (where there is one) and
 * "Docstring:" followed by the docstring, or "<no docstring>"; with detail
 * 1, "Source:" and the source where inspect.getsource finds it (cells
 * included), instead of the docstring.  AA_ENOTFOUND (and *text NULL)
 * when there is no name at the cursor or it names nothing.
 * Thread: any | GIL: taken | Errors: AA_EINVAL (NULLs, cursor past the
 * end), AA_ENOTFOUND, AA_ENOMEM, AA_EPYTHON
 */
AA_API int aa_inspect(aa_session *s, const char *code, size_t cursor,
                      int detail, char **text);

/*
 * Frees memory the library handed out for the caller to free (aa_inspect's
 * text).  NULL is fine.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API void aa_free(void *p);

/*
 * Replaces the session's write callback (aa_options.write and userdata)
 * from the next write on; write NULL sends what cells write to the
 * process's own streams.  When old_write (old_userdata) is not NULL it
 * gets the callback (userdata) it replaces, so that a caller can pass
 * writes on to it and put it back: a Jupyter kernel serving a host's
 * session (kernel.h) does.  Writes made by a thread the session's running
 * cell started follow the change too.
 * Thread: any (the write callback and the cell included) | GIL: taken |
 * Errors: AA_EINVAL (s NULL)
 */
AA_API int aa_session_set_write(aa_session *s, aa_write_fn write,
                                void *userdata, aa_write_fn *old_write,
                                void **old_userdata);

/*
 * Reads one line for input() in a cell: prompt is what the cell passed
 * (str() of it, UTF-8; "" for none), not written anywhere by the library.
 * On AA_OK *line holds the line without its "\n", allocated with malloc;
 * the library frees it.  AA_ENOTFOUND, with no aa_raise, passes the call
 * on: input() reads sys.stdin as it would without the callback (a kernel
 * answers only for its clients' cells).  Any other return makes input()
 * raise: the
 * exception the callback named with aa_raise during the call
 * (KeyboardInterrupt is allowed here, for an interrupted wait), or
 * EOFError.  Called on the cell's thread with the GIL released (the
 * session's other calls must not be made from it, but aa_interrupt may),
 * after sys.stdout and sys.stderr are flushed.
 */
typedef int (*aa_input_fn)(void *userdata, const char *prompt, char **line);

/*
 * Makes input() in the cells of s (and in what they call, on their thread
 * or a thread they started) call fn; NULL puts back the process's own
 * input() (sys.stdin).  Like the write callback, it follows the session
 * whose cell runs on the calling thread; builtins.input of cells of other
 * sessions, and of the host's own Python code, is left as it was.
 * Thread: any | GIL: taken | Errors: AA_EINVAL (s NULL), AA_EPYTHON
 */
AA_API int aa_session_set_input(aa_session *s, aa_input_fn fn, void *userdata);

/*
 * Gives the session time while the host waits for one fd of its own: waits
 * on the session's fd (aa_session_fd), its timeout and fd, the GIL
 * released, dispatching the session (aa_session_dispatch) whenever it has
 * work, until fd (when >= 0: a console's stdin, a host's own wake-up pipe)
 * is readable or timeout_ms milliseconds have passed (a negative timeout
 * waits for fd alone; 0 dispatches what is ready and returns).  Background
 * tasks a cell left on the loop run meanwhile, their output going to the
 * session's write callback, and a cell started with aa_exec_start goes on
 * (its done callback is called from here when it ends).  Returns 1 when fd
 * is readable (POLLIN, or POLLHUP/POLLERR: a pipe whose writer is gone is
 * readable, its read gives the end of the input), 0 when the time ran out
 * or a signal interrupted the wait, or a failure: AA_EINVAL for a NULL
 * session, for fd not an open descriptor, and for fd < 0 with a negative
 * timeout (nothing could end that wait), aa_session_errmsg saying which;
 * an exception that escapes a runner's loop is written to the session's
 * stderr and answers AA_ERUNNER, the session going on.  fd is only ever
 * polled, never read and never handed to a runner's loop: a cell's own
 * loop.add_reader on it (under curio: a task reading it) is left alone.
 * This is the blocking form of the guest calls above, for a console whose
 * whole loop is waiting for input; a host with a loop of its own uses
 * those instead.
 * Thread: any | GIL: taken, released while waiting | Errors: AA_EINVAL,
 * AA_EBUSY (called from inside a cell of the session), AA_ERUNNER,
 * AA_ENOMEM
 */
AA_API int aa_session_poll(aa_session *s, int fd, int timeout_ms);

/* ------------------------------------------- a guest of the host's loop */

/*
 * A host with an event loop of its own (libuv, GLib, Qt, libevent, a poll
 * loop) keeps it in charge and makes the session its guest, as libuv itself
 * is embedded (uv_backend_fd, uv_backend_timeout): it watches the session's
 * one fd for reading, arms a timer from aa_session_timeout, calls
 * aa_session_dispatch when either fires, and starts cells with
 * aa_exec_start.  Nothing of it blocks; docs/embedding.md has recipes.
 */

/*
 * A file descriptor that becomes readable when the session has work for
 * aa_session_dispatch: I/O or a callback ready in one of its runners'
 * loops, a cell finished, a wake-up from another thread.  The same fd for
 * the session's whole life, whichever runner it uses and whatever cells do
 * to the loop (close it, replace it, switch runners); the session owns it
 * (never close it), and it is >= 3 and close-on-exec.  Watch it for
 * reading only; reading it is the session's business.  Linux: an epoll
 * set, which poll(2), select(2), epoll and every loop built on them watch.
 * Thread: any | GIL: not needed | Errors: AA_EINVAL (s NULL)
 */
AA_API int aa_session_fd(aa_session *s);

/*
 * Milliseconds until the session must be dispatched even if its fd stays
 * quiet: -1 no deadline, 0 now (something is ready: a callback, a timer
 * due).  Valid until the next call into the session: ask again after each
 * aa_session_dispatch, aa_exec_start or other call that runs code.  A NULL
 * session answers -1.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API int aa_session_timeout(aa_session *s);

/*
 * Runs what is ready and returns: due timers, ready I/O and callbacks and
 * the tasks they wake in every runner the session has opened (background
 * tasks included, their output going to the write callback), a started
 * cell's next steps, and the done callback of a cell that finished (the
 * last thing it does).  Never blocks.  With nothing ready it returns at
 * once without taking the GIL.  Returns AA_OK; an exception that escapes a
 * runner's loop (a background task's KeyboardInterrupt) is written to the
 * session's stderr and answers AA_ERUNNER, the session and its cell going
 * on.
 * Thread: any, one at a time per session | GIL: taken when there is work |
 * Errors: AA_EINVAL (s NULL), AA_EBUSY (called from inside a cell or a
 * write callback of the session), AA_ERUNNER, AA_EPYTHON
 */
AA_API int aa_session_dispatch(aa_session *s);

/*
 * What aa_exec_start calls when the cell ends: status is what aa_execn
 * would have returned, result (never NULL but for AA_ENOMEM) is the
 * host's to free with aa_result_free.  Called with no lock of the library
 * held: it may start the next cell, or free the session.
 */
typedef void (*aa_done_fn)(void *userdata, aa_session *s, int status,
                           aa_result *result);

/*
 * Starts a cell and returns at once.  source is len bytes of UTF-8, as for
 * aa_execn.  On AA_OK, done (when not NULL; without it the result is
 * freed) is called exactly once: from aa_exec_start itself when the cell
 * ends without waiting (a sync cell, a magic, a cell that does not
 * compile), otherwise from a later aa_session_dispatch (or aa_session_poll,
 * aa_session_free).  One cell at a time per session: another aa_exec_start
 * or aa_exec meanwhile answers AA_EBUSY.  aa_interrupt cancels a started
 * cell; its finally blocks run on the next dispatch, and done gets
 * AA_EXCEPTION with KeyboardInterrupt.  aa_session_free cancels it and
 * calls done before it returns.  A negative status means nothing was
 * started and done is not called: AA_ENOTSUP when the cell is async and
 * the session's runner cannot run it without blocking (a runner without
 * the guest entries of runner.h, such as a Python callable's; aa_exec
 * still runs it), aa_session_errmsg saying so.  A runner that can start
 * cells but not at this moment (trio inside a trio cell of another
 * session) runs the cell to its end before aa_exec_start returns.
 * Thread: any | GIL: taken | Errors: AA_EINVAL, AA_EBUSY, AA_ENOTSUP,
 * AA_ENOMEM, AA_EPYTHON
 */
AA_API int aa_exec_start(aa_session *s, const char *source, size_t len,
                         aa_done_fn done, void *userdata);

/* --------------------------------------------------------- host functions */

/*
 * Cells call C functions of the host as Python functions, and await what
 * the host completes later, through libffi: any C function is bound as it
 * is, from a signature that spells its C type.  docs/host-functions.md has
 * the whole story and a complete example.
 *
 * A signature is a return code, then the argument codes in parentheses:
 * "d(dd)" is double f(double, double), "v()" void f(void).
 *
 *   code  C argument                  C return                  Python
 *   v     -                           void                      None
 *   b     bool                        bool                      bool
 *   i     int                         int                       int
 *   I     unsigned int                unsigned int              int
 *   l     int64_t                     int64_t                   int
 *   L     uint64_t                    uint64_t                  int
 *   z     size_t                      size_t                    int
 *   d     double                      double                    float
 *   f     float                       float                     float
 *   s     const char *: UTF-8, NUL-   const char *: UTF-8 the   str (a NULL
 *         terminated, valid during    host keeps (copied at     return is
 *         the call                    once)                     None)
 *   S     -                           char *: malloc'ed UTF-8,  str
 *                                     freed with free()
 *   y     const void *, size_t: two   aa_bytes (data kept by    bytes (data
 *         C parameters, valid during  the host, copied)         NULL: None)
 *         the call
 *   Y     -                           aa_bytes, data freed      bytes
 *                                     with free()
 *   j     const char *: JSON text of  const char *: JSON text   dict, list,
 *         the argument, valid during  the host keeps            str, int, ...
 *         the call
 *   J     -                           char *: malloc'ed JSON,   as j
 *                                     freed with free()
 *   p     void *                      void *                    autoawait.
 *                                                               Pointer, None
 *   u     void *: the definition's    -                         (none: the
 *         userdata                                              cell passes
 *   F     aa_future *: makes fn       -                          nothing)
 *         async; its return is v
 *
 * At most 16 argument codes; u and F at most once each.
 *
 * An int out of the C type's range, a str with a NUL character or a lone
 * surrogate, a value of the wrong type, a wrong argument count, text the
 * host returns that is not UTF-8 or not JSON: each is a Python exception
 * in the cell naming the function and the argument, never a crash.
 */

/* The bytes of the codes y and Y when returned. */
typedef struct aa_bytes {
    const void *data;
    size_t size;
} aa_bytes;

/*
 * Makes the C function fn callable from cells as `name`.  A dotted name
 * ("host.stats") puts the function in an importable module ("host",
 * made by the library; "a.b.f" makes the package a and its module a.b); a
 * name without a dot is set in the session's namespace, as if a cell had
 * assigned it.  s == NULL defines it for every session, present and
 * future (allowed before any session exists); a session's own definition
 * of a name hides a process-wide one.  signature is fn's C type (the table
 * above); an 'F' in it makes fn async: it gets an aa_future and returns at
 * once, and the cell's call gives an awaitable that ends when the host
 * resolves or rejects the future.  Each call holds the GIL: a slow host
 * function is written async.
 * Defining a name again in the same scope replaces it (a function object a
 * cell kept calls what it was made from); fn NULL removes the name
 * (AA_ENOTFOUND when it is not defined there).  Names are ASCII
 * identifiers joined by dots, no Python keyword, no part starting "__",
 * and a module may not be one of Python's own (sys.stdlib_module_names),
 * one imported already, or "autoawait"; a name cannot be both a function
 * and a module.
 * Thread: any, inside a host function included | GIL: taken when Python
 * runs | Errors: AA_EINVAL (NULL name or signature, a malformed signature,
 * an unknown code, a bad name, a name taken by a module), AA_ENOTFOUND,
 * AA_ENOMEM, AA_EPYTHON; the message is aa_session_errmsg(s), or
 * aa_errmsg() for s == NULL
 */
AA_API int aa_define(aa_session *s, const char *name, const char *signature,
                     void (*fn)(void), void *userdata);

/*
 * Called by a host function, during its call, to make the call raise
 * exception (the name of a built-in exception class derived from
 * Exception: "ValueError", "KeyError", "TimeoutError"...; NULL or another
 * name raises RuntimeError) with message (UTF-8; NULL is "").  What fn
 * returns is then dropped (freed for S, Y and J).  An async host function
 * raising this way leaves its future cancelled.  The last call wins.  An
 * input callback (aa_input_fn) may call it too, KeyboardInterrupt allowed.
 * Thread: the host function's or input callback's, during its call | GIL:
 * held by the library for a host function, not for an input callback |
 * Errors: AA_EINVAL (no host function or input callback runs on this
 * thread)
 */
AA_API int aa_raise(const char *exception, const char *message);

/*
 * A future: what an async host function gets to finish later.  It is a
 * handle, not memory: a handle that is used up (resolved, rejected, its
 * session freed) answers AA_ENOTFOUND, never a crash, and is never given
 * out again.  The host finishes it exactly once, with aa_future_resolve or
 * aa_future_reject, from any thread.
 */
typedef struct aa_future aa_future;

/*
 * Resolves f: the awaiting cell gets the value.  type is one return code
 * of the table (not u or F), followed by the value as the C type in the
 * variadic arguments (b i: int, I: unsigned, l: int64_t, L: uint64_t, z:
 * size_t, d f: double, s S j J: a char pointer, y Y: a const void pointer
 * then a size_t, p: a void pointer; v: nothing).  The value is copied (and
 * freed for S, Y, J) before the call returns; it is converted in the
 * cell, so that text that is not UTF-8 or not JSON raises there.  Safe
 * from any thread, without the GIL: it stores the value and wakes the
 * cell's loop, and with it the session's fd (aa_session_fd).  After the
 * call f is used up, whatever it answered.
 * Thread: any | GIL: not needed, never taken | Errors: AA_ECANCELLED (the
 * cell stopped waiting: the value is dropped), AA_ENOTFOUND (f used up, or
 * its session freed), AA_EINVAL (type not one return code; f is then
 * rejected with a ValueError naming the code), AA_ENOMEM (no memory for
 * the copy; f is then rejected with a MemoryError)
 */
AA_API int aa_future_resolve(aa_future *f, const char *type, ...);

/*
 * Rejects f: the awaiting cell gets exception (as aa_raise) with message.
 * Thread: any | GIL: not needed, never taken | Errors: as
 * aa_future_resolve
 */
AA_API int aa_future_reject(aa_future *f, const char *exception,
                            const char *message);

/*
 * What aa_future_on_cancel calls when the cell stops waiting for f before
 * the host finished it: the awaiting task was cancelled (aa_interrupt, a
 * timeout in the cell), the cell dropped the awaitable unawaited, or the
 * session is being freed.  Called once, on the cell's thread, with the GIL
 * held by the library and no lock of it held; it may finish f (answering
 * AA_ECANCELLED).
 */
typedef void (*aa_cancel_fn)(void *userdata, aa_future *f);

/*
 * Sets the function called when the cell stops waiting for f (one per
 * future; a second call replaces the first).  Usually called by the host
 * function itself, before it returns.
 * Thread: any | GIL: not needed | Errors: AA_ECANCELLED (the cell stopped
 * waiting already: fn is not called), AA_ENOTFOUND
 */
AA_API int aa_future_on_cancel(aa_future *f, aa_cancel_fn fn, void *userdata);

/*
 * The state of f: AA_OK while a cell may still get its value, AA_ECANCELLED
 * once the cell stopped waiting, AA_ENOTFOUND when f is used up.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API int aa_future_state(aa_future *f);

/*
 * Finalizes the interpreter if the library started it and no session is
 * left; an interpreter the host started is left alone.  After the library
 * finalized its interpreter, aa_session_new answers AA_EPYTHON: CPython
 * does not promise that a second interpreter in one process behaves.  Call
 * it last, from the thread that made the first session.
 * Thread: see above | GIL: taken | Errors: AA_EBUSY (sessions remain)
 */
AA_API int aa_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif /* AUTOAWAIT_H */
