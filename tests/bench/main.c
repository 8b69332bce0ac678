/*
 * main.c -- aa-bench: libautoawait against the raw CPython floor and its
 * peers, per cell, at start-up, over a long session and through stdin.
 *
 * Reads the options, chooses what runs, and runs it in an order that keeps
 * the parts apart: first what runs in other processes and must not inherit
 * this one's interpreter (the memory child, the programs timed from
 * outside); then the cells (aa_exec and the floor, here); then the
 * sessions driven as guests of a host loop (here too); then host functions
 * against their references; then the peers (peers.py).  Timings are reported,
 * never judged: a slow machine fails nothing.  The exit status is 1 only when
 * cells failed, since a figure for a failing cell means nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: aa-bench [options]\n"
    "  --cells N             cells per block for tiny cells (default 1000;\n"
    "                        the 30-line, trio and uvloop cells take N/10,\n"
    "                        the 2,000-line cell N/500)\n"
    "  --rounds R            blocks per side, interleaved (default 7; the\n"
    "                        2,000-line cell takes 5R)\n"
    "  --only LIST           comma-separated workloads and sections to run:\n"
    "                        x_assign x_add sleep0 await_f cell30 trio\n"
    "                        uvloop cell2000 peers startup memory\n"
    "                        throughput,\n"
    "                        guest (all of guest_idle guest_sync\n"
    "                        guest_sleep0 guest_wake), host (all of\n"
    "                        host_call host_ctypes host_await)\n"
    "  --no-peers            leave peers.py out\n"
    "  --json                print JSON instead of the table\n"
    "  --mem-cells N         cells of the long session (default 100000)\n"
    "  --startup-runs N      runs of each start-up command (default 20)\n"
    "  --throughput-cells N  cells piped through stdin (default 20000)\n"
    "  --throughput-rounds N runs of each program on them (default 5)\n"
    "  --wake-trials N       trials of guest_wake (default 1000)\n"
    "  --host-calls N        calls per cell of host_call and host_ctypes\n"
    "                        (default 100000; host_await awaits N/10)\n"
    "  --no-hyperfine        time start-up with the built-in timer only\n"
    "  --shell PATH          aa-shell (default: the one built with this)\n"
    "  --python PATH         the Python for peers and start-up (default: "
    "the one\n"
    "                        the library embeds)\n"
    "  --peers-script PATH   peers.py (default: next to this source)\n"
    "  --dump-workloads      print the workloads as JSON (peers.py --spec)\n";

enum {
    SEC_PEERS,
    SEC_STARTUP,
    SEC_MEMORY,
    SEC_THROUGHPUT,
    SEC_GUEST,
    SEC_HOST,
    NSECTIONS
};
static const char *const section_names[NSECTIONS] = {
    "peers", "startup", "memory", "throughput", "guest", "host"};

typedef struct selection {
    int any;                 /* --only was given */
    int workloads;           /* how many workloads it named */
    int section[NSECTIONS];  /* which sections it named */
    int *named;              /* per workload */
    int guest[BENCH_NGUEST]; /* which guest-loop rows it named */
    int host[BENCH_NHOST];   /* which host-function rows it named */
} selection;

static long number(const char *opt, const char *arg, long min)
{
    char *end;
    long v;

    if (arg == NULL)
        bench_die("%s needs a value", opt);
    v = strtol(arg, &end, 10);
    if (*end != '\0' || v < min)
        bench_die("%s: '%s' is not a number >= %ld", opt, arg, min);
    return v;
}

