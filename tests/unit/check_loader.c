/*
 * check_loader.c -- runners from plugins and from the host: the search
 * path, names, ABI checks, and plugins that misbehave.  The fixtures live
 * in tests/fixtures (AA_RUNNER_PATH points there during the tests).
 */
#define _POSIX_C_SOURCE 200809L
#include <Python.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoawait/runner.h"
#include "testutil.h"

/* Sets the runner of a fresh session to name; returns the status and
 * leaves the message in msg. */
static int try_runner(const char *name, char *msg, size_t size)
{
    aa_session *s = tu_session(NULL);
    int rc = aa_session_set_runner(s, name);

    snprintf(msg, size, "%s", aa_session_errmsg(s));
    /* Whatever happened, the session still works on its old runner. */
    if (rc != AA_OK) {
        ck_assert_str_eq(aa_session_runner(s), "asyncio");
        tu_expect(s, "import asyncio\nawait asyncio.sleep(0, result=1)", "1");
    }
    aa_session_free(s);
    tu_clear();
    return rc;
}

#define ASSERT_HAS(msg, part)                                                  \
    ck_assert_msg(strstr(msg, part) != NULL, "'%s' not in: %s", part, msg)

START_TEST(wrong_abi_version_is_refused_naming_both)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("badabi", msg, sizeof msg), AA_EABI);
    ASSERT_HAS(msg, "aa_runner_badabi.so");
    ASSERT_HAS(msg, "runner ABI 3, this library speaks 2");
}
END_TEST

/* A plugin built for the first ABI, before the guest entries: refused,
 * saying what to do. */
START_TEST(first_abi_plugin_is_refused_with_the_fix)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("oldabi", msg, sizeof msg), AA_EABI);
    ASSERT_HAS(msg, "runner ABI 1, this library speaks 2");
    ASSERT_HAS(msg, "rebuild it against this library's runner.h");
}
END_TEST

START_TEST(short_vtable_is_refused)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("short", msg, sizeof msg), AA_EABI);
    ASSERT_HAS(msg, "aa_runner_short.so");
    ASSERT_HAS(msg, "bytes");
}
END_TEST

START_TEST(missing_entry_symbol_is_refused)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("noentry", msg, sizeof msg), AA_EABI);
    ASSERT_HAS(msg, "exports no aa_runner_entry");
}
END_TEST

START_TEST(failing_init_is_refused)
{
    char msg[1024];

    /* Without a message from the entry, the status it returned. */
    ck_assert_int_eq(try_runner("initfail", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "its aa_runner_entry refused (-1)");
}
END_TEST

START_TEST(failing_open_keeps_the_old_runner)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("openfail", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "could not open");
}
END_TEST

/* "3.11", the library's CPython, or the next minor version with next. */
static const char *python_mm(char *buf, size_t size, int next)
{
    snprintf(buf, size, "%d.%d", PY_MAJOR_VERSION, PY_MINOR_VERSION + next);
    return buf;
}

/*
 * A plugin built against another CPython (major.minor) would call into
 * this one with the other's structures: refused before any of its entries
 * runs, the message naming both versions and the way out.
 */
