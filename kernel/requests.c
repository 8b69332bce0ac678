/*
 * requests.c -- what a kernel answers: each request of the Jupyter
 * messaging protocol 5.3 it serves, turned into the session's calls
 * (aa_exec_start, aa_complete, aa_is_complete, aa_inspect, aa_interrupt).
 *
 * Every request is framed by status busy and idle on iopub, with the
 * request as their parent; an execute_request's idle comes when its cell
 * ends (aak_cell_done), after its result and its reply.  Cursor positions
 * on the wire count Unicode code points (protocol 5.2 and later); the
 * session's calls count bytes of UTF-8: the conversions are here.  Where
 * the messages go, and the sockets, are kernel.c's.
 */
#include "internal.h"

#include <Python.h> /* Py_GetVersion only: kernel_info names the CPython */
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static const char *string_of(const json_t *content, const char *key,
                             size_t *len)
{
    const json_t *v = json_object_get(content, key);

    if (!json_is_string(v))
        return NULL;
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
}

static int flag_of(const json_t *content, const char *key, int absent)
{
    const json_t *v = json_object_get(content, key);

    return json_is_boolean(v) ? json_is_true(v) : absent;
}

/* Byte offset of code point cp in text (len bytes); the end past it. */
static size_t byte_of(const char *text, size_t len, json_int_t cp)
{
    size_t i = 0;

    for (json_int_t n = 0; i < len && n < cp; n++)
        for (i++; i < len && ((unsigned char)text[i] & 0xC0) == 0x80; i++)
            ;
    return i;
}

