/*
 * hello.c -- the smallest complete host of libautoawait.
 *
 * It makes one session, hands the cell's output to a callback of its own,
 * runs each argument as a cell (or a demo cell without arguments) and shows
 * what came back.  Build it with:
 *
 *     cc hello.c $(pkg-config --cflags --libs autoawait) -o hello
 */
#include <stdio.h>

#include <autoawait/autoawait.h>

static const char demo[] = "import asyncio\n"
                           "await asyncio.sleep(0.01)\n"
                           "print('hello from', __name__)\n"
                           "'done'\n";

/* What cells print to sys.stdout and sys.stderr arrives here. */
static void write_output(void *userdata, int stream, const char *data,
                         size_t len)
{
    (void)userdata;
    fwrite(data, 1, len, stream == 2 ? stderr : stdout);
}

static const char *or_else(const char *s, const char *fallback)
{
    return s != NULL ? s : fallback;
}

/* Runs one cell; returns 0 when it succeeded. */
static int run(aa_session *s, const char *source)
{
    aa_result *r = NULL;
    int rc = aa_exec(s, source, &r);

    if (rc < 0) /* the call failed, not the code */
        fprintf(stderr, "hello: %s\n",
                or_else(aa_result_message(r), aa_strerror(rc)));
    else if (rc != AA_OK && aa_result_traceback(r) != NULL)
        fputs(aa_result_traceback(r), stderr);
    else if (rc != AA_OK)
        fprintf(stderr, "hello: %s\n", aa_strerror(rc));
    else if (aa_result_repr(r) != NULL)
        printf("=> %s%s\n", aa_result_repr(r),
               aa_result_is_async(r) ? " (async)" : "");
    aa_result_free(r);
    return rc == AA_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    aa_options opts;
    aa_session *s;
    int i, rc, failed = 0;

    aa_options_init(&opts);
    opts.write = write_output;
    if ((rc = aa_session_new(&s, &opts)) != AA_OK) {
        fprintf(stderr, "hello: no session: %s\n", aa_strerror(rc));
        return 1;
    }
    if (argc < 2)
        failed = run(s, demo);
    for (i = 1; i < argc; i++)
        failed |= run(s, argv[i]);
    aa_session_free(s);
    aa_shutdown();
    return failed;
}
