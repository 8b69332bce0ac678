/*
 * history.c -- the console's history: ~/.aa_shell_history, mode 0600.
 *
 * One entry is one whole cell, however many lines it has, so that Up
 * brings back a whole `async with` block.  In the file an entry is one
 * line, with "\n" standing for a newline and "\\" for a backslash.  Each
 * cell is appended as it runs (one write, O_APPEND), so two consoles at
 * once lose nothing and a console that dies keeps what it ran.  The file
 * is rewritten with its last HISTORY_MAX entries once it has twice that.
 * Line editing itself is libedit's (console.c).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "shell.h"

#define HISTORY_MAX 2000
#define HISTORY_NAME ".aa_shell_history"

static char *history_path;
static char *last_entry;

/* "a\nb" as a\nb on one line; and back. */
static void encode(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, s, 1);
    }
    buf_puts(out, "\n");
}

static void decode(char *s)
{
    char *w = s;

    for (; *s && *s != '\n'; s++) {
        if (*s == '\\' && s[1] == 'n') {
            *w++ = '\n';
            s++;
        } else if (*s == '\\' && s[1] == '\\') {
            *w++ = '\\';
            s++;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

static void remember(const char *entry)
{
    add_history(entry);
    free(last_entry);
    last_entry = xstrdup(entry);
}

/* Opens the file for appending, creating it 0600 (whatever the umask). */
static int open_for_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0600);

    if (fd >= 0) {
        fchmod(fd, 0600);
        return fd;
    }
    return errno == EEXIST ? open(path, O_WRONLY | O_APPEND) : -1;
}

/* Keeps the last HISTORY_MAX entries: a new file renamed over the old. */
static void compact(char **entries, size_t n)
{
    struct buf tmp = {NULL, 0, 0}, text = {NULL, 0, 0};
    size_t i = n > HISTORY_MAX ? n - HISTORY_MAX : 0;
    int fd;

    for (; i < n; i++)
        encode(&text, entries[i]);
    buf_printf(&tmp, "%s.%ld.tmp", history_path, (long)getpid());
    fd = tmp.data ? open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
    if (fd >= 0) {
        fchmod(fd, 0600);
        write_all(fd, text.data ? text.data : "", text.len);
        if (close(fd) != 0 || rename(tmp.data, history_path) != 0)
            unlink(tmp.data);
    }
    buf_free(&tmp);
    buf_free(&text);
}

static size_t read_entries(FILE *f, char ***out)
{
    char *line = NULL, **entries = NULL;
    size_t cap = 0, n = 0, room = 0;

    while (getline(&line, &cap, f) >= 0) {
        decode(line);
        if (line[0] == '\0')
            continue;
        if (n == room) {
            char **p = realloc(entries, (room = room ? 2 * room : 256) *
                                            sizeof *entries);
            if (p == NULL)
                break;
            entries = p;
        }
        entries[n++] = xstrdup(line);
    }
    free(line);
    *out = entries;
    return n;
}

void history_open(void)
{
    const char *home = home_dir();
    struct buf path = {NULL, 0, 0};
    char **entries = NULL;
    size_t n = 0, i;
    FILE *f;

    stifle_history(HISTORY_MAX);
    if (home == NULL || buf_printf(&path, "%s/%s", home, HISTORY_NAME) != 0)
        return;
    history_path = path.data;
    if ((f = fopen(history_path, "r")) == NULL)
        return;
    n = read_entries(f, &entries);
    fclose(f);
    for (i = n > HISTORY_MAX ? n - HISTORY_MAX : 0; i < n; i++)
        remember(entries[i]);
    if (n > 2 * HISTORY_MAX)
        compact(entries, n);
    for (i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
}

void history_add_cell(const char *cell)
{
    struct buf entry = {NULL, 0, 0}, line = {NULL, 0, 0};
    int fd;

    /* A cell is kept without the blank lines that ended its blocks. */
    buf_puts(&entry, cell);
    while (entry.len > 0 && (entry.data[entry.len - 1] == '\n' ||
                             entry.data[entry.len - 1] == ' '))
        entry.data[--entry.len] = '\0';
    if (entry.len == 0 ||
        (last_entry != NULL && strcmp(last_entry, entry.data) == 0)) {
        buf_free(&entry);
        return;
    }
    remember(entry.data);
    if (history_path != NULL && (fd = open_for_append(history_path)) >= 0) {
        encode(&line, entry.data);
        write_all(fd, line.data, line.len);
        close(fd);
    }
    buf_free(&line);
    buf_free(&entry);
}

void history_close(void)
{
    free(history_path);
    free(last_entry);
    history_path = last_entry = NULL;
}
