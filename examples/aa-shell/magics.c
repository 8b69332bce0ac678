/*
 * magics.c -- %time and %timeit, which accept await (IPython's cannot:
 * its issues #11314 and #14157), as console magics on top of the library.
 *
 * %time STMT runs STMT as the cell and prints the CPU and wall time before
 * its Out[n].  %timeit STMT times STMT as IPython does: the session's AST
 * transformers apply to STMT alone, never to the timing code, which is
 * Python's compile()'s, not a cell's.  Its cell hands STMT to a harness
 * (TIMEIT_HARNESS) that transforms it, puts it in the loop of a function
 * (async, so await works there, and so do plain statements), runs that,
 * and prints the times for the shell to read.  %%time and %%timeit do the
 * same for the rest of the cell; %%timeit's first line is setup, run
 * before the timer starts in each run, in the statement's scope, as in
 * IPython.  %autoawait is the library's.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shell.h"

#define TIMEIT_REPEAT 7

/* A magic's parsed form. */
struct magic {
    const char *name; /* "time" or "timeit" */
    const char *args; /* what follows the name on its line */
    size_t args_len;  /* up to the end of that line */
    const char *body; /* %% form: the lines after the first; else args */
    int cell;         /* the %% form */
};

/* Is s the magic name followed by a space, a newline or the end? */
static const char *after_name(const char *s, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(s, name, n) != 0)
        return NULL;
    if (s[n] != '\0' && s[n] != ' ' && s[n] != '\t' && s[n] != '\n')
        return NULL;
    return s + n;
}

static int parse_magic(const char *src, struct magic *m)
{
    static const char *const names[] = {"timeit", "time"};
    const char *p = src + strspn(src, " \t"), *rest = NULL;
    size_t i;

    if (*p != '%')
        return 0;
    m->cell = p[1] == '%';
    p += m->cell ? 2 : 1;
    for (i = 0; i < sizeof names / sizeof names[0] && rest == NULL; i++)
        if ((rest = after_name(p, names[i])) != NULL)
            m->name = names[i];
    if (rest == NULL)
        return 0;
    rest += strspn(rest, " \t");
    m->args = rest;
    m->args_len = strcspn(rest, "\n");
    while (m->args_len > 0 && isspace((unsigned char)rest[m->args_len - 1]))
        m->args_len--;
    m->body = m->cell ? rest + strcspn(rest, "\n") : rest;
    if (m->cell && *m->body == '\n')
        m->body++;
    return 1;
}

size_t cell_magic_line(const char *src)
{
    struct magic m;

    if (!parse_magic(src, &m) || !m.cell)
        return 0;
    return (size_t)(m.body - src);
}

static int usage_error(struct shell *sh, const char *text)
{
    finish_output_line(sh);
    fprintf(stderr, "UsageError: %s\n", text);
    fflush(stderr);
    sh->failed = 1;
    return AA_EXCEPTION;
}

/* --------------------------------------------------------------- %time */

static double timeval_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void print_times(struct shell *sh, const struct rusage *before,
                        const struct rusage *after, double wall)
{
    double user =
        timeval_seconds(after->ru_utime) - timeval_seconds(before->ru_utime);
    double sys =
        timeval_seconds(after->ru_stime) - timeval_seconds(before->ru_stime);
    char u[32], s[32], t[32], w[32];

    format_seconds(user, u, sizeof u);
    format_seconds(sys, s, sizeof s);
    format_seconds(user + sys, t, sizeof t);
    format_seconds(wall, w, sizeof w);
    finish_output_line(sh);
    printf("CPU times: user %s, sys %s, total %s\nWall time: %s\n", u, s, t, w);
    fflush(stdout);
}

static int magic_time(struct shell *sh, const struct magic *m, int n)
{
    const char *code = m->cell ? m->body : m->args;
    size_t len = m->cell ? strlen(code) : m->args_len;
    struct rusage before, after;
    aa_result *r = NULL;
    double wall;
    int status;

    if (is_blank_line(code))
        return usage_error(sh, "%time needs a statement: %time STATEMENT");
    getrusage(RUSAGE_SELF, &before);
    wall = now_seconds();
    status = exec_source(sh, code, len, &r);
    wall = now_seconds() - wall;
    getrusage(RUSAGE_SELF, &after);
    /* As in IPython: a statement that raised shows its traceback only. */
    if (status == AA_OK)
        print_times(sh, &before, &after, wall);
    report_result(sh, r, status, n, 1);
    aa_result_free(r);
    return status;
}

