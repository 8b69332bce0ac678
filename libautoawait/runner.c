/*
 * runner.c -- the process's runners, by name, and every call into one.
 *
 * One list for every runner, whether a host registered it in process or a
 * plugin was loaded: the same checks (aa__runner_check) and the same
 * entries.  Entries live until the process ends; sessions point at them.
 * Finding and opening a plugin's file is loader.c's business; what it
 * hands back is checked and kept here, or given back to it.
 *
 * Every call the library makes into a runner goes through the thin
 * wrappers at the end of this file, as SQLite's os.c wraps its VFS: they
 * own the rules of runner.h about exceptions (what a call may leave set,
 * what is saved around it and cleared after it), optional entries, the
 * runner's own imports and whose call it is (for the library's calls,
 * calls.c), so that no other file calls a vtable.
 */
#include "internal.h"
#include "pyversion.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static aa__runner_entry *registry;

int aa__runner_name_ok(const char *name)
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n > 0 && n < AA__NAME_MAX;
}

/*
 * 1 when the runner says it was built against a CPython whose major.minor
 * is not the library's: its calls into CPython would use the other's
 * structures.  A vtable from before python_version, or one that leaves it
 * 0, does not say.
 */
static int other_python(const aa_runner *r)
{
    if (r->struct_size <
            offsetof(aa_runner, python_version) + sizeof r->python_version ||
        r->python_version == 0)
        return 0;
    return (r->python_version >> 16) != (AA__PY_HEXVERSION >> 16);
}

/*
 * Checks a runner's vtable the way every runner is checked, and copies the
 * fields its struct_size covers into copy (the rest zeroed).  doing says
 * what was being done, for messages: "load runner 'trio' from PATH",
 * "register runner 'x'".
 */
int aa__runner_check(const aa_runner *r, const char *name, const char *doing,
                     aa_runner *copy, char *err, size_t errlen)
{
    if (r == NULL) {
        snprintf(err, errlen, "cannot %s: no vtable", doing);
        return AA_EINVAL;
    }
    if (r->abi_version != AA_RUNNER_ABI_VERSION) {
        snprintf(err, errlen,
                 "cannot %s: runner ABI %u, this library speaks %u%s", doing,
                 r->abi_version, AA_RUNNER_ABI_VERSION,
                 r->abi_version < AA_RUNNER_ABI_VERSION
                     ? " (rebuild it against this library's runner.h)"
                     : "");
        return AA_EABI;
    }
    if (r->struct_size < AA_RUNNER_MIN_SIZE) {
        snprintf(err, errlen,
                 "cannot %s: its vtable is %zu bytes, at least %zu are needed",
                 doing, r->struct_size, (size_t)AA_RUNNER_MIN_SIZE);
        return AA_EABI;
    }
    if (other_python(r)) {
        snprintf(err, errlen,
                 "cannot %s: built against CPython %lu.%lu, this library "
                 "embeds CPython %lu.%lu (rebuild it against the library's "
                 "CPython: pkg-config --variable=python_pc autoawait)",
                 doing, r->python_version >> 24,
                 (r->python_version >> 16) & 0xFF, AA__PY_HEXVERSION >> 24,
                 (AA__PY_HEXVERSION >> 16) & 0xFF);
        return AA_EABI;
    }
    memset(copy, 0, sizeof *copy);
    memcpy(copy, r,
           r->struct_size < sizeof *copy ? r->struct_size : sizeof *copy);
    copy->struct_size = sizeof *copy;
    if (copy->name == NULL || strcmp(copy->name, name) != 0) {
        snprintf(err, errlen, "cannot %s: it calls itself '%s'", doing,
                 copy->name != NULL ? copy->name : "(null)");
        return AA_EINVAL;
    }
    if ((copy->start != NULL) != (copy->step != NULL) ||
        (copy->start != NULL) != (copy->collect != NULL)) {
        snprintf(err, errlen,
                 "cannot %s: its vtable has some of the guest entries start, "
                 "step and collect but not all three",
                 doing);
        return AA_EINVAL;
    }
    if (copy->run == NULL && copy->start == NULL) {
        snprintf(err, errlen,
                 "cannot %s: its vtable has neither run nor the guest "
                 "entries",
                 doing);
        return AA_EINVAL;
    }
    return AA_OK;
}

