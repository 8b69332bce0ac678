/*
 * input.c -- input() in the cells of a session with an input callback.
 *
 * builtins.input is one object for the whole process, and cells of several
 * sessions may run at once on several threads, so, as output.c does for
 * sys.stdout, it cannot be swapped per cell.  Once a session has an input
 * callback (aa_session_set_input), builtins.input is the library's own
 * input(), which asks the callback of the session whose cell runs on the
 * calling thread (a nested session without one: its outer cell's); from a
 * thread with no cell (one a cell started), the session with a callback
 * whose cell began last, while that cell runs (a started cell, between
 * the host's dispatches too); and otherwise calls the input() that was there
 * before, so that other sessions and the host's own Python code read
 * sys.stdin as they did.  When no session has a callback any more, that
 * input() goes back into builtins.  What the callback reads, and from
 * where, is the host's business; what aa_raise asks of it is host.c's.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static PyObject *builtins; /* builtins.__dict__, borrowed */
static PyObject *ours;     /* the library's input() */
static PyObject *original; /* what builtins.input was before it */
static aa_session *active; /* the session with a callback whose cell began
                            * last, while that cell runs */
static int input_sessions; /* sessions with a callback */

/* The session whose callback an input() on this thread asks, or NULL. */
static aa_session *owner(void)
{
    aa_session *cur = aa__current_session(), *s = cur;

    while (s != NULL && s->input == NULL)
        s = s->outer;
    if (s == NULL && cur == NULL)
        s = active;
    return s != NULL && s->input != NULL ? s : NULL;
}

/* Flushes sys.stderr (its failure ignored) and sys.stdout (its failure
 * raised), as python3's input() does before it reads. */
static int flush_streams(void)
{
    static const char *const names[] = {"stderr", "stdout"};
    int i;

    for (i = 0; i < 2; i++) {
        PyObject *f = PySys_GetObject(names[i]), *r; /* borrowed */

        if (f == NULL || f == Py_None)
            continue;
        Py_INCREF(f);
        r = PyObject_CallMethod(f, "flush", NULL);
        Py_DECREF(f);
        if (r == NULL && i == 1)
            return -1;
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    return 0;
}

/* The process's own input(args), for a call no callback takes. */
static PyObject *call_original(PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *fn = original, *r;

    if (fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "input(): lost sys.stdin");
        return NULL;
    }
    Py_INCREF(fn);
    r = PyObject_Vectorcall(fn, args, (size_t)nargs, NULL);
    Py_DECREF(fn);
    return r;
}

/* The line the callback gave: without its "\n", freed. */
static PyObject *line_to_str(char *line)
{
    size_t len = strlen(line);
    PyObject *r;

    if (len > 0 && line[len - 1] == '\n')
        len--;
    r = PyUnicode_DecodeUTF8(line, (Py_ssize_t)len, "replace");
    free(line);
    if (r != NULL && PySys_Audit("builtins.input/result", "O", r) < 0)
        Py_CLEAR(r);
    return r;
}

/*
 * Asks s's callback, the GIL released.  Only fn and userdata are read
 * before: the session may be freed meanwhile (a thread the cell started
 * asked, and the cell ended).
 */
static PyObject *ask(aa_session *s, PyObject *const *args, Py_ssize_t nargs)
{
    aa_input_fn fn = s->input;
    void *userdata = s->input_userdata;
    aa__raise_slot slot = {NULL, NULL, 0, 1}, *prev;
    PyObject *text = NULL, *bytes = NULL, *r = NULL;
    const char *prompt = "";
    char *line = NULL;
    int rc;

    if (nargs == 1) {
        if ((text = PyObject_Str(args[0])) == NULL ||
            (bytes = PyUnicode_AsEncodedString(text, "utf-8",
                                               "backslashreplace")) == NULL)
            goto done;
        prompt = PyBytes_AS_STRING(bytes);
    }
    if (PySys_Audit("builtins.input", "O", nargs == 1 ? args[0] : Py_None) <
            0 ||
        flush_streams() < 0)
        goto done;
    prev = aa__raise_enter(&slot);
    Py_BEGIN_ALLOW_THREADS
        rc = fn(userdata, prompt, &line);
    Py_END_ALLOW_THREADS
    aa__raise_leave(prev);
    if (slot.raised) {
        if (rc == AA_OK)
            free(line);
        aa__raise_asked(&slot);
    } else if (rc == AA_ENOTFOUND) {
        r = call_original(args, nargs);
    } else if (rc == AA_OK && line != NULL) {
        r = line_to_str(line);
    } else {
        PyErr_SetString(PyExc_EOFError, "EOF when reading a line");
    }
done:
    Py_XDECREF(text);
    Py_XDECREF(bytes);
    return r;
}

