/*
 * main.c -- aa-shell, the plain console of libautoawait.
 *
 * Like lua.c with lua.h, it is written against the public header alone: it
 * reads cells from -c, a file or standard input, runs each with aa_execn and
 * prints what the result holds.  It owns the prompts, the completeness check
 * of typed input and the SIGINT handler, none of which belong in the
 * library.  Line editing, history and completion are left to the full
 * console that will replace it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <autoawait/autoawait.h>

#define PROGNAME "aa-shell"
#define EXIT_USAGE 2

/* What parse_args asks of main besides running. */
enum { ARGS_RUN, ARGS_DONE, ARGS_BAD };

struct config {
    const char *code;   /* -c CODE */
    const char *file;   /* FILE; "-" is standard input */
    const char *runner; /* --runner NAME; NULL keeps the library's default */
    int autoawait;
    int quiet;
};

struct shell {
    aa_session *session;
    int count;       /* the number of the next cell, as in In [n] */
    int interactive; /* standard input is a terminal: prompts and banner */
    int exit_code;   /* of the last SystemExit */
};

/* A growable byte string. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/*
 * The completeness check of typed input: the state of the cell read so far,
 * carried from line to line.
 */
struct scan {
    int depth;  /* brackets left open */
    char quote; /* the quote of a string left open, or 0 */
    int triple; /* that string is triple-quoted */
    int block;  /* a line opened a block: only an empty line ends the cell */
};

/* Set once before the handler is installed; read by the handler only. */
static aa_session *sigint_session;
static volatile sig_atomic_t sigint_seen;

static const char usage_text[] =
    "usage: " PROGNAME " [options] [-c CODE | FILE | -]\n"
    "\n"
    "A Python console where top-level await just works.\n"
    "\n"
    "  -c CODE          run CODE as one cell and exit\n"
    "  FILE             run the whole file as one cell and exit\n"
    "  -                read cells from standard input (the default)\n"
    "  --runner NAME    run async cells with runner NAME (default asyncio)\n"
    "  --no-autoawait   start with top-level await turned off\n"
    "  -q               print no banner\n"
    "  --version        print the version and exit\n"
    "  -h, --help       print this help and exit\n";

/* ------------------------------------------------------------ arguments */

/*
 * The value of the option name at argv[*i], glued ("-cCODE",
 * "--runner=NAME") or in the next argument.  NULL when argv[*i] is not that
 * option; *missing is set when it is but has no value.
 */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                int *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];

    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '\0') {
        if (*i + 1 < argc)
            return argv[++*i];
        *missing = 1;
        return NULL;
    }
    if (name[1] != '-')
        return arg + n;
    return arg[n] == '=' ? arg + n + 1 : NULL;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s'\n", PROGNAME, what, arg);
    fprintf(stderr, "Try '%s --help' for more information.\n", PROGNAME);
    return ARGS_BAD;
}

/* Parses the option at argv[*i], moving *i past a separate value. */
static int parse_option(int argc, char **argv, int *i, struct config *cfg)
{
    const char *arg = argv[*i];
    const char *value;
    int missing = 0;

    if ((value = option_value(argc, argv, i, "-c", &missing)))
        cfg->code = value;
    else if ((value = option_value(argc, argv, i, "--runner", &missing)))
        cfg->runner = value;
    else if (missing)
        return usage_error("option needs a value:", arg);
    else if (strcmp(arg, "-q") == 0)
        cfg->quiet = 1;
    else if (strcmp(arg, "--no-autoawait") == 0)
        cfg->autoawait = 0;
    else if (strcmp(arg, "--version") == 0) {
        printf("%s %s (libautoawait %s)\n", PROGNAME, AA_VERSION_STRING,
               aa_version());
        return ARGS_DONE;
    } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(usage_text, stdout);
        return ARGS_DONE;
    } else
        return usage_error("unknown option", arg);
    return ARGS_RUN;
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
            break;
        if ((rc = parse_option(argc, argv, &i, cfg)) != ARGS_RUN)
            return rc;
    }
    if (i < argc)
        cfg->file = argv[i++];
    if (i < argc)
        return usage_error("unexpected argument", argv[i]);
    if (cfg->code != NULL && cfg->file != NULL)
        return usage_error("-c excludes a FILE argument:", cfg->file);
    return ARGS_RUN;
}

