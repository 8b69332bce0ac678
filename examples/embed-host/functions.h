/*
 * functions.h -- the host functions embed-host defines for its cells:
 * host.log(text), host.counts() and `await host.sleep(seconds)`, in an
 * importable module host (see functions.c).
 */
#ifndef EMBED_HOST_FUNCTIONS_H
#define EMBED_HOST_FUNCTIONS_H

#include <autoawait/autoawait.h>

#include "loop.h"

/*
 * Defines them in session s, each with loop as its userdata.  Call it from
 * the thread that turns the loop: the only one they may be called on.
 * Returns aa_define's status, said on stderr when it fails.
 */
int functions_define(aa_session *s, host_loop *loop);

#endif /* EMBED_HOST_FUNCTIONS_H */
