/*
 * report.c -- the report, as an aligned table or as JSON, and the
 * workloads as JSON for peers.py.  Prints only; measures nothing.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autoawait/autoawait.h"

/* ------------------------------------------------------------------ table */

static void peer_column(const bench_report *rep, const bench_row *row, int p)
{
    const bench_peer_cell *c = &row->peer[p];

    if (!rep->peers_ran || !row->peers_selected)
        printf(" %13s", "-");
    else if (!rep->peer_ok[p])
        printf(" %13s", "not installed");
    else if (c->state == 1)
        printf(" %12.1f%c", c->us, c->errors ? '!' : ' ');
    else
        printf(" %13s", "n/a");
}

static void row_line(const bench_report *rep, const bench_row *row)
{
    const bench_workload *w = row->w;
    const bench_peer_cell *ipy = &row->peer[PEER_IPY_ON];
    char target[16];
    int p;

    printf("%-26s", w->label);
    if (row->measured) {
        snprintf(target, sizeof target, "%.2fx", w->target);
        printf(" %9.2f %9.2f %6.2fx%c %6s", row->aa_median, row->floor_median,
               row->ratio, row->aa_errors || row->floor_errors ? '!' : ' ',
               target);
    } else {
        printf(" %-35.35s", row->selected ? row->na : "-");
    }
    printf(" |");
    for (p = 0; p < BENCH_NPEERS; p++)
        peer_column(rep, row, p);
    printf(" |");
    if (row->measured && ipy->state == 1 && rep->peer_ok[PEER_IPY_ON])
        printf(" %7.1fx", ipy->us / row->aa_median);
    else
        printf(" %8s", "-");
    if (w->ipy_target > 0)
        printf(" %5.0fx\n", w->ipy_target);
    else
        printf(" %6s\n", "-");
}

static void print_cells(const bench_report *rep)
{
    size_t i, shown = 0;
    int p;

    for (i = 0; i < rep->nrows; i++)
        shown += rep->rows[i].selected || rep->rows[i].peers_selected;
    if (shown == 0)
        return;
    printf("Per cell, in microseconds: the median of %d rounds, each round a "
           "block of N cells\nthrough aa_exec and a block through the floor, "
           "back to back (N = %d for tiny\ncells; other counts for the big "
           "ones, see --json).  Ratio: the median of the\nrounds' aa_exec / "
           "floor; target: issue 5's ceiling for it.  Peers: peers.py,\n"
           "run after, the same cells.\n\n",
           rep->rounds, rep->cells);
    printf("%-26s %9s %9s %7s %6s | %13s %13s %13s | %8s %6s\n", "workload",
           "aa_exec", "floor", "ratio", "target", "IPython", "IPython",
           "asyncio", "IPython/", "target");
    printf("%-26s %9s %9s %7s %6s | %13s %13s %13s | %8s %6s\n", "", "", "", "",
           "", "hist on", "hist off", "console", "aa_exec", "");
    for (i = 0; i < rep->nrows; i++) {
        if (rep->rows[i].selected || rep->rows[i].peers_selected)
            row_line(rep, &rep->rows[i]);
    }
    for (i = 0; i < rep->nrows; i++) {
        const bench_row *row = &rep->rows[i];

        if (row->selected && !row->measured && row->na_detail[0])
            printf("%s: %s: %s\n", row->w->name, row->na, row->na_detail);
        if (row->aa_errors || row->floor_errors)
            printf("! %s: %ld aa_exec and %ld floor cells failed; first: %s\n",
                   row->w->name, row->aa_errors, row->floor_errors,
                   row->first_error);
        for (p = 0; p < BENCH_NPEERS; p++) {
            if (row->peer[p].state == 1 && row->peer[p].errors)
                printf("! %s, %s: %ld cells failed; first: %s\n", row->w->name,
                       bench_peer_names[p], row->peer[p].errors,
                       row->peer[p].note);
        }
    }
    if (rep->peers_ran) {
        for (p = 0; p < BENCH_NPEERS; p++)
            printf("%s: %s\n", bench_peer_labels[p], rep->peer_info[p]);
    }
}

