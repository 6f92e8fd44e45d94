/*
 * tail.c - `rowlog tail`: prints the records of Kafka topics, as JSON lines (default), the
 * values alone, or one human line per change.
 *
 * Output formats, one line per record:
 *   json    {"topic":"T","partition":P,"offset":O,"key":K,"value":V}   (keys in this order,
 *           no spaces; K and V embed the record's key and value with tool_json_embed: JSON as
 *           is, anything else as a JSON string, a null key or value as null)
 *   value   V alone
 *   pretty  OP DB.TABLE KEY COLUMNS (tools/pretty.c), coloured when stdout is a terminal and
 *           NO_COLOR is unset or empty (https://no-color.org)
 *
 * Without --group: librdkafka's legacy simple consumer (see kafka_client.c). Topic wildcards
 * are expanded against the cluster's metadata once at start. For each topic, metadata gives
 * the partitions; every partition (or the one of --partition) is started on one shared queue
 * at the requested offset; enable.partition.eof makes librdkafka deliver one
 * RD_KAFKA_RESP_ERR__PARTITION_EOF event when a partition's fetch reaches the high watermark,
 * which ends the run without --follow. auto.offset.reset=error turns an absolute offset
 * outside [log start, high watermark] into an error rather than a silent jump.
 *
 * With --group NAME: librdkafka's high-level consumer in group NAME (subscribe; wildcards
 * become a regex subscription, so topics created later join). The assignment comes from the
 * group; a partition starts at the group's committed offset, or where --from says when the
 * group has none (beginning, end: auto.offset.reset; OFFSET, TIME, gtid: looked up in the
 * rebalance callback for the partitions without a committed offset).
 * Commit rule: an offset is stored (rd_kafka_offsets_store) only once the record's line left
 * the stdio buffer (after fflush), and librdkafka's auto-commit (every second) commits the
 * stored offsets; on a revocation and on exit the stored offsets are committed synchronously.
 * So the committed offset of a partition is always just past a record that was written out:
 * after a restart nothing written is printed again (unless the process was killed between a
 * flush and the next commit, at most one second of records) and nothing is skipped. Records
 * that --op filters out count as consumed.
 *
 * Output is buffered (1 MiB stdio buffer) and flushed whenever the queue has nothing more
 * ready, so a pipe reader sees each batch before this process blocks again.
 */
#include "tools/tools.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAIL_PROG "rowlog tail"
/* Messages taken from the queue per call. */
#define TAIL_BATCH 1024
/* Longest wait for new records before checking signals and broker state, ms. */
#define TAIL_WAIT_MS 100
/* librdkafka's auto-commit interval with --group (ms): the window of records printed again
 * after a crash (not after a clean stop, which commits synchronously). */
#define TAIL_COMMIT_MS "1000"
/* Most -X properties on one command line. */
#define TAIL_MAX_PROPS 16

enum { FROM_BEGINNING, FROM_END, FROM_OFFSET, FROM_TIME, FROM_GTID };
enum { FMT_JSON, FMT_VALUE, FMT_PRETTY };

typedef struct tail_opts {
    const char *bootstrap;
    const char *http;
    const char *group; /* NULL: simple consumer */
    int from;          /* FROM_* */
    int64_t from_offset;
    int64_t from_ms;
    const char *from_gtid;
    bool follow;
    uint64_t max;      /* 0 = no limit */
    int32_t partition; /* -1 = all */
    int format;        /* FMT_* */
    unsigned ops;      /* bit per op letter (op_bit); 0 = all records */
    int timeout_ms;
    bool verbose;
    /* -X NAME=VALUE librdkafka properties, applied last: names and values alternate. */
    const char *props[2 * TAIL_MAX_PROPS];
    size_t nprops;
} tail_opts;

/* One partition read by this process (started, or assigned by the group). */
typedef struct tail_part {
    char *topic;
    int32_t partition;
    bool active;     /* started / currently assigned */
    bool eof;        /* reached the end once while active */
    int64_t pending; /* with --group: offset of the last record written out, not yet stored;
                        -1 = none */
    rl_buf prefix;   /* `{"topic":"T","partition":` */
} tail_part;

/* A topic handle of the simple consumer. */
typedef struct tail_topic {
    char *name;
    rd_kafka_topic_t *rkt;
} tail_topic;

typedef struct tail_state {
    tail_opts o;
    tool_kafka *kc;
    rd_kafka_t *rk;
    tail_part *parts;
    size_t nparts, cap_parts;
    size_t last; /* index of the last part looked up (records come in runs) */
    size_t nactive, neof;
    int64_t idle_since_ns; /* --group: when the assignment last became empty */
    bool color;
    uint64_t printed;
    bool done;
    bool unflushed;
    int64_t flushed_ns; /* when output was last flushed (and, with --group, stored) */
    rl_buf line;
    /* First error raised inside the rebalance callback (sticks; the loop checks it). */
    int cb_rc;
    rl_err cb_err;
} tail_state;

static unsigned op_bit(int op)
{
    switch (op) {
    case 'c':
        return 1u;
    case 'u':
        return 2u;
    case 'd':
        return 4u;
    case 'r':
        return 8u;
    default:
        return 0u;
    }
}

