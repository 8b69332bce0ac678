/*
 * complete.c -- what a console asks while the user types.
 *
 * aa_is_complete tells whether the lines typed so far make a whole cell,
 * need more lines (and how far the next one is indented), or can never be
 * valid; it parses with the session's own flags, so that `async with x:`
 * under autoawait asks for more like `with x:` does.  aa_complete lists
 * completions of the word before the cursor from the session's namespace:
 * names, keywords, attributes, and module names after import.  Prompts,
 * keys and terminals are the console's business, not this file's.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct aa_completions {
    size_t start; /* where the completed word starts in the line */
    size_t count;
    char **items;
};

/* ------------------------------------------------------------ completeness */

/* The last line with something on it: its start and length. */
static const char *last_line(const char *src, size_t len, size_t *n)
{
    const char *end = src + len, *start;

    while (end > src && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
                         end[-1] == '\t'))
        end--;
    start = end;
    while (start > src && start[-1] != '\n')
        start--;
    *n = (size_t)(end - start);
    return start;
}

static int indent_of(const char *line, size_t n)
{
    size_t i = 0;
    int cols = 0;

    for (; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
        cols = line[i] == '\t' ? (cols / 8 + 1) * 8 : cols + 1;
    return cols;
}

/* Does src end with a line that has nothing on it (the console's way to
 * close a block)? */
static int ends_with_blank_line(const char *src, size_t len)
{
    size_t i = len;

    while (i > 0 &&
           (src[i - 1] == ' ' || src[i - 1] == '\t' || src[i - 1] == '\r'))
        i--;
    if (i == 0 || src[i - 1] != '\n')
        return 0;
    i--;
    while (i > 0 &&
           (src[i - 1] == ' ' || src[i - 1] == '\t' || src[i - 1] == '\r'))
        i--;
    return i == 0 || src[i - 1] == '\n';
}

/* The physical line the last top-level statement starts on. */
static const char *last_statement_line(const char *src, size_t len, size_t *n)
{
    size_t start = 0, end;

    aa__last_statement(src, len, &start);
    while (start > 0 && src[start - 1] != '\n')
        start--;
    for (end = start; end < len && src[end] != '\n'; end++)
        ;
    *n = end - start;
    return src + start;
}

/* Parses src: 0 valid, 1 incomplete, 2 invalid. */
static int parse_state(aa_session *s, const char *src)
{
    PyCompilerFlags cf = {PyCF_ONLY_AST | PyCF_IGNORE_COOKIE |
                              PyCF_DONT_IMPLY_DEDENT |
                              PyCF_ALLOW_INCOMPLETE_INPUT |
                              (s->autoawait ? PyCF_ALLOW_TOP_LEVEL_AWAIT : 0),
                          PY_MINOR_VERSION};
    PyObject *mod =
        Py_CompileStringExFlags(src, "<input>", Py_file_input, &cf, -1);
    PyObject *type, *exc, *tb, *msg = NULL;
    int state = 2;

    if (mod != NULL) {
        Py_DECREF(mod);
        return 0;
    }
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc != NULL && PyErr_GivenExceptionMatches(exc, PyExc_SyntaxError) &&
        (msg = PyObject_GetAttrString(exc, "msg")) != NULL &&
        PyUnicode_Check(msg) &&
        PyUnicode_CompareWithASCIIString(msg, "incomplete input") == 0)
        state = 1;
    PyErr_Clear();
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return state;
}

static int completeness(aa_session *s, const char *src, int *indent)
{
    size_t len = strlen(src), n;
    const char *line = last_line(src, len, &n), *p = src;
    int state;

    while (*p == ' ' || *p == '\t')
        p++;
    if (n == 0 || *p == '%')
        return AA_INPUT_COMPLETE; /* nothing yet, or a one-line magic */
    state = parse_state(s, src);
    if (state == 2)
        return AA_INPUT_INVALID;
    if (state == 1) {
        *indent = indent_of(line, n) + (line[n - 1] == ':' ? 4 : 0);
        return AA_INPUT_INCOMPLETE;
    }
    /* Valid, but inside a block the user may still be typing: as in
     * Python's console, a blank line ends it.  What counts is where the
     * last logical line starts: `t = (1,` and an indented `2)` is whole. */
    line = last_statement_line(src, len, &n);
    *indent = indent_of(line, n);
    if (*indent > 0 && !ends_with_blank_line(src, len))
        return AA_INPUT_INCOMPLETE;
    *indent = 0;
    return AA_INPUT_COMPLETE;
}

