/*
 * casefile.h -- the conformance cases as data: what caserun.c runs.
 *
 * casefile.c reads *.cases files (or their text, compiled into a program)
 * and the PENDING list into these structs and can print them back
 * (--dump); it knows the format and nothing of how a case is run, which is
 * caserun.c's.  The small string helpers the files share live here too.
 * Memory: everything hangs off a struct suite, freed by suite_free; the
 * helpers exit(2) when memory runs out, which a test program may do.
 */
#ifndef AA_TESTS_CASEFILE_H
#define AA_TESTS_CASEFILE_H

#include <stddef.h>

/* A growable byte string, always NUL-terminated once anything is added. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

enum key {
    K_STATUS,
    K_ASYNC,
    K_REPR,
    K_EXCEPTION,
    K_MESSAGE,
    K_TRACEBACK,
    K_TRACEBACK_NOT,
    K_STDOUT,
    K_STDOUT_EXACT,
    K_EXIT_CODE,
    K_COUNT
};

struct expect {
    enum key key;
    char *value; /* unescaped; NULL for "repr: <none>" */
    size_t len;
    int num; /* status, async flag or exit code */
    int line;
};

struct cell {
    sbuf src;
    int may_fail; /* "--- cell !" */
    int line;
};

struct kase {
    char *title;
    const char *file; /* display name, owned by the suite */
    int line;
    char *runner; /* NULL: the default */
    int autoawait;
    int has_autoawait;
    char **modules; /* "requires:" lines */
    size_t nmodules, capmodules;
    struct cell *cells;
    size_t ncells, capcells;
    struct expect *expects;
    size_t nexpects, capexpects;
    int pending;
};

struct suite {
    struct kase *cases;
    size_t ncases, capcases;
    char **files; /* display names */
    size_t nfiles, capfiles;
};

extern const char *const key_names[K_COUNT];

/* Allocation that never answers NULL (it exits instead). */
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
/* Makes room in an array of elem-sized items for item number n. */
void *grow(void *arr, size_t *cap, size_t n, size_t elem);

void sb_add(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void sb_printf(sbuf *b, const char *fmt, ...);
/* Appends s as a C string literal, so every byte of it can be seen. */
void sb_quoted(sbuf *b, const char *s, size_t n);
/* Appends a C string quoted, or NULL. */
void sb_value(sbuf *b, const char *s);
/* Appends text as an indented block under a label. */
void sb_block(sbuf *b, const char *label, const char *s, size_t n);
/* Appends the name of a status, e.g. "AA_EXCEPTION (1)". */
void sb_status(sbuf *b, int st);
void sb_free(sbuf *b);
int contains(const char *hay, size_t hn, const char *needle, size_t nn);

/* Appends the cases of a file to su; -1 after printing file:line: error. */
int parse_file(struct suite *su, const char *path);
/* The same for the text of a case file, len bytes; name is the file's name
 * in messages and in the cases' file field (its last component). */
int parse_text(struct suite *su, const char *name, const char *text,
               size_t len);
/* Marks the cases listed in a PENDING file; -1 when it names a case that
 * su does not have (or one twice).  missing_ok: no file is no list. */
int load_pending(struct suite *su, const char *path, int missing_ok);
/* Prints a case as read, every byte of its cells visible. */
void dump_case(const struct kase *c);
void suite_free(struct suite *su);

#endif /* AA_TESTS_CASEFILE_H */
