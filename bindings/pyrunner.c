/*
 * pyrunner.c -- a Python callable made into a C runner with libffi.
 *
 * IPython's loop runner is any callable taking a coroutine.  Here such a
 * callable becomes a genuine aa_runner: its run entry is an ffi closure, a
 * C function pointer made at run time that carries the callable with it,
 * so the library dispatches it like any plugin's run.  The closure calls
 * fn(coro) inside the session's contextvars.Context, so that context
 * variables the session set are seen by the runner and the cell.
 * Registration is the library's business (registry.c, pymodule.c).
 */
#include "pyrunner.h"

#include <ffi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct aa_pyrunner {
    aa_runner vt;
    char name[64];
    PyObject *fn;
    ffi_closure *closure;
    ffi_cif cif;
    ffi_type *args[3];
};

/* The closure's body: *(PyObject **)ret = context.run(fn, coro). */
static void call_python(ffi_cif *cif, void *ret, void **args, void *data)
{
    aa_pyrunner *p = data;
    PyObject *coro = *(PyObject **)args[1];
    PyObject *context = *(PyObject **)args[2];
    PyObject *result;

    (void)cif;
    if (context != NULL && PyContext_CheckExact(context))
        result = PyObject_CallMethod(context, "run", "OO", p->fn, coro);
    else
        result = PyObject_CallOneArg(p->fn, coro);
    *(PyObject **)ret = result;
}

/* The state of every session is the pyrunner itself: it has no other. */
static int open_state(void *userdata, void **state)
{
    *state = userdata;
    return 0;
}

aa_pyrunner *aa__pyrunner_new(const char *name, PyObject *fn)
{
    aa_runner init = AA_RUNNER_INIT;
    aa_pyrunner *p;
    void *code = NULL;

    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "runner '%s' is not callable: %R", name,
                     fn);
        return NULL;
    }
    if ((p = calloc(1, sizeof *p)) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    p->args[0] = p->args[1] = p->args[2] = &ffi_type_pointer;
    if (ffi_prep_cif(&p->cif, FFI_DEFAULT_ABI, 3, &ffi_type_pointer, p->args) !=
            FFI_OK ||
        (p->closure = ffi_closure_alloc(sizeof(ffi_closure), &code)) == NULL ||
        ffi_prep_closure_loc(p->closure, &p->cif, call_python, p, code) !=
            FFI_OK) {
        if (p->closure != NULL)
            ffi_closure_free(p->closure);
        free(p);
        PyErr_SetString(PyExc_MemoryError, "cannot make an ffi closure");
        return NULL;
    }
    p->vt = init;
    p->vt.name = p->name;
    p->vt.open = open_state;
    /* The one conversion ISO C leaves to the platform: libffi hands the
     * closure's entry point back as a data pointer. */
    memcpy(&p->vt.run, &code, sizeof code);
    Py_INCREF(fn);
    p->fn = fn;
    return p;
}

const aa_runner *aa__pyrunner_vtable(const aa_pyrunner *p)
{
    return &p->vt;
}

PyObject *aa__pyrunner_callable(const aa_pyrunner *p)
{
    return p->fn;
}

void aa__pyrunner_free(aa_pyrunner *p)
{
    if (p == NULL)
        return;
    ffi_closure_free(p->closure);
    Py_XDECREF(p->fn);
    free(p);
}
