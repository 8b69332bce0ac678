/*
 * console.c -- the interactive console: IPython's prompts, multi-line
 * cells with auto-indent, Ctrl-C and Ctrl-D.
 *
 * It hands libedit (editor.c) one key at a time, so that between keys it
 * is the shell, not libedit, that waits: it waits in aa_session_poll,
 * which runs the session's background asyncio tasks until a key arrives
 * (IPython's terminal freezes them: its issue #11303).  What those tasks
 * print arrives through the session's write callback in OUT_PROMPT mode,
 * which clears the cell being typed (clear_input); once the poll returns,
 * the cell is drawn again below the output (redraw).  Completion is
 * complete.c's, the history history.c's, running cells run.c's.
 */
#define _POSIX_C_SOURCE 200809L

#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shell.h"

/* How long one poll may keep the console from seeing a Ctrl-C. */
#define POLL_MS 100

enum { LINE_OK, LINE_EOF, LINE_INTERRUPT };
enum { CELL_READY, CELL_EOF };

struct console {
    struct shell *sh;
    struct buf cell; /* the lines typed so far, each ending in '\n' */
    int nlines;
    char prompt[160]; /* libedit's: escapes between two \1 */
    int prompt_cols;  /* the width it takes on the screen */
    struct buf line;  /* the line Enter ended */
    int fancy;        /* the terminal takes ANSI cursor movement */
    int cleared_cell; /* clear_input took the whole cell off the screen */
};

/* clear_input and libedit's bound keys have no user data: one console. */
static struct console con;
static volatile sig_atomic_t winched, continued;

/* ------------------------------------------------------------- prompts */

/*
 * "In [n]: " or its continuation "   ...: ", right-aligned on the colon as
 * IPython does, green when colors are on.  markers puts libedit's
 * invisible-text markers around the escapes; the last one is followed by
 * the space, since libedit drops an escape that ends the prompt.
 */
static int make_prompt(const struct console *c, int first, int markers,
                       char *out, size_t size)
{
    const char *s = markers ? "\001" : "", *e = s;
    int n = c->sh->count;
    int width = snprintf(NULL, 0, "In [%d]: ", n);

    if (!c->sh->color && first)
        snprintf(out, size, "In [%d]: ", n);
    else if (!c->sh->color)
        snprintf(out, size, "%*s...: ", width - 5, "");
    else if (first)
        snprintf(out, size,
                 "%s\033[32m%sIn [%s\033[1;32m%s%d%s\033[0;32m%s]:"
                 "%s\033[0m%s ",
                 s, e, s, e, n, s, e, s, e);
    else
        snprintf(out, size, "%*s%s\033[32m%s...:%s\033[0m%s ", width - 5, "", s,
                 e, s, e);
    return width;
}

/* The rows text takes from the prompt's end up to byte upto. */
static int rows_to(const char *text, size_t upto, int first_col, int cols)
{
    const char *p = text, *end = text + upto;
    int row = 0, col = first_col;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        col += text_columns(p, n, col);
        if (nl == NULL)
            break;
        row += col > 0 ? (col - 1) / cols + 1 : 1;
        col = 0;
        p = nl + 1;
    }
    return row + col / cols;
}

/* The rows the lines of the cell typed before the current one take. */
static int cell_rows(const struct console *c, int cols)
{
    const char *p = c->cell.data ? c->cell.data : "";
    int rows = 0;

    while (*p) {
        size_t n = strcspn(p, "\n");
        int w = c->prompt_cols + text_columns(p, n, c->prompt_cols);
        rows += w > 0 ? (w - 1) / cols + 1 : 1;
        p += n + (p[n] == '\n');
    }
    return rows;
}

/* Prints the lines typed so far with their prompts, as when typed. */
static void print_cell(const struct console *c)
{
    const char *p = c->cell.data ? c->cell.data : "";
    char prompt[160];
    int first = 1;

    while (*p) {
        size_t n = strcspn(p, "\n");
        make_prompt(c, first, 0, prompt, sizeof prompt);
        printf("%s%.*s\n", prompt, (int)n, p);
        p += n + (p[n] == '\n');
        first = 0;
    }
}

/* ------------------------------------------------------ output at the prompt
 */

/* Moves up `up` rows and clears from there to the end of the screen. */
static void erase_rows(int up)
{
    char seq[32];

    if (up > 0)
        snprintf(seq, sizeof seq, "\r\033[%dA\033[J", up);
    else
        snprintf(seq, sizeof seq, "\r\033[J");
    fflush(stdout);
    write_all(STDOUT_FILENO, seq, strlen(seq));
}

/*
 * Takes the cell being typed off the screen, so that output lands where it
 * was; redraw puts it back below.  A cell taller than the screen leaves its
 * earlier lines where they are.
 */
