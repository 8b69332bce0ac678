/*
 * live.c -- the sessions that are alive, for aa_session_free to check.
 *
 * A host that frees a session twice, or from two threads at once, hands
 * the library a pointer that may be freed already: reading it would be a
 * use after free.  So every session made is listed here by its address,
 * and aa_session_free first claims it from the list, which needs no read
 * of the session's memory to say no.  A pointer freed and then handed out
 * again by malloc for a new session cannot be told apart; that case is the
 * host's.  The list's lock is held only around the list, never while
 * another lock is taken, and fork() takes it (pthread_atfork), so that a
 * child finds it in order.  What a free then does is session.c's.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
static aa_session **live;
static size_t live_count, live_cap;

static void take(void)
{
    pthread_mutex_lock(&live_lock);
}

static void give(void)
{
    pthread_mutex_unlock(&live_lock);
}

static void init(void)
{
    pthread_atfork(take, give, give);
}

/* The index of s in the list, or live_count; the lock is held. */
static size_t find(const aa_session *s)
{
    size_t i;

    for (i = 0; i < live_count && live[i] != s; i++)
        ;
    return i;
}

/* Lists s; -1 when out of memory. */
int aa__live_add(aa_session *s)
{
    int rc = 0;

    pthread_once(&live_once, init);
    take();
    if (live_count == live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 16;
        aa_session **more = realloc(live, cap * sizeof *more);
        if (more != NULL) {
            live = more;
            live_cap = cap;
        }
    }
    if (live_count < live_cap)
        live[live_count++] = s;
    else
        rc = -1;
    give();
    return rc;
}

void aa__live_remove(const aa_session *s)
{
    size_t i;

    take();
    if ((i = find(s)) < live_count)
        live[i] = live[--live_count];
    give();
}

/* Takes s for aa_session_free: 0 when it is no live session (freed
 * already) or another free took it first. */
int aa__live_claim(aa_session *s)
{
    int ok;

    take();
    ok = find(s) < live_count && !atomic_load(&s->freeing);
    if (ok)
        atomic_store(&s->freeing, 1);
    give();
    return ok;
}

/* 1 when s is a live session (possibly being freed). */
int aa__live_has(const aa_session *s)
{
    int has;

    take();
    has = find(s) < live_count;
    give();
    return has;
}

/* A copy of the list of live sessions (malloc'ed; *n of them), or NULL
 * with *n 0.  The caller holds the GIL, so that none it gets is destroyed
 * before it lets go. */
aa_session **aa__live_snapshot(size_t *n)
{
    aa_session **copy = NULL;

    take();
    *n = 0;
    if (live_count > 0 && (copy = malloc(live_count * sizeof *copy)) != NULL) {
        memcpy(copy, live, live_count * sizeof *copy);
        *n = live_count;
    }
    give();
    return copy;
}
