/*
 * uvloop.c -- the uvloop runner: the SDK's asyncio family with uvloop's
 * loop (libuv underneath), uvloop.new_event_loop().  Everything else is
 * the asyncio runner's: a loop per session kept across cells, tasks in the
 * session's Context, interrupt as cancellation, a guest of the host's loop.
 * uvloop's loop has no ready queue nor timer heap Python can read: as a
 * guest it is watched through libuv's descriptor and stepped on a schedule
 * (docs/runner-plugins.md, "A loop without a ready queue").
 */
#include <autoawait/runner-sdk.h>

static const aa_sdk_asyncio uvloop_family = {
    .name = "uvloop",
    .factory = "uvloop:new_event_loop",
};

AA_SDK_ASYNCIO_PLUGIN(uvloop_family);
