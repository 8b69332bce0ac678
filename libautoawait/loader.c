/*
 * loader.c -- finding and loading runner plugins.
 *
 * A runner called NAME lives in aa_runner_NAME.so, looked for in each
 * absolute folder of AA_RUNNER_PATH, then in the runner folder beside the
 * library itself (so the build tree and a relocated install work), then in
 * the folder it was installed to.  Never the current directory, never a
 * relative folder, never a file or folder that others may write to.  The loader
 * checks what the plugin hands back through aa__runner_check, like any runner,
 * and dlcloses what it refuses.  The registry (registry.c) keeps what it
 * accepts.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_SIZE 4096

/* Any object of the library: dladdr finds the library's file from it. */
static const char anchor;

/* The runner folder beside libautoawait.so, found from one of its symbols. */
static int library_runner_dir(char *dir, size_t size)
{
    Dl_info info;
    const char *slash;

    if (dladdr(&anchor, &info) == 0 || info.dli_fname == NULL)
        return -1;
    slash = strrchr(info.dli_fname, '/');
    if (slash == NULL)
        return -1;
    return snprintf(dir, size, "%.*s/%s", (int)(slash - info.dli_fname),
                    info.dli_fname, AA_RUNNER_SUBDIR) < (int)size
               ? 0
               : -1;
}

/*
 * Loads the plugin at path.  Returns AA_OK (registered), or a failure with
 * err saying which step refused it.
 */
static int load_file(const char *name, const char *path, char *err,
                     size_t errlen)
{
    aa_runner_host host = {AA_RUNNER_ABI_VERSION, sizeof(aa_runner_host),
                           AA_VERSION_STRING, NULL, aa__own_call};
    const aa_runner *vt = NULL;
    aa_runner_entry_fn entry;
    void *dl;
    int rc;

    host.name = name;
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(err, errlen, "cannot load runner '%s' from %s: %s", name, path,
                 dlerror());
        return AA_ERUNNER;
    }
    *(void **)&entry = dlsym(dl, AA_RUNNER_ENTRY_NAME);
    if (entry == NULL) {
        snprintf(err, errlen,
                 "cannot load runner '%s' from %s: it exports no %s", name,
                 path, AA_RUNNER_ENTRY_NAME);
        rc = AA_EABI;
        goto fail;
    }
    rc = entry(&host, &vt);
    if (PyErr_Occurred())
        PyErr_Clear();
    if (rc != 0) {
        snprintf(err, errlen,
                 "cannot load runner '%s' from %s: its %s refused (%d)", name,
                 path, AA_RUNNER_ENTRY_NAME, rc);
        rc = AA_ERUNNER;
        goto fail;
    }
    rc = aa__registry_add_loaded(name, vt, dl, path, err, errlen);
    if (rc != AA_OK)
        goto fail;
    return AA_OK;
fail:
    dlclose(dl);
    return rc;
}

/* Appends " DIR/aa_runner_NAME.so" to the list of paths tried. */
static void note_tried(char *tried, size_t size, const char *path)
{
    size_t used = strlen(tried);

    /* A list too long for the message is cut; the first paths matter most. */
    if (used < size &&
        snprintf(tried + used, size - used, "%s%s", used ? ", " : "", path) < 0)
        tried[used] = '\0';
}

/*
 * Anyone who can write the plugin, or the folder it sits in, can make the
 * host run their code: refuse it then, saying how to fix it.
 */
static int writable_by_others(const char *name, const char *path,
                              const char *dir, const struct stat *st, char *err,
                              size_t errlen)
{
    struct stat dst;
    const char *what = NULL;
    unsigned mode = 0;

    if (st->st_mode & S_IWOTH) {
        what = path;
        mode = (unsigned)st->st_mode;
    } else if (stat(dir, &dst) == 0 && (dst.st_mode & S_IWOTH)) {
        what = dir;
        mode = (unsigned)dst.st_mode;
    }
    if (what == NULL)
        return AA_OK;
    snprintf(err, errlen,
             "cannot load runner '%s' from %s: %s is writable by others "
             "(mode %04o); `chmod o-w %s` if it is yours",
             name, path, what, mode & 07777, what);
    return AA_ERUNNER;
}

/* Tries dir; 1 when a plugin file was there (loaded or refused), else 0. */
static int try_dir(const char *name, const char *dir, int *rc, char *tried,
                   size_t tried_size, char *err, size_t errlen)
{
    char path[PATH_SIZE];
    struct stat st;

    if (dir[0] != '/')
        return 0; /* relative folders would depend on the current one */
    if (snprintf(path, sizeof path, "%s/aa_runner_%s.so", dir, name) >=
        (int)sizeof path)
        return 0;
    note_tried(tried, tried_size, path);
    if (stat(path, &st) != 0)
        return 0;
    *rc = writable_by_others(name, path, dir, &st, err, errlen);
    if (*rc == AA_OK)
        *rc = load_file(name, path, err, errlen);
    return 1;
}

/* Called by the registry with its lock held. */
int aa__loader_load(const char *name, char *err, size_t errlen)
{
    char tried[AA__ERRMSG_SIZE] = "", dir[PATH_SIZE];
    const char *env = getenv("AA_RUNNER_PATH");
    int rc = AA_ENOTFOUND;

    if (env != NULL) {
        const char *p = env;
        while (*p != '\0') {
            size_t n = strcspn(p, ":");
            if (n > 0 && n < sizeof dir) {
                memcpy(dir, p, n);
                dir[n] = '\0';
                if (try_dir(name, dir, &rc, tried, sizeof tried, err, errlen))
                    return rc;
            }
            p += n + (p[n] == ':');
        }
    }
    if (library_runner_dir(dir, sizeof dir) == 0 &&
        try_dir(name, dir, &rc, tried, sizeof tried, err, errlen))
        return rc;
    if (try_dir(name, AA_RUNNER_INSTALL_DIR, &rc, tried, sizeof tried, err,
                errlen))
        return rc;
    snprintf(err, errlen, "no runner '%s': not registered, and no plugin at %s",
             name, tried);
    return AA_ENOTFOUND;
}
