/*
 * batch.c -- the modes that run without a person at the keyboard: -c CODE
 * (one cell), FILE (the whole file as one cell, so that top-level await
 * works in scripts) and standard input that is not a terminal (read like
 * the console reads it, cell by cell, with no prompts).
 *
 * Exit statuses: 0 when everything ran; 1 after an uncaught exception (for
 * piped input: when any cell raised, after running the rest, as a console
 * would, unless the exception was standard output failing: that stops it);
 * the code of a SystemExit, which also stops piped input.  Ctrl-C
 * while a cell runs interrupts it and ends the run (main then dies of
 * SIGINT, as python3 does, so that a calling shell stops too).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shell.h"

/*
 * Can src never be incomplete, whatever Python makes of it?  Python asks
 * for more only at the end of a bracket, a string, a continued line or a
 * block header (each needs one of these characters), after a decorator,
 * or after an indented line; a %magic has rules of its own.  One line
 * without any of that runs as it stands (or fails to compile, which is
 * what an invalid cell does too).  Piped input is mostly such lines, and
 * this spares each a parse: a fifth of what a tiny cell costs.
 */
static int is_plain_line(const char *src)
{
    size_t n = strcspn(src, "\n");

    if (src[n] == '\n' && src[n + 1] != '\0')
        return 0;
    return n > 0 && src[0] != ' ' && src[0] != '%' &&
           strcspn(src, "([{'\"\\:@#\t\f\r\n") == n;
}

int cell_state(struct shell *sh, const char *src, int *indent)
{
    size_t head;
    int state;

    if (indent != NULL)
        *indent = 0;
    if (is_plain_line(src))
        return AA_INPUT_COMPLETE;
    head = cell_magic_line(src);
    /* The library calls any '%' line complete; a %%magic wants its body. */
    if (head > 0) {
        if (is_blank_line(src + head))
            return AA_INPUT_INCOMPLETE;
        src += head;
    }
    state = aa_is_complete(sh->session, src, indent);
    return state < 0 ? AA_INPUT_INVALID : state; /* let the cell say why */
}

static int batch_status(const struct shell *sh, int status)
{
    if (sh->killed)
        return EXIT_SIGINT;
    return cell_exit_status(sh, status);
}

int run_code(struct shell *sh, const char *code)
{
    return batch_status(sh, run_cell(sh, code, strlen(code)));
}

/* A script shows no Out[1]: python3 prints nothing for a last expression. */
int run_script(struct shell *sh, const char *path)
{
    aa_result *r = NULL;
    int status;

    sh->count++;
    fflush(stdout);
    sigint_count = 0;
    sigint_running(1);
    status = aa_exec_file(sh->session, path, &r);
    sigint_running(0);
    if (status == AA_ENOTFOUND && r == NULL) {
        fprintf(stderr, "%s: %s\n", PROGNAME, aa_session_errmsg(sh->session));
        return EXIT_USAGE;
    }
    report_result(sh, r, status, 1, 0);
    aa_result_free(r);
    return batch_status(sh, status);
}

/* Appends a line to the cell, ending it with '\n' if the input did not. */
static int add_line(struct buf *cell, const char *line, size_t n)
{
    if (buf_append(cell, line, n) != 0)
        return -1;
    return n > 0 && line[n - 1] == '\n' ? 0 : buf_append(cell, "\n", 1);
}

int run_piped(struct shell *sh)
{
    struct buf cell = {NULL, 0, 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status;

    while (!sh->stop) {
        errno = 0;
        if ((n = getline(&line, &cap, stdin)) < 0) {
            if (errno == EINTR && sigint_count > 0)
                sh->stop = sh->killed = 1;
            break;
        }
        if (cell.len == 0 && is_blank_line(line))
            continue;
        if (add_line(&cell, line, (size_t)n) != 0) {
            fprintf(stderr, "%s: out of memory\n", PROGNAME);
            exit(EXIT_FAILURE);
        }
        if (cell_state(sh, cell.data, NULL) == AA_INPUT_INCOMPLETE)
            continue;
        status = run_cell(sh, cell.data, cell.len);
        buf_reset(&cell);
        /* Standard output is gone (its reader exited): python3 reading a
         * script stops at the BrokenPipeError the script lets out, and
         * the rest would print into nothing, forever for endless input. */
        if (!sh->stop && output_gone(sh, status)) {
            sh->stop = 1;
            sh->exit_code = EXIT_FAILURE;
        }
    }
    /* Input that ends inside a cell runs what there is of it. */
    if (!sh->stop && cell.len > 0)
        run_cell(sh, cell.data, cell.len);
    free(line);
    buf_free(&cell);
    if (sh->killed)
        return EXIT_SIGINT;
    if (sh->stop)
        return sh->exit_code;
    return sh->failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
