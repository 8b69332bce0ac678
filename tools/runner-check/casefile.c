/*
 * casefile.c -- reads the conformance case files and the PENDING list.
 *
 * Owns the format: "=== title", the header lines (runner:, autoawait:,
 * requires:), "--- cell" and "--- cell !" blocks taken verbatim up to the
 * next line starting with "--- ", and "--- expect" with its keys.  It is
 * strict on purpose: anything it does not understand is an error naming
 * file:line, so a case file cannot quietly test less than it says.  Running
 * the cases is caserun.c's.
 *
 * A cell's source is its lines, each ending with "\n", exactly as in the
 * file: the newline of the last line before the "--- " line is kept (as a
 * host that reads a script or a console line passes it), and so are blank
 * lines, leading or trailing.  A line starting with "===" inside a cell is
 * an error rather than Python: it means the case above lacks its expect.
 */
#include "casefile.h"

#include <autoawait/autoawait.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ utilities */

static void oom(void)
{
    fputs("out of memory\n", stderr);
    exit(2);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom();
    return q;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xrealloc(NULL, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Makes room in an array of elem-sized items for item number n. */
void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;

    if (n < *cap)
        return arr;
    ncap = *cap ? *cap : 4;
    while (ncap <= n) {
        if (ncap > SIZE_MAX / 2 / elem)
            oom();
        ncap *= 2;
    }
    *cap = ncap;
    return xrealloc(arr, ncap * elem);
}

void sb_add(sbuf *b, const char *s, size_t n)
{
    if (n >= SIZE_MAX - b->len - 1)
        oom();
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1)
            ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        b->p = xrealloc(b->p, ncap);
        b->cap = ncap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *tmp;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    tmp = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, tmp, (size_t)n);
    free(tmp);
}

/* Appends s as a C string literal, so every byte of it can be seen. */
void sb_quoted(sbuf *b, const char *s, size_t n)
{
    size_t i;

    sb_add(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            sb_puts(b, "\\n");
        else if (c == '\t')
            sb_puts(b, "\\t");
        else if (c == '\\' || c == '"')
            sb_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            sb_printf(b, "\\x%02x", c);
        else
            sb_add(b, s + i, 1);
    }
    sb_add(b, "\"", 1);
}

/* Appends a C string or NULL, quoted. */
void sb_value(sbuf *b, const char *s)
{
    if (s == NULL)
        sb_puts(b, "NULL");
    else
        sb_quoted(b, s, strlen(s));
}

/* Appends text as an indented block, one "| " line per line of it. */
void sb_block(sbuf *b, const char *label, const char *s, size_t n)
{
    size_t i, start = 0;

    sb_printf(b, "    %s:\n", label);
    for (i = 0; i <= n; i++) {
        if (i == n && start == n)
            break;
        if (i == n || s[i] == '\n') {
            sb_puts(b, "      | ");
            sb_add(b, s + start, i - start);
            sb_add(b, "\n", 1);
            start = i + 1;
        }
    }
}

void sb_free(sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
    size_t i;

    if (nn == 0)
        return 1;
    for (i = 0; i + nn <= hn; i++)
        if (memcmp(hay + i, needle, nn) == 0)
            return 1;
    return 0;
}

static int starts_with(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks on both sides of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_space(s[0])) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

