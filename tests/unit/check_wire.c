/*
 * check_wire.c -- the kernel's wire layer (kernel/wire.c): messages over
 * real ZeroMQ sockets, signed and checked; what is dropped and why, with
 * the socket left clean for the next message; connection files and
 * endpoints; and, against jupyter_client itself, that each side accepts
 * what the other signs (tests/kernel/wire_interop.py).
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zmq.h>

#include "wire.h"

#define KEY "b5d6a3c2-9e4f-4a1b-8c7d-0e1f2a3b4c5d"

/* The frames of a kernel_info_request, and their signature under KEY as
 * Python computes it: hmac.new(KEY, digestmod=hashlib.sha256) updated with
 * the four frames, hexdigest(). */
#define FIXED_HEADER                                                           \
    "{\"msg_id\":\"m1\",\"session\":\"s1\",\"username\":\"u\",\"date\":"       \
    "\"2026-12-03T00:00:00.000000Z\",\"msg_type\":\"kernel_info_request\","    \
    "\"version\":\"5.3\"}"
#define FIXED_SIG                                                              \
    "05b4425be5bda282cd4728fad6ae282b0dca74f874c3ff7ee72749df04e602a3"

static void *ctx;
static void *router; /* the kernel's side */
static void *dealer; /* the client's side */
static char tmpdir[64];

/* The signature the test computes itself: OpenSSL's one-shot HMAC over the
 * frames joined. */
static void sign(const char *key, const char *const frames[4], char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char joined[4096] = "";
    int i;

    for (i = 0; i < 4; i++)
        strcat(joined, frames[i]);
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)strlen(key),
                               (const unsigned char *)joined, strlen(joined),
                               mac, &maclen));
    ck_assert_uint_eq(maclen, 32);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static void send_frames(void *sock, const char *const *frames, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        ck_assert_int_ge(zmq_send(sock, frames[i], strlen(frames[i]),
                                  i + 1 < n ? ZMQ_SNDMORE : 0),
                         0);
}

/* A request from the client, signed under key (or with sig as given). */
static void send_request(const char *key, const char *sig, const char *type,
                         const char *content)
{
    char header[512];
    char hex[65] = "";
    const char *four[4];
    const char *frames[6];

    snprintf(header, sizeof header,
             "{\"msg_id\":\"req-%s\",\"session\":\"client\","
             "\"username\":\"test\",\"date\":\"2026-12-03T00:00:00.000000Z\","
             "\"msg_type\":\"%s\",\"version\":\"5.3\"}",
             type, type);
    four[0] = header;
    four[1] = "{}";
    four[2] = "{}";
    four[3] = content;
    if (sig == NULL)
        sign(key, four, hex);
    frames[0] = "<IDS|MSG>";
    frames[1] = sig != NULL ? sig : hex;
    memcpy(frames + 2, four, sizeof four);
    send_frames(dealer, frames, 6);
}

/* aak_recv, waiting up to 5 s for something to arrive. */
static int recv_wait(const aak_wire *w, void *sock, aak_msg *m, char *why,
                     size_t whylen)
{
    int i;
    for (i = 0; i < 500; i++) {
        int rc = aak_recv(w, sock, m, why, whylen);
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (rc != AAK_NONE)
            return rc;
        zmq_poll(&item, 1, 10);
    }
    return AAK_NONE;
}

/* Receives a whole multipart message on sock: its frames, NUL-terminated,
 * into a NULL-terminated array. */
static char **recv_frames(void *sock, size_t *n)
{
    char **frames = calloc(32, sizeof *frames);
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    int more = 1;

    *n = 0;
    ck_assert_int_eq(zmq_poll(&item, 1, 5000), 1);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        ck_assert_int_ge(zmq_msg_recv(&part, sock, 0), 0);
        ck_assert_uint_lt(*n, 31);
        frames[*n] = calloc(1, zmq_msg_size(&part) + 1);
        memcpy(frames[*n], zmq_msg_data(&part), zmq_msg_size(&part));
        (*n)++;
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return frames;
}

static void free_frames(char **frames)
{
    size_t i;
    for (i = 0; frames[i] != NULL; i++)
        free(frames[i]);
    free(frames);
}

static void conn_init(aak_conn *c, const char *key)
{
    memset(c, 0, sizeof *c);
    strcpy(c->transport, "tcp");
    strcpy(c->ip, "127.0.0.1");
    snprintf(c->key, sizeof c->key, "%s", key);
    strcpy(c->signature_scheme, "hmac-sha256");
}