static PyObject *session_input(PyObject *self, PyObject *const *args,
                               Py_ssize_t nargs)
{
    aa_session *s;

    (void)self;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "input expected at most 1 argument, got %zd", nargs);
        return NULL;
    }
    s = owner();
    return s != NULL ? ask(s, args, nargs) : call_original(args, nargs);
}

static PyMethodDef input_def = {
    "input", (PyCFunction)(void (*)(void))session_input, METH_FASTCALL,
    "input($module, prompt='', /)\n--\n\n"
    "Read a string from standard input, or from the input callback of the\n"
    "session whose cell calls. The trailing newline is stripped.\n\n"
    "The prompt string, if given, is printed to standard output without a\n"
    "trailing newline before reading input (a session's callback shows it\n"
    "its own way).\n\n"
    "If the user hits EOF, raise EOFError."};

/* Puts ours in builtins.input, what was there becoming the original. */
static int install(void)
{
    PyObject *cur;

    if (builtins == NULL && (builtins = aa__builtins_dict()) == NULL)
        return -1;
    if (ours == NULL &&
        (ours = PyCFunction_NewEx(&input_def, NULL, NULL)) == NULL)
        return -1;
    cur = PyDict_GetItemString(builtins, "input"); /* borrowed */
    if (cur == ours)
        return 0;
    Py_XINCREF(cur);
    Py_XSETREF(original, cur);
    return PyDict_SetItemString(builtins, "input", ours);
}

/* A session gives its callback up: with none left, the original goes
 * back, unless something else has taken builtins.input meanwhile. */
static void callback_gone(aa_session *s)
{
    if (active == s)
        active = NULL;
    if (--input_sessions > 0 || builtins == NULL || original == NULL)
        return;
    if (PyDict_GetItemString(builtins, "input") == ours &&
        PyDict_SetItemString(builtins, "input", original) < 0)
        PyErr_Clear();
}

int aa_session_set_input(aa_session *s, aa_input_fn fn, void *userdata)
{
    PyGILState_STATE g;
    int rc;

    if (s == NULL)
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    if (s->input == NULL && fn != NULL) {
        if (install() < 0) {
            PyErr_Clear();
            aa__interp_leave(g);
            return aa__session_fail(s, AA_EPYTHON,
                                    "cannot put the session's input() in "
                                    "builtins");
        }
        input_sessions++;
    } else if (s->input != NULL && fn == NULL) {
        callback_gone(s);
    }
    s->input = fn;
    s->input_userdata = userdata;
    /* Given from inside a running cell: the threads it started follow. */
    if (fn != NULL && (s->busy || s->started != NULL))
        active = s;
    aa__interp_leave(g);
    return AA_OK;
}

/* A cell (poll, dispatch) of s begins on this thread. */
void aa__input_begin(aa_session *s)
{
    if (s->input != NULL)
        active = s;
}

/* It ends (or its step does: a cell started with aa_exec_start goes on
 * between the host's dispatches, and the threads it started with it);
 * outer's cell, if any, goes on. */
void aa__input_end(aa_session *s, aa_session *outer)
{
    if (active == s && s->started == NULL)
        active = outer != NULL && outer->input != NULL ? outer : NULL;
}

/* The session ends. */
void aa__input_free(aa_session *s)
{
    if (s->input != NULL)
        callback_gone(s);
    else if (active == s)
        active = NULL;
    s->input = NULL;
}