/* --------------------------------------------------------------- SIGINT */

static void on_sigint(int signo)
{
    (void)signo;
    sigint_seen = 1;
    aa_interrupt(sigint_session);
}

/*
 * While a cell runs, interrupted system calls restart so that only the
 * cell sees Ctrl-C; while input is read they do not, so that Ctrl-C drops
 * the input typed so far.
 */
static void catch_sigint(int restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* ------------------------------------------------------------ reporting */

static int is_integer_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        return 0;
    while (*s >= '0' && *s <= '9')
        s++;
    return *s == '\0';
}

/*
 * SystemExit("bye") prints its argument, as Python does; exit codes that are
 * None, bool or int print nothing.
 */
static void report_system_exit(const aa_result *r)
{
    const char *msg = aa_result_message(r);

    if (msg == NULL || *msg == '\0' || is_integer_text(msg) ||
        strcmp(msg, "None") == 0 || strcmp(msg, "True") == 0 ||
        strcmp(msg, "False") == 0)
        return;
    fprintf(stderr, "%s\n", msg);
}

static void report_exception(const aa_result *r, int status)
{
    const char *tb = aa_result_traceback(r);
    const char *exc = aa_result_exception(r);
    const char *msg = aa_result_message(r);

    if (tb != NULL)
        fputs(tb, stderr);
    else if (exc != NULL && msg != NULL && *msg != '\0')
        fprintf(stderr, "%s: %s\n", exc, msg);
    else if (exc != NULL)
        fprintf(stderr, "%s\n", exc);
    else
        fprintf(stderr, "%s\n", aa_strerror(status));
}

/* A failure of the call itself, not of the user's code. */
static void report_failure(const struct shell *sh, const aa_result *r,
                           int status)
{
    const char *msg = aa_session_errmsg(sh->session);

    if (msg == NULL || *msg == '\0')
        msg = aa_result_message(r);
    if (msg == NULL || *msg == '\0')
        msg = aa_strerror(status);
    fprintf(stderr, "%s: %s\n", PROGNAME, msg);
}

static void show_value(const aa_result *r, int n)
{
    const char *repr = aa_result_repr(r);

    if (repr == NULL)
        return;
    /* IPython starts a multi-line value on a line of its own. */
    printf("Out[%d]: %s%s\n", n, strchr(repr, '\n') ? "\n" : "", repr);
}

/* -------------------------------------------------------------- running */

/* Runs one cell and reports its outcome; returns its status. */
static int run_cell(struct shell *sh, const char *src, size_t len)
{
    aa_result *r = NULL;
    int n = sh->count++;
    int status;

    fflush(stdout);
    catch_sigint(1);
    status = aa_execn(sh->session, src, len, &r);
    catch_sigint(0);
    if (sigint_seen && sh->interactive)
        fputc('\n', stderr); /* past the ^C the terminal echoed */
    sigint_seen = 0;
    if (status < 0)
        report_failure(sh, r, status);
    else if (status == AA_SYSTEM_EXIT) {
        sh->exit_code = aa_result_exit_code(r);
        report_system_exit(r);
    } else if (status != AA_OK)
        report_exception(r, status);
    else
        show_value(r, n);
    aa_result_free(r);
    if (sh->interactive)
        putchar('\n');
    fflush(stdout);
    return status;
}

/* The exit status of -c and FILE mode for a cell's status. */
static int exit_status(const struct shell *sh, int status)
{
    if (status == AA_OK)
        return EXIT_SUCCESS;
    if (status == AA_SYSTEM_EXIT)
        return sh->exit_code;
    return EXIT_FAILURE;
}

