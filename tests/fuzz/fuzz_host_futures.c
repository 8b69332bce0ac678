/*
 * fuzz_host_futures.c -- the futures fuzz_host's async functions get.
 *
 * Every aa_future a host function gets has a record: how the host
 * finished it and with what answer, whether and how often its cancel
 * callback ran.  A future is finished at once, rejected, resolved with a
 * type that is no code, or kept: for a tick (a host function the cell
 * calls while it waits), or for later inputs, which finish it, stale or
 * not, and check the answer against aa_future_state; a handle used up is
 * remembered, and one given out again is a broken promise.  A short-lived
 * second session checks what aa_session_free does to pending futures.
 */
#include "fuzz_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoawait/autoawait.h"

/* -------------------------------------------------------------- futures */

typedef struct rec {
    unsigned long serial; /* 0: a free slot */
    aa_future *f;
    int finished;    /* the host finished it, whatever the answer */
    int ok_finished; /* and the answer was AA_OK */
    int cancel_set, cancel_calls, cancel_finish;
    int held; /* kept past its input */
    int side; /* of the side session */
    int tick; /* a tick is to resolve it with value */
    fz_value value;
} rec;

#define NREC 256
#define NHELD 8
#define NSTALE 1024

static rec recs[NREC];
static unsigned long serials;
static rec *current;             /* the future the current input's call kept */
static aa_future *stale[NSTALE]; /* handles used up */
static size_t nstale;

static rec *find(unsigned long serial)
{
    rec *r = &recs[serial % NREC];

    return r->serial == serial ? r : NULL;
}

static void used_up(rec *r)
{
    stale[nstale++ % NSTALE] = r->f;
}

static rec *new_rec(aa_future *f)
{
    rec *r;
    size_t i;
    int tries;

    if (f == NULL)
        fz_fail("a host function got a NULL future");
    for (i = 0; i < (nstale < NSTALE ? nstale : NSTALE); i++) {
        if (stale[i] == f)
            fz_fail("a host function got the handle %p again, used up "
                    "before",
                    (void *)f);
    }
    for (i = 0; i < NREC; i++) {
        if (recs[i].serial != 0 && !recs[i].finished && recs[i].f == f)
            fz_fail("a host function got the handle %p of a pending "
                    "future",
                    (void *)f);
    }
    /* Held records stay; any other is forgotten when its slot is needed. */
    for (tries = 0; tries < NREC; tries++) {
        r = &recs[++serials % NREC];
        if (r->serial == 0 || !r->held)
            break;
    }
    memset(r, 0, sizeof *r);
    r->serial = serials;
    r->f = f;
    return r;
}

static int resolve(aa_future *f, const fz_value *v)
{
    char code[2] = {v->code, '\0'};
    void *p = fz_value_pointer(v);
    int rc;

    switch (v->code) {
    case 'v':
        rc = aa_future_resolve(f, code);
        break;
    case 'b':
    case 'i':
        rc = aa_future_resolve(f, code, (int)(int32_t)v->u);
        break;
    case 'I':
        rc = aa_future_resolve(f, code, (unsigned)v->u);
        break;
    case 'l':
        rc = aa_future_resolve(f, code, (int64_t)v->u);
        break;
    case 'L':
        rc = aa_future_resolve(f, code, (uint64_t)v->u);
        break;
    case 'z':
        rc = aa_future_resolve(f, code, (size_t)v->u);
        break;
    case 'd':
    case 'f':
        rc = aa_future_resolve(f, code, v->d);
        break;
    case 'y':
    case 'Y':
        rc = aa_future_resolve(f, code, (const void *)p, v->null ? 0 : v->len);
        break;
    case 'p':
        rc = aa_future_resolve(f, code, (void *)(uintptr_t)v->u);
        break;
    default: /* s S j J */
        rc = aa_future_resolve(f, code, (const char *)p);
    }
    if (p != NULL && !fz_track_freed(p))
        fz_fail("aa_future_resolve('%c') answered %s and kept the memory it "
                "was to free",
                v->code, aa_strerror(rc));
    return rc;
}

