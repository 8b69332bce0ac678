/*
 * fuzz_host_args.c -- the arguments fuzz_host's cells pass: Python
 * expressions of every kind, each with what the call must do with it.
 *
 * For a code of the signature, an argument is a value of the right type
 * (fn must get exactly its C value), one out of the C type's range (an
 * OverflowError), one of a wrong type (a TypeError), a str with NUL or a
 * lone surrogate (a ValueError), or one the header leaves open (a bool or
 * an object with __index__ for an int, an int for a double, None for a
 * pointer to text, a str subclass): converted or refused, and if
 * converted, to its value.  Objects whose conversions raise, circular and
 * too deep containers for JSON, and non-contiguous buffers are there
 * for the error paths.  How a cell is put together is fuzz_host.c's
 * business.
 */
#include "fuzz_host.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

void fz_add(fz_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->p + b->n, b->size - b->n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->size - b->n)
        fz_fail("a cell of fuzz_host outgrew its buffer");
    b->n += (size_t)n;
}

static void reject(fz_arg *a, const char *kinds)
{
    a->how = A_REJECT;
    snprintf(a->kinds, sizeof a->kinds, "%s", kinds);
}

static void set_text(fz_arg *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->text, sizeof a->text, fmt, ap);
    va_end(ap);
}

static void i128_text(char *out, i128 v)
{
    u128 m = v < 0 ? -(u128)v : (u128)v;
    char tmp[48];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m != 0);
    if (v < 0)
        *out++ = '-';
    while (n > 0)
        *out++ = tmp[--n];
    *out = '\0';
}

/* Which kind of argument of a code: each *_arg numbers its kinds with the
 * ones that convert first, valid of them; a clean call takes those only. */
static unsigned kind(fz_in *in, int clean, unsigned valid, unsigned all)
{
    return fz_pick(in, clean ? valid : all);
}

/* Wrong types for every code but b and j, and what they raise. */
static const char *const wrong_types[] = {
    "'7'", "b'x'", "[1]", "{}", "{1}", "object()", "autoawait.Pointer",
};

static void int_arg(fz_in *in, char code, fz_arg *a, int clean)
{
    static const i128 one = 1;
    i128 lo, hi, v;
    char digits[48];
    int k;

    switch (code) {
    case 'i':
        lo = -(one << 31), hi = (one << 31) - 1;
        break;
    case 'I':
        lo = 0, hi = (one << 32) - 1;
        break;
    case 'l':
        lo = -(one << 63), hi = (one << 63) - 1;
        break;
    default: /* L z */
        lo = 0, hi = (one << 64) - 1;
    }
    k = (int)kind(in, clean, 12, 16);
    if (k < 4) {
        const i128 specials[] = {lo, hi, lo - 1,    hi + 1,       0,
                                 -1, 1,  one << 64, -(one << 64), (one << 100)};
        v = specials[fz_pick(in, 10)];
    } else if (k < 12) {
        /* Up to 15 bytes: 120 bits, far out of every range, and of
         * none of i128's. */
        int bytes = 1 + (int)fz_pick(in, 15);
        v = (i128)fz_take(in, bytes > 8 ? 8 : bytes);
        if (bytes > 8)
            v |= (i128)((u128)fz_take(in, bytes - 8) << 64);
        if (fz_one_in(in, 2))
            v = -v;
    } else if (k == 12) {
        set_text(a, "%s", wrong_types[fz_pick(in, 7)]);
        reject(a, "T");
        return;
    } else if (k == 13) {
        set_text(a, fz_one_in(in, 2) ? "1.0" : "float('nan')");
        reject(a, "T");
        return;
    } else if (k == 14) {
        set_text(a, "Bad()");
        reject(a, "*");
        return;
    } else {
        /* True, Idx(3), Int(3): converted or refused, 1 or 3 if at all. */
        unsigned w = fz_pick(in, 3);
        set_text(a, w == 0 ? "True" : w == 1 ? "Idx(3)" : "Int(3)");
        a->how = A_MAYBE;
        a->u = w == 0 ? 1 : 3;
        return;
    }
    if (clean && (v < lo || v > hi))
        v = lo + (i128)((u128)(v - lo) % (u128)(hi - lo + 1));
    i128_text(digits, v);
    set_text(a, "%s", digits);
    if (v < lo || v > hi) {
        reject(a, "O");
    } else {
        a->how = A_EXACT;
        a->u = (uint64_t)v;
    }
}

