/*
 * internal.h -- what the library's files share and hosts never see.
 *
 * The session and result structs live here, with the aa__ functions each
 * file offers the others.  Nothing here is exported (exports.map keeps the
 * library to aa_*), and nothing here may be used by examples/ or bindings/.
 */
#ifndef AA_INTERNAL_H
#define AA_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <ffi.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "autoawait/autoawait.h"
#include "autoawait/runner.h"

#define AA__ERRMSG_SIZE 1024
#define AA__NAME_MAX 64

extern _Thread_local char aa__thread_errmsg[AA__ERRMSG_SIZE];

/* ---------------------------------------------------------------- registry */

typedef struct aa__runner_entry {
    struct aa__runner_entry *next;
    char name[AA__NAME_MAX];
    aa_runner vt;   /* the fields the runner's struct_size covers; 0 beyond */
    void *userdata; /* for open */
    void *dl;       /* the plugin's handle; NULL when registered in process */
    char *path;     /* the plugin's file; NULL when registered in process */
} aa__runner_entry;

/* What the loader hands back for a plugin it opened. */
typedef struct aa__loaded {
    const aa_runner *vt; /* as the plugin's entry gave it */
    void *dl;            /* its handle */
    int fd;              /* the file, open for the life of the plugin */
    char fdpath[32];     /* /proc/self/fd/N, the name it was dlopen'ed by */
    char path[4096];     /* where it was found */
} aa__loaded;

int aa__runner_name_ok(const char *name);
int aa__runner_check(const aa_runner *r, const char *name, const char *doing,
                     aa_runner *copy, char *err, size_t errlen);
int aa__registry_find(const char *name, const aa__runner_entry **out, char *err,
                      size_t errlen);
aa__runner_entry *aa__runner_entry_new(const char *name, const aa_runner *vt,
                                       void *userdata, const char *doing,
                                       int *rc, char *err, size_t errlen);
int aa__registry_add(const char *name, const aa_runner *vt, void *userdata,
                     char *err, size_t errlen);
int aa__loader_load(const char *name, aa__loaded *out, char *err,
                    size_t errlen);
void aa__loader_unload(aa__loaded *l);

/* The library's calls (calls.c): the table a plugin is handed, set_error's
 * message on this thread, and whose runner call is in progress on it. */
const aa_runner_host *aa__calls_table(const char *name);
void aa__calls_clear_error(void);
const char *aa__calls_error(void);
aa_session *aa__calls_begin(aa_session *s);
void aa__calls_end(aa_session *outer);

/* ---------------------------------------------------------------- sessions */

enum { AA__CELL_NONE = 0, AA__CELL_SYNC, AA__CELL_ASYNC };

/* A runner a session has opened: kept until the session ends, so that
 * switching away from asyncio and back finds the same loop. */
typedef struct aa__opened {
    struct aa__opened *next;
    const aa__runner_entry *entry;
    aa_session *session; /* whose it is */
    void *state;
    aa__runner_entry *owned; /* a runner of this session alone, or NULL */
    struct aa_pyrunner *py;  /* the callable behind it, or NULL */
    int fd;                  /* its fd in the session's epoll set, or -1 */
    double due;              /* when it must step: monotonic ms, or -1 */
} aa__opened;

/* Every call into a runner (runner.c): runner.h's rules kept in one place. */
int aa__runner_open(aa__opened *o);
void aa__runner_close(const aa__opened *o);
int aa__runner_enter(const aa__opened *o);
void aa__runner_leave(const aa__opened *o);
PyObject *aa__runner_run(const aa__opened *o, PyObject *coro, PyObject *context,
                         int *broken);
int aa__runner_interrupt(const aa__opened *o);
int aa__runner_can_poll(const aa__opened *o);
int aa__runner_poll(const aa__opened *o, int fd, int timeout_ms);
int aa__runner_is_guest(const aa__opened *o);
int aa__runner_start(const aa__opened *o, PyObject *coro, PyObject *context);
int aa__runner_step(const aa__opened *o);
int aa__runner_collect(const aa__opened *o, PyObject **value, int *broken);
int aa__runner_fd(const aa__opened *o);
int aa__runner_timeout(const aa__opened *o);

