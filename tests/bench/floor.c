/*
 * floor.c -- the raw CPython floor: the least a program must do to run a
 * cell with top-level await, with nothing around it.
 *
 * A cell is compiled once with PyCF_ALLOW_TOP_LEVEL_AWAIT and evaluated in
 * a dict that is both globals and locals; when its code is CO_COROUTINE the
 * coroutine that evaluation gives is run by asyncio's run_until_complete on
 * one loop made once for the whole process, or by one trio.run per cell.
 * No display, no linecache, no traceback cutting, no context, no interrupt:
 * that is what aa_exec adds, and what the ratio charges it for.  Every
 * failure is cleared here (an exception left set would break the next
 * call) and the first one is kept for the report.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bench.h"

#include <stdio.h>
#include <string.h>

struct bench_floor {
    PyObject *ns;
    PyObject *run;     /* run_until_complete of the loop, or trio.run */
    PyObject *wrapper; /* trio: the async function trio.run is handed */
    long errors;
    char error[256];
};

/* Made on first use and kept: the floor's loop is made once, like a
 * session's. */
static PyObject *asyncio_run, *uvloop_run, *trio_run, *trio_wrapper;

static const char asyncio_helpers[] = "import asyncio\n"
                                      "loop = asyncio.new_event_loop()\n"
                                      "run = loop.run_until_complete\n";

static const char uvloop_helpers[] = "import uvloop\n"
                                     "loop = uvloop.new_event_loop()\n"
                                     "run = loop.run_until_complete\n";

static const char trio_helpers[] = "import trio\n"
                                   "run = trio.run\n"
                                   "async def wrapper(coro):\n"
                                   "    return await coro\n";

static void describe_error(char *buf, size_t len)
{
    PyObject *type, *exc, *tb, *str = NULL;
    const char *text = NULL;

    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc != NULL && (str = PyObject_Str(exc)) != NULL)
        text = PyUnicode_AsUTF8(str);
    snprintf(buf, len, "%s: %s", type ? ((PyTypeObject *)type)->tp_name : "?",
             text ? text : "?");
    Py_XDECREF(str);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    PyErr_Clear();
}

/* Runs src in a fresh dict and takes names out of it; 0 or -1. */
static int helpers(const char *src, PyObject **run, PyObject **wrapper,
                   char *why, size_t whylen)
{
    PyObject *d = PyDict_New(), *r = NULL;

    if (d != NULL &&
        PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins()) == 0)
        r = PyRun_String(src, Py_file_input, d, d);
    if (r == NULL) {
        describe_error(why, whylen);
        Py_XDECREF(d);
        return -1;
    }
    Py_DECREF(r);
    *run = PyDict_GetItemString(d, "run");
    Py_XINCREF(*run);
    if (wrapper != NULL) {
        *wrapper = PyDict_GetItemString(d, "wrapper");
        Py_XINCREF(*wrapper);
    }
    Py_DECREF(d);
    return 0;
}

bench_floor *bench_floor_new(const char *runner, char *why, size_t whylen)
{
    bench_floor *f = bench_xmalloc(sizeof *f);
    PyObject *name = NULL;

    memset(f, 0, sizeof *f);
    if (strcmp(runner, "asyncio") == 0) {
        if (asyncio_run == NULL &&
            helpers(asyncio_helpers, &asyncio_run, NULL, why, whylen) < 0)
            goto fail;
        f->run = asyncio_run;
    } else if (strcmp(runner, "uvloop") == 0) {
        if (uvloop_run == NULL &&
            helpers(uvloop_helpers, &uvloop_run, NULL, why, whylen) < 0)
            goto fail;
        f->run = uvloop_run;
    } else if (strcmp(runner, "trio") == 0) {
        if (trio_run == NULL &&
            helpers(trio_helpers, &trio_run, &trio_wrapper, why, whylen) < 0)
            goto fail;
        f->run = trio_run;
        f->wrapper = trio_wrapper;
    } else {
        snprintf(why, whylen, "no floor for runner '%s'", runner);
        goto fail;
    }
    f->ns = PyDict_New();
    name = PyUnicode_FromString("__main__");
    if (f->ns == NULL || name == NULL ||
        PyDict_SetItemString(f->ns, "__name__", name) < 0 ||
        PyDict_SetItemString(f->ns, "__builtins__", PyEval_GetBuiltins()) < 0) {
        describe_error(why, whylen);
        Py_XDECREF(name);
        goto fail;
    }
    Py_DECREF(name);
    return f;
fail:
    bench_floor_free(f);
    return NULL;
}

static int failed(bench_floor *f)
{
    if (f->errors++ == 0)
        describe_error(f->error, sizeof f->error);
    PyErr_Clear();
    return -1;
}

int bench_floor_exec(bench_floor *f, const char *source)
{
    PyCompilerFlags flags = {.cf_flags = PyCF_ALLOW_TOP_LEVEL_AWAIT,
                             .cf_feature_version = PY_MINOR_VERSION};
    PyObject *code, *value, *args[2];

    code =
        Py_CompileStringExFlags(source, "<bench>", Py_file_input, &flags, -1);
    if (code == NULL)
        return failed(f);
    value = PyEval_EvalCode(code, f->ns, f->ns);
    if (value != NULL && (((PyCodeObject *)code)->co_flags & CO_COROUTINE)) {
        PyObject *coro = value;

        if (f->wrapper != NULL) {
            args[0] = f->wrapper;
            args[1] = coro;
            value = PyObject_Vectorcall(f->run, args, 2, NULL);
        } else {
            value = PyObject_CallOneArg(f->run, coro);
        }
        Py_DECREF(coro);
    }
    Py_DECREF(code);
    if (value == NULL)
        return failed(f);
    Py_DECREF(value);
    return 0;
}

const char *bench_floor_error(const bench_floor *f)
{
    return f->errors ? f->error : "";
}

void bench_floor_free(bench_floor *f)
{
    if (f == NULL)
        return;
    Py_XDECREF(f->ns);
    free(f);
}
