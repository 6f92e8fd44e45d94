/*
 * status.c - `rowlog status`: fetches rowlogd's /metrics (GET over libcurl, tools/http_get.c)
 * and prints a short summary: the source and its position, the primary's head and the lag,
 * retention headroom, throughput, the log's partitions and the consumer groups with their
 * lag. --watch redraws it in place (ANSI: cursor home, clear screen) every SECONDS until
 * SIGINT or SIGTERM. Throughput is a rate between two scrapes: a single run takes two, one
 * second apart.
 */
#include "tools/status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tools.h"

/* ------------------------------------------------------------------ parsing */

void tool_metrics_free(tool_metrics *ms)
{
    rl_buf_free(&ms->text);
    free(ms->m);
    ms->m = NULL;
    ms->n = ms->cap = 0;
}

static int metrics_push(tool_metrics *ms, const char *name, const char *labels, double v)
{
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 256;
        tool_metric *m = realloc(ms->m, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        ms->m = m;
        ms->cap = cap;
    }
    ms->m[ms->n++] = (tool_metric){name, labels, v};
    return 0;
}

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

int tool_metrics_parse(tool_metrics *ms, const char *text, size_t len, rl_err *err)
{
    ms->n = 0;
    rl_buf_reset(&ms->text);
    rl_buf_append(&ms->text, text, len);
    if (!rl_buf_cstr(&ms->text))
        return rl_err_set(err, -ENOMEM, "out of memory");
    char *p = (char *)ms->text.p, *end = p + ms->text.len;
    unsigned line = 0;
    while (p < end) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        *nl = 0;
        char *s = p;
        p = nl + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        char *name = s;
        if (!is_name_char(*s, true))
            return rl_err_set(err, RL_EPROTO, "metrics line %u: no metric name", line);
        while (is_name_char(*s, false))
            s++;
        char *labels = (char *)"";
        if (*s == '{') {
            *s++ = 0;
            labels = s;
            bool quoted = false;
            for (; *s && (quoted || *s != '}'); s++) {
                if (quoted && *s == '\\' && s[1])
                    s++;
                else if (*s == '"')
                    quoted = !quoted;
            }
            if (*s != '}')
                return rl_err_set(err, RL_EPROTO, "metrics line %u: unterminated labels", line);
            *s++ = 0;
        }
        if (*s != ' ' && *s != '\t')
            return rl_err_set(err, RL_EPROTO, "metrics line %u: no value", line);
        *s++ = 0;
        char *vend;
        double v = strtod(s, &vend);
        if (vend == s || (*vend && *vend != ' ' && *vend != '\t' && *vend != '\r'))
            return rl_err_set(err, RL_EPROTO, "metrics line %u: bad value '%s'", line, s);
        if (metrics_push(ms, name, labels, v) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory");
    }
    return (int)ms->n;
}

bool tool_metric_label(const tool_metric *m, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = m->labels;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"')
            return false;
        bool match = (size_t)(eq - p) == klen && memcmp(p, key, klen) == 0;
        size_t n = 0;
        p = eq + 2;
        for (; *p && *p != '"'; p++) {
            char c = *p;
            if (c == '\\' && p[1]) {
                p++;
                c = *p == 'n' ? '\n' : *p;
            }
            if (match && n + 1 < cap)
                out[n++] = c;
        }
        if (match) {
            if (cap)
                out[n] = 0;
            return true;
        }
        if (*p == '"')
            p++;
        if (*p == ',')
            p++;
    }
    return false;
}

const tool_metric *tool_metrics_find(const tool_metrics *ms, const char *name, const char *key,
                                     const char *val)
{
    char buf[1024];
    for (size_t i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i].name, name) != 0)
            continue;
        if (!key || (tool_metric_label(&ms->m[i], key, buf, sizeof buf) && strcmp(buf, val) == 0))
            return &ms->m[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ rendering */

static double val(const tool_metrics *ms, const char *name)
{
    const tool_metric *m = tool_metrics_find(ms, name, NULL, NULL);
    return m ? m->value : NAN;
}

/* Sum of every sample of a family (NaN when there is none). */
static double sum(const tool_metrics *ms, const char *name)
{
    double s = NAN;
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i].name, name) == 0)
            s = isnan(s) ? ms->m[i].value : s + ms->m[i].value;
    return s;
}

