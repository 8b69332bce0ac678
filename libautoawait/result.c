/*
 * result.c -- aa_result: what a host learns of a cell.
 *
 * Owns the result struct and its accessors, and the turning of a Python
 * exception into a result: status, class name, message, exit code, and the
 * traceback cut to the user's frames and formatted like Python's.  How the
 * cell ran is left to cell.c and exec.c.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static PyObject *format_exception_fn; /* traceback.format_exception */

/*
 * A malloc'd, NUL-terminated copy of the n bytes at p, in which every NUL
 * byte becomes the four characters \x00 (how Python writes it): a host
 * reads these strings up to their first NUL, and must not lose what
 * follows.  NULL when out of memory.
 */
static char *dup_escaping_nul(const char *p, size_t n)
{
    const char *nul = memchr(p, '\0', n), *end = p + n;
    size_t extra = 0;
    char *out, *o;

    for (; nul != NULL; nul = memchr(nul + 1, '\0', (size_t)(end - nul - 1)))
        extra += 3;
    if ((out = malloc(n + extra + 1)) == NULL)
        return NULL;
    if (extra == 0) {
        memcpy(out, p, n);
        out[n] = '\0';
        return out;
    }
    for (o = out; p < end; p++) {
        if (*p != '\0') {
            *o++ = *p;
        } else {
            memcpy(o, "\\x00", 4);
            o += 4;
        }
    }
    *o = '\0';
    return out;
}

