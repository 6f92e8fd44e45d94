/*
 * seek.c - turning the positions users think in into log offsets, for `rowlog tail --from`
 * and `rowlog offsets`, and topic wildcards into topic names or subscription patterns.
 *
 *   time: ListOffsets with a timestamp (rd_kafka_offsets_for_times; Kafka protocol guide
 *     "ListOffsets", KIP-79): per partition, the first offset whose record timestamp is at or
 *     after the time; a partition with no such record answers -1, which is the end.
 *   GTID: rowlogd's HTTP endpoint
 *       GET /v1/offsets?topic=T&gtid=G
 *       200 {"topic":"T","gtid":"G","partitions":[{"partition":0,"offset":N},...]}
 *       404 unknown topic, 400 malformed GTID
 *     (server/rowlogd: the per-partition index from transaction GTID to first offset; the
 *     offset is the first record of that transaction or of the first one after it).
 */
#include "tools/tools.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>

bool tool_topic_is_pattern(const char *name)
{
    return strpbrk(name, "*?[") != NULL;
}

bool tool_topic_match(const char *pattern, const char *topic)
{
    /* Topics whose name starts with "__" are internal (Kafka's convention; rowlog's committed
     * offsets live in one): a wildcard never selects them unless it starts with "__" too. */
    if (topic[0] == '_' && topic[1] == '_' && !(pattern[0] == '_' && pattern[1] == '_'))
        return false;
    return fnmatch(pattern, topic, 0) == 0;
}

void tool_glob_regex(rl_buf *b, const char *glob)
{
    /* librdkafka treats a subscription starting with '^' as a regular expression (rdkafka.h,
     * rd_kafka_subscribe) matched against every topic of the cluster's metadata. */
    rl_buf_putc(b, '^');
    for (const char *c = glob; *c; c++) {
        switch (*c) {
        case '*':
            rl_buf_append(b, ".*", 2);
            break;
        case '?':
            rl_buf_putc(b, '.');
            break;
        case '[':
        case ']':
            rl_buf_putc(b, *c); /* character classes mean the same in both */
            break;
        case '.':
        case '\\':
        case '(':
        case ')':
        case '{':
        case '}':
        case '+':
        case '^':
        case '$':
        case '|':
            rl_buf_putc(b, '\\');
            rl_buf_putc(b, *c);
            break;
        default:
            rl_buf_putc(b, *c);
        }
    }
    rl_buf_putc(b, '$');
}

int tool_seek_time(tool_kafka *kc, rd_kafka_topic_partition_list_t *tpl, int64_t ts_ms, rl_err *err)
{
    for (int i = 0; i < tpl->cnt; i++)
        tpl->elems[i].offset = ts_ms;
    rd_kafka_resp_err_t e =
        rd_kafka_offsets_for_times(tool_kafka_rk(kc), tpl, tool_kafka_timeout_ms(kc));
    if (e)
        return rl_err_set(err, RL_EPROTO, "cannot look up offsets by time: %s",
                          rd_kafka_err2str(e));
    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *p = &tpl->elems[i];
        if (p->err)
            return rl_err_set(err, RL_EPROTO, "%s [%" PRId32 "]: cannot look up offset by time: %s",
                              p->topic, p->partition, rd_kafka_err2str(p->err));
        if (p->offset < 0)
            p->offset = RD_KAFKA_OFFSET_END; /* no record that recent */
    }
    return 0;
}

int tool_seek_gtid(const char *http, const char *topic, const char *gtid, int timeout_ms,
                   rd_kafka_topic_partition_list_t *tpl, rl_err *err)
{
    rl_buf url = RL_BUF_INIT, body = RL_BUF_INIT;
    int rc;
    rl_buf_puts(&url, "http://");
    rl_buf_puts(&url, http);
    rl_buf_puts(&url, "/v1/offsets?topic=");
    tool_url_escape(&url, topic);
    rl_buf_puts(&url, "&gtid=");
    tool_url_escape(&url, gtid);
    const char *u = rl_buf_cstr(&url);
    if (!u) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    long status = 0;
    rc = tool_http_get(u, timeout_ms, 0, &status, &body, err);
    if (rc)
        goto out;
    int blen = body.len > 200 ? 200 : (int)body.len;
    if (status == 404) {
        rc = rl_err_set(err, RL_ENOTFOUND, "rowlogd at %s has no topic '%s' (GET %s: 404 %.*s)",
                        http, topic, u, blen, body.p ? (const char *)body.p : "");
        goto out;
    }
    if (status == 400) {
        rc = rl_err_set(err, RL_ECONFIG, "rowlogd at %s refused GTID '%s': %.*s", http, gtid, blen,
                        body.p ? (const char *)body.p : "");
        goto out;
    }
    if (status != 200) {
        rc = rl_err_set(err, RL_EPROTO, "GET %s: HTTP status %ld: %.*s", u, status, blen,
                        body.p ? (const char *)body.p : "");
        goto out;
    }
    rl_slice doc = rl_buf_slice(&body), parts;
    if (!tool_json_valid(doc.p, doc.len, NULL) || !tool_json_member(doc, "partitions", &parts)) {
        rc = rl_err_set(err, RL_EPROTO, "GET %s: answer is not {\"partitions\":[...]}: %.*s", u,
                        blen, body.p ? (const char *)body.p : "");
        goto out;
    }
    for (int i = 0; i < tpl->cnt; i++)
        tpl->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    size_t pos = 0;
    rl_slice el, pv, ov;
    while (tool_json_array_next(parts, &pos, &el)) {
        int64_t part, off;
        if (!tool_json_member(el, "partition", &pv) || !tool_json_member(el, "offset", &ov) ||
            !tool_json_int(pv, &part) || !tool_json_int(ov, &off) || part < 0 || part > INT32_MAX ||
            off < 0) {
            rc = rl_err_set(err, RL_EPROTO, "GET %s: bad partition entry %.*s", u,
                            (int)(el.len > 100 ? 100 : el.len), (const char *)el.p);
            goto out;
        }
        for (int i = 0; i < tpl->cnt; i++) {
            if (tpl->elems[i].partition == (int32_t)part && strcmp(tpl->elems[i].topic, topic) == 0)
                tpl->elems[i].offset = off;
        }
    }
    for (int i = 0; i < tpl->cnt; i++) {
        if (strcmp(tpl->elems[i].topic, topic) == 0 && tpl->elems[i].offset < 0) {
            rc = rl_err_set(err, RL_EPROTO, "GET %s: no offset for partition %" PRId32, u,
                            tpl->elems[i].partition);
            goto out;
        }
    }
    rc = 0;
out:
    rl_buf_free(&url);
    rl_buf_free(&body);
    return rc;
}
