/*
 * session.c -- sessions: their making, their runners, their end, and the
 * public entry of a cell.
 *
 * A session is a namespace that is both globals and locals of every cell
 * (a dict with __name__ == "__main__" and __builtins__), a
 * contextvars.Context, the runners it has opened, its output streams and
 * its interrupt watcher.  Compiling and running a cell is left to cell.c
 * and exec.c; the interpreter and the GIL to interp.c.
 *
 * Its end is guarded against a careless host.  Every live session is in a
 * list, so that a second aa_session_free of the same pointer is seen
 * without reading it.  A free that comes while a cell of the session runs
 * (from its own write callback, from inside the cell, from another thread)
 * cannot wait for the cell, which may be waiting for it: it is deferred to
 * the cell's end.  And a session made before a fork() is the parent's: in
 * the child, its free only forgets the library's own memory (see
 * forget_inherited).
 */
#include "internal.h"

#include "pyrunner.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int aa__session_fail(aa_session *s, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

/* ----------------------------------------------------------------- making */

static PyObject *make_namespace(void)
{
    PyObject *ns = PyDict_New(), *builtins = aa__import("builtins");
    PyObject *name = PyUnicode_FromString("__main__");

    if (ns == NULL || builtins == NULL || name == NULL ||
        PyDict_SetItemString(ns, "__name__", name) < 0 ||
        PyDict_SetItemString(ns, "__builtins__", builtins) < 0 ||
        PyDict_SetItemString(ns, "__doc__", Py_None) < 0 ||
        PyDict_SetItemString(ns, "__package__", Py_None) < 0 ||
        PyDict_SetItemString(ns, "__spec__", Py_None) < 0) {
        Py_XDECREF(ns);
        ns = NULL;
    }
    Py_XDECREF(builtins);
    Py_XDECREF(name);
    return ns;
}

/* Keeps the reason aa_session_new failed where aa_errmsg finds it. */
static int new_failed(int status, const char *message)
{
    snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE, "%s", message);
    return status;
}

/* Copies what the host's options cover: an older, shorter struct is read
 * only as far as its size says. */
static int read_options(aa_options *o, const aa_options *opts)
{
    aa_options_init(o);
    if (opts == NULL)
        return AA_OK;
    if (opts->size < sizeof(size_t) + sizeof(int))
        return AA_EINVAL;
    memcpy(o, opts, opts->size < sizeof *o ? opts->size : sizeof *o);
    if (opts->size < offsetof(aa_options, runner) + sizeof(char *) ||
        o->runner == NULL)
        o->runner = "asyncio";
    if (opts->size < offsetof(aa_options, userdata) + sizeof(void *))
        o->write = NULL, o->userdata = NULL;
    return aa__runner_name_ok(o->runner) ? AA_OK : AA_EINVAL;
}

static void close_runners(aa_session *s)
{
    while (s->opened != NULL) {
        aa__opened *o = s->opened;
        s->opened = o->next;
        aa__runner_close(o);
        aa__pyrunner_free(o->py);
        free(o->owned);
        free(o);
    }
    s->runner = NULL;
}

/* Frees what the session holds; the GIL is held. */
static void destroy(aa_session *s)
{
    int streams;

    aa__interrupt_stop(s);
    /* What the runner's cleanup and the namespace's finalizers print is
     * still the session's output. */
    streams = s->ns != NULL && aa__output_begin(s) == 0;
    close_runners(s);
    aa__host_session_free(s);
    aa__guest_close(s);
    aa__sources_forget(s);
    if (s->ns != NULL)
        PyDict_Clear(s->ns);
    if (streams)
        aa__output_end(s);
    Py_CLEAR(s->ns);
    Py_CLEAR(s->context);
    Py_CLEAR(s->transformers);
    aa__output_free(s);
    aa__input_free(s);
    if (PyErr_Occurred())
        PyErr_Clear();
    aa__interp_session_removed(s->id);
    aa__live_remove(s);
    free(s);
}

