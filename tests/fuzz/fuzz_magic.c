/*
 * fuzz_magic.c -- the %autoawait magic with arbitrary arguments.
 *
 * The input is the argument of a `%autoawait` line, run through aa_execn
 * in four shapes: as it comes (its later lines, if any, are the cell's
 * code), its first line after leading whitespace and before "\r\n", its
 * first line followed by more lines of code, and glued to the word
 * ("%autoawaitX", which is no magic).  After each the session must have a
 * runner it can leave for asyncio again (fz_settle), and the results must
 * agree with what the magic promises: on/off/true/false in any case set
 * autoawait, and a word glued to %autoawait is a SyntaxError that changes
 * nothing.
 */
#include "fuzz_session.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "%autoawait"

static aa_session *s;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s = fz_session();
    return 0;
}

static size_t first_line(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n);
    return nl != NULL ? (size_t)(nl - p) : n;
}

/* Is the argument, stripped of white space, word in any case? */
static int arg_is(const uint8_t *p, size_t n, const char *word)
{
    size_t i;

    while (n > 0 && isspace(*p))
        p++, n--;
    while (n > 0 && isspace(p[n - 1]))
        n--;
    if (n != strlen(word))
        return 0;
    for (i = 0; i < n; i++)
        if (tolower(p[i]) != word[i])
            return 0;
    return 1;
}

/* The autoawait state the magic line must leave, or -1 for no promise. */
static int expected_state(const char *cell, size_t len, const uint8_t *arg,
                          size_t n)
{
    if (memchr(cell, '\0', len) != NULL || !fz_utf8_valid(cell, len))
        return -1; /* such a cell runs nothing, the magic included */
    n = first_line(arg, n);
    if (arg_is(arg, n, "on") || arg_is(arg, n, "true"))
        return 1;
    if (arg_is(arg, n, "off") || arg_is(arg, n, "false"))
        return 0;
    return -1;
}

/* Runs head + arg[0..n) + tail as a cell. */
static void run_shape(const char *head, const uint8_t *arg, size_t n,
                      const char *tail)
{
    size_t hn = strlen(head), tn = strlen(tail), len = hn + n + tn;
    char *cell = malloc(len > 0 ? len : 1);
    int want;

    if (cell == NULL)
        return;
    memcpy(cell, head, hn);
    if (n > 0)
        memcpy(cell + hn, arg, n);
    memcpy(cell + hn + n, tail, tn);
    want = expected_state(cell, len, arg, n);
    if (want >= 0)
        aa_session_set_autoawait(s, !want);
    fz_exec(s, cell, len, NULL);
    if (want >= 0 && aa_session_autoawait(s) != want)
        fz_fail("'%.*s': autoawait is %d, want %d",
                (int)(len < 300 ? len : 300), cell, aa_session_autoawait(s),
                want);
    free(cell);
    fz_settle(s);
}

/* "%autoawait" + arg: unless arg starts with white space (or is empty),
 * the first word is not the magic, and Python cannot compile it. */
static void run_glued(const uint8_t *arg, size_t n)
{
    char *cell = malloc(sizeof MAGIC - 1 + n);
    size_t len = sizeof MAGIC - 1 + n;
    int rc;

    if (cell == NULL)
        return;
    memcpy(cell, MAGIC, sizeof MAGIC - 1);
    if (n > 0)
        memcpy(cell + sizeof MAGIC - 1, arg, n);
    rc = fz_exec(s, cell, len, NULL);
    if (n > 0 && !isspace(arg[0])) {
        if (rc != AA_SYNTAX_ERROR)
            fz_fail("'%.*s' answered %s, not a SyntaxError",
                    (int)(len < 300 ? len : 300), cell, aa_strerror(rc));
        if (aa_session_autoawait(s) != 1 || aa_session_runner(s) == NULL ||
            strcmp(aa_session_runner(s), "asyncio") != 0)
            fz_fail("'%.*s', no magic, changed the session",
                    (int)(len < 300 ? len : 300), cell);
    } else if (n == 0 && rc != AA_OK) {
        fz_fail("'%%autoawait' alone answered %s", aa_strerror(rc));
    }
    free(cell);
    fz_settle(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t line = first_line(data, size);

    run_shape(MAGIC " ", data, size, "");
    run_shape(" \t" MAGIC "\t", data, line, "\r\n");
    run_shape(MAGIC " ", data, line, "\n# after the magic\n_ = 1\n");
    run_glued(data, size);
    return 0;
}
