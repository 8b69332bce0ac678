/*
 * host.c -- host functions: C functions of the host that cells call, as
 * Lua's lua_register and SQLite's sqlite3_create_function make them.
 *
 * aa_define keeps a definition (a name, a signature read into a libffi
 * call interface, the function and its userdata) in a scope: a session's,
 * or the process's (s == NULL), which every session sees unless it has a
 * definition of the same name.  Each session shows the definitions it sees
 * as Python objects: a HostFunction per name, set in the session's
 * namespace (a name without a dot) or in a module the library makes ("host"
 * for "host.stats").  The modules of a session are put in sys.modules when
 * its code runs (host_install), so that `import host` finds the ones of the
 * session whose cell runs.
 *
 * A call converts the cell's arguments by their codes, calls the function
 * through libffi with the GIL held, and converts what it returned; an
 * async function (F) gets a future (future.c) and the cell an awaitable.
 * Everything a cell can pass or a host can return that does not fit is a
 * Python exception naming the function, never a crash.
 */
#include "internal.h"

#include <structmember.h>

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The process's definitions; taken after the GIL, never before it. */
static pthread_mutex_t defs_lock = PTHREAD_MUTEX_INITIALIZER;
static aa__def *global_defs;

/* The session whose modules are in sys.modules; guarded by the GIL. */
static aa_session *installed;

/* ------------------------------------------------------------ definitions */

void aa__def_ref(aa__def *d)
{
    atomic_fetch_add(&d->refs, 1);
}

void aa__def_unref(aa__def *d)
{
    if (d != NULL && atomic_fetch_sub(&d->refs, 1) == 1) {
        free(d->name);
        free(d->sigtext);
        free(d);
    }
}

static const char *const keywords[] = {
    "False",  "None",   "True",    "and",      "as",       "assert", "async",
    "await",  "break",  "class",   "continue", "def",      "del",    "elif",
    "else",   "except", "finally", "for",      "from",     "global", "if",
    "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
    "pass",   "raise",  "return",  "try",      "while",    "with",   "yield",
};

/* Checks one part of a dotted name: an ASCII identifier, no keyword, no
 * dunder. */
static int part_ok(const char *p, size_t n, char *why, size_t whylen)
{
    size_t i;

    if (n == 0) {
        snprintf(why, whylen, "an empty part");
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9'))) {
            snprintf(why, whylen,
                     c >= 0x80 ? "a byte 0x%02x: names are ASCII identifiers"
                     : c < 0x20 || c == 0x7f
                         ? "a character 0x%02x: names are identifiers"
                         : "'%c' where an identifier goes",
                     c);
            return 0;
        }
    }
    if (n >= 2 && p[0] == '_' && p[1] == '_') {
        snprintf(why, whylen, "'%.*s' starts with \"__\"", (int)n, p);
        return 0;
    }
    for (i = 0; i < sizeof keywords / sizeof *keywords; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], p, n) == 0) {
            snprintf(why, whylen, "'%s' is a Python keyword", keywords[i]);
            return 0;
        }
    return 1;
}

static int name_ok(const char *name, char *why, size_t whylen)
{
    const char *p = name;

    if (strlen(name) > 200) {
        snprintf(why, whylen, "longer than 200 bytes");
        return 0;
    }
    for (;;) {
        size_t n = strcspn(p, ".");

        if (!part_ok(p, n, why, whylen))
            return 0;
        if (p[n] == '\0')
            return 1;
        p += n + 1;
    }
}

/* Whether a is a module of b's name ("host" of "host.x", "a" of "a.b.c"). */
static int is_prefix(const char *a, const char *b)
{
    size_t n = strlen(a);

    return strncmp(a, b, n) == 0 && b[n] == '.';
}

/* A definition of list that clashes with name (a function where name
 * wants a module, or the other way), or NULL. */
static const aa__def *clash(const aa__def *list, const char *name)
{
    for (; list != NULL; list = list->next)
        if (is_prefix(list->name, name) || is_prefix(name, list->name))
            return list;
    return NULL;
}

static aa__def **find(aa__def **list, const char *name)
{
    for (; *list != NULL; list = &(*list)->next)
        if (strcmp((*list)->name, name) == 0)
            break;
    return list;
}

/* Makes the definition, or NULL with err set. */
static aa__def *def_new(const char *name, const char *signature,
                        void (*fn)(void), void *userdata, int *rc, char *err,
                        size_t errlen)
{
    aa__def *d = calloc(1, sizeof *d);
    const char *dot = strrchr(name, '.');

    *rc = AA_ENOMEM;
    if (d == NULL || (d->name = strdup(name)) == NULL ||
        (d->sigtext = strdup(signature)) == NULL) {
        snprintf(err, errlen, "aa_define: out of memory");
        goto fail;
    }
    if ((*rc = aa__sig_parse(signature, &d->sig, err, errlen)) != AA_OK)
        goto fail;
    atomic_init(&d->refs, 1);
    d->modlen = dot != NULL ? (size_t)(dot - name) : 0;
    d->fn = fn;
    d->userdata = userdata;
    return d;
fail:
    if (d != NULL) {
        free(d->name);
        free(d->sigtext);
        free(d);
    }
    return NULL;
}

/* ------------------------------------------------------ Python functions */

typedef struct {
    PyObject_HEAD vectorcallfunc vectorcall;
    aa__def *def;
    aa_session *s; /* whose namespace it was made for (futures' default) */
    PyObject *name, *qualname, *module, *doc;
} hostfn;

static PyTypeObject hostfn_type;
static PyTypeObject pointer_type;

typedef struct {
    PyObject_HEAD void *p;
} pointer;

static PyObject *pointer_new(void *p)
{
    pointer *o;

    if (p == NULL)
        Py_RETURN_NONE;
    if ((o = PyObject_New(pointer, &pointer_type)) != NULL)
        o->p = p;
    return (PyObject *)o;
}

