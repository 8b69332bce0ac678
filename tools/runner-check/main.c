/*
 * main.c -- aa-runner-check: runs the conformance cases that apply to one
 * runner, installed or not, and says how many held.
 *
 *     aa-runner-check [--like asyncio|trio|curio] [--verbose] [--list] NAME
 *
 * Owns the command line, loading the runner once up front (a runner that
 * cannot be loaded is a usage error, exit 2, in the library's words), the
 * choice of cases (rule.c) and the last line "N passed, N failed" (with ",
 * N skipped" when a case was skipped).  The cases are the ones compiled in
 * (embedded.h); running one is caserun.c's, the same code the project's
 * own conformance test runs.  It uses nothing but <autoawait/autoawait.h>,
 * like any host.  docs/aa-runner-check.md is its manual.
 *
 * Exit status: 0 when no case failed, 1 when one did, 2 for a usage error
 * or a runner that cannot be loaded.
 */
#include "caserun.h"
#include "embedded.h"
#include "rule.h"

#include <autoawait/autoawait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGNAME "aa-runner-check"

static const char usage_text[] =
    "usage: " PROGNAME " [--like asyncio|trio|curio] [--verbose] [--list] "
    "NAME\n"
    "\n"
    "Runs the conformance cases that apply to the runner NAME, each in a\n"
    "fresh session on that runner, and prints one report per failed or\n"
    "skipped case, then 'N passed, N failed'.\n"
    "\n"
    "  --like FAMILY  the async library NAME's cells speak: asyncio (the\n"
    "                 default), trio or curio; NAME's own when it is one\n"
    "  -v, --verbose  also report each case that passed, each case left\n"
    "                 out and why, and every cell's status\n"
    "  --list         print the cases that apply, run nothing\n"
    "  --version      print the version and exit\n"
    "  -h, --help     print this help and exit\n"
    "\n"
    "Exit status: 0 no case failed, 1 a case failed, 2 a usage error or a\n"
    "runner that cannot be loaded.  Environment: AA_RUNNER_PATH.\n"
    "See aa-runner-check(1).\n";

struct args {
    const char *name;   /* the runner */
    const char *family; /* rule.h's F */
    int verbose, list;
};

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(PROGNAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" PROGNAME " --help'.\n", stderr);
    return -1;
}

/* 0, 1 when the program is done (--help, --version), or -1 (said why). */
static int parse_args(int argc, char **argv, struct args *a)
{
    const char *like = NULL;
    int i;

    memset(a, 0, sizeof *a);
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        } else if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            a->verbose = 1;
        } else if (strcmp(arg, "--list") == 0) {
            a->list = 1;
        } else if (strcmp(arg, "--like") == 0) {
            if (i + 1 == argc)
                return usage_error("%s needs a family: asyncio, trio or curio",
                                   arg);
            like = argv[++i];
        } else if (strncmp(arg, "--like=", 7) == 0) {
            like = arg + 7;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            return 1;
        } else if (strcmp(arg, "--version") == 0) {
            printf(PROGNAME " %s\n", aa_version());
            return 1;
        } else {
            return usage_error("unknown option '%s'", arg);
        }
    }
    if (i == argc)
        return usage_error("no runner NAME given");
    if (i + 1 < argc)
        return usage_error("one runner at a time: '%s' is one too many",
                           argv[i + 1]);
    a->name = argv[i];
    if (like != NULL && rule_family(like) == NULL)
        return usage_error("--like '%s': the family is asyncio, trio or curio",
                           like);
    a->family = rule_family(a->name);
    if (a->family != NULL && like != NULL && strcmp(like, a->family) != 0)
        return usage_error("%s is a family of its own: --like does not apply",
                           a->name);
    if (a->family == NULL)
        a->family = like != NULL ? rule_family(like) : "asyncio";
    return 0;
}

/* Reads the compiled-in cases; -1 when one does not parse (a build bug:
 * the ctest conformance run reads the same files). */
static int load(struct suite *su)
{
    size_t i;

    for (i = 0; i < embedded_nfiles; i++)
        if (parse_text(su, embedded_files[i].name, embedded_files[i].text,
                       embedded_files[i].len) < 0)
            return -1;
    return 0;
}

/* 1 when c applies; else 0, and the reason printed when verbose. */
static int applies(const struct kase *c, const struct args *a)
{
    sbuf why = {0};
    int yes = rule_applies(c, a->name, a->family, &why);

    if (!yes && a->verbose)
        printf("N/A %s: %s [%s:%d]\n", c->title, why.p, c->file, c->line);
    sb_free(&why);
    return yes;
}

/* Prints the cases that apply (and, verbose, the others and why). */
static void list_cases(const struct suite *su, const struct args *a)
{
    size_t i;

    for (i = 0; i < su->ncases; i++) {
        const struct kase *c = &su->cases[i];
        if (applies(c, a))
            printf("%s [%s:%d]\n", c->title, c->file, c->line);
    }
}

static int check(const struct suite *su, const struct args *a)
{
    struct caserun run;
    size_t i, applied = 0;

    caserun_init(&run);
    run.runner = a->name;
    run.requires = a->family;
    run.verbose = a->verbose;
    run.show_passes = a->verbose;
    for (i = 0; i < su->ncases; i++) {
        if (applies(&su->cases[i], a)) {
            caserun_case(&run, &su->cases[i]);
            applied++;
        }
    }
    caserun_free(&run);
    if (a->verbose)
        printf("%zu of %zu cases apply to runner '%s' (%s family)\n", applied,
               su->ncases, a->name, a->family);
    if (run.skipped > 0)
        printf("%d passed, %d failed, %d skipped\n", run.passed, run.failed,
               run.skipped);
    else
        printf("%d passed, %d failed\n", run.passed, run.failed);
    return run.failed > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct suite su;
    struct args a;
    sbuf why = {0};
    int rc, st;

    rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    memset(&su, 0, sizeof su);
    if (load(&su) < 0) {
        suite_free(&su);
        return 2;
    }
    if (a.list) {
        list_cases(&su, &a);
        suite_free(&su);
        return 0;
    }
    st = caserun_try_runner(a.name, &why);
    if (st != AA_OK) {
        fprintf(stderr, PROGNAME ": runner '%s' cannot be used (%s): %s\n",
                a.name, aa_strerror(st), why.p ? why.p : "");
        sb_free(&why);
        suite_free(&su);
        aa_shutdown();
        return 2;
    }
    sb_free(&why);
    rc = check(&su, &a);
    suite_free(&su);
    if (aa_shutdown() != AA_OK)
        fputs(PROGNAME ": warning: aa_shutdown: sessions remain\n", stderr);
    return rc;
}
