/*
 * check_result.c -- unit tests of what a result's strings say when Python's
 * text does not fit a C string: a NUL inside a repr, an exception's
 * message, its traceback, or the reason a call failed comes out as the
 * four characters \x00 (how Python writes that character), never cut
 * short there.
 */
#define TU_SESSION_FIXTURE
#include "testutil.h"

START_TEST(nul_in_a_repr_is_escaped)
{
    tu_expect(s,
              "class A:\n    def __repr__(self):\n        return 'a\\0b'\nA()",
              "a\\x00b");
    /* A repr that writes the escape itself reads the same: that is the
     * documented price of a plain C string. */
    tu_expect(s, "'a\\0b'", "'a\\x00b'");
}
END_TEST

START_TEST(nul_in_an_exception_is_escaped)
{
    aa_result *r = tu_run(s, "raise ValueError('x\\0y')", AA_EXCEPTION);

    ck_assert_str_eq(aa_result_exception(r), "ValueError");
    ck_assert_str_eq(aa_result_message(r), "x\\x00y");
    ck_assert_ptr_nonnull(
        strstr(aa_result_traceback(r), "ValueError: x\\x00y\n"));
    aa_result_free(r);
}
END_TEST

START_TEST(nul_in_a_system_exit_message_is_escaped)
{
    aa_result *r = tu_run(s, "raise SystemExit('bye\\0now')", AA_SYSTEM_EXIT);

    ck_assert_str_eq(aa_result_message(r), "bye\\x00now");
    ck_assert_int_eq(aa_result_exit_code(r), 1);
    aa_result_free(r);
}
END_TEST

/* A poll whose runner's loop lets an exception escape names it in the
 * session's errmsg, which must keep what follows the NUL too. */
START_TEST(nul_in_an_errmsg_is_escaped)
{
    tu_do(s,
          "import asyncio\n"
          "def boom():\n    raise SystemExit('p\\0q')\n"
          "await asyncio.sleep(0)\n"
          "asyncio.get_running_loop().call_later(0.01, boom)",
          AA_OK);
    ck_assert_int_eq(aa_session_poll(s, -1, 5000), AA_ERUNNER);
    ck_assert_msg(strstr(aa_session_errmsg(s), "p\\x00q") != NULL, "errmsg: %s",
                  aa_session_errmsg(s));
}
END_TEST

static Suite *result_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("result", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, nul_in_a_repr_is_escaped);
    tcase_add_test(tc, nul_in_an_exception_is_escaped);
    tcase_add_test(tc, nul_in_a_system_exit_message_is_escaped);
    tcase_add_test(tc, nul_in_an_errmsg_is_escaped);
    return suite;
}

int main(void)
{
    return tu_main(result_suite());
}
