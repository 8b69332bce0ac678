/*
 * autoawait/kernel.h -- a Jupyter kernel on a libautoawait session.
 *
 * libautoawait-kernel serves one session to Jupyter clients (jupyter
 * console, JupyterLab, VS Code, jupyter_client) over the Jupyter messaging
 * protocol 5.3 on ZeroMQ: the client's cells run in the session's
 * namespace, with top-level await on its runner, while the host goes on.
 * The kernel is a guest of the host's event loop, as the session is
 * (autoawait.h, "a guest of the host's loop"): the host watches one more
 * file descriptor, aa_kernel_fd, and calls aa_kernel_dispatch when it is
 * readable; the kernel's cells are started with aa_exec_start and go on
 * in the host's aa_session_dispatch.  Only the heartbeat and the control
 * channel have a thread each, as in ipykernel: a cell that keeps the
 * host's thread busy (`while True: pass`) still looks alive, and is
 * still interrupted by interrupt_request.
 *
 * Every message is signed with HMAC-SHA256 under the connection file's
 * key; one whose signature is wrong or missing is dropped, logged and
 * never answered.  docs/kernel.md has the whole story: the connection
 * file, the requests served, embedding recipes, aa-kernel(1).
 *
 * Link with `pkg-config --libs autoawait-kernel`.  Every function returns
 * an AA_* status of autoawait.h unless it says otherwise.
 */
#ifndef AUTOAWAIT_KERNEL_H
#define AUTOAWAIT_KERNEL_H

#include <stddef.h>

#include "autoawait.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aa_kernel aa_kernel; /* opaque */

/*
 * Receives the kernel's log lines (one line, no "\n"): a message dropped
 * for its signature or its shape, a request the kernel does not serve, a
 * reply it could not send.  NULL: they go to stderr, "aa-kernel: " first.
 * Called from the thread that dispatches the kernel, or from the kernel's
 * control thread (a message dropped there).
 */
typedef void (*aa_kernel_log_fn)(void *userdata, const char *line);

/*
 * Called once, from aa_kernel_dispatch, after the kernel answered a
 * shutdown_request (restart says whether the client asked for a restart):
 * from then on the kernel serves nothing more, and the host frees it with
 * aa_kernel_stop when it likes (it may from here).  The session is the
 * host's and is left alone.  NULL: the kernel only stops serving.
 */
typedef void (*aa_kernel_shutdown_fn)(void *userdata, aa_kernel *k,
                                      int restart);

typedef struct aa_kernel_options {
    size_t size; /* sizeof(aa_kernel_options): lets the struct grow */
    /*
     * The connection file.  When it exists (Jupyter wrote it and started
     * the kernel with it: `aa-kernel -f {connection_file}`) the kernel
     * reads transport, ip, ports and key from it.  Otherwise the kernel
     * picks free ports on ip, a random key, and writes the file (mode
     * 0600) for clients to attach with `jupyter console --existing FILE`.
     * NULL: kernel-PID.json (kernel-PID-N.json for a process's N-th
     * kernel) in Jupyter's runtime directory ($JUPYTER_RUNTIME_DIR, else
     * the runtime folder of Jupyter's data directory: $JUPYTER_DATA_DIR,
     * $XDG_DATA_HOME/jupyter or ~/.local/share/jupyter), made 0700 when
     * missing, where `jupyter console --existing kernel-PID.json` looks.
     */
    const char *connection_file;
    const char *ip;        /* a file the kernel writes: "127.0.0.1" (default) */
    const char *transport; /* ... "tcp" (default) or "ipc" (ip is then a
                              path prefix: ip-1 ... ip-5) */
    aa_kernel_log_fn log;  /* NULL: stderr */
    aa_kernel_shutdown_fn shutdown; /* NULL: stop serving */
    void *userdata;                 /* handed to log and shutdown */
} aa_kernel_options;

