/*
 * bench.h -- what the files of aa-bench share: the workloads, the rows of
 * the report, and the helpers for timing, statistics and child processes.
 *
 * aa-bench measures libautoawait against the raw CPython floor in one
 * process (cells.c, floor.c), gathers the peers from peers.py (peers.c),
 * times whole programs for start-up and stdin throughput (procs.c), follows
 * RSS over a long session (memory.c), drives sessions from a host loop of
 * its own, as their guest (guest.c), times host functions against an
 * extension method, ctypes and asyncio Futures (host.c), and prints it all
 * (report.c).
 */
#ifndef AA_BENCH_H
#define AA_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* The placeholder a cell template carries where its counter goes. */
#define BENCH_COUNTER "@N@"

typedef struct bench_workload {
    const char *name;   /* for --only and the JSON */
    const char *label;  /* for the table */
    const char *runner; /* the session's runner */
    const char *setup;  /* run once, untimed, on both sides */
    const char *tmpl;   /* the cell, BENCH_COUNTER where N goes */
    int divisor;        /* cells per block = --cells / divisor */
    int more_rounds;    /* rounds = --rounds * more_rounds */
    double target;      /* the issue's ceiling for aa_exec / floor */
    double ipy_target;  /* its floor for IPython (history on) / aa_exec */
} bench_workload;

/* The peers, in their column order. */
enum { PEER_IPY_ON, PEER_IPY_OFF, PEER_CONSOLE, BENCH_NPEERS };
extern const char *const bench_peer_names[BENCH_NPEERS];
extern const char *const bench_peer_labels[BENCH_NPEERS];

/* A peer's measurement of one workload. */
typedef struct bench_peer_cell {
    int state; /* 0 not run, 1 measured, -1 not available */
    double us;
    long errors;
    char note[160]; /* why not available, or the first error */
} bench_peer_cell;

/* Everything measured for one workload. */
typedef struct bench_row {
    const bench_workload *w;
    int selected, peers_selected;
    int measured;        /* aa_exec and the floor ran */
    char na[64];         /* why they did not, short, for the table */
    char na_detail[256]; /* and the whole message */
    int cells;           /* per block */
    int rounds;          /* blocks per side */
    double *aa_us;       /* per-cell time of each round, in µs */
    double *floor_us;
    double aa_median, floor_median;
    double ratio; /* the median of the rounds' aa_us / floor_us */
    long aa_errors, floor_errors;
    char first_error[256];
    bench_peer_cell peer[BENCH_NPEERS];
} bench_row;

/* The guest-loop rows (guest.c), in their table order. */
enum { GUEST_IDLE, GUEST_SYNC, GUEST_SLEEP0, GUEST_WAKE, BENCH_NGUEST };

/* The host-function rows (host.c), in their table order. */
enum { HOST_CALL, HOST_CTYPES, HOST_AWAIT, BENCH_NHOST };

/* One guest-loop row.  IDLE, SYNC and SLEEP0 pair two sides in
 * interleaved rounds, as the cells do; WAKE is one latency per trial.
 * The host-function rows are rows of this kind too, each pairing host
 * calls with a reference. */
typedef struct bench_guest_row {
    const char *name;      /* for --only and the JSON */
    const char *label;     /* for the table */
    const char *ref_label; /* the other side */
    double target;         /* IDLE and WAKE: µs; the others: the ratio */
    int selected, measured;
    int n;               /* calls or cells per block; WAKE: trials */
    int rounds;          /* blocks per side */
    double *us, *ref_us; /* per round, per call or cell, in µs */
    double median, ref_median, ratio;
    /* WAKE, µs: write -> resume (median, p90, min, max); its parts
     * write -> poll returns (wake_) and poll returns -> resume (step_);
     * the first dispatch after poll returns; and the number of
     * dispatches from poll's return to the cell's end. */
    double p90, min, max;
    double wake_median, wake_p90, step_median, step_p90;
    double first_median, first_p90;
    double dispatches_median;
    long errors;
    char note[256]; /* why not measured, or the first error */
} bench_guest_row;

