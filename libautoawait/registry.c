/*
 * registry.c -- the process's runners, by name.
 *
 * One list for every runner, whether a host registered it in process or a
 * plugin was loaded: the same checks (aa__runner_check) and the same
 * entries, so that dispatch has one path.  Entries live until the process
 * ends; sessions point at them.  Loading plugins is loader.c's business.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static aa__runner_entry *registry;

int aa__runner_name_ok(const char *name)
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n > 0 && n < AA__NAME_MAX;
}

/*
 * Checks a runner's vtable the way every runner is checked, and copies the
 * fields its struct_size covers into copy (the rest zeroed).  doing says
 * what was being done, for messages: "load runner 'trio' from PATH",
 * "register runner 'x'".
 */
int aa__runner_check(const aa_runner *r, const char *name, const char *doing,
                     aa_runner *copy, char *err, size_t errlen)
{
    if (r == NULL) {
        snprintf(err, errlen, "cannot %s: no vtable", doing);
        return AA_EINVAL;
    }
    if (r->abi_version != AA_RUNNER_ABI_VERSION) {
        snprintf(err, errlen,
                 "cannot %s: runner ABI %u, this library speaks %u", doing,
                 r->abi_version, AA_RUNNER_ABI_VERSION);
        return AA_EABI;
    }
    if (r->struct_size < AA_RUNNER_MIN_SIZE) {
        snprintf(err, errlen,
                 "cannot %s: its vtable is %zu bytes, at least %zu are needed",
                 doing, r->struct_size, (size_t)AA_RUNNER_MIN_SIZE);
        return AA_EABI;
    }
    memset(copy, 0, sizeof *copy);
    memcpy(copy, r,
           r->struct_size < sizeof *copy ? r->struct_size : sizeof *copy);
    copy->struct_size = sizeof *copy;
    if (copy->name == NULL || strcmp(copy->name, name) != 0) {
        snprintf(err, errlen, "cannot %s: it calls itself '%s'", doing,
                 copy->name != NULL ? copy->name : "(null)");
        return AA_EINVAL;
    }
    if (copy->run == NULL) {
        snprintf(err, errlen, "cannot %s: its vtable has no run", doing);
        return AA_EINVAL;
    }
    return AA_OK;
}

static aa__runner_entry *lookup(const char *name)
{
    aa__runner_entry *e;

    for (e = registry; e != NULL; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/*
 * Makes an entry for a runner, after the checks every runner goes through.
 * The entry is the caller's: the registry's list, or a session's own (a
 * callable of its namespace).  NULL with *rc and err set on failure.
 */
aa__runner_entry *aa__runner_entry_new(const char *name, const aa_runner *vt,
                                       void *userdata, const char *doing,
                                       int *rc, char *err, size_t errlen)
{
    aa__runner_entry *e;
    aa_runner copy;

    *rc = aa__runner_check(vt, name, doing, &copy, err, errlen);
    if (*rc != AA_OK)
        return NULL;
    if ((e = calloc(1, sizeof *e)) == NULL) {
        snprintf(err, errlen, "out of memory registering runner '%s'", name);
        *rc = AA_ENOMEM;
        return NULL;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    e->vt = copy;
    e->vt.name = e->name;
    e->userdata = userdata;
    return e;
}

/* Adds a runner to the process's list.  The caller holds registry_lock. */
static int add_locked(const char *name, const aa_runner *vt, void *userdata,
                      void *dl, const char *path, char *err, size_t errlen)
{
    aa__runner_entry *e;
    char doing[AA__ERRMSG_SIZE / 2];
    int rc;

    if (lookup(name) != NULL) {
        snprintf(err, errlen, "a runner called '%s' is already registered",
                 name);
        return AA_EINVAL;
    }
    if (path != NULL)
        snprintf(doing, sizeof doing, "load runner '%s' from %s", name, path);
    else
        snprintf(doing, sizeof doing, "register runner '%s'", name);
    e = aa__runner_entry_new(name, vt, userdata, doing, &rc, err, errlen);
    if (e == NULL)
        return rc;
    if (path != NULL && (e->path = strdup(path)) == NULL) {
        free(e);
        snprintf(err, errlen, "out of memory registering runner '%s'", name);
        return AA_ENOMEM;
    }
    e->dl = dl;
    e->next = registry;
    registry = e;
    return AA_OK;
}

int aa__registry_add(const char *name, const aa_runner *vt, void *userdata,
                     void *dl, const char *path, char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&registry_lock);
    rc = add_locked(name, vt, userdata, dl, path, err, errlen);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

/*
 * Finds the runner called name, loading its plugin on first use.  The lock
 * is held across the load so that two threads never load one plugin twice;
 * the loader calls the plugin's entry with the GIL held and the entry must
 * not release it (runner.h says so).
 */
int aa__registry_find(const char *name, const aa__runner_entry **out, char *err,
                      size_t errlen)
{
    int rc = AA_OK;

    if (!aa__runner_name_ok(name)) {
        snprintf(err, errlen,
                 "'%s' is not a runner name: names are [a-z0-9_]+, at most "
                 "%d characters",
                 name != NULL ? name : "(null)", AA__NAME_MAX - 1);
        return AA_EINVAL;
    }
    pthread_mutex_lock(&registry_lock);
    *out = lookup(name);
    if (*out == NULL) {
        rc = aa__loader_load(name, err, errlen);
        *out = lookup(name);
    }
    pthread_mutex_unlock(&registry_lock);
    return *out != NULL ? AA_OK : rc;
}

/* Called by the loader, which runs with registry_lock held. */
int aa__registry_add_loaded(const char *name, const aa_runner *vt, void *dl,
                            const char *path, char *err, size_t errlen)
{
    return add_locked(name, vt, NULL, dl, path, err, errlen);
}

int aa_runner_register(const aa_runner *runner, void *userdata)
{
    const char *name = runner != NULL ? runner->name : NULL;
    int rc;

    aa__thread_errmsg[0] = '\0';
    if (runner == NULL || !aa__runner_name_ok(name)) {
        snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE,
                 "cannot register runner '%s': %s",
                 name != NULL ? name : "(null)",
                 runner == NULL ? "no vtable"
                                : "names are [a-z0-9_]+, at most 63 "
                                  "characters");
        return AA_EINVAL;
    }
    rc = aa__registry_add(name, runner, userdata, NULL, NULL, aa__thread_errmsg,
                          AA__ERRMSG_SIZE);
    return rc;
}
