/*
 * check_fuzz_regressions.c -- what the fuzz targets (tests/fuzz) found,
 * and the seeds that took them down tricky paths, replayed in the normal
 * build: each input goes through aa_execn, aa_is_complete or aa_complete
 * as the target fed it, and the test asserts what a user would expect
 * rather than merely "no crash".  A crash or a broken promise found by
 * fuzzing becomes a test here, named after what it found (see
 * docs/fuzzing.md); the session must run the next cell each time.
 */
#define TU_SESSION_FIXTURE
#include "testutil.h"

/* Runs len bytes through aa_execn; fails unless the status is want. */
static aa_result *run_bytes(const char *src, size_t len, int want)
{
    aa_result *r = NULL;
    int rc = aa_execn(s, src, len, &r);

    ck_assert_ptr_nonnull(r);
    ck_assert_msg(
        rc == want, "%zu bytes -> %s (%s: %s), want %s", len, aa_strerror(rc),
        aa_result_exception(r) ? aa_result_exception(r) : "-",
        aa_result_message(r) ? aa_result_message(r) : "-", aa_strerror(want));
    ck_assert_int_eq(aa_result_status(r), rc);
    return r;
}

/* A SyntaxError whose message contains part. */
static void expect_syntax_error(const char *src, size_t len, const char *part)
{
    aa_result *r = run_bytes(src, len, AA_SYNTAX_ERROR);

    ck_assert_str_eq(aa_result_exception(r), "SyntaxError");
    ck_assert_msg(strstr(aa_result_message(r), part) != NULL,
                  "message '%s' lacks '%s'", aa_result_message(r), part);
    ck_assert_ptr_null(aa_result_repr(r));
    aa_result_free(r);
}

static void still_runs(void)
{
    tu_expect(s, "1+1", "2");
}

/* Completes line at cursor and checks what the header promises: a sorted
 * list of names that replace the bytes from a start no later than the
 * cursor, each beginning with those bytes.  Returns the start. */
static size_t complete_at(const char *line, size_t cursor)
{
    aa_completions *c = NULL;
    size_t start, i, n;
    const char *prev = NULL, *item;
    int rc = aa_complete(s, line, cursor, &c);

    ck_assert_msg(rc == AA_OK, "'%s' at %zu: %s", line, cursor,
                  aa_strerror(rc));
    start = aa_completions_start(c);
    ck_assert_msg(start <= cursor, "'%s' at %zu: the word starts at %zu", line,
                  cursor, start);
    n = aa_completions_count(c);
    for (i = 0; i < n; i++) {
        item = aa_completions_item(c, i);
        ck_assert_ptr_nonnull(item);
        ck_assert_msg(strncmp(item, line + start, cursor - start) == 0,
                      "'%s' at %zu: '%s' does not complete '%.*s'", line,
                      cursor, item, (int)(cursor - start), line + start);
        ck_assert_msg(prev == NULL || strcmp(prev, item) < 0,
                      "'%s' at %zu: '%s' before '%s'", line, cursor, prev,
                      item);
        prev = item;
    }
    ck_assert_ptr_null(aa_completions_item(c, n));
    aa_completions_free(c);
    return start;
}

/* ------------------------------------------------------------- aa_execn */

START_TEST(nul_byte_runs_nothing)
{
    static const char cell[] = "x = 1\0\ny = 2\n";

    expect_syntax_error(cell, sizeof cell - 1, "null bytes (a NUL at byte 5");
    tu_expect(s, "'x' in globals() or 'y' in globals()", "False");
    expect_syntax_error("\0", 1, "at byte 0");
    still_runs();
}
END_TEST

START_TEST(invalid_utf8_is_a_syntax_error_naming_the_byte)
{
    /* A lone continuation byte, a sequence cut short, a surrogate, an
     * overlong NUL, a code point past U+10FFFF. */
    expect_syntax_error("s = '\xff\xfe'\n", 9, "byte 0xff at byte 5");
    expect_syntax_error("'\xe2\x82'", 4, "byte 0xe2 at byte 1");
    expect_syntax_error("'\xe2\x82", 3, "byte 0xe2 at byte 1");
    expect_syntax_error("x = '\xed\xa0\x80'\n", 9, "byte 0xed at byte 5");
    expect_syntax_error("x = '\xc0\x80'\n", 8, "byte 0xc0 at byte 5");
    expect_syntax_error("'\xf4\x90\x80\x80'", 6, "byte 0xf4 at byte 1");
    expect_syntax_error("1\n2\n\x80", 5, "line 3");
    /* The longest valid sequence is fine. */
    tu_expect(s, "'\xf0\x9f\x98\x80'", "'\xf0\x9f\x98\x80'");
    still_runs();
}
END_TEST