int aa_is_complete(aa_session *s, const char *source, int *indent)
{
    PyGILState_STATE g;
    int rc, spaces = 0;

    if (s == NULL || source == NULL)
        return AA_EINVAL;
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return rc;
    rc = completeness(s, source, &spaces);
    aa__interp_leave(g);
    if (indent != NULL)
        *indent = rc == AA_INPUT_INCOMPLETE ? spaces : 0;
    return rc;
}

/* ------------------------------------------------------------- completion */

/*
 * The completer, in Python: it reads namespaces and modules, which is what
 * Python does best.  It evaluates no expression: attributes are reached by
 * getattr along a dotted name, never by calling anything.  Its own imports
 * (the first lines, and inspect, which pkgutil imports when it lists
 * modules) go through _own, the library's own imports; a package the user
 * names after `import` or `from` is imported as the user's cell would.
 */
static const char completer_source[] =
    "import builtins, keyword, pkgutil, re, sys\n"
    "_top = None\n"
    "def _names(path):\n"
    "    return [m.name for m in pkgutil.iter_modules(path)]\n"
    "def _modules(prefix):\n"
    "    global _top\n"
    "    if '.' in prefix:\n"
    "        pkg, _, part = prefix.rpartition('.')\n"
    "        try:\n"
    "            path = __import__(pkg, fromlist=['_']).__path__\n"
    "        except Exception:\n"
    "            return []\n"
    "        return [pkg + '.' + n for n in _own(_names, path)\n"
    "                if n.startswith(part)]\n"
    "    if _top is None:\n"
    "        _top = set(sys.builtin_module_names)\n"
    "        _top.update(_own(_names, None))\n"
    "    names = _top | {m for m in sys.modules if '.' not in m}\n"
    "    return [m for m in names if m.startswith(prefix)]\n"
    "def _lookup(ns, dotted):\n"
    "    first, *rest = dotted.split('.')\n"
    "    if first in ns:\n"
    "        obj = ns[first]\n"
    "    else:\n"
    "        obj = getattr(builtins, first)\n"
    "    for part in rest:\n"
    "        obj = getattr(obj, part)\n"
    "    return obj\n"
    "def complete(ns, text):\n"
    "    m = re.search(r'(?:^|[;\\n])\\s*(?:import|from)\\s+([\\w.]*)\\Z', "
    "text)\n"
    "    if m:\n"
    "        word = m.group(1)\n"
    "        return len(text) - len(word), sorted(set(_modules(word)))\n"
    "    m = re.search(r'(?:^|[;\\n])\\s*from\\s+([\\w.]+)\\s+import\\s+"
    "(?:[\\w\\s,]*,\\s*)?(\\w*)\\Z', text)\n"
    "    if m:\n"
    "        word = m.group(2)\n"
    "        try:\n"
    "            mod = __import__(m.group(1), fromlist=['_'])\n"
    "        except Exception:\n"
    "            return len(text) - len(word), []\n"
    "        names = [n for n in dir(mod) if n.startswith(word)]\n"
    "        names += [n.rpartition('.')[2] for n in _modules(m.group(1) + "
    "'.' + word)]\n"
    "        return len(text) - len(word), sorted(set(names))\n"
    "    word = re.search(r'[\\w.]*\\Z', text).group(0)\n"
    "    if '.' in word:\n"
    "        base, _, part = word.rpartition('.')\n"
    "        try:\n"
    "            names = dir(_lookup(ns, base))\n"
    "        except Exception:\n"
    "            return len(text) - len(word), []\n"
    "        if not part.startswith('_'):\n"
    "            names = [n for n in names if not n.startswith('_')]\n"
    "        found = [base + '.' + n for n in names if n.startswith(part)]\n"
    "    elif word and not word[0].isdigit():\n"
    "        names = set(keyword.kwlist) | set(ns) | set(dir(builtins))\n"
    "        found = [n for n in names if n.startswith(word) and\n"
    "                 (word.startswith('_') or not n.startswith('_'))]\n"
    "    else:\n"
    "        found = []\n"
    "    return len(text) - len(word), sorted(set(found))\n";

static PyObject *completer; /* the complete function above */

