/*
 * history.c -- the console's history: ~/.aa_shell_history, mode 0600.
 *
 * One entry is one whole cell, however many lines it has, so that Up
 * brings back a whole `async with` block.  In the file an entry is one
 * line, with "\n" standing for a newline and "\\" for a backslash.  Each
 * cell is appended as it runs (one write, O_APPEND), so two consoles at
 * once lose nothing and a console that dies keeps what it ran.  The file
 * is rewritten with its last HISTORY_MAX entries once it has twice that.
 * Line editing itself is libedit's (editor.c).
 *
 * The file is the user's own or it is not used: whoever can write its
 * folder must not make the console write anywhere else.  Every open is
 * O_NOFOLLOW (and O_NONBLOCK, so that a FIFO cannot hang it), and what it
 * opened must be a regular file of the user with one link; else the
 * history file is off for the run, with one warning.  The compaction
 * writes a file of its own (mkstemp, beside the history) and renames it
 * over.  OpenSSH's StrictModes likewise refuses the user's files when
 * someone else could have put them there.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <histedit.h>

#include "shell.h"

#define HISTORY_MAX 2000
#define HISTORY_NAME ".aa_shell_history"

static History *hist;
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
    HistEvent ev;

    history(hist, &ev, H_ENTER, entry);
    free(last_entry);
    last_entry = xstrdup(entry);
}

/* The history file is off for this run: says why, once. */
static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void refuse(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: history off: %s ", PROGNAME, history_path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fflush(stderr);
    free(history_path);
    history_path = NULL;
}

/*
 * Opens the history file with flags, and only if it is the user's own
 * regular file, which it then makes mode 0600.  -1 if it is not there
 * (errno ENOENT) or was refused (the history file is then off).
 */
static int open_history(int flags)
{
    struct stat st;
    int fd =
        open(history_path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return -1;
        if (lstat(history_path, &st) == 0 && S_ISLNK(st.st_mode))
            refuse("is a symbolic link");
        else if (e == ENXIO) /* a FIFO without a reader */
            refuse("is not a regular file");
        else
            refuse("cannot be opened: %s", strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0)
        refuse("cannot be read: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        refuse("is not a regular file");
    else if (st.st_uid != geteuid())
        refuse("is owned by uid %ld, not by you (uid %ld)", (long)st.st_uid,
               (long)geteuid());
    else if (st.st_nlink != 1)
        refuse("has %ld hard links", (long)st.st_nlink);
    else if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
        refuse("cannot be made mode 0600: %s", strerror(errno));
    if (history_path == NULL) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/*
 * Keeps the last HISTORY_MAX entries: a new file of our own, made beside
 * the history by mkstemp, renamed over it once all of it is written.
 */
static void compact(char **entries, size_t n)
{
    struct buf tmp = {NULL, 0, 0}, text = {NULL, 0, 0};
    size_t i = n > HISTORY_MAX ? n - HISTORY_MAX : 0;
    FILE *f = NULL;
    int fd = -1, ok;

    for (; i < n; i++)
        encode(&text, entries[i]);
    if (buf_printf(&tmp, "%s.XXXXXX", history_path) == 0)
        fd = mkstemp(tmp.data);
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL)
            close(fd);
    }
    if (f != NULL) {
        ok = fwrite(text.data ? text.data : "", 1, text.len, f) == text.len;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp.data, history_path) != 0)
            unlink(tmp.data);
    } else if (fd >= 0) {
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

History *history_open(void)
{
    const char *home = home_dir();
    struct buf path = {NULL, 0, 0};
    char **entries = NULL;
    size_t n = 0, i;
    HistEvent ev;
    FILE *f;
    int fd;

    if ((hist = history_init()) == NULL)
        return NULL;
    history(hist, &ev, H_SETSIZE, HISTORY_MAX);
    if (home == NULL || buf_printf(&path, "%s/%s", home, HISTORY_NAME) != 0)
        return hist;
    history_path = path.data;
    if ((fd = open_history(O_RDONLY)) < 0)
        return hist;
    if ((f = fdopen(fd, "r")) == NULL) {
        close(fd);
        return hist;
    }
    n = read_entries(f, &entries);
    fclose(f);
    for (i = n > HISTORY_MAX ? n - HISTORY_MAX : 0; i < n; i++)
        remember(entries[i]);
    if (n > 2 * HISTORY_MAX)
        compact(entries, n);
    for (i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
    return hist;
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
    if (history_path != NULL &&
        (fd = open_history(O_WRONLY | O_APPEND | O_CREAT)) >= 0) {
        encode(&line, entry.data);
        write_all(fd, line.data, line.len);
        close(fd);
    }
    buf_free(&line);
    buf_free(&entry);
}

void history_close(void)
{
    if (hist != NULL)
        history_end(hist);
    hist = NULL;
    free(history_path);
    free(last_entry);
    history_path = last_entry = NULL;
}
