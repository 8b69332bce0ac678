/*
 * pyversion.c -- the code that differs between the CPythons libautoawait
 * supports, and the only use of CPython's private API.
 *
 * pyversion.h lists each fact and the versions it holds for.  This file
 * uses nothing but CPython's headers: it is compiled into the library and
 * into every runner plugin.  Code here stays small: what a version changes,
 * not what the library does with it.
 */
#include "pyversion.h"

#if PY_VERSION_HEX < 0x030B0000
#error "libautoawait needs CPython 3.11 or later"
#endif
#ifdef Py_GIL_DISABLED
#error "libautoawait needs the GIL: free-threaded CPython is not supported"
#endif

#include <opcode.h> /* the opcodes' numbers, which differ in each version */
#include <wchar.h>

/* ---------------------------------------------------------------- bytecode */

/*
 * How module code ends an exit after an expression statement: POP_TOP and
 * then, in 3.11, LOAD_CONST None, RETURN_VALUE (EXIT_UNITS 3), in 3.12 and
 * 3.13 RETURN_CONST None (2).  A constant expression compiled in eval mode
 * is RESUME and that return, of the constant instead of None: EXIT_UNITS
 * units in all.
 */
#if PY_VERSION_HEX < 0x030C0000
#define EXIT_UNITS 3
#elif PY_VERSION_HEX < 0x030E0000
#define EXIT_UNITS 2
#else
#define EXIT_UNITS 0 /* not known here yet */
#endif

/* The index into co_consts of the constant the return at unit i returns
 * (its LOAD_CONST's, in 3.11), or -1 when unit i is no return of a
 * constant.  u is bytecode as co_code holds it: the opcode and argument
 * byte of each unit. */
static Py_ssize_t returned_const(const unsigned char *u, Py_ssize_t i)
{
#if EXIT_UNITS == 3
    if (u[2 * i] == RETURN_VALUE && i >= 1 && u[2 * (i - 1)] == LOAD_CONST)
        return u[2 * (i - 1) + 1];
#elif EXIT_UNITS == 2
    if (u[2 * i] == RETURN_CONST)
        return u[2 * i + 1];
#else
    (void)u;
    (void)i;
#endif
    return -1;
}

#if EXIT_UNITS > 0
/* Is unit i a return of any kind? */
static int is_return(const unsigned char *u, Py_ssize_t i)
{
#ifdef RETURN_CONST
    if (u[2 * i] == RETURN_CONST)
        return 1;
#endif
    return u[2 * i] == RETURN_VALUE;
}

/*
 * The number of exits of module code u (n units of opcode and argument
 * bytes, inline caches zeroed) that end the last statement's expression,
 * or 0 when some exit does not: every return must end POP_TOP, return
 * None, with the POP_TOP at or after (line, col).  Otherwise the POP_TOP
 * before an exit is an earlier statement's, the last expression having been
 * folded into a constant and dropped.  A return of a constant whose index
 * is past 255 comes after an EXTENDED_ARG, not POP_TOP, and is refused like
 * any other shape.
 */
static Py_ssize_t last_value_exits(PyCodeObject *co, const unsigned char *u,
                                   Py_ssize_t n, int line, int col)
{
    Py_ssize_t i, k, pop, exits = 0;
    int l, c, el, ec;

    for (i = 0; i < n; i++) {
        if (!is_return(u, i))
            continue;
        pop = i - (EXIT_UNITS - 1);
        k = returned_const(u, i);
        if (k < 0 || pop < 0 || u[2 * pop] != POP_TOP ||
            k >= PyTuple_GET_SIZE(co->co_consts) ||
            PyTuple_GET_ITEM(co->co_consts, k) != Py_None ||
            !PyCode_Addr2Location(co, (int)(2 * pop), &l, &c, &el, &ec) ||
            l < line || (l == line && c < col))
            return 0;
        exits++;
    }
    return exits;
}

/* Turns the POP_TOP of each exit into RETURN_VALUE, which returns the
 * value POP_TOP would have dropped: stack depth and offsets stay. */
static void return_at_exits(unsigned char *u, Py_ssize_t n)
{
    Py_ssize_t i;

    for (i = EXIT_UNITS - 1; i < n; i++)
        if (is_return(u, i)) {
            u[2 * (i - (EXIT_UNITS - 1))] = RETURN_VALUE;
            u[2 * (i - (EXIT_UNITS - 1)) + 1] = 0;
        }
}
#endif

/*
 * 3.11: rewritten in place, in the code's own instructions, which hold the
 * same opcode and argument bytes as co_code until the code has run a few
 * times (its inline caches are zero until then, and specialization comes
 * later still): this code has not run at all.  It is what a displayed
 * cell's time relies on (a copy costs close to a microsecond of the six).
 * 3.12 and 3.13 fill the caches when the code object is made, and keep a
 * copy of co_code that an in-place change would leave stale: the bytecode
 * is read from co_code (public) and a copy made with code.replace().
 */
