/*
 * util.c -- clocks, medians, cell texts and child processes for aa-bench.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void bench_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("aa-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void bench_write_nothing(void *userdata, int stream, const char *data,
                         size_t len)
{
    (void)userdata;
    (void)stream;
    (void)data;
    (void)len;
}

void bench_row_note(bench_guest_row *row, const char *fmt, ...)
{
    va_list ap;

    if (row->errors++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(row->note, sizeof row->note, fmt, ap);
    va_end(ap);
}

void *bench_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        bench_die("out of memory");
    return p;
}

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_quantile(const double *v, size_t n, double q)
{
    double *s, pos, m;
    size_t lo;

    if (n == 0)
        return 0.0;
    s = bench_xmalloc(n * sizeof *s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    pos = q * (double)(n - 1);
    lo = (size_t)pos;
    m = lo + 1 < n ? s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]) : s[lo];
    free(s);
    return m;
}

double bench_median(const double *v, size_t n)
{
    return bench_quantile(v, n, 0.5);
}

double bench_paired_ratio(const double *a, const double *b, size_t n)
{
    double *r = bench_xmalloc((n ? n : 1) * sizeof *r), m;
    size_t i;

    for (i = 0; i < n; i++)
        r[i] = a[i] / b[i];
    m = bench_median(r, n);
    free(r);
    return m;
}

char *bench_cell(const char *tmpl, long counter)
{
    size_t mark = strlen(BENCH_COUNTER), n = 0, len;
    const char *p;
    char num[24], *out, *o;

    len = (size_t)snprintf(num, sizeof num, "%ld", counter);
    for (p = tmpl; (p = strstr(p, BENCH_COUNTER)) != NULL; p += mark)
        n++;
    out = o = bench_xmalloc(strlen(tmpl) + n * len + 1);
    for (p = tmpl; *p;) {
        if (strncmp(p, BENCH_COUNTER, mark) == 0) {
            memcpy(o, num, len);
            o += len;
            p += mark;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* The counter every cell of the run takes its number from. */
static long next_counter;

char **bench_cells_make(const char *tmpl, int n, size_t **lens)
{
    char **cells = bench_xmalloc((size_t)n * sizeof *cells);
    int i;

    if (lens != NULL)
        *lens = bench_xmalloc((size_t)n * sizeof **lens);
    for (i = 0; i < n; i++) {
        cells[i] = bench_cell(tmpl, ++next_counter);
        if (lens != NULL)
            (*lens)[i] = strlen(cells[i]);
    }
    return cells;
}

void bench_cells_free(char **cells, int n, size_t *lens)
{
    int i;

    for (i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
    free(lens);
}

int bench_spawn(char *const argv[], const char *in_path, int out_fd, int err_fd,
                int *status, double *seconds, long *maxrss_kb)
{
    posix_spawn_file_actions_t fa;
    struct rusage ru;
    double t0;
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null",
                                     O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    t0 = bench_now();
    rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    while (wait4(pid, status, 0, &ru) < 0) {
        if (errno != EINTR)
            return -1;
    }
    *seconds = bench_now() - t0;
    *maxrss_kb = ru.ru_maxrss;
    return 0;
}

char *bench_read_fd(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = bench_xmalloc(cap);
    ssize_t n;

    for (;;) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);

            if (p == NULL)
                bench_die("out of memory");
            buf = p;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}