/* A display of the value of a cell's last expression: how a compiled
 * cell leaves it (none, the code returns it, the tree's rewrite keeps it
 * under the hidden name, or the optimizer folded it into the constant
 * kept here). */
enum {
    AA__DISPLAY_NONE,
    AA__DISPLAY_RETURNED,
    AA__DISPLAY_KEPT,
    AA__DISPLAY_CONSTANT
};
typedef struct {
    int how;
    PyObject *constant; /* a new reference for AA__DISPLAY_CONSTANT */
} aa__display;

/*
 * One cell on its way: what cell.c compiled, what exec.c needs to finish
 * it (now, or when a started cell ends many dispatches later), and where
 * its result goes.  Everything a cell's layers hand each other is here,
 * never in the session.
 */
typedef struct aa__cell {
    aa_result *r;          /* the result being made */
    PyObject *file;        /* its file name: "<cell-N>" or a script's */
    PyObject *code;        /* compiled, until it runs */
    aa__display d;         /* how its last value is shown */
    int defines;           /* it makes functions or classes */
    int is_async;          /* its code is a coroutine */
    int refuse_blocking;   /* aa_exec_start: an async cell must start */
    int capture;           /* keep value and exc (Session.exec) */
    PyObject *value, *exc; /* what capture keeps */
    aa__opened *runner;    /* the runner a started cell runs on */
    PyObject *escaped;     /* what escaped its loop meanwhile: its end */
    aa_done_fn done;       /* aa_exec_start's callback, or NULL */
    void *userdata;
} aa__cell;

struct aa_session {
    int autoawait;
    aa_write_fn write;
    void *userdata;
    aa_input_fn input;        /* input() of its cells (input.c), or NULL */
    void *input_userdata;     /* handed to input */
    unsigned id;              /* smallest free id: names the cell files */
    unsigned long cells;      /* cells run, for <cell-N> */
    PyObject *ns;             /* globals and locals of every cell */
    PyObject *context;        /* contextvars.Context of every cell */
    PyObject *transformers;   /* autoawait.ast_transformers: a list */
    aa__opened *opened;       /* every runner opened, current first */
    aa__opened *runner;       /* the current one */
    int busy;                 /* a cell runs; guarded by the GIL */
    pthread_t busy_thread;    /* the thread it runs on */
    atomic_int freeing;       /* aa_session_free took it; see session.c */
    int free_pending;         /* freed while busy: freed when the cell ends */
    int held;                 /* aa_session_poll calls that wait on it */
    pid_t pid;                /* the process that made it: see session.c */
    struct aa_session *inner; /* a session whose cell runs in this cell */
    struct aa_session *outer; /* the session whose cell runs this one */
    aa__cell *started;        /* a cell started and not yet ended */
    int epfd;                 /* aa_session_fd: an epoll set */
    int wakefd;               /* an eventfd in it, for wake-ups */
    double due;               /* the earliest runner's due, or -1 */
    int stepping;             /* a started cell's step runs (cell_thread) */
    /* What interrupt.c keeps: the plain fields are guarded by the GIL, the
     * atomic ones are what aa_interrupt, in a signal handler, touches. */
    int cell_kind;             /* AA__CELL_* */
    unsigned long cell_thread; /* PyThread ident of the cell's thread */
    unsigned long cell_seq;    /* cells begun */
    int async_exc_set;         /* an async KeyboardInterrupt is pending */
    int intr_asked;            /* the runner was asked to stop this cell */
    int intr_refused;          /* and answered that it could not */
    int force_pending;         /* KeyboardInterrupt for its next step */
    int intr_started;          /* it uses the process's channel */
    atomic_ulong cell_running; /* cell_seq of the cell running, or 0 */
    atomic_ulong intr_target;  /* the cell aa_interrupt was called for */
    atomic_int intr_senders;   /* aa_interrupt calls between check and send */
    atomic_int intr_closing;   /* the session is ending: send nothing */
    struct aa__def *defs;      /* its host functions (host.c) */
    PyObject *hostmods;        /* {name: module} of them, or NULL */
    char errmsg[AA__ERRMSG_SIZE];
};

int aa__session_use_runner(aa_session *s, const char *name);
int aa__session_choose_runner(aa_session *s, const char *arg);
int aa__session_use_callable(aa_session *s, const char *name, PyObject *fn);
int aa__session_exec(aa_session *s, const char *src, size_t len,
                     const char *path, aa__cell *c);
