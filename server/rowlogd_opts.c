/*
 * rowlogd_opts.c - rowlogd's options: the command line and the INI config file (parsed by
 * libinih), with the same keys, checked and turned into rowlogd_opts.
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: rowlogd --source mysql://USER:PASS@HOST:PORT --data-dir DIR [options]\n"
    "\n"
    "Reads a MySQL/MariaDB primary's row-based binlog as a replica and serves every committed\n"
    "row change over the Kafka protocol from a durable local log.\n"
    "\n"
    "  --source URL          primary to read, mysql://USER[:PASS]@HOST[:PORT]\n"
    "  --data-dir DIR        where the log and its checkpoint live (created if missing)\n"
    "  --listen HOST:PORT    Kafka protocol listener (default 127.0.0.1:9092)\n"
    "  --topic-prefix NAME   topics are NAME.DB.TABLE (default rowlog)\n"
    "  --partitions N        partitions of each new topic (default 1)\n"
    "  --compression C       lz4, zstd or none (default lz4)\n"
    "  --compression-level N codec level (default: the codec's fastest)\n"
    "  --segment-bytes N     roll segments at N bytes (default 1073741824)\n"
    "  --flush P             when commits reach the disk: commit (fsync each group\n"
    "                        commit, default), interval (every --flush-interval-ms), os\n"
    "  --flush-interval-ms N fsync period under --flush interval (default 1000)\n"
    "  --retention-ms N      delete whole segments older than N ms (-1: keep, default)\n"
    "  --retention-bytes N   keep each partition under about N bytes (-1: no limit)\n"
    "  --cleanup-policy P    delete (default), compact, or compact,delete: compacted\n"
    "                        topics keep the latest record per key; deletes add a tombstone\n"
    "  --delete-retention-ms N  compaction keeps tombstones N ms (default 86400000)\n"
    "  --server-id N         replica server id, unique among the primary's replicas\n"
    "                        (default 29292)\n"
    "  --heartbeat-ms N      primary heartbeat period (default 1000)\n"
    "  --commit-interval-ms N  longest group-commit delay under load (default 20)\n"
    "  --http HOST:PORT      metrics and health endpoint: /metrics (Prometheus),\n"
    "                        /health/live, /health/ready, /v1/offsets (default\n"
    "                        127.0.0.1:9100, skipped with a warning when taken;\n"
    "                        off: none)\n"
    "  --primary-poll-ms N   how often the primary's head position is polled for the lag\n"
    "                        metrics, over a separate connection (default 2000)\n"
    "  --snapshot M          initial (default: snapshot the tables when the log has no\n"
    "                        position, then stream), never, when-needed (also when the\n"
    "                        stored position was purged), initial-only (exit after it)\n"
    "  --snapshot-threads N  parallel snapshot connections (default 1, at most 64)\n"
    "  --snapshot-chunk-rows N  rows per primary-key chunk (default 10000)\n"
    "  --include REGEX       only tables whose \"db.table\" matches (POSIX extended regex,\n"
    "                        anchored); repeatable (any of them); snapshot and stream\n"
    "  --exclude REGEX       leave out matching tables; repeatable\n"
    "  --source-query        source.query carries the SQL statement of each row change,\n"
    "                        when the source logs it (MySQL binlog_rows_query_log_events,\n"
    "                        MariaDB binlog_annotate_row_events)\n"
    "  --schema-history S    on (default): column names, keys and JSON columns from the\n"
    "                        source's information_schema when TABLE_MAPs lack them, kept\n"
    "                        by binlog position, schema changes on topic PREFIX\n"
    "                        (docs/schema.md); off: TABLE_MAP metadata alone\n"
    "  --log-level L         debug, info, warn or error (default info)\n"
    "  --config FILE         INI file with the same keys (source = ..., data-dir = ...);\n"
    "                        command-line options override it\n"
    "  -h, --help            this text\n";

enum {
    OPT_SOURCE = 256,
    OPT_DATA_DIR,
    OPT_LISTEN,
    OPT_TOPIC_PREFIX,
    OPT_PARTITIONS,
    OPT_COMPRESSION,
    OPT_COMPRESSION_LEVEL,
    OPT_SEGMENT_BYTES,
    OPT_FLUSH,
    OPT_FLUSH_INTERVAL_MS,
    OPT_RETENTION_MS,
    OPT_RETENTION_BYTES,
    OPT_CLEANUP_POLICY,
    OPT_DELETE_RETENTION_MS,
    OPT_SERVER_ID,
    OPT_HEARTBEAT_MS,
    OPT_COMMIT_INTERVAL_MS,
    OPT_LOG_LEVEL,
    OPT_HTTP,
    OPT_PRIMARY_POLL_MS,
    OPT_CONFIG,
    OPT_SNAPSHOT,
    OPT_SNAPSHOT_THREADS,
    OPT_SNAPSHOT_CHUNK_ROWS,
    OPT_INCLUDE,
    OPT_EXCLUDE,
    OPT_SOURCE_QUERY,
    OPT_SCHEMA_HISTORY,
};

static const struct option long_opts[] = {
    {"source", required_argument, NULL, OPT_SOURCE},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"topic-prefix", required_argument, NULL, OPT_TOPIC_PREFIX},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"compression-level", required_argument, NULL, OPT_COMPRESSION_LEVEL},
    {"segment-bytes", required_argument, NULL, OPT_SEGMENT_BYTES},
    {"flush", required_argument, NULL, OPT_FLUSH},
    {"flush-interval-ms", required_argument, NULL, OPT_FLUSH_INTERVAL_MS},
    {"retention-ms", required_argument, NULL, OPT_RETENTION_MS},
    {"retention-bytes", required_argument, NULL, OPT_RETENTION_BYTES},
    {"cleanup-policy", required_argument, NULL, OPT_CLEANUP_POLICY},
    {"delete-retention-ms", required_argument, NULL, OPT_DELETE_RETENTION_MS},
    {"server-id", required_argument, NULL, OPT_SERVER_ID},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT_MS},
    {"commit-interval-ms", required_argument, NULL, OPT_COMMIT_INTERVAL_MS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"http", required_argument, NULL, OPT_HTTP},
    {"primary-poll-ms", required_argument, NULL, OPT_PRIMARY_POLL_MS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
    {"snapshot-threads", required_argument, NULL, OPT_SNAPSHOT_THREADS},
    {"snapshot-chunk-rows", required_argument, NULL, OPT_SNAPSHOT_CHUNK_ROWS},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"source-query", no_argument, NULL, OPT_SOURCE_QUERY},
    {"schema-history", required_argument, NULL, OPT_SCHEMA_HISTORY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_u64(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out,
                     rl_err *err)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max)
        return rl_err_set(err, RL_ECONFIG, "--%s: '%s' is not a number in [%llu, %llu]", name, v,
                          (unsigned long long)min, (unsigned long long)max);
    *out = x;
    return 0;
}

/* Appends one --include / --exclude regex to dst as "(re)", joined by '|' (a table matches
 * when any of them matches). The regex is compiled here so a bad one fails at start. */
