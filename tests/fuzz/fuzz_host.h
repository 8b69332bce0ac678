/*
 * fuzz_host.h -- what the files of fuzz_host share: the reader of the
 * input, the fuzzer's own reading of signatures and the libffi closures
 * made from them (fuzz_host_ffi.c), the arguments cells pass
 * (fuzz_host_args.c), the values and memory host functions hand over
 * (fuzz_host_values.c), the futures they get (fuzz_host_futures.c), and
 * the call back into the target itself (fuzz_host.c).
 */
#ifndef AA_FUZZ_HOST_H
#define AA_FUZZ_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_session.h"

/* ------------------------------------------------------------ the input */

/* The bytes left; every take answers zeros past the end. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

uint64_t fz_take(fz_in *in, int bytes);  /* little endian, 1 to 8 bytes */
unsigned fz_pick(fz_in *in, unsigned n); /* 0 .. n-1 */
int fz_one_in(fz_in *in, unsigned n);    /* 1 with odds 1 in n */
/* Up to max bytes of the input (fewer when it runs out); *len how many. */
const uint8_t *fz_bytes(fz_in *in, size_t max, size_t *len);

/* Text built into a buffer of fixed size; fz_add aborts when it would not
 * fit. */
typedef struct fz_buf {
    char *p;
    size_t n, size;
} fz_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void fz_add(fz_buf *b, const char *fmt, ...);

/* ----------------------------------------------------------- signatures */

/* The longest signature the target makes, and the most codes it keeps. */
#define FZ_SIG_MAX 64

/* A signature as the fuzzer reads it (the header's grammar: one return
 * code, then argument codes in parentheses), independently of the
 * library's reading, so that the two can be compared. */
typedef struct fz_sig {
    char ret;
    int nargs;             /* codes between the parentheses */
    char args[FZ_SIG_MAX]; /* those codes */
    int npy;               /* the ones a cell passes: not u, not F */
    int future;            /* index of F in args, or -1 */
} fz_sig;

/* 1 when text is a valid signature (out filled), 0 when not. */
int fz_sig_parse(const char *text, fz_sig *out);

/* A C function of that type, made at run time: a libffi closure whose
 * handler is fz_on_call.  One per signature text, kept for the life of
 * the process: a function object a cell kept calls the function it was
 * made from, whatever the name was defined as since. */
typedef struct fz_fn {
    fz_sig sig;
    char text[FZ_SIG_MAX + 1];
    void (*code)(void); /* what aa_define gets */
} fz_fn;

/* The function for a valid signature; aborts when libffi cannot make it. */
const fz_fn *fz_fn_get(const char *text, const fz_sig *sig);

/* What a closure runs: fn's signature, where libffi put the return value
 * (as libffi wants it: integers narrower than a register widened), and
 * the arguments (args[i] points at the i-th C parameter; y takes two). */
void fz_on_call(const fz_fn *fn, void *ret, void **args);

/* ------------------------------------------------------------ arguments */

/* What a call must do with an argument (fuzz_host_args.c). */
enum {
    A_EXACT,   /* convert it, and fn gets exactly its value */
    A_CALLED,  /* convert it; the value is not compared */
    A_MAYBE,   /* convert it or refuse it; if converted, fn gets the value */
    A_UNKNOWN, /* convert it or refuse it: no claim */
    A_REJECT   /* refuse it: the call raises an exception of kinds */
};

typedef struct fz_arg {
    int how;
    char kinds[8]; /* A_REJECT: T, O, V (host_helper.py) or * (any) */
    uint64_t u;    /* b i I l L z p: the C value */
    double d;      /* d f */
    int null;      /* s y j p: NULL */
    uint8_t data[200];
    size_t len;     /* s y j: the bytes fn gets */
    char text[800]; /* the Python expression */
} fz_arg;

/* An argument for code, drawn from the input; clean: one that converts
 * (A_EXACT or A_CALLED). */
void fz_arg_draw(fz_in *in, char code, fz_arg *a, int clean);

/* ------------------------------------------------------- values, memory */