static void tail_usage(FILE *f)
{
    fputs("usage: rowlog tail [--bootstrap HOST:PORT] [--group NAME] [--from WHERE] [--follow]\n"
          "                   [--partition N] [--format json|pretty|value] [--op c,u,d,r]\n"
          "                   [--max N] [--http HOST:PORT] [--timeout MS] [--verbose] TOPIC...\n"
          "\n"
          "Prints the records of every partition of each TOPIC (wildcards *, ? and [...]\n"
          "select every matching topic: quote them, 'rowlog.shop.*'). Formats:\n"
          "  json (default)  {\"topic\":\"T\",\"partition\":P,\"offset\":O,\"key\":K,\"value\":V}\n"
          "                  K and V are the record's key and value as JSON (a key or value\n"
          "                  that is not JSON as a JSON string, a null one as null)\n"
          "  value           V alone\n"
          "  pretty          one line per change: op, table, key, changed columns\n"
          "                  (old->new); coloured on a terminal unless NO_COLOR is set\n"
          "\n"
          "  --bootstrap HOST:PORT  broker to connect to (default " TOOL_DEFAULT_BOOTSTRAP ")\n"
          "  --group NAME           consume as a member of consumer group NAME: partitions\n"
          "                         are shared with the other members, start at the group's\n"
          "                         committed offsets, and what is printed is committed\n"
          "                         (every second and on exit)\n"
          "  --from WHERE           where to start (with --group: only in partitions without\n"
          "                         a committed offset):\n"
          "                           beginning (default), end, OFFSET (outside a partition's\n"
          "                           range is an error), TIME (2026-11-23T10:00:00Z, or\n"
          "                           relative: -10m, -2h, -1d), gtid:GTID (the first record\n"
          "                           of that transaction or a later one, asked from\n"
          "                           rowlogd's HTTP endpoint)\n"
          "  --from-gtid GTID       the same as --from gtid:GTID\n"
          "  --follow               wait for new records until SIGINT or SIGTERM (exit 0);\n"
          "                         without it, exit once every partition reached its end\n"
          "  --partition N          read partition N only (not with --group)\n"
          "  --format F             json, pretty or value\n"
          "  --op LIST              only changes whose op is in LIST (c insert, u update,\n"
          "                         d delete, r snapshot read; comma-separated)\n"
          "  --max N                exit after printing N records\n"
          "  --http HOST:PORT       rowlogd's HTTP endpoint for gtid: (default " TOOL_DEFAULT_HTTP
          ")\n"
          "  --timeout MS           limit for each request (default 10000)\n"
          "  -X NAME=VALUE          set a librdkafka property (CONFIGURATION.md), for\n"
          "                         instance -X session.timeout.ms=6000; repeatable\n"
          "  --verbose              print librdkafka's log lines on stderr\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 done, 1 error (unknown topic, broker down, bad offset), 2 usage,\n"
          "130 interrupted without --follow.\n",
          f);
}

static int tail_parse_from(const char *arg, tail_opts *o)
{
    uint64_t v;
    if (strcmp(arg, "beginning") == 0) {
        o->from = FROM_BEGINNING;
    } else if (strcmp(arg, "end") == 0) {
        o->from = FROM_END;
    } else if (tool_parse_u64(arg, INT64_MAX, &v) == 0) {
        o->from = FROM_OFFSET;
        o->from_offset = (int64_t)v;
    } else if (strncmp(arg, "gtid:", 5) == 0) {
        if (!arg[5])
            return -EINVAL;
        o->from = FROM_GTID;
        o->from_gtid = arg + 5;
    } else if (tool_parse_time(arg, rl_now_ms(), &o->from_ms) == 0) {
        o->from = FROM_TIME;
    } else {
        return -EINVAL;
    }
    return 0;
}

static int tail_parse_ops(const char *arg, unsigned *ops)
{
    *ops = 0;
    const char *c = arg;
    for (;;) {
        if (!c[0] || (c[1] && c[1] != ',') || !op_bit(c[0]))
            return -EINVAL;
        *ops |= op_bit(c[0]);
        if (!c[1])
            return 0;
        c += 2;
    }
}

