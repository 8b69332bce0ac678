/*
 * signature.c -- the signatures of host functions: "d(dd)" read once into
 * a libffi call interface.
 *
 * A signature is one return code, then the argument codes in parentheses
 * (autoawait.h has the table).  Reading it checks everything a call will
 * rely on, so that host.c converts and calls without checking again: the
 * codes exist and stand where they may, u and F appear at most once, an
 * async function (F) returns v.  Each code maps to one libffi type, but y,
 * which is two C parameters (a pointer and a size).
 */
#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A size_t, whatever its width. */
#define FFI_SIZE_T (sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32)

/* aa_bytes as libffi lays it out: { const void *data; size_t size; }. */
static ffi_type *bytes_elements[3];
static ffi_type bytes_type = {0, 0, FFI_TYPE_STRUCT, bytes_elements};
static pthread_once_t bytes_once = PTHREAD_ONCE_INIT;

static void bytes_init(void)
{
    ffi_cif cif;

    bytes_elements[0] = &ffi_type_pointer;
    bytes_elements[1] = FFI_SIZE_T;
    bytes_elements[2] = NULL;
    /* libffi lays a struct out on its first use: here, once, rather than
     * in two signatures read at once on two threads. */
    (void)ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 0, &bytes_type, NULL);
}

/* The libffi type of a code, or NULL for none (v, and y as an argument,
 * which the caller spreads over two parameters). */
static ffi_type *code_type(char code, int ret)
{
    switch (code) {
    case 'v':
        return ret ? &ffi_type_void : NULL;
    case 'b':
        return sizeof(bool) == 1 ? &ffi_type_uint8 : &ffi_type_uint32;
    case 'i':
        return &ffi_type_sint;
    case 'I':
        return &ffi_type_uint;
    case 'l':
        return &ffi_type_sint64;
    case 'L':
        return &ffi_type_uint64;
    case 'z':
        return FFI_SIZE_T;
    case 'd':
        return &ffi_type_double;
    case 'f':
        return &ffi_type_float;
    case 'y':
    case 'Y':
        return ret ? &bytes_type : NULL;
    default: /* s S j J p u F */
        return &ffi_type_pointer;
    }
}

/* Whether code may be a return code, and an argument code. */
static int is_return(char c)
{
    return c != '\0' && strchr("vbiIlLzdfsSyYjJp", c) != NULL;
}

static int is_argument(char c)
{
    return c != '\0' && strchr("biIlLzdfsyjpuF", c) != NULL;
}

int aa__sig_is_value(char code)
{
    return is_return(code);
}

/* Whether every parameter goes in a register: at most 6 of the integer
 * class (y counts two), at most 8 floating ones. */
static int direct_ok(const aa__sig *sig)
{
    int i, ints = 0, floats = 0;

    for (i = 0; i < sig->ncodes; i++) {
        if (sig->codes[i] == 'd' || sig->codes[i] == 'f')
            floats++;
        else
            ints += sig->codes[i] == 'y' ? 2 : 1;
    }
    return ints <= 6 && floats <= 8;
}

static int bad(char *err, size_t errlen, const char *text, const char *why,
               size_t at)
{
    snprintf(err, errlen, "signature \"%.64s\": %s (at offset %zu)", text, why,
             at);
    return AA_EINVAL;
}

int aa__sig_parse(const char *text, aa__sig *sig, char *err, size_t errlen)
{
    const char *p = text;
    char why[96];
    int nparams = 0, i;

    pthread_once(&bytes_once, bytes_init);
    memset(sig, 0, sizeof *sig);
    sig->userdata_at = sig->future_at = -1;
    if (*p == '\0' || *p == '(')
        return bad(err, errlen, text, "no return code before '('", 0);
    if (!is_return(*p)) {
        snprintf(why, sizeof why,
                 is_argument(*p) ? "'%c' is not a return code"
                                 : "unknown code '%c'",
                 *p);
        return bad(err, errlen, text, why, 0);
    }
    sig->ret = *p++;
    if (*p != '(')
        return bad(err, errlen, text, "'(' expected after the return code",
                   (size_t)(p - text));
    for (p++; *p != ')'; p++) {
        if (*p == '\0')
            return bad(err, errlen, text, "no closing ')'", (size_t)(p - text));
        if (!is_argument(*p)) {
            snprintf(why, sizeof why,
                     is_return(*p) ? "'%c' is not an argument code"
                     : (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e
                         ? "unknown code 0x%02x"
                         : "unknown code '%c'",
                     *p);
            return bad(err, errlen, text, why, (size_t)(p - text));
        }
        if (sig->ncodes == AA__SIG_MAX)
            return bad(err, errlen, text, "more than 16 arguments",
                       (size_t)(p - text));
        if (*p == 'u' || *p == 'F') {
            int *at = *p == 'u' ? &sig->userdata_at : &sig->future_at;

            if (*at >= 0) {
                snprintf(why, sizeof why, "'%c' appears twice", *p);
                return bad(err, errlen, text, why, (size_t)(p - text));
            }
            *at = sig->ncodes;
        } else {
            sig->ncell++;
        }
        sig->codes[sig->ncodes++] = *p;
        if (*p == 'y') {
            sig->params[nparams++] = &ffi_type_pointer;
            sig->params[nparams++] = FFI_SIZE_T;
        } else {
            sig->params[nparams++] = code_type(*p, 0);
        }
    }
    if (p[1] != '\0')
        return bad(err, errlen, text, "text after ')'", (size_t)(p + 1 - text));
    if (sig->future_at >= 0 && sig->ret != 'v')
        return bad(err, errlen, text,
                   "an async function (F) returns nothing: its return code "
                   "is v",
                   0);
    sig->nparams = nparams;
    sig->direct = AA__DIRECT_CALLS && direct_ok(sig);
    sig->plain = sig->direct && strchr("vild", sig->ret) != NULL;
    for (i = 0; i < sig->ncodes; i++)
        if (strchr("ildu", sig->codes[i]) == NULL)
            sig->plain = 0;
    if (ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, (unsigned)nparams,
                     code_type(sig->ret, 1), sig->params) != FFI_OK)
        return bad(err, errlen, text, "libffi cannot make this call", 0);
    return AA_OK;
}

/* The Python type a code stands for, as __doc__ names it. */
const char *aa__sig_pytype(char code)
{
    switch (code) {
    case 'v':
        return "None";
    case 'b':
        return "bool";
    case 'd':
    case 'f':
        return "float";
    case 's':
    case 'S':
        return "str";
    case 'y':
    case 'Y':
        return "bytes";
    case 'j':
    case 'J':
        return "json";
    case 'p':
        return "Pointer";
    default:
        return "int";
    }
}
