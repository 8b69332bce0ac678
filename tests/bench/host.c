/*
 * host.c -- host functions (aa_define) against the other ways a cell
 * reaches C, in one session, in interleaved rounds:
 *
 * - call: a loop of N calls of `int add(int, int)` inside one cell,
 *   `for _i in range(N): hadd(_i, 1)`, hadd defined with aa_define
 *   ("i(ii)"), against the same loop calling the same C function bound as
 *   a CPython extension method with METH_FASTCALL (eadd, a module this
 *   program makes, which converts and range-checks its arguments as the
 *   library does);
 * - ctypes: the same host loop against the same C function called
 *   through ctypes (cadd, a CFUNCTYPE made from its address);
 * - await: `for _i in range(N/10): await hnow(_i)`, hnow an async host
 *   function ("v(iF)") that resolves its future at once, inside the call,
 *   against `await anow(_i)`, anow making an asyncio Future that
 *   loop.call_soon(fut.set_result, v) resolves.
 *
 * The cells of a row differ in the name they call and nothing else.  A
 * round is a block (one cell) of each side, back to back, the first side
 * swapping every round; the figure is per call or await, the ratio the
 * median of the rounds' ratios, as guest.c and cells.c do.  Timings are
 * reported, never judged.  This is the one file of aa-bench, with floor.c
 * and cells.c, that uses Python.h: to make the extension module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "autoawait/autoawait.h"
#include "bench.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The C function all three bind; never inlined, so that every side makes
 * the same real call. */
__attribute__((noinline)) static int bench_add(int a, int b)
{
    return a + b;
}

/* hnow: an async host function that resolves its future at once. */
static void bench_resolve_now(int v, aa_future *f)
{
    aa_future_resolve(f, "i", v);
}

/* ------------------------------------------------ the extension method */

static int int_arg(PyObject *o, int *out)
{
    long v = PyLong_AsLong(o);

    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "add(): does not fit in a C int");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static PyObject *ext_add(PyObject *self, PyObject *const *args,
                         Py_ssize_t nargs)
{
    int a, b;

    (void)self;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "add() takes 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (int_arg(args[0], &a) < 0 || int_arg(args[1], &b) < 0)
        return NULL;
    return PyLong_FromLong(bench_add(a, b));
}

static PyMethodDef ext_methods[] = {{"add",
                                     (PyCFunction)(void (*)(void))ext_add,
                                     METH_FASTCALL, "add(int, int) -> int"},
                                    {NULL, NULL, 0, NULL}};

static PyModuleDef ext_module = {PyModuleDef_HEAD_INIT,
                                 "aa_bench_ext",
                                 NULL,
                                 -1,
                                 ext_methods,
                                 NULL,
                                 NULL,
                                 NULL,
                                 NULL};

/* Puts the module in sys.modules; 0, or -1 with note set. */
static int make_extension(char *why, size_t whylen)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *m = PyModule_Create(&ext_module);
    int rc = -1;

    if (m != NULL &&
        PyDict_SetItemString(PyImport_GetModuleDict(), "aa_bench_ext", m) == 0)
        rc = 0;
    else
        snprintf(why, whylen, "cannot make the extension module");
    Py_XDECREF(m);
    PyErr_Clear();
    PyGILState_Release(gil);
    return rc;
}

/* -------------------------------------------------------------- blocks */

typedef struct host_ctx {
    bench_guest_row *row;
    aa_session *s;
    const char *tmpl[2]; /* the row's cell, its reference's */
} host_ctx;

/* One cell of n calls or awaits; µs per call. */
static double block(host_ctx *h, int side, int n)
{
    char *cell = bench_cell(h->tmpl[side], n);
    aa_result *r = NULL;
    double t0 = bench_now(), us;
    int rc = aa_exec(h->s, cell, &r);

    us = (bench_now() - t0) * 1e6 / n;
    if (rc != AA_OK)
        bench_row_note(h->row, "%s: %s: %s", cell, aa_strerror(rc),
                       r && aa_result_message(r) ? aa_result_message(r)
                                                 : aa_session_errmsg(h->s));
    aa_result_free(r);
    free(cell);
    return us;
}

/* An untimed warm-up block of each side, then the rounds. */
static void rounds(host_ctx *h)
{
    bench_guest_row *row = h->row;
    int i, n = row->n;

    block(h, 0, n / 4 + 1);
    block(h, 1, n / 4 + 1);
    row->us = bench_xmalloc((size_t)row->rounds * sizeof(double));
    row->ref_us = bench_xmalloc((size_t)row->rounds * sizeof(double));
    for (i = 0; i < row->rounds; i++) {
        if (i % 2 == 0) {
            row->us[i] = block(h, 0, n);
            row->ref_us[i] = block(h, 1, n);
        } else {
            row->ref_us[i] = block(h, 1, n);
            row->us[i] = block(h, 0, n);
        }
    }
    row->median = bench_median(row->us, (size_t)row->rounds);
    row->ref_median = bench_median(row->ref_us, (size_t)row->rounds);
    row->ratio = bench_paired_ratio(row->us, row->ref_us, (size_t)row->rounds);
    row->measured = 1;
}

