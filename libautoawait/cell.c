/*
 * cell.c -- from the bytes of a cell to one code object.
 *
 * Owns the steps before a cell runs: checking its bytes (no NUL, valid
 * UTF-8), the %magic line, registering its source with linecache under its
 * own file name, parsing, the rewrite that keeps the value of a last
 * expression, and compiling once with PyCF_ALLOW_TOP_LEVEL_AWAIT.  Whether
 * the cell is async is then a property of the code object (CO_COROUTINE),
 * which exec.c runs.  A cell that does not compile runs nothing.
 */
#include "internal.h"
#include "pyversion.h"

#include <stdlib.h>
#include <string.h>

static PyObject *compile_fn;  /* builtins.compile */
static PyObject *module_type; /* ast.Module */
static PyObject *expr_type;   /* ast.Expr */
static PyObject *assign_type; /* ast.Assign */
static PyObject *name_type;   /* ast.Name */
static PyObject *store_ctx;   /* an ast.Store() */
static PyObject *last_name;   /* the hidden name of the last value */

/* The namespace key the last expression's value is stored under for the
 * length of a cell.  No Python identifier can spell it. */
PyObject *aa__cell_last_name(void)
{
    return last_name;
}

static int init_last_name(void)
{
    if (last_name == NULL)
        last_name = PyUnicode_InternFromString("<last value>");
    return last_name != NULL ? 0 : -1;
}

/* The tree's way only: creating the ast types costs most of a millisecond,
 * which the start of a console that never needs them should not pay. */
static int init_statics(void)
{
    PyObject *ast, *builtins, *store_type;

    if (compile_fn != NULL)
        return 0;
    if ((ast = aa__import("_ast")) == NULL)
        return -1;
    builtins = aa__import("builtins");
    module_type = PyObject_GetAttrString(ast, "Module");
    expr_type = PyObject_GetAttrString(ast, "Expr");
    assign_type = PyObject_GetAttrString(ast, "Assign");
    name_type = PyObject_GetAttrString(ast, "Name");
    store_type = PyObject_GetAttrString(ast, "Store");
    store_ctx = store_type ? PyObject_CallNoArgs(store_type) : NULL;
    compile_fn = builtins ? PyObject_GetAttrString(builtins, "compile") : NULL;
    Py_DECREF(ast);
    Py_XDECREF(builtins);
    Py_XDECREF(store_type);
    if (module_type && expr_type && assign_type && name_type && store_ctx &&
        compile_fn)
        return 0;
    Py_CLEAR(module_type); /* and try again next time */
    Py_CLEAR(expr_type);
    Py_CLEAR(assign_type);
    Py_CLEAR(name_type);
    Py_CLEAR(store_ctx);
    Py_CLEAR(compile_fn);
    return -1;
}

/* ---------------------------------------------------------------- checking */

/* Length of the UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need, i;
    unsigned long cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, cp = c & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return need;
}

static unsigned long line_of(const char *src, size_t off)
{
    unsigned long line = 1;
    size_t i;

    for (i = 0; i < off; i++)
        line += src[i] == '\n';
    return line;
}

/* Refuses a NUL byte or invalid UTF-8 with a SyntaxError naming the place:
 * CPython would stop at the NUL, and a host must never get half a cell. */
static int check_bytes(const char *src, size_t len)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t i = 0, n;

    while (i < len) {
        if (p[i] == 0) {
            PyErr_Format(PyExc_SyntaxError,
                         "source code cannot contain null bytes (a NUL at "
                         "byte %zu, line %lu)",
                         i, line_of(src, i));
            return -1;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if ((n = utf8_len(p + i, len - i)) == 0) {
            PyErr_Format(PyExc_SyntaxError,
                         "source code is not valid UTF-8 (byte 0x%02x at "
                         "byte %zu, line %lu)",
                         p[i], i, line_of(src, i));
            return -1;
        }
        i += n;
    }
    return 0;
}

/* -------------------------------------------------------------- compiling */

/* Is the text after the last statement, on its last line, a ';'? */
static int ends_with_semicolon(const char *src, long line, long col)
{
    const char *p = src;
    long i;

    for (; line > 1 && p != NULL; line--) {
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p == NULL)
        return 0;
    for (i = 0; i < col; i++)
        if (p[i] == '\0' || p[i] == '\n')
            return 0;
    p += col;
    while (*p == ' ' || *p == '\t' || *p == '\f')
        p++;
    return *p == ';';
}

static long long_attr(PyObject *node, const char *name)
{
    PyObject *v = PyObject_GetAttrString(node, name);
    long n = v != NULL ? PyLong_AsLong(v) : -1;
    Py_XDECREF(v);
    return n;
}