/* A value the host hands over: a return of fn or a resolve of a future. */
typedef struct fz_value {
    char code;          /* the signature code */
    uint64_t u;         /* b i I l L z: the bits; p: the address */
    double d;           /* d f */
    uint8_t buf[200];   /* s S j J y Y: the data, NUL-terminated */
    const uint8_t *ext; /* or data kept elsewhere (a long JSON text) */
    size_t len;         /* its length; for s S j J, up to the NUL */
    int null;           /* s S j J y Y: a NULL pointer */
    /* What the cell must show for it: "" no claim, else the RESULT of
     * host_helper.py, and for f resolves a second form it may take. */
    char expect[300];
    char expect2[300];
} fz_value;

/* Draws a value of code from the input and says what the cell must show.
 * j and J come from a table of JSON texts (valid ones with the form
 * json.dumps gives them, invalid ones), s and S from the input's bytes
 * (UTF-8 or not). */
void fz_value_draw(fz_in *in, char code, fz_value *v);
const uint8_t *fz_value_data(const fz_value *v);
/* The pointer v is handed over as: for S, Y and J a tracked malloc'ed
 * copy, which the library must free. */
void *fz_value_pointer(const fz_value *v);

/* malloc'ed copies for S, Y and J, tracked until the library frees them
 * (ASan's free hook).  fz_track_pending() is how many are not freed yet;
 * fz_track_reset forgets them, after fz_fail would have said so. */
void *fz_track_copy(const void *data, size_t len, int nul);
int fz_track_freed(const void *p); /* 1 once freed, or when not tracked */
int fz_track_pending(void);
void fz_track_reset(void);
void fz_track_init(void);

/* -------------------------------------------------------------- futures */

/* What an async host function does with its future, drawn per call. */
typedef struct fz_future_plan {
    int action;             /* FZ_F_* */
    int on_cancel;          /* set a cancel callback */
    int cancel_finish;      /* 0 nothing, 1 resolve, 2 reject from it */
    fz_value value;         /* FZ_F_RESOLVE, FZ_F_KEEP (resolved by a tick) */
    const char *exc, *msg;  /* FZ_F_REJECT */
    const char *exc_expect; /* the class the cell gets for exc */
    int badtype_null;       /* FZ_F_BADTYPE: NULL, or a type no code */
} fz_future_plan;

enum {
    FZ_F_RESOLVE, /* resolve inside fn */
    FZ_F_REJECT,  /* reject inside fn */
    FZ_F_BADTYPE, /* resolve with a type that is no return code */
    FZ_F_KEEP,    /* keep it: a tick, a later input or nobody finishes it */
    FZ_F_NPLANS
};

/* Draws a plan; keep is allowed only when the cell will not wait for
 * ever. */
void fz_future_plan_draw(fz_in *in, fz_future_plan *plan, int keep_ok);

/* fn got f: checks the handle is new, applies the plan.  Returns the
 * record's serial. */
unsigned long fz_future_got(aa_future *f, const fz_future_plan *plan);

/* fzt.tick: finishes the future kept by the current call with its plan's
 * value, if there is one; a second tick does nothing. */
void fz_future_tick(void);

/* After the cell: the promises about the futures of the input (a future
 * the cell timed out on was cancelled, once); a future kept and not
 * finished is held for later inputs. */
void fz_future_after_cell(int timed_out);

/* The held futures of earlier inputs, and handles used up, finished or
 * asked about now with answers checked against their states. */
void fz_future_old(fz_in *in);

/* A short-lived second session whose cell leaves futures pending, then is
 * freed: their cancel callbacks run, then every handle answers
 * AA_ENOTFOUND. */
void fz_future_side_session(fz_in *in);

/* Exception names for aa_raise and aa_future_reject, with the class the
 * cell must get ("" no claim).  */
const char *fz_exc_name(fz_in *in, const char **expect);

/* A message for them: text, UTF-8 or not, or NULL. */
const char *fz_message_draw(fz_in *in);

#endif /* AA_FUZZ_HOST_H */
