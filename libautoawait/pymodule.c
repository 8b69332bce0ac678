/*
 * pymodule.c -- the `autoawait` Python module: a session seen from its cells.
 *
 * Importable in every session, it acts on the session whose cell is running
 * on the calling thread: runner() and set_runner(), register_runner() (a
 * callable made a process-wide runner through the bindings),
 * ast_transformers (the session's list, applied by cell.c to every cell),
 * and Session, a nested session whose exec() hands back the displayed value
 * or raises the cell's exception: the building block of an embed().  It
 * holds no state of its own beyond the module object; sessions own theirs.
 */
#include "internal.h"

#include "pyrunner.h"

#include <stdio.h>
#include <string.h>

static PyObject *module; /* the module, once made */

static aa_session *need_session(const char *what)
{
    aa_session *s = aa__current_session();

    if (s == NULL)
        PyErr_Format(PyExc_RuntimeError,
                     "autoawait.%s works only inside a cell of a "
                     "libautoawait session",
                     what);
    return s;
}

static PyObject *m_runner(PyObject *self, PyObject *unused)
{
    aa_session *s = need_session("runner()");

    (void)self;
    (void)unused;
    return s != NULL ? PyUnicode_FromString(aa_session_runner(s)) : NULL;
}

/* set_runner(name or callable): as %autoawait NAME, without touching the
 * autoawait switch. */
static PyObject *m_set_runner(PyObject *self, PyObject *arg)
{
    aa_session *s = need_session("set_runner()");
    PyObject *name;
    const char *text;
    int rc;

    (void)self;
    if (s == NULL)
        return NULL;
    if (PyUnicode_Check(arg)) {
        text = PyUnicode_AsUTF8(arg);
        rc = text != NULL ? aa__session_choose_runner(s, text) : -1;
    } else if (PyCallable_Check(arg)) {
        name = PyObject_GetAttrString(arg, "__name__");
        if (name == NULL || !PyUnicode_Check(name)) {
            PyErr_Clear();
            Py_XDECREF(name);
            name = PyUnicode_FromString("callable");
        }
        text = name != NULL ? PyUnicode_AsUTF8(name) : NULL;
        if (name != NULL && text == NULL) {
            PyErr_Clear(); /* a name with no UTF-8 (a lone surrogate) */
            text = "callable";
        }
        rc = text != NULL ? aa__session_use_callable(s, text, arg) : -1;
        Py_XDECREF(name);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "set_runner() takes a runner name or a callable, not "
                     "%.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* register_runner(name, fn): every session of the process may then choose
 * fn by name, exactly as it would a plugin. */
static PyObject *m_register_runner(PyObject *self, PyObject *args)
{
    const char *name;
    PyObject *fn;
    aa_pyrunner *p;
    char err[AA__ERRMSG_SIZE];
    int rc;

    (void)self;
    if (!PyArg_ParseTuple(args, "sO:register_runner", &name, &fn))
        return NULL;
    if (!aa__runner_name_ok(name)) {
        PyErr_Format(PyExc_ValueError,
                     "register_runner: '%s' is not a runner name "
                     "([a-z0-9_]+)",
                     name);
        return NULL;
    }
    if ((p = aa__pyrunner_new(name, fn)) == NULL)
        return NULL;
    rc = aa__registry_add(name, aa__pyrunner_vtable(p), p, err, sizeof err);
    if (rc != AA_OK) {
        aa__pyrunner_free(p);
        PyErr_Format(PyExc_ValueError, "register_runner: %s", err);
        return NULL;
    }
    /* The registry keeps runners for the life of the process: so does p. */
    Py_RETURN_NONE;
}

static PyObject *m_getattr(PyObject *self, PyObject *name)
{
    aa_session *s;

    (void)self;
    if (PyUnicode_Check(name) &&
        PyUnicode_CompareWithASCIIString(name, "ast_transformers") == 0) {
        s = need_session("ast_transformers");
        if (s == NULL)
            return NULL;
        Py_INCREF(s->transformers);
        return s->transformers;
    }
    return PyErr_Format(PyExc_AttributeError,
                        "module 'autoawait' has no attribute '%U'", name);
}

/* ---------------------------------------------------------------- Session */

typedef struct {
    PyObject_HEAD aa_session *s;
} session_object;

static aa_session *open_session(session_object *self)
{
    if (self->s == NULL)
        PyErr_SetString(PyExc_ValueError, "the session is closed");
    return self->s;
}

/* The runner a nested session starts with: the running session's, when it
 * is one any session may name (not a callable of its namespace). */
static const char *inherited_runner(void)
{
    aa_session *outer = aa__current_session();

    if (outer != NULL && outer->runner != NULL && outer->runner->owned == NULL)
        return outer->runner->entry->name;
    return "asyncio";
}

static int session_init(PyObject *op, PyObject *args, PyObject *kw)
{
    static char *names[] = {"runner", "autoawait", NULL};
    session_object *self = (session_object *)op;
    const char *runner = NULL;
    int autoawait = 1, rc;
    aa_options o;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zp:Session", names, &runner,
                                     &autoawait))
        return -1;
    if (self->s != NULL)
        return 0;
    aa_options_init(&o);
    o.autoawait = autoawait;
    o.runner = runner != NULL ? runner : inherited_runner();
    rc = aa_session_new(&self->s, &o);
    if (rc != AA_OK) {
        PyErr_Format(PyExc_RuntimeError, "cannot make a session: %s",
                     aa_errmsg());
        return -1;
    }
    return 0;
}

static void session_dealloc(PyObject *op)
{
    session_object *self = (session_object *)op;
    PyTypeObject *type = Py_TYPE(op);

    aa_session_free(self->s);
    self->s = NULL;
    type->tp_free(op);
}

