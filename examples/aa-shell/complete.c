/*
 * complete.c -- Tab completion: libedit calls, aa_complete answers.
 *
 * Tab is bound (editor.c) to complete_key, which hands aa_complete the
 * line up to the cursor.  What all the candidates share is inserted; a
 * sure completion is inserted whole.  A second Tab, with the line as the
 * first left it, lists the candidates that remain above the line, as
 * background output is shown (console.c).  Tab after nothing but spaces
 * indents, as in IPython.
 */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <histedit.h>

#include "shell.h"

static struct shell *shell;
/* The line and cursor as the last Tab left them. */
static struct buf last_line;
static size_t last_point = (size_t)-1;

/* The length of what a and b start with, cut back to a whole character. */
static size_t common_prefix(const char *a, const char *b, size_t n)
{
    size_t i = 0;

    while (i < n && a[i] == b[i] && a[i] != '\0')
        i++;
    while (i > 0 && i < n && ((unsigned char)a[i] & 0xc0) == 0x80)
        i--;
    return i;
}

/* The number of characters of the UTF-8 text s[0..n). */
static size_t chars_in(const char *s, size_t n)
{
    size_t count = 0, i;

    for (i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xc0) != 0x80;
    return count;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The candidates in columns, sorted down the columns, as readline does. */
static void list(const aa_completions *c)
{
    size_t n = aa_completions_count(c), i, row, rows, cols, width = 0;
    const char **items = calloc(n, sizeof *items);
    struct buf text = {NULL, 0, 0};
    int screen = terminal_columns(STDOUT_FILENO);

    if (items == NULL)
        return;
    for (i = 0; i < n; i++) {
        size_t w;
        items[i] = aa_completions_item(c, i);
        w = (size_t)text_columns(items[i], strlen(items[i]), 0);
        width = w > width ? w : width;
    }
    qsort(items, n, sizeof *items, by_name);
    width += 2;
    cols = (size_t)screen > width ? (size_t)screen / width : 1;
    rows = (n + cols - 1) / cols;
    for (row = 0; row < rows; row++) {
        for (i = row; i < n; i += rows) {
            int pad = (int)width - text_columns(items[i], strlen(items[i]), 0);
            buf_puts(&text, items[i]);
            if (i + rows < n)
                buf_printf(&text, "%*s", pad, "");
        }
        buf_puts(&text, "\n");
    }
    if (text.data != NULL)
        console_print_above(text.data, text.len);
    buf_free(&text);
    free(items);
}

/* Puts text where the word [start, point) of line is: only what it adds
 * when it starts with the word.  Whether anything changed. */
static int replace_word(const char *line, size_t start, size_t point,
                        const char *text, size_t len)
{
    size_t word = point - start;
    struct buf add = {NULL, 0, 0};

    if (len >= word && strncmp(text, line + start, word) == 0) {
        if (len == word)
            return 0;
        buf_append(&add, text + word, len - word);
    } else {
        editor_delete(chars_in(line + start, word));
        buf_append(&add, text, len);
    }
    if (add.data != NULL)
        editor_insert(add.data);
    buf_free(&add);
    return 1;
}

static unsigned char complete_key(struct editline *e, int ch)
{
    size_t point, start, n, len, i;
    const char *line = editor_line(&point);
    struct buf upto = {NULL, 0, 0};
    aa_completions *c = NULL;
    unsigned char rc = CC_REFRESH_BEEP;

    (void)e;
    (void)ch;
    buf_append(&upto, line, point);
    if (upto.data == NULL)
        return CC_ERROR;
    if (upto.data[strspn(upto.data, " \t")] == '\0') {
        /* Tab after only spaces indents to the next multiple of four. */
        static const char four[] = "    ";
        editor_insert(&four[text_columns(upto.data, point, 0) % 4]);
        buf_free(&upto);
        return CC_REFRESH;
    }
    if (aa_complete(shell->session, upto.data, point, &c) == AA_OK &&
        (n = aa_completions_count(c)) > 0) {
        const char *first = aa_completions_item(c, 0);
        start = aa_completions_start(c);
        len = strlen(first);
        for (i = 1; i < n; i++)
            len = common_prefix(first, aa_completions_item(c, i), len);
        /* Drawn whole again, as libedit's readline emulation did. */
        if (start <= point && replace_word(upto.data, start, point, first, len))
            rc = CC_REDISPLAY;
        else if (n == 1)
            rc = CC_REFRESH;
        else if (last_point == point && last_line.data != NULL &&
                 strcmp(last_line.data, line) == 0) {
            list(c);
            rc = CC_NORM;
        }
    }
    /* What the next Tab compares with: the line as this one left it. */
    buf_reset(&last_line);
    last_point = (size_t)-1;
    line = editor_line(&point);
    if (rc != CC_NORM && buf_puts(&last_line, line) == 0)
        last_point = point;
    aa_completions_free(c);
    buf_free(&upto);
    return rc;
}

void completion_install(struct shell *sh)
{
    shell = sh;
    editor_add_key("^I", L"aa-complete", L"Complete the name before the cursor",
                   complete_key);
}