/* ------------------------------------------------------------- %timeit */

struct timeit {
    long number; /* loops per run; 0: find one */
    int repeat;
    char name[64];
    const char *stmt;
    size_t stmt_len;
    const char *setup; /* %%timeit's first line, after the options */
    size_t setup_len;
};

/* "-n 100", "-n100", "-r 3": IPython's options; *p moves past them. */
static int timeit_options(const char **p, const char *end, struct timeit *t)
{
    while (*p < end && (*p)[0] == '-' && ((*p)[1] == 'n' || (*p)[1] == 'r')) {
        char opt = (*p)[1], *stop;
        long v = strtol(*p + 2, &stop, 10);

        if (stop == *p + 2 || v <= 0 || stop > end)
            return -1;
        if (opt == 'n')
            t->number = v;
        else
            t->repeat = v > 1000 ? 1000 : (int)v;
        *p = stop + strspn(stop, " \t");
    }
    return 0;
}

/*
 * The harness, run by Python's exec() (no AST transformer sees it) in a
 * dict of its own.  What it imports is the library's kind of import: gc,
 * itertools and time are built into the interpreter, ast and linecache
 * come through autoawait.import_trusted, so an ast.py in the current
 * folder never runs because of a %timeit.
 * run(ns, stmt, setup, number, repeat, is_async) parses
 * setup and stmt, applies the session's transformers to each (in order,
 * dropping one that fails, as the library does for cells), puts them in
 * inner(), whose loop runs stmt over itertools.repeat with the garbage
 * collector off as timeit does, and compiles that once, with ns (the
 * session's namespace) as its globals.  Its result is [LOOPS, SECONDS...]:
 * with no LOOPS given, 1, 10, 100, ... until a run takes 0.2 s, as
 * IPython does.  The user's lines are in linecache as <timeit>, so
 * tracebacks show them.
 */
static const char TIMEIT_HARNESS[] =
    "import autoawait, gc, itertools, time\n"
    "ast = autoawait.import_trusted('ast')\n"
    "linecache = autoawait.import_trusted('linecache')\n"
    "\n"
    "FILE = '<aa-shell %timeit>'\n"
    "USER = '<timeit>'\n"
    "LOOP = '# the timing loop of %timeit\\n'\n"
    "TEMPLATE = \"\"\"\\\n"
    "{a}def inner(__aa_n, __aa_clock, __aa_gc, __aa_repeat):\n"
    "    __aa_gc_was_on = __aa_gc.isenabled()\n"
    "    __aa_gc.disable()\n"
    "    try:\n"
    "        pass\n"
    "        __aa_t0 = __aa_clock()\n"
    "        for __aa_i in __aa_repeat(None, __aa_n):\n"
    "            pass\n"
    "        return __aa_clock() - __aa_t0\n"
    "    finally:\n"
    "        if __aa_gc_was_on:\n"
    "            __aa_gc.enable()\n"
    "\"\"\"\n"
    "\n"
    "\n"
    "def remember(name, text):\n"
    "    linecache.cache[name] = (len(text), None, text.splitlines(True), "
    "name)\n"
    "\n"
    "\n"
    "def transformed(src, first_line):\n"
    "    tree = ast.parse(src, USER)\n"
    "    ast.increment_lineno(tree, first_line - 1)\n"
    "    transformers = autoawait.ast_transformers\n"
    "    for t in tuple(transformers):\n"
    "        try:\n"
    "            tree = t.visit(tree)\n"
    "            if not isinstance(tree, ast.Module):\n"
    "                raise TypeError('AST transformer %r returned %.100s, not "
    "an '\n"
    "                                'ast.Module' % (t, type(tree).__name__))\n"
    "        except BaseException as e:\n"
    "            e.add_note('raised by the AST transformer %r, so the cell did "
    "'\n"
    "                       'not run; the transformer was taken off '\n"
    "                       'autoawait.ast_transformers' % (t,))\n"
    "            if t in transformers:\n"
    "                transformers.remove(t)\n"
    "            raise\n"
    "    return tree.body\n"
    "\n"
    "\n"
    "def timer(ns, stmt, setup, is_async):\n"
    "    text = setup + '\\n' + stmt + '\\n'\n"
    "    loop_line = text.count('\\n') + 1\n"
    "    remember(USER, text + LOOP)\n"
    "    tree = ast.parse(TEMPLATE.format(a='async ' if is_async else ''))\n"
    "    for node in ast.walk(tree):\n"
    "        if 'lineno' in node._attributes:\n"
    "            node.lineno = node.end_lineno = loop_line\n"
    "            node.col_offset, node.end_col_offset = 0, len(LOOP) - 1\n"
    "    body = tree.body[0].body[2].body\n"
    "    body[2].body = transformed(stmt, setup.count('\\n') + 2) + "
    "[ast.Pass()]\n"
    "    body[0:1] = transformed(setup, 1)\n"
    "    ast.fix_missing_locations(tree)\n"
    "    where = {}\n"
    "    exec(compile(tree, USER, 'exec'), ns, where)\n"
    "    inner = where['inner']\n"
    "    return lambda n: inner(n, time.perf_counter, gc, itertools.repeat)\n"
    "\n"
    "\n"
    "def run(ns, stmt, setup, number, repeat, is_async):\n"
    "    remember(FILE, source)\n"
    "    number, repeat = int(number), int(repeat)\n"
    "    inner = timer(ns, stmt, setup, bool(is_async))\n"
    "\n"
    "    def sync_runs(number):\n"
    "        if not number:\n"
    "            for k in range(10):\n"
    "                number = 10 ** k\n"
    "                if inner(number) >= 0.2:\n"
    "                    break\n"
    "        return [number] + [inner(number) for _ in range(repeat)]\n"
    "\n"
    "    async def async_runs(number):\n"
    "        if not number:\n"
    "            for k in range(10):\n"
    "                number = 10 ** k\n"
    "                if await inner(number) >= 0.2:\n"
    "                    break\n"
    "        return [number] + [await inner(number) for _ in range(repeat)]\n"
    "\n"
    "    return (async_runs if is_async else sync_runs)(number)\n";