/*
 * Ends a session the parent made, in a child of fork().  The watcher
 * thread is not there; the loop's selector and self-pipe are shared with
 * the parent, and closing the loop would
 * unregister the parent's; the interpreter may not even be usable (a host
 * that forked in C without PyOS_AfterFork_Child).  So only the library's
 * own memory is released and the child's copies of the channel closed; the
 * session's Python objects are left to the child's interpreter, and the
 * session still counts for aa_shutdown in the child.  No GIL needed.
 */
static void forget_inherited(aa_session *s)
{
    aa__interrupt_stop(s);
    aa__guest_close(s);
    if (s->started != NULL) {
        aa_result_free(s->started->r);
        free(s->started);
    }
    while (s->opened != NULL) {
        aa__opened *o = s->opened;
        s->opened = o->next;
        free(o->owned);
        free(o);
    }
    aa__live_remove(s);
    free(s);
}

/* Ends s, in this process or in a child of fork. */
static void end_session(aa_session *s)
{
    if (s->pid != getpid())
        forget_inherited(s);
    else
        destroy(s);
}

/* Ends a call that held s busy: a free asked for meanwhile happens now,
 * after a started cell was cancelled and its done called.  1 when s is
 * gone.  The GIL is held. */
int aa__session_end_call(aa_session *s)
{
    if (!s->free_pending || s->busy || s->held)
        return 0;
    if (s->pid == getpid())
        aa__session_finish_started(s);
    end_session(s);
    return 1;
}

int aa_session_new(aa_session **out, const aa_options *opts)
{
    aa_options o;
    aa_session *s;
    PyGILState_STATE g;
    int rc;

    aa__thread_errmsg[0] = '\0';
    if (out == NULL)
        return new_failed(AA_EINVAL, "aa_session_new: out is NULL");
    *out = NULL;
    if ((rc = read_options(&o, opts)) != AA_OK)
        return new_failed(rc, "aa_session_new: bad options (size 0, or a "
                              "runner name outside [a-z0-9_]+)");
    if ((s = calloc(1, sizeof *s)) == NULL)
        return new_failed(AA_ENOMEM, "aa_session_new: out of memory");
    s->epfd = s->wakefd = -1;
    s->pid = getpid();
    s->autoawait = o.autoawait != 0;
    s->write = o.write;
    s->userdata = o.userdata;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        free(s);
        return new_failed(rc, "aa_session_new: no Python interpreter (it "
                              "failed to start, or aa_shutdown ended it)");
    }
    rc = AA_ENOMEM;
    snprintf(s->errmsg, sizeof s->errmsg, "aa_session_new: out of memory");
    if ((s->id = aa__interp_session_added()) == 0) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "aa_session_new: too many sessions at once");
        goto fail;
    }
    s->ns = make_namespace();
    s->context = s->ns != NULL ? PyContext_New() : NULL;
    s->transformers = s->context != NULL ? PyList_New(0) : NULL;
    if (s->transformers == NULL || aa__module_install() < 0 ||
        aa__output_make(s) < 0 || aa__guest_open(s) < 0 ||
        aa__interrupt_start(s) < 0 || aa__host_session_init(s) < 0)
        goto fail;
    if ((rc = aa__session_use_runner(s, o.runner)) != AA_OK)
        goto fail;
    aa__guest_watch(s);
    rc = AA_ENOMEM;
    if (aa__live_add(s) < 0)
        goto fail;
    aa__interp_leave(g);
    s->errmsg[0] = '\0';
    *out = s;
    return AA_OK;
fail:
    if (PyErr_Occurred())
        PyErr_Clear();
    new_failed(rc, s->errmsg);
    destroy(s);
    aa__interp_leave(g);
    return rc;
}

void aa_session_free(aa_session *s)
{
    PyGILState_STATE g;

    if (s == NULL || !aa__live_claim(s))
        return; /* freed already, or being freed by another call */
    if (s->pid != getpid()) {
        /* os.fork() in a cell, and the child frees from inside it. */
        if (s->busy && pthread_equal(s->busy_thread, pthread_self()))
            s->free_pending = 1;
        else
            forget_inherited(s);
        return;
    }
    if (aa__interp_enter(&g) != AA_OK) {
        aa__live_remove(s);
        free(s); /* the interpreter is gone, and its objects with it */
        return;
    }
    if (s->busy || s->held) {
        s->free_pending = 1; /* the call's end frees it */
    } else {
        aa__session_finish_started(s);
        destroy(s);
    }
    aa__interp_leave(g);
}

