/*
 * fuzz_session.c -- the session every fuzz target feeds, and what keeps it
 * fit for the next input.
 *
 * Starting the interpreter costs far more than a cell, so a target makes
 * one session per process and gives it every input.  This file makes it
 * (through the public API only, as any host would), runs jail.py as its
 * first cell, interrupts cells that run too long from a watchdog thread,
 * puts the session back after each input, and checks what the library
 * hands back against autoawait.h.  What to feed the session is each
 * target's business; what the jail refuses is jail.py's.
 */
#define _GNU_SOURCE /* memmem; clock_gettime, pthread_condattr_setclock */

#include "fuzz_session.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef AA_FUZZ_JAIL
#define AA_FUZZ_JAIL "jail.py"
#endif

/* A cell running longer than this is interrupted, and again after each
 * further FZ_CELL_MS: a first interrupt of an async cell only cancels. */
#define FZ_CELL_MS 1000
#define FZ_CHECK_EVERY 64
/* How many times a settling cell is tried: an interrupt the watchdog sent
 * as the input's cell ended may reach the next cell instead. */
#define FZ_TRIES 3

/* Runs the jail's reset, which answers 'reset'.  It reaches it through
 * attributes of built-in types only, so that no input can shadow or delete
 * what it calls: a name in the namespace or in builtins could be (see
 * jail.py). */
static const char reset_cell[] =
    "[c for c in ().__class__.__base__.__subclasses__()\n"
    " if c.__dict__.get('__fuzz_reset__')][0].__fuzz_reset__()\n";
/* The same reset for when an AST transformer an input left rewrites every
 * cell: the magic looks the attribute up before any transformer runs. */
static const char reset_magic[] = "%autoawait __fuzz__.reset\n";

static aa_session *session;
static int verbose;
static unsigned long inputs;
static unsigned long reset_failures;

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