static aa__runner_entry *lookup(const char *name)
{
    aa__runner_entry *e;

    for (e = registry; e != NULL; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/*
 * Makes an entry for a runner, after the checks every runner goes through.
 * The entry is the caller's: the registry's list, or a session's own (a
 * callable of its namespace).  NULL with *rc and err set on failure.
 */
aa__runner_entry *aa__runner_entry_new(const char *name, const aa_runner *vt,
                                       void *userdata, const char *doing,
                                       int *rc, char *err, size_t errlen)
{
    aa__runner_entry *e;
    aa_runner copy;

    *rc = aa__runner_check(vt, name, doing, &copy, err, errlen);
    if (*rc != AA_OK)
        return NULL;
    if ((e = calloc(1, sizeof *e)) == NULL) {
        snprintf(err, errlen, "out of memory registering runner '%s'", name);
        *rc = AA_ENOMEM;
        return NULL;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    e->vt = copy;
    e->vt.name = e->name;
    e->userdata = userdata;
    return e;
}

/* Adds a runner to the process's list.  The caller holds registry_lock. */
static int add_locked(const char *name, const aa_runner *vt, void *userdata,
                      void *dl, const char *path, char *err, size_t errlen)
{
    aa__runner_entry *e;
    char doing[AA__ERRMSG_SIZE / 2];
    int rc;

    if (lookup(name) != NULL) {
        snprintf(err, errlen, "a runner called '%s' is already registered",
                 name);
        return AA_EINVAL;
    }
    if (path != NULL)
        snprintf(doing, sizeof doing, "load runner '%s' from %s", name, path);
    else
        snprintf(doing, sizeof doing, "register runner '%s'", name);
    e = aa__runner_entry_new(name, vt, userdata, doing, &rc, err, errlen);
    if (e == NULL)
        return rc;
    if (path != NULL && (e->path = strdup(path)) == NULL) {
        free(e);
        snprintf(err, errlen, "out of memory registering runner '%s'", name);
        return AA_ENOMEM;
    }
    e->dl = dl;
    e->next = registry;
    registry = e;
    return AA_OK;
}

/* Adds a runner of the host's (or a Python callable, through the module)
 * to the process's list. */
int aa__registry_add(const char *name, const aa_runner *vt, void *userdata,
                     char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&registry_lock);
    rc = add_locked(name, vt, userdata, NULL, NULL, err, errlen);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

/*
 * Finds the runner called name, loading its plugin on first use.  The lock
 * is held across the load so that two threads never load one plugin twice;
 * the loader calls the plugin's entry with the GIL held and the entry must
 * not release it (runner.h says so).  A plugin the checks refuse goes back
 * to the loader.
 */
int aa__registry_find(const char *name, const aa__runner_entry **out, char *err,
                      size_t errlen)
{
    aa__loaded l;
    int rc = AA_OK;

    if (!aa__runner_name_ok(name)) {
        snprintf(err, errlen,
                 "'%s' is not a runner name: names are [a-z0-9_]+, at most "
                 "%d characters",
                 name != NULL ? name : "(null)", AA__NAME_MAX - 1);
        return AA_EINVAL;
    }
    pthread_mutex_lock(&registry_lock);
    *out = lookup(name);
    if (*out == NULL &&
        (rc = aa__loader_load(name, &l, err, errlen)) == AA_OK) {
        rc = add_locked(name, l.vt, NULL, l.dl, l.path, err, errlen);
        if (rc != AA_OK)
            aa__loader_unload(&l);
        *out = lookup(name);
    }
    pthread_mutex_unlock(&registry_lock);
    return *out != NULL ? AA_OK : rc;
}

int aa_runner_register(const aa_runner *runner, void *userdata)
{
    const char *name = runner != NULL ? runner->name : NULL;
    int rc;

    aa__thread_errmsg[0] = '\0';
    if (runner == NULL || !aa__runner_name_ok(name)) {
        snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE,
                 "cannot register runner '%s': %s",
                 name != NULL ? name : "(null)",
                 runner == NULL ? "no vtable"
                                : "names are [a-z0-9_]+, at most 63 "
                                  "characters");
        return AA_EINVAL;
    }
    rc = aa__registry_add(name, runner, userdata, aa__thread_errmsg,
                          AA__ERRMSG_SIZE);
    return rc;
}

/* ------------------------------------------------------ calls into one */

/* Saves the exception set around a call that must not disturb it. */
typedef struct saved_exc {
    PyObject *type, *value, *tb;
} saved_exc;

static void save_exc(saved_exc *e)
{
    PyErr_Fetch(&e->type, &e->value, &e->tb);
}

/* Drops what the call left set and puts the saved exception back. */
static void restore_exc(saved_exc *e)
{
    if (PyErr_Occurred())
        PyErr_Clear();
    PyErr_Restore(e->type, e->value, e->tb);
}

/*
 * Why open failed, into o's session's message: what the runner said with
 * set_error, else the exception it left set ("Class: text"), else its
 * status.  Clears the exception.
 */
static void open_failed(const aa__opened *o, int rc)
{
    const char *said = aa__calls_error(), *name;
    PyObject *type, *value, *tb, *text = NULL;
    const char *utf8 = NULL;

    if (said != NULL || !PyErr_Occurred()) {
        PyErr_Clear();
        if (said != NULL)
            aa__session_fail(o->session, AA_ERUNNER,
                             "runner '%s' could not open: %s", o->entry->name,
                             said);
        else
            aa__session_fail(o->session, AA_ERUNNER,
                             "runner '%s' could not open a session (its open "
                             "returned %d)",
                             o->entry->name, rc);
        return;
    }
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    /* tp_name is "module.Name" for C types: keep the class name. */
    name = strrchr(((PyTypeObject *)type)->tp_name, '.');
    name = name != NULL ? name + 1 : ((PyTypeObject *)type)->tp_name;
    if (value != NULL && (text = PyObject_Str(value)) != NULL)
        utf8 = PyUnicode_AsUTF8(text);
    PyErr_Clear();
    aa__session_fail(o->session, AA_ERUNNER,
                     "runner '%s' could not open: %s%s%s", o->entry->name, name,
                     utf8 != NULL && *utf8 ? ": " : "",
                     utf8 != NULL ? utf8 : "");
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/*
 * Every call below is one of o's session (aa__calls_begin): what the runner
 * writes meanwhile through the library's table goes to that session.
 */
int aa__runner_open(aa__opened *o)
{
    aa_session *outer = aa__calls_begin(o->session);
    const aa__runner_entry *e = o->entry;
    int rc = 0;

    o->state = NULL;
    aa__calls_clear_error();
    /* What open imports (its async library, say) is the runner's own. */
    aa__own_begin();
    if (e->vt.open != NULL)
        rc = e->vt.open(e->userdata, &o->state);
    aa__own_end();
    aa__calls_end(outer);
    if (rc != 0)
        open_failed(o, rc);
    else if (PyErr_Occurred())
        PyErr_Clear();
    aa__calls_clear_error();
    return rc != 0 ? AA_ERUNNER : AA_OK;
}

void aa__runner_close(const aa__opened *o)
{
    aa_session *outer;
    saved_exc e;

    if (o->entry->vt.close == NULL)
        return;
    save_exc(&e);
    outer = aa__calls_begin(o->session);
    o->entry->vt.close(o->state);
    aa__calls_end(outer);
    restore_exc(&e);
}

int aa__runner_enter(const aa__opened *o)
{
    aa_session *outer;
    int rc;

    if (o->entry->vt.enter == NULL)
        return 0;
    outer = aa__calls_begin(o->session);
    rc = o->entry->vt.enter(o->state);
    aa__calls_end(outer);
    if (rc == 0)
        return 0;
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "its enter failed without an "
                                            "exception");
    return -1;
}

void aa__runner_leave(const aa__opened *o)
{
    aa_session *outer;
    saved_exc e;

    if (o->entry->vt.leave == NULL)
        return;
    save_exc(&e);
    outer = aa__calls_begin(o->session);
    o->entry->vt.leave(o->state);
    aa__calls_end(outer);
    restore_exc(&e);
}

PyObject *aa__runner_run(const aa__opened *o, PyObject *coro, PyObject *context,
                         int *broken)
{
    aa_session *outer = aa__calls_begin(o->session);
    PyObject *value = o->entry->vt.run(o->state, coro, context);

    aa__calls_end(outer);
    *broken = value == NULL && !PyErr_Occurred();
    return value;
}

int aa__runner_interrupt(const aa__opened *o)
{
    int rc;

    if (o->entry->vt.interrupt == NULL)
        return 1;
    rc = o->entry->vt.interrupt(o->state);
    if (PyErr_Occurred())
        PyErr_Clear();
    return rc;
}

int aa__runner_can_poll(const aa__opened *o)
{
    return o->entry->vt.poll != NULL && o->entry->vt.step == NULL;
}

int aa__runner_poll(const aa__opened *o, int fd, int timeout_ms)
{
    aa_session *outer = aa__calls_begin(o->session);
    int rc = o->entry->vt.poll(o->state, fd, timeout_ms);

    aa__calls_end(outer);
    if (rc < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "the runner's poll failed");
    return rc;
}

int aa__runner_is_guest(const aa__opened *o)
{
    return o->entry->vt.start != NULL;
}

int aa__runner_start(const aa__opened *o, PyObject *coro, PyObject *context)
{
    aa_session *outer = aa__calls_begin(o->session);
    int rc = o->entry->vt.start(o->state, coro, context);

    aa__calls_end(outer);
    if (rc == 1 && o->entry->vt.run == NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "runner '%s' cannot start the cell now and has no run",
                     o->entry->name);
        return -1;
    }
    if (rc < 0 && !PyErr_Occurred())
        PyErr_Format(PyExc_RuntimeError,
                     "runner '%s' could not start the cell (its start failed "
                     "without an exception)",
                     o->entry->name);
    return rc < 0 ? -1 : rc;
}

int aa__runner_step(const aa__opened *o)
{
    aa_session *outer = aa__calls_begin(o->session);
    int rc = o->entry->vt.step(o->state);

    aa__calls_end(outer);
    if (rc == 0)
        return 0;
    if (!PyErr_Occurred())
        PyErr_Format(PyExc_RuntimeError,
                     "runner '%s': its step failed without an exception",
                     o->entry->name);
    return -1;
}

int aa__runner_collect(const aa__opened *o, PyObject **value, int *broken)
{
    aa_session *outer = aa__calls_begin(o->session);
    int rc;

    *value = NULL;
    rc = o->entry->vt.collect(o->state, value);
    aa__calls_end(outer);
    *broken = rc != 0 && *value == NULL && !PyErr_Occurred();
    if (rc == 0 && PyErr_Occurred())
        PyErr_Clear();
    return rc != 0;
}

int aa__runner_fd(const aa__opened *o)
{
    aa_session *outer;
    saved_exc e;
    int fd;

    if (o->entry->vt.fd == NULL)
        return -1;
    save_exc(&e);
    outer = aa__calls_begin(o->session);
    fd = o->entry->vt.fd(o->state);
    aa__calls_end(outer);
    restore_exc(&e);
    return fd;
}

int aa__runner_timeout(const aa__opened *o)
{
    aa_session *outer;
    saved_exc e;
    int ms;

    if (o->entry->vt.timeout == NULL)
        return -1;
    save_exc(&e);
    outer = aa__calls_begin(o->session);
    ms = o->entry->vt.timeout(o->state);
    aa__calls_end(outer);
    restore_exc(&e);
    return ms < -1 ? -1 : ms;
}
