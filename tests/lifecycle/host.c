/*
 * host.c -- aa_lifecycle_host, the host programs of the lifecycle suite
 * (tests/unit/check_lifecycle.c), each run in a fresh process: an
 * interpreter starts once per process, and these cases are about who
 * starts it and who ends it.
 *
 *   aa_lifecycle_host host     the host initializes Python itself, uses
 *                              sessions (holding the GIL, and from a
 *                              thread with the GIL given up), calls
 *                              aa_shutdown, which must leave the
 *                              interpreter alone, then finalizes it itself
 *   aa_lifecycle_host restart  the host initializes Python, uses a
 *                              session, finalizes Python and initializes
 *                              it again: a session then either works as
 *                              in the first interpreter or is refused with
 *                              AA_EPYTHON, never half works
 *   aa_lifecycle_host library  the host never touches Python: the library
 *                              starts the interpreter (leaving the host's
 *                              C stdio buffers alone) and aa_shutdown
 *                              finalizes it; after that aa_session_new
 *                              answers AA_EPYTHON
 *   aa_lifecycle_host nostdio  a daemon: fds 0, 1 and 2 are closed before
 *                              the first session; the library takes none
 *                              of them, its own are close-on-exec, and
 *                              interrupts still work
 *
 * Prints what it checked on stdout and "done" at the end; exits 0 when
 * everything went as autoawait.h says, else 1 with the first thing that
 * did not on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <Python.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autoawait/autoawait.h"

/* Where fail reports: stderr, or the copy of it nostdio keeps. */
static int report_fd = 2;