static void put_bytes(rl_buf *b, double v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        rl_buf_printf(b, "%.0f %s", v, units[u]);
    else
        rl_buf_printf(b, "%.1f %s", v, units[u]);
}

static void put_duration(rl_buf *b, double s)
{
    long long t = (long long)s;
    if (s < 60)
        rl_buf_printf(b, "%.1f s", s);
    else if (s < 3600)
        rl_buf_printf(b, "%lldm%02llds", t / 60, t % 60);
    else if (s < 86400)
        rl_buf_printf(b, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else
        rl_buf_printf(b, "%lldd%02lldh", t / 86400, t / 3600 % 24);
}

/* "domain=seq,..." from a gtid_sequence family. */
static void put_gtids(rl_buf *b, const tool_metrics *ms, const char *name)
{
    char key[128];
    bool any = false;
    for (size_t i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i].name, name) != 0 ||
            !tool_metric_label(&ms->m[i], "gtid_domain", key, sizeof key))
            continue;
        rl_buf_printf(b, "%s%s:%.0f", any ? "," : "  gtid ", key, ms->m[i].value);
        any = true;
    }
}

/* Rate of a counter family between prev and cur over dt seconds, or its average since the
 * process started when there is no prev. NaN when unknown. */
static double rate(const tool_metrics *cur, const tool_metrics *prev, double dt, const char *name)
{
    double now = sum(cur, name);
    if (isnan(now))
        return NAN;
    if (prev && dt > 0) {
        double before = sum(prev, name);
        if (!isnan(before) && now >= before)
            return (now - before) / dt;
    }
    double start = val(cur, "process_start_time_seconds");
    double up = (double)time(NULL) - start;
    return !isnan(start) && up > 0 ? now / up : NAN;
}

static void render_partitions(const tool_metrics *cur, rl_buf *b)
{
    enum { MAX_ROWS = 20 };
    size_t rows = 0, total = 0;
    char topic[512], part[16];
    for (size_t i = 0; i < cur->n; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_log_high_watermark") != 0 ||
            !tool_metric_label(m, "topic", topic, sizeof topic) ||
            !tool_metric_label(m, "partition", part, sizeof part))
            continue;
        total++;
        if (rows == MAX_ROWS)
            continue;
        if (rows++ == 0)
            rl_buf_printf(b, "  %-40s %5s %12s %12s %10s %5s\n", "TOPIC", "PART", "START", "END",
                          "SIZE", "SEGS");
        double start = NAN, bytes = NAN, segs = NAN;
        for (size_t j = 0; j < cur->n; j++) {
            const tool_metric *o = &cur->m[j];
            char t2[512], p2[16];
            if (strncmp(o->name, "rowlog_log_", 11) != 0 ||
                !tool_metric_label(o, "topic", t2, sizeof t2) || strcmp(t2, topic) != 0 ||
                !tool_metric_label(o, "partition", p2, sizeof p2) || strcmp(p2, part) != 0)
                continue;
            if (strcmp(o->name, "rowlog_log_start_offset") == 0)
                start = o->value;
            else if (strcmp(o->name, "rowlog_log_partition_bytes") == 0)
                bytes = o->value;
            else if (strcmp(o->name, "rowlog_log_partition_segments") == 0)
                segs = o->value;
        }
        rl_buf_printf(b, "  %-40s %5s %12.0f %12.0f ", topic, part, start, m->value);
        rl_buf b2 = RL_BUF_INIT;
        if (isnan(bytes))
            rl_buf_puts(&b2, "-");
        else
            put_bytes(&b2, bytes);
        rl_buf_printf(b, "%10s %5.0f\n", rl_buf_cstr(&b2) ? (const char *)b2.p : "", segs);
        rl_buf_free(&b2);
    }
    if (total > rows)
        rl_buf_printf(b, "  ... and %zu more partitions\n", total - rows);
}

