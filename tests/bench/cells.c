/*
 * cells.c -- one workload, aa_exec against the floor, in this process.
 *
 * The two sides take turns: a block of N cells through aa_exec, a block of
 * N cells through the floor, and again, for several rounds, the side that
 * goes first swapping every round; a round's per-cell time is its block's
 * time over N, and the report gives the median round.  Whatever the machine
 * does meanwhile (frequency, other processes, the allocator's state) falls
 * on both sides alike.  Cell texts are made before a block starts, so only
 * running them is timed.
 *
 * aa_exec is called as a host calls it: without the GIL (it takes the GIL
 * itself), with a write callback that does nothing, and asking for the
 * result, which is freed.  The floor holds the GIL for its whole block, as
 * a program that is Python already would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "autoawait/autoawait.h"
#include "bench.h"

/* uvloop's import leaks, once per process (lsan_off.h). */
#include "../lsan_off.h"

#include <stdio.h>
#include <string.h>

static void note_aa_error(bench_row *row, int status, const aa_result *r,
                          const aa_session *s)
{
    if (row->aa_errors++ > 0 || row->first_error[0] != '\0')
        return;
    snprintf(row->first_error, sizeof row->first_error, "aa_exec: %s: %s: %s",
             aa_strerror(status),
             r && aa_result_exception(r) ? aa_result_exception(r) : "",
             r && aa_result_message(r) ? aa_result_message(r)
                                       : aa_session_errmsg(s));
}

/* Runs one block; returns µs per cell. */
static double aa_block(bench_row *row, aa_session *s, char **cells, int n)
{
    double t0 = bench_now();
    aa_result *r;
    int i, st;

    for (i = 0; i < n; i++) {
        r = NULL;
        st = aa_exec(s, cells[i], &r);
        if (st != AA_OK)
            note_aa_error(row, st, r, s);
        aa_result_free(r);
    }
    return (bench_now() - t0) * 1e6 / n;
}

static double floor_block(bench_row *row, bench_floor *f, char **cells, int n)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    double t0 = bench_now(), us;
    int i;

    for (i = 0; i < n; i++) {
        if (bench_floor_exec(f, cells[i]) < 0)
            row->floor_errors++;
    }
    us = (bench_now() - t0) * 1e6 / n;
    PyGILState_Release(gil);
    return us;
}

/* One block of each side; first says which goes first. */
static void one_round(bench_row *row, aa_session *s, bench_floor *f, int n,
                      int first_aa, double *aa_us, double *floor_us)
{
    char **a = bench_cells_make(row->w->tmpl, n, NULL);
    char **b = bench_cells_make(row->w->tmpl, n, NULL);

    if (first_aa) {
        *aa_us = aa_block(row, s, a, n);
        *floor_us = floor_block(row, f, b, n);
    } else {
        *floor_us = floor_block(row, f, b, n);
        *aa_us = aa_block(row, s, a, n);
    }
    bench_cells_free(a, n, NULL);
    bench_cells_free(b, n, NULL);
}

/* Both sides ready, setup cell run: 0, or -1 with row->na (and
 * row->na_detail) saying why. */
static int open_sides(bench_row *row, aa_session **s, bench_floor **f)
{
    const bench_workload *w = row->w;
    PyGILState_STATE gil;
    aa_options opts;
    aa_result *r = NULL;
    int rc;

    aa_options_init(&opts);
    opts.runner = w->runner;
    opts.write = bench_write_nothing;
    rc = aa_session_new(s, &opts);
    if (rc != AA_OK) {
        snprintf(row->na, sizeof row->na, "n/a (no %s runner)", w->runner);
        snprintf(row->na_detail, sizeof row->na_detail, "%s", aa_errmsg());
        return -1;
    }
    if (w->setup[0] != '\0' && (rc = aa_exec(*s, w->setup, &r)) != AA_OK) {
        snprintf(row->na, sizeof row->na, "n/a (setup cell failed)");
        snprintf(row->na_detail, sizeof row->na_detail, "%s: %s",
                 aa_strerror(rc),
                 aa_result_message(r) ? aa_result_message(r) : "");
        aa_result_free(r);
        return -1;
    }
    aa_result_free(r);
    gil = PyGILState_Ensure();
    *f = bench_floor_new(w->runner, row->na_detail, sizeof row->na_detail);
    if (*f == NULL) {
        snprintf(row->na, sizeof row->na, "n/a (no floor)");
    } else if (w->setup[0] != '\0' && bench_floor_exec(*f, w->setup) < 0) {
        snprintf(row->na, sizeof row->na, "n/a (floor setup failed)");
        snprintf(row->na_detail, sizeof row->na_detail, "%s",
                 bench_floor_error(*f));
        rc = -1;
    }
    PyGILState_Release(gil);
    return *f == NULL ? -1 : rc;
}

void bench_measure_row(bench_row *row)
{
    aa_session *s = NULL;
    bench_floor *f = NULL;
    double ignored[2];
    int i, n = row->cells;

    fprintf(stderr, "aa-bench: %s: %d rounds of %d cells\n", row->w->name,
            row->rounds, n);
    if (open_sides(row, &s, &f) == 0) {
        /* A warm-up block each, untimed: imports, caches, the loop. */
        one_round(row, s, f, n / 4 + 1, 1, &ignored[0], &ignored[1]);
        row->aa_errors = row->floor_errors = 0;
        row->first_error[0] = '\0';
        row->aa_us = bench_xmalloc((size_t)row->rounds * sizeof(double));
        row->floor_us = bench_xmalloc((size_t)row->rounds * sizeof(double));
        for (i = 0; i < row->rounds; i++) {
            one_round(row, s, f, n, i % 2 == 0, &row->aa_us[i],
                      &row->floor_us[i]);
        }
        row->aa_median = bench_median(row->aa_us, (size_t)row->rounds);
        row->floor_median = bench_median(row->floor_us, (size_t)row->rounds);
        /* The two blocks of a round ran back to back, so their ratio is
         * free of whatever drifted between rounds (another process, the
         * CPU's clock): the median of these is the figure reported. */
        row->ratio =
            bench_paired_ratio(row->aa_us, row->floor_us, (size_t)row->rounds);
        row->measured = 1;
        if (row->floor_errors > 0 && row->first_error[0] == '\0') {
            PyGILState_STATE gil = PyGILState_Ensure();

            snprintf(row->first_error, sizeof row->first_error, "floor: %s",
                     bench_floor_error(f));
            PyGILState_Release(gil);
        }
    }
    if (f != NULL) {
        PyGILState_STATE gil = PyGILState_Ensure();

        bench_floor_free(f);
        PyGILState_Release(gil);
    }
    aa_session_free(s);
}

/*
 * Imports asyncio and uvloop, through a session under the uvloop runner,
 * with LeakSanitizer off: uvloop's import leaks (lsan_off.h), and keeps
 * for ever objects of the modules it uses, asyncio's among them, which must
 * be made inside that window too, before any other row imports asyncio.
 * Called first when the uvloop row runs; a missing uvloop only fails the
 * cell here (the row then says n/a).
 */
void bench_import_uvloop(void)
{
    aa_session *s;
    aa_options opts;
    aa_result *r = NULL;

    aa_options_init(&opts);
    opts.runner = "uvloop";
    opts.write = bench_write_nothing;
    LSAN_OFF();
    if (aa_session_new(&s, &opts) == AA_OK) {
        aa_exec(s, "import asyncio\nawait asyncio.sleep(0)", &r);
        aa_result_free(r);
        aa_session_free(s);
    }
    LSAN_ON();
}