static void select_names(selection *sel, const bench_report *rep,
                         const char *list)
{
    char *copy = strdup(list), *name, *save;
    size_t i;
    int k, found;

    sel->any = 1;
    for (name = strtok_r(copy, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        found = 0;
        for (i = 0; i < bench_nworkloads; i++) {
            if (strcmp(name, bench_workloads[i].name) == 0) {
                sel->named[i] = found = 1;
                sel->workloads++;
            }
        }
        for (k = 0; k < NSECTIONS; k++) {
            if (strcmp(name, section_names[k]) == 0)
                sel->section[k] = found = 1;
        }
        for (k = 0; k < BENCH_NGUEST; k++) {
            if (strcmp(name, rep->guest[k].name) == 0)
                sel->guest[k] = sel->section[SEC_GUEST] = found = 1;
        }
        for (k = 0; k < BENCH_NHOST; k++) {
            if (strcmp(name, rep->host[k].name) == 0)
                sel->host[k] = sel->section[SEC_HOST] = found = 1;
        }
        if (!found)
            bench_die("--only: no workload or section '%s' (see --help)", name);
    }
    free(copy);
}

static int wants(const selection *sel, int section)
{
    return !sel->any || sel->section[section];
}

/* Parses argv into o and sel; returns 1 for --dump-workloads. */
static int parse(int argc, char **argv, bench_options *o, selection *sel,
                 const bench_report *rep)
{
    int i, dump = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--no-peers") == 0) {
            o->peers_script = NULL;
        } else if (strcmp(a, "--no-hyperfine") == 0) {
            o->hyperfine = 0;
        } else if (strcmp(a, "--dump-workloads") == 0) {
            dump = 1;
        } else if (v == NULL) {
            bench_die("unknown option or missing value: %s", a);
        } else if (strcmp(a, "--cells") == 0) {
            o->cells = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--only") == 0) {
            select_names(sel, rep, argv[++i]);
        } else if (strcmp(a, "--mem-cells") == 0) {
            o->mem_cells = number(a, argv[++i], 10);
        } else if (strcmp(a, "--startup-runs") == 0) {
            o->startup_runs = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--throughput-cells") == 0) {
            o->tp_cells = number(a, argv[++i], 1);
        } else if (strcmp(a, "--throughput-rounds") == 0) {
            o->tp_rounds = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--wake-trials") == 0) {
            o->wake_trials = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--host-calls") == 0) {
            o->host_calls = (int)number(a, argv[++i], 1);
        } else if (strcmp(a, "--shell") == 0) {
            o->shell = argv[++i];
        } else if (strcmp(a, "--python") == 0) {
            o->python = argv[++i];
        } else if (strcmp(a, "--peers-script") == 0) {
            o->peers_script = argv[++i];
        } else {
            bench_die("unknown option: %s (see --help)", a);
        }
    }
    return dump;
}

static void free_report(bench_report *rep, selection *sel)
{
    size_t i;

    for (i = 0; i < rep->nrows; i++) {
        free(rep->rows[i].aa_us);
        free(rep->rows[i].floor_us);
    }
    for (i = 0; i < BENCH_NGUEST; i++) {
        free(rep->guest[i].us);
        free(rep->guest[i].ref_us);
    }
    for (i = 0; i < BENCH_NHOST; i++) {
        free(rep->host[i].us);
        free(rep->host[i].ref_us);
    }
    free(rep->rows);
    free(sel->named);
}

static void make_rows(bench_report *rep, const bench_options *o,
                      const selection *sel)
{
    int peers = wants(sel, SEC_PEERS) && o->peers_script != NULL;
    int any_guest = 0, any_host = 0;
    size_t i;

    rep->nrows = bench_nworkloads;
    rep->rows = bench_xmalloc(bench_nworkloads * sizeof *rep->rows);
    memset(rep->rows, 0, bench_nworkloads * sizeof *rep->rows);
    for (i = 0; i < bench_nworkloads; i++) {
        bench_row *row = &rep->rows[i];
        int cells = o->cells / bench_workloads[i].divisor;

        row->w = &bench_workloads[i];
        row->cells = cells > 0 ? cells : 1;
        row->rounds = o->rounds * bench_workloads[i].more_rounds;
        row->selected = !sel->any || sel->named[i];
        row->peers_selected = peers && (sel->workloads == 0 || sel->named[i]);
    }
    /* "guest" alone names all of its rows. */
    for (i = 0; i < BENCH_NGUEST; i++)
        any_guest |= sel->guest[i];
    for (i = 0; i < BENCH_NGUEST; i++)
        rep->guest[i].selected =
            wants(sel, SEC_GUEST) && (!any_guest || sel->guest[i]);
    /* So does "host". */
    for (i = 0; i < BENCH_NHOST; i++)
        any_host |= sel->host[i];
    for (i = 0; i < BENCH_NHOST; i++)
        rep->host[i].selected =
            wants(sel, SEC_HOST) && (!any_host || sel->host[i]);
}