static void render_groups(const tool_metrics *cur, rl_buf *b)
{
    size_t rows = 0;
    char group[512], topic[512], part[16];
    for (size_t i = 0; i < cur->n; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_consumer_committed_offset") != 0 ||
            !tool_metric_label(m, "group", group, sizeof group) ||
            !tool_metric_label(m, "topic", topic, sizeof topic) ||
            !tool_metric_label(m, "partition", part, sizeof part))
            continue;
        if (rows++ == 0)
            rl_buf_printf(b, "groups\n  %-24s %-32s %5s %12s %10s %10s %7s\n", "GROUP", "TOPIC",
                          "PART", "COMMITTED", "LAG", "LAG_S", "MEMBERS");
        double lag = NAN, lag_s = NAN;
        for (size_t j = 0; j < cur->n; j++) {
            const tool_metric *o = &cur->m[j];
            char g2[512], t2[512], p2[16];
            if (strncmp(o->name, "rowlog_consumer_lag_", 20) != 0 ||
                !tool_metric_label(o, "group", g2, sizeof g2) || strcmp(g2, group) != 0 ||
                !tool_metric_label(o, "topic", t2, sizeof t2) || strcmp(t2, topic) != 0 ||
                !tool_metric_label(o, "partition", p2, sizeof p2) || strcmp(p2, part) != 0)
                continue;
            if (strcmp(o->name, "rowlog_consumer_lag_records") == 0)
                lag = o->value;
            else if (strcmp(o->name, "rowlog_consumer_lag_seconds") == 0)
                lag_s = o->value;
        }
        const tool_metric *mem =
            tool_metrics_find(cur, "rowlog_consumer_group_members", "group", group);
        rl_buf_printf(b, "  %-24s %-32s %5s %12.0f %10.0f %10.1f %7.0f\n", group, topic, part,
                      m->value, lag, lag_s, mem ? mem->value : NAN);
    }
}

/* Snapshot progress while one runs (rowlog_snapshot_* of docs/metrics.md): a bar over the
 * estimated rows of every table, the rate (between the two scrapes, else the average since
 * this process started the snapshot) and the ETA, then the tables not done yet. */
static void render_snapshot(const tool_metrics *cur, const tool_metrics *prev, double dt, rl_buf *b)
{
    enum { BAR = 40, MAX_ROWS = 10 };
    if (val(cur, "rowlog_snapshot_running") != 1)
        return;
    double read = 0, est = 0, chunks = 0;
    size_t tables = 0, done = 0;
    char name[512];
    for (size_t i = 0; i < cur->n; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_snapshot_rows_read") != 0 ||
            !tool_metric_label(m, "table", name, sizeof name))
            continue;
        const tool_metric *e =
            tool_metrics_find(cur, "rowlog_snapshot_rows_estimated", "table", name);
        const tool_metric *d = tool_metrics_find(cur, "rowlog_snapshot_table_done", "table", name);
        const tool_metric *c =
            tool_metrics_find(cur, "rowlog_snapshot_chunks_total", "table", name);
        bool tdone = d && d->value == 1;
        tables++;
        done += tdone;
        read += m->value;
        /* A finished table counts with what it had; an estimate below the rows read so far
         * is only an estimate. */
        est += tdone ? m->value : (e && e->value > m->value ? e->value : m->value);
        chunks += c ? c->value : 0;
    }
    double frac = est > 0 ? read / est : 0;
    if (frac > 1)
        frac = 1;
    rl_buf_printf(b,
                  "snapshot   RUNNING: %zu of %zu tables done, %.0f of ~%.0f rows, %.0f chunks\n",
                  done, tables, read, est, chunks);
    rl_buf_puts(b, "           [");
    int fill = (int)(frac * BAR);
    for (int i = 0; i < BAR; i++)
        rl_buf_putc(b, i < fill ? '#' : '-');
    rl_buf_printf(b, "] %3.0f%%", frac * 100);
    double r = NAN, now = sum(cur, "rowlog_snapshot_records_total");
    if (prev && dt > 0) {
        double before = sum(prev, "rowlog_snapshot_records_total");
        if (!isnan(now) && !isnan(before) && now >= before)
            r = (now - before) / dt;
    } else {
        double start = val(cur, "rowlog_snapshot_start_time_seconds");
        double up = (double)time(NULL) - start;
        if (!isnan(now) && !isnan(start) && up > 0)
            r = now / up;
    }
    if (!isnan(r)) {
        rl_buf_printf(b, "  %.0f rows/s", r);
        if (r > 0 && est > read) {
            rl_buf_puts(b, ", ETA ");
            put_duration(b, (est - read) / r);
        }
    }
    rl_buf_putc(b, '\n');
    size_t shown = 0;
    for (size_t i = 0; i < cur->n && shown < MAX_ROWS; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_snapshot_rows_read") != 0 ||
            !tool_metric_label(m, "table", name, sizeof name))
            continue;
        const tool_metric *d = tool_metrics_find(cur, "rowlog_snapshot_table_done", "table", name);
        if (d && d->value == 1)
            continue;
        const tool_metric *e =
            tool_metrics_find(cur, "rowlog_snapshot_rows_estimated", "table", name);
        double te = e ? e->value : 0;
        rl_buf_printf(b, "  %-40s %12.0f of ~%.0f rows", name, m->value, te);
        if (te > 0)
            rl_buf_printf(b, " (%.0f%%)", m->value >= te ? 100.0 : m->value * 100 / te);
        rl_buf_putc(b, '\n');
        shown++;
    }
    if (tables - done > shown)
        rl_buf_printf(b, "  ... %zu more tables to read\n", tables - done - shown);
}

