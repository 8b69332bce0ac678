/*
 * rule.h -- which conformance cases apply to a runner (aa-runner-check).
 *
 * A runner NAME belongs to a family F, the async library its cells speak:
 * asyncio, trio or curio (rule_family).  A case applies to NAME when all of
 * these hold (docs/aa-runner-check.md says the same for users):
 *   1. its runner (asyncio when it names none) is F; or its runner is
 *      asyncio and the case is library-neutral: none of its cells and
 *      "requires:" lines names asyncio, trio or curio (as a word);
 *   2. none of its cells contains "%autoawait" (it switches or prints the
 *      runner, which names the runner in force);
 *   3. none of its cells, "requires:" lines or expectations names the
 *      library of another family;
 *   4. when NAME is not F itself, none of its expectations names F (what a
 *      case expects of "asyncio" by name need not hold of another runner).
 * So a library-neutral case (`async def f(): ...` then `await f()`) applies
 * to every family, and a case written for trio to trio's alone.  The cases
 * that apply run with the session's runner set to NAME, and require F's
 * module besides their own "requires:".
 */
#ifndef AA_RULE_H
#define AA_RULE_H

#include "casefile.h"

/* The families, in the order of the text above; NULL-terminated. */
extern const char *const rule_families[];

/* The family a runner is of by its name alone: the name itself when it is
 * one, else NULL. */
const char *rule_family(const char *name);

/* 1 when c applies to runner name of family; else 0 and, when why is not
 * NULL, the rule that leaves it out appended to why. */
int rule_applies(const struct kase *c, const char *name, const char *family,
                 sbuf *why);

#endif /* AA_RULE_H */