static void float_arg(fz_in *in, char code, fz_arg *a, int clean)
{
    uint64_t bits;
    double d;
    unsigned k = kind(in, clean, 8, 12);

    if (k < 8) {
        static const double specials[] = {0.0,    -0.0,         1.5,  1e308,
                                          5e-324, 3.4028235e38, 1e39, 0.1};
        if (k < 3) {
            d = k == 0 ? INFINITY : k == 1 ? -INFINITY : NAN;
        } else if (k < 5) {
            d = specials[fz_pick(in, 8)];
        } else {
            bits = fz_take(in, 8);
            memcpy(&d, &bits, 8);
        }
        set_text(a, "float.fromhex('%a')", d);
        a->d = d;
        /* A double out of a float's range: OverflowError or inf. */
        a->how = code == 'f' && isfinite(d) && fabs(d) > 3.4028234663852886e38
                     ? A_UNKNOWN
                     : A_EXACT;
    } else if (k == 8) {
        set_text(a, "%s", wrong_types[fz_pick(in, 7)]);
        reject(a, "T");
    } else if (k == 9) {
        set_text(a, "Bad()");
        reject(a, "*");
    } else if (k == 10) {
        /* An int: converted or refused; if converted, 7.0. */
        set_text(a, "7");
        a->how = A_MAYBE;
        a->d = 7.0;
    } else {
        set_text(a, "10**400");
        reject(a, "TO");
    }
}

/* Appends code point c to a Python literal and to its UTF-8 bytes. */
static void add_code_point(fz_arg *a, fz_buf *lit, uint32_t c, size_t *n)
{
    uint8_t *o = a->data + *n;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == ' ')
        fz_add(lit, "%c", (int)c);
    else
        fz_add(lit, "\\U%08x", (unsigned)c);
    if (*n + 4 > sizeof a->data - 1)
        return;
    if (c < 0x80) {
        o[0] = (uint8_t)c, *n += 1;
    } else if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | c >> 6), o[1] = (uint8_t)(0x80 | (c & 63));
        *n += 2;
    } else if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12);
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (c & 63));
        *n += 3;
    } else {
        o[0] = (uint8_t)(0xF0 | c >> 18);
        o[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
        o[2] = (uint8_t)(0x80 | ((c >> 6) & 63));
        o[3] = (uint8_t)(0x80 | (c & 63));
        *n += 4;
    }
}

/* A str literal from the input: ASCII, other planes, NUL and lone
 * surrogates; the target keeps its UTF-8 when it has one. */
static void str_literal(fz_in *in, fz_arg *a, int clean, int *nul,
                        int *surrogate)
{
    static const uint32_t chars[] = {'a',     'Z',    '0',      ' ',
                                     '\'',    '\\',   0xe9,     0x4e2d,
                                     0x1f600, 0xfffd, 0x10ffff, '\n'};
    char text[sizeof a->text - 16];
    fz_buf lit = {text, 0, sizeof text};
    size_t n = 0;
    unsigned i, len = fz_pick(in, 24);
    uint32_t c;

    *nul = *surrogate = 0;
    fz_add(&lit, "'");
    for (i = 0; i < len; i++) {
        unsigned k = clean ? 2 + fz_pick(in, 30) : fz_pick(in, 32);
        if (k == 0) {
            c = 0, *nul = 1;
        } else if (k == 1) {
            c = 0xD800 + (uint32_t)(fz_take(in, 2) % 0x800), *surrogate = 1;
        } else if (k < 10) {
            c = chars[fz_pick(in, 12)];
        } else {
            c = 0x20 + (uint32_t)(fz_take(in, 1) % 0x5f);
        }
        add_code_point(a, &lit, c, &n);
    }
    fz_add(&lit, "'");
    a->len = n;
    snprintf(a->text, sizeof a->text, "%s", text);
}

static void str_arg(fz_in *in, fz_arg *a, int clean)
{
    unsigned k = kind(in, clean, 8, 12);
    int nul, surrogate;

    if (k < 8) {
        str_literal(in, a, clean, &nul, &surrogate);
        if (nul || surrogate)
            reject(a, "V"); /* embedded null; UnicodeEncodeError */
        else
            a->how = A_EXACT;
    } else if (k == 8) {
        str_literal(in, a, clean, &nul, &surrogate);
        /* A str subclass: converted or refused, the same text if at all. */
        memmove(a->text + 4, a->text, strlen(a->text) + 1);
        memcpy(a->text, "Str(", 4);
        strcat(a->text, ")");
        a->how = nul || surrogate ? A_UNKNOWN : A_MAYBE;
    } else if (k == 9) {
        set_text(a, "None");
        a->how = A_MAYBE;
        a->null = 1;
    } else if (k == 10) {
        set_text(a, "%s", fz_one_in(in, 2) ? "b'x'" : "fzt.ptr(1)");
        reject(a, "T");
    } else {
        set_text(a, fz_one_in(in, 2) ? "7" : "Bad()");
        reject(a, a->text[0] == '7' ? "T" : "*");
    }
}

