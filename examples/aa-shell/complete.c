/*
 * complete.c -- Tab completion: libedit asks, aa_complete answers.
 *
 * libedit finds the word before the cursor with its word-break characters
 * (set here so that a dotted name is one word) and hands it to
 * rl_attempted_completion_function; aa_complete, given the whole line,
 * says where its word starts and what may replace it.  The two starts are
 * reconciled so that libedit replaces the right bytes.  Tab after nothing
 * but spaces indents, as in IPython.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <editline/readline.h>

#include "shell.h"

/* Everything that cannot be part of a dotted Python name. */
static const char word_breaks[] = " \t\n\"\\'`@$><=;|&{}()[]+-*/%^~!,:#";

static struct shell *shell;
static char **candidates;
static size_t ncandidates, next_candidate;

static void drop_candidates(void)
{
    size_t i;

    for (i = 0; i < ncandidates; i++)
        free(candidates[i]);
    free(candidates);
    candidates = NULL;
    ncandidates = next_candidate = 0;
}

/* The generator rl_completion_matches calls; libedit frees what it gets. */
static char *next_match(const char *text, int state)
{
    (void)text;
    if (state == 0)
        next_candidate = 0;
    if (next_candidate < ncandidates)
        return xstrdup(candidates[next_candidate++]);
    return NULL;
}

/* The byte offset of character offset chars in the UTF-8 line. */
static size_t byte_offset(const char *line, int chars)
{
    mbstate_t st;
    size_t at = 0, len = strlen(line);

    memset(&st, 0, sizeof st);
    while (chars-- > 0 && at < len) {
        size_t n = mbrtowc(NULL, line + at, len - at, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            memset(&st, 0, sizeof st);
            n = 1;
        }
        at += n;
    }
    return at;
}

/*
 * libedit's word starts at byte `word`, aa_complete's at `start`; each
 * item becomes the text that replaces libedit's word.
 */
static void collect(const char *line, size_t word, const aa_completions *c)
{
    size_t i, n = aa_completions_count(c), start = aa_completions_start(c);

    candidates = calloc(n ? n : 1, sizeof *candidates);
    for (i = 0; candidates != NULL && i < n; i++) {
        const char *item = aa_completions_item(c, i);
        struct buf m = {NULL, 0, 0};

        if (start >= word) {
            buf_append(&m, line + word, start - word);
            buf_puts(&m, item);
        } else if (strncmp(item, line + start, word - start) == 0) {
            buf_puts(&m, item + (word - start));
        } else {
            continue;
        }
        if (m.data != NULL)
            candidates[ncandidates++] = m.data;
    }
}

/*
 * Inserts text at the cursor and shows it.  libedit would too, given one
 * match, but it rings the bell every time it completes a word.
 */
static void insert(const char *line, size_t cursor, const char *text)
{
    if (*text == '\0')
        return;
    rl_insert_text(text);
    console_redisplay(line, cursor);
}

static char **attempt(const char *text, int start, int end)
{
    const char *line = rl_line_buffer;
    size_t cursor = byte_offset(line, end), word, n = strlen(text);
    aa_completions *c = NULL;
    char **matches = NULL;
    char *copy = xstrdup(line);

    (void)start;
    rl_attempted_completion_over = 1; /* never file names */
    drop_candidates();
    word = n <= cursor ? cursor - n : 0;
    copy[cursor] = '\0';
    if (copy[strspn(copy, " \t")] == '\0') {
        /* Tab after only spaces indents to the next multiple of four. */
        static const char four[] = "    ";
        insert(copy, cursor, &four[text_columns(copy, cursor, 0) % 4]);
    } else if (aa_complete(shell->session, copy, cursor, &c) == AA_OK) {
        collect(copy, word, c);
        if (ncandidates == 1 && strncmp(candidates[0], text, n) == 0)
            insert(copy, cursor, candidates[0] + n);
        else if (ncandidates > 0)
            matches = rl_completion_matches(text, next_match);
    }
    aa_completions_free(c);
    drop_candidates();
    free(copy);
    return matches;
}

void completion_install(struct shell *sh)
{
    shell = sh;
    rl_attempted_completion_function = attempt;
    rl_basic_word_break_characters = word_breaks;
    rl_completion_append_character = '\0';
}