/* The whole report. */
typedef struct bench_report {
    int cells, rounds;
    const char *date;
    long cpus;
    const char *python_version;
    bench_row *rows;
    size_t nrows;

    /* Peers: a version per peer, or why it is missing. */
    int peers_ran;
    int peer_ok[BENCH_NPEERS];
    char peer_info[BENCH_NPEERS][160];

    /* Start-up: [0] `-c '1'`, [1] a cell with top-level await. */
    int startup_ran;
    const char *startup_method; /* "hyperfine" or "fork/exec" */
    double start_aa_ms[2], start_py_ms[2];
    double start_aa_rss_mb[2], start_py_rss_mb[2];
    char startup_note[256];

    /* Memory over one long session. */
    int memory_ran;
    long mem_cells[3]; /* 0, small, big */
    double rss_mb[3], rss_free_mb;
    double rss_trim_mb; /* then gc.collect() and malloc_trim(0) */
    char memory_note[256];

    /* 20,000 cells through stdin. */
    int throughput_ran;
    long tp_cells;
    double tp_aa_s, tp_py_s;
    char tp_aa_note[160], tp_py_note[160];

    /* The session as a guest of a host loop. */
    int guest_ran;
    bench_guest_row guest[BENCH_NGUEST];

    /* Host functions against their references. */
    int host_ran;
    bench_guest_row host[BENCH_NHOST];
} bench_report;

/* Options, as parsed by main.c. */
typedef struct bench_options {
    int cells, rounds;
    long mem_cells, tp_cells;
    int startup_runs, tp_rounds;
    int wake_trials;
    int host_calls; /* per cell of host_call and host_ctypes */
    int json, hyperfine;
    const char *shell, *python, *peers_script;
} bench_options;

extern bench_workload bench_workloads[];
extern const size_t bench_nworkloads;
void bench_workloads_init(void); /* builds the 2,000-line template */

/* util.c */
double bench_now(void); /* seconds, monotonic */
double bench_median(const double *v, size_t n);
double bench_quantile(const double *v, size_t n, double q); /* q in [0, 1] */
/* The median of the pairs' a[i] / b[i]. */
double bench_paired_ratio(const double *a, const double *b, size_t n);
char *bench_cell(const char *tmpl, long counter); /* malloc'ed, or exits */
/* n cells of tmpl, each with a number no other cell of the run has, and
 * their lengths in *lens when lens is not NULL. */
char **bench_cells_make(const char *tmpl, int n, size_t **lens);
void bench_cells_free(char **cells, int n, size_t *lens);
void *bench_xmalloc(size_t n);
/* The no-op write callback of every session aa-bench makes. */
void bench_write_nothing(void *userdata, int stream, const char *data,
                         size_t len);
void bench_die(const char *fmt, ...);
/* Counts a failure of a row; the first one's words become its note. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void bench_row_note(bench_guest_row *row, const char *fmt, ...);
/* Spawns argv with stdin from in_path (NULL: /dev/null), stdout to out_fd
 * and stderr to err_fd (-1: /dev/null), waits; 0 with *status (as waitpid
 * gives it), *seconds and *maxrss_kb, -1 if it could not start. */
int bench_spawn(char *const argv[], const char *in_path, int out_fd, int err_fd,
                int *status, double *seconds, long *maxrss_kb);
char *bench_read_fd(int fd); /* the rest of fd, NUL-terminated, malloc'ed */

/* cells.c: aa_exec against the floor, for one row. */
void bench_measure_row(bench_row *row);
void bench_import_uvloop(void); /* first, when the uvloop row runs */

/* floor.c: the raw CPython floor.  Call with the GIL held. */
typedef struct bench_floor bench_floor;
bench_floor *bench_floor_new(const char *runner, char *why, size_t whylen);
int bench_floor_exec(bench_floor *f, const char *source); /* 0 or -1 */
const char *bench_floor_error(const bench_floor *f);      /* the first, or "" */
void bench_floor_free(bench_floor *f);

/* guest.c: the rows named in sel (by GUEST_* index), rep->guest filled. */
void bench_guest_rows_init(bench_report *rep);
void bench_run_guest(bench_report *rep, const bench_options *o);

/* host.c: the host-function rows named in sel, rep->host filled. */
void bench_host_rows_init(bench_report *rep);
void bench_run_host(bench_report *rep, const bench_options *o);

/* peers.c, procs.c, memory.c */
void bench_run_peers(bench_report *rep, const bench_options *o);
void bench_run_startup(bench_report *rep, const bench_options *o);
void bench_run_throughput(bench_report *rep, const bench_options *o);
void bench_run_memory(bench_report *rep, const bench_options *o);

/* report.c */
void bench_print_table(const bench_report *rep);
void bench_print_json(const bench_report *rep);
void bench_dump_workloads(FILE *f, const bench_report *rep);
void bench_json_string(const char *s);

#endif /* AA_BENCH_H */