START_TEST(a_plugin_of_another_cpython_is_refused_naming_both)
{
    char msg[1024], want[128], mm[16];
    aa_session *s;

    ck_assert_int_eq(try_runner("otherpy", msg, sizeof msg), AA_EABI);
    ASSERT_HAS(msg, "cannot load runner 'otherpy' from ");
    ASSERT_HAS(msg, "aa_runner_otherpy.so");
    snprintf(want, sizeof want, "built against CPython %s,",
             python_mm(mm, sizeof mm, 1));
    ASSERT_HAS(msg, want);
    snprintf(want, sizeof want, "this library embeds CPython %s",
             python_mm(mm, sizeof mm, 0));
    ASSERT_HAS(msg, want);
    ASSERT_HAS(msg, "pkg-config --variable=python_pc autoawait");
    /* Refused again on a second try, and its open never ran. */
    s = tu_session("echo");
    ck_assert_int_eq(aa_session_set_runner(s, "otherpy"), AA_EABI);
    tu_expect(s, "import sys\nhasattr(sys, '_aa_fixture_otherpy_opened')",
              "False");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* The entry's refusal with a message: the host sees it, in aa_errmsg when
 * aa_session_new loaded the plugin, in aa_session_errmsg afterwards. */
START_TEST(a_refusing_entry_says_why)
{
    static const char want[] = "the errentry runner wants a better day";
    char msg[1024];
    aa_session *s = NULL;
    aa_options o;

    ck_assert_int_eq(try_runner("errentry", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "cannot load runner 'errentry' from ");
    ASSERT_HAS(msg, "aa_runner_errentry.so: ");
    ASSERT_HAS(msg, want);
    ck_assert_ptr_null(strstr(msg, "refused (7)"));
    aa_options_init(&o);
    o.runner = "errentry";
    ck_assert_int_eq(aa_session_new(&s, &o), AA_ERUNNER);
    ck_assert_ptr_null(s);
    ASSERT_HAS(aa_errmsg(), want);
}
END_TEST

/* open's failure with a message set through the table the entry kept. */
START_TEST(a_failing_open_says_why)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("erropen", msg, sizeof msg), AA_ERUNNER);
    ck_assert_str_eq(msg, "runner 'erropen' could not open: the erropen "
                          "runner has no loop for 2 sessions");
    /* The message was for that open alone. */
    ck_assert_int_eq(try_runner("openfail", msg, sizeof msg), AA_ERUNNER);
    ck_assert_str_eq(msg, "runner 'openfail' could not open a session (its "
                          "open returned -1)");
}
END_TEST

/* open's failure with an exception and no message: the exception says why. */
START_TEST(a_failing_open_shows_its_exception)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("excopen", msg, sizeof msg), AA_ERUNNER);
    ck_assert_str_eq(msg, "runner 'excopen' could not open: RuntimeError: "
                          "the excopen runner has no loop");
}
END_TEST

/* What the library's table holds, and where host->write goes: the
 * session's callback during its runner's calls, nowhere outside them. */
START_TEST(a_runner_writes_to_the_sessions_streams)
{
    char want[256];
    aa_session *s = tu_session("writes");

    snprintf(want, sizeof want, "(%lu, '%s', %d, %d, %d, %d, %d)",
             (unsigned long)PY_VERSION_HEX, PY_VERSION, AA_EINVAL, AA_EINVAL,
             AA_ENOTFOUND, AA_ENOTFOUND, AA_OK);
    tu_expect(s, "import sys\nsys._aa_fixture_host", want);
    tu_clear();
    tu_expect(s,
              "async def f():\n    print('from the cell')\n"
              "    return 3\nawait f()",
              "3");
    ck_assert_str_eq(tu_stdout(), "from the cell\nout from the writes "
                                  "runner\n");
    ck_assert_str_eq(tu_stderr(), "err from the writes runner\n");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/* A session without a callback: host->write reaches the process's own
 * stdout and stderr, after what the cell printed before it. */
START_TEST(a_runner_writes_to_the_process_without_a_callback)
{
    char path[] = "/tmp/check_loader_out_XXXXXX", got[256];
    int fd = mkstemp(path), saved[3] = {-1, dup(1), dup(2)}, i;
    aa_session *s;
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(saved[1], 0);
    ck_assert_int_ge(saved[2], 0);
    unlink(path);
    fflush(stdout);
    fflush(stderr);
    for (i = 1; i <= 2; i++)
        ck_assert_int_eq(dup2(fd, i), i);
    /* sys.stdout buffers what the cell prints, as it does for a host's
     * file: the runner's write must come after it all the same.  (The
     * interpreter starts with this test's first session.) */
    unsetenv("PYTHONUNBUFFERED");
    s = tu_session_with("writes", NULL);
    ck_assert_int_eq(aa_exec(s,
                             "async def f():\n    print('from the cell')\n"
                             "await f()",
                             NULL),
                     AA_OK);
    aa_session_free(s);
    for (i = 1; i <= 2; i++) {
        ck_assert_int_eq(dup2(saved[i], i), i);
        close(saved[i]);
    }
    n = pread(fd, got, sizeof got - 1, 0);
    close(fd);
    ck_assert_int_ge(n, 0);
    got[n] = '\0';
    ck_assert_str_eq(got, "from the cell\nout from the writes runner\n"
                          "err from the writes runner\n");
}
END_TEST

START_TEST(a_runner_calling_itself_otherwise_is_refused)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("wrongname", msg, sizeof msg), AA_EINVAL);
    ASSERT_HAS(msg, "calls itself");
}
END_TEST

