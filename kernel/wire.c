/*
 * wire.c -- the Jupyter wire protocol (messaging 5.3) for the kernel
 * library: connection files, endpoints, random identifiers, and messages
 * over ZeroMQ, signed and checked with HMAC-SHA256.
 *
 * It owns the bytes on the wire and nothing above them: which socket a
 * message came on, what it asks for and what to answer are kernel.c's.
 * Signing is OpenSSL's (EVP_MAC, the comparison CRYPTO_memcmp), JSON is
 * jansson's; received frames are parsed where ZeroMQ holds them, and the
 * frames sent are handed to ZeroMQ without a copy.
 */
#define _POSIX_C_SOURCE 200809L

#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <zmq.h>

#define DELIMITER "<IDS|MSG>"
#define DELIMITER_LEN (sizeof DELIMITER - 1)
/* A ROUTER gives one identity per hop; more than this is not a client. */
#define MAX_IDENTS 16

static const char *const port_names[AAK_NCHANNELS] = {
    "shell_port", "control_port", "stdin_port", "hb_port", "iopub_port"};

const char *aak_port_name(int channel)
{
    if (channel < 0 || channel >= AAK_NCHANNELS)
        return NULL;
    return port_names[channel];
}

/* Formats a message into err, which may be NULL. */
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Connection files. */

/* Copies root[name], a string, into buf; a missing field is an error only
 * when need is set. */
static int get_string(const json_t *root, const char *name, char *buf,
                      size_t size, int need, const char *path, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(root, name);
    size_t len;

    if (v == NULL) {
        if (!need)
            return 0;
        say(err, errlen, "%s: no \"%s\"", path, name);
        return -1;
    }
    if (!json_is_string(v)) {
        say(err, errlen, "%s: \"%s\" is not a string", path, name);
        return -1;
    }
    len = json_string_length(v);
    if (len >= size) {
        say(err, errlen, "%s: \"%s\" is too long (%zu bytes, at most %zu)",
            path, name, len, size - 1);
        return -1;
    }
    memcpy(buf, json_string_value(v), len + 1);
    return 0;
}

/* signature_scheme and kernel_name may be left out, as jupyter_client
 * allows: the scheme is then HMAC-SHA256, its only one in use. */
static int read_fields(const json_t *root, const char *path, aak_conn *c,
                       char *err, size_t errlen)
{
    int i;

    if (get_string(root, "transport", c->transport, sizeof c->transport, 1,
                   path, err, errlen) != 0 ||
        get_string(root, "ip", c->ip, sizeof c->ip, 1, path, err, errlen) ||
        get_string(root, "key", c->key, sizeof c->key, 1, path, err, errlen) ||
        get_string(root, "signature_scheme", c->signature_scheme,
                   sizeof c->signature_scheme, 0, path, err, errlen) ||
        get_string(root, "kernel_name", c->kernel_name, sizeof c->kernel_name,
                   0, path, err, errlen))
        return -1;
    if (strcmp(c->transport, "tcp") != 0 && strcmp(c->transport, "ipc") != 0) {
        say(err, errlen, "%s: unknown transport \"%s\" (tcp or ipc)", path,
            c->transport);
        return -1;
    }
    if (c->signature_scheme[0] == '\0')
        strcpy(c->signature_scheme, "hmac-sha256");
    if (strcmp(c->signature_scheme, "hmac-sha256") != 0) {
        say(err, errlen, "%s: unknown signature_scheme \"%s\" (hmac-sha256)",
            path, c->signature_scheme);
        return -1;
    }
    for (i = 0; i < AAK_NCHANNELS; i++) {
        json_t *v = json_object_get(root, port_names[i]);
        if (v == NULL) {
            say(err, errlen, "%s: no \"%s\"", path, port_names[i]);
            return -1;
        }
        if (!json_is_integer(v)) {
            say(err, errlen, "%s: \"%s\" is not an integer", path,
                port_names[i]);
            return -1;
        }
        if (json_integer_value(v) < 0 || json_integer_value(v) > 65535) {
            say(err, errlen,
                "%s: \"%s\" is %" JSON_INTEGER_FORMAT
                ", not a port (0 to 65535)",
                path, port_names[i], json_integer_value(v));
            return -1;
        }
        c->ports[i] = (int)json_integer_value(v);
    }
    return 0;
}

