/*
 * console.c -- uv-host's console: standard input read by the loop, lines
 * made cells, results shown as aa-shell shows them.
 *
 * A cell ends at a blank line, or as soon as aa_is_complete calls the lines
 * so far a whole cell.  A line "%ticks" (the host's own magic) shows the
 * timer's ticks and the server's answers.  While a cell runs, reading
 * stops, so that what is typed meanwhile waits in the terminal or pipe for
 * the next prompt.  Standard input may be a terminal (uv_tty_t, which
 * reopens it so as not to make the terminal non-blocking for others), a
 * pipe or socket (uv_pipe_t), or a file (uv_fs_read; /dev/null included).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uv_host.h"

/* printf to stdout, flushed: the host's lines keep their order. */
void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* The host's own errors, on stderr after "uv-host: ". */
void complain(const char *fmt, ...)
{
    va_list ap;

    fputs("uv-host: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

static int append(char **buf, size_t *len, size_t *cap, const char *data,
                  size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *p = realloc(*buf, want);

        if (p == NULL)
            return -1;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* ----------------------------------------------------------- results */

void console_report(struct host *h, unsigned number, int status,
                    const aa_result *r)
{
    const char *exc = aa_result_exception(r);
    const char *msg = aa_result_message(r);

    if (status < 0) {
        h->failed = 1;
        complain("%s\n", msg != NULL ? msg : aa_strerror(status));
    } else if (status == AA_SYSTEM_EXIT) {
        h->exit_code = aa_result_exit_code(r);
        h->stopping = 1;
    } else if (status != AA_OK) {
        h->failed = 1;
        if (aa_result_traceback(r) != NULL)
            fputs(aa_result_traceback(r), stderr);
        else if (exc != NULL && msg != NULL && *msg != '\0')
            fprintf(stderr, "%s: %s\n", exc, msg);
        else
            fprintf(stderr, "%s\n", exc != NULL ? exc : aa_strerror(status));
        fflush(stderr);
    } else if (aa_result_repr(r) != NULL) {
        say("Out[%u]: %s\n", number, aa_result_repr(r));
    }
}

/* ------------------------------------------------------------- lines */

static int is_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static void run_cell(struct host *h)
{
    guest_exec(h, h->cell, h->cell_len);
    h->cell_len = 0;
}

/* One line, with its '\n' (the last line of the input may lack it). */
static void console_line(struct host *h, const char *line, size_t n)
{
    int answer;

    if (h->cell_len == 0) {
        if (is_blank(line, n))
            return;
        if (n >= 6 && strncmp(line, "%ticks", 6) == 0 &&
            is_blank(line + 6, n - 6)) {
            say("ticks: %lu, answers: %lu\n", h->ticks, h->answers);
            return;
        }
    }
    if (append(&h->cell, &h->cell_len, &h->cell_cap, line, n) < 0 ||
        (n > 0 && line[n - 1] != '\n' &&
         append(&h->cell, &h->cell_len, &h->cell_cap, "\n", 1) < 0)) {
        complain("out of memory\n");
        h->stopping = h->failed = 1;
        return;
    }
    if (!is_blank(line, n)) {
        answer = aa_is_complete(h->session, h->cell, NULL);
        guest_rearm(h);
        if (answer == AA_INPUT_INCOMPLETE)
            return;
    }
    run_cell(h);
}

/*
 * The length of the next line of what was read, with its '\n'; the last
 * line of the input may lack it.  0 when no whole line is there yet.
 */
static size_t next_line(const struct host *h)
{
    const char *nl;

    if (h->pending_len == 0)
        return 0;
    nl = memchr(h->pending, '\n', h->pending_len);
    if (nl != NULL)
        return (size_t)(nl - h->pending) + 1;
    return h->input_ended ? h->pending_len : 0;
}

/* ------------------------------------------------------------- input */

static void input_pause(struct host *h);
static void input_resume(struct host *h);

static void got_input(struct host *h, ssize_t nread, const char *data)
{
    if (nread > 0) {
        if (append(&h->pending, &h->pending_len, &h->pending_cap, data,
                   (size_t)nread) < 0) {
            complain("out of memory\n");
            h->stopping = h->failed = 1;
        }
    } else if (nread < 0) {
        if (nread != UV_EOF)
            complain("reading standard input: %s\n", uv_strerror((int)nread));
        h->input_ended = 1;
    }
    console_feed(h);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct host *h = handle->data;

    (void)suggested;
    *buf = uv_buf_init(h->input_buf, sizeof h->input_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    got_input(stream->data, nread, buf->base);
}

static void on_file_read(uv_fs_t *req)
{
    struct host *h = req->data;
    ssize_t nread = req->result == 0 ? UV_EOF : req->result;

    uv_fs_req_cleanup(req);
    h->input_req_busy = 0;
    if (!h->stopping)
        got_input(h, nread, h->input_buf);
}

static void input_resume(struct host *h)
{
    uv_buf_t buf;

    h->input_reading = 1;
    if (!h->input_is_file) {
        uv_read_start(&h->input.stream, on_alloc, on_read);
    } else if (!h->input_req_busy) {
        buf = uv_buf_init(h->input_buf, sizeof h->input_buf);
        h->input_req_busy = 1;
        if (uv_fs_read(h->loop, &h->input_req, STDIN_FILENO, &buf, 1, -1,
                       on_file_read) < 0) {
            h->input_req_busy = 0;
            h->input_ended = 1;
        }
    }
}

static void input_pause(struct host *h)
{
    h->input_reading = 0;
    if (!h->input_is_file)
        uv_read_stop(&h->input.stream);
    /* A file read in flight ends in console_feed, which pauses again. */
}

static void prompt(struct host *h)
{
    if (h->interactive && !h->prompted) {
        if (h->cell_len == 0)
            say("In [%u]: ", h->next_number);
        else
            say("   ...: ");
        h->prompted = 1;
    }
}

/*
 * Makes cells of the lines read, until a cell is running (then reading
 * pauses until its done callback), the input is used up (then reading
 * goes on, after a prompt), or it ended (then the host stops).
 */
void console_feed(struct host *h)
{
    size_t n;

    /* console_line copies the line before it runs anything. */
    while (!h->cell_running && !h->stopping && (n = next_line(h)) > 0) {
        h->prompted = 0;
        console_line(h, h->pending, n);
        memmove(h->pending, h->pending + n, h->pending_len - n);
        h->pending_len -= n;
    }
    if (h->stopping) {
        host_stop(h);
    } else if (h->cell_running) {
        input_pause(h);
    } else if (h->input_ended) {
        if (h->cell_len > 0) {
            run_cell(h); /* an unfinished block at the end */
            console_feed(h);
        } else {
            host_stop(h);
        }
    } else {
        prompt(h);
        if (!h->input_reading || h->input_is_file)
            input_resume(h);
    }
}

/* Ctrl-C while no cell ran: the lines typed so far are dropped. */
void console_interrupted(struct host *h)
{
    if (!h->sigint_at_input || h->stopping)
        return;
    h->sigint_at_input = 0;
    h->cell_len = 0;
    if (h->interactive) {
        say("\nKeyboardInterrupt\n");
        h->prompted = 0;
        prompt(h);
    }
}

int console_start(struct host *h)
{
    int rc;

    h->input.handle.data = h;
    h->input_req.data = h;
    switch (uv_guess_handle(STDIN_FILENO)) {
    case UV_TTY:
        rc = uv_tty_init(h->loop, &h->input.tty, STDIN_FILENO, 1);
        break;
    case UV_NAMED_PIPE:
    case UV_TCP:
        rc = uv_pipe_init(h->loop, &h->input.pipe, 0);
        if (rc == 0)
            rc = uv_pipe_open(&h->input.pipe, STDIN_FILENO);
        break;
    case UV_FILE:
        h->input_is_file = 1;
        rc = 0;
        break;
    default:
        complain("standard input is closed, or of a kind libuv cannot "
                 "read\n");
        return -1;
    }
    if (rc != 0) {
        complain("cannot read standard input: %s\n", uv_strerror(rc));
        return -1;
    }
    console_feed(h);
    return 0;
}
