/*
 * check_status.c -- unit tests of the calls that need no cell: status texts,
 * the version, option defaults, and the answers of every call to NULL
 * arguments.
 *
 * It tests through the public header only, the way a host would call.  The
 * NULL-argument tests of aa_exec that need a real session start the
 * interpreter; each test runs in its own process (Check's fork mode), so
 * they do not share one.
 */
#include <autoawait/autoawait.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int value;
    const char *text;
} statuses[] = {
#define STATUS_ROW(name, value, text) {value, text},
    AA_STATUS_MAP(STATUS_ROW)
#undef STATUS_ROW
};

#define NSTATUSES (sizeof statuses / sizeof *statuses)

START_TEST(strerror_answers_every_status)
{
    size_t i, j;

    for (i = 0; i < NSTATUSES; i++) {
        const char *t = aa_strerror(statuses[i].value);
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(strstr(t, statuses[i].text) != NULL,
                      "aa_strerror(%d) is \"%s\", which lacks \"%s\"",
                      statuses[i].value, t, statuses[i].text);
        ck_assert_str_ne(t, "unknown status");
        /* Two statuses never share a text: a host may show only the text. */
        for (j = 0; j < i; j++)
            ck_assert_str_ne(t, aa_strerror(statuses[j].value));
    }
}
END_TEST

START_TEST(strerror_answers_unknown_statuses)
{
    static const int unknown[] = {4, 5, 100, -10, -11, -100, INT_MAX, INT_MIN};
    size_t i;

    for (i = 0; i < sizeof unknown / sizeof *unknown; i++)
        ck_assert_str_eq(aa_strerror(unknown[i]), "unknown status");
}
END_TEST

START_TEST(strerror_codes_keep_their_values)
{
    /* Codes are only ever appended: these values are part of the ABI. */
    ck_assert_int_eq(AA_OK, 0);
    ck_assert_int_eq(AA_EXCEPTION, 1);
    ck_assert_int_eq(AA_SYNTAX_ERROR, 2);
    ck_assert_int_eq(AA_SYSTEM_EXIT, 3);
    ck_assert_int_eq(AA_EINVAL, -1);
    ck_assert_int_eq(AA_ENOMEM, -2);
    ck_assert_int_eq(AA_ENOTFOUND, -3);
    ck_assert_int_eq(AA_EABI, -4);
    ck_assert_int_eq(AA_EBUSY, -5);
    ck_assert_int_eq(AA_EPYTHON, -6);
    ck_assert_int_eq(AA_ERUNNER, -7);
    ck_assert_int_eq(AA_ENOTSUP, -8);
    ck_assert_int_eq(AA_ECANCELLED, -9);
}
END_TEST

START_TEST(version_matches_header)
{
    char expect[32];

    ck_assert_ptr_nonnull(aa_version());
    ck_assert_str_eq(aa_version(), AA_VERSION_STRING);
    snprintf(expect, sizeof expect, "%d.%d.%d", AA_VERSION_MAJOR,
             AA_VERSION_MINOR, AA_VERSION_PATCH);
    ck_assert_str_eq(aa_version(), expect);
    ck_assert_int_eq(AA_VERSION_NUMBER, (AA_VERSION_MAJOR << 16) |
                                            (AA_VERSION_MINOR << 8) |
                                            AA_VERSION_PATCH);
}
END_TEST

START_TEST(options_init_fills_defaults)
{
    aa_options o;

    /* Garbage first, so a field the call forgets shows up. */
    memset(&o, 0xA5, sizeof o);
    aa_options_init(&o);
    ck_assert_uint_eq(o.size, sizeof(aa_options));
    ck_assert_int_eq(o.autoawait, 1);
    ck_assert_ptr_nonnull(o.runner);
    ck_assert_str_eq(o.runner, "asyncio");
    ck_assert(o.write == NULL);
    ck_assert_ptr_null(o.userdata);
}
END_TEST