static void clear_input(struct shell *sh)
{
    struct console *c = &con;
    int cols = terminal_columns(STDOUT_FILENO);
    size_t point;
    const char *line = editor_line(&point);
    int up = rows_to(line, point, c->prompt_cols, cols);
    int above = cell_rows(c, cols);
    struct winsize ws;
    int rows = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_row : 24;

    c->cleared_cell = 0;
    if (!c->fancy) {
        fflush(stdout);
        write_all(STDOUT_FILENO, "\n", 1);
    } else {
        c->cleared_cell = up + above < rows - 1 && c->nlines > 0;
        erase_rows(c->cleared_cell ? up + above : up);
    }
    sh->at_line_start = 1;
}

static void redraw(struct console *c)
{
    finish_output_line(c->sh);
    if (c->cleared_cell)
        print_cell(c);
    fflush(stdout);
    editor_redraw();
    c->sh->line_cleared = 0;
    c->cleared_cell = 0;
}

void console_print_above(const char *text, size_t len)
{
    struct console *c = &con;

    clear_input(c->sh);
    fflush(stdout);
    write_all(STDOUT_FILENO, text, len);
    c->sh->at_line_start = len > 0 && text[len - 1] == '\n';
    redraw(c);
}

/* ----------------------------------------------------------------- keys */

static int typed_ahead(void)
{
    int avail = 0;

    return ioctl(STDIN_FILENO, FIONREAD, &avail) == 0 && avail > 0;
}

