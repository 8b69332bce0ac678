/*
 * check_host.c -- host functions and host futures (aa_define, aa_raise,
 * aa_future_*), through the public header alone, as a C host uses them:
 * real C functions of this file (and libm's hypot) called from cells for
 * every signature code, the errors a cell gets for wrong calls and bad
 * returns, the definitions a host may and may not make and which session
 * sees which, and async host functions awaited under asyncio, trio, curio,
 * Python callables and a hand-written driver: resolved at once, later from
 * another thread, from the host's own loop, rejected, cancelled, dropped,
 * and left pending when their session is freed.  The trio and curio tests
 * pass with a SKIP line when the library cannot be imported.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

#define FN(f) ((void (*)(void))(f))

/* ------------------------------------------------------ the host's side */

/* A resolve or reject made later by a thread of the host. */
typedef struct {
    aa_future *f;
    int ms, value, reject, rc;
    char exc[32], msg[64];
    pthread_t thread;
} job;

/* What the host functions saw; reset before each test. */
static struct {
    aa_future *pending; /* what host.wait() got last */
    int cancels;        /* cancel callbacks made */
    pthread_t cancel_thread;
    aa_future *cancelled; /* the future the last callback got */
    int finish_in_cancel; /* the callback resolves its future itself */
    int finish_rc;        /* what that resolve answered */
    int second_rc;        /* what host.now's second resolve answered */
    int code_rc;          /* what host.resolve_as's resolve answered */
    int typed_rc[16];     /* what host.typed(i)'s resolve answered */
    int bad_text_rc[4];   /* what host.bad_text(i)'s resolve answered */
    int raise_rc;         /* what aa_raise answered inside host.raiser */
    int define_rc;        /* what aa_define answered inside host.definer */
    int bumps;
    job jobs[16];
    int njobs;
} hs;

/* host.wait() signals here, for a thread waiting for the future. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pending_cond = PTHREAD_COND_INITIALIZER;

static aa_session *s; /* the fixture's session, with host.* defined */
static int marker, hundred = 100, two_hundred = 200;

static int h_add(int a, int b)
{
    return a + b;
}

static unsigned h_uid(unsigned x)
{
    return x;
}

static int64_t h_lid(int64_t x)
{
    return x;
}

static uint64_t h_Lid(uint64_t x)
{
    return x;
}

static size_t h_zid(size_t x)
{
    return x;
}

static double h_dadd(double a, double b)
{
    return a + b;
}

static float h_fid(float x)
{
    return x;
}

static bool h_bnot(bool x)
{
    return !x;
}

static void h_bump(void)
{
    hs.bumps++;
}

static int h_one(void)
{
    return 1;
}

static int h_two(void)
{
    return 2;
}

static int h_three(void)
{
    return 3;
}

static int h_twice(int x)
{
    return 2 * x;
}

/* The s return is the host's: kept here, copied by the library. */
static char text_kept[256];

static const char *h_echo(const char *text)
{
    snprintf(text_kept, sizeof text_kept, "%s", text);
    return text_kept;
}

static const char *h_maybe(int set)
{
    return set ? "set" : NULL;
}

