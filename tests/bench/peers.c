/*
 * peers.c -- runs peers.py on the selected workloads and reads back its
 * figures (its --format tsv: one line per peer, one per peer and workload).
 *
 * The workloads go to peers.py as the JSON of --dump-workloads, with the
 * cells per block and the rounds this run uses, so the peers run the very
 * cells aa_exec and the floor ran.  A peer that is not installed, or a
 * peers.py or Python that cannot be found, leaves its columns "not
 * installed"; nothing here fails the run.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *const bench_peer_names[BENCH_NPEERS] = {
    "ipython_hist_on", "ipython_hist_off", "asyncio_console"};
const char *const bench_peer_labels[BENCH_NPEERS] = {
    "IPython hist on", "IPython hist off", "asyncio console"};

static int peer_index(const char *name)
{
    int i;

    for (i = 0; i < BENCH_NPEERS; i++) {
        if (strcmp(name, bench_peer_names[i]) == 0)
            return i;
    }
    return -1;
}

static bench_row *row_named(bench_report *rep, const char *name)
{
    size_t i;

    for (i = 0; i < rep->nrows; i++) {
        if (strcmp(rep->rows[i].w->name, name) == 0)
            return &rep->rows[i];
    }
    return NULL;
}

/* Splits line at tabs into at most max fields; how many. */
static int split_tabs(char *line, char **field, int max)
{
    int n = 0;

    while (n < max) {
        field[n++] = line;
        if ((line = strchr(line, '\t')) == NULL)
            break;
        *line++ = '\0';
    }
    return n;
}

static void read_line(bench_report *rep, char *line)
{
    char *f[8] = {NULL};
    int n = split_tabs(line, f, 8), p;
    bench_row *row;
    bench_peer_cell *c;

    if (n >= 4 && strcmp(f[0], "peer") == 0 && (p = peer_index(f[1])) >= 0) {
        rep->peer_ok[p] = strcmp(f[2], "ok") == 0;
        snprintf(rep->peer_info[p], sizeof rep->peer_info[p], "%s", f[3]);
        return;
    }
    if (n < 5 || strcmp(f[0], "cell") != 0 || (p = peer_index(f[1])) < 0 ||
        (row = row_named(rep, f[2])) == NULL)
        return;
    c = &row->peer[p];
    if (strcmp(f[3], "ok") == 0 && n >= 6) {
        c->state = 1;
        c->us = strtod(f[4], NULL);
        c->errors = strtol(f[5], NULL, 10);
        snprintf(c->note, sizeof c->note, "%s", n >= 7 ? f[6] : "");
    } else {
        c->state = -1;
        snprintf(c->note, sizeof c->note, "%s", f[4]);
    }
}

static void missing_all(bench_report *rep, const char *why)
{
    int p;

    for (p = 0; p < BENCH_NPEERS; p++) {
        rep->peer_ok[p] = 0;
        snprintf(rep->peer_info[p], sizeof rep->peer_info[p], "%s", why);
    }
}

void bench_run_peers(bench_report *rep, const bench_options *o)
{
    char spec[] = "/tmp/aa-bench-spec-XXXXXX",
         out[] = "/tmp/aa-bench-peers-XXXXXX";
    char *argv[] = {(char *)o->python,
                    (char *)o->peers_script,
                    "--spec",
                    spec,
                    "--format",
                    "tsv",
                    NULL};
    int ofd, status;
    FILE *f;
    double secs;
    long rss;
    char *text, *line, *save;

    rep->peers_ran = 1;
    if (access(o->python, X_OK) != 0 || access(o->peers_script, R_OK) != 0) {
        missing_all(rep, "not installed (no python or peers.py)");
        return;
    }
    f = fdopen(mkstemp(spec), "w");
    ofd = mkstemp(out);
    if (f == NULL || ofd < 0)
        bench_die("cannot make temporary files in /tmp");
    bench_dump_workloads(f, rep);
    fclose(f);
    fprintf(stderr, "aa-bench: peers: %s %s\n", o->python, o->peers_script);
    if (bench_spawn(argv, NULL, ofd, 2, &status, &secs, &rss) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        missing_all(rep, "not installed (peers.py failed)");
    lseek(ofd, 0, SEEK_SET);
    text = bench_read_fd(ofd);
    close(ofd);
    unlink(spec);
    unlink(out);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        read_line(rep, line);
    free(text);
}