/* Whether the terminal is gone: stdin hung up. */
static int hung_up(void)
{
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* Feeds libedit the keys that are there, up to the end of a line. */
static int read_keys(struct console *c)
{
    int r = EDIT_MORE;

    /* Readable with nothing to read: the terminal is gone, or a Ctrl-C
     * typed since the wait flushed what was typed before it (the
     * terminal does, unless NOFLSH): the caller sees the Ctrl-C then. */
    if (!typed_ahead())
        return sigint_count == 0 && hung_up() ? EDIT_EOF : EDIT_MORE;
    do
        r = editor_key(&c->line);
    while (r == EDIT_MORE && sigint_count == 0 && typed_ahead());
    return r;
}

/* Auto-indent: the next line starts with the spaces the block wants. */
static void prefill(int indent)
{
    char spaces[81];

    memset(spaces, ' ', (size_t)indent);
    spaces[indent] = '\0';
    editor_insert(spaces);
    fputs("\r", stdout);
    editor_redraw();
}

/* Draws the edited line again after a change libedit does not show; line
 * and point are what the screen shows now. */
static void redraw_line(const char *line, size_t point)
{
    struct console *c = &con;
    int cols = terminal_columns(STDOUT_FILENO);

    if (c->fancy)
        erase_rows(rows_to(line, point, c->prompt_cols, cols));
    else
        fputs("\r", stdout);
    editor_redraw();
}

/* Ctrl-C at the prompt: the line stays on the screen with ^C after it. */
static void interrupted(struct console *c)
{
    char prompt[160];
    int cols = terminal_columns(STDOUT_FILENO);
    size_t point;
    const char *line = editor_line(&point);

    sigint_count = 0;
    make_prompt(c, c->nlines == 0, 0, prompt, sizeof prompt);
    if (c->fancy)
        erase_rows(rows_to(line, point, c->prompt_cols, cols));
    else
        fputs("\n", stdout);
    printf("%s%s^C\n", prompt, line);
    fflush(stdout);
    editor_finish();
    buf_reset(&c->cell);
    c->nlines = 0;
}

static void after_signals(void)
{
    if (winched) {
        winched = 0;
        editor_resize();
    }
    if (continued) {
        /* Back from Ctrl-Z: the shell that resumed us left the terminal
         * cooked, and libedit still thinks it is raw. */
        size_t point;
        const char *line = editor_line(&point);

        continued = 0;
        editor_terminal(0);
        editor_terminal(1);
        redraw_line(line, point);
    }
}

/* One line, while background tasks run.  LINE_OK leaves it in c->line. */
static int read_line(struct console *c, int indent)
{
    struct shell *sh = c->sh;
    int r, key = EDIT_MORE;

    c->prompt_cols =
        make_prompt(c, c->nlines == 0, 1, c->prompt, sizeof c->prompt);
    /* Keys already waiting are typed ahead or pasted: they bring their
     * own indentation. */
    if (indent > 80 || typed_ahead())
        indent = 0;
    editor_start(c->prompt);
    if (indent > 0)
        prefill(indent);
    while (key == EDIT_MORE) {
        if (sigint_count > 0) {
            interrupted(c);
            return LINE_INTERRUPT;
        }
        after_signals();
        sh->out_mode = OUT_PROMPT;
        r = aa_session_poll(sh->session, STDIN_FILENO, POLL_MS);
        sh->out_mode = OUT_DIRECT;
        if (sh->line_cleared)
            redraw(c);
        if (r < 0) /* the runner's loop failed; it said why */
            r = poll(&(struct pollfd){STDIN_FILENO, POLLIN, 0}, 1, POLL_MS);
        if (r == 1)
            key = read_keys(c);
    }
    editor_finish();
    return key == EDIT_LINE ? LINE_OK : LINE_EOF;
}

/* ---------------------------------------------------------------- cells */

static void add_line(struct console *c, const char *line)
{
    if (buf_puts(&c->cell, line) != 0 || buf_puts(&c->cell, "\n") != 0) {
        fprintf(stderr, "%s: out of memory\n", PROGNAME);
        exit(EXIT_FAILURE);
    }
    c->nlines++;
}

/*
 * A cell recalled from history comes back as one line with newlines in it:
 * Enter runs it as it stands, closing its last block.
 */
static int recalled_cell_state(struct console *c, int state, int *indent)
{
    if (state != AA_INPUT_INCOMPLETE || c->nlines != 1 ||
        strchr(c->line.data, '\n') == NULL)
        return state;
    buf_puts(&c->cell, "\n");
    state = cell_state(c->sh, c->cell.data, indent);
    if (state == AA_INPUT_INCOMPLETE)
        c->cell.data[--c->cell.len] = '\0';
    return state;
}

static int read_cell(struct console *c)
{
    int indent = 0, state;

    buf_reset(&c->cell);
    c->nlines = 0;
    sigint_count = 0; /* the Ctrl-C that stopped the last cell is used up */
    for (;;) {
        int r = read_line(c, indent);
        if (r == LINE_INTERRUPT) {
            indent = 0;
            continue;
        }
        if (r == LINE_EOF) {
            fputs("\n", stdout); /* past the prompt Ctrl-D left */
            return c->nlines > 0 ? CELL_READY : CELL_EOF;
        }
        if (c->nlines == 0 && is_blank_line(c->line.data))
            continue;
        add_line(c, c->line.data);
        state = cell_state(c->sh, c->cell.data, &indent);
        state = recalled_cell_state(c, state, &indent);
        if (state != AA_INPUT_INCOMPLETE)
            return CELL_READY;
    }
}

/* `exit` and `quit` alone leave, as in IPython. */
static int is_exit_word(const char *cell)
{
    size_t n;

    cell += strspn(cell, " \t");
    n = strcspn(cell, " \t\n");
    if (!is_blank_line(cell + n))
        return 0;
    return (n == 4 && strncmp(cell, "exit", 4) == 0) ||
           (n == 4 && strncmp(cell, "quit", 4) == 0);
}

/* ---------------------------------------------------------------- setup */

static void on_signal(int signo)
{
    if (signo == SIGWINCH)
        winched = 1;
    else
        continued = 1;
}

/*
 * libedit decodes keys with the C library's LC_CTYPE, which in the C or
 * POSIX locale is ASCII: every other byte typed would be dropped.  As
 * python3 reads UTF-8 there (PEP 538 and 540; the interpreter the library
 * started has already done the same for Python's streams and, when LC_ALL
 * is not set, put LC_CTYPE=C.UTF-8 in the environment), so does the
 * console.
 */
static void utf8_in_c_locale(void)
{
    static const char *const utf8[] = {"C.UTF-8", "C.utf8", "UTF-8"};
    const char *now = setlocale(LC_CTYPE, NULL);
    size_t i;

    if (now == NULL || (strcmp(now, "C") != 0 && strcmp(now, "POSIX") != 0))
        return;
    for (i = 0; i < sizeof utf8 / sizeof utf8[0]; i++)
        if (setlocale(LC_CTYPE, utf8[i]) != NULL)
            return;
}

static void console_setup(struct shell *sh, const struct settings *st)
{
    const char *term = getenv("TERM");
    struct sigaction sa;

    utf8_in_c_locale();
    con.sh = sh;
    con.fancy = term == NULL || strcmp(term, "dumb") != 0;
    sh->clear_input = clear_input;
    editor_open(st->history ? history_open() : NULL);
    completion_install(sh);
    editor_source_editrc();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGCONT, &sa, NULL);
}

int run_console(struct shell *sh, const struct settings *st)
{
    console_setup(sh, st);
    while (read_cell(&con) == CELL_READY) {
        if (st->history)
            history_add_cell(con.cell.data);
        if (is_exit_word(con.cell.data))
            break;
        run_cell(sh, con.cell.data, con.cell.len);
        finish_output_line(sh);
        if (sh->stop)
            break;
        fputs("\n", stdout); /* IPython's blank line after each cell */
    }
    fflush(stdout);
    signal(SIGWINCH, SIG_DFL);
    signal(SIGCONT, SIG_DFL);
    editor_close();
    history_close();
    buf_free(&con.cell);
    buf_free(&con.line);
    return sh->stop ? sh->exit_code : EXIT_SUCCESS;
}