static char *h_upper(const char *text)
{
    char *u = strdup(text), *p;

    for (p = u; p != NULL && *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static unsigned char bytes_kept[64];

static aa_bytes h_brev(const void *data, size_t size)
{
    const unsigned char *in = data;
    aa_bytes b = {bytes_kept, size};
    size_t i;

    ck_assert_uint_le(size, sizeof bytes_kept);
    for (i = 0; i < size; i++)
        bytes_kept[i] = in[size - 1 - i];
    return b;
}

static aa_bytes h_ydup(const void *data, size_t size)
{
    void *copy = malloc(size + 1);
    aa_bytes b = {copy, size};

    memcpy(copy, data, size);
    return b;
}

static aa_bytes h_ynone(void)
{
    aa_bytes b = {NULL, 0};
    return b;
}

static const char *h_jecho(const char *json)
{
    return h_echo(json);
}

static char *h_jmake(int n)
{
    char *json = malloc(64);

    snprintf(json, 64, "{\"n\": %d, \"sq\": [0, 1, 4]}", n);
    return json;
}

static void *h_pmake(void)
{
    return &marker;
}

static void *h_pid(void *p)
{
    return p;
}

static int h_pis(void *p)
{
    return p == &marker ? 1 : p == NULL ? 2 : 0;
}

static int h_plus_ud(void *userdata, int x)
{
    return *(int *)userdata + x;
}

static int h_ud_plus(int x, void *userdata)
{
    return x + *(int *)userdata;
}

static const char *h_bad_utf8(void)
{
    return "ab\xff";
}

static char *h_bad_utf8_S(void)
{
    return strdup("\xc3(");
}

static const char *h_bad_json(void)
{
    return "{\"a\": ";
}

static char *h_bad_json_J(void)
{
    return strdup("[1, 2");
}

static int h_raiser(int which)
{
    switch (which) {
    case 0:
        hs.raise_rc = aa_raise("KeyError", "x");
        break;
    case 1:
        hs.raise_rc = aa_raise("NoSuchError", "m");
        break;
    case 2:
        hs.raise_rc = aa_raise(NULL, NULL);
        break;
    case 3:
        hs.raise_rc = aa_raise("SystemExit", "exit");
        break;
    default:
        aa_raise("KeyError", "first");
        hs.raise_rc = aa_raise("IndexError", "last");
    }
    return 7;
}

static char *h_raise_S(void)
{
    aa_raise("ValueError", "dropped");
    return strdup("this string is freed by the library");
}

static void *raise_from_thread(void *arg)
{
    *(int *)arg = aa_raise("KeyError", "from a thread");
    return NULL;
}

/* aa_raise from a thread that runs no host function, during a call. */
static int h_raise_elsewhere(void)
{
    pthread_t t;
    int rc = 0;

    ck_assert_int_eq(pthread_create(&t, NULL, raise_from_thread, &rc), 0);
    pthread_join(t, NULL);
    return rc;
}

static void h_definer(void *session)
{
    hs.define_rc =
        aa_define(session, "host.made_inside", "i()", FN(h_three), NULL);
}

static void on_cancel(void *userdata, aa_future *f)
{
    (void)userdata;
    hs.cancels++;
    hs.cancel_thread = pthread_self();
    hs.cancelled = f;
    if (hs.finish_in_cancel)
        hs.finish_rc = aa_future_resolve(f, "i", 1);
}

static void h_now(aa_future *f, int v)
{
    aa_future_on_cancel(f, on_cancel, NULL);
    aa_future_resolve(f, "i", v);
    hs.second_rc = aa_future_resolve(f, "i", v + 1);
}

static void h_wait(aa_future *f)
{
    aa_future_on_cancel(f, on_cancel, NULL);
    pthread_mutex_lock(&pending_lock);
    hs.pending = f;
    pthread_cond_broadcast(&pending_cond);
    pthread_mutex_unlock(&pending_lock);
}

static void *job_main(void *arg)
{
    job *j = arg;

    tu_sleep_ms(j->ms);
    if (j->reject)
        j->rc =
            aa_future_reject(j->f, j->exc[0] != '\0' ? j->exc : NULL, j->msg);
    else
        j->rc = aa_future_resolve(j->f, "i", j->value);
    return NULL;
}

/* A thread that finishes f after ms milliseconds, as j says. */
static job *job_start(aa_future *f, int ms, job how)
{
    job *j;

    ck_assert_int_lt(hs.njobs, (int)(sizeof hs.jobs / sizeof hs.jobs[0]));
    j = &hs.jobs[hs.njobs++];
    *j = how;
    j->f = f;
    j->ms = ms;
    aa_future_on_cancel(f, on_cancel, NULL);
    ck_assert_int_eq(pthread_create(&j->thread, NULL, job_main, j), 0);
    return j;
}

static void jobs_join(void)
{
    int i;

    for (i = 0; i < hs.njobs; i++)
        pthread_join(hs.jobs[i].thread, NULL);
    hs.njobs = 0;
}

static void h_later(aa_future *f, int ms, int v)
{
    job how = {.value = v};

    job_start(f, ms, how);
}

static void h_reject_later(aa_future *f, int ms, const char *exc,
                           const char *msg)
{
    job how = {.reject = 1};

    snprintf(how.exc, sizeof how.exc, "%s", exc);
    snprintf(how.msg, sizeof how.msg, "%s", msg);
    job_start(f, ms, how);
}

/* Resolves f at once with the value code number which of the table. */
static void h_typed(aa_future *f, int which)
{
    static const char dup[] = "dup";
    void *copy = malloc(3);
    int rc = AA_EINVAL;

    memcpy(copy, dup, 3);
    switch (which) {
    case 0:
        rc = aa_future_resolve(f, "v");
        break;
    case 1:
        rc = aa_future_resolve(f, "b", 1);
        break;
    case 2:
        rc = aa_future_resolve(f, "i", -7);
        break;
    case 3:
        rc = aa_future_resolve(f, "I", 4000000000u);
        break;
    case 4:
        rc = aa_future_resolve(f, "l", INT64_C(-9000000000000000000));
        break;
    case 5:
        rc = aa_future_resolve(f, "L", UINT64_C(18000000000000000000));
        break;
    case 6:
        rc = aa_future_resolve(f, "z", (size_t)12345);
        break;
    case 7:
        rc = aa_future_resolve(f, "d", 2.5);
        break;
    case 8:
        rc = aa_future_resolve(f, "f", 0.25);
        break;
    case 9:
        rc = aa_future_resolve(f, "s", "h\xc3\xa9llo");
        break;
    case 10:
        rc = aa_future_resolve(f, "S", strdup("malloced"));
        break;
    case 11:
        rc = aa_future_resolve(f, "y", (const void *)"ab\0c", (size_t)4);
        break;
    case 12:
        rc = aa_future_resolve(f, "Y", copy, (size_t)3);
        copy = NULL;
        break;
    case 13:
        rc = aa_future_resolve(f, "j", "{\"a\": [1, 2]}");
        break;
    case 14:
        rc = aa_future_resolve(f, "J", strdup("[true, null]"));
        break;
    case 15:
        rc = aa_future_resolve(f, "p", (void *)&marker);
        break;
    }
    free(copy);
    if (which >= 0 && which < 16)
        hs.typed_rc[which] = rc;
}

/* Resolves f at once with text that is not UTF-8 (0, 2) or not JSON. */
static void h_bad_text(aa_future *f, int which)
{
    int rc = AA_EINVAL;

    switch (which) {
    case 0:
        rc = aa_future_resolve(f, "s", "ab\xff");
        break;
    case 1:
        rc = aa_future_resolve(f, "j", "{\"a\": ");
        break;
    case 2:
        rc = aa_future_resolve(f, "S", strdup("\xc3("));
        break;
    case 3:
        rc = aa_future_resolve(f, "J", strdup("[1, "));
        break;
    }
    if (which >= 0 && which < 4)
        hs.bad_text_rc[which] = rc;
}

static void h_resolve_as(aa_future *f, const char *code)
{
    hs.code_rc = aa_future_resolve(f, code, 0, 0);
}

static void h_raise_async(aa_future *f)
{
    hs.pending = f;
    aa_raise("ValueError", "refused");
}

/* Mixed arguments, each weighted by its place, so that one put in the
 * wrong register or slot shows.  mix6 fits in registers; mix_many (7
 * integers, 9 floating values) and the rest do not, and go through
 * libffi's own call. */
static double h_mix6(int a, float b, int64_t c, double d, unsigned e, float f)
{
    return a + 10.0 * b + 100.0 * (double)c + 1000.0 * d + 1e4 * e + 1e5 * f;
}

static double h_mix_many(int a, double b, int c, float d, int e, double f,
                         int g, double h, int i, double j, int k, double l,
                         int m, double n, double o, float p)
{
    return a + 2.0 * b + 3.0 * c + 4.0 * d + 5.0 * e + 6.0 * f + 7.0 * g +
           8.0 * h + 9.0 * i + 10.0 * j + 11.0 * k + 12.0 * l + 13.0 * m +
           14.0 * n + 15.0 * o + 16.0 * p;
}

static int64_t h_sum8(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e,
                      int64_t f, int64_t g, int64_t h)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h;
}

static size_t h_ylens(const void *a, size_t na, const void *b, size_t nb,
                      const void *c, size_t nc, const void *d, size_t nd)
{
    const char *pa = a, *pb = b, *pc = c, *pd = d;

    return na + 10 * nb + 100 * nc + 1000 * nd +
           (size_t)(pa[0] + pb[0] + pc[0] + pd[nd - 1]) * 10000;
}

static aa_bytes h_ymany(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e,
                        int64_t f, int64_t g)
{
    static char buf[8];
    aa_bytes r = {buf, 7};

    buf[0] = (char)('0' + a), buf[1] = (char)('0' + b);
    buf[2] = (char)('0' + c), buf[3] = (char)('0' + d);
    buf[4] = (char)('0' + e), buf[5] = (char)('0' + f);
    buf[6] = (char)('0' + g);
    return r;
}

static float h_fmany(float a, float b, float c, float d, float e, float f,
                     float g, float h, float i)
{
    return a + b + c + d + e + f + g + h + 100 * i;
}

static bool h_bmany(int a, int b, int c, int d, int e, int f, int g)
{
    return a + b + c + d + e + f + g == 7;
}

static const struct {
    const char *name, *signature;
    void (*fn)(void);
    void *userdata;
} host_defs[] = {
    {"host.add", "i(ii)", FN(h_add), NULL},
    {"host.uid", "I(I)", FN(h_uid), NULL},
    {"host.lid", "l(l)", FN(h_lid), NULL},
    {"host.Lid", "L(L)", FN(h_Lid), NULL},
    {"host.zid", "z(z)", FN(h_zid), NULL},
    {"host.dadd", "d(dd)", FN(h_dadd), NULL},
    {"host.hypot", "d(dd)", FN(hypot), NULL},
    {"host.fid", "f(f)", FN(h_fid), NULL},
    {"host.bnot", "b(b)", FN(h_bnot), NULL},
    {"host.bump", "v()", FN(h_bump), NULL},
    {"host.echo", "s(s)", FN(h_echo), NULL},
    {"host.maybe", "s(i)", FN(h_maybe), NULL},
    {"host.upper", "S(s)", FN(h_upper), NULL},
    {"host.brev", "y(y)", FN(h_brev), NULL},
    {"host.ydup", "Y(y)", FN(h_ydup), NULL},
    {"host.ynone", "y()", FN(h_ynone), NULL},
    {"host.jecho", "j(j)", FN(h_jecho), NULL},
    {"host.jmake", "J(i)", FN(h_jmake), NULL},
    {"host.pmake", "p()", FN(h_pmake), NULL},
    {"host.pid", "p(p)", FN(h_pid), NULL},
    {"host.pis", "i(p)", FN(h_pis), NULL},
    {"host.plus_ud", "i(ui)", FN(h_plus_ud), &hundred},
    {"host.ud_plus", "i(iu)", FN(h_ud_plus), &hundred},
    {"host.other_ud", "i(ui)", FN(h_plus_ud), &two_hundred},
    {"host.bad_utf8", "s()", FN(h_bad_utf8), NULL},
    {"host.bad_utf8_S", "S()", FN(h_bad_utf8_S), NULL},
    {"host.bad_json", "j()", FN(h_bad_json), NULL},
    {"host.bad_json_J", "J()", FN(h_bad_json_J), NULL},
    {"host.raiser", "i(i)", FN(h_raiser), NULL},
    {"host.raise_S", "S()", FN(h_raise_S), NULL},
    {"host.raise_elsewhere", "i()", FN(h_raise_elsewhere), NULL},
    {"host.now", "v(Fi)", FN(h_now), NULL},
    {"host.wait", "v(F)", FN(h_wait), NULL},
    {"host.later", "v(Fii)", FN(h_later), NULL},
    {"host.reject_later", "v(Fiss)", FN(h_reject_later), NULL},
    {"host.typed", "v(Fi)", FN(h_typed), NULL},
    {"host.bad_text", "v(Fi)", FN(h_bad_text), NULL},
    {"host.resolve_as", "v(Fs)", FN(h_resolve_as), NULL},
    {"host.raise_async", "v(F)", FN(h_raise_async), NULL},
    {"host.mix6", "d(ifldIf)", FN(h_mix6), NULL},
    {"host.mix_many", "d(idifidididididdf)", FN(h_mix_many), NULL},
    {"host.sum8", "l(llllllll)", FN(h_sum8), NULL},
    {"host.ylens", "z(yyyy)", FN(h_ylens), NULL},
    {"host.ymany", "y(lllllll)", FN(h_ymany), NULL},
    {"host.fmany", "f(fffffffff)", FN(h_fmany), NULL},
    {"host.bmany", "b(iiiiiii)", FN(h_bmany), NULL},
};

/* ------------------------------------------------------------- helpers */

/* aa_define, wanting AA_OK. */
static void define(aa_session *in, const char *name, const char *signature,
                   void (*fn)(void), void *userdata)
{
    int rc = aa_define(in, name, signature, fn, userdata);

    ck_assert_msg(rc == AA_OK, "aa_define(%s, %s): %s: %s", name, signature,
                  aa_strerror(rc),
                  in != NULL ? aa_session_errmsg(in) : aa_errmsg());
}

static void define_host(aa_session *in)
{
    size_t i;

    for (i = 0; i < sizeof host_defs / sizeof host_defs[0]; i++)
        define(in, host_defs[i].name, host_defs[i].signature, host_defs[i].fn,
               host_defs[i].userdata);
}

static void setup(void)
{
    memset(&hs, 0, sizeof hs);
    s = tu_session(NULL);
    define_host(s);
    tu_do(s, "import host", AA_OK);
}

static void teardown(void)
{
    aa_session_free(s);
    s = NULL;
    jobs_join();
    tu_clear();
}

/* After an error, the session runs the next cell as before. */
static void still_usable(aa_session *in)
{
    tu_expect(in, "host.add(20, 22)", "42");
}

/* Runs src, which must raise cls with a message holding part1 and part2
 * (each may be NULL), then checks the session is still usable. */
static void expect_error(aa_session *in, const char *src, const char *cls,
                         const char *part1, const char *part2)
{
    aa_result *r = tu_run(in, src, AA_EXCEPTION);
    const char *exc = aa_result_exception(r), *msg = aa_result_message(r);

    msg = msg != NULL ? msg : "(null)";
    ck_assert_msg(exc != NULL && strcmp(exc, cls) == 0,
                  "%s\nraised %s: %s; want %s", src, exc ? exc : "(null)", msg,
                  cls);
    ck_assert_msg(part1 == NULL || strstr(msg, part1) != NULL,
                  "%s\nmessage \"%s\" lacks \"%s\"", src, msg, part1);
    ck_assert_msg(part2 == NULL || strstr(msg, part2) != NULL,
                  "%s\nmessage \"%s\" lacks \"%s\"", src, msg, part2);
    aa_result_free(r);
    still_usable(in);
}

/* As expect_error, for the whole message. */
static void expect_message(aa_session *in, const char *src, const char *cls,
                           const char *message)
{
    aa_result *r = tu_run(in, src, AA_EXCEPTION);
    const char *exc = aa_result_exception(r), *msg = aa_result_message(r);

    ck_assert_msg(exc != NULL && strcmp(exc, cls) == 0,
                  "%s\nraised %s: %s; want %s", src, exc ? exc : "(null)",
                  msg ? msg : "(null)", cls);
    ck_assert_msg(msg != NULL && strcmp(msg, message) == 0,
                  "%s\nmessage \"%s\", want \"%s\"", src, msg ? msg : "(null)",
                  message);
    aa_result_free(r);
    still_usable(in);
}

/* The future host.wait() got, waiting for it at most seconds. */
static aa_future *await_pending(double seconds)
{
    double end = tu_now() + seconds * tu_scale();
    aa_future *f;

    pthread_mutex_lock(&pending_lock);
    while (hs.pending == NULL && tu_now() < end) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pending_cond, &pending_lock, &ts);
    }
    f = hs.pending;
    pthread_mutex_unlock(&pending_lock);
    return f;
}

