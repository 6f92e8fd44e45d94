/*
 * topics.c - `rowlog topics`: lists every topic and partition with its watermark offsets.
 *
 * Output, one line per partition, sorted by topic name (byte order) then partition id:
 *   TOPIC<TAB>PARTITION<TAB>LOG_START<TAB>LOG_END
 * LOG_START is the partition's first offset (the low watermark), LOG_END the offset the next
 * record will get (the high watermark), both from rd_kafka_query_watermark_offsets (a
 * ListOffsets request for timestamps -2 and -1, Kafka protocol guide "ListOffsets").
 * A topic or partition whose metadata or watermarks cannot be read is reported on stderr and
 * makes the exit status 1; the other lines are still printed.
 * Internal topics (names beginning with "__": rowlogd's __rowlog_xa; Metadata marks them
 * is_internal, server/kafka_api.c) are left out unless --internal is given, as Kafka's
 * kafka-topics.sh --list leaves them out with --exclude-internal.
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TOPICS_PROG "rowlog topics"

typedef struct topics_row {
    const char *topic; /* points into the metadata */
    int32_t partition;
} topics_row;

static void topics_usage(FILE *f)
{
    fputs("usage: rowlog topics [--internal] [--bootstrap HOST:PORT] [--timeout MS] [--verbose]\n"
          "\n"
          "Lists every partition of every topic with its offsets, sorted by topic and\n"
          "partition, one line each:\n"
          "  TOPIC<TAB>PARTITION<TAB>LOG_START<TAB>LOG_END\n"
          "\n"
          "  --internal             list internal topics too (names beginning with __,\n"
          "                         such as __rowlog_xa); left out by default\n"
          "  --bootstrap HOST:PORT  broker to connect to (default " TOOL_DEFAULT_BOOTSTRAP ")\n"
          "  --timeout MS           limit for each request (default 10000)\n"
          "  --verbose              print librdkafka's log lines on stderr\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 done, 1 error (broker down, a topic or partition unreadable), 2 usage.\n",
          f);
}

static int topics_row_cmp(const void *a, const void *b)
{
    const topics_row *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

int tool_topics_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_KAFKA_LONGOPTS,
        {"internal", no_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    bool internal = false;
    tool_kafka_opts ko = {.bootstrap = TOOL_DEFAULT_BOOTSTRAP,
                          .prog = TOPICS_PROG,
                          .timeout_ms = TOOL_DEFAULT_TIMEOUT_MS};
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        if (c == 'i') {
            internal = true;
            continue;
        }
        int rc = tool_kafka_option(c, TOPICS_PROG, topics_usage, argv, &ko);
        if (rc != TOOL_OPT_NEXT)
            return rc;
    }
    if (optind < argc)
        return tool_usage_error(TOPICS_PROG, topics_usage, "unexpected argument '%s'", argv[optind]);

    int status = TOOL_EXIT_FAIL;
    rl_err err = {0, ""};
    const struct rd_kafka_metadata *md = NULL;
    topics_row *rows = NULL;
    size_t nrows = 0;
    bool partial = false;
    tool_kafka *kc = tool_kafka_new(&ko, NULL, &err);
    if (!kc)
        goto fail;
    if (tool_kafka_metadata(kc, NULL, &md, &err))
        goto fail;

    size_t total = 0;
    for (int t = 0; t < md->topic_cnt; t++)
        total += (size_t)(md->topics[t].partition_cnt > 0 ? md->topics[t].partition_cnt : 0);
    rows = calloc(total ? total : 1, sizeof *rows);
    if (!rows) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (!internal && tool_topic_is_internal(mt->topic))
            continue;
        if (mt->err) {
            fprintf(stderr, TOPICS_PROG ": topic '%s': %s\n", mt->topic, rd_kafka_err2str(mt->err));
            partial = true;
            continue;
        }
        for (int p = 0; p < mt->partition_cnt; p++) {
            rows[nrows].topic = mt->topic;
            rows[nrows].partition = mt->partitions[p].id;
            nrows++;
        }
    }
    qsort(rows, nrows, sizeof *rows, topics_row_cmp);

    for (size_t r = 0; r < nrows; r++) {
        int64_t lo = 0, hi = 0;
        rl_err werr = {0, ""};
        if (tool_kafka_watermarks(kc, rows[r].topic, rows[r].partition, &lo, &hi, &werr)) {
            fflush(stdout);
            fprintf(stderr, TOPICS_PROG ": %s\n", werr.msg);
            partial = true;
            int rc = tool_kafka_poll_errors(kc, &err);
            if (rc)
                goto fail; /* broker gone: the rest would fail the same way */
            continue;
        }
        printf("%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\n", rows[r].topic, rows[r].partition, lo,
               hi);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rl_err_set(&err, -EIO, "cannot write to stdout: %s", strerror(errno ? errno : EIO));
        goto fail;
    }
    status = partial ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
    goto out;

fail:
    fprintf(stderr, TOPICS_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(err.code));
    status = TOOL_EXIT_FAIL;
out:
    free(rows);
    if (md)
        rd_kafka_metadata_destroy(md);
    tool_kafka_destroy(kc);
    return status;
}
