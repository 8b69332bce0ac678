/*
 * fuzz_wire.c -- the kernel's wire layer (kernel/wire.c) on arbitrary
 * multipart messages, over a real ZeroMQ inproc DEALER->ROUTER pair.
 *
 * The input is cut into frames at each FZ_SEP ("\n|\n": compact JSON has
 * no newline, so a message is readable in an editor); an input with no
 * separator is one frame.  The frames go out of a DEALER, as a Jupyter
 * client's, so the ROUTER (the kernel's shell socket) prepends the
 * DEALER's identity and aak_recv sees that identity, then whatever the
 * input holds: more identities, "<IDS|MSG>", a signature, four JSON
 * frames, buffers, or none of these.  The message is sent twice and
 * received once with a wire whose key is "" (signing off, so any JSON
 * reaches the parser) and once with FZ_KEY, the key make_corpus.py signs
 * its seeds with.  Any outcome is fine but a crash, a sanitizer report, a
 * leak, a hang, or a broken promise of wire.h: every frame taken off the
 * socket (nothing left to receive after), a message's four parts objects
 * and its msg_type a string, and aak_reply to a message received arriving
 * back at the DEALER as a message that checks under the same key, with
 * the request's extra identities and its header as parent_header.  No
 * Python here: the leak checker is on.
 */
#include "wire.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define FZ_SEP "\n|\n"
#define FZ_SEP_LEN (sizeof FZ_SEP - 1)
#define FZ_KEY "fuzz-wire-key"
#define FZ_ENDPOINT "inproc://fuzz-wire"
/* Generous: inproc delivers at once; this only turns a lost message into
 * a report instead of a hang. */
#define FZ_WAIT_MS 5000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *ctx, *router, *dealer;
static aak_wire keyed, unkeyed;

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz_wire: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *open_socket(int type)
{
    int zero = 0, hwm = 0;
    void *s = zmq_socket(ctx, type);

    if (s == NULL || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        fail("cannot make a socket: %s", zmq_strerror(zmq_errno()));
    return s;
}

static void setup_wire(aak_wire *w, const char *key)
{
    aak_conn c;

    memset(&c, 0, sizeof c);
    strcpy(c.transport, "tcp");
    strcpy(c.ip, "127.0.0.1");
    strcpy(c.key, key);
    strcpy(c.signature_scheme, "hmac-sha256");
    if (aak_wire_init(w, &c) != 0)
        fail("aak_wire_init failed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = zmq_ctx_new();
    if (ctx == NULL)
        fail("zmq_ctx_new failed");
    router = open_socket(ZMQ_ROUTER);
    dealer = open_socket(ZMQ_DEALER);
    if (zmq_bind(router, FZ_ENDPOINT) != 0 ||
        zmq_connect(dealer, FZ_ENDPOINT) != 0)
        fail("cannot connect the pair: %s", zmq_strerror(zmq_errno()));
    setup_wire(&keyed, FZ_KEY);
    setup_wire(&unkeyed, "");
    return 0;
}

/* Waits for something to read on s: 1, or 0 after FZ_WAIT_MS. */
static int readable(void *s)
{
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&item, 1, FZ_WAIT_MS);

    if (rc < 0)
        fail("zmq_poll: %s", zmq_strerror(zmq_errno()));
    return rc > 0;
}

/* Sends the input's frames from the DEALER. */
static void send_frames(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;

    for (;;) {
        const uint8_t *q = p;
        int last;

        while (q + FZ_SEP_LEN <= end && memcmp(q, FZ_SEP, FZ_SEP_LEN) != 0)
            q++;
        last = q + FZ_SEP_LEN > end;
        if (last)
            q = end;
        if (zmq_send(dealer, p, (size_t)(q - p), last ? 0 : ZMQ_SNDMORE) < 0)
            fail("zmq_send: %s", zmq_strerror(zmq_errno()));
        if (last)
            return;
        p = q + FZ_SEP_LEN;
    }
}

/* The reply to m, as the DEALER gets it, must be a message under w with
 * m's identities after the first (the ROUTER routes by that one) and m's
 * header as its parent header. */
static void check_reply(const aak_wire *w, const aak_msg *m)
{
    char why[256];
    aak_msg r;
    size_t i;
    int rc;

    if (!readable(dealer))
        fail("the reply did not arrive");
    rc = aak_recv(w, dealer, &r, why, sizeof why);
    if (rc != AAK_MESSAGE)
        fail("the reply was not a message (%d: %s)", rc, why);
    if (r.nidents + 1 != m->nidents)
        fail("the reply has %zu identities, the request %zu", r.nidents,
             m->nidents);
    for (i = 0; i < r.nidents; i++)
        if (r.identlens[i] != m->identlens[i + 1] ||
            memcmp(r.idents[i], m->idents[i + 1], r.identlens[i]) != 0)
            fail("the reply's identity %zu differs", i);
    if (!json_equal(r.parent, m->header))
        fail("the reply's parent_header is not the request's header");
    if (strcmp(r.msg_type, "fuzz_reply") != 0)
        fail("the reply's msg_type is '%s'", r.msg_type);
    if (!json_equal(r.content, m->content))
        fail("the reply's content is not the request's");
    aak_msg_clear(&r);
    aak_msg_clear(&r); /* a zeroed message is fine */
}

static void receive(const aak_wire *w)
{
    char why[256];
    aak_msg m;
    int rc;

    if (!readable(router))
        fail("the message did not arrive");
    rc = aak_recv(w, router, &m, why, sizeof why);
    if (rc == AAK_MESSAGE) {
        if (m.nidents < 1 || !json_is_object(m.header) ||
            !json_is_object(m.parent) || !json_is_object(m.metadata) ||
            !json_is_object(m.content) || m.msg_type == NULL)
            fail("a message broke wire.h's promises");
        /* content is taken: the copy goes, m keeps its own. */
        if (aak_reply(w, router, &m, "fuzz_reply", json_deep_copy(m.content),
                      json_deep_copy(m.metadata)) != 0)
            fail("aak_reply failed: %s", zmq_strerror(zmq_errno()));
        check_reply(w, &m);
    } else if (rc == AAK_DROPPED) {
        if (why[0] == '\0')
            fail("dropped without saying why");
        if (m.header != NULL || m.idents != NULL || m.nidents != 0)
            fail("a dropped message kept something");
    } else {
        fail("aak_recv answered %d with a message waiting", rc);
    }
    aak_msg_clear(&m);
    rc = aak_recv(w, router, &m, why, sizeof why);
    if (rc != AAK_NONE)
        fail("a frame was left on the socket (%d: %s)", rc, why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    send_frames(data, size);
    receive(&unkeyed);
    send_frames(data, size);
    receive(&keyed);
    return 0;
}
