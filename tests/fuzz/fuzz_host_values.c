/*
 * fuzz_host_values.c -- the values fuzz_host's functions hand to the
 * library, and the memory they hand over with them.
 *
 * Values: each return or resolve is drawn from the input with the
 * outcome the cell must show for it, in host_helper.py's normal form:
 * integers at their edges, every kind of double, text that is UTF-8 and
 * text that is not, JSON texts that parse (with the form json.dumps gives
 * them back) and ones that do not, NULL.  Memory: S, Y and J hand over
 * malloc'ed memory that the library must free; ASan's free hook marks
 * each such block when it is freed, and the target checks that none is
 * left.  Exception names, built-in and not, for aa_raise and
 * aa_future_reject, are here too.
 */
#include "fuzz_host.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoawait/autoawait.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_HAVE_ASAN 1
#include <sanitizer/allocator_interface.h>
#endif
#endif

/* --------------------------------------------------------------- memory */

#define NTRACK 64

static struct {
    _Atomic(uintptr_t) p;
    atomic_int freed;
} tracked[NTRACK];
static atomic_int tracking; /* how many slots are in use */

#ifdef FZ_HAVE_ASAN
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
}

/* Runs before every free of the process, on any thread. */
static void on_free(const volatile void *p)
{
    int i;

    if (atomic_load(&tracking) == 0 || p == NULL)
        return;
    for (i = 0; i < NTRACK; i++) {
        if (atomic_load(&tracked[i].p) == (uintptr_t)p)
            atomic_store(&tracked[i].freed, 1);
    }
}
#endif

void fz_track_init(void)
{
#ifdef FZ_HAVE_ASAN
    if (__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) == 0)
        fz_fail("cannot install the free hook");
#endif
}

void *fz_track_copy(const void *data, size_t len, int nul)
{
    char *p = malloc(len + (nul ? 1 : 0) + 1);
    int i, slot = -1;

    if (p == NULL)
        fz_fail("out of memory");
    if (len > 0)
        memcpy(p, data, len);
    if (nul)
        p[len] = '\0';
#ifdef FZ_HAVE_ASAN
    for (i = 0; i < NTRACK && slot < 0; i++) {
        if (atomic_load(&tracked[i].p) == (uintptr_t)p ||
            atomic_load(&tracked[i].p) == 0)
            slot = i;
    }
    if (slot < 0)
        fz_fail("more than %d blocks handed over at once", NTRACK);
    atomic_store(&tracked[slot].freed, 0);
    atomic_store(&tracked[slot].p, (uintptr_t)p);
    atomic_fetch_add(&tracking, 1);
#else
    (void)i;
    (void)slot;
#endif
    return p;
}

/* 1 when p, handed over, has been freed since (or is not tracked). */
int fz_track_freed(const void *p)
{
    int i;

    for (i = 0; i < NTRACK; i++) {
        if (atomic_load(&tracked[i].p) == (uintptr_t)p)
            return atomic_load(&tracked[i].freed);
    }
    return 1;
}

int fz_track_pending(void)
{
    int i, n = 0;

    for (i = 0; i < NTRACK; i++) {
        if (atomic_load(&tracked[i].p) != 0 && !atomic_load(&tracked[i].freed))
            n++;
    }
    return n;
}

void fz_track_reset(void)
{
    int i;

    for (i = 0; i < NTRACK; i++) {
        atomic_store(&tracked[i].p, 0);
        atomic_store(&tracked[i].freed, 0);
    }
    atomic_store(&tracking, 0);
}

/* --------------------------------------------------------------- values */

/* JSON texts, with json.dumps(json.loads(text), sort_keys=True), or NULL
 * for text that is no JSON; "*" when either may happen. */
