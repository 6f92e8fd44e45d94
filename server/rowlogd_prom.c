/*
 * rowlogd_prom.c - the Prometheus text exposition writer (format 0.0.4) and the /proc
 * readings behind the standard process_ metrics.
 *
 * Exposition format (prometheus/docs content/docs/instrumenting/exposition_formats.md):
 *   # HELP <name> <text: backslash and newline escaped>
 *   # TYPE <name> counter|gauge|untyped
 *   <name>{<label>="<value: backslash, double quote, newline escaped>",...} <float>
 * one HELP and TYPE per family, a family's samples together, UTF-8, lines end with '\n'.
 *
 * /proc (proc(5)): /proc/self/stat fields 14 utime, 15 stime (clock ticks), 22 starttime
 * (ticks after boot), 23 vsize (bytes), 24 rss (pages); /proc/stat "btime" (boot time, s
 * since the epoch); /proc/self/fd one entry per open descriptor. The names follow
 * prometheus/client_golang's process collector (process_collector_procfs.go).
 */
#include "server/rowlogd_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void rowlogd_prom_init(rowlogd_prom *w, rl_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->seen = (rl_buf)RL_BUF_INIT;
}

void rowlogd_prom_free(rowlogd_prom *w)
{
    rl_buf_free(&w->seen);
}

int rowlogd_prom_error(const rowlogd_prom *w)
{
    if (w->error)
        return w->error;
    if (!rl_buf_ok(w->out) || !rl_buf_ok(&w->seen))
        return -ENOMEM;
    return 0;
}

static bool name_valid(const char *s)
{
    if (!s[0])
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Is name (followed by '\n') already in the seen list? */
static bool family_seen(const rowlogd_prom *w, const char *name)
{
    size_t n = strlen(name);
    const char *p = (const char *)w->seen.p, *end = p + w->seen.len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if ((size_t)(nl - p) == n && memcmp(p, name, n) == 0)
            return true;
        p = nl + 1;
    }
    return false;
}