/*
 * Opens e for the session (once: a runner opened before is reused, so that
 * switching away from asyncio and back finds the same loop) and makes it
 * the current runner.  owned and py, when given, belong to the session from
 * then on, also on failure.  The GIL is held.
 */
static int use_entry(aa_session *s, const aa__runner_entry *e,
                     aa__runner_entry *owned, aa_pyrunner *py)
{
    aa__opened *o;
    int rc;

    for (o = owned == NULL ? s->opened : NULL; o != NULL; o = o->next)
        if (o->entry == e)
            break;
    if (o == NULL) {
        if ((o = calloc(1, sizeof *o)) == NULL) {
            free(owned);
            aa__pyrunner_free(py);
            return aa__session_fail(s, AA_ENOMEM, "out of memory");
        }
        o->entry = e;
        o->session = s;
        o->owned = owned;
        o->py = py;
        o->fd = -1;
        o->due = -1;
        if ((rc = aa__runner_open(o)) != AA_OK) {
            free(owned);
            aa__pyrunner_free(py);
            free(o);
            return rc;
        }
        o->next = s->opened;
        s->opened = o;
    }
    s->runner = o;
    return AA_OK;
}

/* Makes the runner called name, registered or a plugin, the session's.
 * On failure nothing changes and s->errmsg says why. */
int aa__session_use_runner(aa_session *s, const char *name)
{
    const aa__runner_entry *e;
    int rc = aa__registry_find(name, &e, s->errmsg, sizeof s->errmsg);

    return rc != AA_OK ? rc : use_entry(s, e, NULL, NULL);
}

/*
 * Makes the callable fn, chosen by name, a runner of this session alone:
 * through the bindings it becomes a C runner like any other.  A callable
 * chosen before under the same name is reused.  Python exception set on
 * failure.
 */
int aa__session_use_callable(aa_session *s, const char *name, PyObject *fn)
{
    aa__opened *o;
    aa__runner_entry *e;
    aa_pyrunner *py;
    int rc;

    for (o = s->opened; o != NULL; o = o->next) {
        if (o->py != NULL && aa__pyrunner_callable(o->py) == fn &&
            strcmp(o->entry->name, name) == 0) {
            s->runner = o;
            return 0;
        }
    }
    if ((py = aa__pyrunner_new(name, fn)) == NULL)
        return -1;
    e = aa__runner_entry_new(name, aa__pyrunner_vtable(py), py,
                             "use a Python callable as a runner", &rc,
                             s->errmsg, sizeof s->errmsg);
    if (e == NULL) {
        aa__pyrunner_free(py);
        PyErr_Format(PyExc_ValueError, "%s", s->errmsg);
        return -1;
    }
    if (use_entry(s, e, e, py) != AA_OK) {
        PyErr_Format(PyExc_RuntimeError, "%s", s->errmsg);
        return -1;
    }
    return 0;
}

int aa_session_set_runner(aa_session *s, const char *name)
{
    PyGILState_STATE g;
    int rc;

    if (s == NULL)
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    if (!aa__runner_name_ok(name))
        return aa__session_fail(s, AA_EINVAL,
                                "'%s' is not a runner name: names are "
                                "[a-z0-9_]+",
                                name != NULL ? name : "(null)");
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return aa__session_fail(s, rc, "no Python interpreter");
    if (s->busy || s->started != NULL)
        rc = aa__session_fail(s, AA_EBUSY, "a cell of the session is running");
    else
        rc = aa__session_use_runner(s, name);
    aa__guest_watch(s);
    aa__interp_leave(g);
    return rc;
}

const char *aa_session_runner(const aa_session *s)
{
    return s != NULL && s->runner != NULL ? s->runner->entry->name : NULL;
}

int aa_session_set_autoawait(aa_session *s, int on)
{
    if (s == NULL)
        return AA_EINVAL;
    s->autoawait = on != 0;
    return AA_OK;
}