int aak_conn_read(const char *path, aak_conn *c, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    json_error_t je;
    json_t *root;
    int rc;

    if (f == NULL) {
        int e = errno;
        say(err, errlen, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    root = json_loadf(f, 0, &je);
    fclose(f);
    if (root == NULL) {
        say(err, errlen, "%s is not JSON: %s (line %d)", path, je.text,
            je.line);
        errno = EINVAL;
        return -1;
    }
    memset(c, 0, sizeof *c);
    if (!json_is_object(root)) {
        say(err, errlen, "%s: not a JSON object", path);
        rc = -1;
    } else {
        rc = read_fields(root, path, c, err, errlen);
    }
    json_decref(root);
    if (rc != 0)
        errno = EINVAL;
    return rc;
}

/* The file's text, in jupyter_client's layout; NULL with err when a port is
 * still to be picked or a string is not UTF-8. */
static char *conn_text(const aak_conn *c, const char *path, char *err,
                       size_t errlen)
{
    json_t *root = json_object();
    char *text = NULL;
    int i, bad = root == NULL;

    for (i = 0; i < AAK_NCHANNELS && !bad; i++) {
        int port = c->ports[i];
        if (port == 0 && strcmp(c->transport, "ipc") == 0)
            port = i + 1; /* what aak_endpoint binds */
        if (port <= 0 || port > 65535) {
            say(err, errlen, "%s: %s is %d: bind the channels first", path,
                port_names[i], port);
            json_decref(root);
            return NULL;
        }
        bad = json_object_set_new(root, port_names[i], json_integer(port));
    }
    bad = bad || json_object_set_new(root, "ip", json_string(c->ip)) ||
          json_object_set_new(root, "key", json_string(c->key)) ||
          json_object_set_new(root, "transport", json_string(c->transport)) ||
          json_object_set_new(root, "signature_scheme",
                              json_string(c->signature_scheme[0] != '\0'
                                              ? c->signature_scheme
                                              : "hmac-sha256")) ||
          json_object_set_new(root, "kernel_name", json_string(c->kernel_name));
    if (!bad)
        text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    if (text == NULL)
        say(err, errlen, "%s: a field is not UTF-8, or no memory", path);
    return text;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int aak_conn_write(const char *path, const aak_conn *c, char *err,
                   size_t errlen)
{
    char *text = conn_text(c, path, err, errlen);
    char *tmp = NULL;
    int fd = -1, made = 0, e;

    if (text == NULL) {
        errno = EINVAL;
        return -1;
    }
    tmp = malloc(strlen(path) + 8);
    if (tmp == NULL)
        goto fail;
    sprintf(tmp, "%s.XXXXXX", path);
    /* mkstemp makes it 0600 already; fchmod says so whatever the umask. */
    fd = mkstemp(tmp);
    made = fd >= 0;
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0)
        goto fail;
    e = close(fd);
    fd = -1;
    if (e != 0 || rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    free(text);
    return 0;

fail:
    e = errno;
    say(err, errlen, "cannot write %s: %s", path, strerror(e));
    if (fd >= 0)
        close(fd);
    if (made)
        unlink(tmp);
    free(tmp);
    free(text);
    errno = e;
    return -1;
}

/* Identifiers. */

int aak_uuid(char buf[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    char *p = buf;
    int i;

    if (RAND_bytes(b, sizeof b) != 1) {
        buf[0] = '\0';
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
    return 0;
}

int aak_conn_new_key(aak_conn *c)
{
    char key[37];

    if (aak_uuid(key) != 0)
        return -1;
    memcpy(c->key, key, sizeof key);
    return 0;
}

int aak_endpoint(const aak_conn *c, int channel, char *buf, size_t len)
{
    int port, n;

    if (channel < 0 || channel >= AAK_NCHANNELS || len == 0)
        return -1;
    port = c->ports[channel];
    if (strcmp(c->transport, "ipc") == 0)
        n = snprintf(buf, len, "ipc://%s-%d", c->ip,
                     port != 0 ? port : channel + 1);
    else if (strcmp(c->transport, "tcp") != 0)
        return -1;
    else if (port != 0)
        n = snprintf(buf, len, "tcp://%s:%d", c->ip, port);
    else
        n = snprintf(buf, len, "tcp://%s:*", c->ip);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

void aak_now(char buf[32])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%06ldZ", (long)(ts.tv_nsec / 1000));
}

/* Signing. */

/* OpenSSL's HMAC, fetched once for the process. */
static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* hex: the lower-case HMAC-SHA256 of the four frames under w's key. */
static int sign(const aak_wire *w, const void *const data[4],
                const size_t len[4], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    static char sha256[] = "SHA256";
    OSSL_PARAM params[2];
    unsigned char mac[32];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx;
    int ok, i;

    pthread_once(&hmac_once, hmac_fetch);
    if (hmac == NULL || (ctx = EVP_MAC_CTX_new(hmac)) == NULL)
        return -1;
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = EVP_MAC_init(ctx, w->key, w->keylen, params);
    for (i = 0; i < 4 && ok; i++)
        ok = EVP_MAC_update(ctx, data[i], len[i]);
    ok = ok && EVP_MAC_final(ctx, mac, &maclen, sizeof mac) &&
         maclen == sizeof mac;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return -1;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 0x0f];
    }
    hex[64] = '\0';
    return 0;
}

int aak_wire_init(aak_wire *w, const aak_conn *c)
{
    size_t keylen = strnlen(c->key, sizeof c->key);
    const char *user = getenv("USER");

    memset(w, 0, sizeof *w);
    if (keylen >= sizeof c->key || keylen > sizeof w->key ||
        (c->signature_scheme[0] != '\0' &&
         strcmp(c->signature_scheme, "hmac-sha256") != 0))
        return -1;
    memcpy(w->key, c->key, keylen);
    w->keylen = keylen;
    pthread_once(&hmac_once, hmac_fetch);
    if (keylen > 0 && hmac == NULL)
        return -1;
    if (aak_uuid(w->session) != 0)
        return -1;
    /* jupyter_client's default: $USER, else "username". */
    snprintf(w->username, sizeof w->username, "%s",
             user != NULL && user[0] != '\0' ? user : "username");
    return 0;
}

/* Receiving. */

void aak_msg_clear(aak_msg *m)
{
    size_t i;

    for (i = 0; i < m->nidents; i++)
        free(m->idents[i]);
    free(m->idents);
    free(m->identlens);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    memset(m, 0, sizeof *m);
}

/* The frames of one message as taken off the socket: the identities go
 * into the message, the five after the delimiter stay where ZeroMQ put
 * them, buffers are counted and let go. */
typedef struct frames {
    zmq_msg_t part[5]; /* signature, header, parent, metadata, content */
    int n;
    int delimited;
    size_t total;
    const char *trouble; /* a reason to drop it found while taking it */
} frames;

static void frames_close(frames *f)
{
    int i;
    for (i = 0; i < f->n; i++)
        zmq_msg_close(&f->part[i]);
    f->n = 0;
}

static void add_ident(aak_msg *m, frames *f, const zmq_msg_t *part)
{
    size_t len = zmq_msg_size(part);
    void **idents;
    size_t *lens;
    void *copy;

    if (f->trouble != NULL)
        return;
    if (m->nidents == MAX_IDENTS) {
        f->trouble = "too many identities before <IDS|MSG>";
        return;
    }
    idents = realloc(m->idents, (m->nidents + 1) * sizeof *idents);
    if (idents != NULL)
        m->idents = idents;
    lens = realloc(m->identlens, (m->nidents + 1) * sizeof *lens);
    if (lens != NULL)
        m->identlens = lens;
    copy = malloc(len > 0 ? len : 1);
    if (idents == NULL || lens == NULL || copy == NULL) {
        free(copy);
        f->trouble = "out of memory";
        return;
    }
    memcpy(copy, zmq_msg_data((zmq_msg_t *)part), len);
    m->idents[m->nidents] = copy;
    m->identlens[m->nidents++] = len;
}

/* Takes every frame of one message off sock: 1, 0 when none was waiting,
 * -1 with errno (nothing kept). */
static int take(void *sock, aak_msg *m, frames *f)
{
    int flags = ZMQ_DONTWAIT, more = 1;

    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *part = f->delimited && f->n < 5 ? &f->part[f->n] : &scratch;

        zmq_msg_init(part);
        if (zmq_msg_recv(part, sock, flags) < 0) {
            int e = errno;
            zmq_msg_close(part);
            /* The rest of a message is there once its first frame is. */
            if (e == EINTR && flags == 0)
                continue;
            frames_close(f);
            aak_msg_clear(m);
            errno = e;
            return e == EAGAIN && flags == ZMQ_DONTWAIT ? 0 : -1;
        }
        flags = 0;
        f->total++;
        more = zmq_msg_more(part);
        if (part != &scratch) {
            f->n++;
            continue;
        }
        if (!f->delimited && zmq_msg_size(part) == DELIMITER_LEN &&
            memcmp(zmq_msg_data(part), DELIMITER, DELIMITER_LEN) == 0)
            f->delimited = 1;
        else if (!f->delimited)
            add_ident(m, f, part);
        zmq_msg_close(part);
    }
    return 1;
}

/* header.msg_type of a header frame, printable, for saying why; "" when it
 * cannot be read. */
static void peek_type(zmq_msg_t *header, char *out, size_t len)
{
    json_t *h = json_loadb(zmq_msg_data(header), zmq_msg_size(header), 0, NULL);
    const char *t = json_string_value(json_object_get(h, "msg_type"));
    size_t i;

    for (i = 0; t != NULL && t[i] != '\0' && i + 1 < len; i++)
        out[i] = t[i] > ' ' && t[i] < 0x7f ? t[i] : '?';
    out[i] = '\0';
    json_decref(h);
}

static int dropped(const frames *f, char *why, size_t whylen,
                   const char *reason)
{
    char type[64] = "";

    if (f->n >= 2)
        peek_type((zmq_msg_t *)&f->part[1], type, sizeof type);
    if (type[0] != '\0')
        say(why, whylen, "%s (msg_type '%s')", reason, type);
    else
        say(why, whylen, "%s", reason);
    return AAK_DROPPED;
}

static int check_signature(const aak_wire *w, frames *f, char *why,
                           size_t whylen)
{
    const void *data[4];
    size_t len[4];
    char hex[65];
    int i;

    if (w->keylen == 0)
        return 0;
    if (zmq_msg_size(&f->part[0]) == 0)
        return dropped(f, why, whylen, "no signature");
    for (i = 0; i < 4; i++) {
        data[i] = zmq_msg_data(&f->part[i + 1]);
        len[i] = zmq_msg_size(&f->part[i + 1]);
    }
    if (sign(w, data, len, hex) != 0)
        return dropped(f, why, whylen, "cannot compute its signature");
    if (zmq_msg_size(&f->part[0]) != 64 ||
        CRYPTO_memcmp(hex, zmq_msg_data(&f->part[0]), 64) != 0)
        return dropped(f, why, whylen, "wrong signature");
    return 0;
}

static int check(const aak_wire *w, aak_msg *m, frames *f, char *why,
                 size_t whylen)
{
    static const char *const names[4] = {"header", "parent_header", "metadata",
                                         "content"};
    json_t **slots[4];
    int i;

    if (f->trouble != NULL)
        return dropped(f, why, whylen, f->trouble);
    if (!f->delimited)
        return dropped(f, why, whylen, "no " DELIMITER " delimiter");
    if (f->n < 5)
        return dropped(f, why, whylen,
                       "too few frames after " DELIMITER " (5 needed)");
    if (check_signature(w, f, why, whylen) != 0)
        return AAK_DROPPED;
    slots[0] = &m->header;
    slots[1] = &m->parent;
    slots[2] = &m->metadata;
    slots[3] = &m->content;
    for (i = 0; i < 4; i++) {
        zmq_msg_t *part = &f->part[i + 1];
        /* A cell may hold "\u0000": the handlers take a string's length,
         * and Python refuses the cell, instead of the client waiting for
         * the reply to a dropped request. */
        size_t flags = i == 3 ? JSON_ALLOW_NUL : 0;
        json_error_t je;

        *slots[i] =
            json_loadb(zmq_msg_data(part), zmq_msg_size(part), flags, &je);
        /* An integer past 64 bits, which Python's clients send as any
         * other: the content's integers are read as reals then, and the
         * handler answers what it makes of them instead of nothing. */
        if (*slots[i] == NULL && i == 3 &&
            json_error_code(&je) == json_error_numeric_overflow)
            *slots[i] = json_loadb(zmq_msg_data(part), zmq_msg_size(part),
                                   flags | JSON_DECODE_INT_AS_REAL, NULL);
        if (!json_is_object(*slots[i])) {
            char reason[64];
            snprintf(reason, sizeof reason, "%s is not a JSON object",
                     names[i]);
            return dropped(f, why, whylen, reason);
        }
    }
    m->msg_type = json_string_value(json_object_get(m->header, "msg_type"));
    if (m->msg_type == NULL)
        return dropped(f, why, whylen, "header has no msg_type");
    return AAK_MESSAGE;
}

int aak_recv(const aak_wire *w, void *sock, aak_msg *m, char *why,
             size_t whylen)
{
    frames f;
    int rc;

    memset(m, 0, sizeof *m);
    memset(&f, 0, sizeof f);
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    rc = take(sock, m, &f);
    if (rc <= 0)
        return rc < 0 ? -1 : AAK_NONE;
    rc = check(w, m, &f, why, whylen);
    frames_close(&f);
    if (rc != AAK_MESSAGE)
        aak_msg_clear(m);
    return rc;
}

/* Sending. */

/* The four signed frames of a message being sent: json_dumps's strings,
 * or "{}" (owned 0), and their signature. */
typedef struct outgoing {
    char *text[4];
    size_t len[4];
    int owned[4];
    char sig[65];
} outgoing;

static char empty_object[] = "{}";

static char *dump(const json_t *j, int *owned)
{
    *owned = j != NULL;
    return j != NULL ? json_dumps(j, JSON_COMPACT) : empty_object;
}

static int prepare(const aak_wire *w, outgoing *o, const char *msg_type,
                   const json_t *parent, const json_t *content,
                   const json_t *metadata)
{
    char id[37], date[32];
    json_t *header;
    int i;

    if (aak_uuid(id) != 0) {
        errno = EIO;
        return -1;
    }
    aak_now(date);
    header = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "msg_id", id, "session",
                       w->session, "username", w->username, "date", date,
                       "msg_type", msg_type, "version", "5.3");
    o->text[0] = header != NULL ? json_dumps(header, JSON_COMPACT) : NULL;
    o->owned[0] = 1;
    json_decref(header);
    o->text[1] = dump(parent, &o->owned[1]);
    o->text[2] = dump(metadata, &o->owned[2]);
    o->text[3] = dump(content, &o->owned[3]);
    for (i = 0; i < 4; i++) {
        if (o->text[i] == NULL) {
            errno = EINVAL; /* not UTF-8, not finite, or no memory */
            return -1;
        }
        o->len[i] = strlen(o->text[i]);
    }
    if (w->keylen > 0 &&
        sign(w, (const void *const *)o->text, o->len, o->sig) != 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static void free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Sends the four frames, handing ZeroMQ the strings it is to free. */
static int send_signed(void *sock, outgoing *o)
{
    int i;

    for (i = 0; i < 4; i++) {
        int flags = i < 3 ? ZMQ_SNDMORE : 0;
        zmq_msg_t msg;

        if (!o->owned[i]) {
            if (zmq_send(sock, o->text[i], o->len[i], flags) < 0)
                return -1;
            continue;
        }
        if (zmq_msg_init_data(&msg, o->text[i], o->len[i], free_frame, NULL) !=
            0)
            return -1;
        o->text[i] = NULL; /* the message's now */
        if (zmq_msg_send(&msg, sock, flags) < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* The one way out: prefix (identities, or the topic), the delimiter, the
 * signature and the four frames. */
static int send_msg(const aak_wire *w, void *sock, void *const *prefix,
                    const size_t *prefixlens, size_t nprefix,
                    const json_t *parent, const char *msg_type, json_t *content,
                    json_t *metadata)
{
    outgoing o;
    size_t i;
    int rc = -1, e;

    memset(&o, 0, sizeof o);
    if (msg_type == NULL)
        errno = EINVAL;
    else if (prepare(w, &o, msg_type, parent, content, metadata) == 0)
        rc = 0;
    for (i = 0; i < nprefix && rc == 0; i++)
        if (zmq_send(sock, prefix[i], prefixlens[i], ZMQ_SNDMORE) < 0)
            rc = -1;
    if (rc == 0 && (zmq_send(sock, DELIMITER, DELIMITER_LEN, ZMQ_SNDMORE) < 0 ||
                    zmq_send(sock, o.sig, strlen(o.sig), ZMQ_SNDMORE) < 0 ||
                    send_signed(sock, &o) != 0))
        rc = -1;
    e = errno;
    for (i = 0; i < 4; i++)
        if (o.owned[i])
            free(o.text[i]);
    json_decref(content);
    json_decref(metadata);
    errno = e;
    return rc;
}

int aak_reply(const aak_wire *w, void *sock, const aak_msg *req,
              const char *msg_type, json_t *content, json_t *metadata)
{
    if (req == NULL || req->header == NULL) {
        json_decref(content);
        json_decref(metadata);
        errno = EINVAL;
        return -1;
    }
    return send_msg(w, sock, req->idents, req->identlens, req->nidents,
                    req->header, msg_type, content, metadata);
}

int aak_publish(const aak_wire *w, void *sock, const json_t *parent,
                const char *msg_type, json_t *content)
{
    char topic[160];
    void *prefix[1] = {topic};
    size_t len;
    int n;

    n = snprintf(topic, sizeof topic, "kernel.%s.%s", w->session,
                 msg_type != NULL ? msg_type : "");
    if (n < 0 || (size_t)n >= sizeof topic) {
        json_decref(content);
        errno = EINVAL;
        return -1;
    }
    len = (size_t)n;
    return send_msg(w, sock, prefix, &len, 1, parent, msg_type, content, NULL);
}