/* Returns 0, TOOL_EXIT_USAGE after printing, or -1 for --help (printed). */
static int tail_parse(int argc, char **argv, tail_opts *o)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"from", required_argument, NULL, 'o'},
        {"follow", no_argument, NULL, 'F'},
        {"max", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"group", required_argument, NULL, 'G'},
        {"partition", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        {"op", required_argument, NULL, 'O'},
        {"http", required_argument, NULL, 'H'},
        {"from-gtid", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    memset(o, 0, sizeof *o);
    o->bootstrap = TOOL_DEFAULT_BOOTSTRAP;
    o->http = TOOL_DEFAULT_HTTP;
    o->from = FROM_BEGINNING;
    o->partition = -1;
    o->timeout_ms = TOOL_DEFAULT_TIMEOUT_MS;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":hX:", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'b':
            if (!*optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "--bootstrap needs HOST:PORT%s", "");
            o->bootstrap = optarg;
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "-X takes NAME=VALUE, not '%s'",
                                        optarg);
            if (o->nprops == TAIL_MAX_PROPS)
                return tool_usage_error(TAIL_PROG, tail_usage, "more than 16 -X properties%s", "");
            *eq = '\0'; /* argv strings are writable (C11 5.1.2.2.1) */
            o->props[2 * o->nprops] = optarg;
            o->props[2 * o->nprops + 1] = eq + 1;
            o->nprops++;
            break;
        }
        case 'H':
            if (!*optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "--http needs HOST:PORT%s", "");
            o->http = optarg;
            break;
        case 'G':
            if (!*optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "--group needs a NAME%s", "");
            o->group = optarg;
            break;
        case 'o':
            if (tail_parse_from(optarg, o) != 0)
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--from takes beginning, end, an offset, a time "
                                        "(2026-11-23T10:00:00Z, -10m) or gtid:GTID, not '%s'",
                                        optarg);
            break;
        case 'g':
            if (!*optarg)
                return tool_usage_error(TAIL_PROG, tail_usage, "--from-gtid needs a GTID%s", "");
            o->from = FROM_GTID;
            o->from_gtid = optarg;
            break;
        case 'F':
            o->follow = true;
            break;
        case 'n':
            if (tool_parse_u64(optarg, UINT64_MAX, &v) != 0 || v == 0)
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--max takes a positive count, not '%s'", optarg);
            o->max = v;
            break;
        case 'p':
            if (tool_parse_u64(optarg, INT32_MAX, &v) != 0)
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--partition takes a partition id, not '%s'", optarg);
            o->partition = (int32_t)v;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0)
                o->format = FMT_JSON;
            else if (strcmp(optarg, "value") == 0)
                o->format = FMT_VALUE;
            else if (strcmp(optarg, "pretty") == 0)
                o->format = FMT_PRETTY;
            else
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--format takes json, pretty or value, not '%s'", optarg);
            break;
        case 'O':
            if (tail_parse_ops(optarg, &o->ops) != 0)
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--op takes a list of c, u, d, r such as c,u, not '%s'",
                                        optarg);
            break;
        case 'T':
            if (tool_parse_u64(optarg, 3600000, &v) != 0 || v == 0)
                return tool_usage_error(TAIL_PROG, tail_usage,
                                        "--timeout takes 1 to 3600000 ms, not '%s'", optarg);
            o->timeout_ms = (int)v;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            tail_usage(stdout);
            return -1;
        case ':':
            return tool_usage_error(TAIL_PROG, tail_usage, "option %s needs a value",
                                    argv[optind - 1]);
        default:
            return tool_usage_error(TAIL_PROG, tail_usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage_error(TAIL_PROG, tail_usage, "no TOPIC given%s", "");
    for (int a = optind; a < argc; a++) {
        if (!*argv[a])
            return tool_usage_error(TAIL_PROG, tail_usage, "empty TOPIC name%s", "");
    }
    if (o->group && o->partition >= 0)
        return tool_usage_error(TAIL_PROG, tail_usage, "--partition cannot be used with --group%s",
                                "");
    return 0;
}

/* ---- partitions ------------------------------------------------------------------------ */

static tail_part *tail_part_find(tail_state *st, const char *topic, int32_t partition)
{
    if (st->last < st->nparts) {
        tail_part *tp = &st->parts[st->last];
        if (tp->partition == partition && strcmp(tp->topic, topic) == 0)
            return tp;
    }
    for (size_t i = 0; i < st->nparts; i++) {
        tail_part *tp = &st->parts[i];
        if (tp->partition == partition && strcmp(tp->topic, topic) == 0) {
            st->last = i;
            return tp;
        }
    }
    return NULL;
}

/* Finds or adds the entry of topic/partition. Returns NULL when out of memory. */
static tail_part *tail_part_get(tail_state *st, const char *topic, int32_t partition)
{
    tail_part *tp = tail_part_find(st, topic, partition);
    if (tp)
        return tp;
    if (st->nparts == st->cap_parts) {
        size_t cap = st->cap_parts ? st->cap_parts * 2 : 16;
        tail_part *n = realloc(st->parts, cap * sizeof *n);
        if (!n)
            return NULL;
        st->parts = n;
        st->cap_parts = cap;
    }
    tp = &st->parts[st->nparts];
    memset(tp, 0, sizeof *tp);
    tp->topic = strdup(topic);
    tp->partition = partition;
    tp->pending = -1;
    rl_buf_append(&tp->prefix, "{\"topic\":", 9);
    rl_buf_json_str(&tp->prefix, topic, strlen(topic));
    rl_buf_append(&tp->prefix, ",\"partition\":", 13);
    if (!tp->topic || !rl_buf_ok(&tp->prefix)) {
        free(tp->topic);
        rl_buf_free(&tp->prefix);
        return NULL;
    }
    st->last = st->nparts++;
    return tp;
}

static void tail_part_activate(tail_state *st, tail_part *tp)
{
    if (!tp->active) {
        tp->active = true;
        tp->eof = false;
        st->nactive++;
    }
}