int aa_session_autoawait(const aa_session *s)
{
    return s != NULL ? s->autoawait : AA_EINVAL;
}

const char *aa_session_errmsg(const aa_session *s)
{
    return s != NULL ? s->errmsg : "no session";
}

/* The session whose cell runs on this thread: the autoawait module acts on
 * it.  Cells nest (a cell may run a cell of another session), so each run
 * puts back the one it found. */
static _Thread_local aa_session *current;

aa_session *aa__current_session(void)
{
    return current;
}

/*
 * The session's bracket around every call that runs code of s: s is busy
 * (another call on it answers AA_EBUSY), the current session of this
 * thread (the autoawait module acts on it; calls nest, a cell running a
 * cell of another session, so each puts back the one it found), and what
 * is printed goes to its write callback.  The GIL is held.  AA_OK, or a
 * failure with nothing changed.
 */
static int bracket_enter(aa_session *s, aa_session **outer)
{
    *outer = current;
    if (aa__output_begin(s) < 0) {
        PyErr_Clear();
        return aa__session_fail(s, AA_EPYTHON, "cannot set up the streams");
    }
    s->busy = 1;
    s->busy_thread = pthread_self();
    current = s;
    aa__host_install(s);
    aa__input_begin(s);
    s->outer = *outer;
    if (*outer != NULL)
        (*outer)->inner = s; /* an interrupt of outer reaches this cell */
    return AA_OK;
}

int aa__session_busy_begin(aa_session *s, aa_session **outer)
{
    if (s->busy)
        return aa__session_fail(s, AA_EBUSY,
                                "a cell of the session is running");
    /* A poll that holds s goes on to its end, a free notwithstanding. */
    if (atomic_load(&s->freeing) && !s->held)
        return aa__session_fail(s, AA_EBUSY, "the session is being freed");
    return bracket_enter(s, outer);
}

void aa__session_busy_end(aa_session *s, aa_session *outer)
{
    if (outer != NULL)
        outer->inner = NULL;
    s->outer = NULL;
    aa__input_end(s, outer);
    current = outer;
    if (outer != NULL)
        aa__host_install(outer);
    aa__output_end(s);
    s->busy = 0;
}

/* Steps s's runners, waiting between steps, until the started cell c
 * ends.  The GIL is held, inside the session's bracket. */
static void run_to_end(aa_session *s, aa__cell *c)
{
    short revents;

    double give_up = -1;

    aa__guest_watch(s);
    do {
        /* Nothing to wait for when a runner is due now (a cell just
         * started): the step looks at the fds itself.  Once an exception
         * escaped the cell's loop, the loop may never wake again (trio
         * whose I/O thread could not start): wait in short turns, and
         * after 3 s end the cell with that exception. */
        if (aa_session_timeout(s) != 0 &&
            aa__guest_wait(s, -1, give_up < 0 ? -1 : 10, &revents, 1) < 0 &&
            errno != EINTR) {
            /* poll(2) on our own epoll fd cannot fail but for ENOMEM:
             * step on rather than lose the cell. */
        }
        aa__guest_step(s, c);
        if (c->escaped != NULL && give_up < 0)
            give_up = aa__now_ms() + 3000;
        if (give_up >= 0 && aa__now_ms() > give_up) {
            aa__interrupt_cell_end(s);
            PyErr_Restore(Py_NewRef(Py_TYPE(c->escaped)), c->escaped,
                          PyException_GetTraceback(c->escaped));
            c->escaped = NULL;
            aa__result_from_exception(c, c->r, AA__PHASE_RUN);
            return;
        }
    } while (aa__exec_collect(s, c) == AA__EXEC_STARTED);
}

/*
 * Runs one cell of s into c->r: prepared, begun and, unless it must not
 * block (aa_exec_start), stepped to its end.  Answers AA__EXEC_DONE,
 * AA__EXEC_STARTED (the runner has it, c is to be kept) or
 * AA__EXEC_REFUSED.  The GIL is held.
 */
