/*
 * magic.c -- the library's own %magics, on a cell's first line.
 *
 * Only %autoawait lives here (IPython's spelling and messages): with no
 * argument it prints the state; on/off/true/false in any case turn
 * top-level await on or off; a runner name switches the session's runner
 * and turns autoawait on.  Anything else starting with '%' is left to the
 * Python compiler, which calls it what it is.  Console magics (%time ...)
 * belong to the console, not here.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAGIC "%autoawait"
#define MAGIC_LEN (sizeof MAGIC - 1)

static int print_state(aa_session *s)
{
    char line[AA__NAME_MAX + 64];
    const char *runner = aa_session_runner(s);

    snprintf(line, sizeof line, "autoawait is `%s`, and set to use `%s`\n",
             s->autoawait ? "on" : "off", runner != NULL ? runner : "none");
    return aa__output_write(line);
}

static int autoawait_magic(aa_session *s, const char *arg)
{
    if (arg[0] == '\0')
        return print_state(s);
    if (strcasecmp(arg, "on") == 0 || strcasecmp(arg, "true") == 0) {
        s->autoawait = 1;
        return 0;
    }
    if (strcasecmp(arg, "off") == 0 || strcasecmp(arg, "false") == 0) {
        s->autoawait = 0;
        return 0;
    }
    if (!aa__runner_name_ok(arg)) {
        PyErr_Format(PyExc_ValueError,
                     "%%autoawait: '%s' is not on, off, true, false or a "
                     "runner name ([a-z0-9_]+)",
                     arg);
        return -1;
    }
    if (aa__session_use_runner(s, arg) != AA_OK) {
        PyErr_Format(PyExc_ValueError, "%%autoawait %s: %s", arg, s->errmsg);
        s->errmsg[0] = '\0';
        return -1;
    }
    s->autoawait = 1;
    return 0;
}

/*
 * Handles a library magic on the first line of src.  Returns 0 when the
 * line is not one (nothing done), 1 when it was handled, -1 when it failed
 * with a Python exception set.  *eol gets the length of the line.
 */
int aa__magic_try(aa_session *s, const char *src, size_t len, size_t *eol)
{
    const char *p = src, *end, *nl = memchr(src, '\n', len);
    char arg[256];
    size_t n;

    *eol = nl != NULL ? (size_t)(nl - src) : len;
    end = src + *eol;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return 0;
    p += MAGIC_LEN;
    if (p < end && !isspace((unsigned char)*p))
        return 0; /* %autoawaitx is some other word */
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    n = (size_t)(end - p);
    if (n >= sizeof arg) {
        PyErr_SetString(PyExc_ValueError, "%autoawait: argument too long");
        return -1;
    }
    memcpy(arg, p, n);
    arg[n] = '\0';
    return autoawait_magic(s, arg) < 0 ? -1 : 1;
}