static PyObject *pointer_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<autoawait.Pointer %p>", ((pointer *)self)->p);
}

static Py_hash_t pointer_hash(PyObject *self)
{
    Py_hash_t h = (Py_hash_t)((uintptr_t)((pointer *)self)->p >> 4);

    return h == -1 ? -2 : h;
}

static PyObject *pointer_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(b, &pointer_type) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    return PyBool_FromLong((((pointer *)a)->p == ((pointer *)b)->p) ==
                           (op == Py_EQ));
}

static PyTypeObject pointer_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "autoawait.Pointer",
    .tp_basicsize = sizeof(pointer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An opaque pointer a host function returned (code p)",
    .tp_repr = pointer_repr,
    .tp_hash = pointer_hash,
    .tp_richcompare = pointer_richcompare,
};

static PyObject *json_dumps, *json_loads, *json_kw;

static int json_ready(void)
{
    PyObject *json;

    if (json_loads != NULL)
        return 0;
    if ((json = aa__import("json")) == NULL)
        return -1;
    json_dumps = PyObject_GetAttrString(json, "dumps");
    json_loads = PyObject_GetAttrString(json, "loads");
    Py_DECREF(json);
    json_kw = Py_BuildValue("{sOsOs(ss)}", "ensure_ascii", Py_False,
                            "allow_nan", Py_False, "separators", ",", ":");
    if (json_dumps == NULL || json_loads == NULL || json_kw == NULL) {
        Py_CLEAR(json_dumps);
        Py_CLEAR(json_loads);
        Py_CLEAR(json_kw);
        return -1;
    }
    return 0;
}

/* Turns the exception set into one naming the call: "host.f() argument 2:
 * ...", of the built-in class it derives from (OverflowError, TypeError,
 * or ValueError: a json.JSONDecodeError, a UnicodeEncodeError and any
 * other class whose constructor wants more than a message). */
