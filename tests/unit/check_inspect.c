/*
 * check_inspect.c -- aa_inspect, IPython's `obj?` for a console or a
 * Jupyter kernel: which name the cursor is on, what is said about it, and
 * the inputs it must refuse.
 */
#define TU_SESSION_FIXTURE
#include "testutil.h"

/* aa_inspect of code with the cursor at the first '|' (taken out), or at
 * the end when there is none; wants AA_OK and returns the text (freed by
 * the caller with aa_free). */
static char *inspect_at(const char *marked, int detail)
{
    char code[512], *bar, *text = NULL;
    size_t cursor;
    int rc;

    snprintf(code, sizeof code, "%s", marked);
    bar = strchr(code, '|');
    if (bar != NULL) {
        cursor = (size_t)(bar - code);
        memmove(bar, bar + 1, strlen(bar + 1) + 1);
    } else {
        cursor = strlen(code);
    }
    rc = aa_inspect(s, code, cursor, detail, &text);
    ck_assert_msg(rc == AA_OK, "'%s': %s (%s)", marked, aa_strerror(rc),
                  aa_session_errmsg(s));
    ck_assert_ptr_nonnull(text);
    return text;
}

/* Wants line (a whole line) in text. */
static void expect_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return;
        p++;
    }
    ck_abort_msg("no line '%s' in:\n%s", line, text);
}

static void expect_no(const char *text, const char *part)
{
    ck_assert_msg(strstr(text, part) == NULL, "'%s' in:\n%s", part, text);
}

START_TEST(a_function_of_a_cell)
{
    char *text;

    tu_do(s,
          "def add(a, b=1):\n"
          "    \"\"\"Adds b to a.\n\n    Both numbers.\"\"\"\n"
          "    return a + b",
          AA_OK);
    text = inspect_at("add", 0);
    expect_line(text, "Signature: add(a, b=1)");
    expect_line(text, "Type: function");
    expect_line(text, "File: <cell-1>");
    expect_line(text, "Docstring:");
    expect_line(text, "Adds b to a.");
    expect_line(text, "Both numbers.");
    expect_no(text, "return a + b");
    expect_no(text, "\x1b"); /* plain text: no terminal escapes */
    aa_free(text);

    /* Detail 1: its source, from linecache, instead of the docstring. */
    text = inspect_at("add", 1);
    expect_line(text, "Signature: add(a, b=1)");
    expect_line(text, "Source:");
    expect_line(text, "def add(a, b=1):");
    expect_line(text, "    return a + b");
    expect_no(text, "Docstring:");
    aa_free(text);

    /* A class of a cell: its source too, which inspect alone finds only
     * in a file. */
    tu_do(s,
          "x = 1\nclass K:\n    'Kay.'\n"
          "    def __init__(self, n):\n        self.n = n\ny = 2",
          AA_OK);
    text = inspect_at("K", 1);
    expect_line(text, "Signature: K(n)");
    expect_line(text, "Type: type");
    expect_line(text, "Source:\nclass K:");
    expect_line(text, "        self.n = n");
    expect_no(text, "x = 1");
    expect_no(text, "y = 2");
    aa_free(text);

    /* A function without a docstring says so. */
    tu_do(s, "def bare(): pass", AA_OK);
    text = inspect_at("bare", 0);
    expect_line(text, "Docstring: <no docstring>");
    aa_free(text);
}
END_TEST

START_TEST(a_builtin_and_a_module_attribute)
{
    char *text = inspect_at("len", 0);

    expect_line(text, "Signature: len(obj, /)");
    expect_line(text, "Type: builtin_function_or_method");
    expect_line(text, "Docstring: Return the number of items in a container.");
    expect_no(text, "File:");
    aa_free(text);

    tu_do(s, "import asyncio", AA_OK);
    text = inspect_at("asyncio.sleep", 0);
    expect_line(text, "Signature: asyncio.sleep(delay, result=None)");
    expect_line(text, "Type: function");
    ck_assert_ptr_nonnull(strstr(text, "asyncio/tasks.py"));
    ck_assert_ptr_nonnull(strstr(text, "Coroutine that completes"));
    aa_free(text);

    /* A value that is no function: its type and a one-line string form. */
    tu_do(s, "lines = 'one\\ntwo'", AA_OK);
    text = inspect_at("lines", 0);
    expect_line(text, "Type: str");
    expect_line(text, "String form: one ...");
    expect_no(text, "two");
    expect_no(text, "Signature:");
    aa_free(text);
}
END_TEST

START_TEST(the_name_the_cursor_is_in)
{
    char *text;

    tu_do(s, "import asyncio", AA_OK);
    /* In the middle of the last part: the whole dotted name. */
    text = inspect_at("x = asyncio.sl|eep(1)", 0);
    expect_line(text, "Signature: asyncio.sleep(delay, result=None)");
    aa_free(text);
    /* In the first part: the name as far as the part the cursor is in. */
    text = inspect_at("asyn|cio.sleep", 0);
    expect_line(text, "Type: module");
    aa_free(text);
    /* Just after a name, on a later line. */
    text = inspect_at("y = 1\nlen| + 1", 0);
    expect_line(text, "Signature: len(obj, /)");
    aa_free(text);
}
END_TEST