static void bytes_arg(fz_in *in, fz_arg *a, int clean)
{
    static const char *const wraps[] = {"%s", "bytearray(%s)",
                                        "memoryview(%s)"};
    char lit[3 + 4 * 64 + 2];
    fz_buf b = {lit, 0, sizeof lit};
    const uint8_t *p;
    size_t n, i;
    unsigned k = kind(in, clean, 7, 10);

    if (k < 7) {
        p = fz_bytes(in, 64, &n);
        fz_add(&b, "b'");
        for (i = 0; i < n; i++)
            fz_add(&b, "\\x%02x", p[i]);
        fz_add(&b, "'");
        memcpy(a->data, p, n);
        a->len = n;
        set_text(a, wraps[fz_pick(in, 3)], lit);
        a->how = A_EXACT;
    } else if (k == 7) {
        set_text(a, "None");
        a->how = A_MAYBE;
        a->null = 1;
    } else if (k == 8) {
        /* Not contiguous: converted or refused (BufferError). */
        set_text(a, "memoryview(b'abcdef')[::2]");
        a->how = A_UNKNOWN;
    } else {
        set_text(a, "%s", fz_one_in(in, 2) ? "'text'" : "7");
        reject(a, "T");
    }
}

static void json_arg(fz_in *in, fz_arg *a, int clean)
{
    static const struct {
        const char *expr, *json; /* json: the exact text fn gets */
        int how;
        const char *kinds;
    } table[] = {
        {"None", "null", A_EXACT, ""},
        {"True", "true", A_EXACT, ""},
        {"12345", "12345", A_EXACT, ""},
        {"-7", "-7", A_EXACT, ""},
        {"'t\\u00e9xt'", NULL, A_CALLED, ""},
        {"{'a': [1, 2.5, None], 'b': {'c': False}}", NULL, A_CALLED, ""},
        {"[1, 'x', [], {}]", NULL, A_CALLED, ""},
        {"(1, 2)", NULL, A_CALLED, ""},
        {"{1: 2}", NULL, A_CALLED, ""},
        {"{1, 2}", NULL, A_REJECT, "T"},
        {"b'x'", NULL, A_REJECT, "T"},
        {"{(1,): 2}", NULL, A_REJECT, "T"},
        {"object()", NULL, A_REJECT, "T"},
        {"fzt.ptr(5)", NULL, A_REJECT, "T"},
        {"circular()", NULL, A_REJECT, "V"},
        {"Bad()", NULL, A_REJECT, "*"},
        {"float('nan')", NULL, A_UNKNOWN, ""},
        {"'\\ud800'", NULL, A_UNKNOWN, ""},
        {"deep(100000)", NULL, A_UNKNOWN, ""},
        {"10**5000", NULL, A_UNKNOWN, ""},
    };
    /* The first nine convert. */
    unsigned k = kind(in, clean, 9, sizeof table / sizeof *table);

    set_text(a, "%s", table[k].expr);
    a->how = table[k].how;
    if (a->how == A_REJECT)
        reject(a, table[k].kinds);
    if (table[k].json != NULL) {
        a->len = strlen(table[k].json);
        memcpy(a->data, table[k].json, a->len + 1);
    }
}

static void pointer_arg(fz_in *in, fz_arg *a, int clean)
{
    unsigned k = kind(in, clean, 6, 8);

    if (k < 5) {
        a->u = fz_one_in(in, 4) ? 0 : fz_take(in, 8);
        set_text(a, "fzt.ptr(%llu)", (unsigned long long)a->u);
        a->how = A_EXACT;
    } else if (k == 5) {
        set_text(a, "None");
        a->how = A_EXACT;
    } else {
        set_text(a, "%s", k == 6 ? "5" : "autoawait.Pointer");
        reject(a, "T");
    }
}

void fz_arg_draw(fz_in *in, char code, fz_arg *a, int clean)
{
    memset(a, 0, sizeof *a);
    switch (code) {
    case 'b': {
        unsigned k = kind(in, clean, 2, 6);
        static const char *const other[] = {"0", "1", "None", "'x'"};
        if (k < 2) {
            set_text(a, k ? "True" : "False");
            a->how = A_EXACT;
            a->u = k;
        } else {
            set_text(a, "%s", other[k - 2]);
            a->how = k < 4 ? A_MAYBE : A_UNKNOWN;
            a->u = k - 2;
        }
        break;
    }
    case 'd':
    case 'f':
        float_arg(in, code, a, clean);
        break;
    case 's':
        str_arg(in, a, clean);
        break;
    case 'y':
        bytes_arg(in, a, clean);
        break;
    case 'j':
        json_arg(in, a, clean);
        break;
    case 'p':
        pointer_arg(in, a, clean);
        break;
    default:
        int_arg(in, code, a, clean);
    }
}
