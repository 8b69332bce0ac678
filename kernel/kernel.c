/*
 * kernel.c -- a kernel's life: the connection file, the five sockets, the
 * heartbeat's thread, the one fd the host watches, dispatch and the end.
 *
 * The host's loop watches aa_kernel_fd, an epoll set of shell's ZMQ_FD and
 * of an eventfd (wake).  A ZMQ_FD says only that
 * the socket's state may have changed, and is quiet again once ZeroMQ has
 * read its own commands (ZMQ_EVENTS does): so every dispatch ends by
 * asking each socket, and wakes itself through the eventfd when one still
 * holds a message it means to read.  While a client's cell runs, shell is
 * left to queue (asked, so that its fd goes quiet, but not read); the
 * cell's end wakes the kernel for the next request.  Control and the
 * heartbeat have a thread each, as in ipykernel: a sync cell keeps the
 * host's loop, and a `while True: pass` can only be interrupted, and a
 * busy kernel only be seen alive, from elsewhere.  What each request gets
 * is requests.c's; the cell's writes and input() are io.c's.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

/* At most this many requests a dispatch reads from one socket: the host's
 * loop turns in between (wake brings it back for the rest). */
#define BATCH 32

static _Thread_local char errmsg[512];

/* The sessions served, so that one is not served twice. */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static struct aa_kernel *served;
static unsigned kernels_made; /* names kernel-PID-N.json */

static int fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return status;
}

const char *aa_kernel_errmsg(void)
{
    return errmsg;
}

void aa_kernel_options_init(aa_kernel_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

void aak_log(struct aa_kernel *k, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k->log != NULL)
        k->log(k->userdata, line);
    else
        fprintf(stderr, "aa-kernel: %s\n", line);
}

void aak_arm(struct aa_kernel *k, int ms)
{
    struct itimerspec due = {{0, 0}, {0, (long)ms * 1000000L}};

    timerfd_settime(k->timer, 0, &due, NULL);
}