/* Interrupts the session once host.wait() has its future. */
static void *interrupt_when_pending(void *session)
{
    if (await_pending(10) != NULL)
        aa_interrupt(session);
    return NULL;
}

/* Checks that the cell stopped waiting for f: one callback, on this
 * thread, with f; f then refuses a callback and a late resolve with
 * AA_ECANCELLED, and is used up after. */
static void expect_cancelled(aa_future *f)
{
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(hs.cancels, 1);
    ck_assert(pthread_equal(hs.cancel_thread, pthread_self()));
    ck_assert_ptr_eq(hs.cancelled, f);
    ck_assert_int_eq(aa_future_state(f), AA_ECANCELLED);
    ck_assert_int_eq(aa_future_on_cancel(f, on_cancel, NULL), AA_ECANCELLED);
    ck_assert_int_eq(aa_future_resolve(f, "i", 5), AA_ECANCELLED);
    ck_assert_int_eq(aa_future_state(f), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_reject(f, "KeyError", "late"), AA_ENOTFOUND);
    ck_assert_int_eq(hs.cancels, 1);
}

static int trio_missing(void)
{
    return tu_missing("trio", " (pip install trio)");
}

static int curio_missing(void)
{
    return tu_missing("curio", " (put its source on PYTHONPATH to run these)");
}

/* ------------------------------------------------------ sync: values */

START_TEST(integers_round_trip_in_range)
{
    char src[64], repr[32];

    tu_expect(s, "host.add(2, 3)", "5");
    tu_expect(s, "host.add(2147483647, 0), host.add(-2147483648, 0)",
              "(2147483647, -2147483648)");
    tu_expect(s, "host.uid(4294967295)", "4294967295");
    tu_expect(s, "host.lid(-2**63), host.lid(2**63 - 1)",
              "(-9223372036854775808, 9223372036854775807)");
    tu_expect(s, "host.Lid(2**64 - 1)", "18446744073709551615");
    snprintf(repr, sizeof repr, "%zu", (size_t)SIZE_MAX);
    snprintf(src, sizeof src, "host.zid(%s)", repr);
    tu_expect(s, src, repr);
}
END_TEST

START_TEST(integers_out_of_range_are_overflow_errors)
{
    expect_message(s, "host.add(2147483648, 0)", "OverflowError",
                   "host.add() argument 1: 2147483648 does not fit in a C int");
    expect_error(s, "host.add(0, -2147483649)", "OverflowError",
                 "host.add() argument 2", "-2147483649");
    expect_error(s, "host.uid(4294967296)", "OverflowError",
                 "host.uid() argument 1", NULL);
    expect_error(s, "host.uid(-1)", "OverflowError", "host.uid() argument 1",
                 NULL);
    expect_error(s, "host.lid(2**63)", "OverflowError", "host.lid() argument 1",
                 NULL);
    expect_error(s, "host.Lid(2**64)", "OverflowError", "host.Lid() argument 1",
                 NULL);
    expect_error(s, "host.Lid(-1)", "OverflowError", "host.Lid() argument 1",
                 NULL);
    expect_error(s, "host.zid(-1)", "OverflowError", "host.zid() argument 1",
                 NULL);
}
END_TEST

START_TEST(arguments_keep_their_places_in_and_beyond_registers)
{
    /* In registers: integers and floating values interleaved. */
    tu_expect(s, "host.mix6(1, 2.0, 3, 4.0, 5, 6.0)", "654321.0");
    tu_expect(s, "host.mix6(-1, 0.5, -3, 0.25, 7, -0.5)", "19954.0");
    /* Beyond them, through libffi: 7 integers and 9 floating values. */
    tu_expect(s,
              "host.mix_many(1, 1.0, 1, 1.0, 1, 1.0, 1, 1.0, 1, 1.0, 1, 1.0, "
              "1, 1.0, 1.0, 1.0)",
              "136.0");
    tu_expect(s,
              "host.mix_many(*[float(i) if i in (2, 4, 6, 8, 10, 12, 14, 15, "
              "16) else i for i in range(1, 17)])",
              "1496.0");
    tu_expect(s, "host.sum8(1, 1, 1, 1, 1, 1, 1, 1)", "36");
    tu_expect(s, "host.sum8(*range(1, 9))", "204");
    tu_expect(s, "host.ylens(b'a', b'bb', bytearray(b'ccc'), b'dddz')",
              "4164321");
    tu_expect(s, "host.ymany(1, 2, 3, 4, 5, 6, 7)", "b'1234567'");
    tu_expect(s, "host.fmany(1, 1, 1, 1, 1, 1, 1, 1, 0.5)", "58.0");
    tu_expect(s, "host.bmany(1, 1, 1, 1, 1, 1, 1), host.bmany(*[0] * 7)",
              "(True, False)");
    /* The same rules on the way: a range, a type, a count. */
    expect_error(s, "host.sum8(1, 1, 1, 1, 1, 1, 1, 2**63)", "OverflowError",
                 "host.sum8() argument 8", NULL);
    expect_error(s, "host.mix_many(*[1] * 15, 'x')", "TypeError",
                 "host.mix_many() argument 16 must be float", NULL);
    expect_error(s, "host.fmany(*[1] * 8, 1e300)", "OverflowError",
                 "host.fmany() argument 9", NULL);
    expect_error(s, "host.ylens(b'a', b'b', b'c')", "TypeError",
                 "host.ylens() takes 4 arguments (3 given)", NULL);
}
END_TEST