static const struct {
    const char *text, *canon;
} json_table[] = {
    {"{\"b\": [1, 2.5, null, true, false], \"a\": \"x\"}",
     "{\"a\": \"x\", \"b\": [1, 2.5, null, true, false]}"},
    {"[]", "[]"},
    {"{}", "{}"},
    {" [1 , 2 ]\n", "[1, 2]"},
    {"123", "123"},
    {"-0.0", "-0.0"},
    {"1e400", "Infinity"},
    {"NaN", "NaN"},
    {"null", "null"},
    {"true", "true"},
    {"\"\\u00e9\\ud83d\\ude00\"", "\"\\u00e9\\ud83d\\ude00\""},
    {"\"caf\xc3\xa9\"", "\"caf\\u00e9\""},
    {"\"\\ud800\"", "\"\\ud800\""},
    {"{\"a\":1,\"a\":2}", "{\"a\": 2}"},
    {"12345678901234567890123", "12345678901234567890123"},
    {"", NULL},
    {"{", NULL},
    {"[1,]", NULL},
    {"nul", NULL},
    {"\"abc", NULL},
    {"{\"a\" 1}", NULL},
    {"1 2", NULL},
    {"[1] x", NULL},
    {"{'a': 1}", NULL},
    {"\"\xff\"", NULL},
    {"\"\xed\xa0\x80\"", NULL},
    {"[\"\xc3\"]", NULL},
};
#define NJSON (sizeof json_table / sizeof *json_table)

/* Text for s and S: valid UTF-8 and not. */
static const char *const text_table[] = {
    "",
    "hello",
    "caf\xc3\xa9",
    "\xe4\xb8\xad\xf0\x9f\x98\x80",
    "a\tb\nc",
    "\xff",
    "\xc3",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xc0\xaf",
    "ok\xe2\x82",
    "\xef\xbf\xbf",
};
#define NTEXT (sizeof text_table / sizeof *text_table)

/* A JSON text nested deeper than any parser's recursion. */
static char deep_json[40001];

static void hex(char *out, size_t size, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n && 2 * i + 2 < size; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * i] = '\0';
}

static void double_expect(char *out, size_t size, double d)
{
    uint8_t b[8];
    char h[17];

    if (isnan(d)) {
        snprintf(out, size, "ok:nan");
        return;
    }
    memcpy(b, &d, 8); /* host_helper.py packs '<d': little endian */
    hex(h, sizeof h, b, 8);
    snprintf(out, size, "ok:float:%s", h);
}

static double draw_double(fz_in *in)
{
    static const double specials[] = {0.0,    -0.0,         1.5,  -2.25, 1e308,
                                      5e-324, 3.4028235e38, 1e39, 0.1};
    uint64_t bits;
    double d;

    switch (fz_pick(in, 6)) {
    case 0:
        return INFINITY;
    case 1:
        return -INFINITY;
    case 2:
        return NAN;
    case 3:
        return specials[fz_pick(in, sizeof specials / sizeof *specials)];
    default:
        bits = fz_take(in, 8);
        memcpy(&d, &bits, 8);
        return d;
    }
}

static uint64_t draw_bits(fz_in *in)
{
    static const uint64_t specials[] = {
        0,          1,          UINT64_MAX, 0x7fffffff,
        0x80000000, 0xffffffff, INT64_MAX,  (uint64_t)INT64_MIN};

    if (fz_one_in(in, 3))
        return specials[fz_pick(in, sizeof specials / sizeof *specials)];
    return fz_take(in, 1 + (int)fz_pick(in, 8));
}

static void set_bytes(fz_value *v, const void *p, size_t n)
{
    if (n > sizeof v->buf - 1)
        n = sizeof v->buf - 1;
    memcpy(v->buf, p, n);
    v->buf[n] = '\0';
    v->len = n;
    v->ext = NULL;
}

const uint8_t *fz_value_data(const fz_value *v)
{
    return v->ext != NULL ? v->ext : v->buf;
}

static void text_expect(fz_value *v)
{
    const uint8_t *p = fz_value_data(v);
    char h[2 * sizeof v->buf + 1];

    if (v->null) {
        /* s: None; S: the table says nothing of NULL. */
        snprintf(v->expect, sizeof v->expect, v->code == 's' ? "ok:None" : "*");
    } else if (fz_utf8_valid((const char *)p, v->len)) {
        hex(h, sizeof h, p, v->len);
        snprintf(v->expect, sizeof v->expect, "ok:str:%s", h);
    } else {
        snprintf(v->expect, sizeof v->expect, "exc:ValueError:V:p");
    }
}