START_TEST(missing_runner_names_the_paths_tried)
{
    char msg[1024];

    ck_assert_int_eq(try_runner("nosuchrunner", msg, sizeof msg), AA_ENOTFOUND);
    ASSERT_HAS(msg, "tests/fixtures/runners/aa_runner_nosuchrunner.so");
    ASSERT_HAS(msg, "lib/autoawait/runners/aa_runner_nosuchrunner.so");
}
END_TEST

START_TEST(names_outside_the_alphabet_are_refused)
{
    static const char *bad[] = {"",    "../asyncio", "Asyncio", "a-b",
                                "a.b", "/tmp/x",     "echo ",   "x/y"};
    char msg[1024];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(try_runner(bad[i], msg, sizeof msg), AA_EINVAL);
}
END_TEST

START_TEST(relative_search_folders_are_ignored)
{
    char msg[1024];
    const char *fixtures = getenv("AA_RUNNER_PATH");

    ck_assert_ptr_nonnull(fixtures);
    ck_assert_int_eq(chdir(fixtures), 0);
    /* The plugin is right here, but "." and "" are never searched. */
    setenv("AA_RUNNER_PATH", ".::runners", 1);
    ck_assert_int_eq(access("aa_runner_echo.so", F_OK), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ENOTFOUND);
}
END_TEST