void rowlogd_prom_family(rowlogd_prom *w, const char *name, const char *type, const char *help)
{
    if (w->error)
        return;
    if (!name_valid(name) || strlen(name) >= sizeof w->family || family_seen(w, name)) {
        w->error = RL_ECONFIG;
        return;
    }
    snprintf(w->family, sizeof w->family, "%s", name);
    rl_buf_puts(&w->seen, name);
    rl_buf_putc(&w->seen, '\n');
    rl_buf_printf(w->out, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            rl_buf_puts(w->out, "\\\\");
        else if (*p == '\n')
            rl_buf_puts(w->out, "\\n");
        else
            rl_buf_putc(w->out, *p);
    }
    rl_buf_printf(w->out, "\n# TYPE %s %s\n", name, type);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when invalid (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

static void put_label_value(rl_buf *b, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t left = strlen(v);
    while (left) {
        if (*p == '\\' || *p == '"') {
            rl_buf_putc(b, '\\');
            rl_buf_putc(b, (char)*p);
        } else if (*p == '\n') {
            rl_buf_puts(b, "\\n");
        } else {
            size_t n = utf8_len(p, left);
            if (n == 0) {
                rl_buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD for a byte that is not UTF-8 */
                n = 1;
            } else {
                rl_buf_append(b, p, n);
            }
            p += n;
            left -= n;
            continue;
        }
        p++;
        left--;
    }
}

static void put_series(rowlogd_prom *w, const char *const *labels, size_t nlabels)
{
    rl_buf_puts(w->out, w->family);
    if (nlabels == 0)
        return;
    rl_buf_putc(w->out, '{');
    for (size_t i = 0; i < nlabels; i++) {
        if (!name_valid(labels[2 * i]) || strchr(labels[2 * i], ':')) {
            w->error = RL_ECONFIG;
            return;
        }
        if (i)
            rl_buf_putc(w->out, ',');
        rl_buf_puts(w->out, labels[2 * i]);
        rl_buf_puts(w->out, "=\"");
        put_label_value(w->out, labels[2 * i + 1] ? labels[2 * i + 1] : "");
        rl_buf_putc(w->out, '"');
    }
    rl_buf_putc(w->out, '}');
}

void rowlogd_prom_sample(rowlogd_prom *w, const char *const *labels, size_t nlabels, double v)
{
    if (w->error)
        return;
    if (!w->family[0]) {
        w->error = RL_ECONFIG;
        return;
    }
    put_series(w, labels, nlabels);
    if (isnan(v))
        rl_buf_puts(w->out, " NaN\n");
    else if (isinf(v))
        rl_buf_puts(w->out, v > 0 ? " +Inf\n" : " -Inf\n");
    else if (v > -9007199254740992.0 && v < 9007199254740992.0 && (double)(long long)v == v)
        rl_buf_printf(w->out, " %lld\n", (long long)v);
    else {
        /* Shortest of 15 or 17 significant digits that reads back as the same double. */
        char num[40];
        snprintf(num, sizeof num, "%.15g", v);
        if (strtod(num, NULL) != v)
            snprintf(num, sizeof num, "%.17g", v);
        rl_buf_printf(w->out, " %s\n", num);
    }
}

void rowlogd_prom_sample_u64(rowlogd_prom *w, const char *const *labels, size_t nlabels, uint64_t v)
{
    if (w->error)
        return;
    if (!w->family[0]) {
        w->error = RL_ECONFIG;
        return;
    }
    put_series(w, labels, nlabels);
    rl_buf_printf(w->out, " %llu\n", (unsigned long long)v);
}

/* ------------------------------------------------------------------ /proc */

int rowlogd_proc_parse_stat(const char *text, long ticks, long page, uint64_t btime,
                            rowlogd_proc *out)
{
    const char *p = strrchr(text, ')');
    if (!p || ticks <= 0 || page <= 0)
        return RL_ECORRUPT;
    p++;
    /* Fields from 3 (state) on; we need 14, 15, 22, 23, 24. */
    unsigned long long f[25] = {0};
    int field = 3;
    while (*p && field <= 24) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            break;
        if (field == 3) {
            p++; /* the state letter */
        } else {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(p, &end, 10);
            if (end == p || errno)
                return RL_ECORRUPT;
            /* Some fields are signed (priority, nice): keep only what we read. */
            f[field] = x;
            p = end;
        }
        if (*p && *p != ' ' && *p != '\n')
            return RL_ECORRUPT;
        field++;
    }
    if (field <= 24)
        return RL_ECORRUPT;
    out->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
    out->start_time_seconds = (double)btime + (double)f[22] / (double)ticks;
    out->virtual_bytes = f[23];
    out->resident_bytes = f[24] * (unsigned long long)page;
    return 0;
}

int rowlogd_proc_parse_btime(const char *text, uint64_t *btime)
{
    for (const char *p = text; p && *p;) {
        if (strncmp(p, "btime ", 6) == 0) {
            char *end;
            unsigned long long x = strtoull(p + 6, &end, 10);
            if (end == p + 6)
                return RL_ENOTFOUND;
            *btime = x;
            return 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return RL_ENOTFOUND;
}

int rowlogd_proc_read(rowlogd_proc *out)
{
    memset(out, 0, sizeof *out);
    rl_buf b = RL_BUF_INIT;
    uint64_t btime = 0;
    int rc = rl_file_read_all("/proc/stat", &b, 1 << 20, NULL);
    if (rc == 0 && rl_buf_cstr(&b))
        rc = rowlogd_proc_parse_btime((const char *)b.p, &btime);
    int rc2 = rl_file_read_all("/proc/self/stat", &b, 1 << 16, NULL);
    if (rc2 == 0 && rl_buf_cstr(&b))
        rc2 = rowlogd_proc_parse_stat((const char *)b.p, sysconf(_SC_CLK_TCK),
                                      sysconf(_SC_PAGESIZE), btime, out);
    rl_buf_free(&b);
    if (rc == 0)
        rc = rc2;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *de;
        uint64_t n = 0;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                n++;
        closedir(d);
        out->open_fds = n > 0 ? n - 1 : 0; /* the directory stream's own descriptor */
    } else if (rc == 0) {
        rc = -errno;
    }
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
        out->max_fds = lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)lim.rlim_cur;
    return rc;
}
