/*
 * loop.h -- the host's own event loop, which knows nothing of Python.
 *
 * It stands for the loop an application already has: one poll(2) over a
 * listening socket, its clients, a periodic tick and a wake-up pipe.  Each
 * line a client sends is answered "pong N"; each tick counts one.  The
 * runner (host_runner.c) turns the loop while a cell awaits, main.c while
 * the host waits for its next cell.  Nothing here is libautoawait's.
 */
#ifndef EMBED_HOST_LOOP_H
#define EMBED_HOST_LOOP_H

#include <stddef.h>

#define HOST_MAX_CLIENTS 16
#define HOST_TICK_MS 100

typedef struct host_client {
    int fd; /* -1 when the slot is free */
    size_t len;
    char buf[256]; /* the line received so far */
} host_client;

typedef struct host_loop {
    int listen_fd;
    int wake[2]; /* host_loop_wake writes, host_loop_serve reads */
    host_client clients[HOST_MAX_CLIENTS];
    long long next_tick;   /* on the monotonic clock, in milliseconds */
    unsigned long ticks;   /* ticks the loop has run */
    unsigned long answers; /* lines it has answered */
    char address[128];     /* what it listens on, for people */
    char unix_path[108];   /* the socket file it made, or "" */
} host_loop;

/* Why host_loop_serve returned. */
enum { HOST_TIMEOUT, HOST_WOKEN, HOST_INPUT, HOST_ERROR };

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
 * Serves clients and ticks until the monotonic time deadline (-1: never)
 * has come, host_loop_wake is called (HOST_WOKEN), or input_fd (-1: none)
 * is readable (HOST_INPUT).  It polls at least once, so a deadline that
 * has passed still serves what is ready.  HOST_ERROR leaves errno set.
 */
int host_loop_serve(host_loop *loop, long long deadline, int input_fd);

/* Makes host_loop_serve return HOST_WOKEN.  Async-signal-safe. */
void host_loop_wake(host_loop *loop);

#endif /* EMBED_HOST_LOOP_H */
