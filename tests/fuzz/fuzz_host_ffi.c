/*
 * fuzz_host_ffi.c -- the fuzzer's own reading of signatures, and C
 * functions of any signature made at run time with libffi closures.
 *
 * Calling a C function through a prototype other than its own is
 * undefined behaviour, so fuzz_host cannot bind one fixed function under
 * every signature it tries: for each signature it makes a function of
 * exactly that type, a closure whose cif comes from this file's parser,
 * written from autoawait.h's table alone and not from the library's
 * reading.  fuzz_host.c compares the two readings (aa_define must accept
 * exactly what fz_sig_parse accepts) and checks every call the library
 * makes through them.  What a call does is fuzz_host.c's business
 * (fz_on_call); this file only reads the input, parses and makes
 * closures.
 */
#include "fuzz_host.h"

#include <ffi.h>
#include <stdlib.h>
#include <string.h>

#include "autoawait/autoawait.h"

/* ------------------------------------------------------------ the input */

uint64_t fz_take(fz_in *in, int bytes)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < bytes; i++) {
        if (in->n > 0) {
            v |= (uint64_t)in->p[0] << (8 * i);
            in->p++;
            in->n--;
        }
    }
    return v;
}

unsigned fz_pick(fz_in *in, unsigned n)
{
    if (n <= 1)
        return 0;
    return (unsigned)(fz_take(in, n > 256 ? 2 : 1) % n);
}

int fz_one_in(fz_in *in, unsigned n)
{
    return fz_pick(in, n) == n - 1;
}

const uint8_t *fz_bytes(fz_in *in, size_t max, size_t *len)
{
    size_t n = fz_take(in, 1) % (max + 1);
    const uint8_t *p = in->p;

    if (n > in->n)
        n = in->n;
    in->p += n;
    in->n -= n;
    *len = n;
    return p;
}

/* ----------------------------------------------------------- signatures */

/* autoawait.h's table: what may be returned, what may be passed.  u and F
 * are arguments only, S, Y and J returns only, v no argument; and
 * docs/host-functions.md's rules: "at most 16 argument codes; u and F
 * appear at most once each, anywhere among them, and a signature with F
 * returns v". */
static const char return_codes[] = "vbiIlLzdfsSyYjJp";
static const char argument_codes[] = "biIlLzdfsyjpuF";
#define MAX_ARGUMENTS 16

int fz_sig_parse(const char *text, fz_sig *out)
{
    const char *p = text;
    fz_sig sig;

    memset(&sig, 0, sizeof sig);
    sig.future = -1;
    if (p == NULL || *p == '\0' || strchr(return_codes, *p) == NULL)
        return 0;
    sig.ret = *p++;
    if (*p++ != '(')
        return 0;
    for (; *p != ')'; p++) {
        if (*p == '\0' || strchr(argument_codes, *p) == NULL)
            return 0;
        if (sig.nargs == MAX_ARGUMENTS)
            return 0;
        if ((*p == 'u' || *p == 'F') && memchr(sig.args, *p, (size_t)sig.nargs))
            return 0;
        if (*p == 'F') {
            if (sig.ret != 'v')
                return 0;
            sig.future = sig.nargs;
        }
        if (*p != 'u' && *p != 'F')
            sig.npy++;
        sig.args[sig.nargs++] = *p;
    }
    if (p[1] != '\0')
        return 0;
    *out = sig;
    return 1;
}

/* -------------------------------------------------------------- closures */

#if SIZE_MAX == UINT64_MAX
#define ffi_type_size_t ffi_type_uint64
#else
#define ffi_type_size_t ffi_type_uint32
#endif

/* aa_bytes, as libffi sees it: a pointer and a size_t. */
static ffi_type *bytes_members[] = {&ffi_type_pointer, &ffi_type_size_t, NULL};
static ffi_type bytes_type = {0, 0, FFI_TYPE_STRUCT, bytes_members};

static ffi_type *c_type(char code)
{
    switch (code) {
    case 'v':
        return &ffi_type_void;
    case 'b':
        return &ffi_type_uint8; /* C's bool: one byte, 0 or 1 */
    case 'i':
        return &ffi_type_sint;
    case 'I':
        return &ffi_type_uint;
    case 'l':
        return &ffi_type_sint64;
    case 'L':
        return &ffi_type_uint64;
    case 'z':
        return &ffi_type_size_t;
    case 'd':
        return &ffi_type_double;
    case 'f':
        return &ffi_type_float;
    case 'y':
    case 'Y':
        return &bytes_type; /* as a return; as an argument, two */
    default:
        return &ffi_type_pointer; /* s S j J p u F */
    }
}

typedef struct entry {
    fz_fn fn; /* first: the closure's user data */
    ffi_cif cif;
    ffi_type *types[2 * FZ_SIG_MAX];
    ffi_closure *closure;
    struct entry *next;
} entry;

#define NBUCKETS 4096
static entry *buckets[NBUCKETS];

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static void trampoline(ffi_cif *cif, void *ret, void **args, void *data)
{
    (void)cif;
    fz_on_call(data, ret, args);
}

const fz_fn *fz_fn_get(const char *text, const fz_sig *sig)
{
    unsigned h = hash(text);
    unsigned n = 0;
    entry *e;
    void *code;
    int i;

    for (e = buckets[h]; e != NULL; e = e->next) {
        if (strcmp(e->fn.text, text) == 0)
            return &e->fn;
    }
    if (strlen(text) > FZ_SIG_MAX || (e = calloc(1, sizeof *e)) == NULL)
        fz_fail("cannot make a function for '%s'", text);
    e->fn.sig = *sig;
    strcpy(e->fn.text, text);
    for (i = 0; i < sig->nargs; i++) {
        if (sig->args[i] == 'y') {
            e->types[n++] = &ffi_type_pointer;
            e->types[n++] = &ffi_type_size_t;
        } else {
            e->types[n++] = c_type(sig->args[i]);
        }
    }
    e->closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
    if (e->closure == NULL ||
        ffi_prep_cif(&e->cif, FFI_DEFAULT_ABI, n, c_type(sig->ret), e->types) !=
            FFI_OK ||
        ffi_prep_closure_loc(e->closure, &e->cif, trampoline, &e->fn, code) !=
            FFI_OK)
        fz_fail("libffi cannot make a closure for '%s'", text);
    /* ISO C has no conversion from void * to a function pointer; libffi
     * hands the code address over as one. */
    memcpy(&e->fn.code, &code, sizeof code);
    e->next = buckets[h];
    buckets[h] = e;
    return &e->fn;
}
