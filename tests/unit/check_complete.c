/*
 * check_complete.c -- what a console asks while the user types:
 * aa_is_complete and aa_complete.
 */
#define TU_SESSION_FIXTURE
#include "testutil.h"

static void expect_state(const char *src, int state, int indent)
{
    int got = -99, rc = aa_is_complete(s, src, &got);

    ck_assert_msg(rc == state, "'%s': %d, want %d", src, rc, state);
    ck_assert_msg(got == indent, "'%s': indent %d, want %d", src, got, indent);
}

START_TEST(whole_cells_and_more_lines)
{
    expect_state("", AA_INPUT_COMPLETE, 0);
    expect_state("x = 1", AA_INPUT_COMPLETE, 0);
    expect_state("await f()", AA_INPUT_COMPLETE, 0);
    expect_state("%autoawait trio", AA_INPUT_COMPLETE, 0);
    expect_state("x = (1,", AA_INPUT_INCOMPLETE, 0);
    expect_state("'''doc", AA_INPUT_INCOMPLETE, 0);
    expect_state("x = 1 + \\", AA_INPUT_INCOMPLETE, 0);
    expect_state("if x:", AA_INPUT_INCOMPLETE, 4);
    expect_state("async with x:", AA_INPUT_INCOMPLETE, 4);
    expect_state("async with x:\n    async for y in z:", AA_INPUT_INCOMPLETE,
                 8);
    expect_state("async with x:\n    await y", AA_INPUT_INCOMPLETE, 4);
    expect_state("async with x:\n    await y\n", AA_INPUT_INCOMPLETE, 4);
    expect_state("async with x:\n    await y\n\n", AA_INPUT_COMPLETE, 0);
    expect_state("def f():\n    return 1\n   \n", AA_INPUT_COMPLETE, 0);
    expect_state("t = (1,\n     2)", AA_INPUT_COMPLETE, 0);
    expect_state("t = (1,\n     2)\n", AA_INPUT_COMPLETE, 0);
    expect_state("if x:\n    t = (1,\n         2)\n", AA_INPUT_INCOMPLETE, 4);
    expect_state("x = = 1", AA_INPUT_INVALID, 0);
    expect_state("x = 1\n    y = 2", AA_INPUT_INVALID, 0);
    expect_state("'\xff'", AA_INPUT_INVALID, 0);
}
END_TEST

START_TEST(await_follows_the_session_switch)
{
    ck_assert_int_eq(aa_is_complete(s, "await f()", NULL), AA_INPUT_COMPLETE);
    aa_session_set_autoawait(s, 0);
    /* Off, an await is still parsed; the compiler refuses it later, and
     * the console should run it to show that. */
    ck_assert_int_ne(aa_is_complete(s, "async with x:", NULL),
                     AA_INPUT_COMPLETE);
    ck_assert_int_eq(aa_is_complete(NULL, "x", NULL), AA_EINVAL);
    ck_assert_int_eq(aa_is_complete(s, NULL, NULL), AA_EINVAL);
}
END_TEST

/* Completes line at its end; returns the list, checks start. */
static aa_completions *complete(const char *line, size_t start)
{
    aa_completions *c = NULL;

    ck_assert_int_eq(aa_complete(s, line, strlen(line), &c), AA_OK);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(aa_completions_start(c), start);
    return c;
}

static int has(const aa_completions *c, const char *item)
{
    size_t i;

    for (i = 0; i < aa_completions_count(c); i++)
        if (strcmp(aa_completions_item(c, i), item) == 0)
            return 1;
    return 0;
}

/* Completing line offers item, a word that starts at byte start. */
static void expect_offer(const char *line, size_t start, const char *item)
{
    aa_completions *c = complete(line, start);

    ck_assert_msg(has(c, item), "completing \"%s\" does not offer \"%s\"", line,
                  item);
    aa_completions_free(c);
}

START_TEST(names_from_earlier_cells_keywords_and_builtins)
{
    aa_completions *c;

    tu_do(s, "answer_value = 42\nanswer_fn = len", AA_OK);
    c = complete("x = answ", 4);
    ck_assert_uint_eq(aa_completions_count(c), 2);
    ck_assert_str_eq(aa_completions_item(c, 0), "answer_fn");
    ck_assert_str_eq(aa_completions_item(c, 1), "answer_value");
    ck_assert_ptr_null(aa_completions_item(c, 2));
    aa_completions_free(c);
    expect_offer("awa", 0, "await");
    expect_offer("prin", 0, "print");
    expect_offer("_", 0, "__name__");
    c = complete("3", 0);
    ck_assert_uint_eq(aa_completions_count(c), 0);
    aa_completions_free(c);
}
END_TEST

START_TEST(attributes_modules_and_utf8_offsets)
{
    aa_completions *c;

    tu_do(s,
          "import asyncio\nclass K:\n    flag = 1\n    _hidden = 2\n"
          "k = K()",
          AA_OK);
    expect_offer("asyncio.sle", 0, "asyncio.sleep");
    c = complete("k.", 0);
    ck_assert(has(c, "k.flag"));
    ck_assert(!has(c, "k._hidden"));
    aa_completions_free(c);
    expect_offer("k._", 0, "k._hidden");
    expect_offer("import asyn", 7, "asyncio");
    expect_offer("from asyncio import sle", 20, "sleep");
    expect_offer("import autoaw", 7, "autoawait");
    /* "é" is two bytes: the word starts at byte 6, not character 5. */
    c = complete("'\xc3\xa9', answ", 6);
    aa_completions_free(c);
    c = complete("nosuchthing.x", 0);
    ck_assert_uint_eq(aa_completions_count(c), 0);
    aa_completions_free(c);
    ck_assert_int_eq(aa_complete(s, "ab", 3, &c), AA_EINVAL);
    ck_assert_ptr_null(c);
    aa_completions_free(NULL);
}
END_TEST

static Suite *complete_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("complete", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, whole_cells_and_more_lines);
    tcase_add_test(tc, await_follows_the_session_switch);
    tcase_add_test(tc, names_from_earlier_cells_keywords_and_builtins);
    tcase_add_test(tc, attributes_modules_and_utf8_offsets);
    return suite;
}

int main(void)
{
    return tu_main(complete_suite());
}