static int buf_append(struct buf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + len + 1)
            cap *= 2;
        if ((p = realloc(b->data, cap)) == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    int rc = 0;

    if (f == NULL)
        return -1;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(out, chunk, n);
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc == 0 && out->data == NULL ? buf_append(out, "", 0) : rc;
}

static int run_file(struct shell *sh, const char *path)
{
    struct buf src = {NULL, 0, 0};
    int status;

    if (read_file(path, &src) != 0) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", PROGNAME, path,
                strerror(errno));
        free(src.data);
        return EXIT_USAGE;
    }
    status = run_cell(sh, src.data, src.len);
    free(src.data);
    return exit_status(sh, status);
}

/* ------------------------------------------------- the completeness check */

static int is_blank(const char *line)
{
    while (*line == ' ' || *line == '\t' || *line == '\f' || *line == '\r')
        line++;
    return *line == '\n' || *line == '\0';
}

/* One character inside an open string; returns where to go on. */
static const char *scan_string(struct scan *sc, const char *p)
{
    if (*p == '\\')
        return p[1] != '\0' && p[1] != '\n' ? p + 2 : p + 1;
    if (*p == sc->quote) {
        if (!sc->triple) {
            sc->quote = 0;
            return p + 1;
        }
        if (p[1] == sc->quote && p[2] == sc->quote) {
            sc->quote = 0;
            return p + 3;
        }
    }
    return p + 1;
}

/* One character of code; *last keeps the last one that is not a space. */
static const char *scan_code(struct scan *sc, const char *p, char *last)
{
    switch (*p) {
    case '#':
        return p + strcspn(p, "\n");
    case '\'':
    case '"':
        sc->quote = *p;
        sc->triple = p[1] == *p && p[2] == *p;
        *last = *p;
        return p + (sc->triple ? 3 : 1);
    case '(':
    case '[':
    case '{':
        sc->depth++;
        break;
    case ')':
    case ']':
    case '}':
        if (sc->depth > 0)
            sc->depth--;
        break;
    }
    if (*p != ' ' && *p != '\t' && *p != '\f' && *p != '\r')
        *last = *p;
    return p + 1;
}

/*
 * Scans one line of a cell; returns 1 when the cell is complete.  A cell is
 * one line unless a bracket, a triple-quoted string or a backslash carries
 * it on, or a line opened a block (ends with ':', or is a decorator): then
 * it ends at the first empty line outside brackets and strings.  It is only
 * a guess: what does not compile is Python's to report.
 */
static int scan_line(struct scan *sc, const char *line)
{
    const char *p = line;
    char last = 0;
    int blank = is_blank(line);
    int opens_at_depth0 = sc->depth == 0 && sc->quote == 0;

    while (*p != '\0' && *p != '\n')
        p = sc->quote ? scan_string(sc, p) : scan_code(sc, p, &last);
    if (opens_at_depth0 && line[strspn(line, " \t")] == '@')
        sc->block = 1;
    if (sc->quote && !sc->triple && (p == line || p[-1] != '\\'))
        sc->quote = 0; /* an unterminated string: Python will say so */
    if (sc->quote || sc->depth > 0 || last == '\\')
        return 0;
    if (last == ':')
        sc->block = 1;
    return !sc->block || blank;
}

/* ------------------------------------------------------ standard input */

static void prompt(const struct shell *sh, int first)
{
    int width;

    if (!sh->interactive)
        return;
    width = snprintf(NULL, 0, "In [%d]: ", sh->count);
    if (first)
        printf("In [%d]: ", sh->count);
    else
        printf("%*s...: ", width - 5, "");
    fflush(stdout);
}

/* Ctrl-C at a prompt drops the input typed so far, as IPython does. */
static int input_interrupted(const struct shell *sh, struct buf *cell)
{
    if (errno != EINTR || !sigint_seen)
        return 0;
    clearerr(stdin);
    sigint_seen = 0;
    cell->len = 0;
    if (sh->interactive)
        fputs("\nKeyboardInterrupt\n\n", stdout);
    return 1;
}

