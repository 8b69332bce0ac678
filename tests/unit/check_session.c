/*
 * check_session.c -- sessions: options, namespaces, Contexts, the asyncio
 * loop's life, runners switching, busy sessions, ownership of results.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "testutil.h"

START_TEST(defaults_without_options)
{
    aa_session *s = NULL;

    ck_assert_int_eq(aa_session_new(&s, NULL), AA_OK);
    ck_assert_int_eq(aa_session_autoawait(s), 1);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    ck_assert_str_eq(aa_session_errmsg(s), "");
    ck_assert_int_eq(aa_exec(s, "x = 1", NULL), AA_OK);
    aa_session_free(s);
    aa_session_free(NULL);
}
END_TEST

START_TEST(bad_arguments)
{
    aa_session *s = NULL;
    aa_options o;

    ck_assert_int_eq(aa_session_new(NULL, NULL), AA_EINVAL);
    aa_options_init(&o);
    o.size = 0;
    ck_assert_int_eq(aa_session_new(&s, &o), AA_EINVAL);
    ck_assert_ptr_null(s);
    aa_options_init(&o);
    o.runner = "No/Such";
    ck_assert_int_eq(aa_session_new(&s, &o), AA_EINVAL);
    o.runner = "nosuchrunner";
    ck_assert_int_eq(aa_session_new(&s, &o), AA_ENOTFOUND);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(aa_errmsg(), "aa_runner_nosuchrunner.so"));
    ck_assert_int_eq(aa_exec(NULL, "1", NULL), AA_EINVAL);
    ck_assert_int_eq(aa_session_set_runner(NULL, "asyncio"), AA_EINVAL);
    ck_assert_int_eq(aa_session_set_autoawait(NULL, 1), AA_EINVAL);
    ck_assert_int_eq(aa_session_autoawait(NULL), AA_EINVAL);
    ck_assert_ptr_null(aa_session_runner(NULL));
}
END_TEST

START_TEST(an_older_shorter_options_struct)
{
    /* A host compiled when aa_options ended at autoawait. */
    struct {
        size_t size;
        int autoawait;
    } old = {sizeof old, 0};
    aa_session *s = NULL;

    ck_assert_int_eq(aa_session_new(&s, (const aa_options *)&old), AA_OK);
    ck_assert_int_eq(aa_session_autoawait(s), 0);
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    aa_session_free(s);
}
END_TEST

START_TEST(sessions_have_their_own_namespace_and_loop)
{
    aa_session *a = tu_session(NULL), *b = tu_session(NULL);

    tu_expect(a,
              "import asyncio\nv = 'a'\nawait asyncio.sleep(0)\n"
              "L = asyncio.get_running_loop()",
              NULL);
    tu_expect(b,
              "import asyncio\nv = 'b'\nawait asyncio.sleep(0)\n"
              "L = asyncio.get_running_loop()",
              NULL);
    tu_expect(a, "v", "'a'");
    tu_expect(b, "v", "'b'");
    tu_expect(a, "await asyncio.sleep(0)\nasyncio.get_running_loop() is L",
              "True");
    tu_expect(a, "asyncio.get_event_loop() is L", "True");
    tu_expect(b, "asyncio.get_event_loop() is L", "True");
    aa_session_free(a);
    aa_session_free(b);
    tu_clear();
}
END_TEST

START_TEST(context_variables_persist_and_stay_apart)
{
    aa_session *a = tu_session(NULL), *b = tu_session(NULL);

    tu_do(a,
          "import contextvars\ncv = contextvars.ContextVar('cv', "
          "default='unset')\ncv.set('sync')",
          AA_OK);
    tu_expect(a, "import asyncio\nawait asyncio.sleep(0)\ncv.get()", "'sync'");
    tu_do(a, "await asyncio.sleep(0)\ncv.set('async')", AA_OK);
    tu_expect(a, "cv.get()", "'async'");
    /* One variable object seen from another session: its own Context. */
    tu_do(a, "import builtins\nbuiltins.shared_cv = cv", AA_OK);
    tu_expect(b, "shared_cv.get()", "'unset'");
    tu_expect(a, "shared_cv.get()", "'async'");
    aa_session_free(a);
    aa_session_free(b);
    tu_clear();
}
END_TEST