static void wire_init(aak_wire *w, const char *key)
{
    aak_conn c;
    conn_init(&c, key);
    ck_assert_int_eq(aak_wire_init(w, &c), 0);
}

static void setup(void)
{
    char ep[128];
    int linger = 0;

    strcpy(tmpdir, "/tmp/check_wire.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ctx = zmq_ctx_new();
    router = zmq_socket(ctx, ZMQ_ROUTER);
    dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(ep, sizeof ep, "ipc://%s/shell", tmpdir);
    ck_assert_int_eq(zmq_bind(router, ep), 0);
    ck_assert_int_eq(zmq_connect(dealer, ep), 0);
}

static void teardown(void)
{
    char cmd[128];
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(request_and_reply_round_trip)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    char hex[65];
    char **f;
    size_t n;
    json_t *h;
    const char *date;

    wire_init(&w, KEY);
    send_request(KEY, NULL, "execute_request",
                 "{\"code\":\"1 + 1\",\"silent\":false}");
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_str_eq(m.msg_type, "execute_request");
    ck_assert_uint_eq(m.nidents, 1); /* the ROUTER's identity of the peer */
    ck_assert_str_eq(json_string_value(json_object_get(m.content, "code")),
                     "1 + 1");
    ck_assert(json_is_object(m.parent) && json_is_object(m.metadata));

    ck_assert_int_eq(
        aak_reply(&w, router, &m, "execute_reply",
                  json_pack("{s:s,s:i}", "status", "ok", "execution_count", 1),
                  NULL),
        0);
    f = recv_frames(dealer, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(f[0], "<IDS|MSG>");
    sign(KEY, (const char *const *)f + 2, hex);
    ck_assert_str_eq(f[1], hex);
    h = json_loads(f[2], 0, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(json_string_value(json_object_get(h, "msg_type")),
                     "execute_reply");
    ck_assert_str_eq(json_string_value(json_object_get(h, "version")), "5.3");
    ck_assert_str_eq(json_string_value(json_object_get(h, "session")),
                     w.session);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(h, "msg_id"))),
                      36);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(h, "username")));
    date = json_string_value(json_object_get(h, "date"));
    ck_assert_ptr_nonnull(date);
    ck_assert_uint_eq(strlen(date), 27);
    ck_assert_int_eq(date[26], 'Z');
    json_decref(h);
    /* The parent header is the request's header. */
    h = json_loads(f[3], 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(h, "msg_id")),
                     "req-execute_request");
    json_decref(h);
    ck_assert_str_eq(f[4], "{}");
    ck_assert_str_eq(f[5], "{\"status\":\"ok\",\"execution_count\":1}");
    free_frames(f);
    aak_msg_clear(&m);
    ck_assert_ptr_null(m.header);
    aak_msg_clear(&m); /* a zeroed message is fine */
}
END_TEST

START_TEST(signature_matches_python_hmac)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    const char *frames[6] = {"<IDS|MSG>", FIXED_SIG, FIXED_HEADER,
                             "{}",        "{}",      "{}"};

    wire_init(&w, KEY);
    send_frames(dealer, frames, 6);
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_str_eq(m.msg_type, "kernel_info_request");
    aak_msg_clear(&m);
}
END_TEST

/* RFC 4231, test case 2: HMAC-SHA256("Jefe", "what do ya want for
 * nothing?"), the data cut into the four signed frames.  The signature is
 * right, so what is left to drop the message for is its JSON. */
START_TEST(signature_covers_the_four_frames_in_order)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    const char *frames[6] = {
        "<IDS|MSG>",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "what do ",
        "ya want ",
        "for ",
        "nothing?"};

    wire_init(&w, "Jefe");
    send_frames(dealer, frames, 6);
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_DROPPED);
    ck_assert_msg(strstr(why, "JSON") != NULL, "why: %s", why);
    ck_assert_msg(strstr(why, "signature") == NULL, "why: %s", why);
    /* The same frames in another order: now the signature is wrong. */
    frames[3] = "for ";
    frames[4] = "ya want ";
    send_frames(dealer, frames, 6);
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_DROPPED);
    ck_assert_msg(strstr(why, "signature") != NULL, "why: %s", why);
}
END_TEST