static void print_startup(const bench_report *rep)
{
    static const char *const what[2] = {"-c '1'", "top-level await cell"};
    int k;

    printf("\nStart-up, median of the runs (time: %s; peak RSS: wait4)\n",
           rep->startup_method);
    printf("%-30s %10s %10s %7s %7s\n", "", "aa-shell", "python3", "ratio",
           "target");
    for (k = 0; k < 2; k++) {
        printf("%-30s %10.1f %10.1f %6.2fx %7s\n", what[k], rep->start_aa_ms[k],
               rep->start_py_ms[k], rep->start_aa_ms[k] / rep->start_py_ms[k],
               k == 0 ? "1.30x" : "-");
    }
    for (k = 0; k < 2; k++) {
        printf("%-30s %10.1f %10.1f %6.2fx %7s\n",
               k == 0 ? "peak RSS MB, -c '1'" : "peak RSS MB, await cell",
               rep->start_aa_rss_mb[k], rep->start_py_rss_mb[k],
               rep->start_aa_rss_mb[k] / rep->start_py_rss_mb[k], "-");
    }
    printf("(times in ms; python3 runs `import asyncio; "
           "asyncio.run(asyncio.sleep(0))` for the await cell)\n");
}

static void print_memory(const bench_report *rep)
{
    static const char *const targets[3] = {"", "", "16"};
    int k;

    printf("\nMemory: one session, tiny cells cycling x = N, x + N, await "
           "asyncio.sleep(0)\n");
    printf("%-22s %10s %10s %8s\n", "after", "RSS MB", "growth MB", "target");
    for (k = 0; k < 3; k++) {
        printf("%-16ld cells %10.1f %10.1f %8s\n", rep->mem_cells[k],
               rep->rss_mb[k], rep->rss_mb[k] - rep->rss_mb[0], targets[k]);
    }
    printf("%-22s %10.1f %10.1f %8s\n", "aa_session_free", rep->rss_free_mb,
           rep->rss_free_mb - rep->rss_mb[0], "2");
    printf("%-22s %10.1f %10.1f %8s\n", "+ gc, malloc_trim", rep->rss_trim_mb,
           rep->rss_trim_mb - rep->rss_mb[0], "");
    if (rep->memory_note[0])
        printf("! %s\n", rep->memory_note);
}

static void print_throughput(const bench_report *rep)
{
    double n = (double)rep->tp_cells;

    printf("\nThroughput: %ld cells piped through stdin (x = N, x + N, await "
           "asyncio.sleep(0)),\nmedian of the rounds\n",
           rep->tp_cells);
    if (rep->tp_aa_s >= 0)
        printf("%-22s %8.2f s %10.1f us/cell\n", "aa-shell", rep->tp_aa_s,
               rep->tp_aa_s * 1e6 / n);
    else
        printf("%-22s %s\n", "aa-shell", rep->tp_aa_note);
    if (rep->tp_py_s >= 0)
        printf("%-22s %8.2f s %10.1f us/cell\n", "python3 -m asyncio",
               rep->tp_py_s, rep->tp_py_s * 1e6 / n);
    else
        printf("%-22s %s\n", "python3 -m asyncio", rep->tp_py_note);
    if (rep->tp_aa_s > 0 && rep->tp_py_s > 0)
        printf("%-22s %8.2fx (target >= 5x)\n", "speed-up",
               rep->tp_py_s / rep->tp_aa_s);
}

