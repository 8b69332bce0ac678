/*
 * shell.h -- what the files of aa-shell share.
 *
 * aa-shell is written against <autoawait/autoawait.h> alone, like lua.c
 * against lua.h.  Its files, one concern each:
 *   main.c     the modes (-c, FILE, standard input, the console), the
 *              session and the banner
 *   options.c  the command line, AA_SHELL_RUNNER and the config file
 *   run.c      running one cell: SIGINT, where output goes, reporting
 *   magics.c   %time, %%time, %timeit and %%timeit
 *   batch.c    -c, FILE and standard input that is not a terminal
 *   console.c  the interactive console: prompts, cells, Ctrl-C, redraws
 *   editor.c   the line editor: libedit, driven one key at a time
 *   complete.c Tab completion through aa_complete
 *   history.c  the history file
 *   util.c     growable strings, time formatting, terminal widths
 */
#ifndef AA_SHELL_H
#define AA_SHELL_H

#include <signal.h>
#include <stddef.h>

#include <autoawait/autoawait.h>

#define PROGNAME "aa-shell"
#define EXIT_USAGE 2
/* How a shell reports a process that a SIGINT ended. */
#define EXIT_SIGINT 130
/* python3's status when its standard output cannot be flushed at exit. */
#define EXIT_STDOUT_FAILED 120

/* ------------------------------------------------------------- util.c */

/* A growable byte string, always NUL-terminated once it has data. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

int buf_append(struct buf *b, const char *p, size_t n); /* 0 or -1 */
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Appends a Python bytes literal (b'...') of len bytes of s: printable
 * ASCII as it is, every other byte, quote and backslash as \xNN. */
void buf_py_bytes(struct buf *b, const char *s, size_t len);
void buf_free(struct buf *b);

/* "1.23 ms", as IPython prints a time span of seconds. */
void format_seconds(double seconds, char *out, size_t size);
/* Monotonic seconds. */
double now_seconds(void);
/* The columns a UTF-8 string takes on a terminal (tabs to 8). */
int text_columns(const char *s, size_t len, int start_col);
/* The terminal's width, 80 when it cannot be had. */
int terminal_columns(int fd);
/* Writes all of data to fd, going on after EINTR; 0, or -1 with errno
 * (EPIPE: the reader has gone). */
int write_all(int fd, const char *data, size_t len);
int is_blank_line(const char *s);
char *xstrdup(const char *s); /* exits on failure: the shell cannot go on */

/* ---------------------------------------------------------- options.c */

enum { ARGS_RUN, ARGS_DONE, ARGS_BAD };

struct settings {
    const char *code; /* -c CODE */
    const char *file; /* FILE; "-" is standard input */
    int nargs;        /* what follows -c CODE or FILE: the script's */
    char **args;
    char *runner;            /* NULL: the library's default */
    const char *runner_from; /* where runner came from, for messages */
    int autoawait;
    int banner;
    int color;
    int history;
};

void settings_init(struct settings *st);
void settings_free(struct settings *st);
int parse_args(int argc, char **argv, struct settings *opt);
/* Fills what the command line left open from AA_SHELL_RUNNER, the config
 * file and the defaults. */
void settings_merge(struct settings *st);
/* $XDG_CONFIG_HOME/aa-shell/config or ~/.config/aa-shell/config; malloc'd
 * or NULL.  home_dir() likewise: $HOME, else the password database. */
char *config_path(void);
const char *home_dir(void);

/* -------------------------------------------------------------- run.c */

/* Where the session's output goes. */
enum out_mode {
    OUT_DIRECT,  /* straight to standard output and error */
    OUT_PROMPT,  /* the console is editing a line: clear it first */
    OUT_CAPTURE, /* standard output into shell.capture (hidden cells) */
};

struct shell {
    aa_session *session;
    int count;       /* the number of the next cell, as in In [n] */
    int interactive; /* the console: prompts, line editing */
    int color;
    int failed;    /* piped input: some cell raised */
    int exit_code; /* of the last SystemExit */
    int stop;      /* SystemExit, or Ctrl-C outside the console: leave */
    int out_lost;  /* errno of this cell's output that could not be written */
    int own_out_errno; /* errno of the shell's own output that failed */
    int killed;        /* Ctrl-C ended a batch run: die of SIGINT */
    enum out_mode out_mode;
    int at_line_start; /* the last byte written was '\n' (or none yet) */
    int line_cleared;  /* OUT_PROMPT: the edited input was cleared */
    struct buf capture;
    void (*clear_input)(struct shell *sh); /* the console's */
};