/* On-demand snapshots (rowlog_ondemand_snapshot_* of docs/metrics.md) while one is queued or
 * read: the tables not done yet, with rows read of the estimate, chunks and the rows left to
 * the stream. */
static void render_ondemand(const tool_metrics *cur, rl_buf *b)
{
    enum { MAX_ROWS = 10 };
    if (val(cur, "rowlog_ondemand_snapshot_running") != 1)
        return;
    size_t tables = 0, done = 0, shown = 0;
    char name[512];
    for (size_t i = 0; i < cur->n; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_ondemand_snapshot_rows_read") == 0 &&
            tool_metric_label(m, "table", name, sizeof name)) {
            const tool_metric *d =
                tool_metrics_find(cur, "rowlog_ondemand_snapshot_table_done", "table", name);
            tables++;
            done += d && d->value == 1;
        }
    }
    rl_buf_printf(b, "on demand  RUNNING: %zu of %zu tables done\n", done, tables);
    for (size_t i = 0; i < cur->n && shown < MAX_ROWS; i++) {
        const tool_metric *m = &cur->m[i];
        if (strcmp(m->name, "rowlog_ondemand_snapshot_rows_read") != 0 ||
            !tool_metric_label(m, "table", name, sizeof name))
            continue;
        const tool_metric *d =
            tool_metrics_find(cur, "rowlog_ondemand_snapshot_table_done", "table", name);
        if (d && d->value == 1)
            continue;
        const tool_metric *e =
            tool_metrics_find(cur, "rowlog_ondemand_snapshot_rows_estimated", "table", name);
        const tool_metric *c =
            tool_metrics_find(cur, "rowlog_ondemand_snapshot_chunks_total", "table", name);
        const tool_metric *x =
            tool_metrics_find(cur, "rowlog_ondemand_snapshot_rows_dropped_total", "table", name);
        double te = e ? e->value : 0;
        rl_buf_printf(b, "  %-40s %12.0f of ~%.0f rows", name, m->value, te);
        if (te > 0)
            rl_buf_printf(b, " (%.0f%%)", m->value >= te ? 100.0 : m->value * 100 / te);
        rl_buf_printf(b, ", %.0f chunks, %.0f left to the stream\n", c ? c->value : 0,
                      x ? x->value : 0);
        shown++;
    }
    if (tables - done > shown)
        rl_buf_printf(b, "  ... %zu more tables queued\n", tables - done - shown);
}

