/*
 * host_runner.h -- the runner "host", which awaits in the host's own loop.
 */
#ifndef EMBED_HOST_RUNNER_H
#define EMBED_HOST_RUNNER_H

#include "loop.h"

#define HOST_RUNNER_NAME "host"

/*
 * Registers the runner "host" with libautoawait, its sessions awaiting in
 * loop.  Once per process; returns aa_runner_register's status.
 */
int host_runner_register(host_loop *loop);

/*
 * The cell a session runs once, before any other, to define the awaitable
 * the runner understands: host_sleep(seconds).
 */
extern const char host_runner_setup[];

#endif /* EMBED_HOST_RUNNER_H */