START_TEST(floats_bools_and_void)
{
    tu_expect(s, "host.hypot(3.0, 4.0)", "5.0");
    tu_expect(s, "host.dadd(0.1, 0.2)", "0.30000000000000004");
    /* f is a C float: 0.1 comes back rounded to one. */
    tu_expect(s, "host.fid(0.1), host.fid(1.5)", "(0.10000000149011612, 1.5)");
    tu_expect(s, "host.bnot(True), host.bnot(False)", "(False, True)");
    tu_expect(s, "host.bump()", NULL);
    tu_expect(s, "host.bump() is None", "True");
    ck_assert_int_eq(hs.bumps, 2);
}
END_TEST

START_TEST(strings_round_trip_and_null_is_none)
{
    tu_expect(s, "host.echo('h\xc3\xa9llo \xe2\x9c\x93')",
              "'h\xc3\xa9llo \xe2\x9c\x93'");
    tu_expect(s, "host.echo('')", "''");
    tu_expect(s, "host.maybe(0) is None, host.maybe(1)", "(True, 'set')");
    /* S: malloc'ed by the host, freed by the library (ASan and valgrind
     * see a leak otherwise). */
    tu_expect(s, "[host.upper('abc') for _ in range(3)]",
              "['ABC', 'ABC', 'ABC']");
}
END_TEST

START_TEST(bytes_take_any_bytes_like_object)
{
    tu_expect(s, "host.brev(b'ab\\x00c')", "b'c\\x00ba'");
    tu_expect(s, "host.brev(bytearray(b'xy')), host.brev(memoryview(b'pq'))",
              "(b'yx', b'qp')");
    tu_expect(s, "host.ydup(b'xyz'), host.ydup(b'')", "(b'xyz', b'')");
    tu_expect(s, "host.ynone() is None", "True");
    expect_error(s, "host.brev('text')", "TypeError", "host.brev()",
                 "argument 1");
}
END_TEST

START_TEST(json_round_trips_structures)
{
    tu_expect(s, "host.jecho({'a': [1, 2.5, None, True, '\xc3\xa9']})",
              "{'a': [1, 2.5, None, True, '\xc3\xa9']}");
    tu_expect(s, "host.jecho('text'), host.jecho(7), host.jecho([])",
              "('text', 7, [])");
    tu_expect(s, "host.jmake(3)", "{'n': 3, 'sq': [0, 1, 4]}");
}
END_TEST

START_TEST(pointers_round_trip_and_none_is_null)
{
    tu_do(s, "import autoawait\np = host.pmake()", AA_OK);
    tu_expect(s,
              "isinstance(p, autoawait.Pointer), host.pis(p), "
              "host.pis(host.pid(p))",
              "(True, 1, 1)");
    tu_expect(s, "host.pid(None) is None, host.pis(None)", "(True, 2)");
    expect_error(s, "host.pis(5)", "TypeError", "host.pis()", "argument 1");
    expect_error(s, "host.pis(b'')", "TypeError", "host.pis()", "argument 1");
}
END_TEST

START_TEST(userdata_reaches_fn_and_takes_no_argument)
{
    tu_expect(s, "host.plus_ud(5), host.ud_plus(5), host.other_ud(5)",
              "(105, 105, 205)");
    expect_error(s, "host.plus_ud(5, 6)", "TypeError", "host.plus_ud()", NULL);
}
END_TEST

/* ------------------------------------------------------ sync: errors */

START_TEST(wrong_calls_are_type_errors_naming_the_function)
{
    expect_message(s, "host.add(1, 2, 3)", "TypeError",
                   "host.add() takes 2 arguments (3 given)");
    expect_message(s, "host.add(a=1, b=2)", "TypeError",
                   "host.add() takes no keyword arguments");
    expect_message(s, "host.add('1', 2)", "TypeError",
                   "host.add() argument 1 must be int, not str");
    expect_error(s, "host.add(1, 2.5)", "TypeError", "host.add() argument 2",
                 NULL);
    expect_error(s, "host.dadd('x', 1.0)", "TypeError",
                 "host.dadd() argument 1", NULL);
    expect_error(s, "host.echo(b'bytes')", "TypeError",
                 "host.echo() argument 1", NULL);
}
END_TEST

START_TEST(bad_strings_in_are_value_errors)
{
    expect_error(s, "host.echo('a\\x00b')", "ValueError", "host.echo()",
                 "embedded null character");
    /* A ValueError (UnicodeEncodeError is one), naming the argument. */
    tu_expect(s,
              "try:\n    host.echo('a\\ud800')\nexcept ValueError as e:\n"
              "    err = str(e)\nerr.startswith('host.echo() argument 1')",
              "True");
    still_usable(s);
}
END_TEST

START_TEST(bad_text_returned_is_a_value_error)
{
    expect_error(s, "host.bad_utf8()", "ValueError",
                 "host.bad_utf8() returned invalid UTF-8", NULL);
    expect_error(s, "host.bad_utf8_S()", "ValueError",
                 "host.bad_utf8_S() returned invalid UTF-8", NULL);
    expect_error(s, "host.bad_json()", "ValueError",
                 "host.bad_json() returned invalid JSON", NULL);
    expect_error(s, "host.bad_json_J()", "ValueError",
                 "host.bad_json_J() returned invalid JSON", NULL);
}
END_TEST

START_TEST(unserializable_json_argument_names_it)
{
    aa_result *r = tu_run(s, "host.jecho({1, 2})", AA_EXCEPTION);
    const char *exc = aa_result_exception(r), *msg = aa_result_message(r);

    ck_assert_msg(strcmp(exc, "TypeError") == 0 ||
                      strcmp(exc, "ValueError") == 0,
                  "raised %s: %s", exc, msg);
    ck_assert_msg(strstr(msg, "host.jecho()") != NULL &&
                      strstr(msg, "argument 1") != NULL,
                  "message: %s", msg);
    aa_result_free(r);
    still_usable(s);
}
END_TEST

/* ----------------------------------------------------------- aa_raise */

START_TEST(raise_inside_fn_raises_in_the_cell)
{
    expect_message(s, "host.raiser(0)", "KeyError", "'x'");
    ck_assert_int_eq(hs.raise_rc, AA_OK);
    expect_message(s, "host.raiser(1)", "RuntimeError", "m");
    expect_message(s, "host.raiser(2)", "RuntimeError", "");
    /* Not an Exception: a host function cannot end the cell that way. */
    expect_message(s, "host.raiser(3)", "RuntimeError", "exit");
    expect_message(s, "host.raiser(4)", "IndexError", "last");
    /* The S the host returned with it is freed (ASan, valgrind). */
    expect_message(s, "host.raise_S()", "ValueError", "dropped");
}
END_TEST

START_TEST(raise_outside_a_host_function_is_einval)
{
    ck_assert_int_eq(aa_raise("KeyError", "x"), AA_EINVAL);
    /* From another thread while a host function runs: still outside. */
    tu_expect(s, "host.raise_elsewhere()", "-1");
    ck_assert_int_eq(aa_raise(NULL, NULL), AA_EINVAL);
}
END_TEST

START_TEST(raise_outside_before_any_session_is_einval)
{
    ck_assert_int_eq(aa_raise("KeyError", "x"), AA_EINVAL);
}
END_TEST

/* ------------------------------------------------ aa_define: refusals */

/* aa_define(in, name, signature) must answer AA_EINVAL with a message
 * holding part (when not NULL). */
