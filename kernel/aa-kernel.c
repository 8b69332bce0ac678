/*
 * aa-kernel.c -- the Jupyter kernel program: one libautoawait session,
 * served by libautoawait-kernel until a client asks it to shut down, and
 * the kernelspec that lets Jupyter start it.  Like aa-shell it uses only
 * the public headers.  See aa-kernel(1) and docs/kernel.md.
 */
#define _GNU_SOURCE
#include <autoawait/kernel.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: aa-kernel [-f FILE] [--runner NAME]\n"
    "       aa-kernel --install [--user | --prefix DIR] [--name NAME]\n"
    "\n"
    "A Jupyter kernel for Python with top-level await (libautoawait).\n"
    "\n"
    "  -f FILE          the connection file: read when it exists (Jupyter\n"
    "                   wrote it), else written (mode 0600, free ports on\n"
    "                   127.0.0.1, a new key); without -f it is written in\n"
    "                   Jupyter's runtime folder and its path printed\n"
    "  --runner NAME    run async cells with runner NAME (default asyncio)\n"
    "  --install        write the kernelspec DIR/share/jupyter/kernels/NAME/\n"
    "                   kernel.json (DIR: /usr/local) and exit\n"
    "  --user           ... in Jupyter's data folder of the user instead\n"
    "  --prefix DIR     ... under DIR instead\n"
    "  --name NAME      the kernelspec's name (default autoawait)\n"
    "  --version        print the version and exit\n"
    "  -h, --help       print this help and exit\n"
    "\n"
    "See aa-kernel(1).\n";

static aa_session *volatile sigint_session;

static void on_sigint(int signo)
{
    (void)signo;
    if (sigint_session != NULL)
        aa_interrupt(sigint_session);
}

/* mkdir -p path, each folder made with mode. */
static int make_dirs(char *path, mode_t mode)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int r = mkdir(path, mode);
        int e = errno;
        *p = c;
        if (r < 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
        if (c == '\0')
            return 0;
    }
}

/* Jupyter's data folder of the user (jupyter_core's jupyter_data_dir). */
static int user_data_dir(char *buf, size_t len)
{
    const char *env = getenv("JUPYTER_DATA_DIR");
    int n;

    if (env != NULL && *env != '\0')
        n = snprintf(buf, len, "%s", env);
    else if ((env = getenv("XDG_DATA_HOME")) != NULL && *env != '\0')
        n = snprintf(buf, len, "%s/jupyter", env);
    else if ((env = getenv("HOME")) != NULL && *env != '\0')
        n = snprintf(buf, len, "%s/.local/share/jupyter", env);
    else
        return -1;
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int install(int user, const char *prefix, const char *name)
{
    char self[PATH_MAX], dir[PATH_MAX], file[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    json_t *spec;

    if (n <= 0) {
        fprintf(stderr, "aa-kernel: cannot find my own path: %s\n",
                strerror(errno));
        return 1;
    }
    self[n] = '\0';
    if (strchr(name, '/') != NULL || *name == '\0' || *name == '.') {
        fprintf(stderr, "aa-kernel: bad kernelspec name '%s'\n", name);
        return 2;
    }
    if (user) {
        char data[PATH_MAX];
        if (user_data_dir(data, sizeof data) < 0) {
            fprintf(stderr, "aa-kernel: --user: HOME is not set\n");
            return 1;
        }
        n = snprintf(dir, sizeof dir, "%s/kernels/%s", data, name);
    } else {
        n = snprintf(dir, sizeof dir, "%s/share/jupyter/kernels/%s",
                     prefix != NULL ? prefix : "/usr/local", name);
    }
    if (n < 0 || (size_t)n >= sizeof dir) {
        fprintf(stderr, "aa-kernel: the kernelspec's path is too long\n");
        return 1;
    }
    if (make_dirs(dir, 0755) < 0) {
        fprintf(stderr, "aa-kernel: cannot make %s: %s\n", dir,
                strerror(errno));
        return 1;
    }
    snprintf(file, sizeof file, "%s/kernel.json", dir);
    spec = json_pack("{s[sss] ss ss ss s{sb}}", "argv", self, "-f",
                     "{connection_file}", "display_name",
                     "Python 3 (autoawait)", "language", "python",
                     "interrupt_mode", "message", "metadata", "debugger", 0);
    if (spec == NULL ||
        json_dump_file(spec, file, JSON_INDENT(1) | JSON_SORT_KEYS) < 0) {
        fprintf(stderr, "aa-kernel: cannot write %s: %s\n", file,
                strerror(errno));
        json_decref(spec);
        return 1;
    }
    json_decref(spec);
    printf("%s\n", file);
    return 0;
}

static int serve(const char *file, const char *runner)
{
    aa_options o;
    aa_kernel_options ko;
    aa_session *s = NULL;
    aa_kernel *k = NULL;
    int existed = file != NULL && access(file, F_OK) == 0;
    int r;

    aa_options_init(&o);
    if (runner != NULL)
        o.runner = runner;
    if ((r = aa_session_new(&s, &o)) != AA_OK) {
        fprintf(stderr, "aa-kernel: %s\n", aa_errmsg());
        return 1;
    }
    aa_kernel_options_init(&ko);
    ko.connection_file = file;
    if ((r = aa_kernel_start(s, &ko, &k)) != AA_OK) {
        fprintf(stderr, "aa-kernel: %s\n", aa_kernel_errmsg());
        aa_session_free(s);
        aa_shutdown();
        return 1;
    }
    if (!existed) {
        const char *path = aa_kernel_connection_file(k);
        fprintf(stderr,
                "aa-kernel: connection file: %s\n"
                "aa-kernel: to connect: jupyter console --existing %s\n",
                path, path);
    }
    sigint_session = s;
    signal(SIGINT, on_sigint);
    r = aa_kernel_run(k);
    signal(SIGINT, SIG_DFL);
    sigint_session = NULL;
    aa_kernel_stop(k);
    aa_session_free(s);
    aa_shutdown();
    if (r != AA_OK) {
        fprintf(stderr, "aa-kernel: %s\n", aa_strerror(r));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *runner = NULL, *prefix = NULL;
    const char *name = "autoawait";
    int do_install = 0, user = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("aa-kernel %s\n", aa_version());
            return 0;
        } else if (strcmp(a, "-f") == 0 && more) {
            file = argv[++i];
        } else if (strcmp(a, "--runner") == 0 && more) {
            runner = argv[++i];
        } else if (strcmp(a, "--install") == 0) {
            do_install = 1;
        } else if (strcmp(a, "--user") == 0) {
            user = 1;
        } else if (strcmp(a, "--prefix") == 0 && more) {
            prefix = argv[++i];
        } else if (strcmp(a, "--name") == 0 && more) {
            name = argv[++i];
        } else {
            fprintf(stderr, "aa-kernel: bad argument '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    if (do_install) {
        if (user && prefix != NULL) {
            fprintf(stderr, "aa-kernel: --user and --prefix exclude each "
                            "other\n");
            return 2;
        }
        return install(user, prefix, name);
    }
    if (user || prefix != NULL) {
        fprintf(stderr, "aa-kernel: --user and --prefix go with --install\n");
        return 2;
    }
    return serve(file, runner);
}
