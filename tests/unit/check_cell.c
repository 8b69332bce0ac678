/*
 * check_cell.c -- the cell pipeline: bytes, parsing, display, sources,
 * tracebacks, sync and async cells, SystemExit.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TU_SESSION_FIXTURE
#include "testutil.h"

START_TEST(nul_byte_is_a_syntax_error_naming_the_offset)
{
    static const char src[] = "x = 1\ny = 2\0z = 3\n";
    aa_result *r = NULL;

    ck_assert_int_eq(aa_execn(s, src, sizeof src - 1, &r), AA_SYNTAX_ERROR);
    ck_assert_str_eq(aa_result_exception(r), "SyntaxError");
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "null bytes"));
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "byte 11, line 2"));
    aa_result_free(r);
    /* Nothing of the cell ran, and the session goes on. */
    tu_expect(s, "'x' in globals()", "False");
}
END_TEST

START_TEST(invalid_utf8_is_a_syntax_error)
{
    static const char *bad[] = {"'\xff'", "'\xc3'", "'\xed\xa0\x80'",
                                "'\xc0\xaf'", "'\xf4\x90\x80\x80'"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        aa_result *r = tu_run(s, bad[i], AA_SYNTAX_ERROR);
        ck_assert_ptr_nonnull(strstr(aa_result_message(r), "UTF-8"));
        aa_result_free(r);
    }
    tu_expect(s, "'\xc3\xa9\xf0\x9f\x98\x80'", "'\xc3\xa9\xf0\x9f\x98\x80'");
}
END_TEST

START_TEST(execn_takes_exactly_len_bytes)
{
    aa_result *r = NULL;

    ck_assert_int_eq(aa_execn(s, "1 + 1garbage", 5, &r), AA_OK);
    ck_assert_str_eq(aa_result_repr(r), "2");
    aa_result_free(r);
    ck_assert_int_eq(aa_execn(s, NULL, 0, NULL), AA_OK);
    ck_assert_int_eq(aa_execn(s, NULL, 3, NULL), AA_EINVAL);
}
END_TEST

START_TEST(display_rules)
{
    tu_expect(s, "41 + 1", "42");
    tu_expect(s, "_", "42");
    tu_expect(s, "None", NULL);
    tu_expect(s, "7;", NULL);
    tu_expect(s, "8 ;  # a comment", NULL);
    tu_expect(s, "'a;b'", "'a;b'");
    tu_expect(s, "x = 3; x", "3");
    tu_expect(s, "if True:\n    5", NULL);
    tu_expect(s, "_", "3");
    /* The hidden value never shows in the namespace. */
    tu_expect(s, "sorted(k for k in globals() if not k.startswith('__'))",
              "['_', 'x']");
}
END_TEST

START_TEST(repr_that_raises_is_the_cells_exception)
{
    aa_result *r;

    tu_do(s,
          "class Bad:\n    def __repr__(self):\n        raise "
          "RuntimeError('no repr')",
          AA_OK);
    r = tu_run(s, "Bad()", AA_EXCEPTION);
    ck_assert_str_eq(aa_result_exception(r), "RuntimeError");
    ck_assert_ptr_null(aa_result_repr(r));
    aa_result_free(r);
    tu_expect(s, "1", "1");
}
END_TEST

START_TEST(sources_reach_linecache_and_inspect)
{
    tu_do(s, "def f(a):\n    return a * 2\n", AA_OK);
    tu_expect(s, "import inspect\ninspect.getsource(f)",
              "'def f(a):\\n    return a * 2\\n'");
    tu_expect(s, "import linecache\nlinecache.getline('<cell-1>', 2)",
              "'    return a * 2\\n'");
}
END_TEST

