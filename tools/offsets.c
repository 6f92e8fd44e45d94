/*
 * offsets.c - `rowlog offsets`: per partition of one or more topics, the offset of a GTID or a
 * time, or the partition's log start and end.
 *
 * Output, one line per partition, in topic argument order (the topics a wildcard matches
 * sorted by name) then partition id:
 *   TOPIC<TAB>PARTITION<TAB>LOG_START<TAB>LOG_END      (neither --gtid nor --time)
 *   TOPIC<TAB>PARTITION<TAB>OFFSET                     (--gtid GTID or --time TIME)
 * OFFSET is the first record of that transaction or a later one (--gtid: rowlogd's HTTP
 * endpoint, seek.c) or the first record whose timestamp is at or after TIME (--time:
 * ListOffsets by timestamp); when no record is that late it is the log end (the offset the
 * next record will get), where a consumer starting there waits for new records.
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define OFFSETS_PROG "rowlog offsets"

static void offsets_usage(FILE *f)
{
    fputs("usage: rowlog offsets [--bootstrap HOST:PORT] [--gtid GTID | --time TIME]\n"
          "                      [--http HOST:PORT] [--timeout MS] [--verbose] TOPIC...\n"
          "\n"
          "Prints, for every partition of each TOPIC (wildcards *, ? and [...] allowed):\n"
          "  TOPIC<TAB>PARTITION<TAB>LOG_START<TAB>LOG_END   without --gtid and --time\n"
          "  TOPIC<TAB>PARTITION<TAB>OFFSET                  with them: the first record of\n"
          "                        transaction GTID or a later one, or the first record at or\n"
          "                        after TIME (the log end when there is none)\n"
          "\n"
          "  --bootstrap HOST:PORT  broker to connect to (default " TOOL_DEFAULT_BOOTSTRAP ")\n"
          "  --gtid GTID            a transaction's GTID (MariaDB 0-1-25, MySQL uuid:25),\n"
          "                         looked up in rowlogd's GTID index over HTTP\n"
          "  --time TIME            2026-11-23T10:00:00Z (RFC 3339) or relative: -10m, -2h\n"
          "  --http HOST:PORT       rowlogd's HTTP endpoint (default " TOOL_DEFAULT_HTTP ")\n"
          "  --timeout MS           limit for each request (default 10000)\n"
          "  --verbose              print librdkafka's log lines on stderr\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 done, 1 error (unknown topic, broker or rowlogd down), 2 usage.\n",
          f);
}

/* One topic: its partitions from metadata, then the offsets asked for. */
static int offsets_topic(tool_kafka *kc, const char *topic, const char *gtid, bool by_time,
                         int64_t ts_ms, const char *http, rl_err *err)
{
    rd_kafka_t *rk = tool_kafka_rk(kc);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int rc;
    if (!rkt)
        return rl_err_set(err, RL_ECONFIG, "topic '%s': %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    rc = tool_kafka_metadata(kc, rkt, &md, err);
    if (rc)
        goto out;
    if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = rl_err_set(err, RL_ENOTFOUND, "unknown topic '%s'", topic);
        goto out;
    }
    const struct rd_kafka_metadata_topic *mt = &md->topics[0];
    if (mt->err) {
        rc = rl_err_set(err, RL_EPROTO, "topic '%s': %s", topic, rd_kafka_err2str(mt->err));
        goto out;
    }
    tpl = rd_kafka_topic_partition_list_new(mt->partition_cnt > 0 ? mt->partition_cnt : 1);
    if (!tpl) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < mt->partition_cnt; i++) {
        if (!rd_kafka_topic_partition_list_find(tpl, topic, mt->partitions[i].id))
            rd_kafka_topic_partition_list_add(tpl, topic, mt->partitions[i].id);
    }
    rd_kafka_topic_partition_list_sort(tpl, NULL, NULL);
    if (gtid)
        rc = tool_seek_gtid(http, topic, gtid, tool_kafka_timeout_ms(kc), tpl, err);
    else if (by_time)
        rc = tool_seek_time(kc, tpl, ts_ms, err);
    if (rc)
        goto out;
    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *p = &tpl->elems[i];
        int64_t lo = 0, hi = 0;
        bool need_marks = !(gtid || by_time) || p->offset == RD_KAFKA_OFFSET_END;
        if (need_marks) {
            rc = tool_kafka_watermarks(kc, topic, p->partition, &lo, &hi, err);
            if (rc)
                goto out;
        }
        if (!(gtid || by_time))
            printf("%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\n", topic, p->partition, lo, hi);
        else
            printf("%s\t%" PRId32 "\t%" PRId64 "\n", topic, p->partition,
                   p->offset == RD_KAFKA_OFFSET_END ? hi : p->offset);
    }
    rc = 0;
