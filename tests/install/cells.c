/*
 * cells.c -- the install test's host for runner plugins: built against an
 * installed libautoawait, it runs cells on the runner it is given, as a
 * host that is idle between them would.
 *
 *   cells RUNNER ARG...
 *
 * Each ARG is a cell, run with aa_exec, whose outcome is printed as one
 * line: "Out: REPR" (or "Out:" when it displays nothing), or "EXC: Class:
 * message".  An ARG "@idle" is the host idle for 300 ms instead:
 * aa_session_poll with no descriptor, which gives the runner's background
 * work its time.  Exits 0 when every call succeeded, 1 otherwise (a cell's
 * exception is an outcome, not a failure).
 */
#include <stdio.h>
#include <string.h>

#include <autoawait/autoawait.h>

#define IDLE_MS 300

int main(int argc, char **argv)
{
    aa_options opts;
    aa_session *s = NULL;
    aa_result *r = NULL;
    int rc, i, failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: cells RUNNER [CELL | @idle]...\n");
        return 2;
    }
    aa_options_init(&opts);
    opts.runner = argv[1];
    if ((rc = aa_session_new(&s, &opts)) != AA_OK) {
        fprintf(stderr, "cells: aa_session_new: %s: %s\n", aa_strerror(rc),
                aa_errmsg() ? aa_errmsg() : "");
        return 1;
    }
    for (i = 2; i < argc && !failed; i++) {
        if (strcmp(argv[i], "@idle") == 0) {
            rc = aa_session_poll(s, -1, IDLE_MS);
            if (rc < 0) {
                fprintf(stderr, "cells: aa_session_poll: %s: %s\n",
                        aa_strerror(rc), aa_session_errmsg(s));
                failed = 1;
            }
            continue;
        }
        rc = aa_exec(s, argv[i], &r);
        if (rc == AA_OK) {
            printf("Out: %s\n", aa_result_repr(r) ? aa_result_repr(r) : "");
        } else if (rc > 0 && aa_result_exception(r) != NULL) {
            printf("EXC: %s: %s\n", aa_result_exception(r),
                   aa_result_message(r) ? aa_result_message(r) : "");
        } else {
            fprintf(stderr, "cells: aa_exec: %s: %s\n", aa_strerror(rc),
                    aa_session_errmsg(s));
            failed = 1;
        }
        aa_result_free(r);
        r = NULL;
    }
    aa_session_free(s);
    aa_shutdown();
    return failed;
}
