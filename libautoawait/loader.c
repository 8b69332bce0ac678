/*
 * loader.c -- finding and loading runner plugins.
 *
 * A runner called NAME lives in aa_runner_NAME.so, looked for in each
 * absolute folder of AA_RUNNER_PATH, then in the runner folder beside the
 * library itself (so the build tree and a relocated install work), then in
 * the folder it was installed to.  Never the current directory: not as a
 * relative folder, nor under /proc or /dev/fd, whose names stand for it.
 *
 * A plugin found is trusted as OpenSSH trusts authorized_keys: on its real
 * path, the file and every folder up to / belong to root or to the
 * process's user, and neither group nor others may write them.  One
 * exception, for folders above the plugin's own: a sticky folder of root's
 * such as /tmp, where others may make names but never rename or remove
 * ours, so the folder below it (checked in turn) stays ours.  The file checked
 * is the file loaded: it is opened once, its identity compared with what was
 * checked, and dlopen'ed through /proc/self/fd.
 *
 * The loader is a leaf: it hands back what it opened (the plugin's vtable,
 * its handle, its path) and knows nothing of the registry, which checks the
 * vtable like any runner's and gives back, through aa__loader_unload, what
 * it refuses (runner.c).
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_SIZE PATH_MAX

/* Any object of the library: dladdr finds the library's file from it. */
static const char anchor;

/*
 * The real folder of the libautoawait.so that is loaded, or "".  Found once,
 * as the library is loaded: the dynamic loader may have found it through a
 * relative folder (LD_LIBRARY_PATH=lib), which names another folder, or
 * none, once the process changes its current directory.
 */
static char library_dir[PATH_SIZE];

__attribute__((constructor)) static void find_library_dir(void)
{
    char dir[PATH_SIZE];
    const char *slash;
    Dl_info info;
    int n;

    if (dladdr(&anchor, &info) == 0 || info.dli_fname == NULL ||
        (slash = strrchr(info.dli_fname, '/')) == NULL)
        return;
    n = (int)(slash - info.dli_fname);
    if (snprintf(dir, sizeof dir, "%.*s", n, info.dli_fname) >= (int)sizeof dir)
        return;
    if (realpath(n > 0 ? dir : "/", library_dir) == NULL)
        library_dir[0] = '\0';
}

/* snprintf for messages, which a long path may cut short. */
static void say(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/*
 * 1 when dir, a folder of AA_RUNNER_PATH, is under /proc or /dev/fd: the
 * current directory (/proc/self/cwd) or an open file of the process in
 * disguise.  Empty and "." components do not hide it.
 */
static int process_relative(const char *dir)
{
    static const char *const tops[] = {"proc", "dev/fd"};
    size_t i;

    for (i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        const char *p = dir, *t = tops[i];

        while (*t != '\0') {
            size_t n;

            while (*p == '/' || (p[0] == '.' && (p[1] == '/' || !p[1])))
                p++;
            n = strcspn(t, "/");
            if (strncmp(p, t, n) != 0 || (p[n] != '/' && p[n] != '\0'))
                break;
            p += n;
            t += n + (t[n] == '/');
        }
        if (*t == '\0')
            return 1;
    }
    return 0;
}

/*
 * Why the file or folder at path, of status st, is not to be trusted with
 * code, into why (with how to fix it); 0 when it is.
 */
static int untrusted(const char *what, const char *path, const struct stat *st,
                     int above, char *why, size_t size)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    unsigned me = (unsigned)geteuid();

    if (st->st_uid != 0 && st->st_uid != me)
        say(why, size,
            "%s %s is owned by uid %u, neither root nor this process's "
            "user (uid %u)",
            what, path, (unsigned)st->st_uid, me);
    else if (above && st->st_uid == 0 && (mode & S_ISVTX))
        return 0;
    else if ((mode & S_IWOTH) && (mode & S_ISVTX))
        say(why, size,
            "%s %s is writable by others (mode %04o, shared by all users): "
            "keep plugins out of it",
            what, path, mode);
    else if (mode & S_IWOTH)
        say(why, size,
            "%s %s is writable by others (mode %04o); `chmod o-w %s`", what,
            path, mode, path);
    else if (mode & S_IWGRP)
        say(why, size, "%s %s is group-writable (mode %04o); `chmod g-w %s`",
            what, path, mode, path);
    else
        return 0;
    return 1;
}

