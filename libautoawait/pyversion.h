/*
 * pyversion.h -- the one place that knows which CPython it is built against.
 *
 * libautoawait supports CPython 3.11, 3.12 and 3.13 (docs/python-versions.md).
 * Everything the project does that is not CPython's public API, or that
 * differs between those versions, is in pyversion.c behind the functions
 * below; no other C file names a private CPython symbol (_Py*), includes an
 * internal or opcode header, reads bytecode, or tests PY_VERSION_HEX
 * (tests/python/private_api.sh checks it).  pyversion.c uses nothing but
 * CPython's headers, so it is compiled into the library and into each runner
 * plugin alike (hidden in both): a plugin cannot call the library's hidden
 * functions, and a second copy of a version fact would drift.
 *
 * The facts, each with the versions it holds for and why it is used:
 *
 * 1. Bytecode, 3.11 to 3.13 (aa__py_return_last_value,
 *    aa__py_code_constant).  Module code whose last statement is an
 *    expression ends every exit with POP_TOP and a return of None: 3.11
 *    LOAD_CONST None, RETURN_VALUE; 3.12 and 3.13 RETURN_CONST None.  An
 *    expression that is only a constant compiles, in eval mode, to RESUME
 *    and such a return of it.  The opcodes' numbers come from opcode.h and
 *    differ in each version.  Turning those POP_TOPs into RETURN_VALUE lets
 *    a cell be compiled from its source, skipping the ast module (the fast
 *    path of cell.c), and makes its code, or its coroutine, return the
 *    value: a runner gets the cell's value back from the coroutine it ran.
 *    3.11 rewrites the code's own instructions (the private _PyCode_CODE),
 *    which hold co_code's bytes until the code first runs: a copy would
 *    cost a displayed cell a tenth of its time.  3.12 and 3.13 fill inline
 *    caches when a code object is made and keep a copy of co_code, so the
 *    bytecode is read from co_code (public) and a copy made with
 *    code.replace().  Other versions answer "not done", and cell.c takes
 *    its other way, through the tree, which every version has.
 *
 * 2. The interpreter's own module search path (aa__py_search_path_first):
 *    what PYTHONPATH and the installation gave, before anything was put in
 *    front of it on sys.path.  3.11 to 3.14 keep it for Py_GetPath()
 *    (public; deprecated in 3.13, removed in 3.15); 3.14 adds the public
 *    PyConfig_Get("module_search_paths"), used from there on.  The library
 *    used to read it with the private _Py_GetConfig(), gone from 3.13's
 *    public headers.
 *
 * 3. Whether this thread is the one CPython runs signal handlers on
 *    (aa__py_is_main_thread): the main thread of the main interpreter,
 *    which alone may call signal.signal.  3.11 and 3.12 answer it with the
 *    private _PyOS_IsMainThread(), declared in their intrcheck.h; 3.13 moved
 *    it to an internal header, and threading.main_thread() (public) is the
 *    runtime's main thread from 3.13 on (before, it is whichever thread
 *    first imported threading, so it cannot be used there).
 *
 * 4. The CPython the library is built against (AA__PY_HEXVERSION): what the
 *    table of library calls tells a plugin (aa_runner_host.python_hexversion)
 *    and what a runner's aa_runner.python_version must match in major.minor
 *    (runner.c).  Every version; a fact of the build, not a guard.
 *
 * Free-threaded builds (Py_GIL_DISABLED, "3.13t") are refused when the
 * build is configured (cmake/python.cmake): the library relies on the GIL
 * throughout.
 */
#ifndef AA_PYVERSION_H
#define AA_PYVERSION_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/*
 * code, a module's code object whose last statement is an expression
 * starting at (line, col) (lines from 1, columns in bytes from 0), made to
 * return that expression's value instead of None: a new code object, or
 * NULL when that cannot be done safely (an exit that is not the last
 * expression's, the expression folded away by the optimizer) or not on this
 * CPython.  Never sets an exception; code is left as it is.
 */
PyObject *aa__py_return_last_value(PyObject *code, int line, int col);

/* 1 when aa__py_return_last_value can be done on this CPython at all. */
#define AA__PY_RETURNS_LAST_VALUE (PY_VERSION_HEX < 0x030E0000)

/*
 * The constant code, an expression compiled in eval mode, is made of and
 * returns, without running it (a new reference); NULL, with no exception
 * set, when the code does more than return a constant, or not on this
 * CPython.
 */
PyObject *aa__py_code_constant(PyObject *code);

/*
 * The first entry of the module search path the interpreter computed when
 * it started (a new str), before whatever a program or host put in front of
 * it on sys.path; NULL, with no exception set, when it has none or it
 * cannot be told.
 */
PyObject *aa__py_search_path_first(void);

/*
 * 1 when the calling thread is the main thread of the main interpreter (the
 * one that may set signal handlers), 0 when not, -1 with an exception set.
 * threading is the threading module, imported the caller's way: 3.13 asks
 * it.  The GIL is held.
 */
int aa__py_is_main_thread(PyObject *threading);

/* PY_VERSION_HEX of the CPython the library is built against. */
#define AA__PY_HEXVERSION ((unsigned long)PY_VERSION_HEX)

#endif
