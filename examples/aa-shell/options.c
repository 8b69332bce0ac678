/*
 * options.c -- what the user asked for: the command line, the environment
 * (AA_SHELL_RUNNER, NO_COLOR) and the config file
 * (~/.config/aa-shell/config).  An option beats the environment, which
 * beats the config file, which beats the defaults.  A bad config line is
 * reported with its file and line and otherwise ignored: a console that
 * refuses to start over its config file helps no one.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shell.h"

#define UNSET (-1)

static const char usage_text[] =
    "usage: " PROGNAME " [options] [-c CODE | FILE | -] [ARGS...]\n"
    "\n"
    "A Python console where top-level await just works.\n"
    "\n"
    "  -c CODE          run CODE as one cell and exit (ARGS go to sys.argv)\n"
    "  FILE             run the whole file as one cell and exit\n"
    "  -                read cells from standard input (the default)\n"
    "  --runner NAME    run async cells with runner NAME (default asyncio)\n"
    "  --no-autoawait   start with top-level await turned off\n"
    "  --no-color       no colors in the prompts\n"
    "  -q               print no banner\n"
    "  --version        print the version and exit\n"
    "  -h, --help       print this help and exit\n"
    "\n"
    "Environment: AA_SHELL_RUNNER (default runner), AA_RUNNER_PATH,\n"
    "NO_COLOR.  Config file: $XDG_CONFIG_HOME/aa-shell/config, else\n"
    "~/.config/aa-shell/config (lines like 'runner = trio').\n"
    "See aa-shell(1).\n";

void settings_init(struct settings *st)
{
    memset(st, 0, sizeof *st);
    st->autoawait = st->banner = st->color = st->history = UNSET;
}

void settings_free(struct settings *st)
{
    free(st->runner);
    st->runner = NULL;
}

/* ---------------------------------------------------------- arguments */

/*
 * The value of the option name at argv[*i], glued ("-cCODE",
 * "--runner=NAME") or in the next argument.  NULL when argv[*i] is not that
 * option; *missing is set when it is but has no value.
 */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                int *missing)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];

    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '\0') {
        if (*i + 1 < argc)
            return argv[++*i];
        *missing = 1;
        return NULL;
    }
    if (name[1] != '-')
        return arg + n;
    return arg[n] == '=' ? arg + n + 1 : NULL;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s'\n", PROGNAME, what, arg);
    fprintf(stderr, "Try '%s --help' for more information.\n", PROGNAME);
    return ARGS_BAD;
}

static int parse_flag(const char *arg, struct settings *st)
{
    if (strcmp(arg, "-q") == 0)
        st->banner = 0;
    else if (strcmp(arg, "--no-autoawait") == 0)
        st->autoawait = 0;
    else if (strcmp(arg, "--no-color") == 0)
        st->color = 0;
    else if (strcmp(arg, "--version") == 0) {
        printf("%s %s (libautoawait %s)\n", PROGNAME, AA_VERSION_STRING,
               aa_version());
        return ARGS_DONE;
    } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(usage_text, stdout);
        return ARGS_DONE;
    } else
        return usage_error("unknown option", arg);
    return ARGS_RUN;
}

/* Parses the option at argv[*i], moving *i past a separate value. */
static int parse_option(int argc, char **argv, int *i, struct settings *st)
{
    const char *arg = argv[*i];
    const char *value;
    int missing = 0;

    if ((value = option_value(argc, argv, i, "-c", &missing)))
        st->code = value;
    else if ((value = option_value(argc, argv, i, "--runner", &missing))) {
        free(st->runner);
        st->runner = xstrdup(value);
        st->runner_from = "--runner";
    } else if (missing)
        return usage_error("option needs a value:", arg);
    else
        return parse_flag(arg, st);
    return ARGS_RUN;
}

/*
 * Options come first; -c CODE, FILE or '-' ends them, and whatever follows
 * is the program's own arguments (sys.argv[1:]), as with python3.
 */
int parse_args(int argc, char **argv, struct settings *st)
{
    int i, rc;

    for (i = 1; i < argc && st->code == NULL; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
            break;
        if ((rc = parse_option(argc, argv, &i, st)) != ARGS_RUN)
            return rc;
    }
    if (st->code == NULL && i < argc)
        st->file = argv[i++];
    st->nargs = argc - i;
    st->args = argv + i;
    return ARGS_RUN;
}

/* -------------------------------------------------------------- paths */

const char *home_dir(void)
{
    const char *home = getenv("HOME");
    struct passwd *pw;

    if (home != NULL && home[0] != '\0')
        return home;
    pw = getpwuid(getuid());
    return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0'
               ? pw->pw_dir
               : NULL;
}

