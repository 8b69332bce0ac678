/*
 * fuzz_session.h -- what the fuzz targets share: the one session of the
 * process, made fit for fuzzing, and the checks of what autoawait.h
 * promises about the results a target gets back.
 */
#ifndef AA_FUZZ_SESSION_H
#define AA_FUZZ_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "autoawait/autoawait.h"

/* libFuzzer's entry points, defined by each target. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The session of this process, made on the first call: a session on the
 * default runner whose output is checked and dropped, with jail.py run as
 * its first cell and a watchdog thread that interrupts a cell running
 * longer than FZ_CELL_MS.  Aborts when it cannot be made.
 */
aa_session *fz_session(void);

/*
 * Runs len bytes as a cell under the watchdog and checks the result and
 * status against the header's promises, aborting on a broken one.  Returns
 * the status; *out (when out is not NULL) gets the result to free.
 */
int fz_exec(aa_session *s, const char *src, size_t len, aa_result **out);

/*
 * What every input ends with: the session back on the asyncio runner with
 * autoawait on (aborting if it has no runner or cannot go back), the
 * jail's reset run, and every FZ_CHECK_EVERY inputs a check
 * that "1+1" still shows "2".
 */
void fz_settle(aa_session *s);

/* Checks that "1 + 1" shows "2" now, aborting if it does not. */
void fz_check_alive(aa_session *s);

/* Is p[0..n) valid UTF-8 (no overlong forms, no surrogates)? */
int fz_utf8_valid(const char *p, size_t n);

/* Prints "fuzz: " and the message to stderr, then aborts: libFuzzer
 * reports a crash and keeps the input. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
void fz_fail(const char *fmt, ...);

#endif /* AA_FUZZ_SESSION_H */