void tool_status_render(const tool_metrics *cur, const tool_metrics *prev, double interval_s,
                        rl_buf *b)
{
    char s1[512], s2[512], s3[64];
    const tool_metric *m;

    /* Source. */
    rl_buf_puts(b, "source     ");
    if ((m = tool_metrics_find(cur, "rowlog_source_info", NULL, NULL)) != NULL) {
        tool_metric_label(m, "flavor", s1, sizeof s1);
        tool_metric_label(m, "version", s2, sizeof s2);
        tool_metric_label(m, "server_id", s3, sizeof s3);
        rl_buf_printf(b, "%s %s, server id %s: ", strcmp(s1, "mariadb") == 0 ? "MariaDB" : "MySQL",
                      s2, s3);
    }
    if (val(cur, "rowlog_source_running") == 0)
        rl_buf_puts(b, "STOPPED\n");
    else if (val(cur, "rowlog_source_connected") == 1)
        rl_buf_puts(b, "connected\n");
    else
        rl_buf_puts(b, "NOT CONNECTED\n");
    if ((m = tool_metrics_find(cur, "rowlog_source_position_info", NULL, NULL)) != NULL &&
        tool_metric_label(m, "file", s1, sizeof s1) && s1[0]) {
        rl_buf_printf(b, "position   %s:%.0f", s1, val(cur, "rowlog_source_position_bytes"));
        put_gtids(b, cur, "rowlog_source_gtid_sequence");
        rl_buf_putc(b, '\n');
    }
    if ((m = tool_metrics_find(cur, "rowlog_source_head_position_info", NULL, NULL)) != NULL &&
        tool_metric_label(m, "file", s1, sizeof s1)) {
        rl_buf_printf(b, "primary    %s:%.0f", s1, val(cur, "rowlog_source_head_position_bytes"));
        put_gtids(b, cur, "rowlog_source_head_gtid_sequence");
        double age = val(cur, "rowlog_source_head_poll_age_seconds");
        if (!isnan(age))
            rl_buf_printf(b, "  (polled %.1f s ago)", age);
        rl_buf_putc(b, '\n');
    }
    double lag_s = val(cur, "rowlog_source_lag_seconds");
    if (!isnan(lag_s)) {
        rl_buf_printf(b, "lag        %.2f s", lag_s);
        double lb = val(cur, "rowlog_source_lag_bytes");
        if (!isnan(lb)) {
            rl_buf_puts(b, ", ");
            put_bytes(b, lb);
        }
        double lt = val(cur, "rowlog_source_lag_transactions");
        if (!isnan(lt))
            rl_buf_printf(b, ", %.0f transactions", lt);
        rl_buf_puts(b, " behind the primary\n");
    }
    double room = val(cur, "rowlog_source_retention_headroom_bytes");
    if (!isnan(room)) {
        rl_buf_puts(b, "retention  ");
        if (val(cur, "rowlog_source_position_purged") == 1) {
            rl_buf_puts(b, "PURGED: the primary no longer has the binlog of our position");
        } else {
            put_bytes(b, room);
            rl_buf_puts(b, " of binlog before our position");
        }
        double files = val(cur, "rowlog_source_binlog_files");
        double kept = val(cur, "rowlog_source_binlog_bytes");
        if (!isnan(files) && !isnan(kept)) {
            rl_buf_printf(b, " (primary keeps %.0f files, ", files);
            put_bytes(b, kept);
            rl_buf_putc(b, ')');
        }
        rl_buf_putc(b, '\n');
    }

    render_snapshot(cur, prev, interval_s, b);
    render_ondemand(cur, b);

    /* Throughput. */
    double rows = rate(cur, prev, interval_s, "rowlog_source_rows_total");
    if (!isnan(rows)) {
        rl_buf_printf(b, "throughput %.1f rows/s, %.1f transactions/s, ", rows,
                      rate(cur, prev, interval_s, "rowlog_source_transactions_total"));
        double rb = rate(cur, prev, interval_s, "rowlog_source_read_bytes_total");
        put_bytes(b, isnan(rb) ? 0 : rb);
        rl_buf_printf(b, "/s binlog read%s\n", prev ? "" : " (average since start)");
    }
    double total_rows = sum(cur, "rowlog_source_rows_total");
    if (!isnan(total_rows)) {
        const tool_metric *c = tool_metrics_find(cur, "rowlog_source_rows_total", "op", "insert");
        const tool_metric *u = tool_metrics_find(cur, "rowlog_source_rows_total", "op", "update");
        const tool_metric *d = tool_metrics_find(cur, "rowlog_source_rows_total", "op", "delete");
        rl_buf_printf(b,
                      "totals     %.0f rows (insert %.0f, update %.0f, delete %.0f), %.0f "
                      "transactions, %.0f decode errors, %.0f reconnects\n",
                      total_rows, c ? c->value : 0, u ? u->value : 0, d ? d->value : 0,
                      val(cur, "rowlog_source_transactions_total"),
                      val(cur, "rowlog_source_decode_errors_total"),
                      val(cur, "rowlog_source_reconnects_total"));
    }

    /* Log. */
    double topics = val(cur, "rowlog_log_topics");
    if (!isnan(topics)) {
        rl_buf_printf(b, "log        %.0f topics, ", topics);
        double bytes = sum(cur, "rowlog_log_partition_bytes");
        put_bytes(b, isnan(bytes) ? 0 : bytes);
        rl_buf_puts(b, " on disk");
        double ck = val(cur, "rowlog_log_checkpoint_age_seconds");
        if (!isnan(ck)) {
            rl_buf_puts(b, ", ");
            if (ck > 0) {
                put_duration(b, ck);
                rl_buf_puts(b, " not yet durable");
            } else {
                rl_buf_puts(b, "all durable");
            }
        }
        if (val(cur, "rowlog_log_writable") == 0)
            rl_buf_puts(b, ", NOT WRITABLE");
        rl_buf_putc(b, '\n');
        render_partitions(cur, b);
    }
    render_groups(cur, b);

    /* Process and errors. */
    double rss = val(cur, "process_resident_memory_bytes");
    if (!isnan(rss)) {
        rl_buf_puts(b, "process    ");
        put_bytes(b, rss);
        rl_buf_printf(b, " resident, %.0f open files", val(cur, "process_open_fds"));
        double start = val(cur, "process_start_time_seconds");
        if (!isnan(start)) {
            rl_buf_puts(b, ", up ");
            put_duration(b, (double)time(NULL) - start);
        }
        rl_buf_putc(b, '\n');
    }
    if ((m = tool_metrics_find(cur, "rowlog_source_last_error_info", NULL, NULL)) != NULL) {
        tool_metric_label(m, "code", s1, sizeof s1);
        tool_metric_label(m, "message", s2, sizeof s2);
        rl_buf_printf(b, "last error %s: %s\n", s1, s2);
    }
}

