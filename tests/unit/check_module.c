/*
 * check_module.c -- the `autoawait` Python module and the bindings:
 * callables as runners (namespace, import path, register_runner), AST
 * transformers, nested sessions and interrupts that reach them.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#define TU_SESSION_FIXTURE
#include "testutil.h"

static void expect_error(const char *src, const char *exception,
                         const char *part)
{
    aa_result *r = tu_run(s, src, AA_EXCEPTION);
    const char *tb = aa_result_traceback(r);

    ck_assert_str_eq(aa_result_exception(r), exception);
    ck_assert_msg(strstr(aa_result_message(r), part) != NULL ||
                      (tb != NULL && strstr(tb, part) != NULL),
                  "'%s' not in %s\n%s", part, aa_result_message(r),
                  tb ? tb : "");
    aa_result_free(r);
}

START_TEST(module_reports_and_switches_the_runner)
{
    tu_expect(s, "import autoawait\nautoawait.runner()", "'asyncio'");
    tu_do(s, "autoawait.set_runner('echo')", AA_OK);
    tu_expect(s, "autoawait.runner()", "'echo'");
    tu_do(s,
          "def mine(coro):\n    try:\n        coro.send(None)\n"
          "    except StopIteration as e:\n        used.append(e.value)\n"
          "        return e.value\n"
          "used = []",
          AA_OK);
    expect_error("autoawait.set_runner(42)", "TypeError", "runner name");
    tu_do(s, "autoawait.set_runner(mine)", AA_OK);
    tu_expect(s, "autoawait.runner()", "'mine'");
    tu_expect(s, "async def seven():\n    return 7\nawait seven()", "7");
    tu_expect(s, "used", "[7]");
    expect_error("autoawait.set_runner('nosuchrunner')", "ValueError",
                 "nosuchrunner");
    tu_expect(s, "autoawait.runner()", "'mine'");
}
END_TEST

START_TEST(module_outside_a_cell_says_so)
{
    tu_do(s,
          "import autoawait, threading\nout = []\n"
          "def probe():\n    try:\n        autoawait.runner()\n"
          "    except RuntimeError as e:\n        out.append(str(e))\n"
          "t = threading.Thread(target=probe)\nt.start()\nt.join()",
          AA_OK);
    tu_expect(s, "'inside a cell' in out[0]", "True");
}
END_TEST

START_TEST(callable_from_an_import_path)
{
    aa_result *r;

    tu_do(s,
          "import sys, types\nm = types.ModuleType('myrunners')\n"
          "calls = []\ndef run(coro):\n    calls.append('via path')\n"
          "    try:\n        coro.send(None)\n"
          "    except StopIteration as e:\n        return e.value\n"
          "m.run = run\nsys.modules['myrunners'] = m",
          AA_OK);
    tu_do(s, "%autoawait myrunners.run", AA_OK);
    r = tu_run(s, "%autoawait", AA_OK);
    ck_assert_str_eq(tu_stdout(),
                     "autoawait is `on`, and set to use `myrunners.run`\n");
    aa_result_free(r);
    tu_expect(s, "async def one():\n    return 1\nawait one()", "1");
    tu_expect(s, "calls", "['via path']");
    expect_error("%autoawait nosuchmodule.run", "ModuleNotFoundError",
                 "nosuchmodule");
    expect_error("%autoawait myrunners.missing", "AttributeError", "missing");
    expect_error("%autoawait 1bad", "ValueError", "1bad");
    tu_expect(s, "import autoawait\nautoawait.runner()", "'myrunners.run'");
}
END_TEST

START_TEST(callable_runner_sees_the_session_context)
{
    tu_do(s,
          "import contextvars\ncv = contextvars.ContextVar('cv')\n"
          "cv.set('session value')\nseen = []\n"
          "def peek(coro):\n    seen.append(cv.get('unset'))\n"
          "    return coro.send(None) if False else None\n",
          AA_OK);
    tu_do(s,
          "def peek(coro):\n    seen.append(cv.get('unset'))\n"
          "    try:\n        coro.send(None)\n"
          "    except StopIteration as e:\n        return e.value\n",
          AA_OK);
    tu_do(s, "%autoawait peek", AA_OK);
    tu_expect(s, "async def v():\n    return 3\nawait v()", "3");
    tu_expect(s, "seen", "['session value']");
}
END_TEST

START_TEST(register_runner_serves_every_session)
{
    aa_session *other;

    tu_do(s,
          "import autoawait\n"
          "def drive(coro):\n    try:\n        coro.send(None)\n"
          "    except StopIteration as e:\n"
          "        import builtins\n        builtins.driven = e.value\n"
          "        return e.value\n"
          "autoawait.register_runner('driver', drive)",
          AA_OK);
    expect_error("autoawait.register_runner('driver', drive)", "ValueError",
                 "already registered");
    expect_error("autoawait.register_runner('Bad-Name', drive)", "ValueError",
                 "not a runner name");
    expect_error("autoawait.register_runner('notcallable', 5)", "TypeError",
                 "not callable");
    other = tu_session("driver");
    tu_expect(other, "async def f():\n    return 2\nawait f()", "2");
    tu_expect(other, "driven", "2");
    ck_assert_str_eq(aa_session_runner(other), "driver");
    aa_session_free(other);
}
END_TEST

START_TEST(transformers_are_per_session_and_removable)
{
    aa_session *other = tu_session(NULL);

    tu_do(s,
          "import ast, autoawait\n"
          "class Neg(ast.NodeTransformer):\n"
          "    def visit_Constant(self, node):\n"
          "        if type(node.value) is int:\n"
          "            return ast.UnaryOp(ast.USub(), node)\n"
          "        return node\n"
          "t = Neg()\nautoawait.ast_transformers.append(t)",
          AA_OK);
    tu_expect(s, "5", "-5");
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0, result=6)", "-6");
    tu_expect(other, "5", "5");
    tu_do(s, "autoawait.ast_transformers.remove(t)", AA_OK);
    tu_expect(s, "5", "5");
    aa_session_free(other);
}
END_TEST

START_TEST(bad_transformers_fail_the_cell_and_name_themselves)
{
    tu_do(s,
          "import ast, autoawait\n"
          "class Nothing(ast.NodeTransformer):\n"
          "    def visit_Module(self, node):\n        return None\n"
          "autoawait.ast_transformers.append(Nothing())",
          AA_OK);
    expect_error("x = 1", "TypeError", "not an ast.Module");
    /* As IPython does, a transformer that failed is taken off the list. */
    tu_expect(s, "len(autoawait.ast_transformers)", "0");
    tu_do(s,
          "class Broken(ast.NodeTransformer):\n"
          "    def visit_Name(self, node):\n"
          "        raise ValueError('transformer broke')\n"
          "autoawait.ast_transformers.append(Broken())",
          AA_OK);
    expect_error("y = 1", "ValueError", "AST transformer <__main__.Broken");
    tu_expect(s, "'y' in globals(), autoawait.ast_transformers", "(False, [])");
}
END_TEST