/*
 * The one cell a %timeit runs (one, so that the traceback names of later
 * cells still match their In [n]).  Everything the user gave is a string in
 * it, so that a transformer of the session sees no more than IPython's
 * run_line_magic call: a few names and strings.  It prints
 * "LOOPS SECONDS..." and deletes its one name, which is the shell's own.
 */
static void timeit_source(const struct timeit *t, int async, struct buf *b)
{
    buf_printf(b, "%s = {'source': ", t->name);
    buf_py_bytes(b, TIMEIT_HARNESS, sizeof TIMEIT_HARNESS - 1);
    buf_printf(b,
               ".decode()}\n"
               "try:\n"
               "    exec(compile(%s['source'], '<aa-shell %%timeit>', "
               "'exec'), %s)\n"
               "    print(*%s%s['run'](globals(), ",
               t->name, t->name, async ? "await " : "", t->name);
    buf_py_bytes(b, t->stmt, t->stmt_len);
    buf_puts(b, ".decode(), ");
    buf_py_bytes(b, t->setup, t->setup_len);
    buf_printf(b,
               ".decode(), '%ld', '%d', '%s'))\n"
               "finally:\n"
               "    del %s\n",
               t->number, t->repeat, async ? "1" : "", t->name);
}

/* "LOOPS SECONDS..." into *number and per_loop; 0, or -1 if malformed. */
static int timeit_parse(const char *line, int runs, long *number,
                        double *per_loop)
{
    char *end;
    int i;

    *number = strtol(line, &end, 10);
    if (end == line || *number <= 0)
        return -1;
    for (i = 0; i < runs; i++) {
        line = end;
        per_loop[i] = strtod(line, &end) / (double)*number;
        if (end == line)
            return -1;
    }
    return 0;
}

static void timeit_report(struct shell *sh, const double *per_loop, int runs,
                          long number)
{
    double mean = 0, var = 0, best = per_loop[0], worst = per_loop[0];
    char m[32], s[32], loops[32];
    int i, len;

    for (i = 0; i < runs; i++) {
        mean += per_loop[i] / runs;
        best = per_loop[i] < best ? per_loop[i] : best;
        worst = per_loop[i] > worst ? per_loop[i] : worst;
    }
    for (i = 0; i < runs; i++)
        var += (per_loop[i] - mean) * (per_loop[i] - mean) / runs;
    format_seconds(mean, m, sizeof m);
    format_seconds(sqrt(var), s, sizeof s);
    /* 1000000 as 1,000,000, like Python's "{:,}". */
    len = snprintf(loops, sizeof loops, "%ld", number);
    finish_output_line(sh);
    if (worst > 4 * best && best > 0 && worst > 1e-6)
        printf("The slowest run took %.2f times longer than the fastest. "
               "This could mean that an intermediate result is being "
               "cached.\n",
               worst / best);
    printf("%s \xc2\xb1 %s per loop (mean \xc2\xb1 std. dev. of %d run%s, ", m,
           s, runs, runs == 1 ? "" : "s");
    for (i = 0; i < len; i++) {
        putchar(loops[i]);
        if ((len - i - 1) % 3 == 0 && i < len - 1)
            putchar(',');
    }
    printf(" loop%s each)\n", number == 1 ? "" : "s");
    fflush(stdout);
}