out:
    if (tpl)
        rd_kafka_topic_partition_list_destroy(tpl);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int offsets_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tool_offsets_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"gtid", required_argument, NULL, 'g'},
        {"time", required_argument, NULL, 't'},
        {"http", required_argument, NULL, 'H'},
        TOOL_KAFKA_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    tool_kafka_opts ko = {.bootstrap = TOOL_DEFAULT_BOOTSTRAP,
                          .prog = OFFSETS_PROG,
                          .timeout_ms = TOOL_DEFAULT_TIMEOUT_MS};
    const char *gtid = NULL, *http = TOOL_DEFAULT_HTTP;
    bool by_time = false;
    int64_t ts_ms = 0;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'H':
            if (!*optarg)
                return tool_usage_error(OFFSETS_PROG, offsets_usage, "--http needs HOST:PORT%s",
                                        "");
            http = optarg;
            break;
        case 'g':
            if (!*optarg)
                return tool_usage_error(OFFSETS_PROG, offsets_usage, "--gtid needs a GTID%s", "");
            gtid = optarg;
            break;
        case 't':
            if (tool_parse_time(optarg, rl_now_ms(), &ts_ms) != 0)
                return tool_usage_error(OFFSETS_PROG, offsets_usage,
                                        "--time takes 2026-11-23T10:00:00Z or -10m, not '%s'",
                                        optarg);
            by_time = true;
            break;
        default: {
            int rc = tool_kafka_option(c, OFFSETS_PROG, offsets_usage, argv, &ko);
            if (rc != TOOL_OPT_NEXT)
                return rc;
        }
        }
    }
    if (gtid && by_time)
        return tool_usage_error(OFFSETS_PROG, offsets_usage,
                                "--gtid and --time exclude each other%s", "");
    if (optind >= argc)
        return tool_usage_error(OFFSETS_PROG, offsets_usage, "no TOPIC given%s", "");

    int status = TOOL_EXIT_FAIL;
    rl_err err = {0, ""};
    const struct rd_kafka_metadata *md = NULL;
    tool_kafka *kc = tool_kafka_new(&ko, NULL, &err);
    if (!kc)
        goto fail;
    for (int a = optind; a < argc; a++) {
        if (!tool_topic_is_pattern(argv[a])) {
            if (offsets_topic(kc, argv[a], gtid, by_time, ts_ms, http, &err))
                goto fail;
            continue;
        }
        if (!md && tool_kafka_metadata(kc, NULL, &md, &err))
            goto fail;
        const char **names = calloc((size_t)md->topic_cnt + 1, sizeof *names);
        size_t n = 0;
        if (!names) {
            rl_err_set(&err, -ENOMEM, "out of memory");
            goto fail;
        }
        for (int t = 0; t < md->topic_cnt; t++) {
            if (tool_topic_match(argv[a], md->topics[t].topic))
                names[n++] = md->topics[t].topic;
        }
        qsort(names, n, sizeof *names, offsets_name_cmp);
        for (size_t t = 0; t < n; t++) {
            if (offsets_topic(kc, names[t], gtid, by_time, ts_ms, http, &err)) {
                free(names);
                goto fail;
            }
        }
        free(names);
        if (n == 0) {
            rl_err_set(&err, RL_ENOTFOUND, "no topic matches '%s'", argv[a]);
            goto fail;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rl_err_set(&err, -EIO, "cannot write to stdout: %s", strerror(errno ? errno : EIO));
        goto fail;
    }
    status = TOOL_EXIT_OK;
    goto out;
fail:
    fflush(stdout);
    fprintf(stderr, OFFSETS_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(err.code));
    status = TOOL_EXIT_FAIL;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    tool_kafka_destroy(kc);
    return status;
}