int fz_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k, need;
    unsigned long cp;

    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if (p[i] >= 0xC2 && p[i] <= 0xDF)
            need = 1, cp = p[i] & 0x1F;
        else if (p[i] >= 0xE0 && p[i] <= 0xEF)
            need = 2, cp = p[i] & 0x0F;
        else if (p[i] >= 0xF0 && p[i] <= 0xF4)
            need = 3, cp = p[i] & 0x07;
        else
            return 0;
        if (n - i <= need)
            return 0;
        for (k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* ---------------------------------------------------------------- output */

/* The input names the streams' binary layer (sys.stdout.buffer), whose
 * bytes reach the callback as they are: no UTF-8 is promised for them. */
static int raw_output;

/* The session's write callback: the header promises UTF-8 on stream 1 or
 * 2 for text.  Reading both ends lets ASan catch a len longer than the
 * buffer. */
static void take_output(void *userdata, int stream, const char *data,
                        size_t len)
{
    (void)userdata;
    if (stream != 1 && stream != 2)
        fz_fail("the write callback got stream %d", stream);
    if (len > 0 && data == NULL)
        fz_fail("the write callback got NULL with %zu bytes", len);
    if (!raw_output && !fz_utf8_valid(data, len))
        fz_fail("the write callback got %zu bytes that are not UTF-8: "
                "%.*s",
                len, (int)(len < 200 ? len : 200), data);
    if (verbose)
        fprintf(stderr, "[%s] %.*s", stream == 1 ? "out" : "err",
                (int)(len < 2000 ? len : 2000), data);
}

/* -------------------------------------------------------------- watchdog */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static int wd_armed;
static struct timespec wd_deadline;

static struct timespec after_ms(long ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int reached(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Sleeps while no cell is armed; interrupts one that overstays. */
static void *watchdog(void *arg)
{
    aa_session *s = arg;

    pthread_mutex_lock(&wd_lock);
    for (;;) {
        if (!wd_armed) {
            pthread_cond_wait(&wd_cond, &wd_lock);
            continue;
        }
        if (pthread_cond_timedwait(&wd_cond, &wd_lock, &wd_deadline) ==
                ETIMEDOUT &&
            wd_armed && reached(&wd_deadline)) {
            aa_interrupt(s);
            wd_deadline = after_ms(FZ_CELL_MS);
        }
    }
    return NULL;
}

static void watchdog_start(aa_session *s)
{
    pthread_condattr_t attr;
    pthread_t t;

    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&wd_cond, &attr) != 0 ||
        pthread_create(&t, NULL, watchdog, s) != 0)
        fz_fail("cannot start the watchdog thread");
    pthread_condattr_destroy(&attr);
    pthread_detach(t);
}

static void watchdog_arm(int on)
{
    pthread_mutex_lock(&wd_lock);
    wd_armed = on;
    if (on) {
        wd_deadline = after_ms(FZ_CELL_MS);
        pthread_cond_signal(&wd_cond);
    }
    pthread_mutex_unlock(&wd_lock);
}

/* --------------------------------------------------------------- results */

static int known_status(int rc)
{
    switch (rc) {
    case AA_OK:
    case AA_EXCEPTION:
    case AA_SYNTAX_ERROR:
    case AA_SYSTEM_EXIT:
    case AA_ENOMEM:
    case AA_EPYTHON:
    case AA_ERUNNER:
        return 1;
    default:
        return 0;
    }
}

static void check_text(const char *what, const char *field, const char *s)
{
    if (s != NULL && !fz_utf8_valid(s, strlen(s)))
        fz_fail("%s: the result's %s is not UTF-8", what, field);
}

/* What autoawait.h promises of a status and its result. */
static void check_result(const char *what, int rc, const aa_result *r)
{
    const char *exc;

    if (!known_status(rc))
        fz_fail("%s: status %d (%s) is none aa_execn may answer here", what, rc,
                aa_strerror(rc));
    if (r == NULL) {
        if (rc != AA_ENOMEM)
            fz_fail("%s: status %d (%s) came without a result", what, rc,
                    aa_strerror(rc));
        return;
    }
    exc = aa_result_exception(r);
    if (aa_result_status(r) != rc)
        fz_fail("%s: aa_result_status %d, but the call answered %d", what,
                aa_result_status(r), rc);
    if (aa_result_is_async(r) != 0 && aa_result_is_async(r) != 1)
        fz_fail("%s: is_async is %d", what, aa_result_is_async(r));
    check_text(what, "repr", aa_result_repr(r));
    check_text(what, "exception", exc);
    check_text(what, "message", aa_result_message(r));
    check_text(what, "traceback", aa_result_traceback(r));
    if (rc > 0 && exc == NULL)
        fz_fail("%s: status %s without an exception name", what,
                aa_strerror(rc));
    if (rc <= 0 && exc != NULL)
        fz_fail("%s: status %s with the exception %s", what, aa_strerror(rc),
                exc);
    if (rc < 0 && aa_result_message(r) == NULL)
        fz_fail("%s: the failure %s without a message", what, aa_strerror(rc));
    if (rc != AA_OK && aa_result_repr(r) != NULL)
        fz_fail("%s: status %s, yet a displayed value %s", what,
                aa_strerror(rc), aa_result_repr(r));
    if (rc == AA_SYNTAX_ERROR && aa_result_is_async(r))
        fz_fail("%s: a cell that did not compile ran as a coroutine", what);
}

static void show_result(const char *what, int rc, const aa_result *r)
{
    const char *repr = aa_result_repr(r), *exc = aa_result_exception(r);
    const char *msg = aa_result_message(r);

    fprintf(stderr, "fuzz: %s -> %s%s%s%s%s%s%s\n", what, aa_strerror(rc),
            repr ? ", repr " : "", repr ? repr : "", exc ? ", " : "",
            exc ? exc : "", msg ? ": " : "", msg ? msg : "");
}

int fz_exec(aa_session *s, const char *src, size_t len, aa_result **out)
{
    aa_result *r = NULL;
    int rc;

    raw_output = len >= 6 && memmem(src, len, "buffer", 6) != NULL;
    watchdog_arm(1);
    rc = aa_execn(s, src, len, &r);
    watchdog_arm(0);
    check_result("the input's cell", rc, r);
    if (verbose)
        show_result("the input's cell", rc, r);
    if (out != NULL)
        *out = r;
    else
        aa_result_free(r);
    return rc;
}

/* --------------------------------------------------------------- session */

/* Runs a cell of the harness's own; 1 when it gave want (NULL: no value)
 * with AA_OK.  The last failure is shown when verbose or asked. */
static int harness_cell(aa_session *s, const char *src, const char *want,
                        int show)
{
    aa_result *r = NULL;
    int rc = AA_EPYTHON, tries, ok = 0;

    for (tries = 0; tries < FZ_TRIES && !ok; tries++) {
        aa_result_free(r);
        r = NULL;
        rc = aa_exec(s, src, &r);
        check_result(src, rc, r);
        ok = rc == AA_OK &&
             (want == NULL ? aa_result_repr(r) == NULL
                           : aa_result_repr(r) != NULL &&
                                 strcmp(aa_result_repr(r), want) == 0);
    }
    if (!ok && (show || verbose)) {
        show_result(src, rc, r);
        if (aa_result_traceback(r) != NULL)
            fputs(aa_result_traceback(r), stderr);
    }
    aa_result_free(r);
    return ok;
}

aa_session *fz_session(void)
{
    const char *jail = getenv("AA_FUZZ_JAIL");
    aa_result *r = NULL;
    aa_options o;
    int rc;

    if (session != NULL)
        return session;
    verbose = getenv("AA_FUZZ_VERBOSE") != NULL &&
              strcmp(getenv("AA_FUZZ_VERBOSE"), "0") != 0;
    if (jail == NULL || jail[0] == '\0')
        jail = AA_FUZZ_JAIL;
    aa_options_init(&o);
    o.write = take_output;
    rc = aa_session_new(&session, &o);
    if (rc != AA_OK)
        fz_fail("aa_session_new: %s: %s", aa_strerror(rc), aa_errmsg());
    rc = aa_exec_file(session, jail, &r);
    if (rc != AA_OK)
        fz_fail("the jail %s did not run: %s: %s\n%s", jail, aa_strerror(rc),
                r != NULL && aa_result_message(r) ? aa_result_message(r)
                                                  : aa_session_errmsg(session),
                r != NULL && aa_result_traceback(r) ? aa_result_traceback(r)
                                                    : "");
    aa_result_free(r);
    if (!harness_cell(session, reset_cell, "'reset'", 1) ||
        !harness_cell(session, "1+1", "2", 1))
        fz_fail("the session is not usable after the jail");
    watchdog_start(session);
    return session;
}

/* Back on asyncio with autoawait on; aborts when the session cannot. */
static void default_runner(aa_session *s)
{
    const char *runner = aa_session_runner(s);
    int rc;

    if (runner == NULL)
        fz_fail("the session has no runner");
    if (strcmp(runner, "asyncio") != 0 &&
        (rc = aa_session_set_runner(s, "asyncio")) != AA_OK)
        fz_fail("cannot go back from runner %s to asyncio: %s: %s", runner,
                aa_strerror(rc), aa_session_errmsg(s));
    if (aa_session_set_autoawait(s, 1) != AA_OK || aa_session_autoawait(s) != 1)
        fz_fail("cannot turn autoawait back on");
}

static int reset(aa_session *s)
{
    aa_result *r = NULL;
    int rc;

    if (harness_cell(s, reset_cell, "'reset'", 0))
        return 1;
    rc = aa_exec(s, reset_magic, &r);
    check_result(reset_magic, rc, r);
    aa_result_free(r);
    default_runner(s);
    return harness_cell(s, reset_cell, "'reset'", reset_failures < 10);
}

void fz_settle(aa_session *s)
{
    default_runner(s);
    /* Should an input break the reset anyway, that is Python's doing, and
     * only makes later inputs less reproducible: say so, and skip the
     * check, which whatever broke the reset may fail too. */
    if (!reset(s)) {
        if (reset_failures++ < 10)
            fprintf(stderr, "fuzz: the reset failed (%lu so far)\n",
                    reset_failures);
        return;
    }
    if (++inputs % FZ_CHECK_EVERY == 0 && !harness_cell(s, "1+1", "2", 1))
        fz_fail("the session no longer runs 1+1 (after %lu inputs)", inputs);
}

void fz_check_alive(aa_session *s)
{
    if (!harness_cell(s, "1 + 1", "2", 1))
        fz_fail("the session no longer runs 1 + 1 (after %lu inputs)", inputs);
}
