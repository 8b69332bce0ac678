/*
 * check_imports.c -- the modules the library and its runners import for
 * themselves come from the interpreter's own sys.path, never from a folder
 * put in front of it.
 *
 * Each test plants, in a fresh folder, a module of every standard-library
 * name (sys.stdlib_module_names) that leaves NAME.py.ran behind when it is
 * imported, and puts the folder first on sys.path, as python3 does with
 * '' or a script's folder.  Then it does what makes the library import:
 * an exception's traceback, a cell defining a function (linecache), an
 * async cell (asyncio, trio), completion.  Only what a cell imports itself
 * may come from the folder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "testutil.h"

#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/aa-imports-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* The Python source that plants the modules and puts dir first. */
static void plant_source(char *src, size_t size)
{
    snprintf(src, size,
             "import sys\n"
             "for n in sys.stdlib_module_names:\n"
             "    with open('%s/' + n + '.py', 'w') as f:\n"
             "        f.write(\"open(__file__ + '.ran', 'w').close()\\n\")\n"
             "sys.path.insert(0, '%s')\n"
             "del n, f\n",
             dir, dir);
}

/* The planted modules that ran, as a repr of their sorted names. */
static void expect_ran(aa_session *s, const char *names)
{
    char src[256];

    snprintf(src, sizeof src,
             "sorted(f[:-7] for f in __import__('os').listdir('%s') "
             "if f.endswith('.py.ran'))",
             dir);
    tu_expect(s, src, names);
}

static void remove_dir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs 1/0 as cell n and wants the traceback the real traceback and ast
 * make (ast gives the caret line). */
static void expect_exception(aa_session *s, int n)
{
    aa_result *r = tu_run(s, "1/0", AA_EXCEPTION);
    char want[256];

    snprintf(want, sizeof want,
             "Traceback (most recent call last):\n"
             "  File \"<cell-%d>\", line 1, in <module>\n"
             "    1/0\n"
             "    ~^~\n"
             "ZeroDivisionError: division by zero\n",
             n);
    ck_assert_str_eq(aa_result_traceback(r), want);
    aa_result_free(r);
}

/* Completes line and wants want among the answers. */
static void expect_completion(aa_session *s, const char *line, const char *want)
{
    aa_completions *c = NULL;
    size_t i, n;
    int found = 0;

    ck_assert_int_eq(aa_complete(s, line, strlen(line), &c), AA_OK);
    n = aa_completions_count(c);
    for (i = 0; i < n; i++)
        found |= strcmp(aa_completions_item(c, i), want) == 0;
    ck_assert_msg(found, "'%s' does not complete to '%s'", line, want);
    aa_completions_free(c);
}

START_TEST(library_imports_skip_a_folder_put_first)
{
    aa_session *s = tu_session(NULL);
    char src[512];
    int indent = -1;

    make_dir();
    plant_source(src, sizeof src);
    tu_do(s, src, AA_OK);
    expect_exception(s, 2);
    tu_do(s, "def g():\n    return 1", AA_OK);
    tu_expect(s, "async def f():\n    return 41\nawait f() + 1", "42");
    ck_assert_int_eq(aa_is_complete(s, "if g():", &indent),
                     AA_INPUT_INCOMPLETE);
    expect_completion(s, "import zipf", "zipfile");
    expect_completion(s, "sys.pa", "sys.path");
    expect_completion(s, "from sys import pa", "path");
    expect_ran(s, "[]");
    aa_session_free(s);
    remove_dir();
    tu_clear();
}
END_TEST

/*
 * A runner library (trio, curio) and everything it imports in turn.  Its
 * presence is looked up without importing it, which would leave nothing
 * for the cell to import.
 */
static void runner_imports(const char *runner)
{
    aa_session *s = tu_session(NULL);
    char src[512];
    aa_result *r;

    snprintf(src, sizeof src,
             "__import__('_frozen_importlib_external').PathFinder"
             ".find_spec('%s') is not None",
             runner);
    r = tu_run(s, src, AA_OK);
    if (strcmp(aa_result_repr(r), "True") != 0) {
        printf("SKIP: %s is not installed\n", runner);
        aa_result_free(r);
        aa_session_free(s);
        return;
    }
    aa_result_free(r);
    make_dir();
    plant_source(src, sizeof src);
    tu_do(s, src, AA_OK);
    snprintf(src, sizeof src, "%%autoawait %s", runner);
    tu_do(s, src, AA_OK);
    tu_expect(s, "async def f():\n    return 41\nawait f() + 1", "42");
    expect_ran(s, "[]");
    aa_session_free(s);
    remove_dir();
    tu_clear();
}

START_TEST(trio_imports_skip_a_folder_put_first)
{
    runner_imports("trio");
}
END_TEST

START_TEST(curio_imports_skip_a_folder_put_first)
{
    runner_imports("curio");
}
END_TEST

START_TEST(a_cells_own_import_follows_sys_path)
{
    aa_session *s = tu_session(NULL);
    char src[512];

    make_dir();
    plant_source(src, sizeof src);
    tu_do(s, src, AA_OK);
    /* A module nothing imports at start-up: a site-packages .pth file may
     * import a lot (setuptools' imports re, keyword, ...). */
    tu_expect(s, "'colorsys' in sys.modules", "False");
    tu_do(s, "import colorsys", AA_OK);
    tu_expect(s, "colorsys.__file__.startswith('/tmp/')", "True");
    expect_ran(s, "['colorsys']");
    aa_session_free(s);
    remove_dir();
    tu_clear();
}
END_TEST

/*
 * A host that started Python itself, as python3 running a script does,
 * with the script's folder first on sys.path before the library's first
 * call: that folder is not the interpreter's own either.
 */
START_TEST(host_started_interpreter)
{
    PyThreadState *saved;
    aa_session *s;
    char src[512];

    make_dir();
    Py_InitializeEx(0);
    plant_source(src, sizeof src);
    ck_assert_int_eq(PyRun_SimpleString(src), 0);
    saved = PyEval_SaveThread();
    s = tu_session(NULL);
    tu_do(s, "x = 1", AA_OK);
    tu_do(s, "y = 2", AA_OK);
    expect_exception(s, 3);
    tu_expect(s, "async def f():\n    return 41\nawait f() + 1", "42");
    expect_ran(s, "[]");
    aa_session_free(s);
    PyEval_RestoreThread(saved);
    remove_dir();
    tu_clear();
}
END_TEST

static Suite *imports_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("imports", 120, &tc);

    tcase_add_test(tc, library_imports_skip_a_folder_put_first);
    tcase_add_test(tc, trio_imports_skip_a_folder_put_first);
    tcase_add_test(tc, curio_imports_skip_a_folder_put_first);
    tcase_add_test(tc, a_cells_own_import_follows_sys_path);
    tcase_add_test(tc, host_started_interpreter);
    return suite;
}

int main(void)
{
    return tu_main(imports_suite());
}