int aa__session_busy_begin(aa_session *s, aa_session **outer);
void aa__session_busy_end(aa_session *s, aa_session *outer);
int aa__session_end_call(aa_session *s);
void aa__session_finish_started(aa_session *s);
int aa__session_dispatch(aa_session *s);
aa_session *aa__current_session(void);
int aa__live_add(aa_session *s);
void aa__live_remove(const aa_session *s);
int aa__live_claim(aa_session *s);
int aa__live_has(const aa_session *s);
aa_session **aa__live_snapshot(size_t *n);
int aa__session_fail(aa_session *s, int status, const char *fmt, ...);

/* ------------------------------------------------------------------- guest */

int aa__guest_open(aa_session *s);
void aa__guest_close(aa_session *s);
void aa__guest_watch(aa_session *s);
int aa__guest_step(aa_session *s, aa__cell *cell);
int aa__guest_wait(aa_session *s, int fd, int timeout_ms, short *fd_revents,
                   int gil);
void aa__guest_wake(aa_session *s);
int aa__guest_has_work(aa_session *s);
int aa__loop_failed(aa_session *s, const char *runner);
double aa__now_ms(void);

/* ----------------------------------------------------------------- results */

struct aa_result {
    int status;
    int is_async;
    int exit_code;
    char *repr;
    char *exception;
    char *message;
    char *traceback;
};

enum { AA__PHASE_COMPILE, AA__PHASE_RUN };
int aa__result_from_exception(aa__cell *c, aa_result *r, int phase);
int aa__result_set_string(char **field, PyObject *str);
int aa__result_fail(aa_result *r, int status, const char *message);

/* -------------------------------------------------------------- interpreter */

int aa__interp_enter(PyGILState_STATE *gil);
void aa__interp_leave(PyGILState_STATE gil);
unsigned aa__interp_session_added(void);
void aa__interp_session_removed(unsigned id);

/* ----------------------------------------------------------------- imports */

void aa__imports_init(void);
void aa__own_begin(void);
void aa__own_end(void);
PyObject *aa__import(const char *name);
PyObject *aa__own_call(PyObject *(*fn)(void *arg), void *arg);
PyObject *aa__own_function(void);
PyObject *aa__own_source(const char *source, const char *name);
PyObject *aa__builtins_dict(void);

/* ------------------------------------------------------------------- cells */

enum { AA__LAST_OTHER, AA__LAST_EXPR, AA__LAST_UNSURE };
int aa__last_statement(const char *src, size_t len, size_t *start);

int aa__cell_prepare(aa_session *s, const char *src, size_t len,
                     const char *path, aa__cell *c);
void aa__cell_release(aa__cell *c);
PyObject *aa__cell_compile(aa_session *s, const char *src, size_t len,
                           PyObject *file, aa__display *d);
enum { AA__EXEC_DONE, AA__EXEC_STARTED, AA__EXEC_REFUSED };
int aa__exec_begin(aa_session *s, aa__cell *c);
int aa__exec_collect(aa_session *s, aa__cell *c);
PyObject *aa__cell_last_name(void);
int aa__magic_try(aa_session *s, const char *src, size_t len, size_t *eol);
int aa__sources_add(PyObject *file, const char *src, size_t len, int now);
void aa__sources_flush(void);
void aa__sources_drop(PyObject *file);
void aa__sources_forget(aa_session *s);
PyObject *aa__cell_filename(const aa_session *s, unsigned long n);
int aa__cell_filename_is(const aa_session *s, PyObject *file);

/* --------------------------------------------------------------- consoles */

PyObject *aa__completer_lookup(void);

/* ------------------------------------------------------------ the module */

int aa__module_install(void);

/* ------------------------------------------------------------------ output */

int aa__output_make(aa_session *s);
int aa__output_begin(aa_session *s);
void aa__output_end(aa_session *s);
void aa__output_started(aa_session *s);
int aa__output_write(const char *text);
void aa__output_free(aa_session *s);
void aa__output_error(const char *text);
void aa__output_raw(aa_session *s, int stream, const char *text, size_t len);

/* ------------------------------------------------------------------- input */

