/* rowlogd_opts_util.h - what the tests of rowlogd's options (test_rowlogd_opts.c,
 * test_snapshot_opts.c) share: parsing a command line given as arguments, and writing a
 * config file. Included by one test .c each (every function is static), after cmocka.h. */
#ifndef ROWLOGD_OPTS_UTIL_H
#define ROWLOGD_OPTS_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/rowlogd_int.h"

/* rowlogd_opts_parse of "rowlogd" followed by the NULL-terminated arguments (at most 30);
 * err is cleared first. */
__attribute__((unused, sentinel)) static int opts_parse(rowlogd_opts *o, rl_err *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    argv[argc++] = "rowlogd";
    for (char *a; (a = va_arg(ap, char *)) != NULL;) {
        assert_true(argc < 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    memset(err, 0, sizeof *err);
    return rowlogd_opts_parse(o, argc, argv, err);
}

/* Creates a file from the mkstemp template path (rewritten with the name) holding text. */
__attribute__((unused)) static void opts_write_config(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Replaces the content of the file at path with text. */
__attribute__((unused)) static void opts_rewrite_config(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

#endif /* ROWLOGD_OPTS_UTIL_H */