static int add_regex(const char *name, char *dst, size_t cap, const char *v, rl_err *err)
{
    regex_t re;
    char errbuf[256];
    int rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, &re, errbuf, sizeof errbuf);
        return rl_err_set(err, RL_ECONFIG, "--%s: '%s' is not a POSIX extended regex: %s", name, v,
                          errbuf);
    }
    regfree(&re);
    size_t used = strlen(dst);
    int n = snprintf(dst + used, cap - used, "%s(%s)", used ? "|" : "", v);
    if (n < 0 || (size_t)n >= cap - used) {
        dst[used] = 0;
        return rl_err_set(err, RL_ECONFIG, "--%s: the regexes exceed %zu bytes", name, cap - 1);
    }
    return 0;
}

/* Applies one option by its long name (shared by the command line and the config file). */
static int apply_opt(rowlogd_opts *o, const char *name, const char *v, rl_err *err)
{
    uint64_t n = 0;
    int rc = 0;
    if (strcmp(name, "source") == 0) {
        rc = binlog_source_parse_url(&o->source, v, err);
        o->have_source = rc == 0;
    } else if (strcmp(name, "data-dir") == 0) {
        if (strlen(v) >= sizeof o->data_dir || !v[0])
            return rl_err_set(err, RL_ECONFIG, "--data-dir: empty or too long");
        snprintf(o->data_dir, sizeof o->data_dir, "%s", v);
    } else if (strcmp(name, "listen") == 0) {
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v || (size_t)(colon - v) >= sizeof o->listen_host)
            return rl_err_set(err, RL_ECONFIG, "--listen: '%s' is not HOST:PORT", v);
        if ((rc = parse_u64(name, colon + 1, 0, 65535, &n, err)) != 0)
            return rc;
        memcpy(o->listen_host, v, (size_t)(colon - v));
        o->listen_host[colon - v] = 0;
        o->listen_port = (unsigned)n;
    } else if (strcmp(name, "http") == 0) {
        if (strcmp(v, "off") == 0) {
            o->http_enabled = false;
            return 0;
        }
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v || (size_t)(colon - v) >= sizeof o->http_host)
            return rl_err_set(err, RL_ECONFIG, "--http: '%s' is not HOST:PORT or off", v);
        if ((rc = parse_u64(name, colon + 1, 0, 65535, &n, err)) != 0)
            return rc;
        memcpy(o->http_host, v, (size_t)(colon - v));
        o->http_host[colon - v] = 0;
        o->http_port = (unsigned)n;
        o->http_enabled = true;
        o->http_explicit = true;
    } else if (strcmp(name, "primary-poll-ms") == 0) {
        if ((rc = parse_u64(name, v, 100, 3600000, &n, err)) == 0)
            o->poll_ms = (unsigned)n;
    } else if (strcmp(name, "topic-prefix") == 0) {
        if (!v[0] || strlen(v) >= sizeof o->topic_prefix ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                strlen(v))
            return rl_err_set(err, RL_ECONFIG,
                              "--topic-prefix: '%s' must be 1-127 bytes of [A-Za-z0-9._-]", v);
        snprintf(o->topic_prefix, sizeof o->topic_prefix, "%s", v);
    } else if (strcmp(name, "partitions") == 0) {
        if ((rc = parse_u64(name, v, 1, 1024, &n, err)) == 0)
            o->log.partitions = (uint32_t)n;
    } else if (strcmp(name, "compression") == 0) {
        int c = log_compression_parse(v);
        if (c < 0)
            return rl_err_set(err, RL_ECONFIG, "--compression: '%s' is not lz4, zstd or none", v);
        o->log.compression = c;
    } else if (strcmp(name, "compression-level") == 0) {
        if ((rc = parse_u64(name, v, 0, 22, &n, err)) == 0)
            o->log.compression_level = (int)n;
    } else if (strcmp(name, "segment-bytes") == 0) {
        if ((rc = parse_u64(name, v, 1u << 20, 1ull << 40, &n, err)) == 0)
            o->log.segment_bytes = n;
    } else if (strcmp(name, "flush") == 0) {
        int f = log_flush_parse(v);
        if (f < 0)
            return rl_err_set(err, RL_ECONFIG, "--flush: '%s' is not commit, interval or os", v);
        o->log.flush = f;
    } else if (strcmp(name, "flush-interval-ms") == 0) {
        if ((rc = parse_u64(name, v, 1, 3600000, &n, err)) == 0)
            o->log.flush_interval_ms = (uint32_t)n;
    } else if (strcmp(name, "retention-ms") == 0 || strcmp(name, "retention-bytes") == 0) {
        int64_t *dst = strcmp(name, "retention-ms") == 0 ? &o->topic_defaults.retention_ms
                                                         : &o->topic_defaults.retention_bytes;
        if (strcmp(v, "-1") == 0)
            *dst = -1;
        else if ((rc = parse_u64(name, v, 0, INT64_MAX, &n, err)) == 0)
            *dst = (int64_t)n;
    } else if (strcmp(name, "delete-retention-ms") == 0) {
        if ((rc = parse_u64(name, v, 0, INT64_MAX, &n, err)) == 0)
            o->topic_defaults.delete_retention_ms = (int64_t)n;
    } else if (strcmp(name, "cleanup-policy") == 0) {
        if (strcmp(v, "delete") == 0)
            o->topic_defaults.cleanup = LOG_CLEANUP_DELETE;
        else if (strcmp(v, "compact") == 0)
            o->topic_defaults.cleanup = LOG_CLEANUP_COMPACT;
        else if (strcmp(v, "compact,delete") == 0 || strcmp(v, "delete,compact") == 0)
            o->topic_defaults.cleanup = LOG_CLEANUP_COMPACT | LOG_CLEANUP_DELETE;
        else
            return rl_err_set(err, RL_ECONFIG,
                              "--cleanup-policy: '%s' is not delete, compact or compact,delete", v);
    } else if (strcmp(name, "server-id") == 0) {
        if ((rc = parse_u64(name, v, 1, UINT32_MAX, &n, err)) == 0)
            o->source.server_id = (uint32_t)n;
    } else if (strcmp(name, "heartbeat-ms") == 0) {
        if ((rc = parse_u64(name, v, 10, 600000, &n, err)) == 0)
            o->source.heartbeat_ms = (unsigned)n;
    } else if (strcmp(name, "commit-interval-ms") == 0) {
        if ((rc = parse_u64(name, v, 0, 60000, &n, err)) == 0)
            o->commit_interval_ms = (unsigned)n;
    } else if (strcmp(name, "snapshot") == 0) {
        static const char *modes[] = {"initial", "never", "when-needed", "initial-only"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(v, modes[i]) == 0)
                found = i;
        if (found < 0)
            return rl_err_set(err, RL_ECONFIG,
                              "--snapshot: '%s' is not initial, never, "
                              "when-needed or initial-only",
                              v);
        o->snapshot_mode = found;
    } else if (strcmp(name, "snapshot-threads") == 0) {
        if ((rc = parse_u64(name, v, 1, 64, &n, err)) == 0)
            o->snapshot_threads = (unsigned)n;
    } else if (strcmp(name, "snapshot-chunk-rows") == 0) {
        if ((rc = parse_u64(name, v, 1, 10000000, &n, err)) == 0)
            o->snapshot_chunk_rows = (unsigned)n;
    } else if (strcmp(name, "include") == 0) {
        rc = add_regex(name, o->include, sizeof o->include, v, err);
    } else if (strcmp(name, "exclude") == 0) {
        rc = add_regex(name, o->exclude, sizeof o->exclude, v, err);
    } else if (strcmp(name, "source-query") == 0 || strcmp(name, "schema-history") == 0) {
        /* --source-query takes no value on the command line; the config file says on/off. */
        bool on;
        if (!v || strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            on = true;
        else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            on = false;
        else
            return rl_err_set(err, RL_ECONFIG, "--%s: '%s' is not on or off", name, v);
        if (name[1] == 'o')
            o->source.source_query = on;
        else
            o->source.schema_history = on;
    } else if (strcmp(name, "log-level") == 0) {
        static const char *levels[] = {"debug", "info", "warn", "error"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcasecmp(v, levels[i]) == 0)
                found = i;
        if (found < 0)
            return rl_err_set(err, RL_ECONFIG,
                              "--log-level: '%s' is not debug, info, warn or "
                              "error",
                              v);
        o->log_level = found;
    } else {
        return rl_err_set(err, RL_ECONFIG, "unknown option '%s'", name);
    }
    return rc;
}