char *config_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = home_dir();
    struct buf path = {NULL, 0, 0};

    /* The XDG spec: a relative XDG_CONFIG_HOME is invalid, ignore it. */
    if (xdg != NULL && xdg[0] == '/')
        buf_printf(&path, "%s/aa-shell/config", xdg);
    else if (home != NULL)
        buf_printf(&path, "%s/.config/aa-shell/config", home);
    return path.data;
}

/* -------------------------------------------------------- config file */

struct config_line {
    const char *path;
    int lineno;
};

static void config_warn(const struct config_line *at, const char *what,
                        const char *arg)
{
    fprintf(stderr, "%s: %s:%d: %s '%s' (line ignored)\n", PROGNAME, at->path,
            at->lineno, what, arg);
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    size_t i;

    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return UNSET;
}

static int is_runner_name(const char *v)
{
    if (*v == '\0')
        return 0;
    for (; *v; v++)
        if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') ||
              *v == '_'))
            return 0;
    return 1;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One "name = value" line into cfg. */
static void config_setting(struct settings *cfg, const struct config_line *at,
                           const char *name, const char *value)
{
    static const char *const bools[] = {"autoawait", "banner", "color",
                                        "history"};
    int *fields[] = {&cfg->autoawait, &cfg->banner, &cfg->color, &cfg->history};
    static char where[4096 + 32];
    size_t i;

    if (strcmp(name, "runner") == 0) {
        if (!is_runner_name(value)) {
            config_warn(at, "not a runner name ([a-z0-9_]+):", value);
            return;
        }
        free(cfg->runner);
        cfg->runner = xstrdup(value);
        snprintf(where, sizeof where, "%s:%d", at->path, at->lineno);
        cfg->runner_from = where;
        return;
    }
    for (i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        if (strcmp(name, bools[i]) != 0)
            continue;
        if (parse_bool(value) == UNSET)
            config_warn(at, "expected on or off, not", value);
        else
            *fields[i] = parse_bool(value);
        return;
    }
    config_warn(at, "unknown setting", name);
}

static void config_parse_line(struct settings *cfg,
                              const struct config_line *at, char *line)
{
    char *eq, *name, *value;

    line = trim(line);
    if (line[0] == '\0' || line[0] == '#')
        return;
    if ((eq = strchr(line, '=')) == NULL) {
        config_warn(at, "expected 'name = value', not", line);
        return;
    }
    *eq = '\0';
    name = trim(line);
    value = trim(eq + 1);
    config_setting(cfg, at, name, value);
}

/* Reads the config file into cfg; a missing file is no error. */
static void config_read(struct settings *cfg)
{
    char *path = config_path();
    struct config_line at = {path, 0};
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    if (path == NULL)
        return;
    if ((f = fopen(path, "r")) == NULL) {
        if (errno != ENOENT && errno != ENOTDIR)
            fprintf(stderr, "%s: cannot read %s: %s\n", PROGNAME, path,
                    strerror(errno));
        free(path);
        return;
    }
    while (getline(&line, &cap, f) >= 0) {
        at.lineno++;
        config_parse_line(cfg, &at, line);
    }
    free(line);
    fclose(f);
    free(path);
}

static int pick(int option, int config, int fallback)
{
    if (option != UNSET)
        return option;
    return config != UNSET ? config : fallback;
}

static int default_color(void)
{
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");

    if (no_color != NULL && no_color[0] != '\0')
        return 0;
    return term == NULL || strcmp(term, "dumb") != 0;
}

void settings_merge(struct settings *st)
{
    struct settings cfg;
    const char *env = getenv("AA_SHELL_RUNNER");

    settings_init(&cfg);
    config_read(&cfg);
    if (st->runner == NULL && env != NULL && env[0] != '\0') {
        st->runner = xstrdup(env);
        st->runner_from = "AA_SHELL_RUNNER";
    } else if (st->runner == NULL && cfg.runner != NULL) {
        st->runner = cfg.runner;
        st->runner_from = cfg.runner_from;
        cfg.runner = NULL;
    }
    st->autoawait = pick(st->autoawait, cfg.autoawait, 1);
    st->banner = pick(st->banner, cfg.banner, 1);
    /* NO_COLOR (no-color.org) wins over the config file. */
    st->color =
        pick(st->color, default_color() ? cfg.color : 0, default_color());
    st->history = pick(st->history, cfg.history, 1);
    settings_free(&cfg);
}