static void draw_text(fz_in *in, fz_value *v)
{
    const uint8_t *p;
    size_t n;

    switch (fz_pick(in, 8)) {
    case 0:
        v->null = 1;
        set_bytes(v, "", 0);
        break;
    case 1:
    case 2:
    case 3: {
        const char *t = text_table[fz_pick(in, NTEXT)];
        set_bytes(v, t, strlen(t));
        break;
    }
    default:
        p = fz_bytes(in, 48, &n);
        set_bytes(v, p, n);
        v->len = strlen((const char *)v->buf); /* C text ends at a NUL */
    }
    text_expect(v);
}

static void draw_json(fz_in *in, fz_value *v)
{
    unsigned k = fz_pick(in, NJSON + 3);
    const uint8_t *p;
    char h[2 * 200 + 1];
    size_t n;

    if (k < NJSON) {
        set_bytes(v, json_table[k].text, strlen(json_table[k].text));
        if (json_table[k].canon == NULL) {
            snprintf(v->expect, sizeof v->expect, "exc:ValueError:V:p");
        } else {
            hex(h, sizeof h, (const uint8_t *)json_table[k].canon,
                strlen(json_table[k].canon));
            snprintf(v->expect, sizeof v->expect, "ok:json:%s", h);
        }
    } else if (k == NJSON) {
        v->null = 1;
        set_bytes(v, "", 0);
        snprintf(v->expect, sizeof v->expect, "*");
    } else if (k == NJSON + 1) {
        /* Too deep for json.loads: a RecursionError, no crash. */
        if (deep_json[0] == '\0') {
            memset(deep_json, '[', 20000);
            memset(deep_json + 20000, ']', 20000);
        }
        v->ext = (const uint8_t *)deep_json;
        v->len = strlen(deep_json);
        snprintf(v->expect, sizeof v->expect, "*");
    } else {
        p = fz_bytes(in, 48, &n);
        set_bytes(v, p, n);
        v->len = strlen((const char *)v->buf);
        snprintf(v->expect, sizeof v->expect, "*");
    }
}

void fz_value_draw(fz_in *in, char code, fz_value *v)
{
    char h[2 * sizeof v->buf + 1];
    const uint8_t *p;
    size_t n;

    memset(v, 0, sizeof *v);
    v->code = code;
    switch (code) {
    case 'v':
        snprintf(v->expect, sizeof v->expect, "ok:None");
        break;
    case 'b':
        v->u = fz_pick(in, 2);
        snprintf(v->expect, sizeof v->expect, "ok:bool:%s",
                 v->u ? "True" : "False");
        break;
    case 'i':
        v->u = draw_bits(in);
        snprintf(v->expect, sizeof v->expect, "ok:int:%d", (int)(int32_t)v->u);
        break;
    case 'I':
        v->u = draw_bits(in);
        snprintf(v->expect, sizeof v->expect, "ok:int:%u", (unsigned)v->u);
        break;
    case 'l':
        v->u = draw_bits(in);
        snprintf(v->expect, sizeof v->expect, "ok:int:%lld",
                 (long long)(int64_t)v->u);
        break;
    case 'L':
    case 'z':
        v->u = draw_bits(in);
        snprintf(v->expect, sizeof v->expect, "ok:int:%llu",
                 (unsigned long long)v->u);
        break;
    case 'd':
        v->d = draw_double(in);
        double_expect(v->expect, sizeof v->expect, v->d);
        break;
    case 'f':
        /* A return is a C float; a resolve passes a double, which the
         * cell may get as it is or rounded to a float. */
        v->d = draw_double(in);
        double_expect(v->expect, sizeof v->expect, (double)(float)v->d);
        double_expect(v->expect2, sizeof v->expect2, v->d);
        break;
    case 's':
    case 'S':
        draw_text(in, v);
        break;
    case 'y':
    case 'Y':
        if (fz_one_in(in, 8)) {
            v->null = 1;
            snprintf(v->expect, sizeof v->expect,
                     code == 'y' ? "ok:None" : "*");
            break;
        }
        p = fz_bytes(in, 64, &n);
        set_bytes(v, p, n);
        hex(h, sizeof h, v->buf, v->len);
        snprintf(v->expect, sizeof v->expect, "ok:bytes:%s", h);
        break;
    case 'j':
    case 'J':
        draw_json(in, v);
        break;
    case 'p':
        v->u = fz_one_in(in, 4) ? 0 : draw_bits(in);
        if (v->u == 0)
            snprintf(v->expect, sizeof v->expect, "ok:None");
        else
            snprintf(v->expect, sizeof v->expect, "ok:ptr:%llu",
                     (unsigned long long)v->u);
        break;
    default:
        snprintf(v->expect, sizeof v->expect, "*");
    }
}