/* Adds "in AST transformer <t>" to the exception that is set. */
static void note_transformer(PyObject *t)
{
    PyObject *type, *exc, *tb, *note, *r = NULL;

    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    note = PyUnicode_FromFormat("raised by the AST transformer %R, so the "
                                "cell did not run; the transformer was "
                                "taken off autoawait.ast_transformers",
                                t);
    if (exc != NULL && note != NULL)
        r = PyObject_CallMethod(exc, "add_note", "O", note);
    Py_XDECREF(r);
    Py_XDECREF(note);
    PyErr_Clear();
    if (tb != NULL && exc != NULL)
        PyException_SetTraceback(exc, tb);
    PyErr_Restore(type, exc, tb);
}

/* Takes a transformer that failed off the list, as IPython does: left
 * there, it would fail every cell that follows. */
static void forget_transformer(PyObject *transformers, PyObject *t)
{
    PyObject *type, *exc, *tb, *r;

    PyErr_Fetch(&type, &exc, &tb);
    r = PyObject_CallMethod(transformers, "remove", "O", t);
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_Restore(type, exc, tb);
}

/* Makes an AST node of type with the location of where, plus kwargs. */
static PyObject *node_at(PyObject *type, PyObject *where, PyObject *kw)
{
    static const char *const loc[] = {"lineno", "col_offset", "end_lineno",
                                      "end_col_offset"};
    PyObject *args = PyTuple_New(0), *node = NULL;
    size_t i;

    for (i = 0; args != NULL && i < sizeof loc / sizeof loc[0]; i++) {
        PyObject *v = PyObject_GetAttrString(where, loc[i]);
        int bad = v == NULL || PyDict_SetItemString(kw, loc[i], v) < 0;
        Py_XDECREF(v);
        if (bad)
            goto done;
    }
    if (args != NULL)
        node = PyObject_Call(type, args, kw);
done:
    Py_XDECREF(args);
    return node;
}

/*
 * A last statement that is an expression becomes an assignment to the
 * hidden name, so that one code object both runs the cell and keeps the
 * value (compiling in "single" mode would display every expression
 * statement of the top level, those inside loops included).  Returns 1 when
 * rewritten, 0 when there is nothing to display, -1 on error.
 */
static int keep_last_value(PyObject *mod, const char *src)
{
    PyObject *body = PyObject_GetAttrString(mod, "body");
    PyObject *last, *value = NULL, *kw = NULL, *target = NULL, *assign = NULL;
    Py_ssize_t n;
    int rc = -1;

    if (body == NULL || !PyList_Check(body))
        goto done;
    n = PyList_GET_SIZE(body);
    last = n > 0 ? PyList_GET_ITEM(body, n - 1) : NULL;
    rc = 0;
    if (last == NULL || !PyObject_TypeCheck(last, (PyTypeObject *)expr_type) ||
        ends_with_semicolon(src, long_attr(last, "end_lineno"),
                            long_attr(last, "end_col_offset")))
        goto done;
    rc = -1;
    if ((value = PyObject_GetAttrString(last, "value")) == NULL ||
        (kw = Py_BuildValue("{sOsO}", "id", last_name, "ctx", store_ctx)) ==
            NULL ||
        (target = node_at(name_type, last, kw)) == NULL)
        goto done;
    Py_DECREF(kw);
    kw = Py_BuildValue("{s[O]sO}", "targets", target, "value", value);
    if (kw == NULL || (assign = node_at(assign_type, last, kw)) == NULL)
        goto done;
    rc = PyList_SetItem(body, n - 1, assign) < 0 ? -1 : 1;
    assign = NULL; /* stolen */
done:
    Py_XDECREF(body);
    Py_XDECREF(value);
    Py_XDECREF(kw);
    Py_XDECREF(target);
    Py_XDECREF(assign);
    return rc;
}

/*
 * Applies the session's AST transformers (autoawait.ast_transformers) in
 * order, to sync and async cells alike, before the library's own rewrite.
 * Takes mod; returns the new tree, or NULL with the exception of the
 * transformer that failed, a note naming it added.
 */
static PyObject *transform(PyObject *transformers, PyObject *mod)
{
    PyObject *list = PySequence_Tuple(transformers), *ast = NULL, *t, *r;
    Py_ssize_t i;

    for (i = 0; list != NULL && mod != NULL && i < PyTuple_GET_SIZE(list);
         i++) {
        t = PyTuple_GET_ITEM(list, i);
        r = PyObject_CallMethod(t, "visit", "O", mod);
        Py_SETREF(mod, r);
        if (r != NULL && !PyObject_TypeCheck(r, (PyTypeObject *)module_type)) {
            PyErr_Format(PyExc_TypeError,
                         "AST transformer %R returned %.100s, not an "
                         "ast.Module",
                         t, Py_TYPE(r)->tp_name);
            Py_CLEAR(mod);
        }
        if (mod == NULL) {
            note_transformer(t);
            forget_transformer(transformers, t);
        }
    }
    /* Transformers often make nodes without a place in the source. */
    if (mod != NULL && (ast = aa__import("ast")) != NULL)
        r = PyObject_CallMethod(ast, "fix_missing_locations", "O", mod);
    else
        r = NULL;
    if (r == NULL)
        Py_CLEAR(mod);
    Py_XDECREF(r);
    Py_XDECREF(ast);
    Py_XDECREF(list);
    return mod;
}