START_TEST(hundred_thousand_nested_brackets)
{
    enum { DEPTH = 100000 };
    char *cell = malloc(2 * DEPTH + 2);
    int indent = -1;
    aa_result *r;

    ck_assert_ptr_nonnull(cell);
    memset(cell, '(', DEPTH);
    cell[DEPTH] = '1';
    memset(cell + DEPTH + 1, ')', DEPTH);
    cell[2 * DEPTH + 1] = '\0';
    expect_syntax_error(cell, 2 * DEPTH + 1, "too many nested parentheses");
    /* Past the tokenizer's limit it can never be valid, closed or not. */
    ck_assert_int_eq(aa_is_complete(s, cell, &indent), AA_INPUT_INVALID);
    ck_assert_int_eq(indent, 0);
    cell[DEPTH] = '\0';
    ck_assert_int_eq(aa_is_complete(s, cell, NULL), AA_INPUT_INVALID);
    r = run_bytes(cell, DEPTH, AA_SYNTAX_ERROR);
    aa_result_free(r);
    complete_at(cell, 40);
    complete_at(cell, DEPTH);
    free(cell);
    still_runs();
}
END_TEST

START_TEST(unterminated_triple_quoted_string)
{
    static const char cell[] = "'''never closed\nstill inside\n";
    int indent = -1;

    expect_syntax_error(cell, sizeof cell - 1,
                        "unterminated triple-quoted string");
    ck_assert_int_eq(aa_is_complete(s, cell, &indent), AA_INPUT_INCOMPLETE);
    ck_assert_int_eq(indent, 0);
    ck_assert_int_eq(aa_is_complete(s, "x = '''", NULL), AA_INPUT_INCOMPLETE);
    still_runs();
}
END_TEST

/* ---------------------------------------------------------------- magic */

/* "%autoawait " and n copies of 'a'. */
static char *magic_with_argument(size_t n)
{
    char *cell = malloc(sizeof "%autoawait " + n);

    ck_assert_ptr_nonnull(cell);
    memcpy(cell, "%autoawait ", sizeof "%autoawait " - 1);
    memset(cell + sizeof "%autoawait " - 1, 'a', n);
    cell[sizeof "%autoawait " - 1 + n] = '\0';
    return cell;
}

START_TEST(magic_with_a_300_character_argument)
{
    char *cell = magic_with_argument(300);
    aa_result *r;

    aa_session_set_autoawait(s, 0);
    r = tu_run(s, cell, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "ValueError");
    ck_assert_str_eq(aa_result_message(r), "%autoawait: argument too long");
    aa_result_free(r);
    free(cell);
    /* A failed magic changes nothing. */
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    ck_assert_int_eq(aa_session_autoawait(s), 0);
    /* The longest argument that fits is looked up, not cut. */
    cell = magic_with_argument(255);
    r = tu_run(s, cell, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "ValueError");
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), cell + 11));
    aa_result_free(r);
    free(cell);
    cell = magic_with_argument(256);
    r = tu_run(s, cell, AA_EXCEPTION);
    ck_assert_str_eq(aa_result_message(r), "%autoawait: argument too long");
    aa_result_free(r);
    free(cell);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    still_runs();
}
END_TEST

START_TEST(magic_shapes)
{
    aa_result *r;

    /* Leading white space, a tab before the argument, "\r\n". */
    tu_expect(s, " \t%autoawait\tOFF\r\n", NULL);
    ck_assert_int_eq(aa_session_autoawait(s), 0);
    tu_expect(s, "%autoawait  true \r\n# a comment\nx = 1\nx\n", "1");
    ck_assert_int_eq(aa_session_autoawait(s), 1);
    /* A word glued to the magic is not the magic: Python says so. */
    r = tu_run(s, "%autoawaitoff", AA_SYNTAX_ERROR);
    aa_result_free(r);
    ck_assert_int_eq(aa_session_autoawait(s), 1);
    /* Lines after the magic keep their numbers. */
    r = tu_run(s, "%autoawait on\n\n1/0\n", AA_EXCEPTION);
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "line 3"));
    aa_result_free(r);
    /* Not an identifier, a bad import path, a name that is no callable. */
    r = tu_run(s, "%autoawait 9lives", AA_EXCEPTION);
    aa_result_free(r);
    r = tu_run(s, "%autoawait a..b", AA_EXCEPTION);
    aa_result_free(r);
    r = tu_run(s, "%autoawait .a", AA_EXCEPTION);
    aa_result_free(r);
    tu_expect(s, "notcallable = 1", NULL);
    r = tu_run(s, "%autoawait notcallable", AA_EXCEPTION);
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "not callable"));
    aa_result_free(r);
    /* Bytes that are not UTF-8 after a magic: nothing runs, the magic
     * included. */
    aa_session_set_autoawait(s, 1);
    r = run_bytes("%autoawait off\n'\xff'", 18, AA_SYNTAX_ERROR);
    aa_result_free(r);
    ck_assert_int_eq(aa_session_autoawait(s), 1);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    still_runs();
}
END_TEST

/* ------------------------------------------------------ autoawait module */

/* Found while writing seeds for fuzz_execn (set-runner-callable, its name
 * made a lone surrogate): set_runner passed the NULL that
 * PyUnicode_AsUTF8 answers for a name without UTF-8 on to the registry,
 * whose strcmp crashed the host.  Refusing the name and falling back to a
 * generic one are both fine; crashing is not. */