START_TEST(a_broken_run_fails_the_cell_not_the_session)
{
    aa_session *s = tu_session("noexc");
    aa_result *r;

    r = tu_run(s, "import asyncio\nawait asyncio.sleep(0)", AA_ERUNNER);
    ck_assert_ptr_nonnull(strstr(aa_result_message(r), "neither"));
    aa_result_free(r);
    tu_expect(s, "'sync cells still run'", "'sync cells still run'");
    tu_do(s, "%autoawait asyncio", AA_OK);
    tu_expect(s, "import asyncio\nawait asyncio.sleep(0, result=5)", "5");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/*
 * A runner whose enter fails: no cell runs, sync or async, and each fails
 * with AA_ERUNNER and the runner's exception in its message (issue 9, W8);
 * the session goes on, and another runner works.
 */
START_TEST(a_failing_enter_fails_the_cell)
{
    static const char *cells[] = {"ran = 1", "async def f():\n    pass\n"
                                             "await f()\nran = 1"};
    aa_session *s = tu_session("enterfail");
    aa_result *r;
    size_t i;

    for (i = 0; i < 2; i++) {
        r = tu_run(s, cells[i], AA_ERUNNER);
        ASSERT_HAS(aa_result_message(r), "runner 'enterfail'");
        ASSERT_HAS(aa_result_message(r),
                   "RuntimeError: the enterfail runner cannot enter");
        ck_assert_str_eq(aa_result_exception(r), "RuntimeError");
        ck_assert_int_eq(aa_result_is_async(r), (int)i);
        ASSERT_HAS(aa_session_errmsg(s), "cannot enter");
        aa_result_free(r);
    }
    ck_assert_int_eq(aa_session_set_runner(s, "echo"), AA_OK);
    tu_expect(s, "'ran' in globals()", "False");
    aa_session_free(s);
    tu_clear();
}
END_TEST

/*
 * Plugins in folders of every shape.  The scratch folders are made beside
 * the fixtures, in the build tree, whose folders are trusted; /tmp itself,
 * where everyone may make names, can never be a plugin's folder.
 */

/* The fixtures' folder, as AA_RUNNER_PATH gave it when the suite started. */
static char fixtures[1024];

#define PATH_LEN 1024

/* snprintf into out (PATH_LEN bytes), failing the test on truncation. */
static char *fmt(char *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static char *fmt(char *out, const char *format, ...)
{
    va_list ap;
    int n;

    va_start(ap, format);
    n = vsnprintf(out, PATH_LEN, format, ap);
    va_end(ap);
    ck_assert_int_lt(n, PATH_LEN);
    return out;
}

/* Makes a fresh folder (mode 0755) in the build tree; returns its real
 * path, the one the loader's messages name. */
static char *scratch(char *dir)
{
    char made[PATH_LEN], *real;

    ck_assert_ptr_nonnull(mkdtemp(fmt(made, "%s/../loader_XXXXXX", fixtures)));
    ck_assert_ptr_nonnull(real = realpath(made, NULL));
    fmt(dir, "%s", real);
    free(real);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    return dir;
}

/* Makes the folder dir (mode 0755) and copies the echo fixture into it,
 * mode 0755; the plugin's path goes to file. */
static void put_echo(const char *dir, char *file)
{
    char cmd[4 * PATH_LEN];

    ck_assert_int_lt(snprintf(cmd, sizeof cmd,
                              "mkdir -p '%s' && chmod 0755 '%s' && "
                              "cp '%s/aa_runner_echo.so' '%s/' && "
                              "chmod 0755 '%s/aa_runner_echo.so'",
                              dir, dir, fixtures, dir, dir),
                     (int)sizeof cmd);
    ck_assert_int_eq(system(cmd), 0);
    fmt(file, "%s/aa_runner_echo.so", dir);
}

static void remove_tree(const char *dir)
{
    char cmd[PATH_LEN + 16];

    ck_assert_int_lt(snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir),
                     (int)sizeof cmd);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(plugins_writable_by_others_are_refused)
{
    char dir[PATH_LEN], file[PATH_LEN], msg[PATH_LEN];

    put_echo(scratch(dir), file);
    setenv("AA_RUNNER_PATH", dir, 1);
    ck_assert_int_eq(chmod(file, 0666), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "writable by others (mode 0666)");
    ASSERT_HAS(msg, "chmod o-w");
    ck_assert_int_eq(chmod(file, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "(mode 0777)");
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    remove_tree(dir);
}
END_TEST

START_TEST(a_symlink_into_a_world_writable_folder_is_refused)
{
    char dir[PATH_LEN], open_dir[PATH_LEN], look[PATH_LEN], file[PATH_LEN],
        link[PATH_LEN];
    char msg[PATH_LEN];

    scratch(dir);
    fmt(open_dir, "%s/open", dir);
    fmt(look, "%s/look", dir);
    put_echo(open_dir, file);
    ck_assert_int_eq(chmod(open_dir, 0777), 0);
    ck_assert_int_eq(mkdir(look, 0755), 0);
    fmt(link, "%s/aa_runner_echo.so", look);
    ck_assert_int_eq(symlink("../open/aa_runner_echo.so", link), 0);
    setenv("AA_RUNNER_PATH", look, 1);
    /* The link and its folder are fine; the file it leads to is not. */
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, link);
    ASSERT_HAS(msg, "real path");
    ASSERT_HAS(msg, "/open is writable by others (mode 0777)");
    /* A link is no fault in itself: once its target is safe, it loads. */
    ck_assert_int_eq(chmod(open_dir, 0755), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    remove_tree(dir);
}
END_TEST

START_TEST(group_writable_files_and_folders_are_refused)
{
    char dir[PATH_LEN], file[PATH_LEN], msg[PATH_LEN];

    put_echo(scratch(dir), file);
    setenv("AA_RUNNER_PATH", dir, 1);
    ck_assert_int_eq(chmod(dir, 0775), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "is group-writable (mode 0775)");
    ASSERT_HAS(msg, "chmod g-w");
    ASSERT_HAS(msg, dir);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(file, 0775), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "aa_runner_echo.so is group-writable (mode 0775)");
    ck_assert_int_eq(chmod(file, 0755), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    remove_tree(dir);
}
END_TEST

START_TEST(a_writable_folder_above_the_plugin_is_refused)
{
    char dir[PATH_LEN], deep[PATH_LEN], file[PATH_LEN], msg[PATH_LEN],
        want[PATH_LEN];

    scratch(dir);
    fmt(deep, "%s/a/b", dir);
    put_echo(deep, file);
    ck_assert_int_eq(chmod(deep, 0755), 0);
    setenv("AA_RUNNER_PATH", deep, 1);
    ck_assert_int_eq(chmod(dir, 0775), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    fmt(want, "folder %s is group-writable (mode 0775)", dir);
    ASSERT_HAS(msg, want);
    /* A sticky folder of root's above the plugin's own, like /tmp above
     * a checkout, cannot have our folder renamed away: it passes.  As the
     * plugin's own folder it is refused, since anyone may add names. */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(chmod(deep, 01777), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    fmt(want, "folder %s is writable by others (mode 1777", deep);
    ASSERT_HAS(msg, want);
    ck_assert_int_eq(chmod(deep, 0755), 0);
    if (geteuid() == 0) /* a loaded runner stays: this is the last try */
        ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    remove_tree(dir);
}
END_TEST

START_TEST(the_current_directory_is_not_searched_through_proc)
{
    static const char *disguises[] = {"/proc/self/cwd", "//proc/./self/cwd/",
                                      "/proc/thread-self/cwd"};
    char dir[PATH_LEN], file[PATH_LEN], msg[PATH_LEN];
    size_t i;

    put_echo(scratch(dir), file);
    ck_assert_int_eq(chdir(dir), 0);
    for (i = 0; i < sizeof disguises / sizeof disguises[0]; i++) {
        setenv("AA_RUNNER_PATH", disguises[i], 1);
        ck_assert_msg(try_runner("echo", msg, sizeof msg) == AA_ENOTFOUND,
                      "AA_RUNNER_PATH=%s: %s", disguises[i], msg);
    }
    remove_tree(dir);
}
END_TEST

START_TEST(files_and_folders_of_other_users_are_refused)
{
    char dir[PATH_LEN], sub[PATH_LEN], file[PATH_LEN], msg[PATH_LEN],
        want[PATH_LEN];

    /* Root owns what it makes, and only root can give a file away: as
     * anyone else the case cannot be made. */
    if (geteuid() != 0) {
        printf("SKIP: files of other users: needs root to chown to 65534\n");
        return;
    }
    scratch(dir);
    fmt(sub, "%s/sub", dir);
    put_echo(sub, file);
    setenv("AA_RUNNER_PATH", sub, 1);
    ck_assert_int_eq(chown(file, 65534, 65534), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    fmt(want, "file %s is owned by uid 65534", file);
    ASSERT_HAS(msg, want);
    ck_assert_int_eq(chown(file, 0, 0), 0);
    ck_assert_int_eq(chown(sub, 65534, 65534), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    fmt(want, "folder %s is owned by uid 65534", sub);
    ASSERT_HAS(msg, want);
    ck_assert_int_eq(chown(sub, 0, 0), 0);
    ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    fmt(want, "folder %s is owned by uid 65534", dir);
    ASSERT_HAS(msg, want);
    /* Sticky is an excuse only in root's folders: their owner may rename
     * anything in them. */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, want);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chown(dir, 0, 0), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_OK);
    remove_tree(dir);
}
END_TEST

START_TEST(a_plugin_that_is_no_regular_file_is_refused)
{
    char dir[PATH_LEN], file[PATH_LEN], msg[PATH_LEN];

    scratch(dir);
    fmt(file, "%s/aa_runner_echo.so", dir);
    setenv("AA_RUNNER_PATH", dir, 1);
    /* A FIFO would block an open for reading (and dlopen) forever. */
    ck_assert_int_eq(mkfifo(file, 0644), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "is not a regular file");
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(mkdir(file, 0755), 0);
    ck_assert_int_eq(try_runner("echo", msg, sizeof msg), AA_ERUNNER);
    ASSERT_HAS(msg, "is not a regular file");
    remove_tree(dir);
}
END_TEST

/* ------------------------------------------------ runners from the host */

static int host_opens, host_closes, host_runs;

static int host_open(void *userdata, void **state)
{
    *state = userdata;
    host_opens++;
    return 0;
}

static void host_close(void *state)
{
    ck_assert_ptr_eq(state, &host_opens);
    host_closes++;
}

/* Drives a coroutine that never really suspends: enough for sleep(0)-free
 * cells, and no event loop involved. */
static PyObject *host_run(void *state, PyObject *coro, PyObject *context)
{
    (void)context;
    ck_assert_ptr_eq(state, &host_opens);
    host_runs++;
    return tu_send_once(coro);
}

START_TEST(host_registered_runner_gets_its_userdata)
{
    aa_runner vt = AA_RUNNER_INIT;
    aa_session *s;

    vt.name = "host";
    vt.open = host_open;
    vt.close = host_close;
    vt.run = host_run;
    ck_assert_int_eq(aa_runner_register(&vt, &host_opens), AA_OK);
    ck_assert_int_eq(aa_runner_register(&vt, &host_opens), AA_EINVAL);
    ck_assert_ptr_nonnull(strstr(aa_errmsg(), "already"));
    s = tu_session("host");
    ck_assert_int_eq(host_opens, 1);
    tu_expect(s, "async def f():\n    return 6\nawait f() * 7", "42");
    tu_expect(s, "'sync'", "'sync'");
    ck_assert_int_eq(host_runs, 1);
    aa_session_free(s);
    ck_assert_int_eq(host_closes, 1);
    tu_clear();
}
END_TEST

/* Guest entries for the checks below; never called. */
static int host_start(void *state, PyObject *coro, PyObject *context)
{
    (void)state;
    (void)coro;
    (void)context;
    return -1;
}

static int host_step(void *state)
{
    (void)state;
    return 0;
}

START_TEST(host_runner_checks_match_the_loaders)
{
    aa_runner vt = AA_RUNNER_INIT;
    char want[256];

    vt.name = "hostbad";
    vt.run = host_run;
    vt.abi_version = AA_RUNNER_ABI_VERSION + 1;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EABI);
    ck_assert_ptr_nonnull(strstr(aa_errmsg(), "runner ABI 3"));
    vt.abi_version = AA_RUNNER_ABI_VERSION;
    vt.struct_size = offsetof(aa_runner, open);
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EABI);
    vt.struct_size = sizeof vt;
    vt.run = NULL;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EINVAL);
    ck_assert_ptr_nonnull(strstr(aa_errmsg(), "neither run nor the guest"));
    /* The guest entries come together or not at all. */
    vt.start = host_start;
    vt.step = host_step;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EINVAL);
    ck_assert_ptr_nonnull(strstr(aa_errmsg(), "but not all three"));
    vt.start = NULL;
    vt.run = host_run;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EINVAL);
    vt.run = host_run;
    /* Another CPython's runner is refused, as a plugin is; one of this
     * CPython's, another micro version, or one that does not say passes. */
    vt.step = NULL;
    vt.name = "hostpy";
    vt.python_version = PY_VERSION_HEX + 0x00010000UL;
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EABI);
    snprintf(want, sizeof want,
             "cannot register runner 'hostpy': built against CPython %d.%d, "
             "this library embeds CPython %d.%d",
             PY_MAJOR_VERSION, PY_MINOR_VERSION + 1, PY_MAJOR_VERSION,
             PY_MINOR_VERSION);
    ASSERT_HAS(aa_errmsg(), want);
    vt.python_version = (PY_VERSION_HEX & ~0xFFFFUL) | 0xFF00UL;
    vt.name = "hostpy_micro";
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_OK);
    vt.python_version = 0;
    vt.name = "hostpy_none";
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_OK);
    /* A vtable from before python_version is not checked either. */
    vt.python_version = PY_VERSION_HEX + 0x00010000UL;
    vt.struct_size = offsetof(aa_runner, python_version);
    vt.name = "hostpy_old";
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_OK);
    vt.struct_size = sizeof vt;
    vt.name = "Bad-Name";
    ck_assert_int_eq(aa_runner_register(&vt, NULL), AA_EINVAL);
    ck_assert_int_eq(aa_runner_register(NULL, NULL), AA_EINVAL);
}
END_TEST