void aak_wake(struct aa_kernel *k)
{
    uint64_t one = 1;
    ssize_t n;

    do
        n = write(k->wake, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

int aak_publish_locked(struct aa_kernel *k, const json_t *parent,
                       const char *msg_type, json_t *content)
{
    int r;

    pthread_mutex_lock(&k->iopub);
    r = aak_publish(&k->wire, k->sock[AAK_IOPUB], parent, msg_type, content);
    pthread_mutex_unlock(&k->iopub);
    if (r < 0)
        aak_log(k, "cannot publish %s: %s", msg_type, zmq_strerror(errno));
    return r;
}

int aak_status(struct aa_kernel *k, const json_t *parent, const char *state)
{
    return aak_publish_locked(k, parent, "status",
                              json_pack("{ss}", "execution_state", state));
}

int aak_send_reply(struct aa_kernel *k, int channel, const aak_msg *req,
                   const char *msg_type, json_t *content)
{
    int r = aak_reply(&k->wire, k->sock[channel], req, msg_type, content, NULL);

    if (r < 0)
        aak_log(k, "cannot send %s: %s", msg_type, zmq_strerror(errno));
    return r;
}

/* ------------------------------------------------------------ the file */

/* Jupyter's runtime folder, made 0700 when missing. */
static int runtime_dir(char *buf, size_t len)
{
    const char *env = getenv("JUPYTER_RUNTIME_DIR");
    const char *home;
    char data[PATH_MAX];
    int n;

    if (env != NULL && *env != '\0') {
        n = snprintf(buf, len, "%s", env);
    } else {
        if ((env = getenv("JUPYTER_DATA_DIR")) != NULL && *env != '\0')
            n = snprintf(data, sizeof data, "%s", env);
        else if ((env = getenv("XDG_DATA_HOME")) != NULL && *env != '\0')
            n = snprintf(data, sizeof data, "%s/jupyter", env);
        else if ((home = getenv("HOME")) != NULL && *home != '\0')
            n = snprintf(data, sizeof data, "%s/.local/share/jupyter", home);
        else
            return fail(AA_ENOTFOUND, "no connection file given, and no "
                                      "runtime folder: HOME is not set");
        if (n < 0 || (size_t)n >= sizeof data)
            return fail(AA_EINVAL, "the runtime folder's path is too long");
        n = snprintf(buf, len, "%s/runtime", data);
    }
    if (n < 0 || (size_t)n >= len)
        return fail(AA_EINVAL, "the runtime folder's path is too long");
    /* mkdir -p, each missing folder 0700. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            *p = c;
            return fail(AA_ENOTFOUND, "cannot make the runtime folder %s: %s",
                        buf, strerror(e));
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return AA_OK;
}

static int default_path(struct aa_kernel *k)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    unsigned n;
    int r = runtime_dir(dir, sizeof dir);

    if (r != AA_OK)
        return r;
    pthread_mutex_lock(&served_lock);
    n = kernels_made++;
    pthread_mutex_unlock(&served_lock);
    if (n == 0)
        snprintf(path, sizeof path, "%s/kernel-%ld.json", dir, (long)getpid());
    else
        snprintf(path, sizeof path, "%s/kernel-%ld-%u.json", dir,
                 (long)getpid(), n);
    k->path = strdup(path);
    return k->path != NULL ? AA_OK : fail(AA_ENOMEM, "out of memory");
}

/* Reads the file when it exists; otherwise the defaults of opts. */
static int configure(struct aa_kernel *k, const aa_kernel_options *o,
                     int *write_it)
{
    char err[512];
    const char *transport = o->transport != NULL ? o->transport : "tcp";
    const char *ip = o->ip != NULL ? o->ip : "127.0.0.1";

    *write_it = 0;
    if (o->connection_file != NULL) {
        if (*o->connection_file == '\0')
            return fail(AA_EINVAL, "the connection file's path is empty");
        k->path = strdup(o->connection_file);
        if (k->path == NULL)
            return fail(AA_ENOMEM, "out of memory");
        if (access(k->path, F_OK) == 0) {
            if (aak_conn_read(k->path, &k->conn, err, sizeof err) < 0)
                return fail(errno == ENOENT || errno == EACCES ? AA_ENOTFOUND
                                                               : AA_EINVAL,
                            "%s", err);
            return AA_OK;
        }
    } else {
        int r = default_path(k);
        if (r != AA_OK)
            return r;
    }
    *write_it = 1;
    if (strcmp(transport, "tcp") != 0 && strcmp(transport, "ipc") != 0)
        return fail(AA_EINVAL, "unknown transport '%s' (tcp or ipc)",
                    transport);
    if (*ip == '\0' || strlen(ip) >= sizeof k->conn.ip)
        return fail(AA_EINVAL, "bad ip '%s'", ip);
    memset(&k->conn, 0, sizeof k->conn);
    strcpy(k->conn.transport, transport);
    strcpy(k->conn.ip, ip);
    strcpy(k->conn.signature_scheme, "hmac-sha256");
    strcpy(k->conn.kernel_name, "autoawait");
    if (aak_conn_new_key(&k->conn) < 0)
        return fail(AA_ENOMEM, "no random bytes for the key");
    return AA_OK;
}

/* ---------------------------------------------------------- the sockets */

static int bind_channel(struct aa_kernel *k, int channel)
{
    static const int types[AAK_NCHANNELS] = {ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_ROUTER,
                                             ZMQ_ROUTER, ZMQ_PUB};
    char endpoint[512], bound[512];
    size_t len = sizeof bound;
    int linger = 200;
    void *sock = zmq_socket(k->ctx, types[channel]);

    if (sock == NULL)
        return fail(AA_ENOMEM, "cannot make a ZeroMQ socket: %s",
                    zmq_strerror(errno));
    k->sock[channel] = sock;
    /* The last replies (shutdown_reply, status idle) get a moment to
     * leave when the kernel stops; a client that is gone holds it no
     * longer than that. */
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (aak_endpoint(&k->conn, channel, endpoint, sizeof endpoint) < 0)
        return fail(AA_EINVAL, "the %s endpoint is too long",
                    aak_port_name(channel));
    if (zmq_bind(sock, endpoint) < 0)
        return fail(errno == EADDRINUSE ? AA_EBUSY : AA_EINVAL,
                    "cannot bind %s to %s: %s", aak_port_name(channel),
                    endpoint, zmq_strerror(errno));
    if (k->conn.ports[channel] != 0)
        return AA_OK;
    if (strcmp(k->conn.transport, "ipc") == 0) {
        k->conn.ports[channel] = channel + 1;
        return AA_OK;
    }
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &len) < 0)
        return fail(AA_EINVAL, "cannot read the port of %s: %s",
                    aak_port_name(channel), zmq_strerror(errno));
    const char *colon = strrchr(bound, ':');
    k->conn.ports[channel] = colon != NULL ? atoi(colon + 1) : 0;
    if (k->conn.ports[channel] <= 0)
        return fail(AA_EINVAL, "cannot read the port of %s from '%s'",
                    aak_port_name(channel), bound);
    return AA_OK;
}

/* The heartbeat: every ping is sent back as it came.  It ends when the
 * context is shut down. */
static void *heartbeat(void *arg)
{
    struct aa_kernel *k = arg;
    void *sock = k->sock[AAK_HB];

    zmq_proxy(sock, sock, NULL);
    zmq_close(sock);
    return NULL;
}

/* Control: interrupt_request and shutdown_request reach the session while
 * a cell keeps the host's thread (requests.c answers them from here).  It
 * ends when the context is shut down. */
static void *control(void *arg)
{
    struct aa_kernel *k = arg;
    void *sock = k->sock[AAK_CONTROL];
    char why[256];

    for (;;) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        aak_msg m = {0};
        if (zmq_poll(&item, 1, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break; /* ETERM */
        }
        int r = aak_recv(&k->wire, sock, &m, why, sizeof why);
        if (r < 0 && zmq_errno() == ETERM)
            break;
        if (r == AAK_DROPPED)
            aak_log(k, "dropped a message on control: %s", why);
        if (r == AAK_MESSAGE)
            aak_handle(k, AAK_CONTROL, &m);
        aak_msg_clear(&m);
    }
    zmq_close(sock);
    return NULL;
}

/* Starts fn on a thread of its own that no signal is sent to: the host's
 * handlers run on the host's threads. */
static int spawn(struct aa_kernel *k, pthread_t *t, void *(*fn)(void *))
{
    sigset_t all, old;
    int r;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(t, NULL, fn, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

static int watch(struct aa_kernel *k, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN};

    ev.data.fd = fd;
    if (epoll_ctl(k->fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return fail(AA_ENOMEM, "cannot watch the sockets: %s", strerror(errno));
    return AA_OK;
}

static int open_sockets(struct aa_kernel *k)
{
    int r;

    k->ctx = zmq_ctx_new();
    if (k->ctx == NULL)
        return fail(AA_ENOMEM, "cannot make a ZeroMQ context: %s",
                    zmq_strerror(errno));
    for (int c = 0; c < AAK_NCHANNELS; c++)
        if ((r = bind_channel(k, c)) != AA_OK)
            return r;
    k->fd = epoll_create1(EPOLL_CLOEXEC);
    k->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    k->interrupt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    k->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (k->fd < 0 || k->wake < 0 || k->interrupt < 0 || k->timer < 0)
        return fail(AA_ENOMEM, "cannot make the kernel's fd: %s",
                    strerror(errno));
    int zfd;
    size_t len = sizeof zfd;
    zmq_getsockopt(k->sock[AAK_SHELL], ZMQ_FD, &zfd, &len);
    if ((r = watch(k, k->wake)) != AA_OK || (r = watch(k, zfd)) != AA_OK ||
        (r = watch(k, k->timer)) != AA_OK)
        return r;
    /* Each thread owns its socket from here and closes it. */
    if (spawn(k, &k->heartbeat, heartbeat) != 0)
        return fail(AA_ENOMEM, "cannot start the heartbeat's thread");
    k->heartbeat_started = 1;
    if (spawn(k, &k->control, control) != 0)
        return fail(AA_ENOMEM, "cannot start the control thread");
    k->control_started = 1;
    return AA_OK;
}

static void close_sockets(struct aa_kernel *k)
{
    if (k->ctx != NULL)
        zmq_ctx_shutdown(k->ctx);
    if (k->heartbeat_started) {
        pthread_join(k->heartbeat, NULL);
        k->sock[AAK_HB] = NULL;
    }
    if (k->control_started) {
        pthread_join(k->control, NULL);
        k->sock[AAK_CONTROL] = NULL;
    }
    for (int c = 0; c < AAK_NCHANNELS; c++)
        if (k->sock[c] != NULL)
            zmq_close(k->sock[c]);
    if (k->ctx != NULL)
        zmq_ctx_term(k->ctx);
    if (k->fd >= 0)
        close(k->fd);
    if (k->wake >= 0)
        close(k->wake);
    if (k->interrupt >= 0)
        close(k->interrupt);
    if (k->timer >= 0)
        close(k->timer);
}

/* -------------------------------------------------------- start and end */

static void unlist(struct aa_kernel *k)
{
    pthread_mutex_lock(&served_lock);
    for (struct aa_kernel **p = &served; *p != NULL; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    pthread_mutex_unlock(&served_lock);
}

static void destroy(struct aa_kernel *k)
{
    if (k->served) {
        aak_io_stop(k);
        unlist(k);
    }
    close_sockets(k);
    aak_msg_clear(&k->request);
    json_decref(k->parent);
    json_decref(k->history);
    for (int which = 1; which <= 2; which++)
        free(k->out[which]);
    pthread_mutex_destroy(&k->iopub);
    free(k->path);
    free(k);
}

static int list(struct aa_kernel *k)
{
    int taken = 0;

    pthread_mutex_lock(&served_lock);
    for (struct aa_kernel *o = served; o != NULL; o = o->next)
        taken |= o->s == k->s;
    if (!taken) {
        k->next = served;
        served = k;
        k->served = 1;
    }
    pthread_mutex_unlock(&served_lock);
    return taken ? fail(AA_EBUSY, "the session is served by a kernel already")
                 : AA_OK;
}

int aa_kernel_start(aa_session *s, const aa_kernel_options *opts,
                    aa_kernel **out)
{
    aa_kernel_options o;
    struct aa_kernel *k;
    char err[512];
    int write_it, r;

    errmsg[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return fail(AA_EINVAL, "aa_kernel_start: %s is NULL",
                    s == NULL ? "the session" : "out");
    aa_kernel_options_init(&o);
    if (opts != NULL) {
        if (opts->size == 0)
            return fail(AA_EINVAL, "aa_kernel_options.size is 0: "
                                   "fill the options with "
                                   "aa_kernel_options_init");
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    }
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return fail(AA_ENOMEM, "out of memory");
    k->s = s;
    k->log = o.log;
    k->shutdown = o.shutdown;
    k->userdata = o.userdata;
    k->fd = k->wake = k->interrupt = k->timer = -1;
    k->last = 1;
    pthread_mutex_init(&k->iopub, NULL);
    k->history = json_array();
    if (k->history == NULL) {
        r = fail(AA_ENOMEM, "out of memory");
        goto fail;
    }
    if ((r = list(k)) != AA_OK)
        goto fail;
    if ((r = configure(k, &o, &write_it)) != AA_OK)
        goto fail;
    /* The key before the sockets: control's thread checks from its
     * first message on. */
    if (aak_wire_init(&k->wire, &k->conn) < 0) {
        r = fail(AA_ENOMEM, "no random bytes for the session id");
        goto fail;
    }
    if ((r = open_sockets(k)) != AA_OK)
        goto fail;
    if (write_it && aak_conn_write(k->path, &k->conn, err, sizeof err) < 0) {
        r = fail(AA_ENOTFOUND, "%s", err);
        goto fail;
    }
    aak_io_start(k);
    *out = k;
    return AA_OK;
fail:
    if (k->served) {
        unlist(k);
        k->served = 0;
    }
    destroy(k);
    return r;
}

const char *aa_kernel_connection_file(const aa_kernel *k)
{
    return k != NULL ? k->path : NULL;
}

int aa_kernel_fd(aa_kernel *k)
{
    return k != NULL ? k->fd : AA_EINVAL;
}

/* Whether sock holds a message now; also quiets its ZMQ_FD. */
static int readable(void *sock)
{
    int events = 0;
    size_t len = sizeof events;

    if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) < 0)
        return 0;
    return (events & ZMQ_POLLIN) != 0;
}

int aak_shell_recv(struct aa_kernel *k, aak_msg *m)
{
    char why[256];

    for (;;) {
        int r = aak_recv(&k->wire, k->sock[AAK_SHELL], m, why, sizeof why);
        if (r == AAK_MESSAGE)
            return 1;
        if (r != AAK_DROPPED)
            return 0;
        aak_log(k, "dropped a message on shell: %s", why);
    }
}

/* Reads and answers up to BATCH requests on shell. */
static void serve(struct aa_kernel *k)
{
    if (k->deferred)
        aak_start_cell(k);
    for (int n = 0; n < BATCH && !k->stopped; n++) {
        aak_msg m = {0};
        if (k->cell != NULL || k->deferred)
            return; /* the rest waits for the cell's end */
        if (!aak_shell_recv(k, &m))
            return;
        aak_handle(k, AAK_SHELL, &m);
        aak_msg_clear(&m);
    }
}

/* The end of a dispatch: a shell that still holds a request to read now
 * brings the host back at once.  Asked even while a cell runs, so that
 * its fd goes quiet. */
static void rearm(struct aa_kernel *k)
{
    uint64_t n;

    while (read(k->wake, &n, sizeof n) > 0)
        ;
    if (readable(k->sock[AAK_SHELL]) && k->cell == NULL && !k->deferred &&
        !k->stopped)
        aak_wake(k);
}

static void release(struct aa_kernel *k)
{
    if (--k->depth == 0 && k->free_later)
        destroy(k);
}

int aa_kernel_dispatch(aa_kernel *k)
{
    int answered = 1;
    uint64_t expired;

    if (k == NULL)
        return AA_EINVAL;
    if (k->stopped == 2)
        return AA_OK;
    k->depth++;
    if (read(k->timer, &expired, sizeof expired) > 0) {
        /* Output a cell left without a line's end, and a deferred cell. */
        pthread_mutex_lock(&k->iopub);
        k->armed = 0;
        pthread_mutex_unlock(&k->iopub);
        aak_io_flush(k, 0);
    }
    serve(k);
    rearm(k);
    /* Control's thread answered a shutdown_request: the host is told
     * here, on its own thread, once. */
    if (atomic_compare_exchange_strong(&k->stopped, &answered, 2) &&
        k->shutdown != NULL)
        k->shutdown(k->userdata, k, k->restart);
    release(k);
    return AA_OK;
}

int aa_kernel_run(aa_kernel *k)
{
    int r = AA_OK;

    if (k == NULL)
        return AA_EINVAL;
    k->depth++;
    while (k->stopped != 2 && !k->free_later) {
        struct pollfd p[2] = {{.fd = k->fd, .events = POLLIN},
                              {.fd = aa_session_fd(k->s), .events = POLLIN}};
        int timeout = aa_session_timeout(k->s);
        if (poll(p, 2, timeout) < 0 && errno != EINTR) {
            r = AA_EINVAL;
            break;
        }
        r = aa_session_dispatch(k->s);
        if (r == AA_ERUNNER)
            r = AA_OK; /* written to the session's stderr; it goes on */
        if (r != AA_OK)
            break;
        if ((r = aa_kernel_dispatch(k)) != AA_OK)
            break;
    }
    release(k);
    return r;
}

void aa_kernel_stop(aa_kernel *k)
{
    if (k == NULL)
        return;
    if (k->cell != NULL) {
        /* The client's cell is interrupted, and given a moment to run its
         * finally blocks; a cell that will not end is left to end alone,
         * its done callback finding no kernel. */
        aa_interrupt(k->s);
        for (int i = 0; i < 100 && k->cell != NULL; i++)
            aa_session_poll(k->s, -1, 20);
        if (k->cell != NULL) {
            k->cell->kernel = NULL;
            k->cell = NULL;
        }
    }
    k->stopped = 2;
    if (k->depth > 0)
        k->free_later = 1;
    else
        destroy(k);
}
