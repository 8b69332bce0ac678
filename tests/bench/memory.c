/*
 * memory.c -- RSS over one long session: after 0 cells, after a tenth of
 * the cells, after all of them, and after aa_session_free.
 *
 * It runs in a child forked before this process starts its interpreter,
 * so that what the timing rows allocated is not counted, and the child is
 * single-threaded when forked.  The cells cycle through the three tiny
 * kinds (an assignment, a displayed expression, an awaited sleep), each
 * with its own number, as a long interactive session would.  After the
 * session is freed, one more figure tells how much of what remains is the
 * allocators' keeping (memory freed but not given back) rather than
 * objects still alive: RSS after gc.collect() and malloc_trim(0).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "autoawait/autoawait.h"
#include "bench.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const memory_cells[] = {
    "x = @N@",
    "x + @N@",
    "await asyncio.sleep(0)  # @N@",
};

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

static long run_cells(aa_session *s, long from, long to)
{
    long i, errors = 0;
    char *cell;

    for (i = from; i < to; i++) {
        cell = bench_cell(memory_cells[i % 3], i);
        if (aa_exec(s, cell, NULL) != AA_OK)
            errors++;
        free(cell);
    }
    return errors;
}

static void memory_child(FILE *out, long cells)
{
    aa_session *s = NULL;
    aa_options opts;
    double rss[3], freed;
    PyGILState_STATE gil;
    long errors;

    aa_options_init(&opts);
    opts.write = bench_write_nothing;
    if (aa_session_new(&s, &opts) != AA_OK) {
        fprintf(out, "fail aa_session_new: %s\n", aa_errmsg());
        return;
    }
    if (aa_exec(s, "import asyncio\nx = 1", NULL) != AA_OK) {
        fprintf(out, "fail setup cell\n");
        return;
    }
    rss[0] = rss_mb();
    errors = run_cells(s, 0, cells / 10);
    rss[1] = rss_mb();
    errors += run_cells(s, cells / 10, cells);
    rss[2] = rss_mb();
    aa_session_free(s);
    freed = rss_mb();
    gil = PyGILState_Ensure();
    PyGC_Collect();
    PyGILState_Release(gil);
    malloc_trim(0);
    fprintf(out, "ok %f %f %f %f %f %ld\n", rss[0], rss[1], rss[2], freed,
            rss_mb(), errors);
}

void bench_run_memory(bench_report *rep, const bench_options *o)
{
    int fds[2], status;
    char *text;
    long errors = 0;
    pid_t pid;

    fprintf(stderr, "aa-bench: memory: %ld cells in one session\n",
            o->mem_cells);
    rep->memory_ran = 1;
    rep->mem_cells[0] = 0;
    rep->mem_cells[1] = o->mem_cells / 10;
    rep->mem_cells[2] = o->mem_cells;
    fflush(NULL);
    if (pipe(fds) < 0 || (pid = fork()) < 0) {
        snprintf(rep->memory_note, sizeof rep->memory_note, "cannot fork");
        return;
    }
    if (pid == 0) {
        FILE *out = fdopen(fds[1], "w");

        close(fds[0]);
        memory_child(out, o->mem_cells);
        fclose(out);
        _exit(0);
    }
    close(fds[1]);
    text = bench_read_fd(fds[0]);
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (sscanf(text, "ok %lf %lf %lf %lf %lf %ld", &rep->rss_mb[0],
               &rep->rss_mb[1], &rep->rss_mb[2], &rep->rss_free_mb,
               &rep->rss_trim_mb, &errors) != 6) {
        snprintf(rep->memory_note, sizeof rep->memory_note,
                 "the memory child failed: %.200s", text);
        rep->memory_ran = 0;
    } else if (errors > 0) {
        snprintf(rep->memory_note, sizeof rep->memory_note, "%ld cells failed",
                 errors);
    }
    free(text);
}
