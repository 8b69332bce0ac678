/*
 * pyrunner.h -- Python callables as runners, through libffi closures.
 *
 * The bindings turn a Python callable fn(coro) -> result into an aa_runner
 * vtable whose run is a real C function pointer: an ffi closure bound to
 * the callable.  The vtable then goes through the same checks, registry
 * and dispatch as a plugin's.  Built into libautoawait; uses only the
 * public headers, Python.h and ffi.h.
 */
#ifndef AA_PYRUNNER_H
#define AA_PYRUNNER_H

#include <Python.h>

#include "autoawait/runner.h"

typedef struct aa_pyrunner aa_pyrunner;

/*
 * Makes a runner called name (copied) that calls fn (a new reference is
 * kept) with the cell's coroutine, inside the session's Context.  Returns
 * NULL with a Python exception set on failure.  The GIL is held.
 */
aa_pyrunner *aa__pyrunner_new(const char *name, PyObject *fn);

/* The vtable, valid as long as the pyrunner. */
const aa_runner *aa__pyrunner_vtable(const aa_pyrunner *p);

/* The callable (borrowed). */
PyObject *aa__pyrunner_callable(const aa_pyrunner *p);

/* Frees the closure and drops the callable.  The GIL is held. */
void aa__pyrunner_free(aa_pyrunner *p);

#endif /* AA_PYRUNNER_H */