int aa__result_set_string(char **field, PyObject *str)
{
    Py_ssize_t n;
    const char *utf8;
    PyObject *b = NULL;

    free(*field);
    *field = NULL;
    utf8 = PyUnicode_AsUTF8AndSize(str, &n);
    if (utf8 == NULL) {
        /* Lone surrogates: keep what can be kept rather than nothing. */
        PyErr_Clear();
        b = PyUnicode_AsEncodedString(str, "utf-8", "backslashreplace");
        if (b == NULL)
            return -1;
        utf8 = PyBytes_AS_STRING(b);
        n = PyBytes_GET_SIZE(b);
    }
    *field = dup_escaping_nul(utf8, (size_t)n);
    Py_XDECREF(b);
    if (*field == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

int aa__result_fail(aa_result *r, int status, const char *message)
{
    r->status = status;
    free(r->message);
    r->message = message != NULL ? strdup(message) : NULL;
    return status;
}

/* Sets *field to str(obj) (or repr when asked); failures leave it NULL. */
static void set_text(char **field, PyObject *obj, int use_repr)
{
    PyObject *s = use_repr ? PyObject_Repr(obj) : PyObject_Str(obj);
    if (s == NULL || aa__result_set_string(field, s) < 0)
        PyErr_Clear();
    Py_XDECREF(s);
}

/*
 * The runner and the library sit between the cell and the exception's
 * origin: drop traceback entries from the head until the first frame of a
 * cell (a "<cell-" file, or the file a script cell runs as).  With no cell
 * frame at all (the runner failed on its own), no frame is the user's, and none
 * is shown.
 */
static PyObject *user_traceback(PyObject *tb, PyObject *cell_file)
{
    while (tb != NULL && tb != Py_None) {
        PyFrameObject *f = ((PyTracebackObject *)tb)->tb_frame;
        PyCodeObject *code = PyFrame_GetCode(f);
        const char *file = PyUnicode_AsUTF8(code->co_filename);
        int is_cell = file != NULL &&
                      (strncmp(file, "<cell-", 6) == 0 ||
                       (cell_file != NULL &&
                        PyUnicode_Compare(code->co_filename, cell_file) == 0));
        Py_DECREF(code);
        if (file == NULL)
            PyErr_Clear();
        if (is_cell)
            return tb;
        tb = (PyObject *)((PyTracebackObject *)tb)->tb_next;
    }
    return Py_None;
}

static void set_traceback(aa_result *r, PyObject *exc)
{
    PyObject *lines = NULL, *empty = NULL, *joined = NULL;

    if (format_exception_fn == NULL) {
        PyObject *mod = aa__import("traceback");
        if (mod == NULL)
            goto done;
        format_exception_fn = PyObject_GetAttrString(mod, "format_exception");
        Py_DECREF(mod);
        if (format_exception_fn == NULL)
            goto done;
    }
    aa__sources_flush();
    /* Formatting imports too (traceback imports ast for the carets). */
    aa__own_begin();
    lines = PyObject_CallOneArg(format_exception_fn, exc);
    aa__own_end();
    if (lines == NULL)
        goto done;
    empty = PyUnicode_FromStringAndSize(NULL, 0);
    if (empty != NULL)
        joined = PyUnicode_Join(empty, lines);
    if (joined != NULL)
        aa__result_set_string(&r->traceback, joined);
done:
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(lines);
    Py_XDECREF(empty);
    Py_XDECREF(joined);
}

static int exit_code_of(aa_result *r, PyObject *exc)
{
    PyObject *code = PyObject_GetAttrString(exc, "code");
    int overflow = 0, rc = 1;

    if (code == NULL) {
        PyErr_Clear();
        return 1;
    }
    if (code == Py_None) {
        rc = 0;
    } else if (PyLong_Check(code)) {
        long v = PyLong_AsLongAndOverflow(code, &overflow);
        rc = overflow || v < -2147483647L || v > 2147483647L ? 1 : (int)v;
    } else {
        /* Python prints a non-integer code and exits with 1. */
        set_text(&r->message, code, 0);
    }
    Py_DECREF(code);
    return rc;
}

/*
 * Takes the exception that is set and turns it into r.  The phase tells a
 * SyntaxError from compiling the cell (AA_SYNTAX_ERROR) from one the
 * running code raised (AA_EXCEPTION).  The traceback is cut to the frames
 * of c's file and the user's; a cell that captures (a nested
 * Session.exec) keeps a reference to the exception object.  c may be NULL
 * outside a cell.  Returns the status.
 */
int aa__result_from_exception(aa__cell *c, aa_result *r, int phase)
{
    PyObject **keep = c != NULL && c->capture ? &c->exc : NULL;
    PyObject *type, *exc, *tb;
    const char *name;

    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc == NULL) {
        Py_XDECREF(type);
        Py_XDECREF(tb);
        return aa__result_fail(r, AA_EPYTHON, "exception without a value");
    }
    if (tb != NULL)
        PyException_SetTraceback(exc, tb);
    PyException_SetTraceback(exc,
                             user_traceback(tb, c != NULL ? c->file : NULL));

    if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit)) {
        r->status = AA_SYSTEM_EXIT;
        r->exit_code = exit_code_of(r, exc);
    } else if (phase == AA__PHASE_COMPILE &&
               PyErr_GivenExceptionMatches(exc, PyExc_SyntaxError)) {
        r->status = AA_SYNTAX_ERROR;
    } else {
        r->status = AA_EXCEPTION;
    }
    /* tp_name is "module.Name" for C types: keep the class name. */
    name = strrchr(Py_TYPE(exc)->tp_name, '.');
    name = name != NULL ? name + 1 : Py_TYPE(exc)->tp_name;
    free(r->exception);
    r->exception = strdup(name);
    if (r->message == NULL)
        set_text(&r->message, exc, 0);
    set_traceback(r, exc);
    if (keep != NULL) {
        Py_XSETREF(*keep, exc);
        Py_INCREF(exc);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    Py_DECREF(exc);
    return r->status;
}

/* ------------------------------------------------------------- accessors */

int aa_result_status(const aa_result *r)
{
    return r != NULL ? r->status : AA_EINVAL;
}

int aa_result_is_async(const aa_result *r)
{
    return r != NULL ? r->is_async : 0;
}

const char *aa_result_repr(const aa_result *r)
{
    return r != NULL ? r->repr : NULL;
}

const char *aa_result_exception(const aa_result *r)
{
    return r != NULL ? r->exception : NULL;
}

const char *aa_result_message(const aa_result *r)
{
    return r != NULL ? r->message : NULL;
}

const char *aa_result_traceback(const aa_result *r)
{
    return r != NULL ? r->traceback : NULL;
}

int aa_result_exit_code(const aa_result *r)
{
    return r != NULL ? r->exit_code : 0;
}

void aa_result_free(aa_result *r)
{
    if (r == NULL)
        return;
    free(r->repr);
    free(r->exception);
    free(r->message);
    free(r->traceback);
    free(r);
}