int aa__session_exec(aa_session *s, const char *src, size_t len,
                     const char *path, aa__cell *c)
{
    aa_session *outer;
    int rc;

    if (s->started != NULL) {
        aa__result_fail(c->r, AA_EBUSY,
                        "a cell of the session started with aa_exec_start "
                        "has not ended");
        return AA__EXEC_DONE;
    }
    if ((rc = aa__session_busy_begin(s, &outer)) != AA_OK) {
        aa__result_fail(c->r, rc, s->errmsg);
        return AA__EXEC_DONE;
    }
    rc = aa__cell_prepare(s, src, len, path, c) ? aa__exec_begin(s, c)
                                                : AA__EXEC_DONE;
    if (rc == AA__EXEC_STARTED && !c->refuse_blocking) {
        run_to_end(s, c);
        rc = AA__EXEC_DONE;
    }
    aa__guest_watch(s);
    aa__session_busy_end(s, outer);
    return rc;
}

/*
 * Hands a cell's result to its done callback, or frees it; the GIL is
 * not held.  A cell that ended while s was to be freed (from inside a
 * call of its own) calls done before s goes, s busy meanwhile, so that a
 * call of done on s answers AA_EBUSY rather than find it gone.
 */
static void call_done(aa_session *s, aa__cell *c)
{
    aa_result *r = c->r;

    if (r != NULL && r->status < 0 && r->message != NULL &&
        !atomic_load(&s->freeing))
        aa__session_fail(s, r->status, "%s", r->message);
    if (c->done != NULL)
        c->done(c->userdata, s, r != NULL ? r->status : AA_ENOMEM, r);
    else
        aa_result_free(r);
    free(c);
}

/*
 * Cancels the started cell of s (the session is being freed) and steps
 * it to its end, then calls its done, s busy meanwhile.  A cell that
 * swallows the cancellation gets a few more, then a forced
 * KeyboardInterrupt; one that outlives those ends with AA_ERUNNER and
 * its runner's close deals with what is left.  The GIL is held.
 */
void aa__session_finish_started(aa_session *s)
{
    aa__cell *c = s->started;
    double give_up = aa__now_ms() + 3000;
    aa_session *outer;
    short revents;
    int tries = 0;

    if (c == NULL)
        return;
    s->started = NULL;
    /* s is being freed, which the bracket's checks refuse: its cell ends
     * all the same, its output still the session's. */
    if (bracket_enter(s, &outer) != AA_OK) {
        s->busy = 1;
        current = s;
    }
    while (aa__exec_collect(s, c) == AA__EXEC_STARTED) {
        if (aa__now_ms() > give_up) {
            aa__interrupt_cell_end(s);
            aa__cell_release(c);
            aa__result_fail(c->r, AA_ERUNNER,
                            "the session was freed while the cell ran, and "
                            "the cell did not end when cancelled");
            break;
        }
        if (tries++ % 100 == 0 && aa__runner_interrupt(c->runner) != 0)
            s->force_pending = 1;
        aa__guest_wait(s, -1, 10, &revents, 1);
        aa__guest_step(s, c);
    }
    aa__cell_release(c);
    aa__session_busy_end(s, outer);
    Py_BEGIN_ALLOW_THREADS
        call_done(s, c);
    Py_END_ALLOW_THREADS
    s->busy = 0;
}

/*
 * A dispatch that has work: steps the runners and ends the started cell
 * if it ended, calling its done last of all (s may be gone after it).
 */
int aa__session_dispatch(aa_session *s)
{
    aa__cell *done = NULL;
    aa_session *outer;
    PyGILState_STATE g;
    int rc;

    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    if ((rc = aa__session_busy_begin(s, &outer)) != AA_OK) {
        aa__interp_leave(g);
        return rc;
    }
    rc = aa__guest_step(s, s->started);
    if (s->started != NULL &&
        aa__exec_collect(s, s->started) == AA__EXEC_DONE) {
        done = s->started;
        s->started = NULL;
        aa__cell_release(done);
        aa__guest_watch(s);
    }
    aa__session_busy_end(s, outer);
    if (aa__session_end_call(s) || done == NULL) {
        aa__interp_leave(g);
        if (done != NULL)
            free(done); /* a freed session's cell called done then */
        return rc;
    }
    aa__interp_leave(g);
    call_done(s, done);
    return rc;
}