static void name_exception(const aa__def *d, const char *where)
{
    PyObject *type, *value, *tb, *cls = PyExc_ValueError;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (PyErr_GivenExceptionMatches(type, PyExc_OverflowError))
        cls = PyExc_OverflowError;
    else if (PyErr_GivenExceptionMatches(type, PyExc_TypeError))
        cls = PyExc_TypeError;
    PyErr_Format(cls, "%s() %s: %S", d->name, where, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

PyObject *aa__value_to_py(const aa__def *d, char code, const aa__cval *v,
                          const char *what)
{
    PyObject *str, *r;
    char where[64];

    switch (code) {
    case 'v':
        Py_RETURN_NONE;
    case 'b':
        return PyBool_FromLong(v->v.i != 0);
    case 'i':
    case 'l':
        return PyLong_FromLongLong((long long)v->v.i);
    case 'I':
    case 'L':
    case 'z':
        return PyLong_FromUnsignedLongLong((unsigned long long)v->v.u);
    case 'd':
    case 'f':
        return PyFloat_FromDouble(v->v.d);
    case 'p':
        return pointer_new(v->v.p);
    case 'y':
    case 'Y':
        if (v->text == NULL)
            Py_RETURN_NONE;
        return PyBytes_FromStringAndSize(v->text, (Py_ssize_t)v->len);
    default: /* s S j J */
        break;
    }
    if (v->text == NULL)
        Py_RETURN_NONE;
    str = PyUnicode_DecodeUTF8(v->text, (Py_ssize_t)v->len, "strict");
    if (str == NULL) {
        PyObject *type, *value, *tb;

        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        PyErr_Format(PyExc_ValueError, "%s() %s invalid UTF-8%s: %S", d->name,
                     what, code == 'j' || code == 'J' ? " as JSON" : "", value);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    if (code == 's' || code == 'S')
        return str;
    if (json_ready() < 0) {
        Py_DECREF(str);
        return NULL;
    }
    r = PyObject_CallOneArg(json_loads, str);
    Py_DECREF(str);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        snprintf(where, sizeof where, "%s invalid JSON", what);
        name_exception(d, where);
    }
    return r;
}

/* What a call keeps of its arguments until the function returned. */
typedef struct {
    Py_buffer views[AA__SIG_MAX];
    int nviews;
    PyObject *json[AA__SIG_MAX];
    int njson;
} keep;

static void keep_release(keep *k)
{
    while (k->nviews > 0)
        PyBuffer_Release(&k->views[--k->nviews]);
    while (k->njson > 0)
        Py_DECREF(k->json[--k->njson]);
}

static int wrong_type(const aa__def *d, int n, const char *want, PyObject *o)
{
    PyErr_Format(PyExc_TypeError, "%s() argument %d must be %s, not %.100s",
                 d->name, n, want, Py_TYPE(o)->tp_name);
    return -1;
}

static int out_of_range(const aa__def *d, int n, PyObject *o, const char *ctype)
{
    PyErr_Format(PyExc_OverflowError, "%s() argument %d: %R does not fit in %s",
                 d->name, n, o, ctype);
    return -1;
}

/* One C value the cell's argument o makes, by code; *slot gets it.  n
 * counts from 1, for the messages. */
static int to_c(const aa__def *d, char code, PyObject *o, int n, aa__cval *slot,
                keep *k)
{
    long long ll;
    unsigned long long ull;
    int overflow;
    Py_ssize_t len;

    switch (code) {
    case 'b':
        if (!PyLong_Check(o))
            return wrong_type(d, n, "bool", o);
        slot->v.i = PyObject_IsTrue(o);
        return 0;
    case 'i':
    case 'l':
        if (!PyLong_Check(o) && !PyIndex_Check(o))
            return wrong_type(d, n, "int", o);
        ll = PyLong_Check(o) ? PyLong_AsLongLongAndOverflow(o, &overflow)
                             : (overflow = 0, PyLong_AsLongLong(o));
        if (ll == -1 && PyErr_Occurred())
            return -1;
        if (overflow || (code == 'i' && (ll < INT_MIN || ll > INT_MAX)))
            return out_of_range(d, n, o, code == 'i' ? "a C int" : "int64_t");
        slot->v.i = ll;
        return 0;
    case 'I':
    case 'L':
    case 'z':
        if (!PyLong_Check(o) && !PyIndex_Check(o))
            return wrong_type(d, n, "int", o);
        if ((o = PyNumber_Index(o)) == NULL)
            return -1;
        ull = PyLong_AsUnsignedLongLong(o);
        if (ull == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            ull = 0;
            overflow = 1;
        } else {
            overflow = (code == 'I' && ull > UINT_MAX) ||
                       (code == 'z' && ull > SIZE_MAX);
        }
        if (overflow) {
            out_of_range(d, n, o,
                         code == 'I'   ? "a C unsigned int"
                         : code == 'L' ? "uint64_t"
                                       : "size_t");
            Py_DECREF(o);
            return -1;
        }
        Py_DECREF(o);
        slot->v.u = ull;
        return 0;
    case 'd':
    case 'f':
        if (PyFloat_CheckExact(o)) {
            slot->v.d = PyFloat_AS_DOUBLE(o);
            return 0;
        }
        if (!PyFloat_Check(o) && !PyLong_Check(o) && !PyIndex_Check(o))
            return wrong_type(d, n, "float", o);
        slot->v.d = PyFloat_AsDouble(o);
        if (slot->v.d == -1.0 && PyErr_Occurred())
            goto named;
        return 0;
    case 's':
        if (!PyUnicode_Check(o))
            return wrong_type(d, n, "str", o);
        if ((slot->text = PyUnicode_AsUTF8AndSize(o, &len)) == NULL)
            goto named;
        if (strlen(slot->text) != (size_t)len) {
            PyErr_Format(PyExc_ValueError,
                         "%s() argument %d: embedded null character", d->name,
                         n);
            return -1;
        }
        return 0;
    case 'y':
        if (!PyObject_CheckBuffer(o))
            return wrong_type(d, n, "bytes-like", o);
        if (PyObject_GetBuffer(o, &k->views[k->nviews], PyBUF_SIMPLE) < 0)
            goto named;
        slot->text = k->views[k->nviews].buf;
        slot->len = (size_t)k->views[k->nviews].len;
        k->nviews++;
        return 0;
    case 'j': {
        PyObject *args, *text;

        if (json_ready() < 0 || (args = PyTuple_Pack(1, o)) == NULL)
            return -1;
        text = PyObject_Call(json_dumps, args, json_kw);
        Py_DECREF(args);
        if (text == NULL)
            goto named;
        k->json[k->njson++] = text;
        if ((slot->text = PyUnicode_AsUTF8AndSize(text, &len)) == NULL)
            goto named;
        slot->len = (size_t)len;
        return 0;
    }
    case 'p':
        if (o == Py_None) {
            slot->v.p = NULL;
            return 0;
        }
        if (!PyObject_TypeCheck(o, &pointer_type))
            return wrong_type(d, n, "autoawait.Pointer or None", o);
        slot->v.p = ((pointer *)o)->p;
        return 0;
    default:
        PyErr_Format(PyExc_SystemError, "%s(): code '%c'", d->name, code);
        return -1;
    }
named : {
    char where[32];

    snprintf(where, sizeof where, "argument %d", n);
    name_exception(d, where);
    return -1;
}
}

/* ------------------------------------------------------------------ calls */

/* The host call (or input callback, input.c) running on this thread: what
 * aa_raise writes to. */
typedef aa__raise_slot hostcall;

static _Thread_local hostcall *call_now
    __attribute__((tls_model("initial-exec")));

aa__raise_slot *aa__raise_enter(aa__raise_slot *slot)
{
    aa__raise_slot *prev = call_now;

    call_now = slot;
    return prev;
}

void aa__raise_leave(aa__raise_slot *prev)
{
    call_now = prev;
}

int aa_raise(const char *exception, const char *message)
{
    hostcall *c = call_now;

    if (c == NULL) {
        snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE,
                 "aa_raise: no host function or input callback runs on this "
                 "thread");
        return AA_EINVAL;
    }
    free(c->exception);
    free(c->message);
    c->exception = exception != NULL ? strdup(exception) : NULL;
    c->message = message != NULL ? strdup(message) : NULL;
    c->raised = 1;
    return AA_OK;
}

/* cls(message), message being len bytes of UTF-8 (NULL: ""). */
static PyObject *exception_of(PyObject *cls, const char *message, size_t len)
{
    PyObject *text, *exc;

    if (message == NULL)
        message = "", len = 0;
    if ((text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)len, "replace")) ==
        NULL)
        return NULL;
    exc = PyObject_CallOneArg(cls, text);
    Py_DECREF(text);
    return exc;
}

PyObject *aa__exception_named(const char *exception, const char *message,
                              size_t len)
{
    PyObject *builtins = aa__builtins_dict(), *cls = NULL;

    if (builtins == NULL)
        return NULL;
    if (exception != NULL &&
        (cls = PyDict_GetItemString(builtins, exception)) != NULL &&
        !(PyExceptionClass_Check(cls) &&
          PyObject_IsSubclass(cls, PyExc_Exception) == 1))
        cls = NULL;
    return exception_of(cls != NULL ? cls : PyExc_RuntimeError, message, len);
}

/* Frees what the function returned that the library owns (S Y J). */
static void free_returned(char code, const aa__cval *v)
{
    if (code == 'S' || code == 'Y' || code == 'J')
        free((void *)v->text);
}