static _Noreturn void fail(const char *what, ...)
{
    va_list ap;

    dprintf(report_fd, "aa_lifecycle_host: ");
    va_start(ap, what);
    vdprintf(report_fd, what, ap);
    va_end(ap);
    dprintf(report_fd, "\n");
    exit(1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Runs src; fails unless its status is want and, when repr is not NULL,
 * its displayed value is repr. */
static void expect(aa_session *s, const char *src, int want, const char *repr)
{
    aa_result *r = NULL;
    int rc = aa_exec(s, src, &r);
    const char *got = aa_result_repr(r);

    if (rc != want || (repr != NULL && (got == NULL || strcmp(got, repr))))
        fail("cell %s -> %d (%s), repr %s, %s: %s; want %d, repr %s", src, rc,
             aa_strerror(rc), got ? got : "(none)",
             aa_result_exception(r) ? aa_result_exception(r) : "",
             aa_result_message(r) ? aa_result_message(r) : "", want,
             repr ? repr : "(any)");
    aa_result_free(r);
}

static aa_session *new_session(void)
{
    aa_session *s = NULL;
    int rc = aa_session_new(&s, NULL);

    if (rc != AA_OK)
        fail("aa_session_new: %s: %s", aa_strerror(rc), aa_errmsg());
    return s;
}

/* Cells that need the whole library: sync, async, a task, an exception. */
static void use_session(aa_session *s)
{
    expect(s, "x = 20", AA_OK, NULL);
    expect(s, "import asyncio\nawait asyncio.sleep(0.01, result=x + 1)", AA_OK,
           "21");
    expect(s,
           "t = asyncio.create_task(asyncio.sleep(0, result=x * 2))\n"
           "await t",
           AA_OK, "40");
    expect(s, "1 / 0", AA_EXCEPTION, NULL);
    expect(s, "raise SystemExit(7)", AA_SYSTEM_EXIT, NULL);
}

static void *use_from_thread(void *arg)
{
    aa_session *s = new_session();

    (void)arg;
    use_session(s);
    aa_session_free(s);
    return NULL;
}

static void *interrupt_later(void *arg)
{
    sleep_ms(300);
    aa_interrupt(arg);
    return NULL;
}

/* The host initializes Python as an embedding application does. */
static void host_starts_python(void)
{
    PyConfig config;
    PyStatus st;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
#ifdef AA_PYTHON_EXECUTABLE
    st = PyConfig_SetBytesString(&config, &config.program_name,
                                 AA_PYTHON_EXECUTABLE);
    if (PyStatus_Exception(st))
        fail("PyConfig_SetBytesString failed");
#endif
    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        fail("Py_InitializeFromConfig: %s", st.err_msg ? st.err_msg : "");
}

static int host_owned(void)
{
    aa_session *s;
    pthread_t t;
    PyThreadState *main_state;
    int rc;

    host_starts_python();
    if (PyRun_SimpleString("import sys\nsys.host_mark = 'kept'") != 0)
        fail("the host's own Python failed");

    /* The host holds the GIL, as it does right after initializing. */
    s = new_session();
    use_session(s);
    /* A busy sync cell still gets its interrupt: the library's watcher
     * takes the GIL from the cell's thread like any other thread. */
    if (pthread_create(&t, NULL, interrupt_later, s) != 0)
        fail("pthread_create");
    expect(s, "while True:\n    pass", AA_EXCEPTION, NULL);
    pthread_join(t, NULL);
    aa_session_free(s);
    printf("sessions while the host holds the GIL: ok\n");

    /* The host gives the GIL up; a thread of its own uses a session. */
    main_state = PyEval_SaveThread();
    if (pthread_create(&t, NULL, use_from_thread, NULL) != 0)
        fail("pthread_create");
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    printf("a session on another thread: ok\n");

    /* Not the library's interpreter: aa_shutdown leaves it alone. */
    if ((rc = aa_shutdown()) != AA_OK)
        fail("aa_shutdown -> %d (%s)", rc, aa_strerror(rc));
    if (!Py_IsInitialized())
        fail("aa_shutdown finalized the host's interpreter");
    if (PyRun_SimpleString("import sys\n"
                           "assert sys.host_mark == 'kept'\n") != 0)
        fail("the host's own Python no longer works after aa_shutdown");
    printf("aa_shutdown left the host's interpreter: ok\n");

    /* Nothing was finalized, so sessions still work. */
    s = new_session();
    use_session(s);
    aa_session_free(s);
    printf("a session after aa_shutdown: ok\n");

    if ((rc = Py_FinalizeEx()) != 0)
        fail("Py_FinalizeEx -> %d", rc);
    if (Py_IsInitialized())
        fail("still initialized after Py_FinalizeEx");
    printf("the host finalized its interpreter: ok\n");
    return 0;
}

/* What a session with a callback printed. */
static char printed[256];

static void print_to(void *userdata, int stream, const char *data, size_t len)
{
    size_t have = strlen(printed);

    (void)userdata;
    (void)stream;
    if (len > sizeof printed - 1 - have)
        len = sizeof printed - 1 - have;
    memcpy(printed + have, data, len);
    printed[have + len] = '\0';
}

static int host_restarts(void)
{
    aa_session *s;
    aa_options o;
    int rc;

    host_starts_python();
    s = new_session();
    use_session(s);
    aa_session_free(s);
    if ((rc = aa_shutdown()) != AA_OK)
        fail("aa_shutdown -> %d (%s)", rc, aa_strerror(rc));
    if ((rc = Py_FinalizeEx()) != 0)
        fail("Py_FinalizeEx -> %d", rc);
    host_starts_python();
    printf("the host started Python a second time\n");

    /* Nothing the library kept from the first interpreter may reach the
     * second: the tree path of a cell (the continuation line), the
     * display, the session's streams. */
    aa_options_init(&o);
    o.write = print_to;
    rc = aa_session_new(&s, &o);
    if (rc == AA_EPYTHON) {
        printf("a session in the second interpreter: AA_EPYTHON (%s): ok\n",
               aa_errmsg());
    } else if (rc != AA_OK) {
        fail("aa_session_new in the second interpreter -> %d (%s): %s", rc,
             aa_strerror(rc), aa_errmsg());
    } else {
        use_session(s);
        expect(s, "1 + \\\n    2", AA_OK, "3");
        expect(s, "print('to the callback')", AA_OK, NULL);
        if (strcmp(printed, "to the callback\n") != 0)
            fail("in the second interpreter, the callback got '%s', want "
                 "'to the callback\\n'",
                 printed);
        aa_session_free(s);
        printf("a session in the second interpreter: ok\n");
    }
    if ((rc = aa_shutdown()) != AA_OK)
        fail("aa_shutdown -> %d (%s)", rc, aa_strerror(rc));
    if ((rc = Py_FinalizeEx()) != 0)
        fail("Py_FinalizeEx -> %d", rc);
    return 0;
}

static int library_owned(void)
{
    static char inbuf[3000], outbuf[5000];
    aa_session *s, *again = (aa_session *)&again;
    int rc;

    if (Py_IsInitialized())
        fail("initialized before the first session");
    /* The host's C streams stay as the host set them, whatever Python's
     * environment says about its own. */
    setenv("PYTHONUNBUFFERED", "1", 1);
    setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    s = new_session();
    if (!Py_IsInitialized())
        fail("aa_session_new did not start the interpreter");
    if (__fbufsize(stdin) != sizeof inbuf ||
        __fbufsize(stdout) != sizeof outbuf)
        fail("the interpreter changed the host's stdio buffers: stdin %zu "
             "bytes, stdout %zu (the host set %zu and %zu)",
             __fbufsize(stdin), __fbufsize(stdout), sizeof inbuf,
             sizeof outbuf);
    printf("the host's stdio buffers are untouched: ok\n");
    use_session(s);
    /* A session is left: nothing is finalized. */
    if ((rc = aa_shutdown()) != AA_EBUSY)
        fail("aa_shutdown with a session left -> %d (%s), want AA_EBUSY", rc,
             aa_strerror(rc));
    if (!Py_IsInitialized())
        fail("aa_shutdown finalized with a session left");
    expect(s, "x + 1", AA_OK, "21");
    aa_session_free(s);
    printf("aa_shutdown with a session left: AA_EBUSY: ok\n");

    if ((rc = aa_shutdown()) != AA_OK)
        fail("aa_shutdown -> %d (%s)", rc, aa_strerror(rc));
    if (Py_IsInitialized())
        fail("aa_shutdown did not finalize the library's interpreter");
    printf("aa_shutdown finalized the library's interpreter: ok\n");

    rc = aa_session_new(&again, NULL);
    if (rc != AA_EPYTHON || again != NULL)
        fail("aa_session_new after aa_shutdown -> %d (%s), want AA_EPYTHON "
             "and no session",
             rc, aa_strerror(rc));
    if (aa_errmsg()[0] == '\0')
        fail("aa_session_new after aa_shutdown: aa_errmsg says nothing");
    if (Py_IsInitialized())
        fail("aa_session_new after aa_shutdown started an interpreter");
    if ((rc = aa_set_argv(0, NULL)) != AA_EPYTHON)
        fail("aa_set_argv after aa_shutdown -> %d, want AA_EPYTHON", rc);
    if ((rc = aa_shutdown()) != AA_OK)
        fail("a second aa_shutdown -> %d (%s)", rc, aa_strerror(rc));
    printf("after aa_shutdown, aa_session_new: AA_EPYTHON (%s): ok\n",
           aa_errmsg());
    return 0;
}

/* Marks in open[] the descriptors below FDS_SEEN that are open now. */
#define FDS_SEEN 1024
static void list_fds(unsigned char *open)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    if (d == NULL)
        fail("cannot list /proc/self/fd");
    memset(open, 0, FDS_SEEN);
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d) && fd < FDS_SEEN)
            open[fd] = 1;
    }
    closedir(d);
}