/* ------------------------------------------------------------ session */

/* The names every cell calls, checked once: each must give 5, or 7. */
static const char *const checks[][2] = {
    {"hadd(2, 3)", "5"},    {"eadd(2, 3)", "5"},    {"cadd(2, 3)", "5"},
    {"await hnow(7)", "7"}, {"await anow(7)", "7"},
};

/* The session with hadd, hnow, eadd, cadd and anow; NULL with every
 * selected row's note saying why. */
static aa_session *open_session(bench_report *rep)
{
    char setup[1024], why[256] = "";
    aa_session *s = NULL;
    aa_options opts;
    aa_result *r = NULL;
    uintptr_t addr;
    size_t i;
    int rc = AA_OK, k;

    aa_options_init(&opts);
    opts.write = bench_write_nothing;
    if (aa_session_new(&s, &opts) != AA_OK) {
        snprintf(why, sizeof why, "aa_session_new: %s", aa_errmsg());
        s = NULL;
    } else if (aa_define(s, "hadd", "i(ii)", (void (*)(void))bench_add, NULL) !=
                   AA_OK ||
               aa_define(s, "hnow", "v(iF)", (void (*)(void))bench_resolve_now,
                         NULL) != AA_OK) {
        snprintf(why, sizeof why, "aa_define: %s", aa_session_errmsg(s));
    } else if (make_extension(why, sizeof why) == 0) {
        addr = (uintptr_t)bench_add;
        snprintf(setup, sizeof setup,
                 "import asyncio, ctypes, aa_bench_ext\n"
                 "eadd = aa_bench_ext.add\n"
                 "cadd = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, "
                 "ctypes.c_int)(%llu)\n"
                 "def anow(v):\n"
                 "    loop = asyncio.get_running_loop()\n"
                 "    fut = loop.create_future()\n"
                 "    loop.call_soon(fut.set_result, v)\n"
                 "    return fut\n",
                 (unsigned long long)addr);
        rc = aa_exec(s, setup, &r);
        for (i = 0; rc == AA_OK && i < sizeof checks / sizeof *checks; i++) {
            aa_result_free(r);
            r = NULL;
            rc = aa_exec(s, checks[i][0], &r);
            if (rc == AA_OK && (aa_result_repr(r) == NULL ||
                                strcmp(aa_result_repr(r), checks[i][1]) != 0))
                rc = AA_EXCEPTION;
        }
        if (rc != AA_OK)
            snprintf(why, sizeof why, "the setup failed: %s: %s: %s",
                     i > 0 ? checks[i - 1][0] : "", aa_strerror(rc),
                     r && aa_result_message(r) ? aa_result_message(r) : "");
        aa_result_free(r);
    }
    if (why[0] == '\0')
        return s;
    for (k = 0; k < BENCH_NHOST; k++)
        bench_row_note(&rep->host[k], "%s", why);
    aa_session_free(s);
    return NULL;
}

void bench_host_rows_init(bench_report *rep)
{
    static const bench_guest_row rows[BENCH_NHOST] = {
        {.name = "host_call",
         .label = "hadd(_i, 1): aa_define, i(ii)",
         .ref_label = "the same C function, a METH_FASTCALL method",
         .target = 1.5},
        {.name = "host_ctypes",
         .label = "hadd(_i, 1): aa_define, i(ii)",
         .ref_label = "the same C function through ctypes",
         .target = 0.5},
        {.name = "host_await",
         .label = "await hnow(_i): resolved in the call",
         .ref_label = "an asyncio Future, call_soon(set_result)",
         .target = 1.5},
    };

    memcpy(rep->host, rows, sizeof rows);
}

void bench_run_host(bench_report *rep, const bench_options *o)
{
    static const char *const tmpl[BENCH_NHOST][2] = {
        {"for _i in range(" BENCH_COUNTER "): hadd(_i, 1)",
         "for _i in range(" BENCH_COUNTER "): eadd(_i, 1)"},
        {"for _i in range(" BENCH_COUNTER "): hadd(_i, 1)",
         "for _i in range(" BENCH_COUNTER "): cadd(_i, 1)"},
        {"for _i in range(" BENCH_COUNTER "): await hnow(_i)",
         "for _i in range(" BENCH_COUNTER "): await anow(_i)"},
    };
    bench_guest_row *g = rep->host;
    host_ctx h;
    aa_session *s;
    int k;

    for (k = 0; k < BENCH_NHOST; k++) {
        g[k].n = k == HOST_AWAIT ? (o->host_calls + 9) / 10 : o->host_calls;
        g[k].rounds = o->rounds;
        if (g[k].selected)
            fprintf(stderr, "aa-bench: %s: %d rounds of %d\n", g[k].name,
                    g[k].rounds, g[k].n);
    }
    rep->host_ran = 1;
    if ((s = open_session(rep)) == NULL)
        return;
    for (k = 0; k < BENCH_NHOST; k++) {
        if (!g[k].selected)
            continue;
        h.row = &g[k];
        h.s = s;
        h.tmpl[0] = tmpl[k][0];
        h.tmpl[1] = tmpl[k][1];
        rounds(&h);
    }
    aa_session_free(s);
}
