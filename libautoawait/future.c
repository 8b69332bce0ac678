/*
 * future.c -- futures: what an async host function finishes later, and
 * the awaitable a cell gets for it.
 *
 * The host holds a handle, not memory: aa_future * is a slot number and a
 * generation, so a handle that is used up (resolved, rejected, its session
 * freed) is seen for what it is, and a careless host gets AA_ENOTFOUND
 * where it would have written to freed memory.  The memory (an aa__fut)
 * is shared by two holders, each dropping its share once: the host's, the
 * handle, until it resolves or rejects; and the cell's, the call and then
 * the HostFuture object, until the value is taken or the object goes.  One
 * mutex guards the table and every future, so that resolving needs no GIL
 * and may come from any thread: it stores a copy of the value and writes
 * the future's eventfd, which the awaiting loop watches.
 *
 * Awaiting is a small Python coroutine (wait_source) that looks at what
 * drives it (trio, curio or asyncio, as sniffio would) and waits for the
 * eventfd in that library's own way; under any other driver it yields the
 * HostFuture itself, whose fileno() and done() such a driver uses.  A
 * future resolved inside the host function never waits at all: await
 * returns its value at once (am_send).
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { F_PENDING, F_SETTLED, F_CANCELLED, F_TAKEN };

struct aa__fut {
    size_t slot;         /* in the table while the host holds it */
    uintptr_t handle;    /* what the host holds */
    int host_ref;        /* the handle is live */
    int cell_ref;        /* the call or the HostFuture holds it */
    int state;           /* F_* */
    int rejected;        /* settled with an exception */
    char code;           /* resolved: the value's code */
    aa__cval val;        /* its value; text malloc'ed; reject: the message */
    char *exception;     /* reject: the exception's name */
    aa_session *s;       /* whose cell made it, or NULL */
    aa__def *def;        /* names it in messages */
    int efd;             /* eventfd while a cell waits, or -1 */
    int wake_session;    /* a plain driver waits: wake s's fd too */
    aa_cancel_fn cancel; /* aa_future_on_cancel */
    void *cancel_data;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The table of handles: slot i holds table[i].f while the host holds it;
 * its generation grows with each use, so an old handle never matches. */
static struct entry {
    aa__fut *f;
    uintptr_t gen;
} * table;
static size_t table_len, table_cap;
static size_t *free_slots;
static size_t free_count;

#define SLOT_BITS (sizeof(uintptr_t) >= 8 ? 24 : 16)
#define SLOT_MAX (((size_t)1 << SLOT_BITS) - 1)

static aa__fut *lookup(aa_future *h)
{
    uintptr_t v = (uintptr_t)h;
    size_t slot = (size_t)(v & SLOT_MAX);

    if (slot == 0 || slot > table_len)
        return NULL;
    slot--;
    if (table[slot].f == NULL || table[slot].gen != v >> SLOT_BITS)
        return NULL;
    return table[slot].f;
}

/* Gives f a slot and a handle; -1 when the table cannot grow. */
static int slot_take(aa__fut *f)
{
    size_t slot;

    if (free_count > 0) {
        slot = free_slots[--free_count];
    } else {
        if (table_len == SLOT_MAX)
            return -1;
        if (table_len == table_cap) {
            size_t cap = table_cap != 0 ? 2 * table_cap : 64;
            struct entry *t = realloc(table, cap * sizeof *t);
            size_t *fs =
                t != NULL ? realloc(free_slots, cap * sizeof *fs) : NULL;

            if (t != NULL)
                table = t;
            if (fs == NULL)
                return -1;
            free_slots = fs;
            table_cap = cap;
        }
        slot = table_len++;
        table[slot].gen = 0;
    }
    table[slot].gen = (table[slot].gen + 1) & ((uintptr_t)-1 >> SLOT_BITS);
    if (table[slot].gen == 0)
        table[slot].gen = 1;
    table[slot].f = f;
    f->slot = slot;
    f->handle = (table[slot].gen << SLOT_BITS) | (uintptr_t)(slot + 1);
    f->host_ref = 1;
    return 0;
}