int aa_exec_start(aa_session *s, const char *source, size_t len,
                  aa_done_fn done, void *userdata)
{
    PyGILState_STATE g;
    aa__cell *c;
    int rc;

    if (s == NULL || (source == NULL && len > 0))
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    if ((c = calloc(1, sizeof *c)) == NULL ||
        (c->r = calloc(1, sizeof *c->r)) == NULL) {
        free(c);
        return aa__session_fail(s, AA_ENOMEM, "out of memory");
    }
    c->done = done;
    c->userdata = userdata;
    c->refuse_blocking = 1;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        aa_result_free(c->r);
        free(c);
        return aa__session_fail(s, rc, "no Python interpreter");
    }
    rc = aa__session_exec(s, source != NULL ? source : "", len, NULL, c);
    if (rc == AA__EXEC_STARTED) {
        s->started = c;
        /* The threads it started write to s, and ask it, meanwhile. */
        aa__output_started(s);
        aa__input_begin(s);
        aa__interp_leave(g);
        return AA_OK;
    }
    aa__cell_release(c);
    if (rc == AA__EXEC_REFUSED || c->r->status == AA_EBUSY) {
        rc = rc == AA__EXEC_REFUSED
                 ? aa__session_fail(
                       s, AA_ENOTSUP,
                       "runner '%s' cannot start an async cell without "
                       "blocking (it has no guest entries): run it with "
                       "aa_exec",
                       s->runner->entry->name)
                 : AA_EBUSY;
        aa_result_free(c->r);
        free(c);
        aa__interp_leave(g);
        return rc;
    }
    if (aa__session_end_call(s)) {
        aa__interp_leave(g);
        free(c);
        return AA_OK;
    }
    aa__interp_leave(g);
    call_done(s, c);
    return AA_OK;
}

/* __file__ of the namespace, as Python sets it for the script it runs. */
static int set_file(aa_session *s, const char *path)
{
    PyObject *p = PyUnicode_DecodeFSDefault(path);
    int rc = p != NULL ? PyDict_SetItemString(s->ns, "__file__", p) : -1;

    Py_XDECREF(p);
    PyErr_Clear();
    return rc;
}

/* The body of aa_execn and aa_exec_file: runs src as one cell (named by
 * path when given) and hands the result over as they promise. */
static int exec_into(aa_session *s, const char *src, size_t len,
                     const char *path, aa_result **out)
{
    aa__cell c = {0};
    aa_result *r;
    PyGILState_STATE g;
    int rc, gone = 0;

    if ((r = calloc(1, sizeof *r)) == NULL)
        return AA_ENOMEM;
    c.r = r;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        aa__result_fail(r, rc, "no Python interpreter");
    } else {
        if (path != NULL && set_file(s, path) < 0)
            aa__result_fail(r, AA_EPYTHON, "cannot set __file__");
        else
            aa__session_exec(s, src, len, path, &c);
        aa__cell_release(&c);
        /* Freed, or being freed by another thread: s is not ours now. */
        gone = aa__session_end_call(s) || atomic_load(&s->freeing);
        aa__interp_leave(g);
    }
    rc = r->status;
    if (rc < 0 && r->message != NULL && !gone)
        aa__session_fail(s, rc, "%s", r->message);
    if (out != NULL)
        *out = r;
    else
        aa_result_free(r);
    return rc;
}

int aa_execn(aa_session *s, const char *source, size_t len, aa_result **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || (source == NULL && len > 0))
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    return exec_into(s, source != NULL ? source : "", len, NULL, out);
}

/* Reads a whole file into a malloc'd buffer; NULL with errno set.  Its
 * descriptor, short-lived as it is, is never 0, 1 or 2 either. */
static char *read_file(const char *path, size_t *len)
{
    int fd = aa__fd_above_stdio(open(path, O_RDONLY | O_CLOEXEC));
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    char *buf = NULL, *more;
    size_t cap = 0, n;

    *len = 0;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    do {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            if ((more = realloc(buf, cap)) == NULL)
                break;
            buf = more;
        }
        n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
    } while (n > 0);
    if (ferror(f) || *len == cap) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf != NULL ? buf : NULL;
}

