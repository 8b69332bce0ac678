/*
 * imports.c -- the modules the library imports for itself, out of reach of
 * the folders user code puts in front of sys.path.
 *
 * A console puts '' (or a script's folder) first on sys.path, as python3
 * does, and the library imports traceback, linecache, asyncio, ... only
 * when first needed, which is after that: a traceback.py in the current
 * folder would run at the first exception, where `python3 -c '1/0'` runs
 * nothing.  So every import the library and its runners make on their own
 * behalf runs inside a window opened by aa__own_begin and closed by
 * aa__own_end (counted, per thread).  In it, a finder placed just before
 * importlib's PathFinder in sys.meta_path answers each top-level import
 * from the trusted path: sys.path as the library first found it, cut of
 * what stood in front of the interpreter's own search path ('' or the
 * script's folder of python3, what a host inserted first) and of relative
 * entries.  Every module the imported one imports in turn, lazily included,
 * comes from there too, as long as the window is open.  A standard-library
 * name the trusted path lacks is ModuleNotFoundError (a platform without
 * it); any other name (a runner's library installed in a folder a cell
 * added) is then looked up the normal way, as `import trio` would.
 *
 * Outside a window, and on every other thread (an import may give the GIL
 * away midway), the finder answers nothing: a cell's own imports follow
 * sys.path, as in python3.  A module already in sys.modules is used as it
 * is: whoever imported it first chose it.  Which calls open a window is
 * the business of their files; a cell's own code never runs in one.
 */
#include "internal.h"
#include "pyversion.h"

static PyTypeObject finder_type;
static PyObject *finder;    /* the one instance, in sys.meta_path */
static PyObject *path_cls;  /* importlib's PathFinder */
static PyObject *find_spec; /* PathFinder.find_spec */
static PyObject *trusted;   /* a list: the trusted path */
static PyObject *stdlib;    /* sys.stdlib_module_names */
static int ready;

static _Thread_local int depth; /* windows open on this thread */

/*
 * The index of the interpreter's own first search path in path, or 0
 * when it is not there (the host set a path of its own).  sys.path is the
 * path the interpreter computed at its start (pyversion.c knows where each
 * CPython keeps it) after whatever was put in front of it.
 */
static Py_ssize_t own_start(PyObject *path)
{
    PyObject *first = aa__py_search_path_first();
    Py_ssize_t i, n = PyList_GET_SIZE(path);

    if (first == NULL)
        return 0;
    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(path, i);
        if (PyUnicode_Check(item) && PyUnicode_Compare(item, first) == 0)
            break;
    }
    Py_DECREF(first);
    PyErr_Clear();
    return i < n ? i : 0;
}

/* The trusted path, a new list: the absolute entries of sys.path from the
 * interpreter's own first one on. */