START_TEST(traceback_has_user_frames_and_lines)
{
    aa_result *r;

    tu_do(s, "def inner():\n    raise KeyError('k')\n", AA_OK);
    r = tu_run(s, "import asyncio\nawait asyncio.sleep(0)\ninner()",
               AA_EXCEPTION);
    ck_assert_int_eq(aa_result_is_async(r), 1);
    ck_assert_str_eq(aa_result_exception(r), "KeyError");
    ck_assert_str_eq(aa_result_message(r), "'k'");
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r),
                                 "File \"<cell-2>\", line 3, in <module>"));
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r),
                                 "File \"<cell-1>\", line 2, in inner\n"
                                 "    raise KeyError('k')"));
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "asyncio"));
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "base_events"));
    aa_result_free(r);
}
END_TEST

START_TEST(syntax_error_shows_line_and_caret)
{
    aa_result *r = tu_run(s, "x = 1\ny = (2 +\n", AA_SYNTAX_ERROR);

    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "<cell-1>"));
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "y = (2 +"));
    aa_result_free(r);
    /* Found by the compiler, not the parser: the line is still shown. */
    r = tu_run(s, "a = 1\nreturn a", AA_SYNTAX_ERROR);
    ck_assert_ptr_nonnull(
        strstr(aa_result_traceback(r), "line 2\n    return a\n    ^"));
    aa_result_free(r);
    tu_expect(s, "'a' in globals()", "False");
}
END_TEST

START_TEST(runtime_syntax_error_is_an_exception)
{
    aa_result *r = tu_run(s, "compile('1 +', 'x', 'exec')", AA_EXCEPTION);

    ck_assert_str_eq(aa_result_exception(r), "SyntaxError");
    aa_result_free(r);
}
END_TEST

START_TEST(system_exit_codes)
{
    static const struct {
        const char *src;
        int code;
        const char *message;
    } cases[] = {
        {"raise SystemExit", 0, NULL},
        {"raise SystemExit(None)", 0, NULL},
        {"raise SystemExit(7)", 7, NULL},
        {"import sys\nsys.exit('bye now')", 1, "bye now"},
        {"import asyncio\nawait asyncio.sleep(0)\nexit(5)", 5, NULL},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aa_result *r = tu_run(s, cases[i].src, AA_SYSTEM_EXIT);
        ck_assert_int_eq(aa_result_exit_code(r), cases[i].code);
        ck_assert_str_eq(aa_result_exception(r), "SystemExit");
        if (cases[i].message != NULL)
            ck_assert_str_eq(aa_result_message(r), cases[i].message);
        aa_result_free(r);
    }
    tu_expect(s, "'still here'", "'still here'");
}
END_TEST

START_TEST(output_goes_to_the_callback_in_order)
{
    aa_result *r = tu_run(s,
                          "import sys, asyncio\nprint('a')\n"
                          "await asyncio.sleep(0)\nprint('b', file=sys.stderr)"
                          "\nsys.stdout.write('c\\n')"
                          "\nprint('\\udce9', file=sys.stderr)",
                          AA_OK);

    ck_assert_str_eq(tu_stdout(), "a\nc\n");
    ck_assert_str_eq(tu_stderr(), "b\n\\udce9\n");
    aa_result_free(r);
    /* Between cells the process's own streams are back. */
    tu_expect(s, "sys.stdout.name", "'<stdout>'");
    tu_expect(s, "sys.stdout.isatty()", "False");
}
END_TEST

START_TEST(a_huge_cell_runs)
{
    size_t n = 20000, i, len = 0;
    char *src = malloc(n * 16 + 16);

    ck_assert_ptr_nonnull(src);
    for (i = 0; i < n; i++)
        len += (size_t)sprintf(src + len, "v%zu = %zu\n", i, i);
    sprintf(src + len, "v%zu", n - 1);
    tu_expect(s, src, "19999");
    free(src);
}
END_TEST

START_TEST(magic_line_then_code_keeps_line_numbers)
{
    aa_result *r = tu_run(s, "%autoawait off\nx = 1\n1/0", AA_EXCEPTION);

    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), "line 3"));
    aa_result_free(r);
    ck_assert_int_eq(aa_session_autoawait(s), 0);
    r = tu_run(s, "%autoawait maybe", AA_EXCEPTION);
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "maybe"));
    aa_result_free(r);
    r = tu_run(s, "%autoawait ../x", AA_EXCEPTION);
    aa_result_free(r);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    r = tu_run(s, "%autoawaitx", AA_SYNTAX_ERROR);
    aa_result_free(r);
}
END_TEST