/* Finishes r as how says (0 resolve, 1 reject, 2 a bad type) and checks
 * the answer against want (the state it was in). */
static void finish(rec *r, fz_in *in, int how, int want, const char *where)
{
    fz_value v;
    const char *expect;
    int rc;

    if (how == 0) {
        fz_value_draw(in, "vbiIlLzdfsSyYjJp"[fz_pick(in, 16)], &v);
        rc = resolve(r->f, &v);
    } else if (how == 1) {
        const char *exc = fz_exc_name(in, &expect);
        rc = aa_future_reject(r->f, exc, fz_message_draw(in));
    } else {
        rc = aa_future_resolve(r->f, fz_one_in(in, 2) ? "uF" : "x");
        if (rc == AA_EINVAL)
            rc = want; /* either answer will do for a bad type */
    }
    if (rc != want)
        fz_fail("%s: finishing a future in state %s answered %s", where,
                aa_strerror(want), aa_strerror(rc));
    if (aa_future_state(r->f) != AA_ENOTFOUND)
        fz_fail("%s: a future answered %s, then its state is %s", where,
                aa_strerror(rc), aa_strerror(aa_future_state(r->f)));
    if (!r->finished)
        used_up(r);
    r->finished = 1;
    r->ok_finished |= rc == AA_OK;
    r->tick = 0;
}

static void on_cancel(void *userdata, aa_future *f)
{
    rec *r = find((unsigned long)(uintptr_t)userdata);
    int rc, st = aa_future_state(f);

    if (r == NULL)
        return; /* forgotten: nothing to compare with */
    if (r->f != f)
        fz_fail("a cancel callback got future %p, set for %p", (void *)f,
                (void *)r->f);
    if (r->cancel_calls++ > 0)
        fz_fail("a cancel callback ran twice");
    if (r->ok_finished)
        fz_fail("a cancel callback ran after the host resolved its future "
                "(AA_OK)");
    if (st != (r->finished ? AA_ENOTFOUND : AA_ECANCELLED))
        fz_fail("in its cancel callback, a future is in state %s",
                aa_strerror(st));
    if (r->finished || r->cancel_finish == 0)
        return;
    if (r->cancel_finish == 1)
        rc = resolve(f, &r->value);
    else
        rc = aa_future_reject(f, "ValueError", "late");
    if (rc != AA_ECANCELLED)
        fz_fail("finishing a future from its cancel callback answered %s",
                aa_strerror(rc));
    used_up(r);
    r->finished = 1;
    r->tick = 0;
}

/* aa_future_on_cancel on a future of some age: it answers its state. */
static void set_cancel(rec *r)
{
    int st = aa_future_state(r->f);
    int rc = aa_future_on_cancel(r->f, on_cancel, (void *)(uintptr_t)r->serial);

    if (rc != st)
        fz_fail("aa_future_on_cancel on a future in state %s answered %s",
                aa_strerror(st), aa_strerror(rc));
    r->cancel_set |= rc == AA_OK;
}

void fz_future_plan_draw(fz_in *in, fz_future_plan *plan, int keep_ok)
{
    memset(plan, 0, sizeof *plan);
    plan->action = (int)fz_pick(in, FZ_F_NPLANS);
    if (plan->action == FZ_F_KEEP && !keep_ok)
        plan->action = FZ_F_RESOLVE;
    plan->on_cancel = !fz_one_in(in, 4);
    plan->cancel_finish = (int)fz_pick(in, 3);
    fz_value_draw(in, "vbiIlLzdfsSyYjJp"[fz_pick(in, 16)], &plan -> value);
    plan->exc = fz_exc_name(in, &plan->exc_expect);
    plan->msg = fz_message_draw(in);
}

