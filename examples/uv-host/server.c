/*
 * server.c -- what uv-host does whether or not anyone types a cell: a TCP
 * server on 127.0.0.1 that answers every line it gets with "pong", and a
 * timer that ticks ten times a second (or every -t milliseconds).  Plain
 * libuv: nothing here knows of the session, which is the point; the tick
 * only tells functions.c, whose host.wait_tick() ends with it.
 */
#include <stdlib.h>
#include <string.h>

#include "uv_host.h"

struct client {
    uv_tcp_t tcp;
    struct host *host;
    char buf[4096];
};

static const char pong[] = "pong\n";

static void on_tick(uv_timer_t *timer)
{
    struct host *h = timer->data;

    h->ticks++;
    functions_tick(h);
}

static void on_client_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void on_client_alloc(uv_handle_t *handle, size_t suggested,
                            uv_buf_t *buf)
{
    struct client *c = handle->data;

    (void)suggested;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

/* Each '\n' ends a line, whatever chunks the lines came in. */
static void on_client_read(uv_stream_t *stream, ssize_t nread,
                           const uv_buf_t *buf)
{
    struct client *c = stream->data;
    uv_buf_t out = uv_buf_init((char *)pong, sizeof pong - 1);
    ssize_t i;

    if (nread < 0) {
        uv_close((uv_handle_t *)stream, on_client_closed);
        return;
    }
    for (i = 0; i < nread; i++) {
        uv_write_t *req;

        if (buf->base[i] != '\n')
            continue;
        req = malloc(sizeof *req);
        if (req == NULL || uv_write(req, stream, &out, 1, on_written) != 0) {
            free(req);
            uv_close((uv_handle_t *)stream, on_client_closed);
            return;
        }
        c->host->answers++;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct host *h = server->data;
    struct client *c;

    if (status < 0)
        return;
    c = malloc(sizeof *c);
    if (c == NULL)
        return;
    h->connections++;
    c->host = h;
    c->tcp.data = c;
    uv_tcp_init(h->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc,
                      on_client_read) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

/*
 * Listens on 127.0.0.1:port (0: any free port), *bound getting the port,
 * and starts the timer, every h->tick_ms.  Returns 0, or a libuv error, said.
 */
int server_start(struct host *h, int port, int *bound)
{
    struct sockaddr_storage name;
    struct sockaddr_in addr;
    int len = (int)sizeof name;
    int rc;

    h->server.data = h;
    h->tick_timer.data = h;
    rc = uv_ip4_addr("127.0.0.1", port, &addr);
    if (rc == 0)
        rc = uv_tcp_init(h->loop, &h->server);
    if (rc == 0)
        rc = uv_tcp_bind(&h->server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->server, 16, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&h->server, (struct sockaddr *)&name, &len);
    if (rc != 0) {
        complain("cannot listen on 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
        return rc;
    }
    *bound = ntohs(((struct sockaddr_in *)&name)->sin_port);
    uv_timer_init(h->loop, &h->tick_timer);
    uv_timer_start(&h->tick_timer, on_tick, h->tick_ms, h->tick_ms);
    return 0;
}

static void close_client(uv_handle_t *handle, void *arg)
{
    struct host *h = arg;

    if (handle->type == UV_TCP && handle != (uv_handle_t *)&h->server &&
        !uv_is_closing(handle))
        uv_close(handle, on_client_closed);
}

/* Closes the clients, whose memory is this file's; host_stop the rest. */
void server_stop(struct host *h)
{
    uv_walk(h->loop, close_client, h);
}