static void tail_part_deactivate(tail_state *st, tail_part *tp)
{
    if (tp->active) {
        tp->active = false;
        st->nactive--;
        if (tp->eof)
            st->neof--;
        tp->eof = false;
    }
}

/* ---- output and commits ---------------------------------------------------------------- */

static int tail_flush(rl_err *err)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return rl_err_set(err, errno ? -errno : -EIO, "cannot write to stdout: %s",
                          strerror(errno ? errno : EIO));
    return 0;
}

/* --group: stores the offsets of the records written out so far (call after tail_flush). */
static int tail_store(tail_state *st, rl_err *err)
{
    if (!st->o.group)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < st->nparts; i++)
        n += st->parts[i].pending >= 0;
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new((int)n);
    if (!tpl)
        return rl_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < st->nparts; i++) {
        tail_part *tp = &st->parts[i];
        if (tp->pending < 0)
            continue;
        /* The committed offset is the next record to read (Kafka's convention). */
        rd_kafka_topic_partition_list_add(tpl, tp->topic, tp->partition)->offset = tp->pending + 1;
        tp->pending = -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(st->rk, tpl);
    /* A partition revoked meanwhile answers _STATE per partition: its records were committed
     * at the revocation (tail_rebalance), so nothing is lost by skipping it. */
    rd_kafka_topic_partition_list_destroy(tpl);
    if (e && e != RD_KAFKA_RESP_ERR__STATE && e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        return rl_err_set(err, RL_EPROTO, "cannot store offsets: %s", rd_kafka_err2str(e));
    return 0;
}

/* --group: flushes stdout, stores and commits synchronously what was written out. */
static int tail_commit_now(tail_state *st, rl_err *err)
{
    int rc = tail_flush(err);
    if (rc)
        return rc;
    st->unflushed = false;
    rc = tail_store(st, err);
    if (rc)
        return rc;
    rd_kafka_resp_err_t e = rd_kafka_commit(st->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return rl_err_set(err, RL_EPROTO, "group '%s': cannot commit offsets: %s", st->o.group,
                          rd_kafka_err2str(e));
    return 0;
}

static void tail_format(tail_state *st, const tail_part *tp, const rd_kafka_message_t *m)
{
    rl_buf *line = &st->line;
    rl_buf_reset(line);
    switch (st->o.format) {
    case FMT_VALUE:
        tool_json_embed(line, m->payload, m->payload ? m->len : 0);
        rl_buf_putc(line, '\n');
        break;
    case FMT_PRETTY:
        tool_pretty_format(line, tp->topic, m->partition, m->offset, m->key, m->key_len, m->payload,
                           m->payload ? m->len : 0, st->color);
        break;
    default:
        rl_buf_append(line, tp->prefix.p, tp->prefix.len);
        rl_buf_put_i64(line, m->partition);
        rl_buf_append(line, ",\"offset\":", 10);
        rl_buf_put_i64(line, m->offset);
        rl_buf_append(line, ",\"key\":", 7);
        tool_json_embed(line, m->key, m->key_len);
        rl_buf_append(line, ",\"value\":", 9);
        tool_json_embed(line, m->payload, m->payload ? m->len : 0);
        rl_buf_append(line, "}\n", 2);
    }
}

/* Handles one message: prints it or notes an end of partition. Returns 0 or an error. */
static int tail_message(tail_state *st, rd_kafka_message_t *m, rl_err *err)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        tail_part *tp = topic ? tail_part_find(st, topic, m->partition) : NULL;
        if (tp && tp->active && !tp->eof) {
            tp->eof = true;
            st->neof++;
        }
        return 0;
    }
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
            return rl_err_set(err, RL_ENOTFOUND, "unknown topic '%s'",
                              topic ? topic : rd_kafka_message_errstr(m));
        if (st->o.group && !topic && st->o.follow) {
            /* A consumer-level error (coordinator moved, connection lost): librdkafka
             * recovers by itself; say so and go on. */
            fprintf(stderr, TAIL_PROG ": warning: %s\n", rd_kafka_message_errstr(m));
            return 0;
        }
        return rl_err_set(err, RL_EPROTO, "%s [%" PRId32 "] at offset %" PRId64 ": %s",
                          topic ? topic : "?", m->partition, m->offset, rd_kafka_message_errstr(m));
    }
    if (!topic)
        return rl_err_set(err, RL_EPROTO, "record without a topic at offset %" PRId64, m->offset);
    tail_part *tp = tail_part_find(st, topic, m->partition);
    if (!tp)
        return rl_err_set(err, RL_EPROTO, "record of %s [%" PRId32 "], a partition not read", topic,
                          m->partition);
    if (st->o.ops && !(op_bit(tool_envelope_op(m->payload, m->payload ? m->len : 0)) & st->o.ops)) {
        tp->pending = m->offset; /* filtered out, but consumed */
        return 0;
    }
    tail_format(st, tp, m);
    if (!rl_buf_ok(&st->line))
        return rl_err_set(err, -ENOMEM, "out of memory formatting %s [%" PRId32 "] offset %" PRId64,
                          topic, m->partition, m->offset);
    int rc = tool_write(stdout, st->line.p, st->line.len);
    if (rc)
        return rl_err_set(err, rc, "cannot write to stdout: %s", strerror(-rc));
    tp->pending = m->offset;
    st->printed++;
    if (st->o.max && st->printed >= st->o.max)
        st->done = true;
    return 0;
}