static void print_wake(const bench_guest_row *w)
{
    if (!w->measured) {
        printf("\nWake-up: n/a: %s\n", w->note);
        return;
    }
    printf("\nWake-up: the session fd turning readable -> the waiting "
           "cell's next step,\n%d trials, in microseconds\n",
           w->n);
    printf("%-34s %8s %8s %8s %8s %7s\n", "", "median", "p90", "min", "max",
           "target");
    printf("%-34s %8.1f %8.1f %8.1f %8.1f %4.0f us%s\n",
           "write(2) -> the cell resumes", w->median, w->p90, w->min, w->max,
           w->target, w->errors ? " !" : "");
    printf("%-34s %8.1f %8.1f\n", "  write(2) -> poll(2) returns",
           w->wake_median, w->wake_p90);
    printf("%-34s %8.1f %8.1f   (%.0f dispatches to its end)\n",
           "  poll(2) returns -> resumes", w->step_median, w->step_p90,
           w->dispatches_median);
    printf("%-34s %8.1f %8.1f\n", "    the first dispatch", w->first_median,
           w->first_p90);
}

/* One row timed against its reference: the label, then the figures (with
 * digits decimals) or why there are none; the target in µs (us) or as a
 * ratio. */
static void paired_line(const bench_guest_row *g, int digits, int us)
{
    printf("%-38s", g->label);
    if (!g->measured) {
        printf(" n/a: %s\n", g->note);
        return;
    }
    printf(" %8.*f %9.*f %6.2fx%c", digits, g->median, digits, g->ref_median,
           g->ratio, g->errors ? '!' : ' ');
    if (us)
        printf(" %3.0f us  reference: %s\n", g->target, g->ref_label);
    else
        printf(" %5.2fx  reference: %s\n", g->target, g->ref_label);
}

static void paired_failures(const bench_guest_row *g, int n)
{
    int k;

    for (k = 0; k < n; k++) {
        if (g[k].measured && g[k].errors)
            printf("! %s: %ld failures; first: %s\n", g[k].name, g[k].errors,
                   g[k].note);
    }
}

static void print_guest(const bench_report *rep)
{
    const bench_guest_row *g = rep->guest;
    int k, any = 0;

    for (k = GUEST_IDLE; k <= GUEST_SLEEP0; k++)
        any |= g[k].selected;
    if (any) {
        printf("\nGuest loop: aa-bench as the host (poll(2) on aa_session_fd "
               "for aa_session_timeout,\naa_session_dispatch, "
               "aa_exec_start); per call or cell, in microseconds: the\n"
               "median of %d rounds, each a block of the row and a block of "
               "its reference,\nback to back; ratio: the median of the "
               "rounds' row / reference\n",
               rep->rounds);
        printf("%-38s %8s %9s %7s %7s\n", "", "guest", "reference", "ratio",
               "target");
    }
    for (k = GUEST_IDLE; k <= GUEST_SLEEP0; k++) {
        if (g[k].selected)
            paired_line(&g[k], 2, k == GUEST_IDLE);
    }
    if (g[GUEST_WAKE].selected)
        print_wake(&g[GUEST_WAKE]);
    paired_failures(g, BENCH_NGUEST);
}

static void print_host(const bench_report *rep)
{
    const bench_guest_row *g = rep->host;
    int k;

    printf("\nHost functions: one cell per block, a loop of %d calls (of %d "
           "awaits for the\nawait row); per call or await, in "
           "microseconds: the median of %d rounds, each\na block of the row "
           "and a block of its reference, back to back; ratio: the\nmedian "
           "of the rounds' row / reference\n",
           g[HOST_CALL].n, g[HOST_AWAIT].n, rep->rounds);
    printf("%-38s %8s %9s %7s %7s\n", "", "host", "reference", "ratio",
           "target");
    for (k = 0; k < BENCH_NHOST; k++) {
        if (g[k].selected)
            paired_line(&g[k], 3, 0);
    }
    paired_failures(g, BENCH_NHOST);
}

void bench_print_table(const bench_report *rep)
{
    printf("aa-bench: libautoawait %s, Python %s, %ld CPUs, %s\n\n",
           aa_version(), rep->python_version, rep->cpus, rep->date);
    print_cells(rep);
    if (rep->startup_ran)
        print_startup(rep);
    else if (rep->startup_note[0])
        printf("\nStart-up: %s\n", rep->startup_note);
    if (rep->memory_ran)
        print_memory(rep);
    else if (rep->memory_note[0])
        printf("\nMemory: %s\n", rep->memory_note);
    if (rep->throughput_ran)
        print_throughput(rep);
    if (rep->guest_ran)
        print_guest(rep);
    if (rep->host_ran)
        print_host(rep);
}

