/*
 * caserun.h -- runs conformance cases through the public host API: the one
 * case runner of the ctest runner (tests/conformance/conformance.c) and of
 * aa-runner-check.
 *
 * caserun.c owns running a case and saying how it went: each case in a
 * fresh session, its "requires:" modules checked first, and one report per
 * case on stdout (PASS, FAIL, SKIP) with the details of every failure.
 * Which cases to run, and the last line, are the programs'.  It uses
 * nothing but <autoawait/autoawait.h>, like any host.
 */
#ifndef AA_CASERUN_H
#define AA_CASERUN_H

#include "casefile.h"

struct caserun_module;

/* One run: set the options, run cases, read the counts. */
struct caserun {
    /* The runner of every session; NULL: each case's own (runner:). */
    const char *runner;
    /* A module every case requires besides its own "requires:" lines (the
     * runner's library); NULL: none. */
    const char *requires;
    int verbose;     /* every cell's status and every last result */
    int show_passes; /* a PASS line for each case that holds */

    int passed, failed, skipped;

    /* What "import NAME" answered, asked once per module. */
    struct caserun_module *mods;
    size_t nmods, capmods;
};

/* Zeroes run: each case's own runner, passes shown, nothing verbose. */
void caserun_init(struct caserun *run);
/* Runs one case, prints its report and counts it. */
void caserun_case(struct caserun *run, const struct kase *c);
/* Prints "WORD title[why] [file:line]" and the details in rep. */
void caserun_report(const char *word, const struct kase *c, const char *why,
                    const sbuf *rep);
/* Makes a session use runner, as aa_session_set_runner does, and says why
 * it could not: AA_OK, or the status with the library's message
 * (aa_session_errmsg) appended to why. */
int caserun_try_runner(const char *runner, sbuf *why);
void caserun_free(struct caserun *run);

#endif /* AA_CASERUN_H */