static void slot_give(aa__fut *f)
{
    table[f->slot].f = NULL;
    free_slots[free_count++] = f->slot;
    f->host_ref = 0;
}

static void close_efd(aa__fut *f)
{
    if (f->efd >= 0) {
        close(f->efd);
        f->efd = -1;
    }
}

/* Makes f's eventfd (and every copy of it a waiter holds) readable. */
static void signal_efd(const aa__fut *f)
{
    static const uint64_t one = 1;

    if (f->efd >= 0 && write(f->efd, &one, sizeof one) < 0) {
        /* a full eventfd is readable anyway */
    }
}

/* Wakes whoever still waits on a copy of f's eventfd (another task
 * awaiting the same future), then closes f's own. */
static void wake_and_close(aa__fut *f)
{
    signal_efd(f);
    close_efd(f);
}

static void drop_value(aa__fut *f)
{
    free((void *)f->val.text);
    free(f->exception);
    f->val.text = NULL;
    f->exception = NULL;
}

/* Frees f once neither holder has it.  The lock is held. */
static void release(aa__fut *f)
{
    if (f->host_ref || f->cell_ref)
        return;
    close_efd(f);
    drop_value(f);
    aa__def_unref(f->def);
    free(f);
}

aa__fut *aa__future_new(aa_session *s, aa__def *d, aa_future **handle)
{
    aa__fut *f = calloc(1, sizeof *f);

    if (f == NULL)
        return NULL;
    f->efd = -1;
    f->s = s;
    f->cell_ref = 1;
    aa__def_ref(d);
    f->def = d;
    pthread_mutex_lock(&lock);
    if (slot_take(f) < 0) {
        pthread_mutex_unlock(&lock);
        aa__def_unref(d);
        free(f);
        return NULL;
    }
    *handle = (aa_future *)f->handle;
    pthread_mutex_unlock(&lock);
    return f;
}

/* The cell stops waiting for f: the host's cancel callback, if f was
 * pending.  The GIL is held; the lock is not. */
static void cancel(aa__fut *f)
{
    aa_cancel_fn fn = NULL;
    void *data = NULL;
    uintptr_t h = 0;

    pthread_mutex_lock(&lock);
    if (f->state == F_PENDING) {
        f->state = F_CANCELLED;
        if (f->host_ref) {
            fn = f->cancel;
            data = f->cancel_data;
            h = f->handle;
        }
    }
    wake_and_close(f);
    pthread_mutex_unlock(&lock);
    if (fn != NULL)
        fn(data, (aa_future *)h);
}

/* Drops the cell's share of f. */
static void cell_drop(aa__fut *f)
{
    pthread_mutex_lock(&lock);
    f->cell_ref = 0;
    release(f);
    pthread_mutex_unlock(&lock);
}

void aa__future_drop(aa__fut *f)
{
    cancel(f);
    cell_drop(f);
}

