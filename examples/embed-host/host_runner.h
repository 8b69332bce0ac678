/*
 * host_runner.h -- the runner "host": a runner of the host's own, a guest
 * of its loop, for `%autoawait host`.
 */
#ifndef EMBED_HOST_RUNNER_H
#define EMBED_HOST_RUNNER_H

#include "loop.h"

#define HOST_RUNNER_NAME "host"

/*
 * Registers the runner "host" with libautoawait; its host_sleep answers
 * the ticks of loop.  Once per process; returns aa_runner_register's
 * status.
 */
int host_runner_register(host_loop *loop);

/*
 * The cell a session runs once, before any other, to define the awaitable
 * the runner understands: host_sleep(seconds).  Pure Python: no extension
 * module is needed.
 */
extern const char host_runner_setup[];

#endif /* EMBED_HOST_RUNNER_H */
