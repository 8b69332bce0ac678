/*
 * shape.c -- what the last statement of a cell is, without parsing it.
 *
 * Compiling a cell straight from its source costs about half of going
 * through Python AST objects and back, and the AST is needed only to keep
 * the value of a last expression.  A single pass over the bytes tells
 * whether the last top-level statement is an expression statement (then
 * exec.c returns its value from the code itself), certainly something else
 * (an assignment, a def, a block, a trailing ';'), or a shape this scanner
 * will not vouch for (the AST path then decides).  It tracks strings,
 * comments, brackets and continuations; it never has to be right about
 * invalid code, which fails to compile either way.
 */
#include "internal.h"

#include <string.h>

typedef struct {
    const char *src;
    size_t len, i;
    int depth;     /* open brackets */
    size_t stmt;   /* start of the last top-level statement */
    int have_stmt; /* a statement has started */
    int indented;  /* its logical line starts past column 0 */
    int assigns;   /* it has a top-level '=' or augmented '=' */
    int colon;     /* it has a top-level ':' */
    int lambda;    /* it has the word lambda */
    int unsure;    /* something the scanner will not vouch for */
} scan;

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || (unsigned char)c >= 0x80;
}

/* Words that start a statement that is not an expression. */
static int statement_keyword(const char *w, size_t n)
{
    static const char *const kw[] = {
        "if",       "elif",   "else",    "for",      "while",  "with",
        "try",      "except", "finally", "def",      "class",  "async",
        "import",   "from",   "return",  "raise",    "pass",   "break",
        "continue", "del",    "global",  "nonlocal", "assert", NULL};
    size_t k;

    for (k = 0; kw[k] != NULL; k++)
        if (strlen(kw[k]) == n && memcmp(kw[k], w, n) == 0)
            return 1;
    return 0;
}

static void start_statement(scan *sc, size_t at, int indented)
{
    sc->stmt = at;
    sc->have_stmt = 1;
    sc->indented = indented;
    sc->assigns = sc->colon = sc->lambda = 0;
}

/* Skips a string starting at the quote at sc->i. */
static void skip_string(scan *sc)
{
    char q = sc->src[sc->i];
    int triple = sc->i + 2 < sc->len && sc->src[sc->i + 1] == q &&
                 sc->src[sc->i + 2] == q;

    sc->i += triple ? 3 : 1;
    while (sc->i < sc->len) {
        char c = sc->src[sc->i];
        if (c == '\\') {
            sc->i += 2;
            continue;
        }
        if (c == q &&
            (!triple || (sc->i + 2 < sc->len && sc->src[sc->i + 1] == q &&
                         sc->src[sc->i + 2] == q))) {
            sc->i += triple ? 3 : 1;
            return;
        }
        if (c == '\n' && !triple)
            break; /* unterminated: the compiler will say so */
        sc->i++;
    }
    sc->unsure = 1;
}

/* At a top-level '=': an assignment, or part of == != <= >= := ? */
static void equals(scan *sc)
{
    const char *s = sc->src;
    size_t i = sc->i;
    char prev = i > 0 ? s[i - 1] : ' ';

    if (i + 1 < sc->len && s[i + 1] == '=') {
        sc->i++; /* == */
        return;
    }
    if (prev == '=' || prev == '!' || prev == ':')
        return;
    if ((prev == '<' || prev == '>') && !(i > 1 && s[i - 2] == prev))
        return; /* <= >=, but <<= >>= assign */
    sc->assigns = 1;
}

/* Handles the start of a physical line at sc->i (not inside brackets, a
 * string or a continuation): a new logical line, unless blank. */
static void line_start(scan *sc)
{
    size_t at = sc->i;

    while (at < sc->len &&
           (sc->src[at] == ' ' || sc->src[at] == '\t' || sc->src[at] == '\f'))
        at++;
    if (at < sc->len && sc->src[at] != '#' && sc->src[at] != '\n' &&
        sc->src[at] != '\r')
        start_statement(sc, at, at != sc->i);
    sc->i = at;
}

static void step(scan *sc)
{
    const char *s = sc->src;
    char c = s[sc->i];

    /* After a top-level ';', the next token starts the next statement. */
    if (!sc->have_stmt && sc->depth == 0 && c != ' ' && c != '\t' &&
        c != '\r' && c != '\f' && c != ';' && c != '\n' && c != '#' &&
        c != '\\')
        start_statement(sc, sc->i, sc->indented);
    if (c == '\'' || c == '"') {
        skip_string(sc);
        return;
    }
    if (c == '#') {
        while (sc->i < sc->len && s[sc->i] != '\n')
            sc->i++;
        return;
    }
    if (c == '\\' && sc->i + 1 < sc->len &&
        (s[sc->i + 1] == '\n' || s[sc->i + 1] == '\r')) {
        sc->i +=
            s[sc->i + 1] == '\r' && sc->i + 2 < sc->len && s[sc->i + 2] == '\n'
                ? 3
                : 2;
        return; /* a continuation: the logical line goes on */
    }
    if (c == '\n') {
        sc->i++;
        if (sc->depth == 0)
            line_start(sc);
        return;
    }
    if (c == '(' || c == '[' || c == '{')
        sc->depth++;
    else if (c == ')' || c == ']' || c == '}')
        sc->depth = sc->depth > 0 ? sc->depth - 1 : 0;
    else if (sc->depth == 0 && c == ';')
        sc->have_stmt = 0; /* what follows starts the next statement */
    else if (sc->depth == 0 && c == '=')
        equals(sc);
    else if (sc->depth == 0 && c == ':' &&
             !(sc->i + 1 < sc->len && s[sc->i + 1] == '='))
        sc->colon = 1;
    else if (is_word(c)) {
        size_t w = sc->i;
        while (sc->i < sc->len && is_word(s[sc->i]))
            sc->i++;
        if (sc->i - w == 6 && memcmp(s + w, "lambda", 6) == 0)
            sc->lambda = 1;
        /* A string prefix (r, b, f, rb, ...) runs into its quote. */
        if (sc->i < sc->len && (s[sc->i] == '\'' || s[sc->i] == '"') &&
            sc->i - w <= 2)
            skip_string(sc);
        return;
    }
    sc->i++;
}

int aa__last_statement(const char *src, size_t len, size_t *start)
{
    scan sc;
    size_t w;

    memset(&sc, 0, sizeof sc);
    sc.src = src;
    sc.len = len;
    line_start(&sc);
    while (sc.i < sc.len)
        step(&sc);
    *start = sc.stmt;
    if (sc.unsure || sc.depth != 0)
        return AA__LAST_UNSURE;
    if (!sc.have_stmt || sc.indented || sc.assigns)
        return AA__LAST_OTHER;
    for (w = sc.stmt; w < len && is_word(src[w]); w++)
        ;
    if (src[sc.stmt] == '@' || statement_keyword(src + sc.stmt, w - sc.stmt))
        return AA__LAST_OTHER;
    if (sc.lambda)
        return AA__LAST_UNSURE; /* its ':' and '=' say nothing */
    return sc.colon ? AA__LAST_OTHER : AA__LAST_EXPR;
}
