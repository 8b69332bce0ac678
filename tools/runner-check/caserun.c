/*
 * caserun.c -- runs one conformance case through the public host API and
 * reports it.
 *
 * Owns the running and the report of a case: a fresh session with the
 * case's options (or the runner the program chose for every case), its
 * "requires:" modules tried first (a case whose module does not import is
 * skipped, and says so), each cell through aa_exec, the expectations held
 * against the last one, and a report on stdout: "PASS", "FAIL" with every
 * expectation that did not hold and what the cell gave, or "SKIP" with the
 * reason.  Reading the case files is casefile.c's; choosing the cases and
 * the last line are the programs' (tests/conformance/conformance.c,
 * aa-runner-check).  It uses nothing but <autoawait/autoawait.h> and knows
 * nothing of how the library works inside: a failing case is the library's
 * (or the runner's) to fix, never a reason to bend the reading.
 */
#include "caserun.h"

#include <autoawait/autoawait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture {
    sbuf out; /* stream 1 of the current cell */
    sbuf err; /* stream 2 of the whole case */
};

static void capture_write(void *userdata, int stream, const char *data,
                          size_t len)
{
    struct capture *cap = userdata;
    sb_add(stream == 1 ? &cap->out : &cap->err, data, len);
}

static void discard_write(void *userdata, int stream, const char *data,
                          size_t len)
{
    (void)userdata;
    (void)stream;
    (void)data;
    (void)len;
}

struct caserun_module {
    char *name;
    int status; /* aa_exec's answer to "import NAME" */
};

void caserun_init(struct caserun *run)
{
    memset(run, 0, sizeof *run);
    run->show_passes = 1;
}

void caserun_free(struct caserun *run)
{
    size_t i;

    for (i = 0; i < run->nmods; i++)
        free(run->mods[i].name);
    free(run->mods);
    run->mods = NULL;
    run->nmods = run->capmods = 0;
}

/* The status of "import name" in a throwaway session, asked once. */
static int import_status(struct caserun *run, const char *name)
{
    aa_options o;
    aa_session *s = NULL;
    sbuf src = {0};
    size_t i;
    int st;

    for (i = 0; i < run->nmods; i++)
        if (strcmp(run->mods[i].name, name) == 0)
            return run->mods[i].status;
    aa_options_init(&o);
    o.write = discard_write;
    st = aa_session_new(&s, &o);
    if (st != AA_OK)
        return st;
    sb_printf(&src, "import %s\n", name);
    st = aa_exec(s, src.p, NULL);
    sb_free(&src);
    aa_session_free(s);
    run->mods = grow(run->mods, &run->capmods, run->nmods, sizeof *run->mods);
    run->mods[run->nmods].name = xstrndup(name, strlen(name));
    run->mods[run->nmods++].status = st;
    return st;
}

int caserun_try_runner(const char *runner, sbuf *why)
{
    aa_options o;
    aa_session *s = NULL;
    int st;

    aa_options_init(&o);
    o.write = discard_write;
    st = aa_session_new(&s, &o);
    if (st != AA_OK) {
        sb_printf(why, "aa_session_new answers %s: %s", aa_strerror(st),
                  aa_errmsg());
        return st;
    }
    st = aa_session_set_runner(s, runner);
    if (st != AA_OK)
        sb_puts(why, aa_session_errmsg(s));
    aa_session_free(s);
    return st;
}

/* Says why the session could not get its runner, as the library words it. */
static void explain_runner(const char *runner, sbuf *rep)
{
    sbuf why = {0};
    int st = caserun_try_runner(runner, &why);

    if (st != AA_OK) {
        sb_printf(rep, "    aa_session_set_runner(\"%s\") answers ", runner);
        sb_status(rep, st);
        sb_printf(rep, ": %s\n", why.p ? why.p : "");
    }
    sb_free(&why);
}

static void describe_result(const aa_result *r, int st, sbuf *rep)
{
    const char *tb = aa_result_traceback(r);

    sb_puts(rep, "    status ");
    sb_status(rep, st);
    sb_printf(rep, ", async %d, exit_code %d\n", aa_result_is_async(r),
              aa_result_exit_code(r));
    sb_puts(rep, "    repr ");
    sb_value(rep, aa_result_repr(r));
    sb_puts(rep, ", exception ");
    sb_value(rep, aa_result_exception(r));
    sb_puts(rep, ", message ");
    sb_value(rep, aa_result_message(r));
    sb_add(rep, "\n", 1);
    if (tb != NULL)
        sb_block(rep, "traceback", tb, strlen(tb));
}