/* ---- start positions ------------------------------------------------------------------- */

/* Sets the start offset of every entry of tpl (all of one topic) from --from. Absolute
 * offsets are checked against the partition's range; beginning/end use the logical offsets. */
static int tail_resolve_from(tail_state *st, const char *topic,
                             rd_kafka_topic_partition_list_t *tpl, rl_err *err)
{
    switch (st->o.from) {
    case FROM_BEGINNING:
    case FROM_END:
        for (int i = 0; i < tpl->cnt; i++)
            tpl->elems[i].offset =
                st->o.from == FROM_END ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        return 0;
    case FROM_TIME:
        return tool_seek_time(st->kc, tpl, st->o.from_ms, err);
    case FROM_GTID:
        return tool_seek_gtid(st->o.http, topic, st->o.from_gtid, st->o.timeout_ms, tpl, err);
    default:
        break;
    }
    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *p = &tpl->elems[i];
        /* Checked here with ListOffsets, before consuming, so the answer never depends on how
         * soon the client reports an out-of-range fetch. */
        int64_t low = 0, high = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(st->rk, topic, p->partition, &low,
                                                                 &high, st->o.timeout_ms);
        if (e)
            return rl_err_set(err, RL_EPROTO, "%s [%" PRId32 "]: cannot read its offsets: %s",
                              topic, p->partition, rd_kafka_err2str(e));
        if (st->o.from_offset < low || st->o.from_offset > high)
            return rl_err_set(err, RL_ERANGE,
                              "%s [%" PRId32 "]: offset %" PRId64 " is outside the partition's "
                              "offsets [%" PRId64 ", %" PRId64 "]",
                              topic, p->partition, st->o.from_offset, low, high);
        p->offset = st->o.from_offset;
    }
    return 0;
}

/* ---- simple consumer ------------------------------------------------------------------- */

/* Reads metadata of tt's topic and starts its partitions on rkqu. */
static int tail_start_topic(tail_state *st, tail_topic *tt, rd_kafka_queue_t *rkqu, rl_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;
    int rc = tool_kafka_metadata(st->kc, tt->rkt, &md, err);
    if (rc)
        return rc;
    if (md->topic_cnt != 1) {
        rc = rl_err_set(err, RL_EPROTO, "metadata for topic '%s' lists %d topics", tt->name,
                        md->topic_cnt);
        goto out;
    }
    const struct rd_kafka_metadata_topic *mt = &md->topics[0];
    if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = rl_err_set(err, RL_ENOTFOUND, "unknown topic '%s'", tt->name);
        goto out;
    }
    if (mt->err) {
        rc = rl_err_set(err, RL_EPROTO, "topic '%s': %s", tt->name, rd_kafka_err2str(mt->err));
        goto out;
    }
    if (mt->partition_cnt <= 0) {
        rc = rl_err_set(err, RL_EPROTO, "topic '%s' has no partitions", tt->name);
        goto out;
    }
    tpl = rd_kafka_topic_partition_list_new(mt->partition_cnt);
    if (!tpl) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t id = mt->partitions[i].id;
        if (id < 0) {
            rc = rl_err_set(err, RL_EPROTO, "topic '%s': partition id %" PRId32 " in metadata",
                            tt->name, id);
            goto out;
        }
        if (st->o.partition >= 0 && id != st->o.partition)
            continue;
        if (!rd_kafka_topic_partition_list_find(tpl, tt->name, id)) /* listed twice: once */
            rd_kafka_topic_partition_list_add(tpl, tt->name, id);
    }
    if (tpl->cnt == 0) {
        rc = rl_err_set(err, RL_ENOTFOUND, "topic '%s' has no partition %" PRId32 " (it has %d)",
                        tt->name, st->o.partition, mt->partition_cnt);
        goto out;
    }
    rc = tail_resolve_from(st, tt->name, tpl, err);
    if (rc)
        goto out;
    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *p = &tpl->elems[i];
        tail_part *tp = tail_part_get(st, tt->name, p->partition);
        if (!tp) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        if (rd_kafka_consume_start_queue(tt->rkt, p->partition, p->offset, rkqu) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            rc = rl_err_set(err, RL_EPROTO, "cannot start %s [%" PRId32 "]: %s", tt->name,
                            p->partition, rd_kafka_err2str(e));
            goto out;
        }
        tail_part_activate(st, tp);
    }
    rc = 0;
out:
    if (tpl)
        rd_kafka_topic_partition_list_destroy(tpl);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Adds name to the topic list unless present; takes a copy. */
static int tail_topic_add(tail_topic *topics, size_t *ntopics, const char *name, rl_err *err)
{
    for (size_t t = 0; t < *ntopics; t++) {
        if (strcmp(topics[t].name, name) == 0)
            return 0;
    }
    topics[*ntopics].name = strdup(name);
    if (!topics[*ntopics].name)
        return rl_err_set(err, -ENOMEM, "out of memory");
    (*ntopics)++;
    return 0;
}

