/*
 * conformance.c -- runs the conformance cases (*.cases) through the public
 * host API and says which hold.
 *
 * Owns the command line, the PENDING list and the last line "N passed, N
 * failed, N skipped" that CI reads: every case of the files given, each
 * reported (PASS, FAIL, SKIP, PENDING).  Reading the case files is
 * casefile.c's and running a case caserun.c's (tools/runner-check/, shared
 * with aa-runner-check, which runs the same cases against one runner).  It
 * uses nothing but <autoawait/autoawait.h>, like any host.
 *
 * Exit status: 0 when every case run held, 1 when one failed, 2 when the
 * command line, a case file or the PENDING list is malformed.
 */
#include "caserun.h"

#include <autoawait/autoawait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- main */

static int usage(FILE *f)
{
    fputs("usage: conformance [-v] [--dump] [--pending FILE] "
          "[--only SUBSTRING] FILE.cases...\n"
          "  Runs every case of the files given in a fresh session.\n"
          "  --pending FILE  titles not to run (default: PENDING next to the\n"
          "                  first case file, when it exists)\n"
          "  --only TEXT     run only the cases whose title contains TEXT\n"
          "  --dump          print the cases as read, run nothing\n"
          "  -v              print every cell's status and every result\n",
          f);
    return 2;
}

struct args {
    int verbose, dump;
    const char *pending, *only;
    char **files;
    int nfiles;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    int i;

    memset(a, 0, sizeof *a);
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-v") == 0) {
            a->verbose = 1;
        } else if (strcmp(argv[i], "--dump") == 0) {
            a->dump = 1;
        } else if (strcmp(argv[i], "--pending") == 0 && i + 1 < argc) {
            a->pending = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            a->only = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "conformance: unknown option '%s'\n", argv[i]);
            return -1;
        }
    }
    a->files = argv + i;
    a->nfiles = argc - i;
    return a->nfiles > 0 ? 0 : -1;
}

/* Reads the case files and the PENDING list; -1 when one is malformed. */
static int load(struct suite *su, const struct args *a)
{
    int i, rc = 0;
    sbuf def = {0};

    for (i = 0; i < a->nfiles; i++)
        if (parse_file(su, a->files[i]) < 0)
            rc = -1;
    if (rc < 0)
        return -1;
    if (a->pending != NULL)
        return load_pending(su, a->pending, 0);
    {
        const char *first = a->files[0];
        const char *slash = strrchr(first, '/');
        if (slash != NULL)
            sb_add(&def, first, (size_t)(slash - first) + 1);
        sb_puts(&def, "PENDING");
        rc = load_pending(su, def.p, 1);
        sb_free(&def);
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct suite su;
    struct caserun run;
    struct args a;
    size_t i;

    if (parse_args(argc, argv, &a) < 0)
        return usage(stderr);
    memset(&su, 0, sizeof su);
    if (load(&su, &a) < 0) {
        suite_free(&su);
        return 2;
    }
    caserun_init(&run);
    run.verbose = a.verbose;
    for (i = 0; i < su.ncases; i++) {
        const struct kase *c = &su.cases[i];
        sbuf none = {0};
        if (a.only != NULL && strstr(c->title, a.only) == NULL)
            continue;
        if (a.dump) {
            dump_case(c);
        } else if (c->pending) {
            caserun_report("PENDING", c, NULL, &none);
            run.skipped++;
        } else {
            caserun_case(&run, c);
        }
    }
    caserun_free(&run);
    suite_free(&su);
    if (a.dump)
        return 0;
    if (aa_shutdown() != AA_OK)
        fputs("conformance: warning: aa_shutdown: sessions remain\n", stderr);
    printf("%d passed, %d failed, %d skipped\n", run.passed, run.failed,
           run.skipped);
    return run.failed > 0 ? 1 : 0;
}