START_TEST(set_runner_with_a_name_that_is_not_utf8)
{
    aa_result *r = NULL;
    int rc = aa_exec(s,
                     "import autoawait\n"
                     "def r(coro):\n"
                     "    return 1\n"
                     "r.__name__ = '\\udc80'\n"
                     "autoawait.set_runner(r)\n",
                     &r);

    ck_assert_msg(rc == AA_OK || rc == AA_EXCEPTION, "status %s",
                  aa_strerror(rc));
    if (rc == AA_EXCEPTION)
        ck_assert_str_eq(aa_session_runner(s), "asyncio");
    ck_assert_ptr_nonnull(aa_session_runner(s));
    aa_result_free(r);
    still_runs();
    ck_assert_int_eq(aa_session_set_runner(s, "asyncio"), AA_OK);
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0, 'back')", "'back'");
}
END_TEST

/* ------------------------------------------------------------- console */

START_TEST(is_complete_on_fuzz_seeds)
{
    int indent = -1;

    ck_assert_int_eq(aa_is_complete(s, "\\", NULL), AA_INPUT_INCOMPLETE);
    ck_assert_int_eq(aa_is_complete(s, "x = 1 + \\\n", NULL),
                     AA_INPUT_INCOMPLETE);
    ck_assert_int_eq(aa_is_complete(s, "def f(:", NULL), AA_INPUT_INVALID);
    ck_assert_int_eq(aa_is_complete(s, "\t1", NULL), AA_INPUT_INVALID);
    ck_assert_int_eq(aa_is_complete(s, "x = '\xff'", NULL), AA_INPUT_INVALID);
    ck_assert_int_eq(aa_is_complete(s, "if x:\r\n", &indent),
                     AA_INPUT_INCOMPLETE);
    ck_assert_int_eq(indent, 4);
    ck_assert_int_eq(aa_is_complete(s, "  %autoawait trio", &indent),
                     AA_INPUT_COMPLETE);
    ck_assert_int_eq(indent, 0);
}
END_TEST

START_TEST(completion_at_every_cursor)
{
    static const char *const lines[] = {
        "import asy",
        "from asyncio import sl",
        "from asyncio import (sleep, ga",
        "x = pri",
        "__bu",
        "1.",
        "'abc'.up",
        "a.b.c",
        "print(le",
        "",
    };
    size_t i, cursor;

    tu_expect(s, "import asyncio", NULL);
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++)
        for (cursor = 0; cursor <= strlen(lines[i]); cursor++)
            complete_at(lines[i], cursor);
}
END_TEST

/* fuzz_complete, first input: a line that is not UTF-8.  The start was
 * counted in characters of the decoded line, where each bad byte had
 * become U+FFFD (three bytes), so it came out past the cursor. */
START_TEST(completion_start_with_bytes_that_are_not_utf8)
{
    static const char line[] = "d\xc3\xa9j\xc3\xa0 = 1; d\xc3\xa9";
    size_t cursor;

    ck_assert_uint_eq(complete_at("\xff\xff"
                                  "abc",
                                  5),
                      2);
    ck_assert_uint_eq(complete_at("s = '\xff\xfe", 7), 7);
    /* A cursor inside a UTF-8 sequence cuts it. */
    ck_assert_uint_eq(complete_at("pri\xe2\x82\xac", 4), 4);
    ck_assert_uint_eq(complete_at("pri\xe2\x82\xac", 5), 5);
    tu_expect(s, "d\xc3\xa9j\xc3\xa0 = 1", NULL);
    for (cursor = 0; cursor < sizeof line; cursor++)
        complete_at(line, cursor);
}
END_TEST

/* fuzz_complete, input "ran\n" at cursor 4: the completer's `$` matched
 * before the newline, so it completed "ran" from start 1 and the item
 * would have replaced "an\n". */
START_TEST(completion_after_a_newline)
{
    ck_assert_uint_eq(complete_at("ran\n", 4), 4);
    ck_assert_uint_eq(complete_at("x = 1\nimport asy\n", 17), 17);
    ck_assert_uint_eq(complete_at("ran\n", 3), 0);
}
END_TEST

static Suite *fuzz_regressions_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("fuzz_regressions", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, nul_byte_runs_nothing);
    tcase_add_test(tc, invalid_utf8_is_a_syntax_error_naming_the_byte);
    tcase_add_test(tc, hundred_thousand_nested_brackets);
    tcase_add_test(tc, unterminated_triple_quoted_string);
    tcase_add_test(tc, magic_with_a_300_character_argument);
    tcase_add_test(tc, magic_shapes);
    tcase_add_test(tc, set_runner_with_a_name_that_is_not_utf8);
    tcase_add_test(tc, is_complete_on_fuzz_seeds);
    tcase_add_test(tc, completion_at_every_cursor);
    tcase_add_test(tc, completion_start_with_bytes_that_are_not_utf8);
    tcase_add_test(tc, completion_after_a_newline);
    return suite;
}

int main(void)
{
    return tu_main(fuzz_regressions_suite());
}
