/*
 * uv_host.h -- the parts of uv-host, a libuv application with a Python
 * console whose session is a guest of the application's loop.
 *
 *   guest.c    the session in the loop: its fd watched, its timer re-armed,
 *              cells started and finished (the part docs/embedding.md shows)
 *   console.c  standard input read as lines, lines made cells, results shown
 *   server.c   what the application does anyway: a TCP server, a timer
 *   functions.c  what cells may call (aa_define): host.stats(), and
 *              host.wait_tick() and host.run_job(n) to await
 *   kernel.c   -k: the session served to Jupyter clients (built with
 *              libautoawait-kernel only: AA_UV_HOST_KERNEL)
 *   main.c     options, start, Ctrl-C, stop
 *
 * Nothing here includes Python.h: the session is reached through
 * <autoawait/autoawait.h> only.
 */
#ifndef UV_HOST_H
#define UV_HOST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <autoawait/autoawait.h>
#ifdef AA_UV_HOST_KERNEL
#include <autoawait/kernel.h>
#endif

struct host {
    uv_loop_t *loop;
    aa_session *session;
    int interactive; /* prompts: standard input is a terminal, or -i */

    /* The guest (guest.c). */
    uv_poll_t session_poll;   /* aa_session_fd, readable */
    uv_timer_t session_timer; /* aa_session_timeout, re-armed each call */
    volatile sig_atomic_t cell_running; /* started, done not called yet */
    unsigned running_number;            /* In [n] of the running cell */
    const char *held; /* the console's cell, waiting for a client's */
    size_t held_len;

#ifdef AA_UV_HOST_KERNEL
    /* The Jupyter kernel (kernel.c, -k). */
    aa_kernel *kernel;
    uv_poll_t kernel_poll; /* aa_kernel_fd, readable */
    int kernel_shut;       /* its client asked for a shutdown */
#endif

    /* The application (server.c). */
    uv_tcp_t server;
    uv_timer_t tick_timer;
    unsigned tick_ms;          /* -t: the timer's period, 100 by default */
    unsigned long ticks;       /* every tick_ms */
    unsigned long answers;     /* lines answered */
    unsigned long connections; /* clients accepted */
    uint64_t started;          /* uv_hrtime() at the start */

    /* The host functions (functions.c), called on the loop's thread. */
    uv_thread_t loop_thread;
    aa_future **waiters; /* host.wait_tick(): resolved at the next tick */
    size_t nwaiters, waiters_cap;
    unsigned job_ms;         /* -j: how long a job's worker sleeps */
    unsigned long jobs;      /* host.run_job() calls that made a job */
    unsigned long jobs_done; /* jobs whose worker has finished */

    /* The console (console.c). */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tty_t tty;
        uv_pipe_t pipe;
    } input;
    uv_fs_t input_req;    /* a regular file or /dev/null: read with uv_fs */
    int input_is_file;    /* input_req is used, not the stream */
    int input_reading;    /* reading is on (not paused) */
    int input_req_busy;   /* a uv_fs_read is in flight */
    int input_ended;      /* end of input (or a read error) */
    char input_buf[4096]; /* one read */
    char *pending;        /* read, not yet made lines */
    size_t pending_len, pending_cap;
    char *cell; /* the lines of the cell being typed */
    size_t cell_len, cell_cap;
    unsigned next_number;                  /* In [n] of the next cell */
    int prompted;                          /* a prompt waits for its line */
    uv_async_t sigint_async;               /* Ctrl-C, back in the loop */
    volatile sig_atomic_t sigint_at_input; /* Ctrl-C with no cell running */

    /* The end. */
    int stopping;
    int failed;    /* a cell failed: exit status 1 */
    int exit_code; /* a cell's SystemExit */
};

/* guest.c */
int guest_start(struct host *h);
int guest_exec(struct host *h, const char *source, size_t len);
void guest_rearm(struct host *h);
void guest_retry(struct host *h);

/* console.c */
int console_start(struct host *h);
void console_feed(struct host *h);
void console_report(struct host *h, unsigned number, int status,
                    const aa_result *r);
void console_interrupted(struct host *h);
void say(const char *fmt, ...);
void complain(const char *fmt, ...);

/* server.c */
int server_start(struct host *h, int port, int *bound);
void server_stop(struct host *h);

/* functions.c */
int functions_define(struct host *h);
void functions_tick(struct host *h);
void functions_free(struct host *h);

/* kernel.c */
int kernel_start(struct host *h, const char *file);
int kernel_serving(const struct host *h);
void kernel_free(struct host *h);

/* main.c */
void host_stop(struct host *h);

#endif /* UV_HOST_H */