static void refused(aa_session *in, const char *name, const char *signature,
                    const char *part)
{
    int rc = aa_define(in, name, signature, FN(h_add), NULL);
    const char *msg = in != NULL ? aa_session_errmsg(in) : aa_errmsg();

    ck_assert_msg(rc == AA_EINVAL, "aa_define(%s, %s) answered %d (%s)",
                  name ? name : "NULL", signature ? signature : "NULL", rc,
                  aa_strerror(rc));
    ck_assert_msg(msg != NULL && msg[0] != '\0',
                  "aa_define(%s, %s): no message", name ? name : "NULL",
                  signature ? signature : "NULL");
    ck_assert_msg(part == NULL || strstr(msg, part) != NULL,
                  "aa_define(%s, %s): message \"%s\" lacks \"%s\"",
                  name ? name : "NULL", signature ? signature : "NULL", msg,
                  part);
}

static const char *const bad_signatures[] = {
    "",     "i(ii", "(ii)", "i(ii)x", "F(i)", "v(FF)", "i(F)",
    "v(S)", "v(Y)", "v(J)", "i(v)",   "u()",  "q(i)",  "i(iq)",
};

static const char *const bad_names[] = {
    "",      "1a",        "a..b",          "a.",          ".a",
    "a-b.f", "class.x",   "host.__init__", "host.class",  "json.x",
    "sys.x", "os.path.x", "autoawait.x",   "h\xc3\xa9.x",
};

static void refuse_all(aa_session *in)
{
    size_t i;

    refused(in, NULL, "i(ii)", "name");
    refused(in, "host.f", NULL, "signature");
    for (i = 0; i < sizeof bad_signatures / sizeof bad_signatures[0]; i++)
        refused(in, "host.f", bad_signatures[i],
                bad_signatures[i][0] != '\0' ? bad_signatures[i] : NULL);
    for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        refused(in, bad_names[i], "i(ii)",
                bad_names[i][0] != '\0' && strchr(bad_names[i], '\xc3') == NULL
                    ? bad_names[i]
                    : NULL);
}

START_TEST(bad_definitions_are_refused_naming_the_fault)
{
    refuse_all(s);
    /* Nothing of them was made. */
    tu_expect(s,
              "import json, sys, autoawait\n"
              "hasattr(json, 'x'), hasattr(sys, 'x'), hasattr(autoawait, 'x'), "
              "hasattr(host, 'f')",
              "(False, False, False, False)");
}
END_TEST

START_TEST(bad_global_definitions_are_refused_in_aa_errmsg)
{
    refuse_all(NULL);
}
END_TEST

START_TEST(a_name_cannot_be_a_function_and_a_module)
{
    define(s, "clash.f", "i()", FN(h_one), NULL);
    refused(s, "clash.f.g", "i()", "clash.f");
    define(s, "pk.mod.f", "i()", FN(h_one), NULL);
    refused(s, "pk.mod", "i()", "pk.mod");
    /* A module the cells imported already is not the host's. */
    tu_do(s, "import sys, types\nsys.modules['theirs'] = types.ModuleType('t')",
          AA_OK);
    refused(s, "theirs.f", "i()", "theirs");
    tu_expect(s, "import clash, pk.mod\nclash.f(), pk.mod.f()", "(1, 1)");
}
END_TEST

START_TEST(define_inside_a_host_function)
{
    define(s, "host.definer", "v(u)", FN(h_definer), s);
    tu_do(s, "host.definer()", AA_OK);
    ck_assert_int_eq(hs.define_rc, AA_OK);
    tu_expect(s, "host.made_inside()", "3");
}
END_TEST

/* ---------------------------------------- aa_define: replace, remove */

START_TEST(redefinition_replaces_and_kept_objects_stay)
{
    define(s, "rd.f", "i()", FN(h_one), NULL);
    tu_expect(s, "import rd\nkept = rd.f\nrd.f()", "1");
    define(s, "rd.f", "i()", FN(h_two), NULL);
    tu_expect(s, "rd.f(), kept()", "(2, 1)");
    tu_expect(s, "from rd import f\nf()", "2");
    define(s, "rd.f", "s(s)", FN(h_echo), NULL);
    tu_expect(s, "import rd\nrd.f('new signature')", "'new signature'");
}
END_TEST

START_TEST(null_fn_removes_the_name)
{
    define(s, "rm.f", "i()", FN(h_one), NULL);
    define(s, "rm.g", "i()", FN(h_two), NULL);
    define(s, "solo", "i()", FN(h_three), NULL);
    tu_expect(s, "import rm\nrm.f(), rm.g(), solo()", "(1, 2, 3)");
    ck_assert_int_eq(aa_define(s, "rm.f", "i()", NULL, NULL), AA_OK);
    ck_assert_int_eq(aa_define(s, "solo", "i()", NULL, NULL), AA_OK);
    tu_expect(s, "import rm\nhasattr(rm, 'f'), rm.g(), 'solo' in globals()",
              "(False, 2, False)");
    expect_error(s, "from rm import f", "ImportError", "f", NULL);
    /* Gone: removing again, or what was never there, is not found. */
    ck_assert_int_eq(aa_define(s, "rm.f", "i()", NULL, NULL), AA_ENOTFOUND);
    ck_assert_int_eq(aa_define(s, "never.defined", "i()", NULL, NULL),
                     AA_ENOTFOUND);
    /* host.add is the session's, not the process's. */
    ck_assert_int_eq(aa_define(NULL, "host.add", "i(ii)", NULL, NULL),
                     AA_ENOTFOUND);
    still_usable(s);
}
END_TEST

/* ------------------------------------------------- scopes and sessions */

START_TEST(global_definition_before_any_session_reaches_them)
{
    aa_session *a, *b;

    define(NULL, "gmod.v", "i()", FN(h_one), NULL);
    define(NULL, "gsolo", "i()", FN(h_two), NULL);
    a = tu_session(NULL);
    b = tu_session(NULL);
    tu_expect(a, "import gmod\ngmod.v(), gsolo()", "(1, 2)");
    tu_expect(b, "from gmod import v\nv(), gsolo()", "(1, 2)");
    aa_session_free(a);
    aa_session_free(b);
    ck_assert_int_eq(aa_define(NULL, "gmod.v", "i()", NULL, NULL), AA_OK);
    ck_assert_int_eq(aa_define(NULL, "gsolo", "i()", NULL, NULL), AA_OK);
}
END_TEST

START_TEST(global_definition_while_sessions_exist_reaches_them)
{
    aa_session *a = tu_session(NULL), *b;

    tu_expect(a, "1", "1");
    define(NULL, "gmod.w", "i()", FN(h_three), NULL);
    define(NULL, "gsolo", "i()", FN(h_two), NULL);
    tu_expect(a, "import gmod\ngmod.w(), gsolo()", "(3, 2)");
    b = tu_session(NULL);
    tu_expect(b, "import gmod\ngmod.w(), gsolo()", "(3, 2)");
    /* Removed process-wide, it is gone from both. */
    ck_assert_int_eq(aa_define(NULL, "gmod.w", "i()", NULL, NULL), AA_OK);
    tu_expect(a, "import gmod\nhasattr(gmod, 'w')", "False");
    tu_expect(b, "import gmod\nhasattr(gmod, 'w')", "False");
    aa_session_free(a);
    aa_session_free(b);
}
END_TEST

START_TEST(session_definition_hides_the_global_one)
{
    aa_session *a, *b;

    define(NULL, "scoped.v", "i()", FN(h_one), NULL);
    a = tu_session(NULL);
    b = tu_session(NULL);
    define(a, "scoped.v", "i()", FN(h_two), NULL);
    tu_expect(a, "import scoped\nscoped.v()", "2");
    tu_expect(b, "import scoped\nscoped.v()", "1");
    /* Removing the session's shows the global one again. */
    ck_assert_int_eq(aa_define(a, "scoped.v", "i()", NULL, NULL), AA_OK);
    tu_expect(a, "import scoped\nscoped.v()", "1");
    aa_session_free(a);
    aa_session_free(b);
    ck_assert_int_eq(aa_define(NULL, "scoped.v", "i()", NULL, NULL), AA_OK);
}
END_TEST

START_TEST(two_sessions_each_see_their_own_module)
{
    aa_session *a = tu_session(NULL), *b = tu_session(NULL);
    int i;

    define(a, "host.x", "i()", FN(h_one), NULL);
    define(b, "host.x", "i()", FN(h_two), NULL);
    for (i = 0; i < 2; i++) {
        tu_expect(a, "import host\nhost.x()", "1");
        tu_expect(b, "import host\nhost.x()", "2");
        tu_expect(a, "from host import x\nx()", "1");
        tu_expect(b, "from host import x\nx()", "2");
    }
    aa_session_free(a);
    aa_session_free(b);
}
END_TEST

