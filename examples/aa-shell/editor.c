/*
 * editor.c -- the line editor: libedit's own interface, one key at a time.
 *
 * The console (console.c) waits for keys itself, in aa_session_poll, so
 * that background tasks run; it hands each key to libedit here, which in
 * EL_UNBUFFERED mode edits the line by one command and returns.  This
 * uses el_wgets and el_wline, libedit's wide-character interface, on
 * purpose: its readline emulation (rl_callback_read_char) keeps a pointer
 * to a conversion buffer that libedit reallocates once the line outgrows
 * 1 KiB and then writes through it (in Debian 12's libedit 3.1-20221030,
 * heap corruption at about 4 KiB), and converts the whole line to bytes
 * after every key.  Here nothing is converted while keys arrive; the line
 * is made UTF-8 once it is done, or when the console asks for it.
 *
 * The key bindings are those libedit's readline emulation set up, so that
 * ~/.editrc files written for it keep working; Tab is complete.c's.
 */
#define _XOPEN_SOURCE 700

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <histedit.h>

#include "shell.h"

static EditLine *el;
static char prompt[256]; /* what prompt_text hands libedit */
static struct buf line_text;

/* n wide characters as UTF-8 (the locale's multibyte form) into out. */
static void to_bytes(struct buf *out, const wchar_t *w, size_t n)
{
    char mb[MB_LEN_MAX];
    mbstate_t st;
    size_t i, k;

    memset(&st, 0, sizeof st);
    for (i = 0; i <= n; i++) {
        k = i < n ? wcrtomb(mb, w[i], &st) : 0;
        if (k == (size_t)-1) {
            memset(&st, 0, sizeof st);
            continue;
        }
        if (buf_append(out, mb, k) != 0) { /* k 0: a NUL-terminated "" */
            fprintf(stderr, "%s: out of memory\n", PROGNAME);
            exit(EXIT_FAILURE);
        }
    }
}

static char *prompt_text(EditLine *e)
{
    (void)e;
    return prompt;
}

/* Ctrl-Z, as libedit's readline emulation binds it: the terminal's suspend
 * character does nothing while libedit edits. */
static unsigned char suspend_key(EditLine *e, int ch)
{
    (void)e;
    (void)ch;
    kill(0, SIGTSTP);
    return CC_NORM;
}

/* The bindings libedit's readline emulation adds to its Emacs mode. */
static void bind_keys(void)
{
    static const char *const keys[][2] = {
        {"^R", "em-inc-search-prev"},      {"^W", "ed-delete-prev-word"},
        {"\\e[1~", "ed-move-to-beg"},      {"\\e[4~", "ed-move-to-end"},
        {"\\e[7~", "ed-move-to-beg"},      {"\\e[8~", "ed-move-to-end"},
        {"\\e[H", "ed-move-to-beg"},       {"\\e[F", "ed-move-to-end"},
        {"\\e[3~", "ed-delete-next-char"}, {"\\e[2~", "ed-quoted-insert"},
        {"\\e[1;5C", "em-next-word"},      {"\\e[1;5D", "ed-prev-word"},
        {"\\e[5C", "em-next-word"},        {"\\e[5D", "ed-prev-word"},
        {"\\e\\e[C", "em-next-word"},      {"\\e\\e[D", "ed-prev-word"},
    };
    size_t i;

    el_set(el, EL_EDITOR, "emacs");
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        el_set(el, EL_BIND, keys[i][0], keys[i][1], NULL);
    editor_add_key("^Z", L"aa-suspend", L"Suspend aa-shell", suspend_key);
}

void editor_open(History *hist)
{
    el = el_init(PROGNAME, stdin, stdout, stderr);
    if (el == NULL) {
        fprintf(stderr, "%s: cannot start libedit\n", PROGNAME);
        exit(EXIT_FAILURE);
    }
    el_set(el, EL_SIGNAL, 0); /* SIGINT is ours (run.c), not libedit's */
    el_set(el, EL_PROMPT_ESC, prompt_text, '\1');
    if (hist != NULL)
        el_set(el, EL_HIST, history, hist);
    bind_keys();
}

/* Wide, because libedit keeps the strings it is handed then, where it
 * copies narrow ones and never frees the copies. */
void editor_add_key(const char *key, const wchar_t *name, const wchar_t *help,
                    unsigned char (*fn)(EditLine *, int))
{
    struct buf narrow = {NULL, 0, 0};

    el_wset(el, EL_ADDFN, name, help, fn);
    to_bytes(&narrow, name, wcslen(name));
    el_set(el, EL_BIND, key, narrow.data, NULL);
    buf_free(&narrow);
}

/* ~/.editrc (or $EDITRC), read once every binding of the shell is made,
 * so that it can change them. */
void editor_source_editrc(void)
{
    el_source(el, NULL);
}

void editor_close(void)
{
    if (el != NULL)
        el_end(el);
    el = NULL;
    buf_free(&line_text);
}

void editor_start(const char *text)
{
    snprintf(prompt, sizeof prompt, "%s", text);
    fflush(stdout);
    /* The terminal raw, the line empty, the prompt drawn. */
    el_set(el, EL_UNBUFFERED, 1);
}

void editor_finish(void)
{
    el_set(el, EL_UNBUFFERED, 0);
}

int editor_key(struct buf *line)
{
    int n = 0;
    const wchar_t *w = el_wgets(el, &n);

    if (w == NULL || n <= 0)
        return EDIT_MORE;
    if (n == 1 && w[0] == L'\004') /* Ctrl-D on an empty line */
        return EDIT_EOF;
    if (w[n - 1] != L'\n' && w[n - 1] != L'\r')
        return EDIT_MORE;
    buf_reset(line);
    to_bytes(line, w, (size_t)n - 1);
    return EDIT_LINE;
}

const char *editor_line(size_t *point)
{
    const LineInfoW *li = el_wline(el);

    buf_reset(&line_text);
    to_bytes(&line_text, li->buffer, (size_t)(li->cursor - li->buffer));
    *point = line_text.len;
    to_bytes(&line_text, li->cursor, (size_t)(li->lastchar - li->cursor));
    return line_text.data ? line_text.data : "";
}

void editor_insert(const char *text)
{
    if (*text != '\0')
        el_insertstr(el, text);
}

void editor_delete(size_t chars)
{
    if (chars > 0)
        el_deletestr(el, (int)chars);
}

void editor_redraw(void)
{
    fflush(stdout);
    el_set(el, EL_REFRESH);
}

void editor_resize(void)
{
    el_resize(el);
}

void editor_terminal(int raw)
{
    el_set(el, EL_PREP_TERM, raw);
}
