/*
 * procs.c -- whole programs: start-up of aa-shell against python3, and
 * many cells piped through aa-shell's stdin against `python3 -m asyncio`.
 *
 * Start-up is timed by hyperfine when it is installed (its median), and
 * always by our own loop, which starts the two programs in turn (the one
 * going first swapping every run), takes the median wall time, and the
 * median peak RSS from wait4's rusage; the latter is the only RSS there
 * is.  Throughput runs each program on the same input file, in turn, a few
 * times; a short input with a marker first checks that each program really
 * runs piped input.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const startup_code[2][2] = {
    /* aa-shell -c, python3 -c */
    {"1", "1"},
    {"import asyncio; await asyncio.sleep(0)",
     "import asyncio; asyncio.run(asyncio.sleep(0))"},
};

static int on_path(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH"), *p, *end;

    for (p = path ? path : ""; *p; p = *end ? end + 1 : end) {
        end = strchr(p, ':');
        if (end == NULL)
            end = p + strlen(p);
        snprintf(buf, len, "%.*s/%s", (int)(end - p), p, name);
        if (end > p && access(buf, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* The medians of hyperfine's results, in order; how many were found. */
static int hyperfine_medians(const char *json, double *out, int max)
{
    const char *p = json;
    int n = 0;

    while (n < max && (p = strstr(p, "\"median\":")) != NULL) {
        p += strlen("\"median\":");
        out[n++] = strtod(p, NULL);
    }
    return n;
}

/* Times the pair with hyperfine; 0 with ms[0] (aa-shell) and ms[1]. */
static int hyperfine_pair(const char *hf, const bench_options *o, int which,
                          int runs, double ms[2])
{
    char tmp[] = "/tmp/aa-bench-hf-XXXXXX", cmd[2][1024], nruns[16], *json;
    char *argv[16];
    int fd, status, argc = 0, ok;
    double secs, med[2];
    long rss;

    if ((fd = mkstemp(tmp)) < 0)
        return -1;
    snprintf(cmd[0], sizeof cmd[0], "'%s' -c '%s'", o->shell,
             startup_code[which][0]);
    snprintf(cmd[1], sizeof cmd[1], "'%s' -c '%s'", o->python,
             startup_code[which][1]);
    snprintf(nruns, sizeof nruns, "%d", runs);
    argv[argc++] = (char *)hf;
    argv[argc++] = "-N";
    argv[argc++] = "--warmup";
    argv[argc++] = "3";
    argv[argc++] = "--runs";
    argv[argc++] = nruns;
    argv[argc++] = "--style";
    argv[argc++] = "none";
    argv[argc++] = "--export-json";
    argv[argc++] = tmp;
    argv[argc++] = cmd[0];
    argv[argc++] = cmd[1];
    argv[argc] = NULL;
    ok = bench_spawn(argv, NULL, -1, -1, &status, &secs, &rss) == 0 &&
         WIFEXITED(status) && WEXITSTATUS(status) == 0;
    json = bench_read_fd(fd);
    close(fd);
    unlink(tmp);
    ok = ok && hyperfine_medians(json, med, 2) == 2;
    free(json);
    if (!ok)
        return -1;
    ms[0] = med[0] * 1e3;
    ms[1] = med[1] * 1e3;
    return 0;
}

/* Our own timer: runs times each, interleaved; medians of ms and MB. */
static int fork_exec_pair(const bench_options *o, int which, int runs,
                          double ms[2], double mb[2], char *note, size_t len)
{
    char *argv[2][4] = {
        {(char *)o->shell, "-c", (char *)startup_code[which][0], NULL},
        {(char *)o->python, "-c", (char *)startup_code[which][1], NULL}};
    double *t[2], *rss[2], secs;
    int i, k, side, status, rc = 0;
    long maxrss;

    for (k = 0; k < 2; k++) {
        t[k] = bench_xmalloc((size_t)runs * sizeof(double));
        rss[k] = bench_xmalloc((size_t)runs * sizeof(double));
    }
    for (i = -2; i < runs && rc == 0; i++) { /* two runs of warm-up */
        for (k = 0; k < 2; k++) {
            side = (i & 1) ? 1 - k : k;
            if (bench_spawn(argv[side], NULL, -1, -1, &status, &secs, &maxrss) <
                    0 ||
                !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                snprintf(note, len, "%s -c %s failed", argv[side][0],
                         argv[side][2]);
                rc = -1;
                break;
            }
            if (i >= 0) {
                t[side][i] = secs * 1e3;
                rss[side][i] = (double)maxrss / 1024;
            }
        }
    }
    for (k = 0; k < 2 && rc == 0; k++) {
        ms[k] = bench_median(t[k], (size_t)runs);
        mb[k] = bench_median(rss[k], (size_t)runs);
    }
    for (k = 0; k < 2; k++) {
        free(t[k]);
        free(rss[k]);
    }
    return rc;
}

void bench_run_startup(bench_report *rep, const bench_options *o)
{
    char hf[1024];
    double ms[2], mb[2], hms[2];
    int which, have_hf = o->hyperfine && on_path("hyperfine", hf, sizeof hf);

    fprintf(stderr, "aa-bench: start-up: %d runs each%s\n", o->startup_runs,
            have_hf ? " (and hyperfine)" : "");
    if (access(o->shell, X_OK) != 0) {
        snprintf(rep->startup_note, sizeof rep->startup_note,
                 "no aa-shell at %s", o->shell);
        return;
    }
    rep->startup_method = "fork/exec";
    for (which = 0; which < 2; which++) {
        if (fork_exec_pair(o, which, o->startup_runs, ms, mb, rep->startup_note,
                           sizeof rep->startup_note) < 0)
            return;
        if (have_hf &&
            hyperfine_pair(hf, o, which, o->startup_runs, hms) == 0) {
            rep->startup_method = "hyperfine";
            ms[0] = hms[0];
            ms[1] = hms[1];
        }
        rep->start_aa_ms[which] = ms[0];
        rep->start_py_ms[which] = ms[1];
        rep->start_aa_rss_mb[which] = mb[0];
        rep->start_py_rss_mb[which] = mb[1];
    }
    rep->startup_ran = 1;
}

/* ------------------------------------------------------------- throughput */

static int write_input(char *path, long cells, const char *last)
{
    static const char *const kinds[] = {"x = %ld\n", "x + %ld\n",
                                        "await asyncio.sleep(0)  # %ld\n"};
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    long i;

    if (f == NULL)
        return -1;
    fputs("import asyncio\nx = 1\n", f);
    for (i = 0; i < cells; i++)
        fprintf(f, kinds[i % 3], i);
    fprintf(f, "print('aa-bench-' + '%s')\n", last);
    return fclose(f);
}

/* Runs argv on input; its seconds, or -1 with note saying what was wrong
 * (it failed, or its output lacks the marker the input prints last). */
static double run_input(char *const argv[], const char *input,
                        const char *marker, int check_errors, char *note,
                        size_t len)
{
    char out[] = "/tmp/aa-bench-out-XXXXXX", *text;
    int fd = mkstemp(out), status, bad;
    double secs = -1;
    long rss;

    if (fd < 0)
        return -1;
    if (bench_spawn(argv, input, fd, check_errors ? fd : -1, &status, &secs,
                    &rss) < 0) {
        snprintf(note, len, "cannot start %s", argv[0]);
        secs = -1;
    }
    lseek(fd, 0, SEEK_SET);
    text = bench_read_fd(fd);
    close(fd);
    unlink(out);
    bad = strstr(text, marker) == NULL ||
          (check_errors && strstr(text, "Error") != NULL);
    if (secs >= 0 && bad) {
        snprintf(note, len, "%s did not run piped input: %.80s", argv[0], text);
        secs = -1;
    }
    free(text);
    return secs;
}

void bench_run_throughput(bench_report *rep, const bench_options *o)
{
    char *argv[2][4] = {{(char *)o->shell, NULL},
                        {(char *)o->python, "-m", "asyncio", NULL}};
    char small[] = "/tmp/aa-bench-in-XXXXXX", big[] = "/tmp/aa-bench-in-XXXXXX";
    char *note[2] = {rep->tp_aa_note, rep->tp_py_note};
    double *t[2], secs;
    int i, k, side, ok[2];

    fprintf(stderr, "aa-bench: throughput: %ld cells, %d rounds\n", o->tp_cells,
            o->tp_rounds);
    rep->tp_cells = o->tp_cells;
    if (write_input(small, 3, "ok") < 0 ||
        write_input(big, o->tp_cells, "done") < 0)
        bench_die("cannot write the input files in /tmp");
    for (k = 0; k < 2; k++) {
        t[k] = bench_xmalloc((size_t)o->tp_rounds * sizeof(double));
        ok[k] = run_input(argv[k], small, "aa-bench-ok", 1, note[k], 160) >= 0;
    }
    for (i = 0; i < o->tp_rounds; i++) {
        for (k = 0; k < 2; k++) {
            side = (i & 1) ? 1 - k : k;
            if (!ok[side])
                continue;
            secs =
                run_input(argv[side], big, "aa-bench-done", 0, note[side], 160);
            ok[side] = secs >= 0;
            t[side][i] = secs;
        }
    }
    rep->tp_aa_s = ok[0] ? bench_median(t[0], (size_t)o->tp_rounds) : -1;
    rep->tp_py_s = ok[1] ? bench_median(t[1], (size_t)o->tp_rounds) : -1;
    rep->throughput_ran = 1;
    free(t[0]);
    free(t[1]);
    unlink(small);
    unlink(big);
}
