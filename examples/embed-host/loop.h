/*
 * loop.h -- the host's own event loop, which knows nothing of Python.
 *
 * It stands for the loop an application already has: one poll(2) over a
 * listening socket, its clients and a periodic tick, plus whatever
 * descriptors its user adds to each turn, and one-shot timers.  Each line a
 * client sends is answered "pong N"; each tick counts one.  main.c turns
 * it, adding the session's fd and standard input; functions.c arms its
 * timers; nothing here is libautoawait's.
 */
#ifndef EMBED_HOST_LOOP_H
#define EMBED_HOST_LOOP_H

#include <stddef.h>

#define HOST_MAX_CLIENTS 16
#define HOST_TICK_MS 100
#define HOST_MAX_WATCHES 4 /* descriptors of its user per turn */
#define HOST_MAX_TIMERS 64

typedef struct host_client {
    int fd; /* -1 when the slot is free */
    size_t len;
    char buf[256]; /* the line received so far */
} host_client;

/* A one-shot timer: fn(arg) runs once, from the turn at or after due. */
typedef void (*host_timer_fn)(void *arg);
typedef struct host_timer {
    long long due; /* on the monotonic clock, in ms; -1: a free slot */
    host_timer_fn fn;
    void *arg;
} host_timer;

typedef struct host_loop {
    int listen_fd;
    host_client clients[HOST_MAX_CLIENTS];
    host_timer timers[HOST_MAX_TIMERS];
    long long next_tick;   /* on the monotonic clock, in milliseconds */
    unsigned long ticks;   /* ticks the loop has run */
    unsigned long answers; /* lines it has answered */
    char address[128];     /* what it listens on, for people */
    char unix_path[108];   /* the socket file it made, or "" */
} host_loop;

/* A descriptor of the loop's user, polled for reading in one turn. */
typedef struct host_watch {
    int fd;    /* -1: none this turn */
    int ready; /* set by host_loop_turn: readable, or hung up */
} host_watch;

/*
 * Listens on address: a UNIX socket when it holds a '/', else a TCP port
 * of 127.0.0.1 (0 picks a free one).  Returns 0, or -1 with errno set.
 */
int host_loop_open(host_loop *loop, const char *address);

/* Closes every socket, and removes the UNIX socket file. */
void host_loop_close(host_loop *loop);

/* Milliseconds on the monotonic clock. */
long long host_loop_now(void);

/*
 * Arms a timer: fn(arg) is called once by the first host_loop_turn at or
 * after due (host_loop_now's clock).  Returns the timer's number, for
 * host_timer_cancel, or -1 with errno ENOSPC when HOST_MAX_TIMERS are
 * armed already.
 */
int host_timer_add(host_loop *loop, long long due, host_timer_fn fn, void *arg);

/* Disarms timer id, which must be armed: it has not run yet. */
void host_timer_cancel(host_loop *loop, int id);

/* The number of clients connected now, and of timers armed. */
int host_loop_clients(const host_loop *loop);
int host_loop_timers(const host_loop *loop);

/*
 * Turns the loop once: waits in poll(2) until one of its own descriptors or
 * watch[0..n-1] is readable, the next tick or timer is due, or the
 * monotonic time deadline (-1: none) has come; then serves its clients,
 * runs the tick and the timers that are due and sets each watch's ready.  A
 * deadline that has passed makes it poll without waiting.  A signal ends the
 * wait early, as if nothing happened: the caller looks at its state again.
 * Returns 0, or -1 with errno set.
 */
int host_loop_turn(host_loop *loop, host_watch *watch, size_t n,
                   long long deadline);

#endif /* EMBED_HOST_LOOP_H */