int aa_exec_file(aa_session *s, const char *path, aa_result **out)
{
    size_t len;
    char *src;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (s == NULL || path == NULL)
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    if ((src = read_file(path, &len)) == NULL)
        return aa__session_fail(s, AA_ENOTFOUND, "cannot read %s: %s", path,
                                strerror(errno ? errno : EIO));
    rc = exec_into(s, src, len, path, out);
    free(src);
    return rc;
}

int aa_set_argv(int argc, const char *const *argv)
{
    PyGILState_STATE g;
    PyObject *list;
    int rc, i;

    if (argc < 0 || (argc > 0 && argv == NULL))
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    list = PyList_New(0);
    for (i = 0; list != NULL && i < argc; i++) {
        PyObject *arg = PyUnicode_DecodeFSDefault(argv[i] ? argv[i] : "");
        if (arg == NULL || PyList_Append(list, arg) < 0)
            Py_CLEAR(list);
        Py_XDECREF(arg);
    }
    /* Python's own sys.argv is never empty. */
    if (list != NULL && argc == 0) {
        PyObject *empty = PyUnicode_FromString("");
        if (empty == NULL || PyList_Append(list, empty) < 0)
            Py_CLEAR(list);
        Py_XDECREF(empty);
    }
    rc =
        list != NULL && PySys_SetObject("argv", list) == 0 ? AA_OK : AA_EPYTHON;
    Py_XDECREF(list);
    PyErr_Clear();
    aa__interp_leave(g);
    return rc;
}

int aa_exec(aa_session *s, const char *source, aa_result **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || source == NULL)
        return AA_EINVAL;
    return aa_execn(s, source, strlen(source), out);
}

/*
 * The answer for what poll(2) said of fd (revents; 0 when nothing): 1
 * readable, 0 not, or AA_EINVAL when fd is not an open descriptor.  A pipe
 * whose writer is gone says only POLLHUP, a socket in error POLLERR:
 * reading it now gives the end of the input or the error, which is what
 * the caller waits for, so both count as readable, as select(2) has it.
 * A bad fd is a failure, not "the time ran out": that answer, at once and
 * every time, would make a host's loop spin.
 */