/* The pointer a value is handed over as: for S, Y and J a tracked copy. */
void *fz_value_pointer(const fz_value *v)
{
    if (v->null)
        return NULL;
    if (v->code == 'S' || v->code == 'J' || v->code == 'Y')
        return fz_track_copy(fz_value_data(v), v->len, v->code != 'Y');
    return (void *)fz_value_data(v);
}

/* ----------------------------------------------------- exception names */

/* Built-in classes derived from Exception, as their names are given, and
 * the class the cell gets ("" the name itself). */
static const struct {
    const char *name, *cls;
} exc_table[] = {
    {"ValueError", ""},
    {"KeyError", ""},
    {"TypeError", ""},
    {"TimeoutError", ""},
    {"RuntimeError", ""},
    {"Exception", ""},
    {"OSError", ""},
    {"IOError", "OSError"},
    {"EnvironmentError", "OSError"},
    {"ZeroDivisionError", ""},
    {"LookupError", ""},
    {"IndexError", ""},
    {"AttributeError", ""},
    {"NotImplementedError", ""},
    {"RecursionError", ""},
    {"FileNotFoundError", ""},
    {"ConnectionResetError", ""},
    {"AssertionError", ""},
    {"StopAsyncIteration", ""},
    {"UserWarning", ""},
    {"MemoryError", ""},
    {"SyntaxError", ""},
    {"UnicodeError", ""},
    {"OverflowError", ""},
    /* An await cannot raise StopIteration (PEP 479): what it gets instead
     * is the library's choice, a value is not. */
    {"StopIteration", "{StopIteration,RuntimeError,TypeError}"},
    /* Classes that want more than a message: no claim. */
    {"UnicodeDecodeError", "*"},
    {"ExceptionGroup", "*"},
    /* No built-in class derived from Exception: RuntimeError. */
    {"KeyboardInterrupt", "RuntimeError"},
    {"SystemExit", "RuntimeError"},
    {"GeneratorExit", "RuntimeError"},
    {"BaseException", "RuntimeError"},
    {"BaseExceptionGroup", "RuntimeError"},
    {"CancelledError", "RuntimeError"},
    {"object", "RuntimeError"},
    {"int", "RuntimeError"},
    {"print", "RuntimeError"},
    {"None", "RuntimeError"},
    {"valueerror", "RuntimeError"},
    {"ValueError ", "RuntimeError"},
    {"builtins.ValueError", "RuntimeError"},
    {"__import__", "RuntimeError"},
    {"ValueError\xff", "RuntimeError"},
    {"", "RuntimeError"},
};
#define NEXC (sizeof exc_table / sizeof *exc_table)

const char *fz_exc_name(fz_in *in, const char **expect)
{
    static char random_name[33];
    unsigned k = fz_pick(in, NEXC + 2);
    const uint8_t *p;
    size_t n;

    if (k < NEXC) {
        *expect = exc_table[k].cls[0] ? exc_table[k].cls : exc_table[k].name;
        return exc_table[k].name;
    }
    if (k == NEXC) {
        *expect = "RuntimeError";
        return NULL;
    }
    p = fz_bytes(in, 32, &n);
    memcpy(random_name, p, n);
    random_name[n] = '\0';
    *expect = "*";
    return random_name;
}

/* A message for it: text (UTF-8 or not), or NULL. */
const char *fz_message_draw(fz_in *in)
{
    static char msg[65];
    const uint8_t *p;
    size_t n;

    if (fz_one_in(in, 8))
        return NULL;
    p = fz_bytes(in, 64, &n);
    memcpy(msg, p, n);
    msg[n] = '\0';
    return msg;
}