/* ------------------------------------------------------------ imports */

START_TEST(functions_import_like_modules)
{
    define(s, "pkg.sub.f", "i()", FN(h_one), NULL);
    define(s, "twice", "i(i)", FN(h_twice), NULL);
    tu_expect(s, "import host\nhost.add(1, 2)", "3");
    tu_expect(s, "from host import add\nadd(2, 2)", "4");
    tu_expect(s, "import pkg.sub\npkg.sub.f()", "1");
    tu_expect(s, "from pkg.sub import f\nf()", "1");
    tu_expect(s, "from pkg import sub\nsub.f()", "1");
    tu_expect(s, "import importlib\nimportlib.import_module('pkg.sub').f()",
              "1");
    tu_expect(s, "twice(4)", "8");
    /* Defined after the import, it is in the module the cell holds. */
    define(s, "host.late", "i()", FN(h_three), NULL);
    tu_expect(s, "host.late()", "3");
}
END_TEST

START_TEST(host_functions_describe_themselves)
{
    tu_expect(s,
              "import autoawait\ntype(host.add) is autoawait.HostFunction, "
              "repr(host.add), host.add.__name__, host.add.__module__, "
              "host.add.__doc__.splitlines()[0]",
              "(True, '<host function host.add i(ii)>', 'add', 'host', "
              "'add(int, int) -> int')");
}
END_TEST

/* -------------------------------------------- async: values and errors */

/* Host futures under the session's runner, whatever it is. */
static void async_basics(aa_session *in)
{
    aa_result *r = tu_run(in, "await host.now(5)", AA_OK);

    ck_assert_str_eq(aa_result_repr(r), "5");
    ck_assert_int_eq(aa_result_is_async(r), 1);
    aa_result_free(r);
    ck_assert_int_eq(hs.second_rc, AA_ENOTFOUND);
    tu_expect(in, "f = host.later(20, 7)\ntype(f).__name__", "'HostFuture'");
    tu_expect(in, "await f, await f, f.done()", "(7, 7, True)");
    expect_message(in, "await host.reject_later(20, 'TimeoutError', 'slow')",
                   "TimeoutError", "slow");
    expect_message(in, "await host.reject_later(0, '', 'no class')",
                   "RuntimeError", "no class");
    expect_message(in, "await host.reject_later(0, 'NoSuchError', 'what')",
                   "RuntimeError", "what");
    tu_expect(in,
              "f = host.reject_later(0, 'KeyError', 'k')\nout = []\n"
              "for _ in range(2):\n    try:\n        await f\n"
              "    except KeyError as e:\n        out.append(repr(e))\nout",
              "[\"KeyError('k')\", \"KeyError('k')\"]");
    jobs_join();
    ck_assert_int_eq(hs.jobs[0].rc, AA_OK);
    ck_assert_int_eq(hs.cancels, 0);
}

START_TEST(asyncio_awaits_host_futures)
{
    async_basics(s);
}
END_TEST

START_TEST(resolve_with_every_value_code)
{
    int i;

    tu_expect(s,
              "vals = []\nfor i in range(15):\n"
              "    vals.append(await host.typed(i))\nvals",
              "[None, True, -7, 4000000000, -9000000000000000000, "
              "18000000000000000000, 12345, 2.5, 0.25, 'h\xc3\xa9llo', "
              "'malloced', b'ab\\x00c', b'dup', {'a': [1, 2]}, "
              "[True, None]]");
    tu_expect(s,
              "import autoawait\np = await host.typed(15)\n"
              "isinstance(p, autoawait.Pointer), host.pis(p)",
              "(True, 1)");
    for (i = 0; i < 16; i++)
        ck_assert_msg(hs.typed_rc[i] == AA_OK, "resolve %d: %s", i,
                      aa_strerror(hs.typed_rc[i]));
}
END_TEST

START_TEST(bad_text_resolved_raises_at_the_await)
{
    int i;

    expect_error(s, "await host.bad_text(0)", "ValueError", "host.bad_text()",
                 "UTF-8");
    expect_error(s, "await host.bad_text(1)", "ValueError", "host.bad_text()",
                 "JSON");
    expect_error(s, "await host.bad_text(2)", "ValueError", "host.bad_text()",
                 "UTF-8");
    expect_error(s, "await host.bad_text(3)", "ValueError", "host.bad_text()",
                 "JSON");
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(hs.bad_text_rc[i], AA_OK);
}
END_TEST

START_TEST(unknown_type_code_rejects_with_value_error)
{
    static const char *const codes[] = {"q", "F", "u", "ii"};
    size_t i;

    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char src[64];

        hs.code_rc = 0;
        snprintf(src, sizeof src, "await host.resolve_as('%s')", codes[i]);
        expect_error(s, src, "ValueError", codes[i], NULL);
        ck_assert_msg(hs.code_rc == AA_EINVAL, "code %s: %s", codes[i],
                      aa_strerror(hs.code_rc));
    }
}
END_TEST

START_TEST(finished_futures_answer_not_found)
{
    aa_future *f;

    tu_expect(s, "await host.later(10, 1)", "1");
    jobs_join();
    f = hs.jobs[0].f;
    ck_assert_int_eq(hs.jobs[0].rc, AA_OK);
    ck_assert_int_eq(aa_future_state(f), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_resolve(f, "i", 2), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_reject(f, "KeyError", "x"), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_on_cancel(f, on_cancel, NULL), AA_ENOTFOUND);
    /* A finished future dropped is no cancel. */
    tu_do(s, "f = host.now(1)\ndel f", AA_OK);
    tu_do(s, "f = host.later(0, 2)", AA_OK);
    jobs_join();
    tu_do(s, "del f", AA_OK);
    ck_assert_int_eq(hs.cancels, 0);
}
END_TEST

START_TEST(raise_in_an_async_function_cancels_its_future)
{
    expect_message(s, "host.raise_async()", "ValueError", "refused");
    ck_assert_ptr_nonnull(hs.pending);
    ck_assert_int_eq(aa_future_state(hs.pending), AA_ECANCELLED);
    ck_assert_int_eq(aa_future_resolve(hs.pending, "i", 1), AA_ECANCELLED);
}
END_TEST

START_TEST(asyncio_gathers_host_futures)
{
    tu_expect(s,
              "import asyncio\nawait asyncio.gather(host.later(30, 1), "
              "host.later(10, 2), host.now(3))",
              "[1, 2, 3]");
}
END_TEST

/* Two tasks awaiting one future each get its value; when one of them is
 * cancelled, the future is (as an asyncio Future awaited by two tasks),
 * and the other ends with a RuntimeError rather than waiting forever. */
static void two_tasks_share_a_future(aa_session *in, const char *library)
{
    char src[512];

    if (strcmp(library, "asyncio") == 0) {
        tu_expect(in,
                  "import asyncio\nf = host.later(30, 7)\n"
                  "async def one():\n    return await f\n"
                  "await asyncio.gather(one(), one())",
                  "[7, 7]");
        tu_expect(in,
                  "f = host.wait()\nasync def one():\n    return await f\n"
                  "t1 = asyncio.ensure_future(one())\n"
                  "t2 = asyncio.ensure_future(one())\n"
                  "await asyncio.sleep(0.02)\nt1.cancel()\n"
                  "try:\n    await t2\nexcept RuntimeError as e:\n"
                  "    out = str(e)\nout",
                  "'host.wait(): awaiting it was cancelled before the host "
                  "finished it'");
        return;
    }
    snprintf(src, sizeof src,
             "import %s\nf = host.later(30, 8)\nout = []\n"
             "async def one():\n    out.append(await f)\n"
             "async with %s as n:\n"
             "    await n.spawn(one) if %d else n.start_soon(one)\n"
             "    await n.spawn(one) if %d else n.start_soon(one)\n"
             "out",
             library,
             strcmp(library, "trio") == 0 ? "trio.open_nursery()"
                                          : "curio.TaskGroup()",
             strcmp(library, "curio") == 0, strcmp(library, "curio") == 0);
    tu_expect(in, src, "[8, 8]");
}

/* Awaiting uses nothing a cell can rebind: a cell that replaced os.close
 * (as the fuzz jail does) still awaits host futures. */