/* Checks every folder of real, an absolute path free of links, up to /. */
static int untrusted_folders(const char *real, char *why, size_t size)
{
    char dir[PATH_SIZE];
    struct stat st;
    char *slash;
    int above = 0;

    snprintf(dir, sizeof dir, "%s", real);
    while ((slash = strrchr(dir, '/')) != NULL) {
        slash[slash == dir] = '\0'; /* "/x" leaves "/" */
        if (lstat(dir, &st) != 0) {
            say(why, size, "folder %s: %s", dir, strerror(errno));
            return 1;
        }
        if (untrusted("folder", dir, &st, above, why, size))
            return 1;
        above = 1;
        if (slash == dir)
            break;
    }
    return 0;
}

/*
 * Opens the plugin at path after checking its real path (put in real).
 * Returns the fd of the very file checked, or -1 with err set.
 */
static int open_trusted(const char *name, const char *path, char *real,
                        char *err, size_t errlen)
{
    char why[AA__ERRMSG_SIZE];
    struct stat st, fst;
    int fd = -1;

    real[0] = '\0';
    if (realpath(path, real) == NULL)
        say(why, sizeof why, "%s", strerror(errno));
    else if (lstat(real, &st) != 0)
        say(why, sizeof why, "%s: %s", real, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        say(why, sizeof why, "%s is not a regular file", real);
    else if (untrusted("file", real, &st, 0, why, sizeof why) ||
             untrusted_folders(real, why, sizeof why))
        ;
    /* O_NONBLOCK: should a FIFO have taken the file's place, the open must
     * not wait for a writer. */
    else if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) <
                 0 ||
             (fd = aa__fd_above_stdio(fd)) < 0)
        say(why, sizeof why, "%s: %s", real, strerror(errno));
    else if (fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev ||
             fst.st_ino != st.st_ino)
        say(why, sizeof why, "%s changed while it was checked", real);
    else
        return fd;
    if (fd >= 0)
        close(fd);
    if (real[0] != '\0' && strcmp(real, path) != 0)
        say(err, errlen, "cannot load runner '%s' from %s (real path %s): %s",
            name, path, real, why);
    else
        say(err, errlen, "cannot load runner '%s' from %s: %s", name, path,
            why);
    return -1;
}

/*
 * dlopens the file open on fd by its name in /proc/self/fd, so that the
 * file loaded is the one that was checked whatever happens to its path.
 * dlerror's text names the file by real, not by the fd's name.
 */
static void *dlopen_fd(const char *name, const char *path, const char *real,
                       int fd, char *fdpath, size_t fdsize, char *err,
                       size_t errlen)
{
    struct stat st, fst;
    const char *why;
    void *dl;

    snprintf(fdpath, fdsize, "/proc/self/fd/%d", fd);
    if (stat(fdpath, &st) != 0 || fstat(fd, &fst) != 0 ||
        st.st_dev != fst.st_dev || st.st_ino != fst.st_ino) {
        say(err, errlen,
            "cannot load runner '%s' from %s: %s does not reach it "
            "(is /proc mounted?)",
            name, path, fdpath);
        return NULL;
    }
    dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        why = dlerror();
        if (why == NULL)
            why = "dlopen failed";
        else if (strncmp(why, fdpath, strlen(fdpath)) == 0)
            why += strlen(fdpath);
        say(err, errlen, "cannot load runner '%s' from %s: %s%s", name, path,
            why[0] == ':' ? real : "", why);
    }
    return dl;
}

/*
 * Loads the plugin at path into *out.  Returns AA_OK, or a failure with err
 * saying which step refused it.
 */