/* ------------------------------------------------------------------- JSON */

static void json_fstring(FILE *f, const char *s)
{
    putc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            putc(c, f);
    }
    putc('"', f);
}

void bench_json_string(const char *s)
{
    json_fstring(stdout, s);
}

/* A number, or null when it is not one (a ratio over 0, say). */
static void json_number(double v)
{
    if (isfinite(v))
        printf("%.3f", v);
    else
        fputs("null", stdout);
}

static void json_key(const char *key, int first)
{
    printf("%s", first ? "" : ", ");
    bench_json_string(key);
    fputs(": ", stdout);
}

static void json_samples(const char *key, const double *v, int n)
{
    int i;

    json_key(key, 0);
    putchar('[');
    for (i = 0; i < n; i++) {
        printf(i ? ", " : "");
        json_number(v[i]);
    }
    putchar(']');
}

/* Two sides timed in interleaved rounds: their medians under keys[0]
 * and keys[1], the ratio, and every round under keys[2] and keys[3]. */
static void json_sides(const char *const keys[4], double a, double b,
                       double ratio, const double *a_us, const double *b_us,
                       int rounds)
{
    json_key(keys[0], 0);
    json_number(a);
    json_key(keys[1], 0);
    json_number(b);
    json_key("ratio", 0);
    json_number(ratio);
    json_samples(keys[2], a_us, rounds);
    json_samples(keys[3], b_us, rounds);
}

static void json_peers(const bench_report *rep, const bench_row *row)
{
    int p;

    json_key("peers", 0);
    putchar('{');
    for (p = 0; p < BENCH_NPEERS; p++) {
        const bench_peer_cell *c = &row->peer[p];

        json_key(bench_peer_names[p], p == 0);
        if (!rep->peer_ok[p] || c->state == 0) {
            fputs("{\"us\": null, \"note\": \"not installed\"}", stdout);
        } else if (c->state < 0) {
            fputs("{\"us\": null, \"note\": ", stdout);
            bench_json_string(c->note);
            putchar('}');
        } else {
            fputs("{\"us\": ", stdout);
            json_number(c->us);
            printf(", \"errors\": %ld, \"first_error\": ", c->errors);
            bench_json_string(c->note);
            putchar('}');
        }
    }
    putchar('}');
}

static void json_row(const bench_report *rep, const bench_row *row)
{
    fputs("    {", stdout);
    json_key("name", 1);
    bench_json_string(row->w->name);
    json_key("label", 0);
    bench_json_string(row->w->label);
    printf(", \"runner\": \"%s\", \"cells\": %d, \"rounds\": %d",
           row->w->runner, row->cells, row->rounds);
    json_key("target_ratio", 0);
    json_number(row->w->target);
    if (row->measured) {
        static const char *const keys[4] = {"aa_us", "floor_us", "aa_rounds_us",
                                            "floor_rounds_us"};

        json_sides(keys, row->aa_median, row->floor_median, row->ratio,
                   row->aa_us, row->floor_us, row->rounds);
        printf(", \"aa_errors\": %ld, \"floor_errors\": %ld", row->aa_errors,
               row->floor_errors);
        json_key("first_error", 0);
        bench_json_string(row->first_error);
    } else {
        fputs(", \"aa_us\": null, \"floor_us\": null, \"ratio\": null", stdout);
        json_key("note", 0);
        bench_json_string(row->selected ? row->na : "not selected");
        json_key("detail", 0);
        bench_json_string(row->na_detail);
    }
    if (rep->peers_ran && row->peers_selected)
        json_peers(rep, row);
    putchar('}');
}

