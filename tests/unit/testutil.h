/*
 * testutil.h -- what the unit suites share: a session whose output is
 * captured, and one-call cell runs.  Header-only so that each suite stays
 * one file; every function is static inline.
 */
#ifndef AA_TESTUTIL_H
#define AA_TESTUTIL_H

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoawait/autoawait.h"

typedef struct {
    char *data;
    size_t len;
} tu_buf;

/* Output of the current test's sessions: [1] stdout, [2] stderr. */
static tu_buf tu_out[3];

static inline void tu_write(void *userdata, int stream, const char *data,
                            size_t len)
{
    tu_buf *b = &tu_out[stream == 2 ? 2 : 1];
    char *p = realloc(b->data, b->len + len + 1);

    (void)userdata;
    ck_assert_ptr_nonnull(p);
    memcpy(p + b->len, data, len);
    b->len += len;
    p[b->len] = '\0';
    b->data = p;
}

static inline void tu_clear(void)
{
    int i;
    for (i = 1; i < 3; i++) {
        free(tu_out[i].data);
        tu_out[i].data = NULL;
        tu_out[i].len = 0;
    }
}

static inline const char *tu_stdout(void)
{
    return tu_out[1].data != NULL ? tu_out[1].data : "";
}

static inline const char *tu_stderr(void)
{
    return tu_out[2].data != NULL ? tu_out[2].data : "";
}

/* A session on runner (NULL: the default) whose output is captured. */
static inline aa_session *tu_session(const char *runner)
{
    aa_session *s = NULL;
    aa_options o;
    int rc;

    aa_options_init(&o);
    o.write = tu_write;
    if (runner != NULL)
        o.runner = runner;
    rc = aa_session_new(&s, &o);
    ck_assert_msg(rc == AA_OK, "aa_session_new: %s", aa_strerror(rc));
    return s;
}

/* Runs src; fails the test unless the status is want.  Returns the result,
 * which the caller frees. */
static inline aa_result *tu_run(aa_session *s, const char *src, int want)
{
    aa_result *r = NULL;
    int rc = aa_exec(s, src, &r);

    ck_assert_ptr_nonnull(r);
    ck_assert_msg(
        rc == want, "cell %s\n-> status %d (%s), want %d\n%s%s\nstderr: %s",
        src, rc, aa_strerror(rc), want,
        aa_result_traceback(r) ? aa_result_traceback(r) : "",
        aa_result_message(r) ? aa_result_message(r) : "", tu_stderr());
    ck_assert_int_eq(aa_result_status(r), rc);
    return r;
}

/* Runs src, wants AA_OK, and checks the displayed value (NULL: none). */
static inline void tu_expect(aa_session *s, const char *src, const char *repr)
{
    aa_result *r = tu_run(s, src, AA_OK);

    if (repr == NULL)
        ck_assert_ptr_null(aa_result_repr(r));
    else
        ck_assert_str_eq(aa_result_repr(r) ? aa_result_repr(r) : "(none)",
                         repr);
    aa_result_free(r);
}

static inline void tu_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Runs a Check suite; the exit status says whether all passed. */
static inline int tu_main(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* AA_TESTUTIL_H */
