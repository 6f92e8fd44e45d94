/*
 * config.c - per-topic configuration (log_topic_config, Kafka topic configs of the same
 * names: retention.ms, retention.bytes, cleanup.policy; see Kafka's TopicConfig.java).
 *
 * Persisted as "<topic>-0/topic.config" in the topic's first partition directory, replaced
 * durably (rl_file_replace). Text, one "name=value" per line, '#' comments:
 *
 *   retention.ms=-1          integer >= -1 (-1: forever)
 *   retention.bytes=-1       integer >= -1 (-1: no limit)
 *   cleanup.policy=delete    delete | compact | compact,delete | delete,compact
 *   delete.retention.ms=86400000   integer >= 0
 *
 * Unknown names are skipped with a warning (a newer version may add some); a malformed line
 * or value is RL_ECORRUPT naming the file and line. A missing file means the store's
 * defaults (log_store_opts.topic_defaults).
 */
#include "log/log_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define CONFIG_FILE_MAX 65536u

void log_topic_config_init(log_topic_config *cfg)
{
    cfg->retention_ms = -1;
    cfg->retention_bytes = -1;
    cfg->cleanup = LOG_CLEANUP_DELETE;
    cfg->delete_retention_ms = 86400000;
}

int log__topic_config_check(const log_topic_config *cfg, rl_err *err)
{
    if (cfg->retention_ms < -1)
        return rl_err_set(err, RL_ECONFIG, "retention.ms %lld below -1",
                          (long long)cfg->retention_ms);
    if (cfg->retention_bytes < -1)
        return rl_err_set(err, RL_ECONFIG, "retention.bytes %lld below -1",
                          (long long)cfg->retention_bytes);
    if (cfg->delete_retention_ms < 0)
        return rl_err_set(err, RL_ECONFIG, "delete.retention.ms %lld below 0",
                          (long long)cfg->delete_retention_ms);
    if (cfg->cleanup == 0 || (cfg->cleanup & ~(LOG_CLEANUP_DELETE | LOG_CLEANUP_COMPACT)) != 0)
        return rl_err_set(err, RL_ECONFIG, "cleanup policy bits %#x: want delete and/or compact",
                          (unsigned)cfg->cleanup);
    return 0;
}

static int config_path(char *out, size_t cap, const char *pdir0)
{
    return snprintf(out, cap, "%s/topic.config", pdir0) >= (int)cap ? -ENAMETOOLONG : 0;
}

int log__topic_config_save(const char *pdir0, const log_topic_config *cfg, rl_err *err)
{
    char path[PATH_MAX], text[256];
    if (config_path(path, sizeof path, pdir0) != 0)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", pdir0);
    const char *policy = cfg->cleanup == LOG_CLEANUP_DELETE    ? "delete"
                         : cfg->cleanup == LOG_CLEANUP_COMPACT ? "compact"
                                                               : "compact,delete";
    int n = snprintf(text, sizeof text,
                     "# rowlog topic configuration (log/config.c)\n"
                     "retention.ms=%lld\nretention.bytes=%lld\ncleanup.policy=%s\n"
                     "delete.retention.ms=%lld\n",
                     (long long)cfg->retention_ms, (long long)cfg->retention_bytes, policy,
                     (long long)cfg->delete_retention_ms);
    return rl_file_replace(path, text, (size_t)n, err);
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != 0)
        return false;
    *out = v;
    return true;
}

static bool parse_policy(const char *s, size_t n, int *out)
{
    int bits = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t len = j - i;
        if (len == 6 && memcmp(s + i, "delete", 6) == 0)
            bits |= LOG_CLEANUP_DELETE;
        else if (len == 7 && memcmp(s + i, "compact", 7) == 0)
            bits |= LOG_CLEANUP_COMPACT;
        else
            return false;
        i = j + 1;
    }
    *out = bits;
    return bits != 0;
}

int log__topic_config_load(const char *pdir0, log_topic_config *cfg, bool *found, rl_err *err)
{
    char path[PATH_MAX];
    rl_buf b = RL_BUF_INIT;
    *found = false;
    if (config_path(path, sizeof path, pdir0) != 0)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", pdir0);
    int rc = rl_file_read_all(path, &b, CONFIG_FILE_MAX, err);
    if (rc == -ENOENT) {
        if (err) {
            err->code = 0;
            err->msg[0] = 0;
        }
        return 0;
    }
    if (rc != 0)
        return rc;
    log_topic_config c;
    log_topic_config_init(&c);
    const char *p = (const char *)b.p, *end = p + b.len;
    int line = 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p && le[-1] == '\r')
            le--;
        if (le > p && *p != '#') {
            const char *eq = memchr(p, '=', (size_t)(le - p));
            if (!eq) {
                rc = rl_err_set(err, RL_ECORRUPT, "%s:%d: expected name=value", path, line);
                goto done;
            }
            size_t kl = (size_t)(eq - p), vl = (size_t)(le - eq - 1);
            bool ok = true;
            if (kl == 12 && memcmp(p, "retention.ms", 12) == 0)
                ok = parse_i64(eq + 1, vl, &c.retention_ms);
            else if (kl == 15 && memcmp(p, "retention.bytes", 15) == 0)
                ok = parse_i64(eq + 1, vl, &c.retention_bytes);
            else if (kl == 19 && memcmp(p, "delete.retention.ms", 19) == 0)
                ok = parse_i64(eq + 1, vl, &c.delete_retention_ms);
            else if (kl == 14 && memcmp(p, "cleanup.policy", 14) == 0)
                ok = parse_policy(eq + 1, vl, &c.cleanup);
            else
                rl_warn("%s:%d: unknown setting %.*s ignored", path, line, (int)kl, p);
            if (!ok) {
                rc = rl_err_set(err, RL_ECORRUPT, "%s:%d: bad value for %.*s", path, line, (int)kl,
                                p);
                goto done;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (log__topic_config_check(&c, err) != 0) {
        rl_err_wrap(err, RL_ECORRUPT, "%s", path);
        if (err)
            err->code = RL_ECORRUPT;
        rc = RL_ECORRUPT;
        goto done;
    }
    *cfg = c;
    *found = true;
done:
    rl_buf_free(&b);
    return rc;
}
