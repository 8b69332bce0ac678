/* aa_runner_selector.so: asyncio on a SelectorEventLoop in debug mode (slow
 * callbacks and never-awaited coroutines reported).  The rest, one loop per
 * session across cells, interrupts and the host's idle time, is the SDK's
 * asyncio family (docs/runner-plugins.md, "The runner SDK"). */
#include <autoawait/runner-sdk.h>

/* Makes the session's loop: a new reference, or NULL with an exception. */
static PyObject *new_loop(void *userdata)
{
    PyObject *asyncio = aa_sdk_import("asyncio"), *loop = NULL, *r = NULL;

    (void)userdata;
    if (asyncio != NULL)
        loop = PyObject_CallMethod(asyncio, "SelectorEventLoop", NULL);
    if (loop != NULL)
        r = PyObject_CallMethod(loop, "set_debug", "O", Py_True);
    if (r == NULL)
        Py_CLEAR(loop);
    Py_XDECREF(r);
    Py_XDECREF(asyncio);
    return loop;
}

static const aa_sdk_asyncio selector = {"selector", NULL, new_loop, NULL};
AA_SDK_ASYNCIO_PLUGIN(selector);
