/*
 * main.c -- aa-shell, the console of libautoawait.
 *
 * Like lua.c with lua.h, aa-shell is written against the public header
 * alone.  This file picks the mode (-c CODE, FILE, piped standard input,
 * or the interactive console), makes the session with the options of
 * options.c, and prints the banner.  See shell.h for the other files.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shell.h"

/* ------------------------------------------------------------ sessions */

static aa_session *open_session(const struct settings *st, struct shell *sh)
{
    aa_options opts;
    aa_session *s = NULL;
    int rc;

    aa_options_init(&opts);
    opts.autoawait = st->autoawait;
    opts.write = output_write;
    opts.userdata = sh;
    if (st->runner != NULL)
        opts.runner = st->runner;
    rc = aa_session_new(&s, &opts);
    if (rc == AA_OK)
        return s;
    fprintf(stderr, "%s: cannot start a session: %s\n", PROGNAME,
            aa_errmsg()[0] != '\0' ? aa_errmsg() : aa_strerror(rc));
    if (st->runner_from != NULL)
        fprintf(stderr, "%s: (the runner '%s' comes from %s)\n", PROGNAME,
                st->runner, st->runner_from);
    return NULL;
}

static void capture_write(void *userdata, int stream, const char *data,
                          size_t len)
{
    if (stream == 1)
        buf_append(userdata, data, len);
    else
        write_all(STDERR_FILENO, data, len);
}

/*
 * What python3 does before the first line of the program runs and the
 * library does not: sys.path[0] is the script's folder, or '' (the current
 * folder) for -c, piped input and the console.  sys is the interpreter's,
 * so this runs in a session of its own, which also tells the Python
 * version for the banner; the user's session starts at cell 1.
 */
static void prepare_python(const char *script, char *version, size_t size)
{
    struct buf src = {NULL, 0, 0}, out = {NULL, 0, 0};
    const char *safe = getenv("PYTHONSAFEPATH");
    aa_options opts;
    aa_session *s = NULL;

    snprintf(version, size, "3");
    aa_options_init(&opts);
    opts.write = capture_write;
    opts.userdata = &out;
    if (aa_session_new(&s, &opts) != AA_OK)
        return;
    buf_puts(&src, "import sys, os\n");
    if (safe == NULL || safe[0] == '\0') {
        buf_puts(&src, "sys.path.insert(0, ");
        if (script != NULL) {
            buf_puts(&src, "os.path.dirname(os.path.realpath(os.fsdecode(");
            buf_py_bytes(&src, script, strlen(script));
            buf_puts(&src, "))))\n");
        } else {
            buf_puts(&src, "'')\n");
        }
    }
    buf_puts(&src, "print(sys.version.split()[0])\n");
    if (src.data != NULL && aa_exec(s, src.data, NULL) == AA_OK && out.len > 0)
        snprintf(version, size, "%.*s", (int)strcspn(out.data, "\n"), out.data);
    aa_session_free(s);
    buf_free(&src);
    buf_free(&out);
}

/* sys.argv as python3 makes it: ['-c', ARGS], [FILE, ARGS], or ['']. */
static void set_argv(const struct settings *st)
{
    const char **argv = calloc((size_t)st->nargs + 2, sizeof *argv);
    int i, n = 0;

    if (argv == NULL)
        return;
    if (st->code != NULL)
        argv[n++] = "-c";
    else if (st->file != NULL)
        argv[n++] = st->file;
    for (i = 0; i < st->nargs; i++)
        argv[n++] = st->args[i];
    aa_set_argv(n, argv);
    free(argv);
}

/* --------------------------------------------------------------- banner */

static void banner(const struct shell *sh, const char *python)
{
    const char *runner = aa_session_runner(sh->session);
    const char *other = strcmp(runner, "trio") != 0 ? "trio" : "asyncio";

    printf("%s %s on Python %s -- ", PROGNAME, aa_version(), python);
    if (aa_session_autoawait(sh->session) > 0)
        printf("top-level await, async with and async for just work.\n");
    else
        printf("autoawait is off: %%autoawait on turns it on.\n");
    printf("Runner: %s (%%autoawait %s switches). %%time and %%timeit take "
           "await.\n",
           runner, other);
    printf("Tab completes, Ctrl-C interrupts, Ctrl-D exits.\n\n");
    fflush(stdout);
}

/* ----------------------------------------------------------------- main */

/*
 * The shell's own output (Out[n], reports) that could not be written: said
 * on stderr, and the status becomes 120, as python3's when it cannot flush
 * its stdout at exit.  What cells wrote is not counted here: a write that
 * failed raised in its cell.
 */
static int check_stdout(struct shell *sh, int rc)
{
    flush_stdout(sh);
    if (!ferror(stdout) && sh->own_out_errno == 0)
        return rc;
    if (sh->own_out_errno != 0)
        fprintf(stderr, "%s: cannot write to standard output: %s\n", PROGNAME,
                strerror(sh->own_out_errno));
    else
        fprintf(stderr, "%s: cannot write to standard output\n", PROGNAME);
    return EXIT_STDOUT_FAILED;
}

static int run(struct shell *sh, const struct settings *st)
{
    int piped =
        st->code == NULL && (st->file == NULL || strcmp(st->file, "-") == 0);
    char python[64];

    prepare_python(piped || st->code ? NULL : st->file, python, sizeof python);
    set_argv(st);
    if (st->code != NULL)
        return run_code(sh, st->code);
    if (!piped)
        return run_script(sh, st->file);
    if (!sh->interactive)
        return run_piped(sh);
    if (st->banner)
        banner(sh, python);
    return run_console(sh, st);
}

int main(int argc, char **argv)
{
    struct settings st;
    struct shell sh;
    int rc;

    /* As python3: a write to a pipe whose reader has gone fails with
     * EPIPE, which the cell gets as BrokenPipeError (its finally blocks
     * run), instead of killing the shell.  Programs a cell starts through
     * subprocess get the default back, as from python3. */
    signal(SIGPIPE, SIG_IGN);
    /* Characters only: numbers keep printing with a '.'. */
    setlocale(LC_CTYPE, "");
    settings_init(&st);
    switch (parse_args(argc, argv, &st)) {
    case ARGS_DONE:
        return EXIT_SUCCESS;
    case ARGS_BAD:
        return EXIT_USAGE;
    }
    settings_merge(&st);
    memset(&sh, 0, sizeof sh);
    sh.count = 1;
    sh.at_line_start = 1;
    sh.interactive = st.code == NULL &&
                     (st.file == NULL || strcmp(st.file, "-") == 0) &&
                     isatty(STDIN_FILENO);
    sh.color = st.color && sh.interactive && isatty(STDOUT_FILENO);
    if ((sh.session = open_session(&st, &sh)) == NULL) {
        settings_free(&st);
        return EXIT_FAILURE;
    }
    sigint_install(sh.session);
    rc = run(&sh, &st);
    signal(SIGINT, SIG_DFL);
    aa_session_free(sh.session);
    aa_shutdown();
    buf_free(&sh.capture);
    settings_free(&st);
    rc = check_stdout(&sh, rc);
    /* Killed by Ctrl-C: die of SIGINT, so that a calling shell stops. */
    if (sh.killed) {
        fflush(NULL);
        raise(SIGINT);
    }
    return rc;
}