static void json_startup(const bench_report *rep)
{
    int k;

    printf(",\n  \"startup\": {\"method\": \"%s\"", rep->startup_method);
    for (k = 0; k < 2; k++) {
        printf(", \"%s\": {", k ? "await_cell" : "c_1");
        json_key("aa_shell_ms", 1);
        json_number(rep->start_aa_ms[k]);
        json_key("python_ms", 0);
        json_number(rep->start_py_ms[k]);
        json_key("ratio", 0);
        json_number(rep->start_aa_ms[k] / rep->start_py_ms[k]);
        json_key("aa_shell_peak_rss_mb", 0);
        json_number(rep->start_aa_rss_mb[k]);
        json_key("python_peak_rss_mb", 0);
        json_number(rep->start_py_rss_mb[k]);
        putchar('}');
    }
    fputs(", \"target_ratio_c_1\": 1.3}", stdout);
}

static void json_memory(const bench_report *rep)
{
    printf(",\n  \"memory\": {\"cells\": [%ld, %ld, %ld], \"rss_mb\": [",
           rep->mem_cells[0], rep->mem_cells[1], rep->mem_cells[2]);
    json_number(rep->rss_mb[0]);
    fputs(", ", stdout);
    json_number(rep->rss_mb[1]);
    fputs(", ", stdout);
    json_number(rep->rss_mb[2]);
    fputs("], \"growth_mb\": ", stdout);
    json_number(rep->rss_mb[2] - rep->rss_mb[0]);
    fputs(", \"after_free_mb\": ", stdout);
    json_number(rep->rss_free_mb);
    fputs(", \"remaining_after_free_mb\": ", stdout);
    json_number(rep->rss_free_mb - rep->rss_mb[0]);
    fputs(", \"after_gc_and_malloc_trim_mb\": ", stdout);
    json_number(rep->rss_trim_mb);
    fputs(", \"note\": ", stdout);
    bench_json_string(rep->memory_note);
    fputs(", \"target_growth_mb\": 16, \"target_remaining_mb\": 2}", stdout);
}

static void json_throughput(const bench_report *rep)
{
    printf(",\n  \"throughput\": {\"cells\": %ld", rep->tp_cells);
    json_key("aa_shell_s", 0);
    rep->tp_aa_s >= 0 ? json_number(rep->tp_aa_s) : (void)fputs("null", stdout);
    json_key("python_asyncio_s", 0);
    rep->tp_py_s >= 0 ? json_number(rep->tp_py_s) : (void)fputs("null", stdout);
    json_key("speedup", 0);
    json_number(rep->tp_aa_s > 0 && rep->tp_py_s > 0
                    ? rep->tp_py_s / rep->tp_aa_s
                    : NAN);
    json_key("aa_shell_note", 0);
    bench_json_string(rep->tp_aa_note);
    json_key("python_note", 0);
    bench_json_string(rep->tp_py_note);
    fputs(", \"target_speedup\": 5}", stdout);
}

/* Rows timed against references, as the object section: row k == us has
 * its target in µs, row k == wake is guest_wake's latencies. */