START_TEST(result_accessors_accept_null)
{
    ck_assert_int_eq(aa_result_status(NULL), AA_EINVAL);
    ck_assert_int_eq(aa_result_is_async(NULL), 0);
    ck_assert_ptr_null(aa_result_repr(NULL));
    ck_assert_ptr_null(aa_result_exception(NULL));
    ck_assert_ptr_null(aa_result_message(NULL));
    ck_assert_ptr_null(aa_result_traceback(NULL));
    ck_assert_int_eq(aa_result_exit_code(NULL), 0);
    aa_result_free(NULL);
}
END_TEST

START_TEST(session_calls_accept_null)
{
    aa_session_free(NULL);
    ck_assert_int_eq(aa_session_new(NULL, NULL), AA_EINVAL);
    ck_assert_int_eq(aa_session_autoawait(NULL), AA_EINVAL);
    ck_assert_int_eq(aa_session_set_autoawait(NULL, 1), AA_EINVAL);
    ck_assert_ptr_null(aa_session_runner(NULL));
}
END_TEST

START_TEST(exec_without_session_is_einval)
{
    static int sentinel;
    aa_result *r = (aa_result *)(void *)&sentinel;

    ck_assert_int_eq(aa_exec(NULL, "1", &r), AA_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(aa_exec(NULL, "1", NULL), AA_EINVAL);
    r = (aa_result *)(void *)&sentinel;
    ck_assert_int_eq(aa_execn(NULL, "1", 1, &r), AA_EINVAL);
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(exec_without_source_is_einval)
{
    static int sentinel;
    aa_session *s = NULL;
    aa_result *r = (aa_result *)(void *)&sentinel;
    int st;

    st = aa_session_new(&s, NULL);
    ck_assert_msg(st == AA_OK, "aa_session_new: %s", aa_strerror(st));
    ck_assert_int_eq(aa_exec(s, NULL, &r), AA_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(aa_exec(s, NULL, NULL), AA_EINVAL);
    r = (aa_result *)(void *)&sentinel;
    ck_assert_int_eq(aa_execn(s, NULL, 1, &r), AA_EINVAL);
    ck_assert_ptr_null(r);
    /* A failing call leaves the session usable. */
    st = aa_exec(s, "1 + 1\n", &r);
    ck_assert_int_eq(st, AA_OK);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(aa_result_repr(r), "2");
    aa_result_free(r);
    aa_session_free(s);
}
END_TEST

START_TEST(session_new_refuses_bad_options)
{
    static int sentinel;
    aa_session *s = (aa_session *)(void *)&sentinel;
    aa_options o;

    aa_options_init(&o);
    o.size = 0;
    ck_assert_int_eq(aa_session_new(&s, &o), AA_EINVAL);
    ck_assert_ptr_null(s);
    aa_options_init(&o);
    o.runner = "No/Such";
    s = (aa_session *)(void *)&sentinel;
    ck_assert_int_eq(aa_session_new(&s, &o), AA_EINVAL);
    ck_assert_ptr_null(s);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *su = suite_create("status");
    TCase *plain = tcase_create("no interpreter");
    TCase *session = tcase_create("session");

    tcase_add_test(plain, strerror_answers_every_status);
    tcase_add_test(plain, strerror_answers_unknown_statuses);
    tcase_add_test(plain, strerror_codes_keep_their_values);
    tcase_add_test(plain, version_matches_header);
    tcase_add_test(plain, options_init_fills_defaults);
    tcase_add_test(plain, result_accessors_accept_null);
    tcase_add_test(plain, session_calls_accept_null);
    tcase_add_test(plain, exec_without_session_is_einval);
    suite_add_tcase(su, plain);
    tcase_add_test(session, exec_without_source_is_einval);
    tcase_add_test(session, session_new_refuses_bad_options);
    suite_add_tcase(su, session);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(status_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
