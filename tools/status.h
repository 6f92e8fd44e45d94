/*
 * status.h - `rowlog status`: a human summary of rowlogd's /metrics (tools/status.c).
 *
 * The parser reads the Prometheus text exposition format 0.0.4 (prometheus/docs
 * content/docs/instrumenting/exposition_formats.md) as rowlogd writes it: comment lines,
 * then "name[{label="value",...}] value [timestamp]" samples. The metric names it reads are
 * listed in docs/metrics.md.
 *
 * Threading: main thread only. Ownership: a tool_metrics owns its copy of the text, and its
 * samples point into it until tool_metrics_free.
 */
#ifndef ROWLOG_TOOLS_STATUS_H
#define ROWLOG_TOOLS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/rl.h"

/* `rowlog status [--http HOST:PORT] [--watch [SECONDS]]`; main()'s calling convention and
 * the exit statuses of tools/tools.h. */
int tool_status_main(int argc, char **argv);

typedef struct tool_metric {
    const char *name;   /* metric name */
    const char *labels; /* raw text between the braces ("" without labels), escapes kept */
    double value;
} tool_metric;

typedef struct tool_metrics {
    rl_buf text; /* the exposition text, NUL-separated in place */
    tool_metric *m;
    size_t n, cap;
} tool_metrics;

#define TOOL_METRICS_INIT                                                                          \
    {                                                                                              \
        RL_BUF_INIT, NULL, 0, 0                                                                    \
    }

/* Parses len bytes of exposition text (copied) into ms (emptied first). Returns the number of
 * samples, RL_EPROTO (a line that is not a sample: err names the line number) or -ENOMEM. */
int tool_metrics_parse(tool_metrics *ms, const char *text, size_t len, rl_err *err);
void tool_metrics_free(tool_metrics *ms);
/* Copies the unescaped value of label key of m into out (cut to cap - 1 bytes). Returns
 * false when m has no such label. */
bool tool_metric_label(const tool_metric *m, const char *key, char *out, size_t cap);
/* First sample named name whose label key equals val (key NULL: any labels), or NULL. */
const tool_metric *tool_metrics_find(const tool_metrics *ms, const char *name, const char *key,
                                     const char *val);
/*
 * Appends the summary of cur to out. prev (NULL: none) is a scrape taken interval_s seconds
 * earlier: with it, throughput is the rate between the two, else the average since the
 * process started. Sections whose metrics are absent are left out. Errors stick in out.
 */
void tool_status_render(const tool_metrics *cur, const tool_metrics *prev, double interval_s,
                        rl_buf *out);

#endif /* ROWLOG_TOOLS_STATUS_H */