/* What the last cell gave for one key: a number or a string. */
struct got {
    int num;
    const char *str; /* NULL: the accessor answered NULL */
    size_t len;
};

static struct got result_value(enum key key, const aa_result *r,
                               const sbuf *out)
{
    struct got g = {0, NULL, 0};

    if (key == K_STATUS)
        g.num = aa_result_status(r);
    else if (key == K_ASYNC)
        g.num = aa_result_is_async(r) != 0;
    else if (key == K_EXIT_CODE)
        g.num = aa_result_exit_code(r);
    else if (key == K_REPR)
        g.str = aa_result_repr(r);
    else if (key == K_EXCEPTION)
        g.str = aa_result_exception(r);
    else if (key == K_MESSAGE)
        g.str = aa_result_message(r);
    else if (key == K_TRACEBACK || key == K_TRACEBACK_NOT)
        g.str = aa_result_traceback(r);
    if (g.str != NULL)
        g.len = strlen(g.str);
    if (key == K_STDOUT || key == K_STDOUT_EXACT) {
        /* What the cell wrote may hold NUL bytes: compare by length. */
        g.str = out->p ? out->p : "";
        g.len = out->len;
    }
    return g;
}

static int holds(const struct expect *e, const struct got *g)
{
    switch (e->key) {
    case K_STATUS:
    case K_ASYNC:
    case K_EXIT_CODE:
        return g->num == e->num;
    case K_REPR:
    case K_EXCEPTION:
    case K_STDOUT_EXACT:
        if (g->str == NULL || e->value == NULL)
            return g->str == e->value;
        return g->len == e->len && memcmp(g->str, e->value, g->len) == 0;
    case K_TRACEBACK_NOT:
        return g->str == NULL || !contains(g->str, g->len, e->value, e->len);
    default:
        return g->str != NULL && contains(g->str, g->len, e->value, e->len);
    }
}

static void explain(const struct expect *e, const struct got *g, sbuf *rep)
{
    const char *how = "";

    if (e->key == K_MESSAGE || e->key == K_TRACEBACK || e->key == K_STDOUT)
        how = " to contain";
    else if (e->key == K_TRACEBACK_NOT)
        how = " not to contain";
    sb_printf(rep, "    expected %s%s (line %d): ", key_names[e->key], how,
              e->line);
    if (e->key == K_STATUS) {
        sb_status(rep, e->num);
        sb_puts(rep, "\n         got: ");
        sb_status(rep, g->num);
        sb_add(rep, "\n", 1);
        return;
    }
    if (e->key == K_ASYNC || e->key == K_EXIT_CODE) {
        sb_printf(rep, "%d\n         got: %d\n", e->num, g->num);
        return;
    }
    if (e->value == NULL)
        sb_puts(rep, "NULL");
    else
        sb_quoted(rep, e->value, e->len);
    sb_puts(rep, "\n         got: ");
    if (g->str == NULL)
        sb_puts(rep, "NULL");
    else
        sb_quoted(rep, g->str, g->len);
    sb_add(rep, "\n", 1);
}

/* Checks one expectation against the last cell; 1 when it holds. */
static int check_expect(const struct expect *e, const aa_result *r,
                        const sbuf *out, sbuf *rep)
{
    struct got g = result_value(e->key, r, out);

    if (holds(e, &g))
        return 1;
    explain(e, &g, rep);
    return 0;
}

