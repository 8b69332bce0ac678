/*
 * embedded.h -- the conformance case files compiled into aa-runner-check.
 *
 * The build generates the definitions (embed-cases.cmake makes
 * runner-check-cases.c from the .cases files of tests/conformance), so that
 * the installed tool carries its cases and reads no file at run time.
 */
#ifndef AA_EMBEDDED_H
#define AA_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* "core.cases" */
    const char *text; /* the file's bytes, NUL-terminated */
    size_t len;       /* without the NUL */
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_nfiles;

#endif /* AA_EMBEDDED_H */
