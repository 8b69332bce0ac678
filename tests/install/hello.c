/*
 * hello.c -- the install test's outside host: built against an installed
 * libautoawait (pkg-config or the CMake package), it runs one async cell
 * and checks what the public API promises about it.
 */
#include <stdio.h>
#include <string.h>

#include <autoawait/autoawait.h>

static const char cell[] = "import asyncio\n"
                           "await asyncio.sleep(0, result=42)\n";

static int check(int ok, const char *what, const aa_result *r)
{
    if (!ok)
        fprintf(stderr, "hello: %s (status %d, repr %s, message %s)\n", what,
                aa_result_status(r),
                aa_result_repr(r) ? aa_result_repr(r) : "NULL",
                aa_result_message(r) ? aa_result_message(r) : "NULL");
    return ok;
}

int main(void)
{
    aa_session *s = NULL;
    aa_result *r = NULL;
    int rc, ok;

    if ((rc = aa_session_new(&s, NULL)) != AA_OK) {
        fprintf(stderr, "hello: aa_session_new: %s\n", aa_strerror(rc));
        return 1;
    }
    rc = aa_exec(s, cell, &r);
    ok = check(rc == AA_OK, "status is not AA_OK", r) &&
         check(aa_result_is_async(r) == 1, "the cell did not run async", r) &&
         check(aa_result_repr(r) && strcmp(aa_result_repr(r), "42") == 0,
               "repr is not 42", r);
    if (ok)
        printf("%s\n", aa_result_repr(r));
    aa_result_free(r);
    aa_session_free(s);
    aa_shutdown();
    return ok ? 0 : 1;
}
