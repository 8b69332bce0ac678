/*
 * fuzz_host.c -- host functions: random signatures, and random arguments
 * from cells.
 *
 * Each input defines one function with aa_define and has a cell call it:
 *
 *   - The signature is drawn from the input: mostly valid, sometimes
 *     mutated or raw bytes.  fuzz_host_ffi.c reads it with a parser of its
 *     own, written from autoawait.h's table; aa_define must accept exactly
 *     what that parser accepts (anything else aborts).  A valid signature
 *     gets a C function of exactly its type, a libffi closure, so that the
 *     library's calls through it are defined behaviour and can be checked.
 *   - The name is fzh.f (the session's), fzf (undotted: the namespace),
 *     or fzg.f, defined for the session, for every session (s == NULL),
 *     or removed (fn NULL) from either, the session's hiding the
 *     process-wide one.  fzg.f always takes its definition's userdata (u),
 *     which tells which definition a call reached.
 *   - The arguments are Python expressions of every kind: ints of every
 *     size, out of range included, floats with inf and nan, str with NUL
 *     and lone surrogates, bytes-like objects, None, dicts, lists, sets,
 *     autoawait.Pointer objects, objects whose conversions raise, a wrong
 *     count, keywords.  For each the target knows whether the call must
 *     fail (and with which exception kind), must reach the function (with
 *     which C value), or may do either.
 *   - The function checks what it got, then returns a value drawn from the
 *     input (invalid UTF-8 for s and S, invalid JSON for j and J, NULL,
 *     malloc'ed memory for S, Y and J, which the library must free),
 *     sometimes after aa_raise.  An async function (F) resolves its future
 *     at once, rejects it, resolves it with a type that is no code, or
 *     keeps it: for a tick the cell runs while it waits, or for later
 *     inputs (fuzz_host_futures.c).
 *   - The cell (host_helper.py's outcome, aoutcome, doutcome) says what
 *     happened; the target compares it with what must happen.
 *
 * After each input the session runs `1 + 1` and must show 2.  No thread is
 * started (the jail's rule): "from another thread" is left to the unit
 * tests.
 */
#define _GNU_SOURCE /* strndup */
#include "fuzz_host.h"

#include <ffi.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoawait/autoawait.h"

#ifndef AA_FUZZ_HOST_HELPER
#define AA_FUZZ_HOST_HELPER "host_helper.py"
#endif

static aa_session *sess;
static int have_trio;

/* ------------------------------------------------------------ text out */

