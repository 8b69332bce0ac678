/*
 * asyncio.c -- the asyncio runner: the SDK's asyncio family
 * (autoawait/runner-sdk.h, runners/sdk/asyncio.c) with asyncio's own loop,
 * asyncio.new_event_loop().  docs/runner-plugins.md says what it does.
 */
#include <autoawait/runner-sdk.h>

static const aa_sdk_asyncio asyncio_family = {
    .name = "asyncio",
    .factory = "asyncio:new_event_loop",
};

AA_SDK_ASYNCIO_PLUGIN(asyncio_family);
