/*
 * fuzz_execn.c -- aa_execn on arbitrary bytes.
 *
 * Every input is one cell, bytes as they come: NUL bytes, invalid UTF-8,
 * up to -max_len of them.  The library must answer with a status and a
 * result that keep the header's promises (fz_exec checks them), and the
 * session must run the next input; fz_settle checks that it still shows
 * "2" for 1+1.
 */
#include "fuzz_session.h"

static aa_session *s;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s = fz_session();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_exec(s, (const char *)data, size, NULL);
    fz_settle(s);
    return 0;
}
