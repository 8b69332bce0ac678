/*
 * magic.c -- the library's own %magics, on a cell's first line.
 *
 * Only %autoawait lives here (IPython's spelling and messages): with no
 * argument it prints the state; on/off/true/false in any case turn
 * top-level await on or off; a runner name, the name of a callable in the
 * namespace, or the import path of a callable switches the session's
 * runner and turns autoawait on.  Anything else starting with '%' is left to
 * the Python compiler, which calls it what it is.  Console magics (%time ...)
 * belong to the console, not here.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAGIC "%autoawait"
#define MAGIC_LEN (sizeof MAGIC - 1)

static int print_state(aa_session *s)
{
    char line[AA__NAME_MAX + 64];
    const char *runner = aa_session_runner(s);

    snprintf(line, sizeof line, "autoawait is `%s`, and set to use `%s`\n",
             s->autoawait ? "on" : "off", runner != NULL ? runner : "none");
    return aa__output_write(line);
}

static int autoawait_magic(aa_session *s, const char *arg)
{
    if (arg[0] == '\0')
        return print_state(s);
    if (strcasecmp(arg, "on") == 0 || strcasecmp(arg, "true") == 0) {
        s->autoawait = 1;
        return 0;
    }
    if (strcasecmp(arg, "off") == 0 || strcasecmp(arg, "false") == 0) {
        s->autoawait = 0;
        return 0;
    }
    if (aa__session_choose_runner(s, arg) < 0)
        return -1;
    s->autoawait = 1; /* choosing a runner means wanting to await */
    return 0;
}

/* "pkg.mod.func": dotted identifiers, at least one dot. */
static int is_dotted(const char *arg)
{
    const char *p = arg;
    int dots = 0;

    for (;;) {
        if (!isalpha((unsigned char)*p) && *p != '_')
            return 0;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (*p == '\0')
            return dots > 0;
        if (*p++ != '.')
            return 0;
        dots++;
    }
}

/* A callable named arg: the namespace's, or an import path's.  New
 * reference; NULL with an exception set when it cannot be had. */
static PyObject *find_callable(aa_session *s, const char *arg)
{
    PyObject *obj, *mod;
    const char *dot = strrchr(arg, '.');

    if (dot == NULL) {
        obj = PyDict_GetItemString(s->ns, arg);
        if (obj == NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%%autoawait %s: no runner and no name '%s' in the "
                         "session%s%s%s",
                         arg, arg, s->errmsg[0] ? " (" : "", s->errmsg,
                         s->errmsg[0] ? ")" : "");
            return NULL;
        }
        Py_INCREF(obj);
        return obj;
    }
    if (!is_dotted(arg)) {
        PyErr_Format(PyExc_ValueError,
                     "%%autoawait: '%s' is not on, off, true, false, a "
                     "runner name, a name or an import path",
                     arg);
        return NULL;
    }
    /* The user named the module: it is found as the user's cell would
     * find it, not as one of the library's own imports. */
    obj = PyUnicode_FromStringAndSize(arg, dot - arg);
    mod = obj != NULL ? PyImport_Import(obj) : NULL;
    Py_XDECREF(obj);
    if (mod == NULL)
        return NULL;
    obj = PyObject_GetAttrString(mod, dot + 1);
    Py_DECREF(mod);
    return obj;
}

/*
 * Makes arg the session's runner, as `%autoawait ARG` and
 * autoawait.set_runner do: a registered or plugin runner by that name,
 * else a callable of the namespace by that name (IPython's way), else a
 * callable at an import path "pkg.mod.func".  On failure nothing changes
 * and a Python exception says why.
 */
int aa__session_choose_runner(aa_session *s, const char *arg)
{
    PyObject *fn;
    int rc;

    s->errmsg[0] = '\0';
    if (aa__runner_name_ok(arg)) {
        rc = aa__session_use_runner(s, arg);
        if (rc == AA_OK)
            goto done;
        if (rc != AA_ENOTFOUND) {
            PyErr_Format(PyExc_ValueError, "%%autoawait %s: %s", arg,
                         s->errmsg);
            goto done;
        }
    } else if (!isalpha((unsigned char)arg[0]) && arg[0] != '_') {
        PyErr_Format(PyExc_ValueError,
                     "%%autoawait: '%s' is not on, off, true, false, a "
                     "runner name or the name of a callable",
                     arg);
        goto done;
    }
    fn = find_callable(s, arg);
    if (fn != NULL && !PyCallable_Check(fn)) {
        PyErr_Format(PyExc_ValueError,
                     "%%autoawait %s: %.100s object is not callable, so it "
                     "cannot run coroutines",
                     arg, Py_TYPE(fn)->tp_name);
    } else if (fn != NULL) {
        aa__session_use_callable(s, arg, fn);
    }
    Py_XDECREF(fn);
done:
    s->errmsg[0] = '\0';
    return PyErr_Occurred() ? -1 : 0;
}

/*
 * Handles a library magic on the first line of src.  Returns 0 when the
 * line is not one (nothing done), 1 when it was handled, -1 when it failed
 * with a Python exception set.  *eol gets the length of the line.
 */
int aa__magic_try(aa_session *s, const char *src, size_t len, size_t *eol)
{
    const char *p = src, *end, *nl = memchr(src, '\n', len);
    char arg[256];
    size_t n;

    *eol = nl != NULL ? (size_t)(nl - src) : len;
    end = src + *eol;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return 0;
    p += MAGIC_LEN;
    if (p < end && !isspace((unsigned char)*p))
        return 0; /* %autoawaitx is some other word */
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    n = (size_t)(end - p);
    if (n >= sizeof arg) {
        PyErr_SetString(PyExc_ValueError, "%autoawait: argument too long");
        return -1;
    }
    memcpy(arg, p, n);
    arg[n] = '\0';
    return autoawait_magic(s, arg) < 0 ? -1 : 1;
}