/* ------------------------------------------------------------------ command */

static void status_usage(FILE *f)
{
    fputs("usage: rowlog status [--http HOST:PORT] [--watch [SECONDS]] [--timeout MS]\n"
          "\n"
          "Prints a summary of a running rowlogd from its metrics endpoint: the source, its\n"
          "position and lag behind the primary, retention headroom on the primary,\n"
          "throughput, the log's partitions and the consumer groups with their lag.\n"
          "\n"
          "  --http HOST:PORT  rowlogd's --http address (default " TOOL_DEFAULT_HTTP ")\n"
          "  --watch [SECONDS] redraw every SECONDS (default 2) until interrupted\n"
          "  --timeout MS      limit for one request (default 10000)\n",
          f);
}

/* GETs /metrics into ms. */
static int fetch(const char *url, int timeout_ms, tool_metrics *ms, rl_err *err)
{
    rl_buf body = RL_BUF_INIT;
    long status = 0;
    int rc = tool_http_get(url, timeout_ms, (size_t)64 << 20, &status, &body, err);
    if (rc == 0 && status != 200)
        rc = rl_err_set(err, RL_EPROTO, "GET %s: HTTP status %ld", url, status);
    if (rc == 0) {
        rc = tool_metrics_parse(ms, body.p ? (const char *)body.p : "", body.len, err);
        if (rc >= 0)
            rc = 0;
        else
            rl_err_wrap(err, rc, "GET %s", url);
    }
    rl_buf_free(&body);
    return rc;
}