/*
 * Reads one cell into cell.  Returns 1 with a cell, 0 at the end of input,
 * -1 when memory ran out.  Empty lines between cells are skipped.
 */
static int read_cell(struct shell *sh, struct buf *cell, struct buf *line)
{
    struct scan sc = {0, 0, 0, 0};
    ssize_t n;

    cell->len = 0;
    for (;;) {
        prompt(sh, cell->len == 0);
        errno = 0;
        n = getline(&line->data, &line->cap, stdin);
        if (n < 0 && input_interrupted(sh, cell)) {
            memset(&sc, 0, sizeof sc);
            continue;
        }
        if (n < 0)
            return cell->len > 0;
        if (cell->len == 0 && is_blank(line->data))
            continue;
        if (buf_append(cell, line->data, (size_t)n) != 0)
            return -1;
        if (scan_line(&sc, line->data))
            return 1;
    }
}

static int run_stdin(struct shell *sh)
{
    struct buf cell = {NULL, 0, 0};
    struct buf line = {NULL, 0, 0};
    int rc = EXIT_SUCCESS;
    int got;

    while ((got = read_cell(sh, &cell, &line)) > 0) {
        if (run_cell(sh, cell.data, cell.len) == AA_SYSTEM_EXIT) {
            rc = sh->exit_code;
            break;
        }
    }
    if (got < 0) {
        fprintf(stderr, "%s: out of memory\n", PROGNAME);
        rc = EXIT_FAILURE;
    } else if (got == 0 && sh->interactive)
        putchar('\n');
    free(cell.data);
    free(line.data);
    return rc;
}

/* ----------------------------------------------------------------- main */

static aa_session *open_session(const struct config *cfg)
{
    aa_options opts;
    aa_session *s = NULL;
    int rc;

    aa_options_init(&opts);
    opts.autoawait = cfg->autoawait;
    if (cfg->runner != NULL)
        opts.runner = cfg->runner;
    rc = aa_session_new(&s, &opts);
    if (rc != AA_OK)
        fprintf(stderr, "%s: cannot start a session: %s\n", PROGNAME,
                aa_errmsg()[0] != '\0' ? aa_errmsg() : aa_strerror(rc));
    return s;
}

static void banner(const struct shell *sh)
{
    printf("%s %s, runner %s, autoawait %s\n", PROGNAME, aa_version(),
           aa_session_runner(sh->session),
           aa_session_autoawait(sh->session) > 0 ? "on" : "off");
    printf("Ctrl-C cancels the running cell, Ctrl-D exits.\n\n");
}

static int run(struct shell *sh, const struct config *cfg)
{
    if (cfg->code != NULL)
        return exit_status(sh, run_cell(sh, cfg->code, strlen(cfg->code)));
    if (cfg->file != NULL && strcmp(cfg->file, "-") != 0)
        return run_file(sh, cfg->file);
    sh->interactive = isatty(STDIN_FILENO);
    if (sh->interactive && !cfg->quiet)
        banner(sh);
    return run_stdin(sh);
}

int main(int argc, char **argv)
{
    struct config cfg = {NULL, NULL, NULL, 1, 0};
    struct shell sh = {NULL, 1, 0, 0};
    int rc;

    switch (parse_args(argc, argv, &cfg)) {
    case ARGS_DONE:
        return EXIT_SUCCESS;
    case ARGS_BAD:
        return EXIT_USAGE;
    }
    if ((sh.session = open_session(&cfg)) == NULL)
        return EXIT_FAILURE;
    sigint_session = sh.session;
    catch_sigint(0);
    rc = run(&sh, &cfg);
    signal(SIGINT, SIG_DFL);
    aa_session_free(sh.session);
    aa_shutdown();
    return rc;
}
