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

/* Sends a stream message; the iopub lock is held. */
static void stream(struct aa_kernel *k, int which, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (aak_publish(&k->wire, k->sock[AAK_IOPUB], k->parent, "stream",
                    json_pack("{ss so}", "name",
                              which == 2 ? "stderr" : "stdout", "text",
                              aak_text(data, len))) < 0)
        aak_log(k, "cannot publish stream: %s", zmq_strerror(zmq_errno()));
}

static void on_write(void *userdata, int which, const char *data, size_t len)
{
    struct aa_kernel *k = userdata;
    aa_write_fn host;
    char joined[4 + 4096];

    which = which == 2 ? 2 : 1;
    pthread_mutex_lock(&k->iopub);
    host = k->host_write;
    if ((k->cell == NULL && host != NULL) || k->parent == NULL) {
        pthread_mutex_unlock(&k->iopub);
        if (host != NULL) {
            host(k->host_userdata, which, data, len);
        } else {
            while (len > 0) {
                ssize_t n = write(which, data, len);
                if (n <= 0)
                    break;
                data += n, len -= (size_t)n;
            }
        }
        return;
    }
    /* A character cut by the last write is whole with this one's first
     * bytes: sent together when they fit, which they nearly always do. */
    size_t held = k->npending[which];
    if (held > 0) {
        size_t take = len < 4096 ? len : 4096;
        memcpy(joined, k->pending[which], held);
        memcpy(joined + held, data, take);
        k->npending[which] = 0;
        size_t keep = take == len ? cut(joined, held + take) : 0;
        stream(k, which, joined, held + take - keep);
        memcpy(k->pending[which], joined + held + take - keep, keep);
        k->npending[which] = keep;
        data += take, len -= take;
    }
    if (len > 0) {
        size_t keep = cut(data, len);
        stream(k, which, data, len - keep);
        memcpy(k->pending[which], data + len - keep, keep);
        k->npending[which] = keep;
    }
    pthread_mutex_unlock(&k->iopub);
}

void aak_io_flush(struct aa_kernel *k)
{
    pthread_mutex_lock(&k->iopub);
    for (int which = 1; which <= 2; which++) {
        if (k->npending[which] > 0 && k->parent != NULL)
            stream(k, which, k->pending[which], k->npending[which]);
        k->npending[which] = 0;
    }
    pthread_mutex_unlock(&k->iopub);
}

/* ------------------------------------------------------------- input */

/* Waits for the client's input_reply; control is served meanwhile, and
 * an interrupt_request ends the wait.  AA_OK with *line, or not. */
static int wait_reply(struct aa_kernel *k, char **line)
{
    char why[256];

    for (;;) {
        zmq_pollitem_t items[2] = {{k->sock[AAK_STDIN], 0, ZMQ_POLLIN, 0},
                                   {k->sock[AAK_CONTROL], 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return AA_EINVAL; /* EOFError */
        }
        aak_msg m = {0};
        if (items[1].revents & ZMQ_POLLIN) {
            int r =
                aak_recv(&k->wire, k->sock[AAK_CONTROL], &m, why, sizeof why);
            if (r == AAK_DROPPED)
                aak_log(k, "dropped a message on control: %s", why);
            if (r != AAK_MESSAGE)
                continue;
            int interrupted = strcmp(m.msg_type, "interrupt_request") == 0 ||
                              strcmp(m.msg_type, "shutdown_request") == 0;
            if (interrupted && strcmp(m.msg_type, "interrupt_request") == 0)
                aak_send_reply(k, AAK_CONTROL, &m, "interrupt_reply",
                               json_pack("{ss}", "status", "ok"));
            else
                aak_handle(k, AAK_CONTROL, &m);
            aak_msg_clear(&m);
            if (interrupted) {
                aa_raise("KeyboardInterrupt", "");
                return AA_EINVAL;
            }
            continue;
        }
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
    int r;

    if (k->cell == NULL)
        return AA_ENOTFOUND; /* the host's own cell: its stdin */
    if (!k->allow_stdin) {
        aa_raise("NotImplementedError",
                 "input() was called, but this frontend does not support "
                 "input requests");
        return AA_ENOTSUP;
    }
    aak_io_flush(k);
    pthread_mutex_lock(&k->lock);
    if (aak_send_reply(k, AAK_STDIN, &k->request, "input_request",
                       json_pack("{so sb}", "prompt",
                                 aak_text(prompt, strlen(prompt)), "password",
                                 0)) < 0)
        r = AA_EINVAL;
    else
        r = wait_reply(k, line);
    pthread_mutex_unlock(&k->lock);
    return r;
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
