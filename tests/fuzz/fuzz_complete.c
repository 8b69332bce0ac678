/*
 * fuzz_complete.c -- aa_is_complete and aa_complete on arbitrary text.
 *
 * The input, cut at its first NUL (both calls take C strings), is asked
 * whether it is a whole cell, with autoawait on and off, and completed at
 * every cursor position of its first FZ_CURSORS bytes and at its end.
 * Neither call may crash, and their answers must keep the header's
 * promises: a known state, an indent only when more lines are wanted, a
 * sorted list of completions that replace the bytes from a start no later
 * than the cursor.  Nothing runs cells here, so the namespace holds only
 * what the jail left.
 */
#include "fuzz_session.h"

#include <stdlib.h>
#include <string.h>

/* Each aa_complete runs the completer in Python: bound the calls. */
#define FZ_CURSORS 32

static aa_session *s;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s = fz_session();
    return 0;
}

static void check_completeness(const char *text, int autoawait)
{
    int indent = -1, rc, again;

    aa_session_set_autoawait(s, autoawait);
    rc = aa_is_complete(s, text, &indent);
    if (rc != AA_INPUT_COMPLETE && rc != AA_INPUT_INCOMPLETE &&
        rc != AA_INPUT_INVALID && rc != AA_EPYTHON)
        fz_fail("aa_is_complete answered %d", rc);
    if (indent < 0 || (rc != AA_INPUT_INCOMPLETE && indent != 0))
        fz_fail("aa_is_complete answered %d with indent %d", rc, indent);
    again = aa_is_complete(s, text, NULL);
    if (again != rc)
        fz_fail("aa_is_complete answered %d, then %d without indent", rc,
                again);
}

static void check_completions(const char *line, size_t cursor)
{
    aa_completions *c = (aa_completions *)&c; /* must be overwritten */
    size_t start, count, i;
    const char *item, *prev = NULL;
    int rc = aa_complete(s, line, cursor, &c);

    if (rc != AA_OK) {
        if (rc != AA_EPYTHON && rc != AA_ENOMEM)
            fz_fail("aa_complete at %zu answered %d (%s)", cursor, rc,
                    aa_strerror(rc));
        if (c != NULL)
            fz_fail("aa_complete failed at %zu but left *out set", cursor);
        return;
    }
    if (c == NULL)
        fz_fail("aa_complete at %zu: AA_OK without a list", cursor);
    start = aa_completions_start(c);
    count = aa_completions_count(c);
    if (start > cursor)
        fz_fail("aa_complete at %zu: the word starts at %zu, past the "
                "cursor",
                cursor, start);
    for (i = 0; i < count; i++) {
        item = aa_completions_item(c, i);
        if (item == NULL)
            fz_fail("aa_complete at %zu: item %zu of %zu is NULL", cursor, i,
                    count);
        if (!fz_utf8_valid(item, strlen(item)))
            fz_fail("aa_complete at %zu: item %zu is not UTF-8", cursor, i);
        if (strncmp(item, line + start, cursor - start) != 0)
            fz_fail("aa_complete at %zu: item '%s' does not complete "
                    "'%.*s'",
                    cursor, item, (int)(cursor - start), line + start);
        if (prev != NULL && strcmp(prev, item) >= 0)
            fz_fail("aa_complete at %zu: '%s' then '%s': not sorted, or "
                    "twice",
                    cursor, prev, item);
        prev = item;
    }
    if (aa_completions_item(c, count) != NULL)
        fz_fail("aa_complete at %zu: an item past the end", cursor);
    aa_completions_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    aa_completions *c = (aa_completions *)&c;
    size_t n, cursor;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    n = strlen(text);
    check_completeness(text, 1);
    check_completeness(text, 0);
    aa_session_set_autoawait(s, 1);
    for (cursor = 0; cursor <= n && cursor <= FZ_CURSORS; cursor++)
        check_completions(text, cursor);
    if (n > FZ_CURSORS)
        check_completions(text, n);
    if (aa_complete(s, text, n + 1, &c) != AA_EINVAL || c != NULL)
        fz_fail("aa_complete past the end of the line did not refuse");
    free(text);
    fz_settle(s);
    return 0;
}