static PyObject *get_completer(void)
{
    PyObject *globals;

    if (completer != NULL)
        return completer;
    globals = aa__own_source(completer_source, "<autoawait completer>");
    if (globals != NULL) {
        completer = PyDict_GetItemString(globals, "complete");
        Py_XINCREF(completer);
        Py_DECREF(globals);
    }
    return completer;
}

/* The completer's _lookup(ns, dotted), borrowed, or NULL with an exception
 * set: aa_inspect finds its object the way completion does. */
PyObject *aa__completer_lookup(void)
{
    PyObject *fn = get_completer(), *lookup;

    if (fn == NULL)
        return NULL;
    lookup = PyDict_GetItemString(PyFunction_GetGlobals(fn), "_lookup");
    if (lookup == NULL)
        PyErr_SetString(PyExc_SystemError, "the completer has no _lookup");
    return lookup;
}

/* Fills c from the completer's answer (start, [names]) about text, the
 * first cursor bytes of the line decoded. */
static int fill(aa_completions *c, PyObject *answer, PyObject *text,
                size_t cursor)
{
    PyObject *names, *word;
    Py_ssize_t i, start, bytes;

    if (!PyArg_ParseTuple(answer, "nO!", &start, &PyList_Type, &names))
        return -1;
    /* start counts characters; the host counts bytes.  The word is made
     * of word characters only, so its bytes are the line's own (invalid
     * bytes before it, decoded as U+FFFD, do not change its length). */
    word = PyUnicode_Substring(text, start, PyUnicode_GET_LENGTH(text));
    if (word == NULL || PyUnicode_AsUTF8AndSize(word, &bytes) == NULL) {
        Py_XDECREF(word);
        return -1;
    }
    Py_DECREF(word);
    c->start = (size_t)bytes <= cursor ? cursor - (size_t)bytes : 0;
    c->count = 0;
    c->items = calloc((size_t)PyList_GET_SIZE(names) + 1, sizeof(char *));
    if (c->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < PyList_GET_SIZE(names); i++) {
        if (aa__result_set_string(&c->items[c->count],
                                  PyList_GET_ITEM(names, i)) < 0)
            return -1;
        c->count++;
    }
    return 0;
}

static void completions_clear(aa_completions *c)
{
    size_t i;

    for (i = 0; c->items != NULL && i < c->count; i++)
        free(c->items[i]);
    free(c->items);
    c->items = NULL;
    c->count = 0;
}

int aa_complete(aa_session *s, const char *line, size_t cursor,
                aa_completions **out)
{
    PyObject *text = NULL, *answer = NULL, *fn;
    PyGILState_STATE g;
    aa_completions *c;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (s == NULL || line == NULL || out == NULL || cursor > strlen(line))
        return AA_EINVAL;
    if ((c = calloc(1, sizeof *c)) == NULL)
        return AA_ENOMEM;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        free(c);
        return rc;
    }
    /* Completing reads attributes, and a property may print. */
    if (aa__output_begin(s) == 0) {
        text = PyUnicode_DecodeUTF8(line, (Py_ssize_t)cursor, "replace");
        fn = text != NULL ? get_completer() : NULL;
        answer = fn != NULL
                     ? PyObject_CallFunctionObjArgs(fn, s->ns, text, NULL)
                     : NULL;
        rc = answer != NULL && fill(c, answer, text, cursor) == 0 ? AA_OK
                                                                  : AA_EPYTHON;
        aa__output_end(s);
    } else {
        rc = AA_EPYTHON;
    }
    if (rc != AA_OK) {
        aa__session_fail(s, rc, "completion failed");
        PyErr_Clear();
        aa_completions_free(c);
        c = NULL;
    }
    Py_XDECREF(text);
    Py_XDECREF(answer);
    aa__interp_leave(g);
    *out = c;
    return rc;
}

size_t aa_completions_count(const aa_completions *c)
{
    return c != NULL ? c->count : 0;
}

const char *aa_completions_item(const aa_completions *c, size_t i)
{
    return c != NULL && i < c->count ? c->items[i] : NULL;
}

size_t aa_completions_start(const aa_completions *c)
{
    return c != NULL ? c->start : 0;
}

void aa_completions_free(aa_completions *c)
{
    if (c == NULL)
        return;
    completions_clear(c);
    free(c);
}