/* The topic names to read: arguments as given, wildcards expanded against metadata. */
static int tail_topic_names(tail_state *st, int argc, char **argv, tail_topic **out, size_t *nout,
                            rl_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    size_t cap = (size_t)argc, n = 0;
    int rc = 0;
    bool wild = false;
    for (int a = optind; a < argc; a++)
        wild = wild || tool_topic_is_pattern(argv[a]);
    if (wild) {
        rc = tool_kafka_metadata(st->kc, NULL, &md, err);
        if (rc)
            return rc;
        cap += (size_t)md->topic_cnt;
    }
    tail_topic *topics = calloc(cap, sizeof *topics);
    if (!topics) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int a = optind; a < argc && rc == 0; a++) {
        if (!tool_topic_is_pattern(argv[a])) {
            rc = tail_topic_add(topics, &n, argv[a], err);
            continue;
        }
        size_t before = n;
        for (int t = 0; t < md->topic_cnt && rc == 0; t++) {
            if (tool_topic_match(argv[a], md->topics[t].topic))
                rc = tail_topic_add(topics, &n, md->topics[t].topic, err);
        }
        bool matched = n > before;
        for (size_t t = 0; !matched && t < before; t++)
            matched = tool_topic_match(argv[a], topics[t].name);
        if (rc == 0 && !matched)
            rc = rl_err_set(err, RL_ENOTFOUND, "no topic matches '%s'", argv[a]);
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    *out = topics;
    *nout = n;
    return rc;
}

/* ---- group consumer -------------------------------------------------------------------- */

/* With --from OFFSET/TIME/gtid: the partitions of parts without a committed offset get the
 * --from position; the others keep INVALID, which makes librdkafka use the committed one. */
static int tail_group_positions(tail_state *st, rd_kafka_topic_partition_list_t *parts, rl_err *err)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_topic_partition_list_t *one = NULL;
    int rc = 0;
    if (!committed)
        return rl_err_set(err, -ENOMEM, "out of memory");
    rd_kafka_resp_err_t e = rd_kafka_committed(st->rk, committed, st->o.timeout_ms);
    if (e) {
        rc = rl_err_set(err, RL_EPROTO, "group '%s': cannot read committed offsets: %s",
                        st->o.group, rd_kafka_err2str(e));
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        p->offset = RD_KAFKA_OFFSET_INVALID;
        if (committed->elems[i].offset >= 0)
            continue;
        one = rd_kafka_topic_partition_list_new(1);
        if (!one) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
        rc = tail_resolve_from(st, p->topic, one, err);
        if (rc)
            goto out;
        p->offset = one->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(one);
        one = NULL;
    }
out:
    if (one)
        rd_kafka_topic_partition_list_destroy(one);
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