static int no_stdio(void)
{
    static const char *names[] = {"stdin", "stdout", "stderr"};
    unsigned char before[FDS_SEEN], after[FDS_SEEN];
    int out = fcntl(1, F_DUPFD_CLOEXEC, 3), err = fcntl(2, F_DUPFD_CLOEXEC, 3);
    aa_session *s;
    pthread_t t;
    int fd;

    if (out < 0 || err < 0)
        fail("cannot keep stdout and stderr");
    report_fd = err;
    close(0);
    close(1);
    close(2);
    list_fds(before);
    s = new_session();
    list_fds(after);
    for (fd = 0; fd < FDS_SEEN; fd++) {
        if (!after[fd] || before[fd])
            continue;
        if (fd < 3)
            fail("the session took fd %d, the host's %s", fd, names[fd]);
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            fail("fd %d of the session is not close-on-exec", fd);
    }
    /* What the host's code writes to fd 1 reaches no library descriptor. */
    expect(s,
           "import os\ntry:\n    os.write(1, b'qqqq')\n"
           "except OSError as e:\n    err = e.errno\nerr",
           AA_OK, "9");
    if (pthread_create(&t, NULL, interrupt_later, s) != 0)
        fail("pthread_create");
    expect(s, "while True:\n    pass", AA_EXCEPTION, NULL);
    pthread_join(t, NULL);
    aa_session_free(s);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    report_fd = 2;
    printf("interrupts with 0, 1 and 2 closed: ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc != 2)
        fail("usage: aa_lifecycle_host host|restart|library|nostdio");
    if (strcmp(argv[1], "host") == 0)
        rc = host_owned();
    else if (strcmp(argv[1], "restart") == 0)
        rc = host_restarts();
    else if (strcmp(argv[1], "library") == 0)
        rc = library_owned();
    else if (strcmp(argv[1], "nostdio") == 0)
        rc = no_stdio();
    else
        fail("unknown mode %s", argv[1]);
    printf("done\n");
    return rc;
}