static int fd_answer(aa_session *s, int fd, short revents)
{
    if (revents & POLLNVAL)
        return aa__session_fail(
            s, AA_EINVAL,
            "cannot wait for fd %d: not an open file descriptor (POLLNVAL)",
            fd);
    return (revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/* fd_answer for fd as it is now, without waiting. */
static int fd_now(aa_session *s, int fd)
{
    struct pollfd p = {fd, POLLIN, 0};

    return fd_answer(s, fd, poll(&p, 1, 0) == 1 ? p.revents : 0);
}

/*
 * Waits for fd and the timeout with nothing to run, the GIL released:
 * fd_answer's answers, 0 when the time ran out or a signal came (as
 * poll(2)'s EINTR: the host may look at what its handler noted).
 */
static int wait_idle(aa_session *s, int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n, err = 0;

    Py_BEGIN_ALLOW_THREADS
        n = poll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, timeout_ms);
        if (n < 0)
            err = errno;
    Py_END_ALLOW_THREADS
    if (n < 0 && err != EINTR)
        return aa__session_fail(s, AA_ENOMEM, "cannot wait for fd %d: %s", fd,
                                strerror(err));
    return fd_answer(s, fd, n > 0 ? p.revents : 0);
}

/*
 * Refuses, for every runner, a wait for an fd that is not open and one
 * that nothing could end: no fd and no timeout would be poll(2) waiting
 * forever, and aa_interrupt does not stop a poll.  0, or AA_EINVAL.
 */
static int wait_refused(aa_session *s, int fd, int timeout_ms)
{
    if (fd >= 0)
        return fd_now(s, fd) < 0 ? AA_EINVAL : 0;
    if (timeout_ms < 0)
        return aa__session_fail(
            s, AA_EINVAL, "no fd and no timeout: nothing could end the wait");
    return 0;
}

/* One poll of a runner without the guest entries, inside the session's
 * bracket. */
static int poll_runner(aa_session *s, int fd, int timeout_ms)
{
    aa__opened *o = s->runner;
    int rc;

    if (aa__runner_enter(o) < 0) {
        rc = -1;
    } else {
        rc = aa__runner_poll(o, fd, timeout_ms);
        aa__runner_leave(o);
    }
    return rc >= 0 ? rc : aa__loop_failed(s, NULL);
}

/* The wait of a session whose runner polls by itself (no guest entries):
 * the runner's poll, or a plain wait when it has nothing to run. */
static int poll_old_runner(aa_session *s, int fd, int timeout_ms)
{
    aa_session *outer;
    int rc;

    if ((rc = aa__session_busy_begin(s, &outer)) != AA_OK)
        return rc;
    rc = s->pid == getpid() ? poll_runner(s, fd, timeout_ms) : AA_POLL_IDLE;
    aa__session_busy_end(s, outer);
    if (aa__session_end_call(s)) /* its write callback freed it */
        return rc == AA_POLL_IDLE ? 0 : rc;
    if (rc == AA_POLL_IDLE)
        rc = wait_idle(s, fd, timeout_ms);
    else if (rc == AA_POLL_READY && fd >= 0)
        rc = fd_now(s, fd) < 0 ? AA_EINVAL : 1; /* closed while it waited */
    return rc;
}

/* A dispatch of s inside aa_session_poll, which holds s: a free meanwhile
 * waits for the poll's end. */
static int dispatch_held(aa_session *s)
{
    return aa__guest_has_work(s) ? aa__session_dispatch(s) : AA_OK;
}

/*
 * Dispatches s and waits for its fd, its due time, fd and the timeout, in
 * turns, until fd is readable or the time has passed.  Called without the
 * GIL.
 */
static int poll_guest(aa_session *s, int fd, int timeout_ms)
{
    double deadline = aa__now_ms() + timeout_ms;
    short revents;
    int rc, left = timeout_ms;

    /* fd first: what is there for the host as it calls is the host's,
     * before a cell's own reader of it runs. */
    if (fd >= 0 && (rc = fd_now(s, fd)) != 0)
        return rc;
    for (;;) {
        if ((rc = dispatch_held(s)) < 0)
            return rc;
        if (fd >= 0 && (rc = fd_now(s, fd)) != 0)
            return rc;
        if (timeout_ms >= 0 && (left = (int)ceil(deadline - aa__now_ms())) <= 0)
            return 0;
        if (aa__guest_wait(s, fd, left, &revents, 0) < 0)
            return errno == EINTR
                       ? 0
                       : aa__session_fail(s, AA_ENOMEM,
                                          "cannot wait for fd %d: %s", fd,
                                          strerror(errno));
    }
}

int aa_session_poll(aa_session *s, int fd, int timeout_ms)
{
    PyGILState_STATE g;
    int rc, guest;

    if (s == NULL)
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    if (atomic_load(&s->freeing)) {
        aa__interp_leave(g);
        return AA_EBUSY;
    }
    if (s->busy) {
        aa__interp_leave(g);
        return aa__session_fail(s, AA_EBUSY, "a cell of the session runs");
    }
    if ((rc = wait_refused(s, fd, timeout_ms)) < 0) {
        aa__interp_leave(g);
        return rc;
    }
    guest = !aa__runner_can_poll(s->runner);
    if (!guest) {
        rc = poll_old_runner(s, fd, timeout_ms);
        aa__interp_leave(g);
        return rc;
    }
    /* Held, s is not freed under the waits: a free meanwhile (from a
     * write callback, from another thread) happens as the poll ends. */
    s->held++;
    aa__interp_leave(g);
    rc = poll_guest(s, fd, timeout_ms);
    aa__interp_enter(&g);
    s->held--;
    if (aa__session_end_call(s))
        rc = rc < 0 ? rc : 0;
    aa__interp_leave(g);
    return rc;
}