/* A dropped message: why names the reason (and the msg_type when it could
 * be read), and the next good message comes through whole. */
static void expect_dropped_then_good(const aak_wire *w, const char *reason,
                                     const char *type)
{
    aak_msg m = {0};
    char why[256] = "";

    ck_assert_int_eq(recv_wait(w, router, &m, why, sizeof why), AAK_DROPPED);
    ck_assert_msg(strstr(why, reason) != NULL, "why: '%s', not '%s'", why,
                  reason);
    if (type != NULL)
        ck_assert_msg(strstr(why, type) != NULL, "why: '%s' without '%s'", why,
                      type);
    ck_assert_ptr_null(m.header);
    send_request(KEY, NULL, "kernel_info_request", "{}");
    ck_assert_int_eq(recv_wait(w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_str_eq(m.msg_type, "kernel_info_request");
    aak_msg_clear(&m);
    ck_assert_int_eq(aak_recv(w, router, &m, why, sizeof why), AAK_NONE);
}

START_TEST(wrong_signature_is_dropped)
{
    aak_wire w;
    wire_init(&w, KEY);
    send_request("another key", NULL, "execute_request", "{\"code\":\"1\"}");
    expect_dropped_then_good(&w, "signature", "execute_request");
}
END_TEST

START_TEST(missing_signature_is_dropped)
{
    aak_wire w;
    wire_init(&w, KEY);
    send_request(KEY, "", "execute_request", "{\"code\":\"1\"}");
    expect_dropped_then_good(&w, "signature", "execute_request");
}
END_TEST

START_TEST(garbage_json_is_dropped)
{
    aak_wire w;
    wire_init(&w, KEY);
    send_request(KEY, NULL, "execute_request", "{\"code\": \"1");
    expect_dropped_then_good(&w, "JSON", "execute_request");
    send_request(KEY, NULL, "execute_request", "[1, 2]");
    expect_dropped_then_good(&w, "JSON", "execute_request");
}
END_TEST

START_TEST(header_without_msg_type_is_dropped)
{
    aak_wire w;
    const char *four[4] = {"{\"msg_id\":\"x\"}", "{}", "{}", "{}"};
    char hex[65];
    const char *frames[6];

    wire_init(&w, KEY);
    sign(KEY, four, hex);
    frames[0] = "<IDS|MSG>";
    frames[1] = hex;
    memcpy(frames + 2, four, sizeof four);
    send_frames(dealer, frames, 6);
    expect_dropped_then_good(&w, "msg_type", NULL);
}
END_TEST

START_TEST(message_without_delimiter_is_dropped)
{
    aak_wire w;
    const char *frames[5] = {FIXED_SIG, FIXED_HEADER, "{}", "{}", "{}"};

    wire_init(&w, KEY);
    send_frames(dealer, frames, 5);
    expect_dropped_then_good(&w, "<IDS|MSG>", NULL);
}
END_TEST

START_TEST(message_with_too_few_frames_is_dropped)
{
    aak_wire w;
    const char *frames[4] = {"<IDS|MSG>", FIXED_SIG, FIXED_HEADER, "{}"};

    wire_init(&w, KEY);
    send_frames(dealer, frames, 4);
    expect_dropped_then_good(&w, "frames", NULL);
}
END_TEST

START_TEST(buffers_after_content_are_accepted)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    const char *frames[8] = {"<IDS|MSG>", FIXED_SIG, FIXED_HEADER, "{}",
                             "{}",        "{}",      "buffer 1",   "buffer 2"};

    wire_init(&w, KEY);
    send_frames(dealer, frames, 8);
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_str_eq(m.msg_type, "kernel_info_request");
    aak_msg_clear(&m);
    ck_assert_int_eq(aak_recv(&w, router, &m, why, sizeof why), AAK_NONE);
}
END_TEST

/* A cell with a NUL in it is a message: the handler gets the whole string
 * (its length) and Python refuses it, as ipykernel's does, instead of
 * the client waiting for ever on a dropped request. */
START_TEST(nul_in_content_string_is_kept)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    json_t *code;

    wire_init(&w, KEY);
    send_request(KEY, NULL, "execute_request", "{\"code\":\"1\\u0000+1\"}");
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    code = json_object_get(m.content, "code");
    ck_assert_uint_eq(json_string_length(code), 4);
    ck_assert_int_eq(memcmp(json_string_value(code), "1\0+1", 4), 0);
    aak_msg_clear(&m);
}
END_TEST