/* Where a call's C arguments go: typed slots pointed at for ffi_call, or
 * the registers of a direct call. */
typedef struct {
    union {
        bool b;
        int i;
        unsigned I;
        int64_t l;
        uint64_t L;
        size_t z;
        double d;
        float f;
        void *p;
        const char *s;
    } slots[2 * AA__SIG_MAX];
    void *avalues[2 * AA__SIG_MAX];
    int n;
#if AA__DIRECT_CALLS
    uint64_t gp[6];
    double sse[8];
    int ngp, nsse;
#endif
} cargs;

typedef union {
    ffi_arg a;
    int64_t l;
    uint64_t u;
    double d;
    float f;
    void *p;
    aa_bytes b;
} creturn;

#if AA__DIRECT_CALLS
/*
 * The direct call.  Under the x86-64 System V convention the integer and
 * pointer arguments go, in order, in six registers, and the floating ones,
 * in order, in eight others; a function reads those its prototype names
 * and nothing else.  So one prototype of 6 integers and 8 doubles calls
 * any function whose arguments all fit in registers, as libffi's assembly
 * would, but without libffi's classifying every argument on every call
 * (which costs more than the rest of the call).  What comes back is in
 * rax (integers, pointers), rax:rdx (aa_bytes), or xmm0 (double, float):
 * one prototype for each.  The values are widened as the convention wants
 * (bool to 0 or 1, int sign-extended); a float goes in the low half of its
 * register.
 */
typedef struct {
    uint64_t a, b;
} two_words;

#define DIRECT_PARAMS                                                          \
    uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, double,        \
        double, double, double, double, double, double, double
#define DIRECT_ARGS(c)                                                         \
    (c)->gp[0], (c)->gp[1], (c)->gp[2], (c)->gp[3], (c)->gp[4], (c)->gp[5],    \
        (c)->sse[0], (c)->sse[1], (c)->sse[2], (c)->sse[3], (c)->sse[4],       \
        (c)->sse[5], (c)->sse[6], (c)->sse[7]

static void direct_call(char ret, void (*fn)(void), cargs *c, creturn *rv)
{
    switch (ret) {
    case 'd':
        rv->d = ((double (*)(DIRECT_PARAMS))fn)(DIRECT_ARGS(c));
        break;
    case 'f':
        rv->f = ((float (*)(DIRECT_PARAMS))fn)(DIRECT_ARGS(c));
        break;
    case 'y':
    case 'Y': {
        two_words w = ((two_words(*)(DIRECT_PARAMS))fn)(DIRECT_ARGS(c));

        rv->b.data = (const void *)(uintptr_t)w.a;
        rv->b.size = (size_t)w.b;
        break;
    }
    default:
        rv->u = ((uint64_t(*)(DIRECT_PARAMS))fn)(DIRECT_ARGS(c));
        break;
    }
}

static void put_gp(cargs *c, uint64_t w)
{
    c->gp[c->ngp++] = w;
}

static void put_sse(cargs *c, double d)
{
    c->sse[c->nsse++] = d;
}

static void put_float(cargs *c, float f)
{
    union {
        double d;
        uint32_t w[2];
    } u;

    memcpy(&u.w[0], &f, sizeof f);
    u.w[1] = 0;
    c->sse[c->nsse++] = u.d;
}
#endif

/* Stores one C argument of code from v: in a register of a direct call,
 * or in a slot for ffi_call. */
static void put(const aa__sig *sig, cargs *c, char code, const aa__cval *v)
{
#if AA__DIRECT_CALLS
    if (sig->direct) {
        switch (code) {
        case 'b':
            put_gp(c, v->v.i != 0);
            return;
        case 'i':
            put_gp(c, (uint64_t)(int64_t)(int)v->v.i);
            return;
        case 'I':
            put_gp(c, (uint64_t)(unsigned)v->v.u);
            return;
        case 'l':
            put_gp(c, (uint64_t)v->v.i);
            return;
        case 'L':
        case 'z':
            put_gp(c, v->v.u);
            return;
        case 'd':
            put_sse(c, v->v.d);
            return;
        case 'f':
            put_float(c, (float)v->v.d);
            return;
        case 'y':
            put_gp(c, (uint64_t)(uintptr_t)v->text);
            put_gp(c, (uint64_t)v->len);
            return;
        case 's':
        case 'j':
            put_gp(c, (uint64_t)(uintptr_t)v->text);
            return;
        default: /* p u F */
            put_gp(c, (uint64_t)(uintptr_t)v->v.p);
            return;
        }
    }
#endif
    (void)sig;
    switch (code) {
    case 'b':
        c->slots[c->n].b = v->v.i != 0;
        break;
    case 'i':
        c->slots[c->n].i = (int)v->v.i;
        break;
    case 'I':
        c->slots[c->n].I = (unsigned)v->v.u;
        break;
    case 'l':
        c->slots[c->n].l = v->v.i;
        break;
    case 'L':
        c->slots[c->n].L = v->v.u;
        break;
    case 'z':
        c->slots[c->n].z = (size_t)v->v.u;
        break;
    case 'd':
        c->slots[c->n].d = v->v.d;
        break;
    case 'f':
        c->slots[c->n].f = (float)v->v.d;
        break;
    case 's':
    case 'j':
    case 'y':
        c->slots[c->n].s = v->text;
        break;
    default: /* p u F */
        c->slots[c->n].p = v->v.p;
        break;
    }
    c->avalues[c->n] = &c->slots[c->n];
    c->n++;
    if (code == 'y') {
        c->slots[c->n].z = v->len;
        c->avalues[c->n] = &c->slots[c->n];
        c->n++;
    }
}