/* Code points in the first bytes of text. */
static json_int_t points_of(const char *text, size_t bytes)
{
    json_int_t n = 0;

    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

/* The cursor of a request, in bytes; the end when absent or past it. */
static size_t cursor_of(const json_t *content, const char *code, size_t len)
{
    const json_t *v = json_object_get(content, "cursor_pos");

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return len;
    return byte_of(code, len, json_integer_value(v));
}

/* A traceback's text as the list of its lines. */
static json_t *lines_of(const char *text)
{
    json_t *list = json_array();

    while (list != NULL && text != NULL && *text != '\0') {
        const char *nl = strchr(text, '\n');
        size_t n = nl != NULL ? (size_t)(nl - text) : strlen(text);
        json_array_append_new(list, aak_text(text, n));
        text += n + (nl != NULL);
    }
    return list;
}

static void reply(struct aa_kernel *k, int channel, const aak_msg *req,
                  const char *msg_type, json_t *content)
{
    aak_send_reply(k, channel, req, msg_type, content);
}

/* ------------------------------------------------------------- requests */

static void kernel_info(struct aa_kernel *k, int channel, const aak_msg *req)
{
    char version[32], banner[512];
    const char *full = Py_GetVersion();
    size_t n = strcspn(full, " ");

    snprintf(version, sizeof version, "%.*s", (int)n, full);
    snprintf(banner, sizeof banner,
             "Python %s\nlibautoawait %s: top-level await in every cell "
             "(%%autoawait asyncio, trio or curio switches the runner)\n",
             full, aa_version());
    reply(k, channel, req, "kernel_info_reply",
          json_pack("{ss ss ss ss s{ss ss ss ss ss s{ss si} ss} ss s[] sb}",
                    "status", "ok", "protocol_version", "5.3", "implementation",
                    "autoawait", "implementation_version", aa_version(),
                    "language_info", "name", "python", "version", version,
                    "mimetype", "text/x-python", "file_extension", ".py",
                    "pygments_lexer", "ipython3", "codemirror_mode", "name",
                    "ipython", "version", 3, "nbconvert_exporter", "python",
                    "banner", banner, "help_links", "debugger", 0));
}

static void complete(struct aa_kernel *k, int channel, const aak_msg *req)
{
    size_t len = 0, at, start, end;
    const char *code = string_of(req->content, "code", &len);
    json_t *matches = json_array();
    aa_completions *c = NULL;
    json_int_t cursor_start, cursor_end;

    if (code == NULL)
        code = "";
    at = cursor_of(req->content, code, len);
    /* aa_complete reads the line the cursor is on. */
    for (start = at; start > 0 && code[start - 1] != '\n'; start--)
        ;
    for (end = at; end < len && code[end] != '\n'; end++)
        ;
    cursor_end = points_of(code, at);
    cursor_start = cursor_end;
    char *line = malloc(end - start + 1);
    if (line != NULL) {
        memcpy(line, code + start, end - start);
        line[end - start] = '\0';
        /* A NUL in the line ends it for aa_complete. */
        size_t col = at - start;
        if (col > strlen(line))
            col = strlen(line);
        if (aa_complete(k->s, line, col, &c) == AA_OK) {
            for (size_t i = 0; i < aa_completions_count(c); i++) {
                const char *item = aa_completions_item(c, i);
                json_array_append_new(matches, aak_text(item, strlen(item)));
            }
            cursor_start = points_of(code, start + aa_completions_start(c));
        }
        aa_completions_free(c);
        free(line);
    }
    reply(k, channel, req, "complete_reply",
          json_pack("{so sI sI s{} ss}", "matches", matches, "cursor_start",
                    cursor_start, "cursor_end", cursor_end, "metadata",
                    "status", "ok"));
}

static void is_complete(struct aa_kernel *k, int channel, const aak_msg *req)
{
    static const char *const states[] = {"complete", "incomplete", "invalid"};
    size_t len = 0;
    const char *code = string_of(req->content, "code", &len);
    int indent = 0, r = AA_EINVAL;
    char *src;

    if (code == NULL)
        code = "";
    /* aa_is_complete wants lines that end in "\n". */
    src = malloc(len + 2);
    if (src != NULL) {
        memcpy(src, code, len);
        src[len] = '\0';
        len = strlen(src);
        if (len > 0 && src[len - 1] != '\n')
            strcpy(src + len, "\n");
        r = aa_is_complete(k->s, src, &indent);
        free(src);
    }
    if (r < 0 || r > AA_INPUT_INVALID) {
        reply(k, channel, req, "is_complete_reply",
              json_pack("{ss}", "status", "unknown"));
        return;
    }
    json_t *content = json_pack("{ss}", "status", states[r]);
    if (r == AA_INPUT_INCOMPLETE) {
        char spaces[81];
        if (indent < 0 || indent > 80)
            indent = indent < 0 ? 0 : 80;
        memset(spaces, ' ', (size_t)indent);
        spaces[indent] = '\0';
        json_object_set_new(content, "indent", json_string(spaces));
    }
    reply(k, channel, req, "is_complete_reply", content);
}

static void inspect(struct aa_kernel *k, int channel, const aak_msg *req)
{
    size_t len = 0, at;
    const char *code = string_of(req->content, "code", &len);
    json_t *detail = json_object_get(req->content, "detail_level");
    char *text = NULL;
    int r;

    if (code == NULL)
        code = "";
    at = cursor_of(req->content, code, len);
    if (at > strlen(code))
        at = strlen(code); /* a NUL ends the code for aa_inspect */
    r = aa_inspect(k->s, code, at, json_integer_value(detail) > 0, &text);
    if (r == AA_OK && text != NULL)
        reply(k, channel, req, "inspect_reply",
              json_pack("{ss sb s{so} s{}}", "status", "ok", "found", 1, "data",
                        "text/plain", aak_text(text, strlen(text)),
                        "metadata"));
    else
        reply(k, channel, req, "inspect_reply",
              json_pack("{ss sb s{} s{}}", "status", "ok", "found", 0, "data",
                        "metadata"));
    aa_free(text);
}

/* Entries of the kernel's history: [session, line, input], session 0
 * being this one. */
static void history(struct aa_kernel *k, int channel, const aak_msg *req)
{
    const char *type = string_of(req->content, "hist_access_type", NULL);
    const char *pattern = string_of(req->content, "pattern", NULL);
    json_int_t n = json_integer_value(json_object_get(req->content, "n"));
    json_int_t from =
        json_integer_value(json_object_get(req->content, "start"));
    json_int_t to = json_integer_value(json_object_get(req->content, "stop"));
    json_t *out = json_array(), *entry;
    size_t total = json_array_size(k->history), i;

    if (type == NULL)
        type = "tail";
    pthread_mutex_lock(&k->iopub);
    json_array_foreach(k->history, i, entry)
    {
        json_int_t line = json_integer_value(json_array_get(entry, 1));
        const char *input = json_string_value(json_array_get(entry, 2));
        int keep;
        if (strcmp(type, "tail") == 0)
            keep = n <= 0 || (json_int_t)(total - i) <= n;
        else if (strcmp(type, "range") == 0)
            keep = line >= from && (to <= 0 || line < to);
        else if (strcmp(type, "search") == 0)
            keep = pattern != NULL && fnmatch(pattern, input, 0) == 0;
        else
            keep = 0;
        if (keep)
            json_array_append(out, entry);
    }
    pthread_mutex_unlock(&k->iopub);
    reply(k, channel, req, "history_reply",
          json_pack("{ss so}", "status", "ok", "history", out));
}

int aak_running(struct aa_kernel *k)
{
    int running;

    pthread_mutex_lock(&k->iopub);
    running = k->cell != NULL;
    pthread_mutex_unlock(&k->iopub);
    return running;
}

/* Ends a client's cell's wait: awaiting (its runner cancels it), busy
 * (KeyboardInterrupt at its next bytecode), or in input(). */
static void stop_cell(struct aa_kernel *k)
{
    uint64_t one = 1;

    if (!aak_running(k))
        return;
    aa_interrupt(k->s);
    if (write(k->interrupt, &one, sizeof one) < 0)
        aak_log(k, "cannot interrupt input(): %s", strerror(errno));
}

static void interrupt(struct aa_kernel *k, int channel, const aak_msg *req)
{
    stop_cell(k);
    reply(k, channel, req, "interrupt_reply",
          json_pack("{ss}", "status", "ok"));
}

static void shutdown_(struct aa_kernel *k, int channel, const aak_msg *req)
{
    int restart = flag_of(req->content, "restart", 0);

    reply(k, channel, req, "shutdown_reply",
          json_pack("{ss sb}", "status", "ok", "restart", restart));
    /* Protocol 5.4 clients look for it on iopub too. */
    aak_publish_locked(
        k, req->header, "shutdown_reply",
        json_pack("{ss sb}", "status", "ok", "restart", restart));
    int running = 0;
    k->restart = restart;
    if (atomic_compare_exchange_strong(&k->stopped, &running, 1)) {
        stop_cell(k);
        aak_wake(k); /* the host is told from its dispatch */
    }
}

/* ------------------------------------------------------------- execute */

static void execute_failed(struct aa_kernel *k, const char *ename,
                           const char *evalue)
{
    json_t *tb = json_pack("[s]", evalue);

    aak_publish_locked(k, k->request.header, "error",
                       json_pack("{ss ss sO}", "ename", ename, "evalue", evalue,
                                 "traceback", tb));
    reply(k, AAK_SHELL, &k->request, "execute_reply",
          json_pack("{ss sI ss ss so}", "status", "error", "execution_count",
                    (json_int_t)k->count, "ename", ename, "evalue", evalue,
                    "traceback", tb));
}

static void set_cell(struct aa_kernel *k, aak_cell *cell)
{
    pthread_mutex_lock(&k->iopub);
    k->cell = cell;
    pthread_mutex_unlock(&k->iopub);
}

/*
 * After a failed cell with stop_on_error (the default), the execute
 * requests already queued behind it are answered "aborted", as ipykernel
 * does, after the failed cell's reply; the other requests are served.
 * The queue is read to its end before the first "aborted" is sent, so
 * that nothing a client sends once it has seen one is caught.
 */
static void abort_queued(struct aa_kernel *k)
{
    aak_msg m = {0}, *held = NULL, *grown; /* aak_recv zeroes m first */
    size_t n = 0;

    k->aborting = 1;
    while (aak_shell_recv(k, &m)) {
        if (strcmp(m.msg_type, "execute_request") == 0 &&
            (grown = realloc(held, (n + 1) * sizeof *held)) != NULL) {
            held = grown;
            held[n++] = m;
            continue;
        }
        aak_handle(k, AAK_SHELL, &m); /* aborted at once without memory */
        aak_msg_clear(&m);
    }
    for (size_t i = 0; i < n; i++) {
        aak_handle(k, AAK_SHELL, &held[i]);
        aak_msg_clear(&held[i]);
    }
    free(held);
    k->aborting = 0;
}

void aak_cell_done(void *userdata, aa_session *s, int status, aa_result *r)
{
    aak_cell *cell = userdata;
    struct aa_kernel *k = cell->kernel;
    const char *repr = aa_result_repr(r);
    json_int_t count;

    (void)s;
    free(cell);
    if (k == NULL) { /* stopped meanwhile */
        aa_result_free(r);
        return;
    }
    aak_io_flush(k, 1);
    count = (json_int_t)k->count;
    if (status == AA_OK || status == AA_SYSTEM_EXIT) {
        if (repr != NULL && !k->silent)
            aak_publish_locked(k, k->request.header, "execute_result",
                               json_pack("{sI s{so} s{}}", "execution_count",
                                         count, "data", "text/plain",
                                         aak_text(repr, strlen(repr)),
                                         "metadata"));
        /* exit() in a cell: the client may close, as with IPython. */
        json_t *payload =
            status == AA_SYSTEM_EXIT
                ? json_pack("[{ss sb}]", "source", "ask_exit", "keepkernel", 0)
                : json_array();
        reply(k, AAK_SHELL, &k->request, "execute_reply",
              json_pack("{ss sI s{} so}", "status", "ok", "execution_count",
                        count, "user_expressions", "payload", payload));
    } else if (status == AA_EXCEPTION || status == AA_SYNTAX_ERROR) {
        const char *ename = aa_result_exception(r);
        const char *evalue = aa_result_message(r);
        json_t *tb = lines_of(aa_result_traceback(r));
        if (ename == NULL)
            ename = "Exception";
        if (evalue == NULL)
            evalue = "";
        json_t *e = aak_text(ename, strlen(ename));
        json_t *v = aak_text(evalue, strlen(evalue));
        aak_publish_locked(
            k, k->request.header, "error",
            json_pack("{sO sO sO}", "ename", e, "evalue", v, "traceback", tb));
        reply(k, AAK_SHELL, &k->request, "execute_reply",
              json_pack("{ss sI so so so}", "status", "error",
                        "execution_count", count, "ename", e, "evalue", v,
                        "traceback", tb));
        if (k->stop_on_error)
            abort_queued(k);
    } else {
        const char *why = aa_result_message(r);
        execute_failed(k, "RuntimeError",
                       why != NULL ? why : aa_strerror(status));
    }
    aak_status(k, k->request.header, "idle");
    aa_result_free(r);
    set_cell(k, NULL);
    aak_msg_clear(&k->request);
    aak_wake(k); /* the requests that waited for it */
}

void aak_start_cell(struct aa_kernel *k)
{
    size_t len = 0;
    const char *code = string_of(k->request.content, "code", &len);
    aak_cell *cell = malloc(sizeof *cell);
    aa_result *r = NULL;
    int status;

    k->deferred = 0;
    if (cell == NULL) {
        execute_failed(k, "MemoryError", "out of memory");
        goto done;
    }
    cell->kernel = k;
    set_cell(k, cell);
    status = aa_exec_start(k->s, code, len, aak_cell_done, cell);
    if (status == AA_ENOTSUP) {
        /* A runner that cannot start cells: the cell runs to its end. */
        status = aa_execn(k->s, code, len, &r);
        aak_cell_done(cell, k->s, status, r);
    } else if (status < 0) {
        set_cell(k, NULL);
        free(cell);
        if (status == AA_EBUSY) {
            /* The host's own cell runs: this one starts after it, as a
             * console's next cell would. */
            k->deferred = 1;
            aak_arm(k, 10);
            return;
        }
        execute_failed(k, "RuntimeError", aa_session_errmsg(k->s));
        goto done;
    }
    return; /* aak_cell_done ends it */
done:
    aak_status(k, k->request.header, "idle");
    aak_msg_clear(&k->request);
}

static void execute(struct aa_kernel *k, aak_msg *req)
{
    size_t len = 0;
    const char *code = string_of(req->content, "code", &len);

    if (k->aborting) {
        reply(k, AAK_SHELL, req, "execute_reply",
              json_pack("{ss sI}", "status", "aborted", "execution_count",
                        (json_int_t)k->count));
        aak_status(k, req->header, "idle");
        return;
    }
    k->request = *req; /* the message is the cell's now */
    memset(req, 0, sizeof *req);
    k->silent = flag_of(k->request.content, "silent", 0);
    k->store_history =
        !k->silent && flag_of(k->request.content, "store_history", 1);
    k->allow_stdin = flag_of(k->request.content, "allow_stdin", 1);
    k->stop_on_error = flag_of(k->request.content, "stop_on_error", 1);
    pthread_mutex_lock(&k->iopub);
    json_decref(k->parent);
    k->parent = json_incref(k->request.header);
    pthread_mutex_unlock(&k->iopub);
    if (k->store_history)
        k->count++;
    if (code == NULL) {
        execute_failed(k, "ValueError", "execute_request without code");
        goto done;
    }
    if (!k->silent)
        aak_publish_locked(
            k, k->request.header, "execute_input",
            json_pack("{sO sI}", "code",
                      json_object_get(k->request.content, "code"),
                      "execution_count", (json_int_t)k->count));
    if (k->store_history) {
        json_t *entry = json_pack("[i I O]", 0, (json_int_t)k->count,
                                  json_object_get(k->request.content, "code"));
        pthread_mutex_lock(&k->iopub);
        json_array_append_new(k->history, entry);
        pthread_mutex_unlock(&k->iopub);
    }
    aak_start_cell(k);
    return;
done:
    aak_status(k, k->request.header, "idle");
    aak_msg_clear(&k->request);
}

/* --------------------------------------------------------------- table */

static void comm_open(struct aa_kernel *k, int channel, const aak_msg *req)
{
    /* No comm targets: the client is told it is closed at once. */
    (void)channel;
    aak_publish_locked(k, req->header, "comm_close",
                       json_pack("{sO s{}}", "comm_id",
                                 json_object_get(req->content, "comm_id"),
                                 "data"));
}

static void comm_info(struct aa_kernel *k, int channel, const aak_msg *req)
{
    reply(k, channel, req, "comm_info_reply",
          json_pack("{ss s{}}", "status", "ok", "comms"));
}

static void ignore(struct aa_kernel *k, int channel, const aak_msg *req)
{
    (void)k, (void)channel, (void)req;
}

static const struct {
    const char *type;
    void (*fn)(struct aa_kernel *, int, const aak_msg *);
} handlers[] = {
    {"kernel_info_request", kernel_info},
    {"complete_request", complete},
    {"is_complete_request", is_complete},
    {"inspect_request", inspect},
    {"history_request", history},
    {"comm_info_request", comm_info},
    {"interrupt_request", interrupt},
    {"shutdown_request", shutdown_},
    {"comm_open", comm_open},
    {"comm_msg", ignore},
    {"comm_close", ignore},
};

void aak_handle(struct aa_kernel *k, int channel, aak_msg *req)
{
    const char *type = req->msg_type;

    if (strcmp(type, "execute_request") == 0) {
        if (channel != AAK_SHELL) {
            aak_log(k, "execute_request on control: ignored");
            return;
        }
        aak_status(k, req->header, "busy");
        execute(k, req);
        return;
    }
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(type, handlers[i].type) == 0) {
            aak_status(k, req->header, "busy");
            handlers[i].fn(k, channel, req);
            aak_status(k, req->header, "idle");
            return;
        }
    aak_log(k, "unknown message type '%s': ignored", type);
}