/* An integer past 64 bits (Python's clients send any int) is a message:
 * the content's numbers come as reals then, and the handler answers. */
START_TEST(huge_integer_in_content_is_kept)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";

    wire_init(&w, KEY);
    send_request(
        KEY, NULL, "complete_request",
        "{\"code\":\"x\",\"cursor_pos\":1000000000000000000000000000000}");
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert(json_is_number(json_object_get(m.content, "cursor_pos")));
    ck_assert(!json_is_integer(json_object_get(m.content, "cursor_pos")));
    aak_msg_clear(&m);
    /* The header's are not numbers a kernel reads: still dropped there. */
    send_request(KEY, NULL,
                 "x\",\"n\":1000000000000000000000000000000,\"y\":\"z", "{}");
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_DROPPED);
}
END_TEST

START_TEST(empty_key_accepts_unsigned_and_sends_unsigned)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    char **f;
    size_t n;

    wire_init(&w, "");
    ck_assert_uint_eq(w.keylen, 0);
    send_request("", "", "kernel_info_request", "{}");
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_int_eq(aak_reply(&w, router, &m, "kernel_info_reply", NULL, NULL),
                     0);
    f = recv_frames(dealer, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(f[1], "");
    ck_assert_str_eq(f[5], "{}");
    free_frames(f);
    aak_msg_clear(&m);
}
END_TEST

START_TEST(publish_sends_the_topic_and_the_parent)
{
    aak_wire w;
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    json_t *parent =
        json_pack("{s:s,s:s}", "msg_id", "p1", "msg_type", "execute_request");
    char topic[128];
    char hex[65];
    char **f;
    size_t n;
    json_t *h;

    wire_init(&w, KEY);
    ck_assert_int_eq(zmq_bind(push, "inproc://iopub"), 0);
    ck_assert_int_eq(zmq_connect(pull, "inproc://iopub"), 0);
    ck_assert_int_eq(
        aak_publish(&w, push, parent, "stream",
                    json_pack("{s:s,s:s}", "name", "stdout", "text", "hi\n")),
        0);
    f = recv_frames(pull, &n);
    ck_assert_uint_eq(n, 7);
    snprintf(topic, sizeof topic, "kernel.%s.stream", w.session);
    ck_assert_str_eq(f[0], topic);
    ck_assert_str_eq(f[1], "<IDS|MSG>");
    sign(KEY, (const char *const *)f + 3, hex);
    ck_assert_str_eq(f[2], hex);
    h = json_loads(f[3], 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(h, "msg_type")),
                     "stream");
    json_decref(h);
    h = json_loads(f[4], 0, NULL);
    ck_assert(json_equal(h, parent));
    json_decref(h);
    ck_assert_str_eq(f[6], "{\"name\":\"stdout\",\"text\":\"hi\\n\"}");
    free_frames(f);

    /* No parent: {}. */
    ck_assert_int_eq(aak_publish(&w, push, NULL, "status",
                                 json_pack("{s:s}", "execution_state", "idle")),
                     0);
    f = recv_frames(pull, &n);
    ck_assert_str_eq(f[4], "{}");
    free_frames(f);
    json_decref(parent);
    zmq_close(push);
    zmq_close(pull);
}
END_TEST

START_TEST(uuids_are_random_uuid4)
{
    char a[37], b[37];
    aak_conn c;
    int i;

    ck_assert_int_eq(aak_uuid(a), 0);
    ck_assert_int_eq(aak_uuid(b), 0);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strlen(a), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ck_assert_int_eq(a[i], '-');
        else
            ck_assert_msg(strchr("0123456789abcdef", a[i]) != NULL, "%s", a);
    }
    ck_assert_int_eq(a[14], '4');
    ck_assert_ptr_nonnull(strchr("89ab", a[19]));

    conn_init(&c, "");
    ck_assert_int_eq(aak_conn_new_key(&c), 0);
    ck_assert_uint_eq(strlen(c.key), 36);
    strcpy(a, c.key);
    ck_assert_int_eq(aak_conn_new_key(&c), 0);
    ck_assert_str_ne(a, c.key);
}
END_TEST