static void tail_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                           rd_kafka_topic_partition_list_t *parts, void *arg)
{
    tail_state *st = arg;
    /* With a cooperative assignor (-X partition.assignment.strategy=cooperative-sticky) the
     * callback gets only the partitions added or taken away (KIP-429). */
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt && st->cb_rc == 0; i++) {
            tail_part *tp = tail_part_get(st, parts->elems[i].topic, parts->elems[i].partition);
            if (!tp)
                st->cb_rc = rl_err_set(&st->cb_err, -ENOMEM, "out of memory");
            else
                tail_part_activate(st, tp);
        }
        if (st->cb_rc == 0 &&
            (st->o.from == FROM_OFFSET || st->o.from == FROM_TIME || st->o.from == FROM_GTID))
            st->cb_rc = tail_group_positions(st, parts, &st->cb_err);
        if (st->o.verbose) {
            for (int i = 0; i < parts->cnt; i++)
                fprintf(stderr, TAIL_PROG ": assigned %s [%" PRId32 "]\n", parts->elems[i].topic,
                        parts->elems[i].partition);
        }
        if (cooperative) {
            rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, st->cb_rc ? NULL : parts);
            if (error) {
                if (st->cb_rc == 0)
                    st->cb_rc = rl_err_set(&st->cb_err, RL_EPROTO,
                                           "group '%s': cannot take "
                                           "the assignment: %s",
                                           st->o.group, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
            }
        } else {
            rd_kafka_assign(rk, st->cb_rc ? NULL : parts);
        }
        return;
    }
    /* Revoked (or an assignment error): commit what was written out before another member
     * takes the partitions, so that it starts right after. */
    int rc = tail_commit_now(st, &st->cb_err);
    if (rc && st->cb_rc == 0)
        st->cb_rc = rc;
    for (int i = 0; parts && i < parts->cnt; i++) {
        tail_part *tp = tail_part_find(st, parts->elems[i].topic, parts->elems[i].partition);
        if (tp)
            tail_part_deactivate(st, tp);
    }
    if (st->nactive == 0)
        st->idle_since_ns = rl_mono_ns();
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error)
            rd_kafka_error_destroy(error); /* the partitions are gone either way */
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static int tail_subscribe(tail_state *st, int argc, char **argv, rl_err *err)
{
    rl_buf re = RL_BUF_INIT;
    int rc = 0;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(argc - optind);
    if (!sub)
        return rl_err_set(err, -ENOMEM, "out of memory");
    for (int a = optind; a < argc; a++) {
        if (tool_topic_is_pattern(argv[a])) {
            rl_buf_reset(&re);
            tool_glob_regex(&re, argv[a]);
            const char *r = rl_buf_cstr(&re);
            if (!r) {
                rc = rl_err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            rd_kafka_topic_partition_list_add(sub, r, RD_KAFKA_PARTITION_UA);
        } else if (!rd_kafka_topic_partition_list_find(sub, argv[a], RD_KAFKA_PARTITION_UA)) {
            rd_kafka_topic_partition_list_add(sub, argv[a], RD_KAFKA_PARTITION_UA);
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(st->rk, sub);
    if (e)
        rc = rl_err_set(err, RL_EPROTO, "cannot subscribe: %s", rd_kafka_err2str(e));
out:
    rd_kafka_topic_partition_list_destroy(sub);
    rl_buf_free(&re);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

int tool_tail_main(int argc, char **argv)
{
    tail_state *st = calloc(1, sizeof *st);
    if (!st) {
        fprintf(stderr, TAIL_PROG ": out of memory\n");
        return TOOL_EXIT_FAIL;
    }
    int prc = tail_parse(argc, argv, &st->o);
    if (prc) {
        free(st);
        return prc < 0 ? TOOL_EXIT_OK : prc;
    }
    const tail_opts *o = &st->o;
    const char *no_color = getenv("NO_COLOR");
    st->color = isatty(STDOUT_FILENO) && !(no_color && *no_color);

    int status = TOOL_EXIT_FAIL;
    rl_err err = {0, ""};
    rd_kafka_queue_t *rkqu = NULL;
    rd_kafka_message_t **msgs = NULL;
    tail_topic *topics = NULL;
    size_t ntopics = 0;
    bool consumer_open = false;
    msgs = calloc(TAIL_BATCH, sizeof(rd_kafka_message_t *));
    if (!msgs) {
        rl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }

    sigset_t sigs;
    int rc = tool_signals_block(&sigs);
    if (rc) {
        rl_err_set(&err, rc, "cannot block signals: %s", strerror(-rc));
        goto fail;
    }
    const char *extra[2 * TAIL_MAX_PROPS + 16];
    size_t nextra = 0;
    extra[nextra++] = "fetch.wait.max.ms";
    extra[nextra++] = "100";
    if (o->group) {
        const char *group_props[] = {"group.id",
                                     o->group,
                                     "enable.auto.commit",
                                     "true",
                                     "auto.commit.interval.ms",
                                     TAIL_COMMIT_MS,
                                     "enable.auto.offset.store",
                                     "false",
                                     "auto.offset.reset",
                                     o->from == FROM_END ? "latest" : "earliest"};
        for (size_t i = 0; i < sizeof group_props / sizeof group_props[0]; i++)
            extra[nextra++] = group_props[i];
    }
    /* librdkafka matches a regex subscription against every topic of the metadata, internal
     * ones included (unlike the Java consumer's exclude.internal.topics): its topic blacklist
     * hides them, unless a topic argument names an internal topic itself. -X may still set
     * topic.blacklist (a later property wins). */
    bool want_internal = false;
    for (int a = optind; a < argc; a++)
        want_internal = want_internal || tool_topic_is_internal(argv[a]);
    if (o->group && !want_internal) {
        extra[nextra++] = "topic.blacklist";
        extra[nextra++] = "^__.*";
    }
    for (size_t i = 0; i < 2 * o->nprops; i++)
        extra[nextra++] = o->props[i];
    extra[nextra] = NULL;
    tool_kafka_opts ko = {o->bootstrap,
                          TAIL_PROG,
                          o->timeout_ms,
                          o->verbose,
                          &sigs,
                          o->group ? tail_rebalance : NULL,
                          st};
    st->kc = tool_kafka_new(&ko, extra, &err);
    if (!st->kc)
        goto fail;
    st->rk = tool_kafka_rk(st->kc);

    if (o->group) {
        rd_kafka_poll_set_consumer(st->rk);
        if (tail_subscribe(st, argc, argv, &err))
            goto fail;
        consumer_open = true;
        st->idle_since_ns = rl_mono_ns();
    } else {
        rkqu = rd_kafka_queue_new(st->rk);
        if (!rkqu) {
            rl_err_set(&err, -ENOMEM, "out of memory");
            goto fail;
        }
        if (tail_topic_names(st, argc, argv, &topics, &ntopics, &err))
            goto stopped_or_fail;
        for (size_t t = 0; t < ntopics; t++) {
            tail_topic *tt = &topics[t];
            rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
            char why[256];
            if (!tconf || rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", why,
                                                  sizeof why) != RD_KAFKA_CONF_OK) {
                if (tconf)
                    rd_kafka_topic_conf_destroy(tconf);
                rl_err_set(&err, RL_ECONFIG, "topic configuration: %s", tconf ? why : "no memory");
                goto fail;
            }
            tt->rkt = rd_kafka_topic_new(st->rk, tt->name, tconf); /* takes tconf */
            if (!tt->rkt) {
                rl_err_set(&err, RL_ECONFIG, "topic '%s': %s", tt->name,
                           rd_kafka_err2str(rd_kafka_last_error()));
                goto fail;
            }
            if (tail_start_topic(st, tt, rkqu, &err))
                goto stopped_or_fail;
        }
    }

    /* A buffer of our own: with NULL, glibc ignores the size and buffers 4 KiB. */
    static char outbuf[TOOL_STDOUT_BUF];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    st->flushed_ns = rl_mono_ns();
    while (!st->done) {
        if (tool_signals_pending(&sigs)) {
            status = o->follow ? TOOL_EXIT_OK : TOOL_EXIT_INTERRUPTED;
            goto finish;
        }
        rc = tool_kafka_poll_errors(st->kc, &err);
        if (rc == -ECONNREFUSED && o->follow) {
            fprintf(stderr, TAIL_PROG ": warning: %s (still retrying)\n", err.msg);
        } else if (rc) {
            goto fail;
        }
        int wait = st->unflushed ? 0 : TAIL_WAIT_MS;
        ssize_t cnt;
        if (o->group) {
            /* rd_kafka_consumer_poll also serves the rebalance callback. */
            cnt = 0;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(st->rk, wait);
            while (m) {
                msgs[cnt++] = m;
                m = cnt < TAIL_BATCH ? rd_kafka_consumer_poll(st->rk, 0) : NULL;
            }
            if (st->cb_rc) {
                err = st->cb_err;
                for (ssize_t i = 0; i < cnt; i++)
                    rd_kafka_message_destroy(msgs[i]);
                goto fail;
            }
        } else {
            cnt = rd_kafka_consume_batch_queue(rkqu, wait, msgs, TAIL_BATCH);
            if (cnt < 0) {
                rl_err_set(&err, RL_EPROTO, "consume failed: %s",
                           rd_kafka_err2str(rd_kafka_last_error()));
                goto fail;
            }
        }
        rc = 0;
        for (ssize_t i = 0; i < cnt; i++) {
            /* Past the last wanted record or an error: only release the rest of the batch. */
            if (rc == 0 && !st->done)
                rc = tail_message(st, msgs[i], &err);
            rd_kafka_message_destroy(msgs[i]);
        }
        if (rc)
            goto fail;
        if (cnt > 0)
            st->unflushed = true;
        /* Flush when the queue is drained, and at least every TAIL_WAIT_MS while records keep
         * coming, so that stored (and so committed) offsets follow the output closely. */
        if (st->unflushed &&
            (cnt == 0 || rl_mono_ns() - st->flushed_ns > (int64_t)TAIL_WAIT_MS * 1000000)) {
            if (tail_flush(&err) || tail_store(st, &err))
                goto fail;
            st->unflushed = false;
            st->flushed_ns = rl_mono_ns();
        }
        if (!o->follow && st->nactive > 0 && st->neof >= st->nactive)
            st->done = true;
        if (!o->follow && o->group && st->nactive == 0 &&
            rl_mono_ns() - st->idle_since_ns > (int64_t)o->timeout_ms * 1000000) {
            rl_err_set(&err, -ETIMEDOUT,
                       "group '%s': no partition assigned to this member within %d ms", o->group,
                       o->timeout_ms);
            goto fail;
        }
    }
    status = TOOL_EXIT_OK;
finish:
    if (tail_flush(&err) || tail_store(st, &err))
        goto fail;
    if (o->group && tail_commit_now(st, &err))
        goto fail;
    goto out;

stopped_or_fail:
    if (err.code == RL_ESTOPPED) {
        status = o->follow ? TOOL_EXIT_OK : TOOL_EXIT_INTERRUPTED;
        goto out;
    }
fail:
    tail_flush(NULL);
    fprintf(stderr, TAIL_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(err.code));
    status = TOOL_EXIT_FAIL;
out:
    if (consumer_open) {
        /* Leaves the group (its revocation callback commits what is stored). */
        rd_kafka_consumer_close(st->rk);
        if (st->cb_rc && status == TOOL_EXIT_OK) {
            fprintf(stderr, TAIL_PROG ": %s\n", st->cb_err.msg);
            status = TOOL_EXIT_FAIL;
        }
    }
    for (size_t t = 0; t < ntopics; t++) {
        tail_topic *tt = &topics[t];
        for (size_t i = 0; tt->rkt && i < st->nparts; i++) {
            if (st->parts[i].active && strcmp(st->parts[i].topic, tt->name) == 0)
                rd_kafka_consume_stop(tt->rkt, st->parts[i].partition);
        }
    }
    if (rkqu)
        rd_kafka_queue_destroy(rkqu);
    for (size_t t = 0; t < ntopics; t++) {
        if (topics[t].rkt)
            rd_kafka_topic_destroy(topics[t].rkt);
        free(topics[t].name);
    }
    tool_kafka_destroy(st->kc);
    for (size_t i = 0; i < st->nparts; i++) {
        free(st->parts[i].topic);
        rl_buf_free(&st->parts[i].prefix);
    }
    free(st->parts);
    free(topics);
    free(msgs);
    rl_buf_free(&st->line);
    free(st);
    return status;
}