START_TEST(the_function_of_an_open_call)
{
    char *text;

    tu_do(s, "def f(x, y, *, z=3):\n    'Eff.'", AA_OK);
    text = inspect_at("f(x, y", 0);
    expect_line(text, "Signature: f(x, y, *, z=3)");
    expect_line(text, "Docstring: Eff.");
    aa_free(text);
    text = inspect_at("r = f(1, len('ab'), z=", 0);
    expect_line(text, "Signature: f(x, y, *, z=3)");
    aa_free(text);
    /* A call closed is not open any more. */
    text = inspect_at("f(1, 2) + len", 0);
    expect_line(text, "Signature: len(obj, /)");
    aa_free(text);
}
END_TEST

START_TEST(names_that_name_nothing)
{
    char *text = (char *)"untouched";

    ck_assert_int_eq(aa_inspect(s, "no_such_name", 12, 0, &text), AA_ENOTFOUND);
    ck_assert_ptr_null(text);
    text = (char *)"untouched";
    ck_assert_int_eq(aa_inspect(s, "len.no_such", 11, 0, &text), AA_ENOTFOUND);
    ck_assert_ptr_null(text);
    /* No name at the cursor at all: an empty cell, a number, a keyword. */
    ck_assert_int_eq(aa_inspect(s, "", 0, 0, &text), AA_ENOTFOUND);
    ck_assert_int_eq(aa_inspect(s, "1 + 2", 5, 0, &text), AA_ENOTFOUND);
    ck_assert_int_eq(aa_inspect(s, "while", 5, 1, &text), AA_ENOTFOUND);
    ck_assert_ptr_null(text);
    /* Nothing was run, and the session goes on. */
    tu_expect(s, "1 + 1", "2");
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    char *text = (char *)"untouched";

    ck_assert_int_eq(aa_inspect(s, "len", 4, 0, &text), AA_EINVAL);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(aa_inspect(NULL, "len", 3, 0, &text), AA_EINVAL);
    ck_assert_int_eq(aa_inspect(s, NULL, 0, 0, &text), AA_EINVAL);
    ck_assert_int_eq(aa_inspect(s, "len", 3, 0, NULL), AA_EINVAL);
    /* The code ends at its NUL: what follows is not there. */
    ck_assert_int_eq(aa_inspect(s, "len\0abs", 5, 0, &text), AA_EINVAL);
    ck_assert_int_eq(aa_inspect(s, "len\0abs", 3, 0, &text), AA_OK);
    ck_assert_ptr_nonnull(strstr(text, "Signature: len(obj, /)"));
    aa_free(text);
    aa_free(NULL);
}
END_TEST

START_TEST(invalid_utf8_is_safe)
{
    char *text = NULL;

    /* Bytes that are no UTF-8 before the name, and a cursor inside a
     * character cut in two: an answer, never a crash. */
    ck_assert_int_eq(aa_inspect(s, "\xff\xfe len", 6, 0, &text), AA_OK);
    ck_assert_ptr_nonnull(strstr(text, "Signature: len(obj, /)"));
    aa_free(text);
    text = NULL;
    tu_do(s, "\xc3\xa9t\xc3\xa9 = 5", AA_OK);
    ck_assert_int_eq(aa_inspect(s, "\xc3\xa9t\xc3\xa9", 5, 0, &text), AA_OK);
    ck_assert_ptr_nonnull(strstr(text, "Type: int"));
    aa_free(text);
    text = NULL;
    ck_assert_int_eq(aa_inspect(s, "\xc3\xa9t\xc3\xa9", 1, 0, &text), AA_OK);
    ck_assert_ptr_nonnull(strstr(text, "Type: int"));
    aa_free(text);
    text = NULL;
    ck_assert_int_eq(aa_inspect(s, "len(\xc3", 5, 0, &text), AA_OK);
    ck_assert_ptr_nonnull(strstr(text, "Signature: len(obj, /)"));
    aa_free(text);
}
END_TEST

START_TEST(a_raising_property_is_not_found)
{
    char *text = (char *)"untouched";

    tu_do(s,
          "class C:\n"
          "    calls = 0\n"
          "    @property\n"
          "    def bad(self):\n"
          "        C.calls += 1\n"
          "        print('getter ran')\n"
          "        raise RuntimeError('no')\n"
          "    @property\n"
          "    def good(self):\n"
          "        'A good one.'\n"
          "        return [1]\n"
          "c = C()",
          AA_OK);
    ck_assert_int_eq(aa_inspect(s, "c.bad", 5, 0, &text), AA_ENOTFOUND);
    ck_assert_ptr_null(text);
    tu_expect(s, "C.calls", "1");
    /* What the getter printed is the session's output. */
    ck_assert_str_eq(tu_stdout(), "getter ran\n");
    text = inspect_at("c.good", 0);
    expect_line(text, "Type: list");
    expect_line(text, "String form: [1]");
    aa_free(text);
}
END_TEST

static Suite *inspect_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("inspect", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, a_function_of_a_cell);
    tcase_add_test(tc, a_builtin_and_a_module_attribute);
    tcase_add_test(tc, the_name_the_cursor_is_in);
    tcase_add_test(tc, the_function_of_an_open_call);
    tcase_add_test(tc, names_that_name_nothing);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, invalid_utf8_is_safe);
    tcase_add_test(tc, a_raising_property_is_not_found);
    return suite;
}

int main(void)
{
    return tu_main(inspect_suite());
}