START_TEST(now_is_iso8601_utc_with_microseconds)
{
    char buf[32];
    int y, mo, d, h, mi, s, us;
    char z;

    aak_now(buf);
    ck_assert_uint_eq(strlen(buf), 27);
    ck_assert_int_eq(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%c", &y, &mo, &d,
                            &h, &mi, &s, &us, &z),
                     8);
    ck_assert_int_eq(z, 'Z');
    ck_assert_int_ge(y, 2024);
}
END_TEST

START_TEST(endpoints_tcp_and_ipc)
{
    aak_conn c;
    char buf[300];
    char small[10];
    void *sock;
    size_t len = sizeof buf;

    conn_init(&c, KEY);
    ck_assert_int_eq(aak_endpoint(&c, AAK_SHELL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://127.0.0.1:*");
    c.ports[AAK_HB] = 5555;
    ck_assert_int_eq(aak_endpoint(&c, AAK_HB, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://127.0.0.1:5555");
    ck_assert_int_eq(aak_endpoint(&c, AAK_HB, small, sizeof small), -1);

    /* Port 0 binds a free port. */
    ck_assert_int_eq(aak_endpoint(&c, AAK_IOPUB, buf, sizeof buf), 0);
    sock = zmq_socket(ctx, ZMQ_PUB);
    ck_assert_int_eq(zmq_bind(sock, buf), 0);
    ck_assert_int_eq(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, buf, &len), 0);
    ck_assert_msg(strncmp(buf, "tcp://127.0.0.1:", 16) == 0 &&
                      atoi(buf + 16) > 0,
                  "%s", buf);
    zmq_close(sock);

    strcpy(c.transport, "ipc");
    snprintf(c.ip, sizeof c.ip, "%s/kernel", tmpdir);
    ck_assert_int_eq(aak_endpoint(&c, AAK_HB, buf, sizeof buf), 0);
    ck_assert_str_eq(strrchr(buf, '-'), "-5555");
    ck_assert_int_eq(aak_endpoint(&c, AAK_STDIN, buf, sizeof buf), 0);
    ck_assert_str_eq(strrchr(buf, '-'), "-3");
    ck_assert_int_eq(strncmp(buf, "ipc://", 6), 0);
    ck_assert_str_eq(buf + 6 + strlen(c.ip), "-3");

    ck_assert_str_eq(aak_port_name(AAK_SHELL), "shell_port");
    ck_assert_str_eq(aak_port_name(AAK_CONTROL), "control_port");
    ck_assert_str_eq(aak_port_name(AAK_STDIN), "stdin_port");
    ck_assert_str_eq(aak_port_name(AAK_HB), "hb_port");
    ck_assert_str_eq(aak_port_name(AAK_IOPUB), "iopub_port");
}
END_TEST

/* Connection files. */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(conn_file_round_trip_is_0600)
{
    aak_conn c, r;
    char path[128];
    char err[256] = "";
    struct stat st;
    mode_t old = umask(0);
    int i;

    conn_init(&c, KEY);
    strcpy(c.kernel_name, "autoawait");
    for (i = 0; i < AAK_NCHANNELS; i++)
        c.ports[i] = 40000 + i;
    snprintf(path, sizeof path, "%s/kernel-1.json", tmpdir);
    /* An old file, readable by all, is replaced, not rewritten. */
    write_text(path, "old");
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_msg(aak_conn_write(path, &c, err, sizeof err) == 0, "%s", err);
    umask(old);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);

    memset(&r, 0x55, sizeof r);
    ck_assert_msg(aak_conn_read(path, &r, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(r.transport, "tcp");
    ck_assert_str_eq(r.ip, "127.0.0.1");
    ck_assert_str_eq(r.key, KEY);
    ck_assert_str_eq(r.signature_scheme, "hmac-sha256");
    ck_assert_str_eq(r.kernel_name, "autoawait");
    for (i = 0; i < AAK_NCHANNELS; i++)
        ck_assert_int_eq(r.ports[i], 40000 + i);
    /* Nothing else is left in the folder: no temporary file. */
    snprintf(path, sizeof path, "ls -A %s | grep -c kernel-1 | grep -qx 1",
             tmpdir);
    ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(conn_file_write_refusals)
{
    aak_conn c, r;
    char path[128];
    char err[256] = "";
    int i;

    /* A tcp port still to be picked cannot be written. */
    conn_init(&c, KEY);
    snprintf(path, sizeof path, "%s/kernel-2.json", tmpdir);
    ck_assert_int_eq(aak_conn_write(path, &c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "shell_port") != NULL, "%s", err);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* ipc ports left at 0 are written as aak_endpoint binds them. */
    strcpy(c.transport, "ipc");
    strcpy(c.ip, "kernel-ipc");
    ck_assert_msg(aak_conn_write(path, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(aak_conn_read(path, &r, err, sizeof err) == 0, "%s", err);
    for (i = 0; i < AAK_NCHANNELS; i++)
        ck_assert_int_eq(r.ports[i], i + 1);
    /* No folder: the path and the reason. */
    snprintf(path, sizeof path, "%s/none/kernel.json", tmpdir);
    ck_assert_int_eq(aak_conn_write(path, &c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, path) != NULL &&
                      strstr(err, strerror(ENOENT)) != NULL,
                  "%s", err);
}
END_TEST

/* What Jupyter itself writes (jupyter_client.connect.write_connection_file),
 * with no kernel_name. */
START_TEST(conn_file_from_jupyter_is_read)
{
    aak_conn r;
    char path[128];
    char err[256] = "";

    snprintf(path, sizeof path, "%s/jupyter.json", tmpdir);
    write_text(path, "{\n \"shell_port\": 51001,\n \"iopub_port\": 51002,\n"
                     " \"stdin_port\": 51003,\n \"control_port\": 51004,\n"
                     " \"hb_port\": 51005,\n \"ip\": \"127.0.0.1\",\n"
                     " \"key\": \"a-key\",\n \"transport\": \"tcp\",\n"
                     " \"signature_scheme\": \"hmac-sha256\"\n}\n");
    ck_assert_msg(aak_conn_read(path, &r, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r.ports[AAK_SHELL], 51001);
    ck_assert_int_eq(r.ports[AAK_IOPUB], 51002);
    ck_assert_int_eq(r.ports[AAK_STDIN], 51003);
    ck_assert_int_eq(r.ports[AAK_CONTROL], 51004);
    ck_assert_int_eq(r.ports[AAK_HB], 51005);
    ck_assert_str_eq(r.key, "a-key");
    ck_assert_str_eq(r.kernel_name, "");
}
END_TEST

static void expect_bad_file(const char *text, const char *reason)
{
    aak_conn r;
    char path[128];
    char err[256] = "";

    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    write_text(path, text);
    ck_assert_int_eq(aak_conn_read(path, &r, err, sizeof err), -1);
    ck_assert_msg(strstr(err, reason) != NULL, "err: '%s', not '%s'", err,
                  reason);
}

#define PORTS                                                                  \
    "\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,"   \
    "\"hb_port\":5"

START_TEST(conn_file_malformed_is_refused)
{
    expect_bad_file("{\"shell_port\": 1,", "JSON");
    expect_bad_file("[]", "object");
    expect_bad_file("{" PORTS ",\"ip\":\"127.0.0.1\",\"transport\":\"tcp\","
                    "\"signature_scheme\":\"hmac-sha256\"}",
                    "key");
    expect_bad_file("{" PORTS ",\"ip\":\"127.0.0.1\",\"transport\":\"tcp\","
                    "\"key\":5}",
                    "key");
    expect_bad_file("{\"shell_port\":\"1\",\"iopub_port\":2,\"stdin_port\":3,"
                    "\"control_port\":4,\"hb_port\":5,\"ip\":\"127.0.0.1\","
                    "\"transport\":\"tcp\",\"key\":\"k\"}",
                    "shell_port");
    expect_bad_file("{" PORTS ",\"ip\":\"127.0.0.1\",\"transport\":\"udp\","
                    "\"key\":\"k\"}",
                    "udp");
    expect_bad_file("{" PORTS ",\"ip\":\"127.0.0.1\",\"transport\":\"tcp\","
                    "\"key\":\"k\",\"signature_scheme\":\"hmac-md5\"}",
                    "hmac-md5");
    expect_bad_file("{\"shell_port\":70000,\"iopub_port\":2,\"stdin_port\":3,"
                    "\"control_port\":4,\"hb_port\":5,\"ip\":\"127.0.0.1\","
                    "\"transport\":\"tcp\",\"key\":\"k\"}",
                    "shell_port");
}
END_TEST

START_TEST(conn_file_missing_says_so)
{
    aak_conn r;
    char path[128];
    char err[256] = "";

    snprintf(path, sizeof path, "%s/nonexistent.json", tmpdir);
    errno = 0;
    ck_assert_int_eq(aak_conn_read(path, &r, err, sizeof err), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    ck_assert_msg(strstr(err, strerror(ENOENT)) != NULL, "%s", err);
}
END_TEST

/* jupyter_client's Session against aak_wire, both ways: the script sends
 * one message under a wrong key (dropped) and one under the right key
 * (received), and checks the reply with Session.deserialize. */
START_TEST(jupyter_client_interop)
{
    aak_wire w;
    aak_msg m = {0};
    char why[256] = "";
    char cmd[512];
    char out[256] = "";
    FILE *p;
    int status;

    wire_init(&w, KEY);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s ipc://%s/shell %s 2>&1 </dev/null",
             AAK_WIRE_INTEROP, tmpdir, KEY);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    if (recv_wait(&w, router, &m, why, sizeof why) == AAK_NONE)
        (void)recv_wait(&w, router, &m, why, sizeof why);
    if (m.header == NULL && why[0] == '\0') {
        /* Nothing came: the script says why (no jupyter_client?). */
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = '\0';
        status = pclose(p);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 77,
                      "nothing received; the script said: %s", out);
        fprintf(stderr, "jupyter_client_interop: SKIPPED: %s", out);
        return;
    }
    ck_assert_ptr_null(m.header);
    ck_assert_msg(strstr(why, "signature") != NULL, "why: %s", why);
    ck_assert_int_eq(recv_wait(&w, router, &m, why, sizeof why), AAK_MESSAGE);
    ck_assert_str_eq(m.msg_type, "execute_request");
    ck_assert_str_eq(json_string_value(json_object_get(m.header, "username")),
                     "interop");
    ck_assert_str_eq(json_string_value(json_object_get(m.content, "code")),
                     "1 + 1");
    ck_assert_int_eq(
        aak_reply(&w, router, &m, "execute_reply",
                  json_pack("{s:s,s:i,s:{}}", "status", "ok", "execution_count",
                            1, "user_expressions"),
                  NULL),
        0);
    aak_msg_clear(&m);
    out[fread(out, 1, sizeof out - 1, p)] = '\0';
    status = pclose(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "wire_interop.py: %s", out);
    ck_assert_str_eq(out, "ok\n");
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *su = suite_create("wire");
    TCase *msg = tcase_create("messages");
    TCase *conn = tcase_create("connection files");
    TCase *interop = tcase_create("jupyter_client");

    tcase_add_checked_fixture(msg, setup, teardown);
    tcase_add_test(msg, request_and_reply_round_trip);
    tcase_add_test(msg, signature_matches_python_hmac);
    tcase_add_test(msg, signature_covers_the_four_frames_in_order);
    tcase_add_test(msg, wrong_signature_is_dropped);
    tcase_add_test(msg, missing_signature_is_dropped);
    tcase_add_test(msg, garbage_json_is_dropped);
    tcase_add_test(msg, header_without_msg_type_is_dropped);
    tcase_add_test(msg, message_without_delimiter_is_dropped);
    tcase_add_test(msg, message_with_too_few_frames_is_dropped);
    tcase_add_test(msg, buffers_after_content_are_accepted);
    tcase_add_test(msg, nul_in_content_string_is_kept);
    tcase_add_test(msg, huge_integer_in_content_is_kept);
    tcase_add_test(msg, empty_key_accepts_unsigned_and_sends_unsigned);
    tcase_add_test(msg, publish_sends_the_topic_and_the_parent);
    tcase_add_test(msg, uuids_are_random_uuid4);
    tcase_add_test(msg, now_is_iso8601_utc_with_microseconds);
    tcase_add_test(msg, endpoints_tcp_and_ipc);
    suite_add_tcase(su, msg);
    tcase_add_checked_fixture(conn, setup, teardown);
    tcase_add_test(conn, conn_file_round_trip_is_0600);
    tcase_add_test(conn, conn_file_write_refusals);
    tcase_add_test(conn, conn_file_from_jupyter_is_read);
    tcase_add_test(conn, conn_file_malformed_is_refused);
    tcase_add_test(conn, conn_file_missing_says_so);
    suite_add_tcase(su, conn);
    tcase_add_checked_fixture(interop, setup, teardown);
    tcase_add_test(interop, jupyter_client_interop);
    suite_add_tcase(su, interop);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
