/*
 * log_check.c - `rowlog log check DIR [--repair]` (see log_check.h): reports every damaged
 * batch (file, byte position, offset), stale index files and a damaged checkpoint; with
 * --repair, prints what will be lost and then cuts each damaged partition at its first bad
 * batch (log_check in log/check.c).
 */
#include "tools/log_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"

static void log_check_usage(FILE *f)
{
    fputs("usage: rowlog log check DIR [--repair]\n"
          "\n"
          "Checks a rowlog data directory that rowlogd does not have open: every batch of\n"
          "every segment (structure, CRC32C, records, offsets), the index files and the\n"
          "checkpoint. Each damaged batch is printed with its file, byte position and offset.\n"
          "\n"
          "  --repair   after printing what will be lost, cut each damaged partition at its\n"
          "             first bad batch (later segments are deleted, the checkpoint's end\n"
          "             offset is lowered; the source position is kept, so the lost records\n"
          "             are not re-read from the primary) and remove stale index files\n"
          "\n"
          "Exit status: 0 clean, 1 damage found or check failed, 2 usage error.\n",
          f);
}

static void log_check_print(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
}

int rl_tool_log_check(int argc, char **argv)
{
    const char *dir = NULL;
    bool repair = false;
    int i = 1;
    if (i < argc && strcmp(argv[i], "check") == 0)
        i++;
    else {
        log_check_usage(stderr);
        return 2;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            log_check_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--repair") == 0) {
            repair = true;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "rowlog log check: unexpected argument '%s'\n", argv[i]);
            log_check_usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        log_check_usage(stderr);
        return 2;
    }
    rl_err err = {0, ""};
    int rc = log_check(dir, repair, log_check_print, NULL, &err);
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "rowlog log check: %s\n", err.msg);
        return 1;
    }
    if (rc == 0) {
        fprintf(stderr, "rowlog log check: %s: clean\n", dir);
        return 0;
    }
    fprintf(stderr, "rowlog log check: %s: %d problem%s found%s\n", dir, rc, rc == 1 ? "" : "s",
            repair ? " (repaired as printed)" : "; run with --repair to cut them off");
    return 1;
}