static void describe_machine(bench_report *rep)
{
    static char date[64], version[32];
    time_t now = time(NULL);

    strftime(date, sizeof date, "%Y-%m-%d %H:%M %Z", localtime(&now));
    snprintf(version, sizeof version, "%s", Py_GetVersion());
    version[strcspn(version, " ")] = '\0';
    rep->date = date;
    rep->python_version = version;
    rep->cpus = sysconf(_SC_NPROCESSORS_ONLN);
}

int main(int argc, char **argv)
{
    bench_options o = {.cells = 1000,
                       .rounds = 7,
                       .mem_cells = 100000,
                       .tp_cells = 20000,
                       .startup_runs = 20,
                       .tp_rounds = 5,
                       .wake_trials = 1000,
                       .host_calls = 100000,
                       .hyperfine = 1,
                       .shell = AA_BENCH_SHELL,
                       .python = AA_BENCH_PYTHON,
                       .peers_script = AA_BENCH_PEERS};
    bench_report rep;
    selection sel;
    size_t i;
    int failed = 0;

    memset(&rep, 0, sizeof rep);
    memset(&sel, 0, sizeof sel);
    sel.named = bench_xmalloc(bench_nworkloads * sizeof *sel.named);
    memset(sel.named, 0, bench_nworkloads * sizeof *sel.named);
    bench_workloads_init();
    bench_guest_rows_init(&rep);
    bench_host_rows_init(&rep);
    if (parse(argc, argv, &o, &sel, &rep)) {
        rep.cells = o.cells;
        rep.rounds = o.rounds;
        o.peers_script = "";
        sel.section[SEC_PEERS] = 1;
        make_rows(&rep, &o, &sel);
        bench_dump_workloads(stdout, &rep);
        free_report(&rep, &sel);
        return 0;
    }
    rep.cells = o.cells;
    rep.rounds = o.rounds;
    describe_machine(&rep);
    make_rows(&rep, &o, &sel);
    /* These three come before this process has an interpreter: the
     * memory child must be forked single-threaded and unburdened (see
     * memory.c), and a child's ru_maxrss counts the memory of the process
     * it was spawned from, which is small only now. */
    if (wants(&sel, SEC_MEMORY))
        bench_run_memory(&rep, &o);
    if (wants(&sel, SEC_STARTUP))
        bench_run_startup(&rep, &o);
    if (wants(&sel, SEC_THROUGHPUT))
        bench_run_throughput(&rep, &o);
    for (i = 0; i < rep.nrows; i++)
        if (rep.rows[i].selected &&
            strcmp(rep.rows[i].w->runner, "uvloop") == 0)
            bench_import_uvloop();
    for (i = 0; i < rep.nrows; i++) {
        if (rep.rows[i].selected)
            bench_measure_row(&rep.rows[i]);
        failed |= rep.rows[i].aa_errors || rep.rows[i].floor_errors;
    }
    if (wants(&sel, SEC_GUEST)) {
        bench_run_guest(&rep, &o);
        for (i = 0; i < BENCH_NGUEST; i++)
            failed |= rep.guest[i].errors > 0;
    }
    if (wants(&sel, SEC_HOST)) {
        bench_run_host(&rep, &o);
        for (i = 0; i < BENCH_NHOST; i++)
            failed |= rep.host[i].selected && rep.host[i].errors > 0;
    }
    if (wants(&sel, SEC_PEERS) && o.peers_script != NULL)
        bench_run_peers(&rep, &o);
    failed |= rep.memory_note[0] != '\0';
    if (o.json)
        bench_print_json(&rep);
    else
        bench_print_table(&rep);
    free_report(&rep, &sel);
    return failed ? 1 : 0;
}