/* Does the code bind name (a str) in its namespace, or read it? */
static int names_name(PyObject *code, const char *name)
{
    PyObject *names = ((PyCodeObject *)code)->co_names;
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(names); i++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, i),
                                             name) == 0)
            return 1;
    return 0;
}

/*
 * The value of a last expression that the optimizer folded into a constant
 * and dropped (`1`, `-2`, `'a' 'b'`, `(1, 2)`): the constant its own text,
 * expr, compiles to as an expression, taken from that code without running
 * anything.  NULL, with no exception set, when the text is more than a
 * constant, or when the cell made the string its docstring (the tree's way
 * keeps it from becoming __doc__).
 */
static PyObject *folded_constant(PyObject *code, const char *expr,
                                 PyObject *file, PyCompilerFlags *cf)
{
    PyObject *value = NULL, *e;

    if (names_name(code, "__doc__"))
        return NULL;
    e = Py_CompileStringObject(expr, file, Py_eval_input, cf, -1);
    if (e == NULL) {
        PyErr_Clear();
        return NULL;
    }
    value = aa__py_code_constant(e);
    Py_DECREF(e);
    return value;
}

/*
 * The fast way, straight from the source, when no transformer needs the
 * tree and the shape of the last statement is known.  NULL without an
 * exception set when the tree is needed after all: always for a last
 * expression where the CPython built against has no bytecode rewrite
 * (pyversion.h), which would only compile the cell twice.
 */
static PyObject *compile_source(aa_session *s, const char *src, size_t len,
                                PyObject *file, aa__display *d)
{
    size_t start = 0, i;
    int shape = aa__last_statement(src, len, &start), line = 1, col = 0;
    PyCompilerFlags cf = {PyCF_IGNORE_COOKIE |
                              (s->autoawait ? PyCF_ALLOW_TOP_LEVEL_AWAIT : 0),
                          PY_MINOR_VERSION};
    PyObject *code, *ret;

    if (shape == AA__LAST_UNSURE || PyList_GET_SIZE(s->transformers) > 0 ||
        (shape == AA__LAST_EXPR && !AA__PY_RETURNS_LAST_VALUE))
        return NULL;
    code = Py_CompileStringObject(src, file, Py_file_input, &cf, -1);
    if (code == NULL || shape == AA__LAST_OTHER)
        return code;
    /* Where the last statement starts, as code locations count: lines
     * from 1, columns in bytes from 0. */
    for (i = 0; i < start; i++) {
        col++;
        if (src[i] == '\n')
            line++, col = 0;
    }
    if ((ret = aa__py_return_last_value(code, line, col)) != NULL) {
        Py_DECREF(code);
        d->how = AA__DISPLAY_RETURNED;
        return ret;
    }
    /* Folded away: the value is its text's constant, or else only the
     * tree still has it. */
    if ((d->constant = folded_constant(code, src + start, file, &cf))) {
        d->how = AA__DISPLAY_CONSTANT;
        return code;
    }
    Py_DECREF(code);
    return NULL;
}

/*
 * Parses src (NUL-terminated, valid UTF-8), rewrites it, and compiles it
 * once.  *d tells whether and how the cell leaves a value to display (see
 * aa__display); the caller releases d->constant.
 */
PyObject *aa__cell_compile(aa_session *s, const char *src, size_t len,
                           PyObject *file, aa__display *d)
{
    int top = s->autoawait ? PyCF_ALLOW_TOP_LEVEL_AWAIT : 0;
    PyCompilerFlags cf = {PyCF_ONLY_AST | PyCF_IGNORE_COOKIE | top,
                          PY_MINOR_VERSION};
    PyObject *mod, *code = NULL;
    int kept;

    d->how = AA__DISPLAY_NONE;
    d->constant = NULL;
    if (init_last_name() < 0)
        return NULL;
    code = compile_source(s, src, len, file, d);
    if (code != NULL || PyErr_Occurred())
        return code;
    if (init_statics() < 0)
        return NULL;
    mod = Py_CompileStringObject(src, file, Py_file_input, &cf, -1);
    if (mod != NULL && PyList_GET_SIZE(s->transformers) > 0)
        mod = transform(s->transformers, mod);
    if (mod == NULL)
        return NULL;
    kept = keep_last_value(mod, src);
    if (kept >= 0)
        code = PyObject_CallFunction(compile_fn, "OOsii", mod, file, "exec",
                                     top, 1);
    if (kept > 0)
        d->how = AA__DISPLAY_KEPT;
    Py_DECREF(mod);
    return code;
}

