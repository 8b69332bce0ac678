/*
 * io.c -- a client's cell talking to the client: what it writes becomes
 * stream messages on iopub, and input() becomes an input_request on the
 * stdin channel, waited for.
 *
 * The session's write callback (aa_session_set_write) is the kernel's
 * while it serves: during a client's cell, and with no host callback to
 * pass writes on to (aa-kernel), writes go to the client with the last
 * execute_request as their parent, as ipykernel sends a background task's
 * output; otherwise they go on to the host's callback.  A write may come
 * from any thread the cell started, so iopub and what decides are under
 * the kernel's iopub lock.  A character that a binary write cut in two
 * waits for its other bytes; bytes that are not UTF-8 become U+FFFD, as
 * JSON wants.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* ----------------------------------------------------------- the text */

/* The length of the UTF-8 sequence at p (n bytes left): 1-4, 0 when it is
 * cut short by the end, -1 when it is not UTF-8. */
static int sequence(const unsigned char *p, size_t n)
{
    int len;
    unsigned min;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, min = 0x80, cp = p[0] & 0x1F;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3, min = 0x800, cp = p[0] & 0x0F;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, min = 0x10000, cp = p[0] & 0x07;
    else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    return len;
}

/* Bytes at the end of data (n) that start a character not yet whole. */
static size_t cut(const char *data, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const unsigned char *p = (const unsigned char *)data + n - back;
        if ((*p & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back */
        return sequence(p, back) == 0 ? back : 0;
    }
    return 0;
}

json_t *aak_text(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0, o = 0;
    char *fixed;
    json_t *j;

    while (i < len) {
        int n = sequence(p + i, len - i);
        if (n <= 0)
            break;
        i += (size_t)n;
    }
    if (i == len)
        return json_stringn(data, len);
    /* Each byte that is not UTF-8 takes three (U+FFFD). */
    fixed = malloc(len * 3 + 1);
    if (fixed == NULL)
        return json_string("");
    for (i = 0; i < len;) {
        int n = sequence(p + i, len - i);
        if (n <= 0) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, p + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        }
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

/* ------------------------------------------------------------ writes */

/* Sends the first n bytes written to stream which and keeps the rest;
 * the iopub lock is held. */
static void publish_text(struct aa_kernel *k, int which, const char *data,
                         size_t n)
{
    if (n > 0 && k->parent != NULL &&
        aak_publish(&k->wire, k->sock[AAK_IOPUB], k->parent, "stream",
                    json_pack("{ss so}", "name",
                              which == 2 ? "stderr" : "stdout", "text",
                              aak_text(data, n))) < 0)
        aak_log(k, "cannot publish stream: %s", zmq_strerror(zmq_errno()));
}

static void send_out(struct aa_kernel *k, int which, size_t n)
{
    if (n == 0)
        return;
    publish_text(k, which, k->out[which], n);
    k->outlen[which] -= n;
    memmove(k->out[which], k->out[which] + n, k->outlen[which]);
}

/* Sends stream which up to its last whole character (whole: all of it). */
static void flush_out(struct aa_kernel *k, int which, int whole)
{
    size_t len = k->outlen[which];

    send_out(k, which, whole ? len : len - cut(k->out[which], len));
}

/* Keeps len bytes for stream which; 0 or -1 (out of memory). */
static int keep(struct aa_kernel *k, int which, const char *data, size_t len)
{
    size_t need = k->outlen[which] + len;

    if (need > k->outcap[which]) {
        size_t cap = k->outcap[which] != 0 ? k->outcap[which] : 256;
        while (cap < need)
            cap *= 2;
        char *grown = realloc(k->out[which], cap);
        if (grown == NULL)
            return -1;
        k->out[which] = grown;
        k->outcap[which] = cap;
    }
    memcpy(k->out[which] + k->outlen[which], data, len);
    k->outlen[which] = need;
    return 0;
}

/* Where the host gets what no client's cell wrote. */
static void pass_on(aa_write_fn host, void *userdata, int which,
                    const char *data, size_t len)
{
    if (host != NULL) {
        host(userdata, which, data, len);
        return;
    }
    while (len > 0) {
        ssize_t n = write(which, data, len);
        if (n <= 0)
            break;
        data += n, len -= (size_t)n;
    }
}

static void on_write(void *userdata, int which, const char *data, size_t len)
{
    struct aa_kernel *k = userdata;
    aa_write_fn host;

    which = which == 2 ? 2 : 1;
    pthread_mutex_lock(&k->iopub);
    host = k->host_write;
    if ((k->cell == NULL && host != NULL) || k->parent == NULL) {
        void *host_userdata = k->host_userdata;
        pthread_mutex_unlock(&k->iopub);
        pass_on(host, host_userdata, which, data, len);
        return;
    }
    /* The other stream's bytes go first: the client keeps the order. */
    if (which != k->last)
        flush_out(k, 3 - which, 1);
    k->last = which;
    if (keep(k, which, data, len) < 0) { /* sent as it is, then */
        flush_out(k, which, 1);
        publish_text(k, which, data, len);
    }
    /* print() writes its pieces and "\n" apart: one message a line. */
    if ((len > 0 && data[len - 1] == '\n') || k->outlen[which] >= 8192)
        flush_out(k, which, 0);
    if (k->outlen[which] > 0 && !k->armed) {
        k->armed = 1;
        pthread_mutex_unlock(&k->iopub);
        aak_arm(k, 20);
        return;
    }
    pthread_mutex_unlock(&k->iopub);
}

void aak_io_flush(struct aa_kernel *k, int whole)
{
    pthread_mutex_lock(&k->iopub);
    flush_out(k, 3 - k->last, whole);
    flush_out(k, k->last, whole);
    pthread_mutex_unlock(&k->iopub);
}

/* ------------------------------------------------------------- input */

/* Waits for the client's input_reply; an interrupt_request (control's
 * thread signals k->interrupt) ends the wait.  AA_OK with *line, or not. */
static int wait_reply(struct aa_kernel *k, char **line)
{
    char why[256];
    uint64_t n;

    for (;;) {
        zmq_pollitem_t items[2] = {{k->sock[AAK_STDIN], 0, ZMQ_POLLIN, 0},
                                   {NULL, k->interrupt, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return AA_EINVAL; /* the kernel is stopping: EOFError */
        }
        if (items[1].revents & ZMQ_POLLIN) {
            while (read(k->interrupt, &n, sizeof n) > 0)
                ;
            aa_raise("KeyboardInterrupt", "");
            return AA_EINVAL;
        }
        aak_msg m = {0};
        int r = aak_recv(&k->wire, k->sock[AAK_STDIN], &m, why, sizeof why);
        if (r == AAK_DROPPED)
            aak_log(k, "dropped a message on stdin: %s", why);
        if (r != AAK_MESSAGE)
            continue;
        if (strcmp(m.msg_type, "input_reply") == 0) {
            const char *value =
                json_string_value(json_object_get(m.content, "value"));
            *line = strdup(value != NULL ? value : "");
            aak_msg_clear(&m);
            return *line != NULL ? AA_OK : AA_ENOMEM;
        }
        aak_log(k, "unexpected %s on stdin: ignored", m.msg_type);
        aak_msg_clear(&m);
    }
}

static int on_input(void *userdata, const char *prompt, char **line)
{
    struct aa_kernel *k = userdata;
    uint64_t n;

    if (!aak_running(k))
        return AA_ENOTFOUND; /* the host's own cell: its stdin */
    if (!k->allow_stdin) {
        aa_raise("NotImplementedError",
                 "input() was called, but this frontend does not support "
                 "input requests");
        return AA_ENOTSUP;
    }
    aak_io_flush(k, 1);
    /* An interrupt that came before this input() is not for it. */
    while (read(k->interrupt, &n, sizeof n) > 0)
        ;
    if (aak_send_reply(k, AAK_STDIN, &k->request, "input_request",
                       json_pack("{so sb}", "prompt",
                                 aak_text(prompt, strlen(prompt)), "password",
                                 0)) < 0)
        return AA_EINVAL;
    return wait_reply(k, line);
}

void aak_io_start(struct aa_kernel *k)
{
    aa_session_set_write(k->s, on_write, k, &k->host_write, &k->host_userdata);
    aa_session_set_input(k->s, on_input, k);
}

void aak_io_stop(struct aa_kernel *k)
{
    aa_session_set_input(k->s, NULL, NULL);
    aa_session_set_write(k->s, k->host_write, k->host_userdata, NULL, NULL);
}