/* Ctrl-C: the handler's state, read and reset by the code it interrupts. */
extern volatile sig_atomic_t sigint_count;

void output_write(void *userdata, int stream, const char *data, size_t len);
void sigint_install(aa_session *s);
void sigint_running(int running);

/* Runs one cell as the user's In [n] (magics included) and reports it;
 * returns its status. */
int run_cell(struct shell *sh, const char *src, size_t len);
/* Runs source with Ctrl-C reaching it; reports nothing. */
int exec_source(struct shell *sh, const char *src, size_t len, aa_result **out);
/* Runs source quietly (output captured in sh->capture); its status. */
int run_hidden(struct shell *sh, const char *src, aa_result **out);
/* What run_cell prints once a cell has run. */
void report_result(struct shell *sh, const aa_result *r, int status, int n,
                   int show_value);
void show_value(struct shell *sh, const aa_result *r, int n);
/* Ends the line the cell's output left open, before the shell writes. */
void finish_output_line(struct shell *sh);
/* fflush(stdout), keeping the errno of a failure in sh->own_out_errno. */
void flush_stdout(struct shell *sh);
/* Standard output failed during the last cell, which let the error out, or
 * for the shell's own output: what is left to run would print into
 * nothing. */
int output_gone(const struct shell *sh, int status);
int cell_exit_status(const struct shell *sh, int status);

/* ----------------------------------------------------------- magics.c */

/* If src is one of the shell's magics, runs it (as cell n) and returns 1
 * with *status set; 0 when it is not one. */
int run_magic(struct shell *sh, const char *src, int n, int *status);
/* Is the first line of src a cell magic ("%%time")?  Its length. */
size_t cell_magic_line(const char *src);

/* ------------------------------------------------------------ batch.c */

int run_code(struct shell *sh, const char *code);
int run_script(struct shell *sh, const char *path);
int run_piped(struct shell *sh);
/* aa_is_complete with the shell's rules for cell magics. */
int cell_state(struct shell *sh, const char *src, int *indent);

/* ---------------------------------------------------------- console.c */

int run_console(struct shell *sh, const struct settings *st);

/* Prints text (ending in '\n') above the cell being typed, which is then
 * drawn again below it, as output of background tasks is. */
void console_print_above(const char *text, size_t len);

/* ----------------------------------------------------------- editor.c */

/* libedit's EditLine and History (<histedit.h>). */
struct editline;
struct history;

enum { EDIT_MORE, EDIT_LINE, EDIT_EOF };

/* Starts libedit on the terminal, with history (may be NULL) for Up and
 * Down; exits if it cannot. */
void editor_open(struct history *history);
/* Binds key (editrc(5) notation) to fn, under name; name and help must
 * last as long as the editor. */
void editor_add_key(const char *key, const wchar_t *name, const wchar_t *help,
                    unsigned char (*fn)(struct editline *, int));
void editor_source_editrc(void);
void editor_close(void);
/* A new, empty line after prompt (libedit's invisible text between two
 * \1), with the terminal raw; editor_finish gives the terminal back. */
void editor_start(const char *prompt);
void editor_finish(void);
/* Edits the line by the key that is waiting (one command; a key still
 * coming is waited for).  EDIT_LINE: Enter ended the line, which is then
 * in *line (UTF-8, without the newline); EDIT_EOF: Ctrl-D on an empty
 * line; else EDIT_MORE. */
int editor_key(struct buf *line);
/* The line being edited, UTF-8, and the cursor's byte offset in it; valid
 * until the next call of this file. */
const char *editor_line(size_t *point);
/* Inserts UTF-8 text at the cursor, or deletes chars characters before it;
 * what the screen shows follows when libedit next draws. */
void editor_insert(const char *text);
void editor_delete(size_t chars);
/* Draws the prompt and the line again, from the start of the cursor's
 * row, forgetting what libedit thought the screen showed. */
void editor_redraw(void);
void editor_resize(void);
/* The terminal as libedit edits (raw 1) or as it found it (raw 0). */
void editor_terminal(int raw);

/* --------------------------------------------------------- complete.c */

/* Binds Tab to completion through aa_complete. */
void completion_install(struct shell *sh);

/* ---------------------------------------------------------- history.c */

/* Makes the console's history, with the last cells of the history file
 * in it (unless the file is refused: see history.c); NULL if it cannot. */
struct history *history_open(void);
/* Adds a whole cell (lines joined by '\n') and appends it to the file. */
void history_add_cell(const char *cell);
void history_close(void);

#endif /* AA_SHELL_H */