START_TEST(awaiting_survives_a_rebound_os_close)
{
    tu_do(s, "import os\nreal_close = os.close\nos.close = lambda fd: 1 / 0",
          AA_OK);
    tu_expect(s, "await host.later(20, 4)", "4");
    tu_expect(s, "await host.later(10, 5)", "5");
    tu_do(s, "os.close = real_close", AA_OK);
}
END_TEST

START_TEST(two_tasks_await_one_future)
{
    two_tasks_share_a_future(s, "asyncio");
    ck_assert_int_eq(hs.cancels, 1);
    if (!trio_missing()) {
        ck_assert_int_eq(aa_session_set_runner(s, "trio"), AA_OK);
        two_tasks_share_a_future(s, "trio");
    }
    if (!curio_missing()) {
        ck_assert_int_eq(aa_session_set_runner(s, "curio"), AA_OK);
        two_tasks_share_a_future(s, "curio");
    }
}
END_TEST

/* ------------------------------------------------------- cancellation */

START_TEST(interrupt_cancels_the_await)
{
    pthread_t t;
    aa_result *r;

    ck_assert_int_eq(pthread_create(&t, NULL, interrupt_when_pending, s), 0);
    r = tu_run(s, "try:\n    await host.wait()\nfinally:\n    print('finally')",
               AA_EXCEPTION);
    pthread_join(t, NULL);
    ck_assert_str_eq(aa_result_exception(r), "KeyboardInterrupt");
    ck_assert_str_eq(tu_stdout(), "finally\n");
    aa_result_free(r);
    expect_cancelled(hs.pending);
    tu_expect(s, "await host.later(20, 3)", "3");
}
END_TEST

START_TEST(wait_for_timeout_cancels_the_await)
{
    tu_expect(s,
              "import asyncio\ntry:\n"
              "    await asyncio.wait_for(host.wait(), 0.05)\n"
              "except asyncio.TimeoutError:\n    r = 'timed out'\nr",
              "'timed out'");
    expect_cancelled(hs.pending);
}
END_TEST

START_TEST(a_dropped_future_is_cancelled)
{
    tu_do(s, "f = host.wait()\ndel f", AA_OK);
    expect_cancelled(hs.pending);
    /* The callback may finish the future itself. */
    hs.finish_in_cancel = 1;
    hs.cancels = 0;
    tu_do(s, "host.wait()\n1", AA_OK);
    ck_assert_int_eq(hs.cancels, 1);
    ck_assert_int_eq(hs.finish_rc, AA_ECANCELLED);
    ck_assert_int_eq(aa_future_state(hs.pending), AA_ENOTFOUND);
}
END_TEST

START_TEST(session_free_cancels_pending_futures)
{
    aa_future *f;

    tu_do(s, "f = host.wait()", AA_OK);
    f = hs.pending;
    ck_assert_int_eq(aa_future_state(f), AA_OK);
    aa_session_free(s);
    s = NULL;
    ck_assert_int_eq(hs.cancels, 1);
    ck_assert(pthread_equal(hs.cancel_thread, pthread_self()));
    ck_assert_int_eq(aa_future_state(f), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_resolve(f, "i", 1), AA_ENOTFOUND);
    ck_assert_int_eq(aa_future_reject(f, "KeyError", "x"), AA_ENOTFOUND);
}
END_TEST

/* ------------------------------------------- the session as a guest */

typedef struct {
    int calls, status;
    aa_result *r;
} done_box;

static void on_done(void *userdata, aa_session *in, int status, aa_result *r)
{
    done_box *d = userdata;

    (void)in;
    if (d->calls++ > 0)
        aa_result_free(d->r);
    d->status = status;
    d->r = r;
}

/* Starts src and dispatches until host.wait() has its future and the
 * session's fd is quiet. */
static void start_waiting(aa_session *in, const char *src, done_box *d)
{
    struct pollfd p = {aa_session_fd(in), POLLIN, 0};
    double end = tu_now() + 10 * tu_scale();

    ck_assert_int_eq(aa_exec_start(in, src, strlen(src), on_done, d), AA_OK);
    while (hs.pending == NULL || aa_session_timeout(in) == 0 ||
           poll(&p, 1, 0) != 0) {
        int timeout = aa_session_timeout(in);

        ck_assert_msg(d->calls == 0, "the cell ended: %s",
                      aa_result_message(d->r) ? aa_result_message(d->r) : "");
        ck_assert_msg(tu_now() < end, "the session never went quiet");
        ck_assert_int_ge(
            poll(&p, 1, timeout < 0 || timeout > 50 ? 50 : timeout), 0);
        ck_assert_int_eq(aa_session_dispatch(in), AA_OK);
    }
}

/* Waits for the session's fd to wake, then dispatches until the cell ends
 * with the displayed value repr. */
static void finish_waiting(aa_session *in, done_box *d, const char *repr)
{
    struct pollfd p = {aa_session_fd(in), POLLIN, 0};
    double end = tu_now() + 10 * tu_scale();

    ck_assert_msg(poll(&p, 1, (int)(5000 * tu_scale())) == 1,
                  "the session's fd did not wake");
    while (d->calls == 0) {
        int timeout = aa_session_timeout(in);

        ck_assert_msg(tu_now() < end, "the cell did not end");
        ck_assert_int_eq(aa_session_dispatch(in), AA_OK);
        ck_assert_int_ge(
            poll(&p, 1, timeout < 0 || timeout > 50 ? 50 : timeout), 0);
    }
    ck_assert_int_eq(d->calls, 1);
    ck_assert_msg(d->status == AA_OK, "status %d: %s", d->status,
                  aa_result_message(d->r) ? aa_result_message(d->r) : "");
    ck_assert_str_eq(aa_result_repr(d->r) ? aa_result_repr(d->r) : "(none)",
                     repr);
    aa_result_free(d->r);
}

START_TEST(guest_resolve_from_the_hosts_loop)
{
    done_box d = {0};

    start_waiting(s, "v = await host.wait()\nv + '!'", &d);
    ck_assert_int_eq(aa_future_resolve(hs.pending, "s", "tick"), AA_OK);
    finish_waiting(s, &d, "'tick!'");
}
END_TEST

static void *resolve_soon(void *f)
{
    tu_sleep_ms(20);
    aa_future_resolve(f, "i", 21);
    return NULL;
}

START_TEST(guest_fd_wakes_on_resolve_from_a_thread)
{
    done_box d = {0};
    pthread_t t;

    start_waiting(s, "v = await host.wait()\nv * 2", &d);
    ck_assert_int_eq(pthread_create(&t, NULL, resolve_soon, hs.pending), 0);
    finish_waiting(s, &d, "42");
    pthread_join(t, NULL);
}
END_TEST

START_TEST(guest_session_free_cancels_the_waiting_cell)
{
    done_box d = {0};
    aa_future *f;

    start_waiting(s, "await host.wait()", &d);
    f = hs.pending;
    aa_session_free(s);
    s = NULL;
    ck_assert_int_eq(d.calls, 1);
    aa_result_free(d.r);
    ck_assert_int_eq(hs.cancels, 1);
    ck_assert_int_eq(aa_future_resolve(f, "i", 1), AA_ENOTFOUND);
}
END_TEST

/* -------------------------------------------------- other runners */

START_TEST(trio_awaits_host_futures)
{
    if (trio_missing())
        return;
    ck_assert_int_eq(aa_session_set_runner(s, "trio"), AA_OK);
    async_basics(s);
    tu_expect(s,
              "import trio\nres = {}\nasync def one(k, f):\n"
              "    res[k] = await f\n"
              "async with trio.open_nursery() as n:\n"
              "    n.start_soon(one, 'a', host.later(30, 1))\n"
              "    n.start_soon(one, 'b', host.later(10, 2))\n"
              "    n.start_soon(one, 'c', host.now(3))\n"
              "sorted(res.items())",
              "[('a', 1), ('b', 2), ('c', 3)]");
}
END_TEST

START_TEST(trio_move_on_after_cancels_the_await)
{
    if (trio_missing())
        return;
    tu_do(s, "%autoawait trio", AA_OK);
    tu_expect(s,
              "import trio\nwith trio.move_on_after(0.05) as scope:\n"
              "    await host.wait()\nscope.cancelled_caught",
              "True");
    expect_cancelled(hs.pending);
    tu_expect(s, "await host.later(20, 4)", "4");
}
END_TEST

