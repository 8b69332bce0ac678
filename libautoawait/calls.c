/*
 * calls.c -- the library's calls: the table a plugin's entry is handed
 * (aa_runner_host), and the state its calls keep.
 *
 * The table is the library's own and outlives every use of it, as
 * runner.h promises: a plugin may keep the pointer its entry was given.
 * It is the same for every plugin but for name, the name the runner is
 * loaded under, so there is one table per name, made when that name is
 * first loaded and never freed (the registry's entries never are either).
 *
 * set_error keeps one message per thread.  Whoever calls the entry
 * (loader.c) or open (runner.c) clears it before and reads it after, so a
 * message set at any other time is never shown.  write needs to know
 * whose runner call is in progress on this thread: runner.c's wrappers
 * say so through aa__calls_begin and aa__calls_end.  Where the bytes go
 * from there is output.c's business.
 */
#include "internal.h"
#include "pyversion.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- set_error */

static _Thread_local char message[AA__ERRMSG_SIZE];

static void set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
    va_list ap;

    if (fmt == NULL) {
        message[0] = '\0';
        return;
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
}

void aa__calls_clear_error(void)
{
    message[0] = '\0';
}

const char *aa__calls_error(void)
{
    return message[0] != '\0' ? message : NULL;
}

/* ----------------------------------------------------------------- write */

/* The session whose runner call is in progress on this thread, or NULL. */
static _Thread_local aa_session *calling;

aa_session *aa__calls_begin(aa_session *s)
{
    aa_session *outer = calling;

    calling = s;
    return outer;
}

void aa__calls_end(aa_session *outer)
{
    calling = outer;
}

static int host_write(int stream, const char *text, size_t len)
{
    if ((stream != 1 && stream != 2) || (text == NULL && len > 0))
        return AA_EINVAL;
    if (calling == NULL)
        return AA_ENOTFOUND;
    if (len > 0)
        aa__output_raw(calling, stream, text, len);
    return AA_OK;
}

/* ----------------------------------------------------------------- table */

static const aa_runner_host library_calls = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner_host),
    .library_version = AA_VERSION_STRING,
    .name = NULL,
    .own_imports = aa__own_call,
    .python_hexversion = AA__PY_HEXVERSION,
    .python_version = PY_VERSION,
    .set_error = set_error,
    .write = host_write,
};

typedef struct table {
    struct table *next;
    char name[AA__NAME_MAX];
    aa_runner_host host;
} table;

static table *tables; /* guarded by the registry's lock */

/* The table for the runner called name; NULL when out of memory.  The
 * caller holds the registry's lock (runner.c). */
const aa_runner_host *aa__calls_table(const char *name)
{
    table *t;

    for (t = tables; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return &t->host;
    if ((t = calloc(1, sizeof *t)) == NULL)
        return NULL;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->host = library_calls;
    t->host.name = t->name;
    t->next = tables;
    tables = t;
    return &t->host;
}
