/*
 * util.c - small helpers shared by the rowlog subcommands: number parsing, signal handling
 * without handlers (signals are blocked and collected with sigtimedwait, so no global flag is
 * needed), checked writes to stdout, and which topics are internal.
 */
#include "tools/tools.h"

#include <errno.h>
#include <time.h>

int tool_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -EINVAL;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*c - '0');
        if (d > max || v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

bool tool_topic_is_internal(const char *topic)
{
    return topic[0] == '_' && topic[1] == '_';
}

int tool_signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    int rc = pthread_sigmask(SIG_BLOCK, set, NULL);
    return rc ? -rc : 0;
}

int tool_signals_pending(const sigset_t *set)
{
    static const struct timespec zero = {0, 0};
    int sig = sigtimedwait(set, NULL, &zero);
    return sig > 0 ? sig : 0;
}

int tool_write(FILE *f, const void *p, size_t len)
{
    if (len && fwrite_unlocked(p, 1, len, f) != len)
        return errno ? -errno : -EIO;
    return 0;
}

int tool_usage_error(const char *prog, void (*usage)(FILE *f), const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage(stderr);
    return TOOL_EXIT_USAGE;
}

void tool_url_escape(rl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            rl_buf_putc(b, (char)*c);
        } else {
            char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            rl_buf_append(b, e, 3);
        }
    }
}