unsigned long fz_future_got(aa_future *f, const fz_future_plan *plan)
{
    rec *r = new_rec(f);
    int rc;

    if (aa_future_state(f) != AA_OK)
        fz_fail("a new future is in state %s", aa_strerror(aa_future_state(f)));
    r->cancel_finish = plan->cancel_finish;
    r->value = plan->value;
    if (plan->on_cancel) {
        rc = aa_future_on_cancel(f, on_cancel, (void *)(uintptr_t)r->serial);
        if (rc != AA_OK)
            fz_fail("aa_future_on_cancel on a new future: %s", aa_strerror(rc));
        r->cancel_set = 1;
    }
    switch (plan->action) {
    case FZ_F_RESOLVE:
        if ((rc = resolve(f, &plan->value)) != AA_OK)
            fz_fail("resolving a new future in its function: %s",
                    aa_strerror(rc));
        break;
    case FZ_F_REJECT:
        if ((rc = aa_future_reject(f, plan->exc, plan->msg)) != AA_OK)
            fz_fail("rejecting a new future in its function: %s",
                    aa_strerror(rc));
        break;
    case FZ_F_BADTYPE:
        rc = aa_future_resolve(f, plan->badtype_null ? NULL : "Sx");
        if (rc != AA_EINVAL)
            fz_fail("resolving with the type '%s' answered %s",
                    plan->badtype_null ? "(null)" : "Sx", aa_strerror(rc));
        break;
    default:
        r->tick = 1;
        current = r;
        return r->serial;
    }
    if (aa_future_state(f) != AA_ENOTFOUND)
        fz_fail("a future finished in its function is in state %s",
                aa_strerror(aa_future_state(f)));
    used_up(r);
    r->finished = 1;
    r->ok_finished = rc == AA_OK;
    return r->serial;
}

void fz_future_tick(void)
{
    rec *r = current;
    int st, rc;

    if (r == NULL || !r->tick || r->finished)
        return;
    st = aa_future_state(r->f);
    rc = resolve(r->f, &r->value);
    if (rc != st)
        fz_fail("a tick resolved a future in state %s: %s", aa_strerror(st),
                aa_strerror(rc));
    used_up(r);
    r->finished = 1;
    r->ok_finished = rc == AA_OK;
    r->tick = 0;
}

void fz_future_after_cell(int timed_out)
{
    rec *r = current;
    int held = 0, st;
    size_t i;

    current = NULL;
    if (r == NULL || r->finished)
        return;
    st = aa_future_state(r->f);
    if (timed_out) {
        /* The awaiting task was cancelled inside the cell. */
        if (r->cancel_set && r->cancel_calls != 1)
            fz_fail("the cell timed out on a future, and its cancel "
                    "callback ran %d times",
                    r->cancel_calls);
        if (st != AA_ECANCELLED)
            fz_fail("the cell timed out on a future, which is in state %s",
                    aa_strerror(st));
    }
    r->held = 1;
    r->tick = 0;
    for (i = 0; i < NREC; i++)
        held += recs[i].serial != 0 && recs[i].held && !recs[i].finished;
    if (held > NHELD) {
        /* The oldest goes: finished now. */
        for (i = 1; i <= NREC; i++) {
            rec *o = &recs[(r->serial + i) % NREC];
            if (o->serial != 0 && o->held && !o->finished) {
                fz_in none = {NULL, 0};
                finish(o, &none, 0, aa_future_state(o->f), "the oldest");
                break;
            }
        }
    }
}

