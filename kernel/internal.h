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
    void *sock[AAK_NCHANNELS]; /* the heartbeat's is its thread's */
    pthread_t heartbeat;
    int heartbeat_started;
    int fd;     /* epoll: the sockets' ZMQ_FDs and wake */
    int wake;   /* an eventfd: work is waiting */
    int served; /* listed among the sessions served */
    struct aa_kernel *next;

    /* Sockets but iopub are used on one thread at a time: dispatch's or
     * a cell's waiting in input(). */
    pthread_mutex_t lock;
    /* iopub is written from any thread a cell writes from. */
    pthread_mutex_t iopub;

    /* The client's cell that runs, when cell is not NULL. */
    aak_cell *cell;
    aak_msg request; /* its execute_request */
    int silent;
    int store_history;
    int allow_stdin;
    int stop_on_error;
    int aborting;        /* an error stopped the queue: abort executes */
    unsigned long count; /* execution_count */
    json_t *parent;      /* header of the last execute_request; iopub */
    json_t *history;     /* [[0, n, code], ...] */

    /* The host's write callback, given back at the end. */
    aa_write_fn host_write;
    void *host_userdata;
    char pending[3][4]; /* a character cut by a write, per stream */
    size_t npending[3];

    int stopped;    /* a shutdown_request was answered */
    int restart;    /* ... asking for a restart */
    int depth;      /* dispatch or run is on the stack */
    int free_later; /* aa_kernel_stop came from inside them */
};

/* kernel.c */
void aak_log(struct aa_kernel *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void aak_wake(struct aa_kernel *k);
int aak_publish_locked(struct aa_kernel *k, const json_t *parent,
                       const char *msg_type, json_t *content);
int aak_status(struct aa_kernel *k, const json_t *parent, const char *state);
int aak_send_reply(struct aa_kernel *k, int channel, const aak_msg *req,
                   const char *msg_type, json_t *content);

/* requests.c: answers req, received on channel; 1 when it started a cell
 * that runs on (the shell waits for its end), else 0. */
int aak_handle(struct aa_kernel *k, int channel, aak_msg *req);
/* The ending of a client's cell: the result, the reply, idle. */
void aak_cell_done(void *userdata, aa_session *s, int status, aa_result *r);

/* io.c */
void aak_io_start(struct aa_kernel *k);
void aak_io_stop(struct aa_kernel *k);
void aak_io_flush(struct aa_kernel *k);
/* A JSON string of len bytes of UTF-8, each invalid byte U+FFFD. */
json_t *aak_text(const char *data, size_t len);

#endif /* AA_KERNEL_INTERNAL_H */