static PyObject *take_trusted(void)
{
    PyObject *path = PySys_GetObject("path"), *list = PyList_New(0);
    Py_ssize_t i;

    if (list == NULL || path == NULL || !PyList_Check(path))
        return list;
    for (i = own_start(path); i < PyList_GET_SIZE(path); i++) {
        PyObject *item = PyList_GET_ITEM(path, i);
        const char *p = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (p == NULL)
            PyErr_Clear();
        else if (p[0] == '/' && PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        if (list == NULL)
            break;
    }
    return list;
}

/*
 * Keeps the finder in sys.meta_path just before PathFinder (at its end
 * when there is none), where user code may have moved it from.  -1 with an
 * exception set when it cannot.
 */
static int place_finder(void)
{
    PyObject *meta = PySys_GetObject("meta_path");
    Py_ssize_t i, ours = -1, path = -1;

    if (meta == NULL || !PyList_Check(meta))
        return 0; /* no meta_path, no import: nothing to guard */
    for (i = 0; i < PyList_GET_SIZE(meta); i++) {
        PyObject *item = PyList_GET_ITEM(meta, i);
        if (item == finder && ours < 0)
            ours = i;
        else if (item == path_cls && path < 0)
            path = i;
    }
    if (ours >= 0 && (path < 0 || ours < path))
        return 0;
    if (ours >= 0 && PySequence_DelItem(meta, ours) < 0)
        return -1;
    return PyList_Insert(meta, path >= 0 ? path : PyList_GET_SIZE(meta),
                         finder);
}

/*
 * find_spec(name, path, target=None): None outside a window and for a
 * submodule (its package's __path__ decides); else the spec the trusted
 * path gives.
 */
static PyObject *finder_find_spec(PyObject *self, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    PyObject *spec, *msg;
    int known;

    (void)self;
    if (depth == 0 || nargs < 2 || args[1] != Py_None ||
        !PyUnicode_Check(args[0]))
        Py_RETURN_NONE;
    spec = PyObject_CallFunctionObjArgs(find_spec, args[0], trusted, NULL);
    if (spec != Py_None)
        return spec;
    Py_DECREF(spec);
    known = PySet_Contains(stdlib, args[0]);
    if (known < 0)
        return NULL;
    if (known == 0)
        Py_RETURN_NONE;
    msg = PyUnicode_FromFormat("No module named %R", args[0]);
    if (msg != NULL) {
        PyErr_SetImportErrorSubclass(PyExc_ModuleNotFoundError, msg, args[0],
                                     NULL);
        Py_DECREF(msg);
    }
    return NULL;
}

static PyMethodDef finder_methods[] = {
    {"find_spec", (PyCFunction)(void (*)(void))finder_find_spec, METH_FASTCALL,
     "The spec of a module the library imports for itself."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject finder_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "autoawait._OwnImports",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Finds the modules libautoawait imports for itself on "
              "sys.path as the interpreter set it up; finds nothing for "
              "any other import.",
    .tp_methods = finder_methods,
};

/*
 * Takes the trusted path and places the finder, once: at the library's
 * first call, before any cell has run (right after Py_Initialize when the
 * library starts the interpreter).  The GIL is held.  On failure the
 * library's imports are plain imports.
 */
void aa__imports_init(void)
{
    PyObject *name, *ext = NULL;

    if (ready)
        return;
    ready = 1;
    /* Loaded with the interpreter, always: no import. */
    name = PyUnicode_FromString("_frozen_importlib_external");
    if (name != NULL)
        ext = PyImport_GetModule(name);
    Py_XDECREF(name);
    path_cls = ext != NULL ? PyObject_GetAttrString(ext, "PathFinder") : NULL;
    Py_XDECREF(ext);
    find_spec =
        path_cls != NULL ? PyObject_GetAttrString(path_cls, "find_spec") : NULL;
    stdlib = PySys_GetObject("stdlib_module_names");
    Py_XINCREF(stdlib);
    trusted = find_spec != NULL ? take_trusted() : NULL;
    if (trusted != NULL && stdlib != NULL && PyAnySet_Check(stdlib) &&
        PyType_Ready(&finder_type) == 0 &&
        (finder = PyType_GenericAlloc(&finder_type, 0)) != NULL &&
        place_finder() == 0)
        return;
    Py_CLEAR(finder);
    Py_CLEAR(trusted);
    Py_CLEAR(find_spec);
    Py_CLEAR(path_cls);
    Py_CLEAR(stdlib);
    PyErr_Clear();
}

void aa__own_begin(void)
{
    if (depth++ == 0 && finder != NULL && place_finder() < 0)
        PyErr_Clear();
}

void aa__own_end(void)
{
    depth--;
}

PyObject *aa__import(const char *name)
{
    PyObject *mod;

    aa__own_begin();
    mod = PyImport_ImportModule(name);
    aa__own_end();
    return mod;
}

PyObject *aa__own_call(PyObject *(*fn)(void *arg), void *arg)
{
    PyObject *r;

    aa__own_begin();
    r = fn(arg);
    aa__own_end();
    return r;
}

/* own(fn, *args): fn(*args) inside a window. */
static PyObject *own(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *r;

    (void)self;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "own(fn, *args)");
        return NULL;
    }
    aa__own_begin();
    r = PyObject_Vectorcall(args[0], args + 1, (size_t)(nargs - 1), NULL);
    aa__own_end();
    return r;
}

static PyMethodDef own_def = {"own", (PyCFunction)(void (*)(void))own,
                              METH_FASTCALL,
                              "own(fn, *args): fn(*args), whose imports are "
                              "the library's own."};

PyObject *aa__own_function(void)
{
    return PyCFunction_New(&own_def, NULL);
}

/* aa__own_source's source and where it runs. */
typedef struct {
    const char *source, *name;
    PyObject *globals;
} own_source;

static PyObject *run_own_source(void *arg)
{
    own_source *o = arg;
    PyObject *code = Py_CompileString(o->source, o->name, Py_file_input);
    PyObject *r =
        code != NULL ? PyEval_EvalCode(code, o->globals, o->globals) : NULL;

    Py_XDECREF(code);
    return r;
}

/*
 * Runs source, one of the library's helpers written in Python (compiled as
 * the file name), in a dict of its own with __builtins__ and _own
 * (aa__own_function), inside a window: its imports are the library's.
 * Returns the dict, a new reference, or NULL with an exception set.
 */
PyObject *aa__own_source(const char *source, const char *name)
{
    own_source o = {source, name, PyDict_New()};
    PyObject *own = NULL, *r = NULL;

    if (o.globals != NULL && (own = aa__own_function()) != NULL &&
        PyDict_SetItemString(o.globals, "__builtins__", PyEval_GetBuiltins()) ==
            0 &&
        PyDict_SetItemString(o.globals, "_own", own) == 0)
        r = aa__own_call(run_own_source, &o);
    Py_XDECREF(own);
    if (r == NULL)
        Py_CLEAR(o.globals);
    Py_XDECREF(r);
    return o.globals;
}

/* builtins.__dict__, borrowed (the library keeps it), or NULL with an
 * exception set. */
PyObject *aa__builtins_dict(void)
{
    static PyObject *builtins;

    if (builtins == NULL) {
        PyObject *mod = aa__import("builtins");

        builtins = mod != NULL ? PyModule_GetDict(mod) : NULL;
        Py_XINCREF(builtins);
        Py_XDECREF(mod);
    }
    return builtins;
}