START_TEST(nested_session_returns_values_and_raises)
{
    tu_do(s, "import autoawait\ninner = autoawait.Session()", AA_OK);
    tu_expect(s, "inner.exec('x = [1, 2]')", NULL);
    tu_expect(s, "inner.exec('x')", "[1, 2]");
    tu_expect(s, "'x' in globals()", "False");
    tu_expect(s,
              "inner.exec('import asyncio\\nawait asyncio.sleep(0, "
              "result={1})')",
              "{1}");
    expect_error("inner.exec('{}[0]')", "KeyError", "0");
    expect_error("inner.exec('x = = 1')", "SyntaxError", "invalid syntax");
    aa_result_free(
        tu_run(s, "inner.exec('raise SystemExit(4)')", AA_SYSTEM_EXIT));
    tu_expect(s, "inner.runner, inner.autoawait", "('asyncio', True)");
    tu_expect(s,
              "with autoawait.Session(autoawait=False) as t:\n"
              "    v = t.exec('1 + 1')\nv",
              "2");
    expect_error("t.exec('1')", "ValueError", "closed");
    /* Under asyncio, a nested async cell inside an async cell cannot run:
     * the message says what to do instead. */
    expect_error("import asyncio\nawait asyncio.sleep(0)\n"
                 "inner.exec('await asyncio.sleep(0)')",
                 "RuntimeError", "trio");
    expect_error("autoawait.Session(runner='nosuchrunner')", "RuntimeError",
                 "aa_runner_nosuchrunner.so");
}
END_TEST

typedef struct {
    aa_session *s;
} poke;

static void *interrupt_soon(void *arg)
{
    poke *p = arg;

    tu_sleep_ms((long)(300 * tu_scale()));
    aa_interrupt(p->s);
    return NULL;
}

START_TEST(interrupt_reaches_the_nested_cell)
{
    poke p = {s};
    pthread_t t;
    aa_result *r;

    tu_do(s, "import autoawait\ninner = autoawait.Session()", AA_OK);
    ck_assert_int_eq(pthread_create(&t, NULL, interrupt_soon, &p), 0);
    r = tu_run(s,
               "inner.exec('import asyncio\\ntry:\\n    await "
               "asyncio.sleep(30)\\nfinally:\\n    print(\"inner cleanup\")')",
               AA_EXCEPTION);
    pthread_join(t, NULL);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    ck_assert_str_eq(tu_stdout(), "inner cleanup\n");
    aa_result_free(r);
    tu_expect(s, "inner.exec('await asyncio.sleep(0, result=1)')", "1");
}
END_TEST

static Suite *module_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("module", 60, &tc);

    tu_session_fixture(tc);
    tcase_add_test(tc, module_reports_and_switches_the_runner);
    tcase_add_test(tc, module_outside_a_cell_says_so);
    tcase_add_test(tc, callable_from_an_import_path);
    tcase_add_test(tc, callable_runner_sees_the_session_context);
    tcase_add_test(tc, register_runner_serves_every_session);
    tcase_add_test(tc, transformers_are_per_session_and_removable);
    tcase_add_test(tc, bad_transformers_fail_the_cell_and_name_themselves);
    tcase_add_test(tc, nested_session_returns_values_and_raises);
    tcase_add_test(tc, interrupt_reaches_the_nested_cell);
    return suite;
}

int main(void)
{
    return tu_main(module_suite());
}