/*
 * Fills *opts with the defaults, size included.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API void aa_kernel_options_init(aa_kernel_options *opts);

/*
 * Serves session s: binds the five channels, writes the connection file
 * when it does not exist, starts the heartbeat, and from then on sends
 * what the session's cells write (while a client's cell runs) to the
 * client, and asks the client for input() in a client's cell
 * (aa_session_set_write and aa_session_set_input; aa_kernel_stop gives
 * the host's write callback back, and input() of the process).  Writes
 * made while no client's cell runs go on to the host's own write
 * callback; with none (aa-kernel), to the client, as ipykernel sends a
 * background task's output.  input() in the host's own cells reads
 * stdin as before.  Returns at once; requests are served by
 * aa_kernel_dispatch.  One kernel per session.  On failure *out is NULL
 * and aa_kernel_errmsg says why (the file, the port, the JSON).
 * Thread: the one that dispatches the session | GIL: taken | Errors:
 * AA_EINVAL (NULLs, a bad option, a malformed connection file), AA_EBUSY
 * (s is served already, or a port is taken), AA_ENOMEM, AA_ENOTFOUND (the
 * file cannot be read or written)
 */
AA_API int aa_kernel_start(aa_session *s, const aa_kernel_options *opts,
                           aa_kernel **out);

/*
 * The message of the last aa_kernel_start that failed on this thread; ""
 * when none did.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_kernel_errmsg(void);

/*
 * The path of the connection file (the option's, or the one the kernel
 * made); valid as long as k.
 * Thread: any | GIL: not needed | Errors: none
 */
AA_API const char *aa_kernel_connection_file(const aa_kernel *k);

/*
 * A file descriptor that is readable whenever the kernel has work for
 * aa_kernel_dispatch: a request on shell, a queued request once the cell
 * before it has ended, output a cell left without a line's end (sent
 * 20 ms later), a cell that waits for the host's own cell to end (tried
 * every 10 ms).  The same fd for
 * the kernel's life, owned by it (never close it); >= 3, close-on-exec.
 * Watch it for reading, beside aa_session_fd of the session; no timer is
 * needed.
 * Thread: any | GIL: not needed | Errors: AA_EINVAL (k NULL)
 */
AA_API int aa_kernel_fd(aa_kernel *k);

/*
 * Serves what is ready and returns; never blocks, but for a cell's input()
 * (which waits for the client's reply as Python's input waits for a line).
 * A client's execute_request starts its cell with aa_exec_start (a runner
 * that cannot start cells runs it to its end here; while the host's own
 * cell runs, it starts when that one has ended); requests on shell that
 * come while it runs wait their turn.  The control channel does not wait:
 * its thread answers interrupt_request with aa_interrupt (an awaiting
 * cell is cancelled, a busy one gets KeyboardInterrupt at its next
 * bytecode, input() stops waiting) and shutdown_request at once; the
 * shutdown callback is called from here.
 * Thread: the one that dispatches the session | GIL: taken when there is
 * work | Errors: AA_EINVAL
 */
AA_API int aa_kernel_dispatch(aa_kernel *k);

/*
 * Serves k until a client's shutdown_request, waiting in poll(2) on the
 * kernel's and the session's fds and dispatching both: the loop of a
 * program whose only business is the kernel (aa-kernel).  Returns AA_OK
 * after the shutdown was answered (the shutdown callback called), or a
 * failure of the dispatches.
 * Thread: the one that dispatches the session | GIL: released while
 * waiting | Errors: AA_EINVAL, AA_EBUSY
 */
AA_API int aa_kernel_run(aa_kernel *k);

/*
 * Stops serving and frees k: a client's cell still running is interrupted
 * and waited for, the sockets are closed (the connection file is left, as
 * it was given or written), and the session gets back the write and input
 * callbacks it had.  NULL is fine.
 * Thread: the one that dispatches the session, not from inside one of its
 * cells | GIL: taken | Errors: none
 */
AA_API void aa_kernel_stop(aa_kernel *k);

#ifdef __cplusplus
}
#endif
#endif /* AUTOAWAIT_KERNEL_H */