static Suite *loader_suite(void)
{
    TCase *tc;
    Suite *suite = tu_suite("loader", 60, &tc);

    tcase_add_test(tc, wrong_abi_version_is_refused_naming_both);
    tcase_add_test(tc, first_abi_plugin_is_refused_with_the_fix);
    tcase_add_test(tc, short_vtable_is_refused);
    tcase_add_test(tc, missing_entry_symbol_is_refused);
    tcase_add_test(tc, failing_init_is_refused);
    tcase_add_test(tc, failing_open_keeps_the_old_runner);
    tcase_add_test(tc, a_plugin_of_another_cpython_is_refused_naming_both);
    tcase_add_test(tc, a_refusing_entry_says_why);
    tcase_add_test(tc, a_failing_open_says_why);
    tcase_add_test(tc, a_failing_open_shows_its_exception);
    tcase_add_test(tc, a_runner_writes_to_the_sessions_streams);
    tcase_add_test(tc, a_runner_writes_to_the_process_without_a_callback);
    tcase_add_test(tc, a_runner_calling_itself_otherwise_is_refused);
    tcase_add_test(tc, missing_runner_names_the_paths_tried);
    tcase_add_test(tc, names_outside_the_alphabet_are_refused);
    tcase_add_test(tc, relative_search_folders_are_ignored);
    tcase_add_test(tc, a_broken_run_fails_the_cell_not_the_session);
    tcase_add_test(tc, a_failing_enter_fails_the_cell);
    tcase_add_test(tc, plugins_writable_by_others_are_refused);
    tcase_add_test(tc, a_symlink_into_a_world_writable_folder_is_refused);
    tcase_add_test(tc, group_writable_files_and_folders_are_refused);
    tcase_add_test(tc, a_writable_folder_above_the_plugin_is_refused);
    tcase_add_test(tc, the_current_directory_is_not_searched_through_proc);
    tcase_add_test(tc, files_and_folders_of_other_users_are_refused);
    tcase_add_test(tc, a_plugin_that_is_no_regular_file_is_refused);
    tcase_add_test(tc, host_registered_runner_gets_its_userdata);
    tcase_add_test(tc, host_runner_checks_match_the_loaders);
    return suite;
}

int main(void)
{
    const char *env = getenv("AA_RUNNER_PATH");

    if (env == NULL || env[0] != '/') {
        fprintf(stderr, "AA_RUNNER_PATH must name the fixtures' folder\n");
        return EXIT_FAILURE;
    }
    snprintf(fixtures, sizeof fixtures, "%s", env);
    return tu_main(loader_suite());
}