/* Runs the cell and answers what it displayed, or raises what it raised. */
static PyObject *session_exec(PyObject *op, PyObject *arg)
{
    aa_session *s = open_session((session_object *)op);
    aa_result r = {0};
    aa__cell c = {0};
    PyObject *value = NULL;
    const char *src;
    Py_ssize_t n;

    if (s == NULL)
        return NULL;
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError,
                            "exec() takes the cell's source as a str");
    if ((src = PyUnicode_AsUTF8AndSize(arg, &n)) == NULL)
        return NULL;
    c.r = &r;
    c.capture = 1;
    aa__session_exec(s, src, (size_t)n, NULL, &c);
    if (r.status == AA_OK) {
        value = c.value != NULL ? c.value : Py_None;
        Py_INCREF(value);
    } else if (r.status > 0 && c.exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(c.exc), c.exc);
    } else {
        PyErr_Format(PyExc_RuntimeError, "%s",
                     r.message != NULL ? r.message : aa_strerror(r.status));
    }
    aa__cell_release(&c);
    free(r.repr);
    free(r.exception);
    free(r.message);
    free(r.traceback);
    return value;
}

static PyObject *session_close(PyObject *op, PyObject *unused)
{
    session_object *self = (session_object *)op;

    (void)unused;
    if (self->s != NULL && self->s->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a session cannot close while its cell runs");
        return NULL;
    }
    aa_session_free(self->s);
    self->s = NULL;
    Py_RETURN_NONE;
}

static PyObject *session_enter(PyObject *op, PyObject *unused)
{
    (void)unused;
    if (open_session((session_object *)op) == NULL)
        return NULL;
    Py_INCREF(op);
    return op;
}

static PyObject *session_exit(PyObject *op, PyObject *args)
{
    (void)args;
    return session_close(op, NULL);
}

static PyObject *session_get_runner(PyObject *op, void *unused)
{
    aa_session *s = open_session((session_object *)op);

    (void)unused;
    return s != NULL ? PyUnicode_FromString(aa_session_runner(s)) : NULL;
}

static PyObject *session_get_autoawait(PyObject *op, void *unused)
{
    aa_session *s = open_session((session_object *)op);

    (void)unused;
    return s != NULL ? PyBool_FromLong(s->autoawait) : NULL;
}

static int session_set_autoawait(PyObject *op, PyObject *v, void *unused)
{
    aa_session *s = open_session((session_object *)op);
    int on = v != NULL ? PyObject_IsTrue(v) : -1;

    (void)unused;
    if (s == NULL || on < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "cannot delete autoawait");
        return -1;
    }
    s->autoawait = on;
    return 0;
}

static PyMethodDef session_methods[] = {
    {"exec", session_exec, METH_O,
     "exec(source) -> the displayed value, or raises the cell's exception"},
    {"close", session_close, METH_NOARGS, "close() -> frees the session"},
    {"__enter__", session_enter, METH_NOARGS, NULL},
    {"__exit__", session_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef session_getset[] = {
    {"runner", session_get_runner, NULL, "the session's runner", NULL},
    {"autoawait", session_get_autoawait, session_set_autoawait,
     "whether top-level await is on", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* A static type: its slots are function pointers, which a PyType_Spec
 * would carry as void * (something ISO C does not allow). */
static PyTypeObject session_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "autoawait.Session",
    .tp_basicsize = sizeof(session_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Session(runner=None, autoawait=True): a nested session",
    .tp_init = session_init,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = session_dealloc,
    .tp_methods = session_methods,
    .tp_getset = session_getset,
};

/* ----------------------------------------------------------------- module */

/* import_trusted(name): the module, imported as the library imports its
 * own (imports.c), for consoles and tools whose helpers run in cells. */
static PyObject *m_import_trusted(PyObject *self, PyObject *name)
{
    PyObject *mod;

    (void)self;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError,
                     "import_trusted() takes a module name, not %.100s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    aa__own_begin();
    mod = PyImport_Import(name);
    aa__own_end();
    return mod;
}

static PyMethodDef module_methods[] = {
    {"runner", m_runner, METH_NOARGS,
     "runner() -> the name of the session's runner"},
    {"set_runner", m_set_runner, METH_O,
     "set_runner(name or callable): switch the session's runner"},
    {"register_runner", m_register_runner, METH_VARARGS,
     "register_runner(name, fn): make fn(coro) a runner of every session"},
    {"import_trusted", m_import_trusted, METH_O,
     "import_trusted(name): import a module as the library imports its own, "
     "never from a folder put in front of sys.path"},
    {"__getattr__", m_getattr, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "autoawait",
    "The libautoawait session running this code.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *make_module(void)
{
    PyObject *m = PyModule_Create(&module_def), *type;

    if (m == NULL)
        return NULL;
    type = PyType_Ready(&session_type) == 0 ? (PyObject *)&session_type : NULL;
    Py_XINCREF(type);
    if (type == NULL || PyModule_AddObject(m, "Session", type) < 0 ||
        aa__host_types_add(m) < 0 ||
        PyModule_AddStringConstant(m, "__version__", AA_VERSION_STRING) < 0) {
        Py_XDECREF(type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* Makes `import autoawait` work in every session.  The GIL is held. */
int aa__module_install(void)
{
    PyObject *modules = PyImport_GetModuleDict();

    if (module == NULL && (module = make_module()) == NULL)
        return -1;
    if (PyDict_GetItemString(modules, "autoawait") != module &&
        PyDict_SetItemString(modules, "autoawait", module) < 0)
        return -1;
    return 0;
}