/* What the function returned, as an aa__cval. */
static void returned(char code, const creturn *rv, aa__cval *v)
{
    v->text = NULL;
    v->len = 0;
    switch (code) {
    case 'b':
        v->v.i = (uint8_t)rv->a != 0;
        break;
    case 'i':
        v->v.i = (int32_t)(uint32_t)rv->a;
        break;
    case 'I':
        v->v.u = (uint32_t)rv->a;
        break;
    case 'l':
        v->v.i = rv->l;
        break;
    case 'L':
        v->v.u = rv->u;
        break;
    case 'z':
        v->v.u = sizeof(size_t) == 8 ? rv->u : (uint64_t)(size_t)rv->a;
        break;
    case 'd':
        v->v.d = rv->d;
        break;
    case 'f':
        v->v.d = rv->f;
        break;
    case 'p':
        v->v.p = rv->p;
        break;
    case 'y':
    case 'Y':
        v->text = rv->b.data;
        v->len = rv->b.size;
        break;
    case 's':
    case 'S':
    case 'j':
    case 'J':
        v->text = rv->p;
        v->len = rv->p != NULL ? strlen(rv->p) : 0;
        break;
    default:
        break;
    }
}

/* The session a future of this call belongs to: the one whose cell runs
 * here, else the one the function was made for, if it lives. */
static aa_session *call_session(const hostfn *h)
{
    aa_session *s = aa__current_session();

    if (s == NULL && h->s != NULL && aa__live_has(h->s))
        s = h->s;
    return s;
}

/* Raises what aa_raise asked for during the call.  KeyboardInterrupt is no
 * Exception: only an input callback, whose wait was interrupted, may name
 * it. */
void aa__raise_asked(aa__raise_slot *call)
{
    size_t len = call->message != NULL ? strlen(call->message) : 0;
    PyObject *exc =
        call->interrupt_ok && call->exception != NULL &&
                strcmp(call->exception, "KeyboardInterrupt") == 0
            ? exception_of(PyExc_KeyboardInterrupt, call->message, len)
            : aa__exception_named(call->exception, call->message, len);

    free(call->exception);
    free(call->message);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static PyObject *hostfn_call(PyObject *self, PyObject *const *args,
                             size_t nargsf, PyObject *kwnames)
{
    hostfn *h = (hostfn *)self;
    aa__def *d = h->def;
    aa__sig *sig = &d->sig;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    aa_future *future = NULL;
    aa__fut *pending = NULL;
    creturn rv;
    hostcall call = {NULL, NULL, 0, 0}, *prev;
    cargs c;
    keep k;
    aa__cval v;
    PyObject *r;
    int i, ci = 0;

    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments",
                     d->name);
        return NULL;
    }
    if (nargs != sig->ncell) {
        PyErr_Format(PyExc_TypeError, "%s() takes %d argument%s (%zd given)",
                     d->name, sig->ncell, sig->ncell == 1 ? "" : "s", nargs);
        return NULL;
    }
    if (sig->future_at >= 0 &&
        (pending = aa__future_new(call_session(h), d, &future)) == NULL)
        return PyErr_NoMemory();
    k.nviews = k.njson = 0;
    c.n = 0;
#if AA__DIRECT_CALLS
    c.ngp = c.nsse = 0;
#endif
    for (i = 0; i < sig->ncodes; i++) {
        char code = sig->codes[i];

        v.text = NULL;
        v.len = 0;
        if (code == 'u') {
            v.v.p = d->userdata;
        } else if (code == 'F') {
            v.v.p = future;
        } else {
            if (to_c(d, code, args[ci], ci + 1, &v, &k) < 0)
                goto fail;
            ci++;
            if (code == 'f' && isfinite(v.v.d) &&
                (v.v.d > FLT_MAX || v.v.d < -FLT_MAX)) {
                PyErr_Format(PyExc_OverflowError,
                             "%s() argument %d: %R does not fit in a C float",
                             d->name, ci, args[ci - 1]);
                goto fail;
            }
        }
        put(sig, &c, code, &v);
    }
    prev = aa__raise_enter(&call);
#if AA__DIRECT_CALLS
    if (sig->direct)
        direct_call(sig->ret, d->fn, &c, &rv);
    else
#endif
        ffi_call(&sig->cif, d->fn, &rv, c.avalues);
    aa__raise_leave(prev);
    returned(sig->ret, &rv, &v);
    if (call.raised) {
        free_returned(sig->ret, &v);
        keep_release(&k);
        if (pending != NULL)
            aa__future_drop(pending);
        aa__raise_asked(&call);
        return NULL;
    }
    if (pending != NULL) {
        keep_release(&k);
        return aa__future_object(pending);
    }
    /* What fn returned may be one of its arguments (an s or j it hands
     * back): converted before they are let go. */
    r = aa__value_to_py(d, sig->ret, &v, "returned");
    free_returned(sig->ret, &v);
    keep_release(&k);
    return r;
fail:
    keep_release(&k);
    if (pending != NULL)
        aa__future_discard(pending);
    return NULL;
}

#if AA__DIRECT_CALLS
/*
 * The call of a plain signature (integers, doubles and userdata in;
 * nothing, an integer or a double out), the common case of a host
 * function: the same rules as hostfn_call, with nothing it does not need
 * (no buffers, no JSON, no future), so that a call costs little more than
 * a CPython extension method's.
 */
