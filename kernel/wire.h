/*
 * wire.h -- the Jupyter wire protocol, inside libautoawait-kernel: the
 * connection file, signing, and the multipart messages of ZeroMQ.
 *
 * A message on the wire is
 *     ident... "<IDS|MSG>" signature header parent_header metadata content
 *     [buffer...]
 * where signature is the lower-case hex HMAC-SHA256 of the four JSON
 * frames under the connection file's key (empty, and unchecked, when the
 * key is ""): docs/kernel.md, "The wire".  Nothing here knows a session.
 */
#ifndef AA_KERNEL_WIRE_H
#define AA_KERNEL_WIRE_H

#include <jansson.h>
#include <stddef.h>

/* The channels, in the order of a connection file's ports. */
enum { AAK_SHELL, AAK_CONTROL, AAK_STDIN, AAK_HB, AAK_IOPUB, AAK_NCHANNELS };

/* A connection file's contents. */
typedef struct aak_conn {
    char transport[8];         /* "tcp" or "ipc" */
    char ip[256];              /* tcp: an address; ipc: a path prefix */
    int ports[AAK_NCHANNELS];  /* 0: pick one when binding */
    char key[256];             /* "" turns signing off */
    char signature_scheme[32]; /* "hmac-sha256" */
    char kernel_name[64];      /* "" when the file has none */
} aak_conn;

/* The channel's name in a connection file: "shell_port", ... */
const char *aak_port_name(int channel);

/*
 * Reads the connection file at path into *c.  Returns 0, or -1 with err
 * (errlen bytes) saying what is wrong: cannot open (errno kept, ENOENT
 * when it does not exist), not JSON, a field missing or of the wrong
 * type, an unknown transport or signature_scheme.
 */
int aak_conn_read(const char *path, aak_conn *c, char *err, size_t errlen);

/*
 * Writes *c to path as a connection file (every port filled in), mode
 * 0600 whatever the umask, replacing the file at once (a temporary file
 * renamed over it) so a client never reads half of it.  Returns 0, or -1
 * with err.
 */
int aak_conn_write(const char *path, const aak_conn *c, char *err,
                   size_t errlen);

/* Fills c->key with a fresh random key (a UUID's text, as Jupyter's): 0 or
 * -1 when no random bytes could be had. */
int aak_conn_new_key(aak_conn *c);

/*
 * The ZeroMQ endpoint of a channel: "tcp://IP:PORT" ("tcp://IP:*" for
 * port 0), "ipc://IP-N" (N = port, or channel + 1 for port 0).  Returns 0
 * or -1 when it does not fit in len.
 */
int aak_endpoint(const aak_conn *c, int channel, char *buf, size_t len);

/* A fresh random UUID4 in its 36-character text form (buf >= 37). */
int aak_uuid(char buf[37]);

/* What signs and checks messages and fills their headers. */
typedef struct aak_wire {
    unsigned char key[256];
    size_t keylen;     /* 0: signing off */
    char session[37];  /* this kernel's session id: a UUID */
    char username[64]; /* header.username of what it sends */
} aak_wire;

/* Sets up w for c's key, a new session id; 0 or -1. */
int aak_wire_init(aak_wire *w, const aak_conn *c);

/* One message received: it owns everything in it. */
typedef struct aak_msg {
    void **idents; /* routing identities, each malloc'd */
    size_t *identlens;
    size_t nidents;
    json_t *header; /* objects, never NULL in a message received */
    json_t *parent;
    json_t *metadata;
    json_t *content;
    const char *msg_type; /* header.msg_type, inside header */
} aak_msg;

/* The outcome of aak_recv. */
enum {
    AAK_NONE = 0,    /* nothing to receive (EAGAIN) */
    AAK_MESSAGE = 1, /* *m holds a checked message */
    AAK_DROPPED = 2  /* one was received and dropped: why says why */
};

/*
 * Receives one message from sock without waiting.  AAK_MESSAGE: *m holds
 * it (free it with aak_msg_clear); AAK_DROPPED: its signature was wrong
 * or missing (checked in constant time), or its frames or JSON were
 * malformed, and why (whylen bytes) says which, naming header.msg_type
 * when it could be read; AAK_NONE: nothing was waiting.  Every frame of
 * the message is taken off the socket in each case.  -1: a ZeroMQ error
 * (ETERM once the context is shut down).
 */
int aak_recv(const aak_wire *w, void *sock, aak_msg *m, char *why,
             size_t whylen);

/* Frees what *m holds and zeroes it; a zeroed message is fine. */
void aak_msg_clear(aak_msg *m);

/*
 * Sends a message of msg_type with content (taken: its reference is
 * dropped, also on failure; NULL is {}) on sock, signed: with req's
 * identities and req's header as its parent header (a reply, or a
 * stdin request: aak_reply), or, for iopub (aak_publish), with the topic
 * "kernel.SESSION.MSG_TYPE" and parent (NULL: {}) as its parent header.
 * metadata NULL is {} (taken as content).  Returns 0, or -1 with errno.
 * Not thread-safe on one socket (ZeroMQ's sockets are not): the caller
 * serializes sends on it.
 */
int aak_reply(const aak_wire *w, void *sock, const aak_msg *req,
              const char *msg_type, json_t *content, json_t *metadata);
int aak_publish(const aak_wire *w, void *sock, const json_t *parent,
                const char *msg_type, json_t *content);

/* The current time as ISO 8601 in UTC with microseconds and "Z"
 * (buf >= 32), for header.date. */
void aak_now(char buf[32]);

#endif /* AA_KERNEL_WIRE_H */
