/*
 * loop.c -- the host's own event loop: see loop.h.
 *
 * Plain POSIX: poll(2) with a timeout computed from the next timer, as
 * most hand-written loops do.  It never blocks anywhere but in poll.
 */
#define _POSIX_C_SOURCE 200809L

#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

long long host_loop_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int listen_unix(host_loop *loop, const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    /* A socket file left by an earlier run would make bind fail. */
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    strcpy(loop->unix_path, path);
    snprintf(loop->address, sizeof loop->address, "%s", path);
    return fd;
}

/* Loopback only: a demo has no business listening on the network. */
static int listen_tcp(host_loop *loop, const char *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    char *end;
    long n = strtol(port, &end, 10);
    int fd, one = 1;

    if (*port == '\0' || *end != '\0' || n < 0 || n > 65535) {
        errno = EINVAL;
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)n);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    snprintf(loop->address, sizeof loop->address, "127.0.0.1:%u",
             (unsigned)ntohs(sa.sin_port));
    return fd;
}

int host_loop_open(host_loop *loop, const char *address)
{
    int i;

    memset(loop, 0, sizeof *loop);
    for (i = 0; i < HOST_MAX_CLIENTS; i++)
        loop->clients[i].fd = -1;
    for (i = 0; i < HOST_MAX_TIMERS; i++)
        loop->timers[i].due = -1;
    loop->listen_fd = strchr(address, '/') != NULL ? listen_unix(loop, address)
                                                   : listen_tcp(loop, address);
    if (loop->listen_fd < 0 || listen(loop->listen_fd, 8) < 0 ||
        set_flags(loop->listen_fd) < 0) {
        int saved = errno;
        host_loop_close(loop);
        errno = saved;
        return -1;
    }
    loop->next_tick = host_loop_now() + HOST_TICK_MS;
    return 0;
}

void host_loop_close(host_loop *loop)
{
    int i;

    for (i = 0; i < HOST_MAX_CLIENTS; i++)
        if (loop->clients[i].fd >= 0)
            close(loop->clients[i].fd);
    if (loop->listen_fd >= 0)
        close(loop->listen_fd);
    if (loop->unix_path[0] != '\0')
        unlink(loop->unix_path);
    loop->listen_fd = -1;
    loop->unix_path[0] = '\0';
}

static void accept_client(host_loop *loop)
{
    int fd = accept(loop->listen_fd, NULL, NULL), i;

    if (fd < 0)
        return;
    for (i = 0; i < HOST_MAX_CLIENTS; i++) {
        if (loop->clients[i].fd < 0) {
            set_flags(fd);
            loop->clients[i].fd = fd;
            loop->clients[i].len = 0;
            return;
        }
    }
    close(fd); /* full: a real server would say so */
}

/* Answers one line.  MSG_NOSIGNAL: a client gone must not kill the host. */
static void answer(host_loop *loop, host_client *c)
{
    char reply[32];
    int n;

    loop->answers++;
    n = snprintf(reply, sizeof reply, "pong %lu\n", loop->answers);
    if (send(c->fd, reply, (size_t)n, MSG_NOSIGNAL) < 0) {
        /* a client that does not read loses its answers */
    }
    printf("[host] pong %lu\n", loop->answers);
}

/* Reads what a client sent, answering each complete line. */
static void serve_client(host_loop *loop, host_client *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->len += (size_t)n;
    while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
        size_t used = (size_t)(nl - c->buf) + 1;
        answer(loop, c);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    if (c->len == sizeof c->buf) { /* a line too long counts as one */
        answer(loop, c);
        c->len = 0;
    }
}

/*
 * Runs the tick when it is due.  A tick that came while the loop was not
 * turning is skipped, not made up for: the count says how often the loop
 * really ran it.
 */
static void tick(host_loop *loop, long long now)
{
    if (now < loop->next_tick)
        return;
    loop->ticks++;
    loop->next_tick += HOST_TICK_MS;
    if (loop->next_tick <= now)
        loop->next_tick = now + HOST_TICK_MS;
}

int host_timer_add(host_loop *loop, long long due, host_timer_fn fn, void *arg)
{
    int i;

    for (i = 0; i < HOST_MAX_TIMERS; i++) {
        if (loop->timers[i].due < 0) {
            loop->timers[i] = (host_timer){due < 0 ? 0 : due, fn, arg};
            return i;
        }
    }
    errno = ENOSPC;
    return -1;
}

void host_timer_cancel(host_loop *loop, int id)
{
    if (id >= 0 && id < HOST_MAX_TIMERS)
        loop->timers[id].due = -1;
}

int host_loop_clients(const host_loop *loop)
{
    int i, n = 0;

    for (i = 0; i < HOST_MAX_CLIENTS; i++)
        n += loop->clients[i].fd >= 0;
    return n;
}

int host_loop_timers(const host_loop *loop)
{
    int i, n = 0;

    for (i = 0; i < HOST_MAX_TIMERS; i++)
        n += loop->timers[i].due >= 0;
    return n;
}

/* The earliest of until and the armed timers' times. */
static long long next_timer(const host_loop *loop, long long until)
{
    int i;

    for (i = 0; i < HOST_MAX_TIMERS; i++)
        if (loop->timers[i].due >= 0 && loop->timers[i].due < until)
            until = loop->timers[i].due;
    return until;
}

/* Runs the timers that are due, each disarmed before it runs. */
static void run_timers(host_loop *loop, long long now)
{
    int i;

    for (i = 0; i < HOST_MAX_TIMERS; i++) {
        host_timer t = loop->timers[i];

        if (t.due >= 0 && t.due <= now) {
            loop->timers[i].due = -1;
            t.fn(t.arg);
        }
    }
}

int host_loop_turn(host_loop *loop, host_watch *watch, size_t n,
                   long long deadline)
{
    struct pollfd fds[1 + HOST_MAX_CLIENTS + HOST_MAX_WATCHES];
    host_client *owner[1 + HOST_MAX_CLIENTS] = {NULL};
    long long now = host_loop_now(), until = next_timer(loop, loop->next_tick);
    nfds_t nfds = 0, first_watch, i;

    if (n > HOST_MAX_WATCHES) {
        errno = EINVAL;
        return -1;
    }
    if (deadline >= 0 && deadline < until)
        until = deadline;
    fds[nfds++] = (struct pollfd){loop->listen_fd, POLLIN, 0};
    for (i = 0; i < HOST_MAX_CLIENTS; i++) {
        if (loop->clients[i].fd >= 0) {
            owner[nfds] = &loop->clients[i];
            fds[nfds++] = (struct pollfd){loop->clients[i].fd, POLLIN, 0};
        }
    }
    first_watch = nfds;
    for (i = 0; i < n; i++) /* poll skips an fd of -1 */
        fds[nfds++] = (struct pollfd){watch[i].fd, POLLIN, 0};
    if (poll(fds, nfds, until > now ? (int)(until - now) : 0) < 0) {
        if (errno != EINTR)
            return -1;
        nfds = 0; /* a signal: its handler did its part, nothing is ready */
    }
    if (nfds > 0 && fds[0].revents != 0)
        accept_client(loop);
    for (i = 1; i < first_watch && i < nfds; i++)
        if (fds[i].revents != 0)
            serve_client(loop, owner[i]);
    for (i = 0; i < n; i++)
        watch[i].ready =
            first_watch + i < nfds && fds[first_watch + i].revents != 0;
    now = host_loop_now();
    tick(loop, now);
    run_timers(loop, now);
    return 0;
}