static PyObject *hostfn_call_plain(PyObject *self, PyObject *const *args,
                                   size_t nargsf, PyObject *kwnames)
{
    hostfn *h = (hostfn *)self;
    aa__def *d = h->def;
    const aa__sig *sig = &d->sig;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    hostcall call = {NULL, NULL, 0, 0}, *prev;
    cargs c;
    creturn rv;
    int i, ci = 0;

    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) ||
        nargs != sig->ncell)
        return hostfn_call(self, args, nargsf, kwnames); /* its errors */
    memset(c.gp, 0, sizeof c.gp);
    memset(c.sse, 0, sizeof c.sse);
    c.ngp = c.nsse = 0;
    for (i = 0; i < sig->ncodes; i++) {
        PyObject *o;
        long long ll;
        int overflow;

        switch (sig->codes[i]) {
        case 'u':
            put_gp(&c, (uint64_t)(uintptr_t)d->userdata);
            continue;
        case 'd':
            o = args[ci++];
            if (!PyFloat_CheckExact(o))
                return hostfn_call(self, args, nargsf, kwnames);
            put_sse(&c, PyFloat_AS_DOUBLE(o));
            continue;
        default: /* i l */
            o = args[ci++];
            if (!PyLong_CheckExact(o))
                return hostfn_call(self, args, nargsf, kwnames);
            ll = PyLong_AsLongLongAndOverflow(o, &overflow);
            if (overflow ||
                (sig->codes[i] == 'i' && (ll < INT_MIN || ll > INT_MAX)))
                return hostfn_call(self, args, nargsf, kwnames);
            put_gp(&c, (uint64_t)ll);
            continue;
        }
    }
    prev = aa__raise_enter(&call);
    direct_call(sig->ret, d->fn, &c, &rv);
    aa__raise_leave(prev);
    if (call.raised) {
        aa__raise_asked(&call);
        return NULL;
    }
    switch (sig->ret) {
    case 'i':
        return PyLong_FromLong((int32_t)(uint32_t)rv.a);
    case 'l':
        return PyLong_FromLongLong(rv.l);
    case 'd':
        return PyFloat_FromDouble(rv.d);
    default:
        Py_RETURN_NONE;
    }
}
#endif

static PyObject *hostfn_repr(PyObject *self)
{
    hostfn *h = (hostfn *)self;

    return PyUnicode_FromFormat("<host function %s %s>", h->def->name,
                                h->def->sigtext);
}

static void hostfn_dealloc(PyObject *self)
{
    hostfn *h = (hostfn *)self;

    aa__def_unref(h->def);
    Py_XDECREF(h->name);
    Py_XDECREF(h->qualname);
    Py_XDECREF(h->module);
    Py_XDECREF(h->doc);
    PyObject_Free(self);
}

static PyMemberDef hostfn_members[] = {
    {"__name__", T_OBJECT, offsetof(hostfn, name), READONLY, NULL},
    {"__qualname__", T_OBJECT, offsetof(hostfn, qualname), READONLY, NULL},
    {"__module__", T_OBJECT, offsetof(hostfn, module), READONLY, NULL},
    {"__doc__", T_OBJECT, offsetof(hostfn, doc), READONLY, NULL},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(hostfn, vectorcall), READONLY,
     NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject hostfn_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "autoawait.HostFunction",
    .tp_basicsize = sizeof(hostfn),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A C function of the host (aa_define)",
    .tp_vectorcall_offset = offsetof(hostfn, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = hostfn_repr,
    .tp_dealloc = hostfn_dealloc,
    .tp_members = hostfn_members,
};

/* "add(int, int) -> int", what help() shows. */
static PyObject *hostfn_doc(const aa__def *d, const char *attr)
{
    char buf[512];
    size_t n = 0;
    int i, first = 1;

    n += (size_t)snprintf(buf, sizeof buf, "%s(", attr);
    for (i = 0; i < d->sig.ncodes && n < sizeof buf; i++) {
        if (d->sig.codes[i] == 'u' || d->sig.codes[i] == 'F')
            continue;
        n +=
            (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", first ? "" : ", ",
                             aa__sig_pytype(d->sig.codes[i]));
        first = 0;
    }
    if (n < sizeof buf)
        snprintf(buf + n, sizeof buf - n, ") -> %s\n\nA host function: C %s.",
                 d->sig.future_at >= 0 ? "awaitable"
                                       : aa__sig_pytype(d->sig.ret),
                 d->sigtext);
    return PyUnicode_FromString(buf);
}

static PyObject *hostfn_new(aa__def *d, aa_session *s)
{
    hostfn *h = PyObject_New(hostfn, &hostfn_type);
    const char *attr = d->name + (d->modlen != 0 ? d->modlen + 1 : 0);

    if (h == NULL)
        return NULL;
    h->vectorcall = hostfn_call;
#if AA__DIRECT_CALLS
    if (d->sig.plain)
        h->vectorcall = hostfn_call_plain;
#endif
    aa__def_ref(d);
    h->def = d;
    h->s = s;
    h->name = PyUnicode_FromString(attr);
    h->qualname = Py_XNewRef(h->name);
    h->module =
        d->modlen != 0
            ? PyUnicode_FromStringAndSize(d->name, (Py_ssize_t)d->modlen)
            : Py_NewRef(Py_None);
    h->doc = hostfn_doc(d, attr);
    if (h->name == NULL || h->module == NULL || h->doc == NULL) {
        Py_DECREF(h);
        return NULL;
    }
    return (PyObject *)h;
}

int aa__host_types_add(PyObject *module)
{
    PyTypeObject *types[] = {&hostfn_type, &pointer_type};
    const char *names[] = {"HostFunction", "Pointer"};
    size_t i;

    for (i = 0; i < 2; i++)
        if (PyType_Ready(types[i]) < 0 ||
            PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) < 0)
            return -1;
    return aa__future_types_add(module);
}

/* ---------------------------------------------------------------- modules */

#define HOST_MARK "__autoawait_host__"

/* The module modname[0..len) of s (borrowed), made with its parents when
 * create is set; NULL with no error when it is not there. */