START_TEST(autoawait_off_and_on)
{
    aa_result *r;

    ck_assert_int_eq(aa_session_set_autoawait(s, 0), AA_OK);
    ck_assert_int_eq(aa_session_autoawait(s), 0);
    r = tu_run(s, "import asyncio\nawait asyncio.sleep(0)", AA_SYNTAX_ERROR);
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "outside function"));
    aa_result_free(r);
    aa_session_set_autoawait(s, 1);
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0, result='on')", "'on'");
}
END_TEST

START_TEST(a_file_runs_as_one_cell_under_its_name)
{
    char path[] = "/tmp/aa_check_cell_XXXXXX";
    const char *argv[] = {"script.py", "one", "two"};
    aa_result *r = NULL;
    FILE *f;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs("import asyncio, sys\n"
          "async def fail():\n    raise ValueError(sys.argv[1:])\n"
          "here = __file__\n"
          "await asyncio.sleep(0)\n"
          "await fail()\n",
          f);
    fclose(f);
    ck_assert_int_eq(aa_set_argv(3, argv), AA_OK);
    ck_assert_int_eq(aa_exec_file(s, path, &r), AA_EXCEPTION);
    ck_assert_int_eq(aa_result_is_async(r), 1);
    ck_assert_str_eq(aa_result_message(r), "['one', 'two']");
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r), path));
    ck_assert_ptr_nonnull(strstr(aa_result_traceback(r),
                                 "line 3, in fail\n    raise ValueError"));
    ck_assert_ptr_null(strstr(aa_result_traceback(r), "asyncio"));
    aa_result_free(r);
    unlink(path);
    tu_expect(s, "here == __file__ and here.startswith('/tmp/aa_check')",
              "True");
    ck_assert_int_eq(aa_exec_file(s, path, &r), AA_ENOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(aa_session_errmsg(s), path));
    ck_assert_int_eq(aa_set_argv(0, NULL), AA_OK);
    tu_expect(s, "sys.argv", "['']");
    ck_assert_int_eq(aa_set_argv(-1, NULL), AA_EINVAL);
}
END_TEST

/*
 * The value of the last expression comes either from the code itself
 * (compiled straight from the source) or from the tree's rewrite (with an
 * AST transformer installed, every cell takes that path).  Both must show
 * the same thing for every shape of cell.
 */