/*
 * Runs the cell of timeit_source as cell n and reports.  What the
 * statement printed is shown first; the last line is the cell's own.
 */
static int timeit_measure(struct shell *sh, struct timeit *t, int n)
{
    double per_loop[1000];
    struct buf src = {NULL, 0, 0};
    aa_result *r = NULL;
    const char *last;
    long number;
    int status;

    timeit_source(t, aa_session_autoawait(sh->session) > 0, &src);
    status = run_hidden(sh, src.data ? src.data : "", &r);
    buf_free(&src);
    while (sh->capture.len > 0 && sh->capture.data[sh->capture.len - 1] == '\n')
        sh->capture.data[--sh->capture.len] = '\0';
    last = sh->capture.data ? strrchr(sh->capture.data, '\n') : NULL;
    last = last ? last + 1 : sh->capture.data ? sh->capture.data : "";
    if (status == AA_OK) {
        output_write(sh, 1, sh->capture.data,
                     (size_t)(last - sh->capture.data));
        if (timeit_parse(last, t->repeat, &number, per_loop) == 0) {
            timeit_report(sh, per_loop, t->repeat, number);
        } else {
            fprintf(stderr, "%s: %%timeit: no times came back\n", PROGNAME);
            status = AA_EXCEPTION;
        }
    } else {
        output_write(sh, 1, sh->capture.data, sh->capture.len);
        report_result(sh, r, status, n, 0);
    }
    aa_result_free(r);
    return status;
}

/* Shows the SyntaxError of code that cannot compile as the user wrote it,
 * as cell n; 0 when it may compile. */
static int invalid_code(struct shell *sh, const char *code, size_t len, int n,
                        int *status)
{
    aa_result *r = NULL;

    if (is_blank_line(code) ||
        aa_is_complete(sh->session, code, NULL) != AA_INPUT_INVALID)
        return 0;
    *status = exec_source(sh, code, len, &r);
    report_result(sh, r, *status, n, 0);
    aa_result_free(r);
    return 1;
}

static int magic_timeit(struct shell *sh, const struct magic *m, int n)
{
    static unsigned serial;
    struct timeit t = {0, TIMEIT_REPEAT, "", NULL, 0, NULL, 0};
    struct buf stmt = {NULL, 0, 0}, setup = {NULL, 0, 0};
    const char *p = m->args, *end = m->args + m->args_len;
    int status;

    if (timeit_options(&p, end, &t) != 0)
        return usage_error(sh, m->cell ? "%%timeit [-n LOOPS] [-r RUNS] [SETUP]"
                                       : "%timeit [-n LOOPS] [-r RUNS] "
                                         "STATEMENT");
    if (m->cell) {
        buf_puts(&stmt, m->body);
        buf_append(&setup, p, (size_t)(end - p));
    } else {
        buf_append(&stmt, p, (size_t)(end - p));
    }
    buf_puts(&setup, "");
    if (stmt.data == NULL || is_blank_line(stmt.data) || setup.data == NULL) {
        buf_free(&stmt);
        buf_free(&setup);
        return usage_error(sh, "%timeit needs a statement: %timeit STATEMENT");
    }
    t.stmt = stmt.data;
    t.stmt_len = stmt.len;
    t.setup = setup.data;
    t.setup_len = setup.len;
    if (!invalid_code(sh, t.setup, t.setup_len, n, &status) &&
        !invalid_code(sh, t.stmt, t.stmt_len, n, &status)) {
        snprintf(t.name, sizeof t.name, "__aa_shell_timeit_%ld_%u",
                 (long)getpid(), ++serial);
        status = timeit_measure(sh, &t, n);
    }
    buf_free(&stmt);
    buf_free(&setup);
    if (status != AA_OK)
        sh->failed = 1;
    return status;
}

int run_magic(struct shell *sh, const char *src, int n, int *status)
{
    struct magic m;

    if (!parse_magic(src, &m))
        return 0;
    if (strcmp(m.name, "time") == 0)
        *status = magic_time(sh, &m, n);
    else
        *status = magic_timeit(sh, &m, n);
    return 1;
}
