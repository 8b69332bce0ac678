/*
 * sources.c -- cell file names and their sources in linecache.
 *
 * Each cell is compiled under its own file name, "<cell-N>" (for sessions
 * other than the first live one, "<cell-S.N>", so that two sessions never
 * share a name), and its source is put in linecache.cache so that
 * tracebacks and inspect.getsource show the user's lines.  Importing
 * linecache costs milliseconds that a console start-up should not pay, so
 * until something has imported it the sources wait in a dict of ours and
 * move to linecache as soon as it is there (checked after every cell, and
 * before a traceback is formatted).  The first cell that defines a
 * function, class or generator imports linecache: their source may be
 * asked for at any time (inspect.getsource in the very next line).  A cell
 * that made no function, class or generator and ended well has its source
 * taken out again when it ends: nothing can point at its lines any more,
 * and a long session would otherwise keep every cell.
 */
#include "internal.h"

#include <ctype.h>
#include <string.h>

static PyObject *pending; /* file name -> linecache entry */
static PyObject *cache;   /* linecache.cache, once linecache is imported */

PyObject *aa__cell_filename(const aa_session *s, unsigned long n)
{
    if (s->id == 1)
        return PyUnicode_FromFormat("<cell-%lu>", n);
    return PyUnicode_FromFormat("<cell-%u.%lu>", s->id, n);
}

/* Is file one of the session's cell names? */
int aa__cell_filename_is(const aa_session *s, PyObject *file)
{
    const char *p = PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
    char *end;

    if (p == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (strncmp(p, "<cell-", 6) != 0)
        return 0;
    p += 6;
    if (s->id != 1) {
        if (strtoul(p, &end, 10) != s->id || *end != '.')
            return 0;
        p = end + 1;
    }
    if (!isdigit((unsigned char)*p))
        return 0;
    strtoul(p, &end, 10);
    return strcmp(end, ">") == 0;
}

/* linecache.cache if linecache is imported, else NULL; never imports it. */
static PyObject *linecache_cache(void)
{
    static PyObject *modname;
    PyObject *mod;

    if (cache != NULL)
        return cache;
    if (modname == NULL &&
        (modname = PyUnicode_InternFromString("linecache")) == NULL)
        return NULL;
    mod = PyImport_GetModule(modname);
    if (mod == NULL) {
        PyErr_Clear();
        return NULL;
    }
    cache = PyObject_GetAttrString(mod, "cache");
    Py_DECREF(mod);
    if (cache != NULL && !PyDict_Check(cache))
        Py_CLEAR(cache);
    PyErr_Clear();
    return cache;
}

/* Moves the waiting sources into linecache, when it is there. */
void aa__sources_flush(void)
{
    if (pending == NULL || PyDict_GET_SIZE(pending) == 0 ||
        linecache_cache() == NULL)
        return;
    if (PyDict_Update(cache, pending) < 0)
        PyErr_Clear();
    PyDict_Clear(pending);
}

/* linecache's entry for a source: (size, mtime None, lines, name).  A None
 * mtime tells linecache.checkcache never to drop it. */
static PyObject *make_entry(PyObject *file, const char *src, size_t len)
{
    PyObject *text, *lines, *entry = NULL;
    Py_ssize_t n;

    if ((text = PyUnicode_DecodeUTF8(src, (Py_ssize_t)len, "replace")) == NULL)
        return NULL;
    lines = PyUnicode_Splitlines(text, 1);
    Py_DECREF(text);
    if (lines == NULL)
        return NULL;
    n = PyList_GET_SIZE(lines);
    if (n > 0) {
        /* As linecache does for files: the last line ends with "\n". */
        PyObject *last = PyList_GET_ITEM(lines, n - 1);
        Py_ssize_t k = PyUnicode_GET_LENGTH(last);
        if (k == 0 || PyUnicode_READ_CHAR(last, k - 1) != '\n') {
            PyObject *fixed = PyUnicode_FromFormat("%U\n", last);
            if (fixed == NULL || PyList_SetItem(lines, n - 1, fixed) < 0)
                goto done;
        }
    }
    entry = Py_BuildValue("(nOOO)", (Py_ssize_t)len, Py_None, lines, file);
done:
    Py_DECREF(lines);
    return entry;
}

int aa__sources_add(PyObject *file, const char *src, size_t len, int now)
{
    PyObject *entry = make_entry(file, src, len), *into;
    int rc;

    if (entry == NULL)
        return -1;
    into = linecache_cache();
    if (into == NULL && now) {
        PyObject *mod = aa__import("linecache");
        Py_XDECREF(mod);
        PyErr_Clear();
        into = linecache_cache();
    }
    if (into != NULL) {
        aa__sources_flush();
    } else {
        if (pending == NULL && (pending = PyDict_New()) == NULL) {
            Py_DECREF(entry);
            return -1;
        }
        into = pending;
    }
    rc = PyDict_SetItem(into, file, entry);
    Py_DECREF(entry);
    return rc;
}

/* Takes a cell's source back out, wherever it went. */
void aa__sources_drop(PyObject *file)
{
    PyObject *into = cache != NULL ? cache : pending;

    if (into != NULL && PyDict_DelItem(into, file) < 0)
        PyErr_Clear();
    if (into == cache && pending != NULL && PyDict_DelItem(pending, file) < 0)
        PyErr_Clear();
}

static void forget_in(const aa_session *s, PyObject *dict)
{
    PyObject *keys, *key;
    Py_ssize_t i;

    if (dict == NULL || (keys = PyDict_Keys(dict)) == NULL)
        return;
    for (i = 0; i < PyList_GET_SIZE(keys); i++) {
        key = PyList_GET_ITEM(keys, i);
        if (aa__cell_filename_is(s, key) && PyDict_DelItem(dict, key) < 0)
            PyErr_Clear();
    }
    Py_DECREF(keys);
}

/* Drops the sources of a session that ends: its id will be reused. */
void aa__sources_forget(aa_session *s)
{
    forget_in(s, pending);
    forget_in(s, linecache_cache());
    if (PyErr_Occurred())
        PyErr_Clear();
}