/* Forgets f, which the host never saw (its call failed before). */
void aa__future_discard(aa__fut *f)
{
    pthread_mutex_lock(&lock);
    if (f->host_ref)
        slot_give(f);
    f->cell_ref = 0;
    release(f);
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------- resolving */

/* Stores f's outcome, v (owned), and wakes whoever waits for it.  The
 * lock is held. */
static void store(aa__fut *f, int rejected, char code, aa__cval *v, char *exc)
{
    f->state = F_SETTLED;
    f->rejected = rejected;
    f->code = code;
    f->val = *v;
    f->exception = exc;
    signal_efd(f);
    if (f->wake_session && f->s != NULL)
        aa__guest_wake(f->s);
}

/* The host finishes f with v (owned): the handle is used up, and the
 * outcome stored unless the cell stopped waiting.  The lock is held. */
static int settle(aa__fut *f, int rejected, char code, aa__cval *v, char *exc)
{
    slot_give(f);
    if (f->state == F_CANCELLED) {
        free((void *)v->text);
        free(exc);
        release(f);
        return AA_ECANCELLED;
    }
    store(f, rejected, code, v, exc);
    return AA_OK;
}

static char *copy(const char *p, size_t n)
{
    char *c = malloc(n + 1);

    if (c != NULL) {
        memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

/* Reads the value of type from ap into v, copied; AA_EINVAL for a type
 * that is not one return code, AA_ENOMEM. */
static int read_value(const char *type, va_list ap, aa__cval *v)
{
    const char *p;
    size_t n;

    memset(v, 0, sizeof *v);
    if (type == NULL || type[0] == '\0' || type[1] != '\0' ||
        !aa__sig_is_value(type[0]))
        return AA_EINVAL;
    switch (type[0]) {
    case 'v':
        return AA_OK;
    case 'b':
    case 'i':
        v->v.i = va_arg(ap, int);
        return AA_OK;
    case 'I':
        v->v.u = va_arg(ap, unsigned);
        return AA_OK;
    case 'l':
        v->v.i = va_arg(ap, int64_t);
        return AA_OK;
    case 'L':
        v->v.u = va_arg(ap, uint64_t);
        return AA_OK;
    case 'z':
        v->v.u = va_arg(ap, size_t);
        return AA_OK;
    case 'd':
        v->v.d = va_arg(ap, double);
        return AA_OK;
    case 'f':
        v->v.d = (float)va_arg(ap, double);
        return AA_OK;
    case 'p':
        v->v.p = va_arg(ap, void *);
        return AA_OK;
    case 'y':
    case 'Y':
        p = va_arg(ap, const void *);
        n = va_arg(ap, size_t);
        break;
    default: /* s S j J */
        p = va_arg(ap, const char *);
        n = p != NULL ? strlen(p) : 0;
        break;
    }
    v->text = p != NULL ? copy(p, n) : NULL;
    v->len = n;
    if (type[0] == 'S' || type[0] == 'Y' || type[0] == 'J')
        free((void *)p);
    return p != NULL && v->text == NULL ? AA_ENOMEM : AA_OK;
}

static int gone(const char *what)
{
    snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE,
             "%s: no such future (resolved or rejected already, or its "
             "session was freed)",
             what);
    return AA_ENOTFOUND;
}

int aa_future_resolve(aa_future *h, const char *type, ...)
{
    aa__cval v;
    va_list ap;
    aa__fut *f;
    char *exc = NULL, msg[96];
    int rc, bad, settled;

    va_start(ap, type);
    rc = read_value(type, ap, &v);
    va_end(ap);
    bad = rc != AA_OK;
    if (rc == AA_EINVAL)
        snprintf(msg, sizeof msg,
                 "the host resolved the future with the type \"%.8s\", which "
                 "is no return code",
                 type != NULL ? type : "(null)");
    else if (rc == AA_ENOMEM)
        snprintf(msg, sizeof msg, "out of memory for the value of the future");
    if (bad) {
        /* The future is used up all the same: the cell gets the error. */
        v.text = copy(msg, strlen(msg));
        v.len = v.text != NULL ? strlen(msg) : 0;
        exc = copy(rc == AA_EINVAL ? "ValueError" : "MemoryError",
                   rc == AA_EINVAL ? 10 : 11);
    }
    pthread_mutex_lock(&lock);
    if ((f = lookup(h)) == NULL) {
        pthread_mutex_unlock(&lock);
        free((void *)v.text);
        free(exc);
        return gone("aa_future_resolve");
    }
    settled = settle(f, bad, bad ? 'v' : type[0], &v, exc);
    pthread_mutex_unlock(&lock);
    if (settled != AA_OK)
        return settled; /* the cell stopped waiting: nothing else matters */
    if (bad)
        snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE, "aa_future_resolve: %s",
                 msg);
    return rc;
}

int aa_future_reject(aa_future *h, const char *exception, const char *message)
{
    aa__cval v;
    aa__fut *f;
    char *exc = exception != NULL ? copy(exception, strlen(exception)) : NULL;
    int rc;

    memset(&v, 0, sizeof v);
    if (message != NULL) {
        v.len = strlen(message);
        v.text = copy(message, v.len);
    }
    pthread_mutex_lock(&lock);
    if ((f = lookup(h)) == NULL) {
        pthread_mutex_unlock(&lock);
        free((void *)v.text);
        free(exc);
        return gone("aa_future_reject");
    }
    rc = settle(f, 1, 'v', &v, exc);
    pthread_mutex_unlock(&lock);
    return rc;
}

int aa_future_on_cancel(aa_future *h, aa_cancel_fn fn, void *userdata)
{
    aa__fut *f;
    int rc = AA_OK;

    pthread_mutex_lock(&lock);
    if ((f = lookup(h)) == NULL) {
        rc = AA_ENOTFOUND;
    } else if (f->state == F_CANCELLED) {
        rc = AA_ECANCELLED;
    } else {
        f->cancel = fn;
        f->cancel_data = userdata;
    }
    pthread_mutex_unlock(&lock);
    return rc == AA_ENOTFOUND ? gone("aa_future_on_cancel") : rc;
}

int aa_future_state(aa_future *h)
{
    aa__fut *f;
    int rc;

    pthread_mutex_lock(&lock);
    f = lookup(h);
    rc = f == NULL                 ? AA_ENOTFOUND
         : f->state == F_CANCELLED ? AA_ECANCELLED
                                   : AA_OK;
    pthread_mutex_unlock(&lock);
    return rc;
}

/* The session s ends: its futures' cancel callbacks, then their handles
 * are used up, and a cell still awaiting one (in another session, a
 * thread) gets a RuntimeError.  The GIL is held. */
void aa__futures_session_gone(aa_session *s)
{
    struct {
        aa_cancel_fn fn;
        void *data;
        uintptr_t h;
    } *calls = NULL;
    size_t n = 0, i;
    static const char why[] = "the session of the host future was freed";

    pthread_mutex_lock(&lock);
    for (i = 0; i < table_len; i++)
        if (table[i].f != NULL && table[i].f->s == s)
            n++;
    calls = n > 0 ? calloc(n, sizeof *calls) : NULL;
    n = 0;
    for (i = 0; i < table_len; i++) {
        aa__fut *f = table[i].f;

        if (f == NULL || f->s != s || f->state != F_PENDING)
            continue;
        f->state = F_CANCELLED;
        if (calls != NULL && f->cancel != NULL) {
            calls[n].fn = f->cancel;
            calls[n].data = f->cancel_data;
            calls[n++].h = f->handle;
        }
    }
    pthread_mutex_unlock(&lock);
    for (i = 0; i < n; i++)
        calls[i].fn(calls[i].data, (aa_future *)calls[i].h);
    free(calls);
    pthread_mutex_lock(&lock);
    for (i = 0; i < table_len; i++) {
        aa__fut *f = table[i].f;
        aa__cval v;

        if (f == NULL || f->s != s)
            continue;
        f->wake_session = 0;
        f->s = NULL;
        slot_give(f);
        if (f->cell_ref) {
            /* Still awaited somewhere: it ends with an error. */
            memset(&v, 0, sizeof v);
            v.len = sizeof why - 1;
            v.text = copy(why, v.len);
            store(f, 1, 'v', &v, NULL);
        } else {
            release(f);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* --------------------------------------------------------- the awaitable */

typedef struct {
    PyObject_HEAD aa__fut *f; /* until its outcome is taken */
    aa__def *def;
    PyObject *result; /* the outcome, once taken: a value */
    PyObject *exc;    /* or an exception */
} hostfut;

static PyTypeObject hostfut_type;

/* What waits for a pending future: see the comment at the top. */
static const char wait_source[] =
    "import sys\n"

    "def _library():\n"
    "    m = sys.modules.get('trio')\n"
    "    if m is not None:\n"
    "        try:\n"
    "            m.lowlevel.current_task()\n"
    "            return 'trio'\n"
    "        except (RuntimeError, AttributeError):\n"
    "            pass\n"
    "    m = sys.modules.get('curio')\n"
    "    if m is not None:\n"
    "        try:\n"
    "            if m.meta.curio_running():\n"
    "                return 'curio'\n"
    "        except AttributeError:\n"
    "            pass\n"
    "    m = sys.modules.get('asyncio')\n"
    "    if m is not None and m.events._get_running_loop() is not None:\n"
    "        return 'asyncio'\n"
    "    return None\n"
    "def _wake(waiter):\n"
    "    if not waiter.done():\n"
    "        waiter.set_result(None)\n"
    "class _Plain:\n"
    "    __slots__ = ('f',)\n"
    "    def __init__(self, f):\n"
    "        self.f = f\n"
    "    def __await__(self):\n"
    "        self.f._plain()\n"
    "        while not self.f.done():\n"
    "            yield self.f\n"
    "async def _wait_in(library, fd):\n"
    "    if library == 'asyncio':\n"
    "        loop = sys.modules['asyncio'].events._get_running_loop()\n"
    "        waiter = loop.create_future()\n"
    "        loop.add_reader(fd, _wake, waiter)\n"
    "        try:\n"
    "            await waiter\n"
    "        finally:\n"
    "            loop.remove_reader(fd)\n"
    "    elif library == 'trio':\n"
    "        lowlevel = sys.modules['trio'].lowlevel\n"
    "        try:\n"
    "            await lowlevel.wait_readable(fd)\n"
    "        finally:\n"
    "            lowlevel.notify_closing(fd)\n"
    "    else:\n"
    "        traps = sys.modules['curio'].traps\n"
    "        try:\n"
    "            await traps._read_wait(fd)\n"
    "        finally:\n"
    "            await traps._io_release(fd)\n"
    "async def wait(f):\n"
    "    try:\n"
    "        while not f.done():\n"
    "            library = _library()\n"
    "            if library is None:\n"
    "                await _Plain(f)\n"
    "                continue\n"
    "            fd = f._waitfd()\n"
    "            try:\n"
    "                await _wait_in(library, fd)\n"
    "            finally:\n"
    "                f._closefd(fd)\n"
    "    except BaseException:\n"
    "        f._cancel()\n"
    "        raise\n"
    "    return f._take()\n";

static PyObject *wait_fn;

static int wait_ready(void)
{
    PyObject *code, *ns, *builtins, *r;

    if (wait_fn != NULL)
        return 0;
    code =
        Py_CompileString(wait_source, "<autoawait host future>", Py_file_input);
    ns = code != NULL ? PyDict_New() : NULL;
    builtins = ns != NULL ? aa__import("builtins") : NULL;
    if (builtins == NULL ||
        PyDict_SetItemString(ns, "__builtins__", builtins) < 0 ||
        PyDict_SetItemString(ns, "__name__",
                             PyUnicode_FromString("autoawait.host")) < 0) {
        r = NULL;
    } else {
        aa__own_begin();
        r = PyEval_EvalCode(code, ns, ns);
        aa__own_end();
    }
    Py_XDECREF(r);
    if (r != NULL && (wait_fn = PyDict_GetItemString(ns, "wait")) != NULL)
        Py_INCREF(wait_fn);
    Py_XDECREF(builtins);
    Py_XDECREF(code);
    Py_XDECREF(ns);
    return wait_fn != NULL ? 0 : -1;
}

/* Takes f's outcome into o once it is settled (or cancelled); 1 when o
 * has an outcome, 0 when f is still pending. */
static int take(hostfut *o)
{
    aa__fut *f = o->f;
    aa__cval v;
    char *exc;
    int state, rejected;
    char code;

    if (o->result != NULL || o->exc != NULL)
        return 1;
    if (f == NULL)
        return 0;
    pthread_mutex_lock(&lock);
    state = f->state;
    rejected = f->rejected;
    code = f->code;
    v = f->val;
    exc = f->exception;
    if (state == F_SETTLED) {
        f->state = F_TAKEN;
        f->val.text = NULL;
        f->exception = NULL;
        wake_and_close(f);
    }
    pthread_mutex_unlock(&lock);
    if (state == F_PENDING)
        return 0;
    if (state == F_SETTLED && rejected) {
        o->exc = aa__exception_named(exc, v.text, v.len);
    } else if (state == F_SETTLED) {
        o->result =
            aa__value_to_py(o->def, code, &v, "resolved its future with");
    } else {
        PyErr_Format(PyExc_RuntimeError,
                     "%s(): awaiting it was cancelled before the host "
                     "finished it",
                     o->def->name);
    }
    free((void *)v.text);
    free(exc);
    if (o->result == NULL && o->exc == NULL) {
        PyObject *t, *tb;

        PyErr_Fetch(&t, &o->exc, &tb);
        PyErr_NormalizeException(&t, &o->exc, &tb);
        if (o->exc != NULL && tb != NULL)
            PyException_SetTraceback(o->exc, tb);
        Py_XDECREF(t);
        Py_XDECREF(tb);
    }
    o->f = NULL;
    cell_drop(f);
    return 1;
}

PyObject *aa__future_object(aa__fut *f)
{
    hostfut *o = PyObject_New(hostfut, &hostfut_type);

    if (o == NULL) {
        aa__future_drop(f);
        return NULL;
    }
    o->f = f;
    aa__def_ref(f->def);
    o->def = f->def;
    o->result = o->exc = NULL;
    /* Resolved inside the host function: the outcome now. */
    if (f->state != F_PENDING)
        take(o);
    return (PyObject *)o;
}

static void hostfut_dealloc(PyObject *self)
{
    hostfut *o = (hostfut *)self;

    if (o->f != NULL)
        aa__future_drop(o->f);
    aa__def_unref(o->def);
    Py_XDECREF(o->result);
    Py_XDECREF(o->exc);
    PyObject_Free(self);
}

/* Gives the outcome: PYGEN_RETURN with the value, or PYGEN_ERROR with the
 * exception set.  o has one. */
static PySendResult outcome(hostfut *o, PyObject **result)
{
    if (o->exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(o->exc), o->exc);
        *result = NULL;
        return PYGEN_ERROR;
    }
    *result = Py_NewRef(o->result);
    return PYGEN_RETURN;
}

static PySendResult hostfut_send(PyObject *self, PyObject *arg,
                                 PyObject **result)
{
    hostfut *o = (hostfut *)self;

    (void)arg;
    if (take(o))
        return outcome(o, result);
    /* Only a plain driver gets here (am_await gave wait() otherwise). */
    *result = Py_NewRef(self);
    return PYGEN_NEXT;
}

static PyObject *hostfut_next(PyObject *self)
{
    PyObject *r;
    PySendResult s = hostfut_send(self, Py_None, &r);

    if (s == PYGEN_RETURN) {
        if (r != Py_None) {
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, r);

            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(r);
        return NULL;
    }
    return r;
}

static PyObject *hostfut_await(PyObject *self)
{
    hostfut *o = (hostfut *)self;
    PyObject *coro, *it;

    if (take(o))
        return Py_NewRef(self);
    if (wait_ready() < 0 || (coro = PyObject_CallOneArg(wait_fn, self)) == NULL)
        return NULL;
    it = PyObject_CallMethod(coro, "__await__", NULL);
    Py_DECREF(coro);
    return it;
}

static PyObject *hostfut_done(PyObject *self, PyObject *unused)
{
    hostfut *o = (hostfut *)self;
    int done;

    (void)unused;
    if (o->f == NULL)
        Py_RETURN_TRUE;
    pthread_mutex_lock(&lock);
    done = o->f->state != F_PENDING;
    pthread_mutex_unlock(&lock);
    return PyBool_FromLong(done);
}

static PyObject *hostfut_fileno(PyObject *self, PyObject *unused)
{
    hostfut *o = (hostfut *)self;
    int fd;

    (void)unused;
    if (o->f == NULL) {
        PyErr_Format(PyExc_ValueError, "%s(): the future is done",
                     o->def->name);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    if (o->f->efd < 0) {
        o->f->efd = aa__fd_above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (o->f->state != F_PENDING)
            signal_efd(o->f);
    }
    fd = o->f->efd;
    pthread_mutex_unlock(&lock);
    if (fd < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(fd);
}

/* A copy of the eventfd for one waiter, which closes it: each task
 * awaiting the future watches its own fd, as asyncio, trio and curio
 * want one watcher per fd. */
static PyObject *hostfut_waitfd(PyObject *self, PyObject *unused)
{
    PyObject *fd = hostfut_fileno(self, unused);
    int copy;

    if (fd == NULL)
        return NULL;
    copy = fcntl((int)PyLong_AsLong(fd), F_DUPFD_CLOEXEC, 3);
    Py_DECREF(fd);
    if (copy < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(copy);
}

/* Closes what _waitfd gave: in C, so that a cell rebinding os.close
 * changes nothing here. */
static PyObject *hostfut_closefd(PyObject *self, PyObject *fd)
{
    long n = PyLong_AsLong(fd);

    (void)self;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n >= 3 && n <= INT_MAX)
        close((int)n);
    Py_RETURN_NONE;
}

static PyObject *hostfut_take(PyObject *self, PyObject *unused)
{
    PyObject *r;

    (void)unused;
    if (!take((hostfut *)self)) {
        PyErr_SetString(PyExc_RuntimeError, "the host future is pending");
        return NULL;
    }
    return outcome((hostfut *)self, &r) == PYGEN_RETURN ? r : NULL;
}

static PyObject *hostfut_cancel(PyObject *self, PyObject *unused)
{
    hostfut *o = (hostfut *)self;

    (void)unused;
    if (o->f != NULL)
        cancel(o->f);
    Py_RETURN_NONE;
}

static PyObject *hostfut_plain(PyObject *self, PyObject *unused)
{
    hostfut *o = (hostfut *)self;

    (void)unused;
    if (o->f != NULL) {
        pthread_mutex_lock(&lock);
        o->f->wake_session = 1;
        pthread_mutex_unlock(&lock);
    }
    Py_RETURN_NONE;
}

static PyObject *hostfut_repr(PyObject *self)
{
    hostfut *o = (hostfut *)self;
    PyObject *done = hostfut_done(self, NULL);
    PyObject *r =
        PyUnicode_FromFormat("<host future of %s(): %s>", o->def->name,
                             done == Py_True ? "done" : "pending");

    Py_XDECREF(done);
    return r;
}

static PyMethodDef hostfut_methods[] = {
    {"done", hostfut_done, METH_NOARGS,
     "done() -> True once the host resolved or rejected it"},
    {"fileno", hostfut_fileno, METH_NOARGS,
     "fileno() -> an fd that is readable once the future is done"},
    {"_waitfd", hostfut_waitfd, METH_NOARGS, NULL},
    {"_closefd", hostfut_closefd, METH_O, NULL},
    {"_take", hostfut_take, METH_NOARGS, NULL},
    {"_cancel", hostfut_cancel, METH_NOARGS, NULL},
    {"_plain", hostfut_plain, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods hostfut_async = {
    .am_await = hostfut_await,
    .am_send = hostfut_send,
};

static PyTypeObject hostfut_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "autoawait.HostFuture",
    .tp_basicsize = sizeof(hostfut),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What an async host function returns: await it",
    .tp_dealloc = hostfut_dealloc,
    .tp_repr = hostfut_repr,
    .tp_as_async = &hostfut_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = hostfut_next,
    .tp_methods = hostfut_methods,
};

int aa__future_types_add(PyObject *module)
{
    if (PyType_Ready(&hostfut_type) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "HostFuture",
                                 (PyObject *)&hostfut_type);
}