START_TEST(free_with_pending_tasks_is_quiet)
{
    aa_session *s = tu_session(NULL);

    tu_do(s,
          "import asyncio\nstate = []\nasync def forever():\n    try:\n"
          "        await asyncio.sleep(3600)\n    finally:\n"
          "        state.append('cleaned')\n"
          "async def agen():\n    try:\n        yield 1\n    finally:\n"
          "        state.append('agen closed')\n"
          "t1 = asyncio.create_task(forever())\n"
          "g = agen()\nawait g.__anext__()\nawait asyncio.sleep(0)\n"
          "import builtins\nbuiltins.aa_test_state = state",
          AA_OK);
    aa_session_free(s);
    /* Nothing was logged: no "Task exception was never retrieved". */
    ck_assert_str_eq(tu_stderr(), "");
    s = tu_session(NULL);
    tu_expect(s, "aa_test_state", "['cleaned', 'agen closed']");
    aa_session_free(s);
    tu_clear();
}
END_TEST

static aa_session *nested_target;
static int nested_status;

static void nested_write(void *userdata, int stream, const char *data,
                         size_t len)
{
    (void)userdata;
    (void)stream;
    (void)data;
    (void)len;
    nested_status = aa_exec(nested_target, "1", NULL);
}

START_TEST(a_running_session_is_busy)
{
    aa_session *s = NULL;
    aa_options o;

    aa_options_init(&o);
    o.write = nested_write;
    ck_assert_int_eq(aa_session_new(&s, &o), AA_OK);
    nested_target = s;
    nested_status = 99;
    ck_assert_int_eq(aa_exec(s, "print('x')", NULL), AA_OK);
    ck_assert_int_eq(nested_status, AA_EBUSY);
    /* After the cell it is free again. */
    ck_assert_int_eq(aa_exec(s, "1", NULL), AA_OK);
    aa_session_free(s);
}
END_TEST

START_TEST(switching_runners_keeps_the_loop)
{
    aa_session *s = tu_session(NULL);
    aa_result *r;

    tu_do(s,
          "import asyncio\nawait asyncio.sleep(0)\n"
          "L = asyncio.get_running_loop()",
          AA_OK);
    ck_assert_int_eq(aa_session_set_runner(s, "nosuchrunner"), AA_ENOTFOUND);
    ck_assert_ptr_nonnull(
        strstr(aa_session_errmsg(s), "aa_runner_nosuchrunner.so"));
    ck_assert_str_eq(aa_session_runner(s), "asyncio");
    ck_assert_int_eq(aa_session_set_runner(s, "Bad Name"), AA_EINVAL);
    ck_assert_int_eq(aa_session_set_runner(s, "echo"), AA_OK);
    ck_assert_str_eq(aa_session_runner(s), "echo");
    r = tu_run(s, "%autoawait", AA_OK);
    ck_assert_str_eq(tu_stdout(), "autoawait is `on`, and set to use `echo`\n");
    aa_result_free(r);
    tu_do(s, "%autoawait asyncio", AA_OK);
    tu_expect(s, "await asyncio.sleep(0)\nasyncio.get_running_loop() is L",
              "True");
    aa_session_free(s);
    tu_clear();
}
END_TEST

START_TEST(results_outlive_their_session)
{
    aa_session *s = tu_session(NULL);
    aa_result *r = tu_run(s, "'kept'", AA_OK);

    aa_session_free(s);
    ck_assert_str_eq(aa_result_repr(r), "'kept'");
    aa_result_free(r);
    tu_clear();
}
END_TEST

START_TEST(shutdown_waits_for_sessions)
{
    aa_session *s = tu_session(NULL);

    ck_assert_int_eq(aa_shutdown(), AA_EBUSY);
    aa_session_free(s);
    ck_assert_int_eq(aa_shutdown(), AA_OK);
    /* The library started the interpreter, so it is gone now. */
    ck_assert_int_eq(aa_session_new(&s, NULL), AA_EPYTHON);
    tu_clear();
}
END_TEST

static Suite *session_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("session", 60, &tc);

    tcase_add_test(tc, defaults_without_options);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, an_older_shorter_options_struct);
    tcase_add_test(tc, sessions_have_their_own_namespace_and_loop);
    tcase_add_test(tc, context_variables_persist_and_stay_apart);
    tcase_add_test(tc, free_with_pending_tasks_is_quiet);
    tcase_add_test(tc, a_running_session_is_busy);
    tcase_add_test(tc, switching_runners_keeps_the_loop);
    tcase_add_test(tc, results_outlive_their_session);
    tcase_add_test(tc, shutdown_waits_for_sessions);
    return suite;
}

int main(void)
{
    return tu_main(session_suite());
}