PyObject *aa__py_return_last_value(PyObject *code, int line, int col)
{
    PyCodeObject *co = (PyCodeObject *)code;
#if PY_VERSION_HEX < 0x030C0000
    unsigned char *u = (unsigned char *)_PyCode_CODE(co);

    if (last_value_exits(co, u, Py_SIZE(co), line, col) == 0)
        return NULL;
    return_at_exits(u, Py_SIZE(co));
    return Py_NewRef(code);
#elif EXIT_UNITS > 0
    PyObject *bytes, *copy = NULL, *replace = NULL, *kw = NULL, *out = NULL;
    PyObject *empty = NULL;
    Py_ssize_t n;

    if ((bytes = PyCode_GetCode(co)) == NULL)
        goto done;
    n = PyBytes_GET_SIZE(bytes) / 2;
    if (last_value_exits(co, (unsigned char *)PyBytes_AS_STRING(bytes), n, line,
                         col) == 0)
        goto done;
    copy = PyBytes_FromStringAndSize(PyBytes_AS_STRING(bytes), 2 * n);
    if (copy == NULL)
        goto done;
    return_at_exits((unsigned char *)PyBytes_AS_STRING(copy), n);
    replace = PyObject_GetAttrString(code, "replace");
    kw = replace != NULL ? Py_BuildValue("{sO}", "co_code", copy) : NULL;
    empty = kw != NULL ? PyTuple_New(0) : NULL;
    out = empty != NULL ? PyObject_Call(replace, empty, kw) : NULL;
done:
    if (out == NULL)
        PyErr_Clear();
    Py_XDECREF(empty);
    Py_XDECREF(kw);
    Py_XDECREF(replace);
    Py_XDECREF(copy);
    Py_XDECREF(bytes);
    return out;
#else
    (void)co;
    (void)line;
    (void)col;
    return NULL;
#endif
}

PyObject *aa__py_code_constant(PyObject *code)
{
    PyCodeObject *co = (PyCodeObject *)code;
    PyObject *bytes, *value = NULL;
    const unsigned char *u;
    Py_ssize_t k;

    if (EXIT_UNITS == 0 || (bytes = PyCode_GetCode(co)) == NULL) {
        PyErr_Clear();
        return NULL;
    }
    u = (const unsigned char *)PyBytes_AS_STRING(bytes);
    if (PyBytes_GET_SIZE(bytes) == 2 * EXIT_UNITS && u[0] == RESUME &&
        (k = returned_const(u, EXIT_UNITS - 1)) >= 0 &&
        k < PyTuple_GET_SIZE(co->co_consts))
        value = Py_NewRef(PyTuple_GET_ITEM(co->co_consts, k));
    Py_DECREF(bytes);
    return value;
}

/* ------------------------------------------------------ the search path */

PyObject *aa__py_search_path_first(void)
{
    PyObject *first = NULL;
#if PY_VERSION_HEX < 0x030E0000
    /* Py_GetPath() joins the entries with ':' (osdefs.h's DELIM on POSIX):
     * an entry with a ':'
     * of its own is cut there, and then matches no entry of sys.path,
     * which is the answer for a path that cannot be told. */
#if PY_VERSION_HEX >= 0x030D0000
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    const wchar_t *path = Py_GetPath();
#if PY_VERSION_HEX >= 0x030D0000
#pragma GCC diagnostic pop
#endif
    const wchar_t *end;

    if (path == NULL || path[0] == L'\0')
        return NULL;
    end = wcschr(path, L':');
    first = PyUnicode_FromWideChar(path, end != NULL ? (Py_ssize_t)(end - path)
                                                     : (Py_ssize_t)-1);
#else
    PyObject *paths = PyConfig_Get("module_search_paths");

    if (paths != NULL && PyList_Check(paths) && PyList_GET_SIZE(paths) > 0 &&
        PyUnicode_Check(PyList_GET_ITEM(paths, 0)))
        first = Py_NewRef(PyList_GET_ITEM(paths, 0));
    Py_XDECREF(paths);
#endif
    if (first == NULL)
        PyErr_Clear();
    return first;
}

/* ---------------------------------------------------------- main thread */

int aa__py_is_main_thread(PyObject *threading)
{
#if PY_VERSION_HEX < 0x030D0000
    (void)threading;
    return _PyOS_IsMainThread();
#else
    /* From 3.13 threading.main_thread() is the runtime's main thread
     * whoever imported threading first.  Idents are compared, as
     * current_thread() would make a dummy Thread for a thread threading
     * did not start. */
    PyObject *main, *ident = NULL, *current = NULL;
    int rc = -1;

    if (PyInterpreterState_Get() != PyInterpreterState_Main())
        return 0;
    main = PyObject_CallMethod(threading, "main_thread", NULL);
    if (main != NULL)
        ident = PyObject_GetAttrString(main, "ident");
    if (ident != NULL)
        current = PyObject_CallMethod(threading, "get_ident", NULL);
    if (current != NULL)
        rc = PyObject_RichCompareBool(ident, current, Py_EQ);
    Py_XDECREF(current);
    Py_XDECREF(ident);
    Py_XDECREF(main);
    return rc;
#endif
}
