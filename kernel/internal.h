/*
 * internal.h -- what the files of libautoawait-kernel share: the kernel
 * itself.  kernel.c owns its life (the sockets, the fd, dispatch),
 * requests.c answers the requests, io.c carries a cell's writes and
 * input() to and from the client.  Nothing here is exported.
 */
#ifndef AA_KERNEL_INTERNAL_H
#define AA_KERNEL_INTERNAL_H

#include <autoawait/kernel.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "wire.h"

/* What a started cell's done callback needs; it outlives a kernel
 * stopped while its cell still ran (kernel is NULL then). */
typedef struct aak_cell {
    struct aa_kernel *kernel;
} aak_cell;

struct aa_kernel {
    aa_session *s;
    aa_kernel_log_fn log;
    aa_kernel_shutdown_fn shutdown;
    void *userdata;
    char *path; /* the connection file */
    aak_conn conn;
    aak_wire wire;
    void *ctx;                 /* ZeroMQ's context */
    void *sock[AAK_NCHANNELS]; /* heartbeat and control: their threads' */
    pthread_t heartbeat, control;
    int heartbeat_started, control_started;
    int fd;        /* epoll: shell's ZMQ_FD and wake */
    int wake;      /* an eventfd: work is waiting */
    int interrupt; /* an eventfd: control ends a wait in input() */
    int timer;     /* a timerfd in fd: a deferred cell, buffered output */
    int armed;     /* timer is set (under the iopub lock) */
    int served;    /* listed among the sessions served */
    struct aa_kernel *next;

    /* iopub is written from any thread a cell writes from and from
     * control's; the lock also guards cell, parent and history, which
     * control's thread reads. */
    pthread_mutex_t iopub;

    /* The client's cell that runs, when cell is not NULL. */
    aak_cell *cell;
    aak_msg request; /* its execute_request */
    int deferred;    /* request waits for the host's cell to end */
    int silent;
    int store_history;
    int allow_stdin;
    int stop_on_error;
    int aborting;        /* executes are answered "aborted" */
    unsigned long count; /* execution_count */
    json_t *parent;      /* header of the last execute_request; iopub */
    json_t *history;     /* [[0, n, code], ...] */

    /* The host's write callback, given back at the end. */
    aa_write_fn host_write;
    void *host_userdata;
    char *out[3]; /* what a cell wrote and the client has not got, by
                     stream: sent at a line's end, at 8 KiB, when the
                     other stream is written, at the cell's end, and
                     by the timer */
    size_t outlen[3], outcap[3];
    int last; /* the stream written last */

    atomic_int stopped; /* 1: a shutdown_request was answered; 2: and
                           the host was told (or it stopped the kernel) */
    int restart;        /* ... asking for a restart */
    int depth;          /* dispatch or run is on the stack */
    int free_later;     /* aa_kernel_stop came from inside them */
};

/* kernel.c */
void aak_log(struct aa_kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void aak_wake(struct aa_kernel *k);
/* Receives the next request on shell into *m (those dropped are
 * logged): 0 when none is waiting. */
int aak_shell_recv(struct aa_kernel *k, aak_msg *m);
/* Makes fd readable in ms milliseconds, unless the timer is set. */
void aak_arm(struct aa_kernel *k, int ms);
int aak_publish_locked(struct aa_kernel *k, const json_t *parent,
                       const char *msg_type, json_t *content);
int aak_status(struct aa_kernel *k, const json_t *parent, const char *state);
int aak_send_reply(struct aa_kernel *k, int channel, const aak_msg *req,
                   const char *msg_type, json_t *content);

/* requests.c: answers req, received on channel (an execute_request on
 * shell is taken: *req is zeroed then). */
void aak_handle(struct aa_kernel *k, int channel, aak_msg *req);
/* Starts k->request's cell: done, running, or deferred. */
void aak_start_cell(struct aa_kernel *k);
/* Whether a client's cell runs. */
int aak_running(struct aa_kernel *k);
/* The ending of a client's cell: the result, the reply, idle. */
void aak_cell_done(void *userdata, aa_session *s, int status, aa_result *r);

/* io.c */
void aak_io_start(struct aa_kernel *k);
void aak_io_stop(struct aa_kernel *k);
/* Sends what the cell wrote; whole, or (whole 0) up to the last whole
 * character.  The iopub lock is not held. */
void aak_io_flush(struct aa_kernel *k, int whole);
/* A JSON string of len bytes of UTF-8, each invalid byte U+FFFD. */
json_t *aak_text(const char *data, size_t len);

#endif /* AA_KERNEL_INTERNAL_H */
