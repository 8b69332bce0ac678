/*
 * status.c -- status texts, the version, option defaults.
 *
 * Owns the one table of statuses (AA_STATUS_MAP in autoawait.h) turned into
 * text, and the defaults of aa_options.  Needs no interpreter and no GIL.
 */
#include "internal.h"

#include <string.h>

const char *aa_strerror(int status)
{
    switch (status) {
#define AA__STATUS_CASE(name, value, text)                                     \
    case value:                                                                \
        return #name ": " text;
        AA_STATUS_MAP(AA__STATUS_CASE)
#undef AA__STATUS_CASE
    default:
        return "unknown status";
    }
}

/* The message of the last failure on this thread with no session to keep
 * it (aa_session_new, aa_runner_register). */
_Thread_local char aa__thread_errmsg[AA__ERRMSG_SIZE];

const char *aa_errmsg(void)
{
    return aa__thread_errmsg;
}

const char *aa_version(void)
{
    return AA_VERSION_STRING;
}

void aa_options_init(aa_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->autoawait = 1;
    opts->runner = "asyncio";
}