START_TEST(curio_awaits_host_futures)
{
    if (curio_missing())
        return;
    ck_assert_int_eq(aa_session_set_runner(s, "curio"), AA_OK);
    async_basics(s);
}
END_TEST

START_TEST(curio_timeout_cancels_the_await)
{
    if (curio_missing())
        return;
    ck_assert_int_eq(aa_session_set_runner(s, "curio"), AA_OK);
    tu_expect(s,
              "import curio\ntry:\n"
              "    async with curio.timeout_after(0.05):\n"
              "        await host.wait()\n"
              "except curio.TaskTimeout:\n    r = 'timed out'\nr",
              "'timed out'");
    expect_cancelled(hs.pending);
}
END_TEST

START_TEST(asyncio_run_callable_awaits_host_futures)
{
    tu_do(s,
          "import asyncio, autoawait\n"
          "autoawait.register_runner('arun', asyncio.run)",
          AA_OK);
    ck_assert_int_eq(aa_session_set_runner(s, "arun"), AA_OK);
    async_basics(s);
}
END_TEST

START_TEST(trio_run_callable_awaits_host_futures)
{
    /* trio.run fails with TypeError when Python saw SIGINT's handler as
     * not its own when `signal` was first imported, and this test process
     * inherits Check's: before the interpreter starts, give it the default
     * one, as a host that leaves SIGINT alone has. */
    signal(SIGINT, SIG_DFL);
    if (trio_missing())
        return;
    memset(&hs, 0, sizeof hs);
    s = tu_session(NULL);
    define_host(s);
    tu_do(s,
          "import host, trio, autoawait\ndef trun(coro):\n"
          "    async def main():\n        return await coro\n"
          "    return trio.run(main)\n"
          "autoawait.register_runner('trun', trun)",
          AA_OK);
    ck_assert_int_eq(aa_session_set_runner(s, "trun"), AA_OK);
    async_basics(s);
    teardown();
}
END_TEST

START_TEST(a_future_resolved_at_once_never_suspends)
{
    tu_do(s,
          "def once(coro):\n    try:\n        coro.send(None)\n"
          "    except StopIteration as e:\n        return e.value\n"
          "    coro.close()\n    raise RuntimeError('the cell suspended')",
          AA_OK);
    tu_do(s, "%autoawait once", AA_OK);
    tu_expect(s, "await host.now(5)", "5");
    /* The driver does see a cell that waits; it abandons the future. */
    expect_message(s, "await host.wait()", "RuntimeError",
                   "the cell suspended");
    ck_assert_int_eq(hs.cancels, 1);
}
END_TEST

/* Resolves host.wait()'s future with 9 once host.bump() was called: only
 * after the driver saw the future, however slow the run. */
static void *resolve_after_bump(void *unused)
{
    aa_future *f = await_pending(10);
    double end = tu_now() + 10 * tu_scale();

    struct timespec ms = {0, 1000000};

    (void)unused;
    while (hs.bumps == 0 && tu_now() < end)
        nanosleep(&ms, NULL);
    hs.finish_rc = aa_future_resolve(f, "i", 9);
    return NULL;
}

START_TEST(a_hand_written_driver_waits_on_fileno)
{
    pthread_t t;

    tu_do(s,
          "import select\nseen = []\ndef drive(coro):\n    while True:\n"
          "        try:\n            y = coro.send(None)\n"
          "        except StopIteration as e:\n            return e.value\n"
          "        seen.append((type(y).__name__, y.done()))\n"
          "        host.bump()\n"
          "        r, _, _ = select.select([y.fileno()], [], [], 10)\n"
          "        if not r:\n            coro.close()\n"
          "            raise TimeoutError('fileno never became readable')\n"
          "        seen.append(y.done())",
          AA_OK);
    tu_do(s, "%autoawait drive", AA_OK);
    ck_assert_int_eq(pthread_create(&t, NULL, resolve_after_bump, NULL), 0);
    tu_expect(s, "await host.wait()", "9");
    pthread_join(t, NULL);
    ck_assert_int_eq(hs.finish_rc, AA_OK);
    tu_expect(s, "seen", "[('HostFuture', False), True]");
}
END_TEST

static Suite *host_suite(void)
{
    Suite *suite = suite_create("host");
    TCase *tc = tcase_create("host"), *bare = tcase_create("no fixture");

    tcase_set_timeout(tc, 60);
    tcase_set_timeout(bare, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(bare, NULL, tu_clear);
    suite_add_tcase(suite, tc);
    suite_add_tcase(suite, bare);
    tcase_add_test(tc, integers_round_trip_in_range);
    tcase_add_test(tc, integers_out_of_range_are_overflow_errors);
    tcase_add_test(tc, floats_bools_and_void);
    tcase_add_test(tc, arguments_keep_their_places_in_and_beyond_registers);
    tcase_add_test(tc, strings_round_trip_and_null_is_none);
    tcase_add_test(tc, bytes_take_any_bytes_like_object);
    tcase_add_test(tc, json_round_trips_structures);
    tcase_add_test(tc, pointers_round_trip_and_none_is_null);
    tcase_add_test(tc, userdata_reaches_fn_and_takes_no_argument);
    tcase_add_test(tc, wrong_calls_are_type_errors_naming_the_function);
    tcase_add_test(tc, bad_strings_in_are_value_errors);
    tcase_add_test(tc, bad_text_returned_is_a_value_error);
    tcase_add_test(tc, unserializable_json_argument_names_it);
    tcase_add_test(tc, raise_inside_fn_raises_in_the_cell);
    tcase_add_test(tc, raise_outside_a_host_function_is_einval);
    tcase_add_test(bare, raise_outside_before_any_session_is_einval);
    tcase_add_test(tc, bad_definitions_are_refused_naming_the_fault);
    tcase_add_test(bare, bad_global_definitions_are_refused_in_aa_errmsg);
    tcase_add_test(tc, a_name_cannot_be_a_function_and_a_module);
    tcase_add_test(tc, define_inside_a_host_function);
    tcase_add_test(tc, redefinition_replaces_and_kept_objects_stay);
    tcase_add_test(tc, null_fn_removes_the_name);
    tcase_add_test(bare, global_definition_before_any_session_reaches_them);
    tcase_add_test(bare, global_definition_while_sessions_exist_reaches_them);
    tcase_add_test(bare, session_definition_hides_the_global_one);
    tcase_add_test(bare, two_sessions_each_see_their_own_module);
    tcase_add_test(tc, functions_import_like_modules);
    tcase_add_test(tc, host_functions_describe_themselves);
    tcase_add_test(tc, asyncio_awaits_host_futures);
    tcase_add_test(tc, resolve_with_every_value_code);
    tcase_add_test(tc, bad_text_resolved_raises_at_the_await);
    tcase_add_test(tc, unknown_type_code_rejects_with_value_error);
    tcase_add_test(tc, finished_futures_answer_not_found);
    tcase_add_test(tc, raise_in_an_async_function_cancels_its_future);
    tcase_add_test(tc, asyncio_gathers_host_futures);
    tcase_add_test(tc, two_tasks_await_one_future);
    tcase_add_test(tc, awaiting_survives_a_rebound_os_close);
    tcase_add_test(tc, interrupt_cancels_the_await);
    tcase_add_test(tc, wait_for_timeout_cancels_the_await);
    tcase_add_test(tc, a_dropped_future_is_cancelled);
    tcase_add_test(tc, session_free_cancels_pending_futures);
    tcase_add_test(tc, guest_resolve_from_the_hosts_loop);
    tcase_add_test(tc, guest_fd_wakes_on_resolve_from_a_thread);
    tcase_add_test(tc, guest_session_free_cancels_the_waiting_cell);
    tcase_add_test(tc, trio_awaits_host_futures);
    tcase_add_test(tc, trio_move_on_after_cancels_the_await);
    tcase_add_test(tc, curio_awaits_host_futures);
    tcase_add_test(tc, curio_timeout_cancels_the_await);
    tcase_add_test(tc, asyncio_run_callable_awaits_host_futures);
    tcase_add_test(bare, trio_run_callable_awaits_host_futures);
    tcase_add_test(tc, a_future_resolved_at_once_never_suspends);
    tcase_add_test(tc, a_hand_written_driver_waits_on_fileno);
    return suite;
}

int main(void)
{
    return tu_main(host_suite());
}