/* Waits ms unless one of set arrives first (returned, consumed). */
static int wait_signal(const sigset_t *set, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

int tool_status_main(int argc, char **argv)
{
    const char *prog = "rowlog status";
    const char *http = TOOL_DEFAULT_HTTP;
    uint64_t watch_s = 0, timeout_ms = TOOL_DEFAULT_TIMEOUT_MS;
    bool watch = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            status_usage(stdout);
            return TOOL_EXIT_OK;
        } else if (strcmp(a, "--http") == 0) {
            if (++i == argc)
                return tool_usage_error(prog, status_usage, "%s needs HOST:PORT", a);
            http = argv[i];
        } else if (strcmp(a, "--watch") == 0) {
            watch = true;
            watch_s = 2;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                if (tool_parse_u64(argv[i + 1], 86400, &watch_s) != 0 || watch_s == 0)
                    return tool_usage_error(prog, status_usage,
                                            "--watch: '%s' is not a number of seconds (1-86400)",
                                            argv[i + 1]);
                i++;
            }
        } else if (strcmp(a, "--timeout") == 0) {
            if (++i == argc || tool_parse_u64(argv[i], 3600000, &timeout_ms) != 0 ||
                timeout_ms == 0)
                return tool_usage_error(prog, status_usage, "--timeout: '%s' is not 1-3600000 ms",
                                        i < argc ? argv[i] : "");
        } else {
            return tool_usage_error(prog, status_usage, "unexpected argument '%s'", a);
        }
    }
    if (!*http || strchr(http, '/') || !strchr(http, ':'))
        return tool_usage_error(prog, status_usage, "--http: '%s' is not HOST:PORT", http);
    char url[600];
    snprintf(url, sizeof url, "http://%s/metrics", http);

    sigset_t stop;
    if (tool_signals_block(&stop) != 0) {
        fprintf(stderr, "%s: cannot block signals\n", prog);
        return TOOL_EXIT_FAIL;
    }
    tool_metrics prev = TOOL_METRICS_INIT, cur = TOOL_METRICS_INIT;
    rl_buf out = RL_BUF_INIT;
    rl_err err = {0};
    int ret = TOOL_EXIT_OK;
    bool have_prev = false;
    int64_t prev_ms = 0;
    for (;;) {
        if (!have_prev) {
            /* A first scrape one second earlier, so that throughput is a current rate. */
            if (fetch(url, (int)timeout_ms, &prev, &err) != 0) {
                fprintf(stderr, "%s: %s\n", prog, err.msg);
                ret = TOOL_EXIT_FAIL;
                break;
            }
            prev_ms = rl_now_ms();
            have_prev = true;
            if (wait_signal(&stop, 1000)) {
                ret = TOOL_EXIT_INTERRUPTED;
                break;
            }
        }
        if (fetch(url, (int)timeout_ms, &cur, &err) != 0) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            ret = TOOL_EXIT_FAIL;
            if (!watch)
                break;
            have_prev = false;
        } else {
            int64_t now = rl_now_ms();
            rl_buf_reset(&out);
            if (watch)
                rl_buf_puts(&out, "\033[H\033[2J");
            time_t t = (time_t)(now / 1000);
            struct tm tm;
            char when[32];
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
            rl_buf_printf(&out, "rowlogd at %s, %s\n", http, when);
            tool_status_render(&cur, &prev, (double)(now - prev_ms) / 1000.0, &out);
            if (!rl_buf_ok(&out)) {
                fprintf(stderr, "%s: out of memory\n", prog);
                ret = TOOL_EXIT_FAIL;
                break;
            }
            if (tool_write(stdout, out.p, out.len) != 0 || fflush(stdout) != 0) {
                ret = TOOL_EXIT_FAIL;
                break;
            }
            ret = TOOL_EXIT_OK;
            tool_metrics swap = prev;
            prev = cur;
            cur = swap;
            prev_ms = now;
        }
        if (!watch)
            break;
        if (wait_signal(&stop, (long)watch_s * 1000)) {
            ret = TOOL_EXIT_OK;
            break;
        }
    }
    tool_metrics_free(&prev);
    tool_metrics_free(&cur);
    rl_buf_free(&out);
    return ret;
}