/* Runs the cells of c in s; 1 when every expectation holds. */
static int run_cells(const struct kase *c, aa_session *s, struct capture *cap,
                     int verbose, sbuf *rep)
{
    size_t i, k;
    int ok = 1;

    for (i = 0; i < c->ncells && ok; i++) {
        const struct cell *cell = &c->cells[i];
        int last = i + 1 == c->ncells;
        aa_result *r = NULL;
        int st;

        cap->out.len = 0;
        sb_add(&cap->out, "", 0);
        st = aa_exec(s, cell->src.p, &r);
        if (verbose) {
            sb_printf(rep, "    cell %zu (line %d): ", i + 1, cell->line);
            sb_status(rep, st);
            sb_add(rep, "\n", 1);
        }
        if (r == NULL || aa_result_status(r) != st) {
            sb_printf(rep, "    cell %zu (line %d): aa_exec returned ", i + 1,
                      cell->line);
            sb_status(rep, st);
            if (r == NULL) {
                sb_puts(rep, " but no result\n");
            } else {
                sb_puts(rep, " but its result says ");
                sb_status(rep, aa_result_status(r));
                sb_add(rep, "\n", 1);
            }
            ok = 0;
        } else if (!last && st != AA_OK && !cell->may_fail) {
            sb_printf(rep, "    cell %zu (line %d) must succeed:\n", i + 1,
                      cell->line);
            ok = 0;
        } else if (last) {
            for (k = 0; k < c->nexpects; k++)
                if (!check_expect(&c->expects[k], r, &cap->out, rep))
                    ok = 0;
        }
        if (!ok || (last && verbose))
            describe_result(r, st, rep);
        aa_result_free(r);
    }
    if (!ok && cap->out.len > 0)
        sb_block(rep, "stdout of the cell", cap->out.p, cap->out.len);
    return ok;
}

void caserun_report(const char *word, const struct kase *c, const char *why,
                    const sbuf *rep)
{
    printf("%s %s%s [%s:%d]\n", word, c->title, why ? why : "", c->file,
           c->line);
    if (rep->len > 0)
        fputs(rep->p, stdout);
    fflush(stdout);
}

/* Answers 1 (module imports), 0 (skip, said so) or -1 (failed). */
static int check_module(struct caserun *run, const struct kase *c,
                        const char *module, sbuf *rep)
{
    int st = import_status(run, module);
    sbuf why = {0};

    if (st < 0) {
        sb_printf(rep, "    cannot check 'requires: %s': ", module);
        sb_status(rep, st);
        sb_add(rep, "\n", 1);
        return -1;
    }
    if (st == AA_OK)
        return 1;
    sb_printf(&why, ": requires %s (import %s failed)", module, module);
    caserun_report("SKIP", c, why.p, rep);
    sb_free(&why);
    return 0;
}

/* Answers 1 (all requirements met), 0 (skip, said so) or -1 (failed). */
static int check_requires(struct caserun *run, const struct kase *c, sbuf *rep)
{
    size_t i;
    int ok = 1;

    if (run->requires != NULL)
        ok = check_module(run, c, run->requires, rep);
    for (i = 0; i < c->nmodules && ok > 0; i++)
        ok = check_module(run, c, c->modules[i], rep);
    return ok;
}

void caserun_case(struct caserun *run, const struct kase *c)
{
    const char *runner = run->runner != NULL ? run->runner : c->runner;
    struct capture cap = {{0}, {0}};
    aa_session *s = NULL;
    aa_options o;
    sbuf rep = {0};
    int ok, st;

    ok = check_requires(run, c, &rep);
    if (ok == 0) {
        run->skipped++;
        sb_free(&rep);
        return;
    }
    if (ok > 0) {
        aa_options_init(&o);
        if (runner != NULL)
            o.runner = runner;
        o.autoawait = c->autoawait;
        o.write = capture_write;
        o.userdata = &cap;
        st = aa_session_new(&s, &o);
        if (st != AA_OK) {
            sb_printf(&rep, "    aa_session_new (runner %s) answers ",
                      runner ? runner : "default");
            sb_status(&rep, st);
            sb_add(&rep, "\n", 1);
            if (runner != NULL)
                explain_runner(runner, &rep);
            ok = 0;
        } else {
            ok = run_cells(c, s, &cap, run->verbose, &rep);
            aa_session_free(s);
        }
    }
    if (ok <= 0 && cap.err.len > 0)
        sb_block(&rep, "stderr of the case", cap.err.p, cap.err.len);
    if (ok > 0)
        run->passed++;
    else
        run->failed++;
    if (ok <= 0 || run->show_passes)
        caserun_report(ok > 0 ? "PASS" : "FAIL", c, NULL, &rep);
    sb_free(&rep);
    sb_free(&cap.out);
    sb_free(&cap.err);
}