void aa__input_begin(aa_session *s);
void aa__input_end(aa_session *s, aa_session *outer);
void aa__input_free(aa_session *s);

/* --------------------------------------------------------------- interrupt */

int aa__fd_above_stdio(int fd);
int aa__interrupt_start(aa_session *s);
void aa__interrupt_stop(aa_session *s);
void aa__interrupt_cell_begin(aa_session *s, int kind);
void aa__interrupt_cell_end(aa_session *s);
void aa__interrupt_step_begin(aa_session *s);
void aa__interrupt_step_end(aa_session *s);

/* ------------------------------------------------------- host functions */

#define AA__SIG_MAX 16 /* argument codes of a signature */

/* On x86-64 System V (Linux and the BSDs), a call whose arguments all go
 * in registers (at most 6 integers and pointers, 8 floating values) is
 * made by the library itself, as libffi would make it, without the
 * classification libffi does on every call: see host.c. */
#if defined(__x86_64__) && !defined(_WIN32)
#define AA__DIRECT_CALLS 1
#else
#define AA__DIRECT_CALLS 0
#endif

/* A signature read (signature.c): what a call of the function needs. */
typedef struct aa__sig {
    char ret;                /* the return code */
    char codes[AA__SIG_MAX]; /* the argument codes, in order */
    int ncodes;              /* how many */
    int ncell;               /* the arguments a cell passes (no u, F) */
    int userdata_at;         /* index of u in codes, or -1 */
    int future_at;           /* index of F in codes, or -1: async */
    int nparams;             /* C parameters (y counts two) */
    int direct;              /* called in registers (host.c), not ffi_call */
    int plain;               /* direct, and only i l d u in, v i l d out */
    ffi_type *params[2 * AA__SIG_MAX];
    ffi_cif cif;
} aa__sig;

int aa__sig_parse(const char *text, aa__sig *sig, char *err, size_t errlen);
int aa__sig_is_value(char code);
const char *aa__sig_pytype(char code);

/* A definition (host.c): shared by the functions made from it, and by the
 * futures of its calls, which name it in their messages. */
typedef struct aa__def {
    atomic_int refs;
    struct aa__def *next; /* in its scope: a session's, or the process's */
    char *name;           /* "host.stats" */
    size_t modlen;        /* the module part's length ("host"), or 0 */
    char *sigtext;        /* "J()" */
    aa__sig sig;
    void (*fn)(void);
    void *userdata;
} aa__def;

void aa__def_ref(aa__def *d);
void aa__def_unref(aa__def *d);

/* A C value on its way to Python: a return, or what resolved a future. */
typedef struct aa__cval {
    union {
        int64_t i;
        uint64_t u;
        double d;
        void *p;
    } v;
    const char *text; /* s S j J y Y: the bytes; NULL for None */
    size_t len;
} aa__cval;

/* What aa_raise asked for during a host call or an input callback running
 * on this thread: one on the caller's stack, entered before the call and
 * left after it (calls nest), raised with aa__raise_asked when raised. */
typedef struct aa__raise_slot {
    char *exception, *message;
    int raised;
    int interrupt_ok; /* KeyboardInterrupt may be named: an input callback */
} aa__raise_slot;

aa__raise_slot *aa__raise_enter(aa__raise_slot *slot);
void aa__raise_leave(aa__raise_slot *prev);
void aa__raise_asked(aa__raise_slot *slot);

PyObject *aa__value_to_py(const aa__def *d, char code, const aa__cval *v,
                          const char *what);
PyObject *aa__exception_named(const char *exception, const char *message,
                              size_t len);
int aa__host_types_add(PyObject *module);
int aa__host_session_init(aa_session *s);
void aa__host_session_free(aa_session *s);
void aa__host_install(aa_session *s);

/* Futures (future.c): the library's side of an aa_future. */
typedef struct aa__fut aa__fut;
aa__fut *aa__future_new(aa_session *s, aa__def *d, aa_future **handle);
void aa__future_drop(aa__fut *f);
void aa__future_discard(aa__fut *f);
PyObject *aa__future_object(aa__fut *f);
void aa__futures_session_gone(aa_session *s);
int aa__future_types_add(PyObject *module);

#endif /* AA_INTERNAL_H */
