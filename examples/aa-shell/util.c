/*
 * util.c -- small helpers of aa-shell: growable strings, time spans in
 * IPython's units, the width of text on a terminal.  Nothing here knows
 * about sessions or cells.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "shell.h"

/* ---------------------------------------------------------------- bufs */

static int buf_reserve(struct buf *b, size_t more)
{
    size_t need = b->len + more + 1, cap = b->cap ? b->cap : 64;
    char *p;

    if (need < b->len)
        return -1;
    if (need <= b->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if ((p = realloc(b->data, cap)) == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const char *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROGNAME);
        exit(EXIT_FAILURE);
    }
    return p;
}

/* ---------------------------------------------------------------- time */

double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Three significant digits in the largest unit that keeps the number at
 * least 1 (s, ms, µs, ns); a minute or more as "1min 3s" or "2h 5min 1s".
 */
void format_seconds(double seconds, char *out, size_t size)
{
    static const char *const units[] = {"s", "ms", "\xc2\xb5s", "ns"};
    double value = seconds;
    int unit = 0;

    if (seconds >= 60.0) {
        long total = (long)floor(seconds + 0.5);
        long h = total / 3600, m = total / 60 % 60, s = total % 60;
        if (h > 0)
            snprintf(out, size, "%ldh %ldmin %lds", h, m, s);
        else
            snprintf(out, size, "%ldmin %lds", m, s);
        return;
    }
    if (value <= 0.0)
        unit = 3;
    while (unit < 3 && value < 1.0) {
        value *= 1000.0;
        unit++;
    }
    /* 999.7 ms rounds to "1e+03 ms" in %g: show it as the next unit up. */
    if (unit > 0 && value >= 999.5) {
        value /= 1000.0;
        unit--;
    }
    snprintf(out, size, "%.3g %s", value, units[unit]);
}

/* ------------------------------------------------------------ terminal */

int text_columns(const char *s, size_t len, int start_col)
{
    mbstate_t st;
    int col = start_col;
    size_t i = 0;

    memset(&st, 0, sizeof st);
    while (i < len) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s + i, len - i, &st);
        int w;

        if (n == (size_t)-1 || n == (size_t)-2) {
            memset(&st, 0, sizeof st);
            n = 1; /* an invalid byte: libedit shows it in one cell */
            w = 1;
        } else if (n == 0) {
            break;
        } else if (wc == L'\t') {
            w = 8 - col % 8;
        } else {
            w = wcwidth(wc);
            if (w < 0)
                w = 2; /* control characters show as ^X */
        }
        col += w;
        i += n;
    }
    return col - start_col;
}

int terminal_columns(int fd)
{
    struct winsize ws;

    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void buf_py_bytes(struct buf *b, const char *s, size_t len)
{
    const char *end = s + len;

    buf_puts(b, "b'");
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            buf_append(b, s, 1);
        else
            buf_printf(b, "\\x%02x", c);
    }
    buf_puts(b, "'");
}

int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int is_blank_line(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\f' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}