static PyObject *module_get(aa_session *s, const char *modname, size_t len,
                            int create)
{
    PyObject *key, *m, *parent;
    const char *dot;

    if (s->hostmods == NULL &&
        (!create || (s->hostmods = PyDict_New()) == NULL))
        return NULL;
    if ((key = PyUnicode_FromStringAndSize(modname, (Py_ssize_t)len)) == NULL)
        return NULL;
    m = PyDict_GetItemWithError(s->hostmods, key);
    if (m != NULL || PyErr_Occurred() || !create) {
        Py_DECREF(key);
        return m;
    }
    m = PyModule_NewObject(key);
    if (m == NULL || PyObject_SetAttrString(m, HOST_MARK, Py_True) < 0)
        goto fail;
    for (dot = modname + len; dot > modname && dot[-1] != '.'; dot--)
        ;
    dot = dot > modname ? dot - 1 : NULL;
    if (dot != NULL) {
        PyObject *path = NULL, *attr;
        int rc;

        parent = module_get(s, modname, (size_t)(dot - modname), 1);
        if (parent == NULL)
            goto fail;
        if (!PyObject_HasAttrString(parent, "__path__") &&
            ((path = PyList_New(0)) == NULL ||
             PyObject_SetAttrString(parent, "__path__", path) < 0)) {
            Py_XDECREF(path);
            goto fail;
        }
        Py_XDECREF(path);
        attr = PyUnicode_FromStringAndSize(
            dot + 1, (Py_ssize_t)(modname + len - (dot + 1)));
        rc = attr != NULL ? PyObject_SetAttr(parent, attr, m) : -1;
        Py_XDECREF(attr);
        if (rc < 0)
            goto fail;
    }
    if (PyDict_SetItem(s->hostmods, key, m) < 0)
        goto fail;
    Py_DECREF(key);
    Py_DECREF(m);
    return m;
fail:
    Py_DECREF(key);
    Py_XDECREF(m);
    return NULL;
}

/* The definition of name s sees (its own, else the process's), with a
 * reference, or NULL. */
static aa__def *effective(aa_session *s, const char *name)
{
    aa__def *d = *find(&s->defs, name);

    if (d != NULL) {
        aa__def_ref(d);
        return d;
    }
    pthread_mutex_lock(&defs_lock);
    if ((d = *find(&global_defs, name)) != NULL)
        aa__def_ref(d);
    pthread_mutex_unlock(&defs_lock);
    return d;
}

/* Shows in s what it sees of name now: sets, replaces or removes the
 * function in its namespace or module.  The GIL is held. */
static int apply(aa_session *s, const char *name)
{
    aa__def *d = effective(s, name);
    size_t modlen =
        (size_t)(strrchr(name, '.') != NULL ? strrchr(name, '.') - name : 0);
    PyObject *dict, *cur, *fn, *key;
    int rc = 0;

    if (modlen != 0) {
        PyObject *m = module_get(s, name, modlen, d != NULL);

        if (m == NULL) {
            aa__def_unref(d);
            return PyErr_Occurred() ? -1 : 0;
        }
        dict = PyModule_GetDict(m);
        key = PyUnicode_FromString(name + modlen + 1);
    } else {
        dict = s->ns;
        key = PyUnicode_FromString(name);
    }
    if (key == NULL || dict == NULL) {
        Py_XDECREF(key);
        aa__def_unref(d);
        return -1;
    }
    cur = PyDict_GetItemWithError(dict, key);
    if (d != NULL) {
        if (cur == NULL || !PyObject_TypeCheck(cur, &hostfn_type) ||
            ((hostfn *)cur)->def != d) {
            fn = hostfn_new(d, s);
            rc = fn != NULL ? PyDict_SetItem(dict, key, fn) : -1;
            Py_XDECREF(fn);
        }
    } else if (cur != NULL && PyObject_TypeCheck(cur, &hostfn_type)) {
        rc = PyDict_DelItem(dict, key);
    }
    Py_DECREF(key);
    aa__def_unref(d);
    if (rc == 0 && installed == s) {
        installed = NULL;
        aa__host_install(s);
    }
    return rc;
}

void aa__host_install(aa_session *s)
{
    PyObject *modules, *k, *v;
    Py_ssize_t pos = 0;

    if (installed == s && (s == NULL || s->hostmods == NULL))
        return;
    modules = PyImport_GetModuleDict();
    if (installed != NULL && installed != s && installed->hostmods != NULL)
        while (PyDict_Next(installed->hostmods, &pos, &k, &v))
            if (PyDict_GetItemWithError(modules, k) == v &&
                PyDict_DelItem(modules, k) < 0)
                PyErr_Clear();
    installed = s;
    pos = 0;
    if (s != NULL && s->hostmods != NULL)
        while (PyDict_Next(s->hostmods, &pos, &k, &v))
            if (PyDict_GetItemWithError(modules, k) != v &&
                PyDict_SetItem(modules, k, v) < 0)
                PyErr_Clear();
    if (PyErr_Occurred())
        PyErr_Clear();
}

/* Whether the module part of name may be a host module: not Python's own,
 * not the library's, not one imported already that is no host module. */
static int module_ok(const char *name, char *err, size_t errlen)
{
    const char *dot = strchr(name, '.');
    PyObject *top, *names, *mod;
    int taken = 0;

    if (dot == NULL)
        return AA_OK;
    if ((top = PyUnicode_FromStringAndSize(name, dot - name)) == NULL)
        return AA_ENOMEM;
    if (PyUnicode_CompareWithASCIIString(top, "autoawait") == 0)
        taken = 1;
    names = PySys_GetObject("stdlib_module_names"); /* borrowed */
    if (!taken && names != NULL && PySequence_Contains(names, top) == 1)
        taken = 2;
    mod = PyDict_GetItemWithError(PyImport_GetModuleDict(), top);
    if (!taken && mod != NULL && !PyObject_HasAttrString(mod, HOST_MARK))
        taken = 3;
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_DECREF(top);
    if (!taken)
        return AA_OK;
    snprintf(
        err, errlen,
        "aa_define: \"%s\": the module \"%.*s\" is %s; host modules cannot "
        "replace it",
        name, (int)(dot - name), name,
        taken == 1   ? "the library's own"
        : taken == 2 ? "part of Python"
                     : "imported already");
    return AA_EINVAL;
}