typedef struct ini_ctx {
    rowlogd_opts *opts;
    rl_err *err;
    const char *path;
    int rc;
} ini_ctx;

static int config_entry(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    (void)section;
    if (c->rc != 0)
        return 0;
    if (strcmp(name, "config") == 0) {
        c->rc = rl_err_set(c->err, RL_ECONFIG, "'config' cannot be nested");
        return 0;
    }
    c->rc = apply_opt(c->opts, name, value, c->err);
    return c->rc == 0;
}

int rowlogd_opts_parse(rowlogd_opts *o, int argc, char **argv, rl_err *err)
{
    memset(o, 0, sizeof *o);
    snprintf(o->listen_host, sizeof o->listen_host, "127.0.0.1");
    o->listen_port = 9092;
    snprintf(o->topic_prefix, sizeof o->topic_prefix, "rowlog");
    o->log.compression = LOG_COMPRESSION_LZ4;
    o->log.partitions = 1;
    log_topic_config_init(&o->topic_defaults);
    o->log.topic_defaults = &o->topic_defaults;
    o->source.server_id = 29292;
    o->source.heartbeat_ms = 1000;
    o->source.schema_history = true;
    o->commit_interval_ms = 20;
    o->log_level = RL_LOG_INFO;
    o->http_enabled = true;
    snprintf(o->http_host, sizeof o->http_host, "127.0.0.1");
    o->http_port = 9100;
    o->poll_ms = 2000;
    o->snapshot_mode = ROWLOGD_SNAPSHOT_INITIAL;
    o->snapshot_threads = 1;
    o->snapshot_chunk_rows = 10000;

    /* First pass: --help and --config, so the file is applied before the command line. */
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (c == '?')
            return rl_err_set(err, RL_ECONFIG, "unknown or incomplete option '%s' (see --help)",
                              argv[optind - 1]);
        if (c == OPT_CONFIG) {
            ini_ctx ic = {o, err, optarg, 0};
            /* ini_parse returns the line of the first error (0 when all went well). */
            int line = ini_parse(optarg, config_entry, &ic);
            if (ic.rc != 0)
                return rl_err_wrap(err, ic.rc, "%s:%d", optarg, line);
            if (line < 0)
                return rl_err_set(err, RL_ECONFIG, "--config %s: cannot read the file", optarg);
            if (line > 0)
                return rl_err_set(err, RL_ECONFIG, "%s:%d: not 'key = value'", optarg, line);
        }
    }
    optind = 1;
    int idx;
    while ((c = getopt_long(argc, argv, "h", long_opts, &idx)) != -1) {
        if (c == OPT_CONFIG)
            continue;
        int rc = apply_opt(o, long_opts[idx].name, optarg, err);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return rl_err_set(err, RL_ECONFIG, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!o->have_source)
        return rl_err_set(err, RL_ECONFIG, "--source is required (see --help)");
    if (!o->data_dir[0])
        return rl_err_set(err, RL_ECONFIG, "--data-dir is required (see --help)");
    return 0;
}
