/*
 * uvloop.c -- the uvloop runner: the SDK's asyncio family with uvloop's
 * loop (libuv underneath), uvloop.new_event_loop().  Everything else is
 * the asyncio runner's: a loop per session kept across cells, tasks in the
 * session's Context, interrupt as cancellation, a guest of the host's loop.
 * uvloop's loop has no selector whose fd the host could watch: as a guest
 * it is stepped every 10 ms (docs/runner-plugins.md, "The asyncio family").
 */
#include <autoawait/runner-sdk.h>

static const aa_sdk_asyncio uvloop_family = {
    .name = "uvloop",
    .factory = "uvloop:new_event_loop",
};

AA_SDK_ASYNCIO_PLUGIN(uvloop_family);
