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

#include <pthread.h>
#include <stdatomic.h>
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

int aa__runner_name_ok(const char *name);
int aa__runner_check(const aa_runner *r, const char *name, const char *doing,
                     aa_runner *copy, char *err, size_t errlen);
int aa__registry_find(const char *name, const aa__runner_entry **out, char *err,
                      size_t errlen);
aa__runner_entry *aa__runner_entry_new(const char *name, const aa_runner *vt,
                                       void *userdata, const char *doing,
                                       int *rc, char *err, size_t errlen);
int aa__registry_add(const char *name, const aa_runner *vt, void *userdata,
                     void *dl, const char *path, char *err, size_t errlen);
int aa__registry_add_loaded(const char *name, const aa_runner *vt, void *dl,
                            const char *path, char *err, size_t errlen);
int aa__loader_load(const char *name, char *err, size_t errlen);

/* ---------------------------------------------------------------- sessions */

enum { AA__CELL_NONE = 0, AA__CELL_SYNC, AA__CELL_ASYNC };

/* A runner a session has opened: kept until the session ends, so that
 * switching away from asyncio and back finds the same loop. */
typedef struct aa__opened {
    struct aa__opened *next;
    const aa__runner_entry *entry;
    void *state;
    aa__runner_entry *owned; /* a runner of this session alone, or NULL */
    struct aa_pyrunner *py;  /* the callable behind it, or NULL */
} aa__opened;

struct aa_session {
    int autoawait;
    aa_write_fn write;
    void *userdata;
    unsigned id;              /* smallest free id: names the cell files */
    unsigned long cells;      /* cells run, for <cell-N> */
    PyObject *ns;             /* globals and locals of every cell */
    PyObject *context;        /* contextvars.Context of every cell */
    PyObject *transformers;   /* autoawait.ast_transformers: a list */
    int capture;              /* keep the objects below (Session.exec) */
    PyObject *captured_value; /* the displayed value of the last cell */
    PyObject *captured_exc;   /* the exception of the last cell */
    PyObject *cell_file;      /* the running cell's file name, borrowed */
    aa__opened *opened;       /* every runner opened, current first */
    aa__opened *runner;       /* the current one */
    int busy;                 /* a cell runs; guarded by the GIL */
    pthread_t busy_thread;    /* the thread it runs on */
    atomic_int freeing;       /* aa_session_free took it; see session.c */
    int free_pending;         /* freed while busy: freed when the cell ends */
    pid_t pid;                /* the process that made it: see session.c */
    struct aa_session *inner; /* a session whose cell runs in this cell */
    struct aa_session *outer; /* the session whose cell runs this one */
    /* What interrupt.c keeps: the plain fields are guarded by the GIL, the
     * atomic ones are what aa_interrupt, in a signal handler, touches. */
    int cell_kind;             /* AA__CELL_* */
    unsigned long cell_thread; /* PyThread ident of the cell's thread */
    unsigned long cell_seq;    /* cells begun */
    int async_exc_set;         /* an async KeyboardInterrupt is pending */
    int intr_asked;            /* the runner was asked to stop this cell */
    int intr_refused;          /* and answered that it could not */
    atomic_ulong cell_running; /* cell_seq of the cell running, or 0 */
    atomic_ulong intr_target;  /* the cell aa_interrupt was called for */
    atomic_int intr_senders;   /* aa_interrupt calls between check and send */
    atomic_int intr_closing;   /* the channel is closing: send nothing */
    int intr_fd[2]; /* aa_interrupt sends on 1, the watcher reads 0 */
    pthread_t watcher;
    int watcher_started;
    char errmsg[AA__ERRMSG_SIZE];
};

int aa__session_use_runner(aa_session *s, const char *name);
int aa__session_choose_runner(aa_session *s, const char *arg);
int aa__session_use_callable(aa_session *s, const char *name, PyObject *fn);
int aa__session_exec(aa_session *s, const char *src, size_t len,
                     const char *path, aa_result *r);
aa_session *aa__current_session(void);
int aa__live_add(aa_session *s);
void aa__live_remove(const aa_session *s);
int aa__live_claim(aa_session *s);
int aa__session_fail(aa_session *s, int status, const char *fmt, ...);

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
int aa__result_from_exception(aa_session *s, aa_result *r, int phase);
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

/* ------------------------------------------------------------------- cells */

enum { AA__LAST_OTHER, AA__LAST_EXPR, AA__LAST_UNSURE };
int aa__last_statement(const char *src, size_t len, size_t *start);

int aa__cell_run(aa_session *s, const char *src, size_t len, const char *path,
                 aa_result *r);
/* How a compiled cell leaves the value of its last expression: none, the
 * code returns it, the tree's rewrite keeps it under the hidden name, or
 * the optimizer folded it into the constant kept here. */
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
PyObject *aa__cell_compile(aa_session *s, const char *src, size_t len,
                           PyObject *file, aa__display *d);
int aa__exec_code(aa_session *s, PyObject *code, const aa__display *d,
                  aa_result *r);
PyObject *aa__cell_last_name(void);
int aa__magic_try(aa_session *s, const char *src, size_t len, size_t *eol);
int aa__sources_add(PyObject *file, const char *src, size_t len, int now);
void aa__sources_flush(void);
void aa__sources_drop(PyObject *file);
void aa__sources_forget(aa_session *s);
PyObject *aa__cell_filename(const aa_session *s, unsigned long n);
int aa__cell_filename_is(const aa_session *s, PyObject *file);

/* ------------------------------------------------------------ the module */

int aa__module_install(void);

/* ------------------------------------------------------------------ output */

int aa__output_make(aa_session *s);
int aa__output_begin(aa_session *s);
void aa__output_end(aa_session *s);
int aa__output_write(const char *text);
void aa__output_free(aa_session *s);
void aa__output_error(const char *text);

/* --------------------------------------------------------------- interrupt */

int aa__fd_above_stdio(int fd);
int aa__interrupt_start(aa_session *s);
void aa__interrupt_stop(aa_session *s);
void aa__interrupt_cell_begin(aa_session *s, int kind);
void aa__interrupt_cell_end(aa_session *s);

#endif /* AA_INTERNAL_H */