START_TEST(both_ways_to_the_last_value_agree)
{
    static const char *cells[] = {
        "1 + 1",
        "x",
        "x and 1",
        "0 or None",
        "x or y",
        "x if y else 1",
        "not x",
        "-x",
        "(x, y)",
        "[x, *y]",
        "{x: y}",
        "{*y}",
        "x == 1",
        "x <= 1",
        "x < 1 or x >= 1",
        "f'{x}'",
        "'a' 'b'",
        "b'x'",
        "...",
        "None",
        "x;",
        "x; y",
        "x = 1",
        "x += 1",
        "x: int = 2",
        "x",
        "y[0]",
        "y[1:]",
        "(lambda: 1).__name__",
        "(lambda a=1: a)()",
        "f = lambda: 3\nf()",
        "del y0",
        "y0 = 1",
        "(w := 5)",
        "w",
        "[i for i in y]",
        "{i: i for i in y}",
        "(i for i in y).__class__.__name__",
        "import asyncio\nawait asyncio.sleep(0, result=x)",
        "await asyncio.sleep(0, result=1) if x else 2",
        "[await asyncio.sleep(0, result=i) for i in y]",
        "async def g():\n    return 3\nawait g()",
        "for i in y:\n    i",
        "if x:\n    5",
        "if x:\n    5\nelse:\n    6",
        "while False:\n    pass",
        "try:\n    1/0\nexcept ZeroDivisionError:\n    pass\nx",
        "with open('/dev/null') as fh:\n    pass\nfh.closed",
        "print(x)",
        "x # comment",
        "x  # comment ; y",
        "'''doc\n;''' ",
        "(\n x\n)",
        "x \\\n + 1",
        "class C:\n    pass\nC.__name__",
        "@staticmethod\ndef dec():\n    pass",
        "assert x",
        "x;\n# only a comment",
        "y[0] = 7",
        "y",
        "x if x else (y := 0)",
        "print; x",
        "match x:\n    case 1:\n        'one'\n    case _:\n        'other'",
        "x is None",
        "type(x).__name__",
        "x, y",
        "*y, x",
        "(yield_ := 1)",
        "global gg\ngg = 2\ngg",
        "x = {'a': 1}['a']; x",
        "r'\\' x'",
        "u = 3 if x else 4",
        "u",
        "x\n'last'",
        "x; 1 + 1",
        "x\n-1",
        "await asyncio.sleep(0, result=1)\n'last'",
        "print(1)\n(1, 2)",
        "x; None",
        "x\nnot True",
        "y\n...",
        "x == (y := 1)",
        "x != 2 and x >= 1",
        "1", /* from here: constants the optimizer folds and drops */
        "-2.5",
        "(1, (-2, 'z'), __debug__)",
        "'a' * 3 + 'b'",
        "2 ** 10",
        "1 if True else 2",
        "x = 9\n-1",
        "1/0\n5",
        "'text'",
        "__doc__",
        "# a comment first\n'''docstring''' ",
        "__doc__",
        "x; 'not a docstring'",
        "__doc__",
        "1; 2",
        "3 # trailing: comment",
        "(4\n )",
        "f'plain'",
    };
    aa_session *fast = tu_session(NULL), *tree = tu_session(NULL);
    size_t i;

    tu_do(tree,
          "import ast, autoawait\n"
          "autoawait.ast_transformers.append(ast.NodeTransformer())",
          AA_OK);
    for (i = 0; i < 2; i++)
        tu_do(i ? tree : fast, "x = 1\ny = [1, 2, 3]\ny0 = 0", AA_OK);
    for (i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        aa_result *a = NULL, *b = NULL;
        int ra = aa_exec(fast, cells[i], &a), rb = aa_exec(tree, cells[i], &b);
        const char *pa = aa_result_repr(a), *pb = aa_result_repr(b);
        ck_assert_msg(ra == rb, "%s: status %d vs %d (%s / %s)", cells[i], ra,
                      rb, aa_result_message(a), aa_result_message(b));
        ck_assert_msg((pa == NULL && pb == NULL) ||
                          (pa != NULL && pb != NULL && strcmp(pa, pb) == 0),
                      "%s: %s vs %s", cells[i], pa ? pa : "(none)",
                      pb ? pb : "(none)");
        aa_result_free(a);
        aa_result_free(b);
    }
    tu_expect(fast, "import autoawait\nautoawait.ast_transformers", "[]");
    aa_session_free(fast);
    aa_session_free(tree);
}
END_TEST

static Suite *cell_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("cell", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, nul_byte_is_a_syntax_error_naming_the_offset);
    tcase_add_test(tc, invalid_utf8_is_a_syntax_error);
    tcase_add_test(tc, execn_takes_exactly_len_bytes);
    tcase_add_test(tc, display_rules);
    tcase_add_test(tc, repr_that_raises_is_the_cells_exception);
    tcase_add_test(tc, sources_reach_linecache_and_inspect);
    tcase_add_test(tc, traceback_has_user_frames_and_lines);
    tcase_add_test(tc, syntax_error_shows_line_and_caret);
    tcase_add_test(tc, runtime_syntax_error_is_an_exception);
    tcase_add_test(tc, system_exit_codes);
    tcase_add_test(tc, output_goes_to_the_callback_in_order);
    tcase_add_test(tc, a_huge_cell_runs);
    tcase_add_test(tc, magic_line_then_code_keeps_line_numbers);
    tcase_add_test(tc, autoawait_off_and_on);
    tcase_add_test(tc, a_file_runs_as_one_cell_under_its_name);
    tcase_add_test(tc, both_ways_to_the_last_value_agree);
    return suite;
}

int main(void)
{
    return tu_main(cell_suite());
}