static int load_file(const char *name, const char *path, aa__loaded *out,
                     char *err, size_t errlen)
{
    const aa_runner_host *host = aa__calls_table(name);
    char real[PATH_SIZE];
    aa_runner_entry_fn entry;
    aa_session *outer;
    const char *said;
    int rc;

    memset(out, 0, sizeof *out);
    if (host == NULL) {
        snprintf(err, errlen, "cannot load runner '%s' from %s: out of memory",
                 name, path);
        return AA_ENOMEM;
    }
    if ((out->fd = open_trusted(name, path, real, err, errlen)) < 0)
        return AA_ERUNNER;
    out->dl = dlopen_fd(name, path, real, out->fd, out->fdpath,
                        sizeof out->fdpath, err, errlen);
    if (out->dl == NULL) {
        close(out->fd);
        return AA_ERUNNER;
    }
    *(void **)&entry = dlsym(out->dl, AA_RUNNER_ENTRY_NAME);
    if (entry == NULL) {
        snprintf(err, errlen,
                 "cannot load runner '%s' from %s: it exports no %s", name,
                 path, AA_RUNNER_ENTRY_NAME);
        aa__loader_unload(out);
        return AA_EABI;
    }
    /* The entry is no call of a session's (host->write answers
     * AA_ENOTFOUND), and what it says with set_error is for this load. */
    aa__calls_clear_error();
    outer = aa__calls_begin(NULL);
    rc = entry(host, &out->vt);
    aa__calls_end(outer);
    if (PyErr_Occurred())
        PyErr_Clear();
    said = aa__calls_error();
    if (rc != 0 && said != NULL)
        snprintf(err, errlen, "cannot load runner '%s' from %s: %s", name, path,
                 said);
    else if (rc != 0)
        snprintf(err, errlen,
                 "cannot load runner '%s' from %s: its %s refused (%d)", name,
                 path, AA_RUNNER_ENTRY_NAME, rc);
    aa__calls_clear_error();
    if (rc != 0) {
        aa__loader_unload(out);
        return AA_ERUNNER;
    }
    snprintf(out->path, sizeof out->path, "%s", path);
    /*
     * fd stays open for the life of the process, as the plugin stays
     * loaded: the dynamic loader knows it by the name /proc/self/fd/N, and
     * would hand it back for a later dlopen of that name if N were reused.
     */
    return AA_OK;
}

void aa__loader_unload(aa__loaded *l)
{
    void *dl;

    dlclose(l->dl);
    /* A plugin that cannot be unloaded (RTLD_NODELETE) keeps its fd, as a
     * loaded one does. */
    if ((dl = dlopen(l->fdpath, RTLD_NOW | RTLD_NOLOAD)) != NULL)
        dlclose(dl);
    else
        close(l->fd);
    l->dl = NULL;
    l->vt = NULL;
    l->fd = -1;
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

/* Tries dir; 1 when a plugin file was there (loaded or refused), else 0. */
static int try_dir(const char *name, const char *dir, aa__loaded *out, int *rc,
                   char *tried, size_t tried_size, char *err, size_t errlen)
{
    char path[PATH_SIZE];
    struct stat st;

    /* Relative folders would depend on the current one. */
    if (dir[0] != '/' || process_relative(dir))
        return 0;
    if (snprintf(path, sizeof path, "%s/aa_runner_%s.so", dir, name) >=
        (int)sizeof path)
        return 0;
    note_tried(tried, tried_size, path);
    if (stat(path, &st) != 0)
        return 0;
    *rc = load_file(name, path, out, err, errlen);
    return 1;
}

/* Called by the registry with its lock held. */
int aa__loader_load(const char *name, aa__loaded *out, char *err, size_t errlen)
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
                if (try_dir(name, dir, out, &rc, tried, sizeof tried, err,
                            errlen))
                    return rc;
            }
            p += n + (p[n] == ':');
        }
    }
    if (library_dir[0] != '\0' &&
        snprintf(dir, sizeof dir, "%s/%s", library_dir, AA_RUNNER_SUBDIR) <
            (int)sizeof dir &&
        try_dir(name, dir, out, &rc, tried, sizeof tried, err, errlen))
        return rc;
    if (try_dir(name, AA_RUNNER_INSTALL_DIR, out, &rc, tried, sizeof tried, err,
                errlen))
        return rc;
    snprintf(err, errlen, "no runner '%s': not registered, and no plugin at %s",
             name, tried);
    return AA_ENOTFOUND;
}