static int same(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Appends the name of a status, e.g. "AA_EXCEPTION (1)". */
void sb_status(sbuf *b, int st)
{
    const char *name = "unknown status";

#define AA_NAME_CASE(n, v, t)                                                  \
    if (st == (v))                                                             \
        name = #n;
    AA_STATUS_MAP(AA_NAME_CASE)
#undef AA_NAME_CASE
    sb_printf(b, "%s (%d)", name, st);
}

/* Reads a whole file; returns 0, or -1 with errno set. */
static int read_file(const char *path, sbuf *out)
{
    char chunk[8192];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return -1;
    sb_add(out, "", 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sb_add(out, chunk, n);
    if (ferror(f)) {
        fclose(f);
        errno = EIO;
        return -1;
    }
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------- case model */

const char *const key_names[K_COUNT] = {
    "status",    "async",         "repr",   "exception",    "message",
    "traceback", "traceback_not", "stdout", "stdout_exact", "exit_code"};

static const struct {
    const char *word;
    int status;
} status_words[] = {{"ok", AA_OK},
                    {"exception", AA_EXCEPTION},
                    {"syntax", AA_SYNTAX_ERROR},
                    {"exit", AA_SYSTEM_EXIT}};

static void kase_free(struct kase *c)
{
    size_t i;

    free(c->title);
    free(c->runner);
    for (i = 0; i < c->nmodules; i++)
        free(c->modules[i]);
    free(c->modules);
    for (i = 0; i < c->ncells; i++)
        sb_free(&c->cells[i].src);
    free(c->cells);
    for (i = 0; i < c->nexpects; i++)
        free(c->expects[i].value);
    free(c->expects);
}

void suite_free(struct suite *su)
{
    size_t i;

    for (i = 0; i < su->ncases; i++)
        kase_free(&su->cases[i]);
    free(su->cases);
    for (i = 0; i < su->nfiles; i++)
        free(su->files[i]);
    free(su->files);
}

/* -------------------------------------------------------------- parser */

enum pstate { P_OUTSIDE, P_HEADER, P_CELL, P_EXPECT };

struct parser {
    const char *path; /* for messages */
    const char *name; /* display name */
    int line;
    enum pstate state;
    struct suite *su;
};

static int perr_at(const struct parser *ps, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: error: ", ps->path, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

#define perr(ps, ...) perr_at((ps), (ps)->line, __VA_ARGS__)

static struct kase *current(const struct parser *ps)
{
    return &ps->su->cases[ps->su->ncases - 1];
}

/* Checks that the case being read is complete. */
static int finish_case(struct parser *ps)
{
    struct kase *c;

    if (ps->state == P_OUTSIDE)
        return 0;
    c = current(ps);
    if (ps->state == P_HEADER)
        return perr_at(ps, c->line, "case '%s' has no '--- cell'", c->title);
    if (ps->state == P_CELL)
        return perr_at(ps, c->line,
                       "case '%s' has no '--- expect' (a cell runs up to "
                       "the next line starting with '--- ')",
                       c->title);
    if (c->nexpects == 0)
        return perr_at(ps, c->line, "case '%s' expects nothing", c->title);
    return 0;
}

static int start_case(struct parser *ps, const char *l, size_t n)
{
    struct suite *su = ps->su;
    struct kase *c;
    size_t i;

    if (ps->state == P_CELL)
        return perr(ps, "a line starting with '===' inside a cell: the "
                        "case above has no '--- expect'");
    if (finish_case(ps) < 0)
        return -1;
    if (!starts_with(l, n, "=== "))
        return perr(ps, "'===' must be followed by a space and the title");
    l += 4;
    n -= 4;
    l = trim(l, &n);
    if (n == 0)
        return perr(ps, "a case needs a title after '=== '");
    for (i = 0; i < su->ncases; i++)
        if (same(l, n, su->cases[i].title))
            return perr(ps, "the title '%s' is already used at %s:%d",
                        su->cases[i].title, su->cases[i].file,
                        su->cases[i].line);
    su->cases = grow(su->cases, &su->capcases, su->ncases, sizeof *c);
    c = &su->cases[su->ncases++];
    memset(c, 0, sizeof *c);
    c->title = xstrndup(l, n);
    c->file = ps->name;
    c->line = ps->line;
    c->autoawait = 1;
    ps->state = P_HEADER;
    return 0;
}

/* A Python module name: what may follow "import " in a requires line. */
static int is_module_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (!(ch == '_' || ch == '.' || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            return 0;
    }
    return 1;
}

static int header_line(struct parser *ps, const char *l, size_t n)
{
    struct kase *c = current(ps);
    const char *colon = memchr(l, ':', n);
    size_t kn, vn;
    const char *v;

    if (colon == NULL)
        return perr(ps, "expected 'runner:', 'autoawait:', 'requires:' or "
                        "'--- cell' after the title");
    kn = (size_t)(colon - l);
    vn = n - kn - 1;
    v = trim(colon + 1, &vn);
    if (same(l, kn, "runner")) {
        if (c->runner != NULL)
            return perr(ps, "a second 'runner:' line");
        if (vn == 0)
            return perr(ps, "'runner:' needs a name");
        c->runner = xstrndup(v, vn);
    } else if (same(l, kn, "autoawait")) {
        if (c->has_autoawait)
            return perr(ps, "a second 'autoawait:' line");
        if (!same(v, vn, "on") && !same(v, vn, "off"))
            return perr(ps, "'autoawait:' is 'on' or 'off'");
        c->autoawait = same(v, vn, "on");
        c->has_autoawait = 1;
    } else if (same(l, kn, "requires")) {
        if (!is_module_name(v, vn))
            return perr(ps, "'requires:' needs a module name");
        c->modules =
            grow(c->modules, &c->capmodules, c->nmodules, sizeof *c->modules);
        c->modules[c->nmodules++] = xstrndup(v, vn);
    } else {
        return perr(ps, "unknown header '%.*s' (runner, autoawait, requires)",
                    (int)kn, l);
    }
    return 0;
}

/* Handles a line "--- WHAT"; rest is what follows "--- ". */
static int directive(struct parser *ps, const char *rest, size_t n)
{
    struct kase *c;
    struct cell *cell;
    int may_fail = 0;

    if (ps->state == P_OUTSIDE)
        return perr(ps, "'--- ' line before any '=== title'");
    c = current(ps);
    rest = trim(rest, &n);
    if (same(rest, n, "expect")) {
        if (ps->state == P_EXPECT)
            return perr(ps, "a second '--- expect'");
        if (c->ncells == 0)
            return perr(ps, "'--- expect' before any '--- cell'");
        ps->state = P_EXPECT;
        return 0;
    }
    if (!starts_with(rest, n, "cell"))
        return perr(ps, "unknown line '--- %.*s' (cell, cell !, expect)",
                    (int)n, rest);
    if (n > 4) {
        size_t fn = n - 4;
        const char *flag = trim(rest + 4, &fn);
        if (!is_space(rest[4]) || !same(flag, fn, "!"))
            return perr(ps, "unknown line '--- %.*s' (cell, cell !, expect)",
                        (int)n, rest);
        may_fail = 1;
    }
    if (ps->state == P_EXPECT)
        return perr(ps, "'--- cell' after '--- expect'");
    c->cells = grow(c->cells, &c->capcells, c->ncells, sizeof *c->cells);
    cell = &c->cells[c->ncells++];
    memset(cell, 0, sizeof *cell);
    sb_add(&cell->src, "", 0);
    cell->may_fail = may_fail;
    cell->line = ps->line + 1;
    ps->state = P_CELL;
    return 0;
}

/* Decodes \n, \t and \\ of an expect value into a fresh string. */
static int unescape(struct parser *ps, const char *v, size_t n, sbuf *out)
{
    size_t i;

    sb_add(out, "", 0);
    for (i = 0; i < n; i++) {
        if (v[i] != '\\') {
            sb_add(out, v + i, 1);
            continue;
        }
        if (++i == n)
            return perr(ps, "a value ends with a lone backslash");
        if (v[i] == 'n')
            sb_add(out, "\n", 1);
        else if (v[i] == 't')
            sb_add(out, "\t", 1);
        else if (v[i] == '\\')
            sb_add(out, "\\", 1);
        else
            return perr(ps, "unknown escape '\\%c' (\\n, \\t, \\\\)", v[i]);
    }
    return 0;
}

/* Turns the value of e into a number where its key wants one. */
static int expect_number(struct parser *ps, struct expect *e)
{
    size_t i;
    char *end;
    long v;

    if (e->key == K_STATUS) {
        for (i = 0; i < sizeof status_words / sizeof *status_words; i++)
            if (strcmp(e->value, status_words[i].word) == 0) {
                e->num = status_words[i].status;
                return 0;
            }
        return perr(ps, "status is ok, exception, syntax or exit, not '%s'",
                    e->value);
    }
    if (e->key == K_ASYNC) {
        if (strcmp(e->value, "yes") != 0 && strcmp(e->value, "no") != 0)
            return perr(ps, "async is yes or no, not '%s'", e->value);
        e->num = strcmp(e->value, "yes") == 0;
        return 0;
    }
    errno = 0;
    v = strtol(e->value, &end, 10);
    if (e->value[0] == '\0' || *end != '\0' || errno != 0 || v < INT_MIN ||
        v > INT_MAX)
        return perr(ps, "exit_code is an integer, not '%s'", e->value);
    e->num = (int)v;
    return 0;
}

static int expect_line(struct parser *ps, const char *l, size_t n)
{
    struct kase *c = current(ps);
    const char *colon = memchr(l, ':', n);
    struct expect e;
    sbuf val = {0};
    size_t kn, vn;
    const char *v;
    int k;

    if (l[0] == '#')
        return 0;
    if (colon == NULL)
        return perr(ps, "expected 'key: value' in '--- expect'");
    kn = (size_t)(colon - l);
    for (k = 0; k < K_COUNT; k++)
        if (same(l, kn, key_names[k]))
            break;
    if (k == K_COUNT)
        return perr(ps, "unknown expect key '%.*s'", (int)kn, l);
    /* One space separates key and value; the rest is the value, verbatim. */
    v = colon + 1;
    vn = n - kn - 1;
    if (vn > 0 && v[0] == ' ') {
        v++;
        vn--;
    }
    memset(&e, 0, sizeof e);
    e.key = (enum key)k;
    e.line = ps->line;
    if (!(k == K_REPR && same(v, vn, "<none>"))) {
        if (unescape(ps, v, vn, &val) < 0) {
            sb_free(&val);
            return -1;
        }
        e.value = val.p;
        e.len = val.len;
    }
    if (e.value != NULL && e.len == 0 && k != K_STDOUT_EXACT && k != K_REPR) {
        free(e.value);
        return perr(ps, "'%s:' needs a value", key_names[k]);
    }
    if ((k == K_STATUS || k == K_ASYNC || k == K_EXIT_CODE) &&
        expect_number(ps, &e) < 0) {
        free(e.value);
        return -1;
    }
    c->expects =
        grow(c->expects, &c->capexpects, c->nexpects, sizeof *c->expects);
    c->expects[c->nexpects++] = e;
    return 0;
}

static int parse_line(struct parser *ps, const char *l, size_t n)
{
    size_t bn = n;

    if (memchr(l, '\0', n) != NULL)
        return perr(ps, "a NUL byte");
    if (starts_with(l, n, "==="))
        return start_case(ps, l, n);
    if (starts_with(l, n, "--- "))
        return directive(ps, l + 4, n - 4);
    if (ps->state == P_CELL) {
        struct cell *cell = &current(ps)->cells[current(ps)->ncells - 1];
        sb_add(&cell->src, l, n);
        sb_add(&cell->src, "\n", 1);
        return 0;
    }
    trim(l, &bn);
    if (bn == 0)
        return 0;
    switch (ps->state) {
    case P_HEADER:
        return header_line(ps, l, n);
    case P_EXPECT:
        return expect_line(ps, l, n);
    default:
        return perr(ps, "expected a line '=== title'");
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int parse_text(struct suite *su, const char *name, const char *text, size_t len)
{
    struct parser ps;
    const char *p = text, *end = text + len;
    int rc = 0;

    su->files = grow(su->files, &su->capfiles, su->nfiles, sizeof *su->files);
    su->files[su->nfiles] = xstrndup(base_name(name), strlen(base_name(name)));
    memset(&ps, 0, sizeof ps);
    ps.path = name;
    ps.name = su->files[su->nfiles++];
    ps.su = su;
    ps.state = P_OUTSIDE;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        ps.line++;
        rc = parse_line(&ps, p, (size_t)(le - p));
        p = nl ? nl + 1 : end;
    }
    if (rc == 0)
        rc = finish_case(&ps);
    if (rc == 0 && ps.state == P_OUTSIDE)
        rc = perr_at(&ps, 1, "no case in this file");
    return rc;
}

int parse_file(struct suite *su, const char *path)
{
    sbuf text = {0};
    int rc;

    if (read_file(path, &text) < 0) {
        fprintf(stderr, "%s: error: %s\n", path, strerror(errno));
        sb_free(&text);
        return -1;
    }
    rc = parse_text(su, path, text.p, text.len);
    sb_free(&text);
    return rc;
}

/* ------------------------------------------------------------- PENDING */

static struct kase *find_case(struct suite *su, const char *t, size_t n)
{
    size_t i;

    for (i = 0; i < su->ncases; i++)
        if (same(t, n, su->cases[i].title))
            return &su->cases[i];
    return NULL;
}

/* Marks the cases listed in path; missing_ok for the default file. */
int load_pending(struct suite *su, const char *path, int missing_ok)
{
    sbuf text = {0};
    const char *p, *end;
    int line = 0, rc = 0;

    if (read_file(path, &text) < 0) {
        int e = errno;
        sb_free(&text);
        if (missing_ok && e == ENOENT)
            return 0;
        fprintf(stderr, "%s: error: %s\n", path, strerror(e));
        return -1;
    }
    p = text.p;
    end = text.p + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        const char *t = trim(p, &n);
        struct kase *c;
        line++;
        p = nl ? nl + 1 : end;
        if (n == 0 || t[0] == '#')
            continue;
        c = find_case(su, t, n);
        if (c == NULL) {
            fprintf(stderr,
                    "%s:%d: error: no case file given has a case "
                    "titled '%.*s'\n",
                    path, line, (int)n, t);
            rc = -1;
        } else if (c->pending) {
            fprintf(stderr, "%s:%d: error: '%s' is listed twice\n", path, line,
                    c->title);
            rc = -1;
        } else {
            c->pending = 1;
        }
    }
    sb_free(&text);
    return rc;
}

/* ---------------------------------------------------------------- dump */

void dump_case(const struct kase *c)
{
    static const char *const kinds[] = {
        "int",      "bool",         "exact",    "exact", "contains",
        "contains", "not-contains", "contains", "exact", "int"};
    sbuf b = {0};
    size_t i;

    sb_printf(&b, "=== %s  [%s:%d]%s\n", c->title, c->file, c->line,
              c->pending ? "  (PENDING)" : "");
    sb_printf(&b, "  runner: %s\n  autoawait: %s\n",
              c->runner ? c->runner : "(default)", c->autoawait ? "on" : "off");
    for (i = 0; i < c->nmodules; i++)
        sb_printf(&b, "  requires: %s\n", c->modules[i]);
    for (i = 0; i < c->ncells; i++) {
        sb_printf(&b, "  cell %zu%s [line %d, %zu bytes]: ", i + 1,
                  c->cells[i].may_fail ? " !" : "", c->cells[i].line,
                  c->cells[i].src.len);
        sb_quoted(&b, c->cells[i].src.p, c->cells[i].src.len);
        sb_add(&b, "\n", 1);
    }
    for (i = 0; i < c->nexpects; i++) {
        const struct expect *e = &c->expects[i];
        sb_printf(&b, "  expect %s (%s) [line %d]: ", key_names[e->key],
                  kinds[e->key], e->line);
        if (e->value == NULL)
            sb_puts(&b, "NULL");
        else
            sb_quoted(&b, e->value, e->len);
        if (e->key == K_STATUS) {
            sb_puts(&b, " = ");
            sb_status(&b, e->num);
        } else if (e->key == K_ASYNC || e->key == K_EXIT_CODE)
            sb_printf(&b, " = %d", e->num);
        sb_add(&b, "\n", 1);
    }
    fputs(b.p, stdout);
    sb_free(&b);
}