void fz_future_old(fz_in *in)
{
    size_t i, n;
    rec *r;
    int how;

    for (i = 0; i < NREC; i++) {
        r = &recs[i];
        if (r->serial == 0 || !r->held || r->finished)
            continue;
        how = (int)fz_pick(in, 6);
        if (how < 3)
            finish(r, in, how, aa_future_state(r->f), "a held future");
        else if (how == 3)
            set_cancel(r);
    }
    /* Handles used up answer AA_ENOTFOUND, whatever is done with them. */
    n = nstale < NSTALE ? nstale : NSTALE;
    if (n > 0 && fz_one_in(in, 2)) {
        aa_future *f = stale[fz_pick(in, (unsigned)n)];
        rec tmp = {.f = f, .finished = 1};
        int st = aa_future_state(f);

        if (st != AA_ENOTFOUND)
            fz_fail("a used-up handle %p is in state %s", (void *)f,
                    aa_strerror(st));
        finish(&tmp, in, (int)fz_pick(in, 3), AA_ENOTFOUND, "a stale handle");
    }
}

/* ------------------------------------------------- the side session */

static fz_in *side_in;
static int side_calls;

static void side_write(void *userdata, int stream, const char *data, size_t len)
{
    (void)userdata;
    (void)stream;
    (void)data;
    (void)len;
}

/* v(F): keeps its future, a cancel callback set or not. */
static void side_fn(aa_future *f)
{
    rec *r = new_rec(f);

    side_calls++;
    r->side = 1;
    if (!fz_one_in(side_in, 4)) {
        if (aa_future_on_cancel(f, on_cancel, (void *)(uintptr_t)r->serial) !=
            AA_OK)
            fz_fail("aa_future_on_cancel in the side session failed");
        r->cancel_set = 1;
        r->cancel_finish = (int)fz_pick(side_in, 3);
        fz_value_draw(side_in, "sSyYjJi"[fz_pick(side_in, 7)], &r -> value);
    }
}

void fz_future_side_session(fz_in *in)
{
    static const char *const cells[] = {
        /* Pending, in the namespace. */
        "import fzs\nkept = [fzs.f() for _ in range(3)]\n",
        /* Pending, one awaited by a task left on the loop. */
        "import asyncio, fzs\nkept = [fzs.f() for _ in range(2)]\n"
        "task = asyncio.ensure_future(kept[0])\n"
        "await asyncio.sleep(0)\n",
        /* Dropped unawaited, then pending ones. */
        "import fzs\nfzs.f(); fzs.f()\nkept = fzs.f()\n",
    };
    aa_session *s = NULL;
    aa_result *res = NULL;
    aa_options o;
    size_t first = serials + 1, i;
    unsigned k = fz_pick(in, sizeof cells / sizeof *cells);
    int rc;

    aa_options_init(&o);
    o.write = side_write;
    if ((rc = aa_session_new(&s, &o)) != AA_OK)
        fz_fail("aa_session_new (side): %s: %s", aa_strerror(rc), aa_errmsg());
    if ((rc = aa_define(s, "fzs.f", "v(F)", (void (*)(void))side_fn, NULL)) !=
        AA_OK)
        fz_fail("aa_define fzs.f v(F): %s: %s", aa_strerror(rc),
                aa_session_errmsg(s));
    side_in = in;
    side_calls = 0;
    rc = aa_exec(s, cells[k], &res);
    if (rc != AA_OK)
        fz_fail("the side session's cell failed: %s: %s", aa_strerror(rc),
                res && aa_result_message(res) ? aa_result_message(res) : "");
    aa_result_free(res);
    aa_session_free(s);
    for (i = first; i <= serials; i++) {
        rec *r = find(i);
        int st;

        if (r == NULL || !r->side)
            continue;
        if (r->cancel_set && !r->ok_finished && r->cancel_calls != 1)
            fz_fail("side session freed: a pending future's cancel callback "
                    "ran %d times",
                    r->cancel_calls);
        st = aa_future_state(r->f);
        if (st != AA_ENOTFOUND)
            fz_fail("side session freed: a future of it is in state %s",
                    aa_strerror(st));
        finish(r, in, (int)fz_pick(in, 3), AA_ENOTFOUND,
               "a future of a freed session");
        r->side = 0;
    }
    if (side_calls == 0)
        fz_fail("the side session's cell called no host function");
}
