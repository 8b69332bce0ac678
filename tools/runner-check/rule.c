/*
 * rule.c -- which conformance cases apply to a runner: the rule of rule.h,
 * read off a case's text alone (its runner, cells, "requires:" lines and
 * expectations), so that anyone can check by reading the case what the
 * tool will do with it.  Running the cases is caserun.c's.
 */
#include "rule.h"

#include <string.h>

const char *const rule_families[] = {"asyncio", "trio", "curio", NULL};

/* The runner a case runs on when it names none (aa_options_init's). */
static const char default_runner[] = "asyncio";

const char *rule_family(const char *name)
{
    size_t i;

    for (i = 0; rule_families[i] != NULL; i++)
        if (strcmp(name, rule_families[i]) == 0)
            return rule_families[i];
    return NULL;
}

static int is_word_char(char ch)
{
    return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

/* 1 when text holds word with no letter, digit or '_' right beside it. */
static int names(const char *text, size_t n, const char *word)
{
    size_t wn = strlen(word), i;

    if (text == NULL)
        return 0;
    for (i = 0; i + wn <= n; i++) {
        if (memcmp(text + i, word, wn) != 0)
            continue;
        if ((i == 0 || !is_word_char(text[i - 1])) &&
            (i + wn == n || !is_word_char(text[i + wn])))
            return 1;
    }
    return 0;
}

static int cells_contain(const struct kase *c, const char *needle)
{
    size_t i;

    for (i = 0; i < c->ncells; i++)
        if (contains(c->cells[i].src.p, c->cells[i].src.len, needle,
                     strlen(needle)))
            return 1;
    return 0;
}

static int cells_name(const struct kase *c, const char *word)
{
    size_t i;

    for (i = 0; i < c->ncells; i++)
        if (names(c->cells[i].src.p, c->cells[i].src.len, word))
            return 1;
    return 0;
}

static int requires_name(const struct kase *c, const char *word)
{
    size_t i;

    for (i = 0; i < c->nmodules; i++)
        if (names(c->modules[i], strlen(c->modules[i]), word))
            return 1;
    return 0;
}

/* The key of the first expectation that names word, or NULL. */
static const char *expect_naming(const struct kase *c, const char *word)
{
    size_t i;

    for (i = 0; i < c->nexpects; i++)
        if (names(c->expects[i].value, c->expects[i].len, word))
            return key_names[c->expects[i].key];
    return NULL;
}

/* Says why c is out, when the caller wants to know, and answers 0. */
#define LEAVE_OUT(...)                                                         \
    do {                                                                       \
        if (why != NULL)                                                       \
            sb_printf(why, __VA_ARGS__);                                       \
        return 0;                                                              \
    } while (0)

int rule_applies(const struct kase *c, const char *name, const char *family,
                 sbuf *why)
{
    const char *runner = c->runner != NULL ? c->runner : default_runner;
    const char *key;
    size_t i;

    /* 1. */
    if (strcmp(runner, family) != 0) {
        if (strcmp(runner, default_runner) != 0)
            LEAVE_OUT("a case for the %s runner", runner);
        for (i = 0; rule_families[i] != NULL; i++)
            if (cells_name(c, rule_families[i]) ||
                requires_name(c, rule_families[i]))
                LEAVE_OUT("a case for the %s runner that names %s", runner,
                          rule_families[i]);
    }
    /* 2. */
    if (cells_contain(c, "%autoawait"))
        LEAVE_OUT("switches or prints the runner (%%autoawait)");
    /* 3. */
    for (i = 0; rule_families[i] != NULL; i++) {
        const char *lib = rule_families[i];
        if (strcmp(lib, family) == 0)
            continue;
        if (cells_name(c, lib))
            LEAVE_OUT("a cell names %s", lib);
        if (requires_name(c, lib))
            LEAVE_OUT("requires %s", lib);
        key = expect_naming(c, lib);
        if (key != NULL)
            LEAVE_OUT("its %s expectation names %s", key, lib);
    }
    /* 4. */
    if (strcmp(name, family) != 0) {
        key = expect_naming(c, family);
        if (key != NULL)
            LEAVE_OUT("its %s expectation names %s, and the runner is not "
                      "%s itself",
                      key, family, family);
    }
    return 1;
}