static int clashes(const aa__def *c, const char *name, char *err, size_t errlen)
{
    if (c == NULL)
        return 0;
    snprintf(err, errlen,
             "aa_define: \"%s\" clashes with \"%s\": a name cannot be both a "
             "function and a module",
             name, c->name);
    return 1;
}

/* Puts d in (or, d NULL, takes name out of) the list at head. */
static int list_put(aa__def **head, const char *name, aa__def *d, char *err,
                    size_t errlen, const char *where)
{
    aa__def **slot = find(head, name), *old = *slot;

    if (d == NULL) {
        if (old == NULL) {
            snprintf(err, errlen, "aa_define: \"%s\" is not defined %s", name,
                     where);
            return AA_ENOTFOUND;
        }
        *slot = old->next;
    } else {
        d->next = old != NULL ? old->next : NULL;
        *slot = d;
    }
    aa__def_unref(old);
    return AA_OK;
}

static int define_session(aa_session *s, const char *name, aa__def *d,
                          char *err, size_t errlen)
{
    int rc;

    if (d != NULL) {
        const aa__def *c = clash(s->defs, name);

        if (!clashes(c, name, err, errlen)) {
            pthread_mutex_lock(&defs_lock);
            c = clash(global_defs, name);
            pthread_mutex_unlock(&defs_lock);
        }
        if (clashes(c, name, err, errlen)) {
            aa__def_unref(d);
            return AA_EINVAL;
        }
    }
    if ((rc = list_put(&s->defs, name, d, err, errlen, "in this session")) !=
        AA_OK)
        return rc;
    if (apply(s, name) < 0) {
        snprintf(err, errlen, "aa_define: \"%s\": Python failed", name);
        PyErr_Clear();
        return AA_EPYTHON;
    }
    return AA_OK;
}

static int define_global(const char *name, aa__def *d, char *err, size_t errlen)
{
    aa_session **live;
    size_t n = 0, i;
    int rc = AA_OK;

    live = aa__live_snapshot(&n);
    for (i = 0; d != NULL && i < n; i++)
        if (clashes(clash(live[i]->defs, name), name, err, errlen)) {
            free(live);
            aa__def_unref(d);
            return AA_EINVAL;
        }
    pthread_mutex_lock(&defs_lock);
    if (d == NULL || !clashes(clash(global_defs, name), name, err, errlen))
        rc = list_put(&global_defs, name, d, err, errlen, "for every session");
    else
        rc = AA_EINVAL;
    pthread_mutex_unlock(&defs_lock);
    if (rc != AA_OK)
        aa__def_unref(d);
    for (i = 0; rc == AA_OK && i < n; i++)
        if (apply(live[i], name) < 0) {
            snprintf(err, errlen, "aa_define: \"%s\": Python failed", name);
            PyErr_Clear();
            rc = AA_EPYTHON;
        }
    free(live);
    return rc;
}

int aa_define(aa_session *s, const char *name, const char *signature,
              void (*fn)(void), void *userdata)
{
    char err[AA__ERRMSG_SIZE], why[128];
    aa__def *d = NULL;
    PyGILState_STATE g;
    int rc;

    err[0] = '\0';
    if (name == NULL) {
        snprintf(err, sizeof err, "aa_define: name is NULL");
        rc = AA_EINVAL;
    } else if (!name_ok(name, why, sizeof why)) {
        snprintf(err, sizeof err, "aa_define: bad name \"%.100s\": %s", name,
                 why);
        rc = AA_EINVAL;
    } else if (fn != NULL && signature == NULL) {
        snprintf(err, sizeof err, "aa_define: \"%s\": signature is NULL", name);
        rc = AA_EINVAL;
    } else if (fn != NULL && (d = def_new(name, signature, fn, userdata, &rc,
                                          why, sizeof why)) == NULL) {
        snprintf(err, sizeof err, "aa_define: \"%s\": %s", name, why);
    } else if ((rc = aa__interp_enter(&g)) != AA_OK) {
        snprintf(err, sizeof err, "aa_define: no Python interpreter");
        aa__def_unref(d);
    } else {
        rc = d != NULL ? module_ok(name, err, sizeof err) : AA_OK;
        if (rc == AA_OK)
            rc = s != NULL ? define_session(s, name, d, err, sizeof err)
                           : define_global(name, d, err, sizeof err);
        else
            aa__def_unref(d);
        aa__interp_leave(g);
    }
    if (rc != AA_OK && s != NULL)
        snprintf(s->errmsg, sizeof s->errmsg, "%s", err);
    else if (rc != AA_OK)
        snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE, "%s", err);
    return rc;
}

/* ---------------------------------------------------------------- session */

int aa__host_session_init(aa_session *s)
{
    char **names = NULL;
    size_t n = 0, i;
    aa__def *d;
    int rc = 0;

    pthread_mutex_lock(&defs_lock);
    for (d = global_defs; d != NULL; d = d->next)
        n++;
    if (n > 0 && (names = calloc(n, sizeof *names)) != NULL)
        for (i = 0, d = global_defs; d != NULL; d = d->next)
            names[i++] = strdup(d->name);
    pthread_mutex_unlock(&defs_lock);
    if (n > 0 && names == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (rc == 0 && (names[i] == NULL || apply(s, names[i]) < 0))
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

void aa__host_session_free(aa_session *s)
{
    aa__def *d;

    aa__futures_session_gone(s);
    while ((d = s->defs) != NULL) {
        s->defs = d->next;
        aa__def_unref(d);
    }
    if (installed == s)
        aa__host_install(NULL);
    Py_CLEAR(s->hostmods);
}