/* ------------------------------------------------------------ one cell */

/*
 * A SyntaxError found while compiling the AST (as opposed to parsing) has
 * no text: CPython would read the line from a file that does not exist.
 * Give it the line from the cell, so that it shows like Python's, caret and
 * all.
 */
static void give_syntax_error_text(const char *src)
{
    PyObject *type, *exc, *tb, *text = NULL;
    long line;
    const char *p = src, *e;

    if (!PyErr_ExceptionMatches(PyExc_SyntaxError))
        return;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc != NULL && (text = PyObject_GetAttrString(exc, "text")) != NULL &&
        text == Py_None && (line = long_attr(exc, "lineno")) > 0) {
        for (; line > 1 && p != NULL; line--)
            p = (p = strchr(p, '\n')) != NULL ? p + 1 : NULL;
        if (p != NULL) {
            PyObject *t;
            e = strchr(p, '\n');
            t = PyUnicode_DecodeUTF8(p, e ? e - p + 1 : (Py_ssize_t)strlen(p),
                                     "replace");
            if (t == NULL || PyObject_SetAttrString(exc, "text", t) < 0)
                PyErr_Clear();
            Py_XDECREF(t);
        }
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(text);
    PyErr_Restore(type, exc, tb);
}

/* Does the cell make functions, classes or generators, whose source may
 * be asked for (inspect.getsource, a traceback) after the cell? */
static int defines_code(PyObject *code)
{
    PyObject *consts = ((PyCodeObject *)code)->co_consts;
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(consts); i++)
        if (PyCode_Check(PyTuple_GET_ITEM(consts, i)))
            return 1;
    return 0;
}

/* Compiles the part of a cell after its bytes were checked into c.  buf
 * is a NUL-terminated copy the magic may blank its line in. */
static void compile_checked(aa_session *s, char *buf, size_t len, aa__cell *c)
{
    size_t eol = 0;
    int m = aa__magic_try(s, buf, len, &eol);

    if (m < 0) {
        aa__result_from_exception(c, c->r, AA__PHASE_RUN);
        return;
    }
    if (m > 0) {
        /* Keep the line, blanked, so that line numbers stay the user's. */
        memset(buf, ' ', eol);
        if (strspn(buf, " \t\r\n\f") == len)
            return;
    }
    c->code = aa__cell_compile(s, buf, len, c->file, &c->d);
    if (c->code == NULL) {
        give_syntax_error_text(buf);
        aa__result_from_exception(c, c->r, AA__PHASE_COMPILE);
        return;
    }
    c->defines = defines_code(c->code);
    c->is_async = (((PyCodeObject *)c->code)->co_flags & CO_COROUTINE) != 0;
    if (aa__sources_add(c->file, buf, len, c->defines) < 0)
        PyErr_Clear(); /* a traceback without source lines is still one */
}

/*
 * Takes one cell of s as far as its code: named by path when one is given
 * (a script run as a cell) or else by its own number, its bytes checked,
 * its magic run, compiled.  Returns 1 with c->code to run, or 0 when the
 * cell ends here (a magic, a syntax error: c->r says how).
 */
int aa__cell_prepare(aa_session *s, const char *src, size_t len,
                     const char *path, aa__cell *c)
{
    char *buf;

    c->r->status = AA_OK;
    ++s->cells;
    c->file = path != NULL ? PyUnicode_DecodeFSDefault(path)
                           : aa__cell_filename(s, s->cells);
    if (c->file == NULL) {
        PyErr_Clear();
        aa__result_fail(c->r, AA_EPYTHON, "cannot prepare the cell");
        return 0;
    }
    if (check_bytes(src, len) < 0) {
        aa__result_from_exception(c, c->r, AA__PHASE_COMPILE);
    } else if ((buf = malloc(len + 1)) == NULL) {
        aa__result_fail(c->r, AA_ENOMEM, "out of memory copying the cell");
    } else {
        memcpy(buf, src, len);
        buf[len] = '\0';
        compile_checked(s, buf, len, c);
        free(buf);
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    return c->code != NULL;
}

/*
 * Ends c, however it went: nothing the cell made can point at its lines
 * once it ended well, so a long session keeps the sources of its
 * functions and failures only.  Drops what c holds.
 */
void aa__cell_release(aa__cell *c)
{
    if (c->file != NULL && !c->defines && c->r != NULL && c->r->status == AA_OK)
        aa__sources_drop(c->file);
    aa__sources_flush();
    Py_CLEAR(c->code);
    Py_CLEAR(c->file);
    Py_CLEAR(c->d.constant);
    Py_CLEAR(c->value);
    Py_CLEAR(c->exc);
    Py_CLEAR(c->escaped);
}