/* text with each byte that is not printable ASCII as \xHH, for messages. */
static const char *shown(const char *text)
{
    static char out[4 * FZ_SIG_MAX + 8];
    size_t i, n = 0;

    if (text == NULL)
        return "(null)";
    for (i = 0; text[i] != '\0' && n + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)text[i];
        n += (size_t)snprintf(out + n, sizeof out - n,
                              c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    out[n] = '\0';
    return out;
}

/* -------------------------------------------------------------- patterns */

/* Does s match pattern p?  '*' matches any text, {a,b,...} any of its
 * alternatives (which may hold patterns); nothing else is special.  The
 * outcomes compared never hold those characters. */
static int match(const char *p, const char *s)
{
    const char *q, *end, *alt;
    char tmp[2048];
    int depth;

    for (;;) {
        if (*p == '\0')
            return *s == '\0';
        if (*p == '*') {
            for (;; s++) {
                if (match(p + 1, s))
                    return 1;
                if (*s == '\0')
                    return 0;
            }
        }
        if (*p == '{') {
            for (end = p + 1, depth = 1; *end && depth; end++)
                depth += *end == '{' ? 1 : *end == '}' ? -1 : 0;
            for (alt = p + 1; alt < end;) {
                for (q = alt, depth = 0; q < end - 1; q++) {
                    if (*q == '{')
                        depth++;
                    else if (*q == '}')
                        depth--;
                    else if (*q == ',' && depth == 0)
                        break;
                }
                snprintf(tmp, sizeof tmp, "%.*s%s", (int)(q - alt), alt, end);
                if (match(tmp, s))
                    return 1;
                alt = q + 1;
            }
            return 0;
        }
        if (*p != *s)
            return 0;
        p++, s++;
    }
}

/* ------------------------------------------------------- the call, fn */

/* What the current input's call is to do and to find. */
static struct call {
    int active;
    const fz_fn *fn; /* the function the cell must reach */
    void *token;     /* its definition's userdata */
    fz_arg args[FZ_SIG_MAX];
    int calls;
    fz_value ret; /* a sync function's return */
    int nraise;   /* aa_raise calls in fn */
    const char *raise_exc[2], *raise_msg[2];
    const char *raise_expect; /* the class the last one makes */
    fz_future_plan plan;      /* an async function's future */
} call;

static void check_arg(const fz_arg *a, char code, void **args, int *k, int i)
{
    int exact = a->how == A_EXACT || a->how == A_MAYBE;
    const char *p;
    uint64_t got = 0;
    size_t n;

    switch (code) {
    case 'b':
        got = *(uint8_t *)args[(*k)++];
        if (got > 1)
            fz_fail("argument %d (b): fn got the bool %llu", i + 1,
                    (unsigned long long)got);
        break;
    case 'i':
        got = (uint64_t)(uint32_t) * (int *)args[(*k)++];
        if (exact && (uint32_t)got != (uint32_t)a->u)
            fz_fail("argument %d (i): fn got %d, the cell passed %d", i + 1,
                    (int)(uint32_t)got, (int)(uint32_t)a->u);
        return;
    case 'I':
        got = *(unsigned *)args[(*k)++];
        if (exact && (uint32_t)got != (uint32_t)a->u)
            fz_fail("argument %d (I): fn got %u, the cell passed %u", i + 1,
                    (unsigned)got, (unsigned)a->u);
        return;
    case 'l':
    case 'L':
    case 'z':
        got = code == 'z' ? *(size_t *)args[*k] : *(uint64_t *)args[*k];
        (*k)++;
        break;
    case 'd':
    case 'f': {
        double d = code == 'd' ? *(double *)args[*k] : *(float *)args[*k];
        double want = code == 'd' ? a->d : (double)(float)a->d;
        (*k)++;
        if (exact && !(isnan(want) ? isnan(d) : memcmp(&d, &want, 8) == 0))
            fz_fail("argument %d (%c): fn got %a, the cell passed %a", i + 1,
                    code, d, a->d);
        return;
    }
    case 's':
    case 'j':
        p = *(const char **)args[(*k)++];
        if (p == NULL) {
            if (exact && !a->null)
                fz_fail("argument %d (%c): fn got NULL", i + 1, code);
            return;
        }
        n = strlen(p);
        if (!fz_utf8_valid(p, n))
            fz_fail("argument %d (%c): fn got text that is not UTF-8", i + 1,
                    code);
        if (exact && (a->null || n != a->len || memcmp(p, a->data, n) != 0))
            fz_fail("argument %d (%c): fn got '%.*s' (%zu bytes), the cell "
                    "passed %zu bytes",
                    i + 1, code, (int)(n < 200 ? n : 200), p, n, a->len);
        if (code == 'j' && n == 0)
            fz_fail("argument %d (j): fn got empty JSON", i + 1);
        return;
    case 'y': {
        const uint8_t *d = *(const uint8_t **)args[*k];
        size_t j, len = *(size_t *)args[*k + 1];
        unsigned sum = 0;
        *k += 2;
        if (len > 0 && d == NULL)
            fz_fail("argument %d (y): fn got NULL with %zu bytes", i + 1, len);
        for (j = 0; j < len; j++)
            sum += d[j]; /* ASan checks the length */
        (void)sum;
        if (exact && (a->null ? d != NULL || len != 0
                              : len != a->len ||
                                    (len > 0 && memcmp(d, a->data, len) != 0)))
            fz_fail("argument %d (y): fn got %zu bytes at %p, the cell passed "
                    "%zu%s",
                    i + 1, len, (const void *)d, a->len,
                    a->null ? " (None)" : "");
        return;
    }
    case 'p':
        got = (uint64_t)(uintptr_t) * (void **)args[(*k)++];
        break;
    }
    if (exact && got != a->u)
        fz_fail("argument %d (%c): fn got %llu, the cell passed %llu", i + 1,
                code, (unsigned long long)got, (unsigned long long)a->u);
}

static void write_return(const fz_value *v, void *ret)
{
    switch (v->code) {
    case 'v':
        break;
    case 'b':
        *(ffi_arg *)ret = (ffi_arg)(v->u & 1);
        break;
    case 'i':
        *(ffi_sarg *)ret = (ffi_sarg)(int32_t)v->u;
        break;
    case 'I':
        *(ffi_arg *)ret = (ffi_arg)(uint32_t)v->u;
        break;
    case 'l':
    case 'L':
    case 'z':
        *(uint64_t *)ret = v->u;
        break;
    case 'd':
        *(double *)ret = v->d;
        break;
    case 'f':
        *(float *)ret = (float)v->d;
        break;
    case 'y':
    case 'Y': {
        aa_bytes b = {fz_value_pointer(v), v->null ? 0 : v->len};
        memcpy(ret, &b, sizeof b);
        break;
    }
    case 'p':
        *(void **)ret = (void *)(uintptr_t)v->u;
        break;
    default: /* s S j J */
        *(void **)ret = fz_value_pointer(v);
    }
}

void fz_on_call(const fz_fn *fn, void *ret, void **args)
{
    const fz_sig *sig = &fn->sig;
    aa_future *f = NULL;
    int i, j = 0, k = 0, rc;

    if (!call.active)
        fz_fail("the function of %s ran when no call was made", fn->text);
    if (fn != call.fn)
        fz_fail("the cell reached the function of %s, not the one of %s",
                fn->text, call.fn->text);
    if (call.calls++ > 0)
        fz_fail("one call of the cell ran fn twice");
    for (i = 0; i < sig->nargs; i++) {
        char c = sig->args[i];
        if (c == 'u') {
            if (*(void **)args[k++] != call.token)
                fz_fail("u: fn got the userdata %p, not its definition's %p "
                        "(another definition of the name?)",
                        *(void **)args[k - 1], call.token);
        } else if (c == 'F') {
            f = *(aa_future **)args[k++];
        } else {
            check_arg(&call.args[j], c, args, &k, j);
            j++;
        }
    }
    if (sig->future >= 0)
        fz_future_got(f, &call.plan);
    for (i = 0; i < call.nraise; i++) {
        if ((rc = aa_raise(call.raise_exc[i], call.raise_msg[i])) != AA_OK)
            fz_fail("aa_raise inside fn answered %s", aa_strerror(rc));
    }
    if (sig->future < 0)
        write_return(&call.ret, ret);
}

/* The harness's own functions, process-wide: fzt.ptr makes an
 * autoawait.Pointer, fzt.unptr reads one, fzt.tick finishes the future
 * kept for a tick. */
static void *fzt_ptr(uint64_t v)
{
    return (void *)(uintptr_t)v;
}

static uint64_t fzt_unptr(void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static void fzt_tick(void)
{
    fz_future_tick();
}

static void never(void)
{
    fz_fail("a function whose definition was refused ran");
}

/* ----------------------------------------------------------- signatures */

/* A valid signature text; with_u makes sure it takes u. */
static void valid_sig(fz_in *in, char *text, int with_u)
{
    static const char rets[] = "vbiIlLzdfsSyYjJp";
    static const char codes[] = "biIlLzdfsyjpbiIlLzdfsyjpu";
    int n = (int)fz_pick(in, fz_one_in(in, 8) ? 21 : 6), i, future = -1;
    int u = with_u ? (int)fz_pick(in, (unsigned)n + 1) : -1;
    size_t len = 0;

    if (fz_one_in(in, 3))
        future = (int)fz_pick(in, (unsigned)n + 1);
    text[len++] = future >= 0 ? 'v' : rets[fz_pick(in, 16)];
    text[len++] = '(';
    for (i = 0; i <= n; i++) {
        if (i == future)
            text[len++] = 'F';
        if (i == u)
            text[len++] = 'u';
        if (i < n)
            text[len++] = codes[fz_pick(in, sizeof codes - (with_u ? 2 : 1))];
    }
    text[len++] = ')';
    text[len] = '\0';
}

/* A signature text from the input: valid, mutated or raw. */
static void draw_sig(fz_in *in, char *text)
{
    unsigned k = fz_pick(in, 10);
    size_t len, at;
    const uint8_t *p;
    size_t n;

    if (k < 7) {
        valid_sig(in, text, 0);
        return;
    }
    if (k == 9) {
        p = fz_bytes(in, 24, &n);
        memcpy(text, p, n);
        text[n] = '\0';
        return;
    }
    valid_sig(in, text, 0);
    len = strlen(text);
    at = fz_pick(in, (unsigned)len + 1);
    switch (fz_pick(in, 4)) {
    case 0: /* a byte inserted */
        memmove(text + at + 1, text + at, len - at + 1);
        text[at] = (char)fz_take(in, 1);
        break;
    case 1: /* one dropped */
        if (at < len)
            memmove(text + at, text + at + 1, len - at);
        break;
    case 2: /* one replaced */
        if (at < len)
            text[at] = (char)fz_take(in, 1);
        break;
    default: /* one of the codes in the wrong place */
        text[at < len ? at : 0] = "vuFSYJ() "[fz_pick(in, 9)];
    }
}

/* -------------------------------------------------------- definitions */

/* A name's definition in one scope, as the target knows it. */
typedef struct def {
    const fz_fn *fn; /* NULL: not defined */
    void *token;
} def;

static def d_fzh, d_fzf, d_sess_g, d_glob_g;
static unsigned long tokens;

/* aa_define, compared with the fuzzer's reading of text.  Returns 1 when
 * the definition took. */
static int define(aa_session *scope, const char *name, const char *text, def *d)
{
    fz_sig sig;
    int valid = fz_sig_parse(text, &sig), rc;
    const fz_fn *fn = valid ? fz_fn_get(text, &sig) : NULL;
    void *token = (void *)(uintptr_t)(0xfa110000u + ++tokens);
    const char *msg;

    rc = aa_define(scope, name, text, fn ? fn->code : never, token);
    msg = scope ? aa_session_errmsg(scope) : aa_errmsg();
    if (valid && rc != AA_OK)
        fz_fail("aa_define(%s, '%s') refused a signature the fuzzer reads "
                "as valid: %s: %s",
                name, shown(text), aa_strerror(rc), msg);
    if (!valid && rc != AA_EINVAL)
        fz_fail("aa_define(%s, '%s') answered %s for a signature the fuzzer "
                "reads as malformed",
                name, shown(text), aa_strerror(rc));
    if (!valid && (msg == NULL || msg[0] == '\0'))
        fz_fail("aa_define refused '%s' without a message", shown(text));
    if (valid) {
        d->fn = fn;
        d->token = token;
    }
    return valid;
}

/* Removes name from scope (fn NULL): AA_OK when it was defined there. */
static void undefine(aa_session *scope, const char *name, def *d)
{
    int rc = aa_define(scope, name, "v()", NULL, NULL);
    int want = d->fn != NULL ? AA_OK : AA_ENOTFOUND;

    if (rc != want)
        fz_fail("removing %s (%s) answered %s, not %s", name,
                scope ? "the session's" : "process-wide", aa_strerror(rc),
                aa_strerror(want));
    d->fn = NULL;
}

/* ------------------------------------------------------------- the cell */

enum {
    M_AWAIT,
    M_AWAIT2,
    M_TIMEOUT,
    M_TICK,
    M_DROP,
    M_DRIVE,
    M_TRIO_AWAIT,
    M_TRIO_TIMEOUT,
    M_TRIO_TICK,
    M_N
};
static const char *const mode_names[M_N] = {
    "await", "await2",     "timeout",      "tick",     "drop",
    "drive", "trio_await", "trio_timeout", "trio_tick"};

/* Is the future rejected with StopIteration? */
static int stop_iteration(const fz_future_plan *plan)
{
    return plan->action == FZ_F_REJECT && plan->exc != NULL &&
           strcmp(plan->exc, "StopIteration") == 0;
}

/* The outcome an async call that got its future shows, mode by mode. */
static void async_expect(fz_buf *b, int mode, const fz_future_plan *plan)
{
    char e[700];
    const fz_value *v = &plan->value;
    int keep = plan->action == FZ_F_KEEP;

    if (plan->action == FZ_F_REJECT) {
        snprintf(e, sizeof e, "exc:%s:*", plan->exc_expect);
    } else if (plan->action == FZ_F_BADTYPE) {
        snprintf(e, sizeof e, "exc:ValueError:*");
    } else {
        /* A resolve's text is converted in the cell: a ValueError there,
         * whose message the header does not spell. */
        const char *e1 = strcmp(v->expect, "exc:ValueError:V:p") == 0
                             ? "exc:ValueError:V:*"
                             : v->expect;
        if (v->expect2[0] && strcmp(v->expect2, v->expect) != 0)
            snprintf(e, sizeof e, "{%s,%s}", e1, v->expect2);
        else
            snprintf(e, sizeof e, "%s", e1);
    }
    switch (mode) {
    case M_AWAIT2:
        /* Iterated with next(), a rejection with StopIteration is the
         * iterator's end, as for any iterator: no claim for that one. */
        fz_add(b, "%s|%s|%s", e, e, stop_iteration(plan) ? "*" : e);
        break;
    case M_TIMEOUT:
        fz_add(b, keep ? "exc:TimeoutError:*" : "{%s,exc:TimeoutError:*}", e);
        break;
    case M_DROP:
        fz_add(b, "drop:%d", !keep);
        break;
    case M_DRIVE:
        fz_add(b, keep ? "wait:1:00:11|%s" : "now|%s", e);
        break;
    case M_TRIO_TIMEOUT:
        fz_add(b, keep ? "timeout" : "{%s,timeout}", e);
        break;
    default:
        fz_add(b, "%s", e);
    }
}

typedef struct cell_plan {
    const char *name;   /* fzh.f, fzf, fzg.f */
    const char *module; /* fzh, NULL, fzg */
    const char *base;   /* f, fzf */
    const fz_sig *sig;
    int mode; /* async: M_* */
    int count_bad, keyword, star;
    int must_fail, may_fail, prefix;
    char kinds[16];
} cell_plan;

/* Draws the arguments and what fn does; says what must happen. */
static void plan_call(fz_in *in, cell_plan *cp)
{
    const fz_sig *sig = cp->sig;
    /* Half the calls pass what converts, so that fn runs often. */
    int i, j = 0, keep_ok, clean = fz_one_in(in, 2);

    cp->kinds[0] = '\0';
    cp->prefix = 1;
    for (i = 0; i < sig->nargs; i++) {
        fz_arg *a = &call.args[j];
        if (sig->args[i] == 'u' || sig->args[i] == 'F')
            continue;
        fz_arg_draw(in, sig->args[i], a, clean);
        j++;
        if (a->how == A_REJECT) {
            cp->must_fail = 1;
            if (!strchr(cp->kinds, '*'))
                strncat(cp->kinds, a->kinds,
                        sizeof cp->kinds - strlen(cp->kinds) - 1);
        }
        if (a->how == A_MAYBE || a->how == A_UNKNOWN || strchr(a->kinds, '*'))
            cp->may_fail = 1;
    }
    switch (fz_pick(in, 24)) {
    case 0:
        if (clean)
            break;
        cp->count_bad = sig->npy > 0 ? -1 : 1;
        break;
    case 1:
        cp->count_bad = !clean;
        break;
    case 2:
        cp->keyword = !clean;
        break;
    case 3:
    case 4:
        cp->star = 1;
        break;
    }
    if (cp->count_bad || cp->keyword) {
        cp->must_fail = 1;
        strncat(cp->kinds, "T", sizeof cp->kinds - strlen(cp->kinds) - 1);
    }
    if (cp->may_fail)
        cp->prefix = 0;
    if (sig->future < 0) {
        fz_value_draw(in, sig->ret, &call.ret);
    } else {
        cp->mode = (int)fz_pick(in, have_trio ? M_N : M_TRIO_AWAIT);
        /* A kept future must not be awaited for ever.  Under trio, a
         * cell that has to wait for time waits in trio's I/O thread,
         * which the jail refuses: only the tick, which wakes trio at
         * once, may wait there. */
        keep_ok = cp->mode == M_TIMEOUT || cp->mode == M_TICK ||
                  cp->mode == M_DROP || cp->mode == M_DRIVE ||
                  cp->mode == M_TRIO_TICK;
        fz_future_plan_draw(in, &call.plan, keep_ok);
    }
    call.nraise = fz_one_in(in, 6) ? 1 + (int)fz_pick(in, 2) : 0;
    for (i = 0; i < call.nraise; i++) {
        call.raise_exc[i] = fz_exc_name(in, &call.raise_expect);
        call.raise_msg[i] = fz_one_in(in, 2) ? NULL : "fuzz: raised";
    }
}

/* The cell that makes the call, and what it must display. */
static void build_cell(const cell_plan *cp, fz_buf *cell, fz_buf *expect)
{
    const fz_sig *sig = cp->sig;
    int async = sig->future >= 0, i, n = sig->npy;
    int trio = async && cp->mode >= M_TRIO_AWAIT;
    char code = async ? call.plan.value.code : sig->ret;

    if (trio)
        fz_add(cell, "%%autoawait trio\n");
    fz_add(cell, "import autoawait, fzt\n");
    if (cp->module != NULL)
        fz_add(cell, "import %s\n", cp->module);
    fz_add(cell, "from _fzhost import Idx, Bad, Str, Int, circular, deep, "
                 "outcome, aoutcome, doutcome\n");
    if (!async)
        fz_add(cell, "outcome(");
    else if (cp->mode == M_DRIVE)
        fz_add(cell, "doutcome(");
    else
        fz_add(cell, "await aoutcome(");
    fz_add(cell, "%s, lambda f: f(%s", cp->name, cp->star ? "*[" : "");
    if (cp->count_bad < 0)
        n--;
    for (i = 0; i < n; i++)
        fz_add(cell, "%s%s", i ? ", " : "", call.args[i].text);
    if (cp->count_bad > 0)
        fz_add(cell, "%s0", n ? ", " : "");
    fz_add(cell, "%s%s), '%s', '%c'", cp->star ? "]" : "",
           !cp->keyword                             ? ""
           : n > 0 || cp->star || cp->count_bad > 0 ? ", k=1"
                                                    : "k=1",
           cp->name, code);
    if (async && cp->mode != M_DRIVE)
        fz_add(cell, ", '%s'", mode_names[cp->mode]);
    fz_add(cell, ")\n");

    /* REPR#NAME#MODULE#, then the RESULT (host_helper.py). */
    fz_add(expect, "<host function %s %s>#%s#%s#", cp->name, call.fn->text,
           cp->base, cp->module ? cp->module : "*");
}

/* What the RESULT must be once fn ran (calls says whether it did). */
static void result_expect(const cell_plan *cp, fz_buf *b)
{
    const fz_value *v = &call.ret;

    if (call.nraise > 0) {
        fz_add(b, "exc:%s:*", call.raise_expect);
    } else if (cp->sig->future < 0) {
        fz_add(b, "%s", v->expect);
    } else {
        fz_add(b, "A|");
        async_expect(b, cp->mode, &call.plan);
    }
}

/* "{T,O}" for the kinds "OTT". */
static const char *kinds_alt(const char *kinds)
{
    static char out[8];
    const char *k;
    size_t n = 0;

    out[n++] = '{';
    for (k = "TOV"; *k; k++) {
        if (strchr(kinds, *k) == NULL)
            continue;
        if (n > 1)
            out[n++] = ',';
        out[n++] = *k;
    }
    out[n++] = '}';
    out[n] = '\0';
    return out;
}

static void check_outcome(const cell_plan *cp, const char *cell,
                          const char *head, const char *out)
{
    char pattern[4096];
    fz_buf b = {pattern, 0, sizeof pattern};

    fz_add(&b, "%s", head);
    if (cp->must_fail) {
        if (call.calls > 0)
            fz_fail("fn ran for a call that must fail:\n%s", cell);
        if (cp->prefix && !strchr(cp->kinds, '*'))
            fz_add(&b, "exc:*:%s:p", kinds_alt(cp->kinds));
        else
            fz_add(&b, "exc:*");
    } else if (call.calls == 0) {
        if (!cp->may_fail)
            fz_fail("fn did not run for a call that must reach it:\n%s\n"
                    "shows: %s",
                    cell, out);
        fz_add(&b, "exc:*");
    } else {
        result_expect(cp, &b);
    }
    if (!match(pattern, out))
        fz_fail("the cell\n%sshows\n  %s\nwhich is not\n  %s", cell, out,
                pattern);
    if (call.calls > 0 && cp->sig->future >= 0 && cp->mode == M_AWAIT2 &&
        call.nraise == 0) {
        /* "X|Y|Z" after "A|": the same outcome each time. */
        const char *x = strstr(out, "A|") + 2, *y = strchr(x, '|');
        const char *z = y ? strchr(y + 1, '|') : NULL;
        if (z == NULL || z - y - 1 != y - x ||
            strncmp(x, y + 1, (size_t)(y - x)) != 0 ||
            (!stop_iteration(&call.plan) &&
             (strlen(z + 1) != (size_t)(y - x) ||
              strncmp(x, z + 1, (size_t)(y - x)) != 0)))
            fz_fail("awaited twice and iterated, a HostFuture gave different "
                    "outcomes: %s",
                    out);
    }
}

/* Runs the cell; returns its displayed string (without the quotes), or
 * NULL when the watchdog interrupted it. */
static char *run_cell(const char *cell)
{
    aa_result *r = NULL;
    const char *repr, *exc;
    char *out = NULL;
    size_t n;
    int rc = fz_exec(sess, cell, strlen(cell), &r);

    exc = r ? aa_result_exception(r) : NULL;
    if (rc != AA_OK) {
        if (exc != NULL && strcmp(exc, "KeyboardInterrupt") == 0) {
            aa_result_free(r);
            return NULL;
        }
        fz_fail("the cell\n%sfailed: %s: %s: %s\n%s", cell, aa_strerror(rc),
                exc ? exc : "",
                r && aa_result_message(r) ? aa_result_message(r) : "",
                r && aa_result_traceback(r) ? aa_result_traceback(r) : "");
    }
    repr = aa_result_repr(r);
    n = repr ? strlen(repr) : 0;
    if (n < 2 || repr[0] != '\'' || repr[n - 1] != '\'')
        fz_fail("the cell\n%sshows %s, not a string", cell,
                repr ? repr : "nothing");
    out = strndup(repr + 1, n - 2);
    aa_result_free(r);
    if (out == NULL)
        fz_fail("out of memory");
    if (strstr(out, "KeyboardInterrupt") != NULL) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------- the input */

/* aa_define with a NULL name or signature: AA_EINVAL, and nothing else
 * changes. */
static void define_nulls(fz_in *in)
{
    int null_name = fz_one_in(in, 2);
    int rc =
        aa_define(fz_one_in(in, 2) ? NULL : sess, null_name ? NULL : "fzh.f",
                  null_name ? "v()" : NULL, never, NULL);

    if (rc != AA_EINVAL)
        fz_fail("aa_define with a NULL %s answered %s",
                null_name ? "name" : "signature", aa_strerror(rc));
}

/* Which name this input defines and calls, and in which scope. */
static int choose_name(fz_in *in, cell_plan *cp, char *text)
{
    unsigned k = fz_pick(in, 16);
    def *target;

    if (fz_one_in(in, 32))
        define_nulls(in);

    if (k < 11) {
        cp->name = "fzh.f", cp->module = "fzh", cp->base = "f";
        draw_sig(in, text);
        define(sess, cp->name, text, &d_fzh);
        target = &d_fzh;
    } else if (k < 13) {
        cp->name = "fzf", cp->module = NULL, cp->base = "fzf";
        draw_sig(in, text);
        /* The jail's reset empties the namespace: only a definition of
         * this input is there to call. */
        d_fzf.fn = NULL;
        define(sess, cp->name, text, &d_fzf);
        target = &d_fzf;
    } else {
        cp->name = "fzg.f", cp->module = "fzg", cp->base = "f";
        valid_sig(in, text, 1);
        if (k == 13)
            define(NULL, cp->name, text, &d_glob_g);
        else if (k == 14)
            define(sess, cp->name, text, &d_sess_g);
        else if (fz_one_in(in, 2))
            undefine(NULL, cp->name, &d_glob_g);
        else
            undefine(sess, cp->name, &d_sess_g);
        /* The session's definition hides the process-wide one. */
        target = d_sess_g.fn != NULL ? &d_sess_g : &d_glob_g;
    }
    if (target->fn == NULL)
        return 0;
    call.fn = target->fn;
    call.token = target->token;
    cp->sig = &target->fn->sig;
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char cell[1024];
    aa_result *r = NULL;
    int rc;

    (void)argc;
    (void)argv;
    fz_track_init(); /* before any thread starts */
    if (aa_define(NULL, "fzt.ptr", "p(L)", (void (*)(void))fzt_ptr, NULL) !=
            AA_OK ||
        aa_define(NULL, "fzt.unptr", "L(p)", (void (*)(void))fzt_unptr, NULL) !=
            AA_OK ||
        aa_define(NULL, "fzt.tick", "v()", fzt_tick, NULL) != AA_OK)
        fz_fail("cannot define the harness's functions: %s", aa_errmsg());
    sess = fz_session();
    snprintf(cell, sizeof cell,
             "import importlib.util as _u, sys as _s\n"
             "_m = _u.module_from_spec(_u.spec_from_file_location("
             "'_fzhost', %s))\n"
             "_m.__spec__.loader.exec_module(_m)\n"
             "_s.modules['_fzhost'] = _m\n",
             "'" AA_FUZZ_HOST_HELPER "'");
    rc = aa_exec(sess, cell, &r);
    if (rc != AA_OK)
        fz_fail("cannot load %s: %s: %s", AA_FUZZ_HOST_HELPER, aa_strerror(rc),
                r && aa_result_traceback(r) ? aa_result_traceback(r) : "");
    aa_result_free(r);
    r = NULL;
    have_trio = aa_exec(sess, "import trio", &r) == AA_OK;
    aa_result_free(r);
    if (aa_raise("ValueError", "outside") != AA_EINVAL)
        fz_fail("aa_raise outside any host function did not answer "
                "AA_EINVAL");
    fz_settle(sess);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char cell_text[32768], expect_text[1024];
    fz_buf cell = {cell_text, 0, sizeof cell_text};
    fz_buf expect = {expect_text, 0, sizeof expect_text};
    fz_in in = {data, size};
    char sig_text[FZ_SIG_MAX + 8];
    cell_plan cp;
    char *out;
    int timed_out = 0;

    memset(&cp, 0, sizeof cp);
    fz_future_old(&in);
    if (fz_one_in(&in, 64))
        fz_future_side_session(&in);
    if (choose_name(&in, &cp, sig_text)) {
        memset(call.args, 0, sizeof call.args);
        call.calls = 0;
        plan_call(&in, &cp);
        build_cell(&cp, &cell, &expect);
        call.active = 1;
        out = run_cell(cell_text);
        call.active = 0;
        if (out != NULL) {
            check_outcome(&cp, cell_text, expect_text, out);
            timed_out = strstr(out, "A|exc:TimeoutError:") != NULL ||
                        strstr(out, "A|timeout") != NULL;
            free(out);
            if (fz_track_pending() > 0)
                fz_fail("the cell\n%sended with %d block(s) handed over "
                        "with S, Y or J not freed",
                        cell_text, fz_track_pending());
        }
        fz_future_after_cell(out != NULL && timed_out);
    }
    fz_track_reset();
    fz_settle(sess);
    fz_check_alive(sess);
    return 0;
}
