/*
 * kernel.c -- the install test's kernel host: serves a new session with
 * libautoawait-kernel, the connection file at argv[1] (written, since it
 * does not exist), prints the file's path and mode, and stops.  Built
 * against the installed prefix alone, with pkg-config's autoawait-kernel
 * and with the CMake package's autoawait::kernel.
 */
#define _POSIX_C_SOURCE 200809L
#include <autoawait/kernel.h>
#include <stdio.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    aa_session *s = NULL;
    aa_kernel *k = NULL;
    aa_kernel_options ko;
    struct stat st;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: kernel CONNECTION-FILE\n");
        return 2;
    }
    if ((r = aa_session_new(&s, NULL)) != AA_OK) {
        fprintf(stderr, "aa_session_new: %s\n", aa_strerror(r));
        return 1;
    }
    aa_kernel_options_init(&ko);
    ko.connection_file = argv[1];
    if ((r = aa_kernel_start(s, &ko, &k)) != AA_OK) {
        fprintf(stderr, "aa_kernel_start: %s: %s\n", aa_strerror(r),
                aa_kernel_errmsg());
        aa_session_free(s);
        return 1;
    }
    if (stat(aa_kernel_connection_file(k), &st) != 0) {
        perror(aa_kernel_connection_file(k));
        r = 1;
    } else {
        printf("%s %03o\n", aa_kernel_connection_file(k),
               (unsigned)(st.st_mode & 07777));
    }
    aa_kernel_stop(k);
    aa_session_free(s);
    return r == AA_OK ? 0 : 1;
}