static void json_paired(const char *section, const bench_guest_row *rows, int n,
                        int us, int wake)
{
    const bench_guest_row *g;
    int k, first = 1;

    printf(",\n  \"%s\": {", section);
    for (k = 0; k < n; k++) {
        g = &rows[k];
        if (!g->selected)
            continue;
        printf("%s\n    ", first ? "" : ",");
        json_key(g->name, 1);
        putchar('{');
        json_key("label", 1);
        bench_json_string(g->label);
        printf(", \"%s\": %d, \"rounds\": %d",
               k == wake ? "trials" : "per_block", g->n, g->rounds);
        json_key(k == us || k == wake ? "target_us" : "target_ratio", 0);
        json_number(g->target);
        if (!g->measured || k == wake) {
            json_key("us", 0);
            g->measured ? json_number(g->median) : (void)fputs("null", stdout);
        }
        if (g->measured && k == wake) {
            const struct {
                const char *key;
                double v;
            } f[] = {{"p90_us", g->p90},
                     {"min_us", g->min},
                     {"max_us", g->max},
                     {"write_to_poll_us", g->wake_median},
                     {"write_to_poll_p90_us", g->wake_p90},
                     {"poll_to_resume_us", g->step_median},
                     {"poll_to_resume_p90_us", g->step_p90},
                     {"first_dispatch_us", g->first_median},
                     {"first_dispatch_p90_us", g->first_p90},
                     {"dispatches", g->dispatches_median}};
            size_t i;

            for (i = 0; i < sizeof f / sizeof *f; i++) {
                json_key(f[i].key, 0);
                json_number(f[i].v);
            }
        } else if (g->measured) {
            static const char *const keys[4] = {
                "us", "reference_us", "rounds_us", "reference_rounds_us"};

            json_key("reference", 0);
            bench_json_string(g->ref_label);
            json_sides(keys, g->median, g->ref_median, g->ratio, g->us,
                       g->ref_us, g->rounds);
        }
        printf(", \"errors\": %ld", g->errors);
        json_key("note", 0);
        bench_json_string(g->note);
        putchar('}');
        first = 0;
    }
    fputs("}", stdout);
}

void bench_print_json(const bench_report *rep)
{
    size_t i;
    int first = 1, p;

    printf("{\n  \"aa_version\": \"%s\", \"python\": ", aa_version());
    bench_json_string(rep->python_version);
    printf(", \"cpus\": %ld, \"date\": ", rep->cpus);
    bench_json_string(rep->date);
    printf(", \"cells\": %d, \"rounds\": %d,\n", rep->cells, rep->rounds);
    fputs("  \"peers\": {", stdout);
    for (p = 0; rep->peers_ran && p < BENCH_NPEERS; p++) {
        json_key(bench_peer_names[p], p == 0);
        printf("{\"installed\": %s, \"info\": ",
               rep->peer_ok[p] ? "true" : "false");
        bench_json_string(rep->peer_info[p]);
        putchar('}');
    }
    fputs("},\n  \"workloads\": [\n", stdout);
    for (i = 0; i < rep->nrows; i++) {
        if (!rep->rows[i].selected && !rep->rows[i].peers_selected)
            continue;
        printf(first ? "" : ",\n");
        json_row(rep, &rep->rows[i]);
        first = 0;
    }
    fputs("\n  ]", stdout);
    if (rep->startup_ran)
        json_startup(rep);
    if (rep->memory_ran) {
        json_memory(rep);
    } else if (rep->memory_note[0]) {
        fputs(",\n  \"memory\": {\"note\": ", stdout);
        bench_json_string(rep->memory_note);
        putchar('}');
    }
    if (rep->throughput_ran)
        json_throughput(rep);
    if (rep->guest_ran)
        json_paired("guest", rep->guest, BENCH_NGUEST, GUEST_IDLE, GUEST_WAKE);
    if (rep->host_ran)
        json_paired("host", rep->host, BENCH_NHOST, -1, -1);
    fputs("\n}\n", stdout);
}

void bench_dump_workloads(FILE *f, const bench_report *rep)
{
    size_t i;
    int first = 1;

    fprintf(f, "{\"placeholder\": \"%s\", \"workloads\": [\n", BENCH_COUNTER);
    for (i = 0; i < rep->nrows; i++) {
        const bench_row *row = &rep->rows[i];

        if (!row->peers_selected)
            continue;
        fprintf(f, "%s  {\"name\": \"%s\", \"label\": ", first ? "" : ",\n",
                row->w->name);
        json_fstring(f, row->w->label);
        fprintf(f,
                ", \"runner\": \"%s\", \"cells\": %d, \"rounds\": %d, "
                "\"setup\": ",
                row->w->runner, row->cells, row->rounds);
        json_fstring(f, row->w->setup);
        fputs(", \"template\": ", f);
        json_fstring(f, row->w->tmpl);
        putc('}', f);
        first = 0;
    }
    fputs("\n]}\n", f);
}
