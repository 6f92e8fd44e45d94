/*
 * binlog_dump.c - `rowlog binlog dump`: decodes local binlog files into change events.
 *
 * Output, one line per row change (keys in this order, no spaces):
 *   {"topic":"T","key":K,"value":V}
 * A row change of an XA transaction (binlog_change.xid) is printed where the binlog holds it,
 * before its XA PREPARE, with the XID: {"topic":"T","key":K,"value":V,"xid":"X"}; the
 * transaction's outcome follows later as its own line {"xa":"commit"|"rollback","xid":"X"}
 * (a one-phase commit: right after its rows). rowlogd publishes such rows only at the commit
 * (docs/format-binlog.md "XA transactions"); the dump shows the binlog as it is.
 * T, K and V are binlog_change.topic, .key and .value from the decoder (reader/binlog.h): the
 * same topic name, key and Debezium-style envelope rowlogd appends to its log, so this shows
 * exactly what a consumer of rowlogd would read for these files.
 *
 * Each FILE is read with binlog_file_* (mmap) and decoded by a fresh decoder: a binlog file
 * starts with its own FORMAT_DESCRIPTION and needs nothing from the file before it. Files are
 * processed in the order given.
 *
 * This is the decoder's benchmark path (bench/binlog_dump.sh, bench/decode.sh): lines are
 * assembled from the decoder's slices in our own output buffer (dump_ctx.obuf) and handed to
 * stdio in chunks of DUMP_FLUSH bytes, which glibc writes straight through (one write(2) per
 * MiB: setvbuf(stdout, NULL, _IOFBF, size) alone does not do it, glibc ignores the size
 * without a buffer and wrote 4 KiB at a time, 275,000 write calls for a 958 MB binlog). The
 * escaped topic prefix is rebuilt only when the topic changes. No allocation per row.
 *
 * --format raw prints, instead of row changes, one line per binlog event with the fields of its
 * v4 common header (mysql-server libs/mysql/binlog/event/binlog_event.h, Log_event_header:
 * timestamp u32, type u8, server_id u32, event_size u32, log_pos u32, flags u16), like
 * mysqlbinlog without the SQL:
 *   {"file":"F","at":N,"timestamp":T,"type":"NAME","type_code":C,"server_id":S,"size":Z,
 *    "log_pos":L,"flags":G}
 * Events are framed by binlog_file_next only (not decoded), so raw shows every event of a
 * file, including the ones the decoder refuses.
 *
 * On a decoder or file error: what was decoded so far is flushed to stdout, the error (which
 * names file, position and event type) goes to stderr, and the exit status is 1.
 */
#include "tools/tools.h"

#include "reader/binlog.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_PROG "rowlog binlog dump"

enum { DUMP_FLUSH = 1 << 20 }; /* bytes of lines collected before they go to stdout */

typedef struct dump_ctx {
    FILE *out;
    rl_buf topic;     /* raw topic bytes of the previous change */
    rl_buf prefix;    /* `{"topic":"T","key":` for that topic */
    uint64_t changes; /* lines written */
    int werr;         /* first write error (-errno), 0 if none */
    bool raw;         /* --format raw: event headers instead of row changes */
    rl_buf line;      /* --format raw: the line being built */
    rl_buf obuf;      /* lines not yet handed to stdout (at most DUMP_FLUSH + one line) */
} dump_ctx;

static void binlog_usage(FILE *f)
{
    fputs("usage: rowlog binlog dump [--topic-prefix NAME] [--format events|raw] FILE...\n"
          "\n"
          "Decodes local MySQL/MariaDB binlog files and prints one JSON object per row\n"
          "change, one per line, in binlog order:\n"
          "  {\"topic\":\"T\",\"key\":K,\"value\":V}\n"
          "where T is PREFIX.DB.TABLE, K the primary-key columns and V the change envelope\n"
          "(before, after, source, op, ts_ms), as rowlogd would publish them.\n"
          "\n"
          "  --topic-prefix NAME  first part of topic names (default rowlog)\n"
          "  --format events|raw  events (default): the row changes above; raw: one line\n"
          "                       per binlog event with its header fields:\n"
          "                       {\"file\",\"at\",\"timestamp\",\"type\",\"type_code\",\n"
          "                        \"server_id\",\"size\",\"log_pos\",\"flags\"}\n"
          "  --help               this text\n"
          "\n"
          "Exit status: 0 done, 1 error (unreadable file, corrupt or unsupported event: the\n"
          "message names file, position and event type), 2 usage.\n",
          f);
}

static int dump_set_topic(dump_ctx *dc, rl_slice topic)
{
    rl_buf_reset(&dc->topic);
    rl_buf_reset(&dc->prefix);
    rl_buf_append(&dc->topic, topic.p, topic.len);
    rl_buf_append(&dc->prefix, "{\"topic\":", 9);
    rl_buf_json_str(&dc->prefix, topic.p, topic.len);
    rl_buf_append(&dc->prefix, ",\"key\":", 7);
    if (!rl_buf_ok(&dc->topic) || !rl_buf_ok(&dc->prefix)) {
        rl_buf_reset(&dc->topic); /* forces a rebuild next time */
        return -ENOMEM;
    }
    return 0;
}

/* Hands the collected lines to stdout. Returns 0 or -errno (also kept in dc->werr). */
static int dump_flush(dump_ctx *dc)
{
    int rc = tool_write(dc->out, dc->obuf.p, dc->obuf.len);
    rl_buf_reset(&dc->obuf);
    if (rc && !dc->werr)
        dc->werr = rc;
    return rc;
}

static int dump_on_change(void *ctx, const binlog_change *ch)
{
    dump_ctx *dc = ctx;
    int rc;
    if (ch->topic.len != dc->topic.len ||
        (ch->topic.len && memcmp(ch->topic.p, dc->topic.p, ch->topic.len) != 0) ||
        dc->prefix.len == 0) {
        rc = dump_set_topic(dc, ch->topic);
        if (rc)
            return rc;
    }
    /* {"topic":T,"key":K,"value":V}\n with null for an empty key or value. */
    rl_buf *o = &dc->obuf;
    if (rl_buf_reserve(o, dc->prefix.len + ch->key.len + ch->value.len + 4 + 4 + 9 + 2) != 0)
        return -ENOMEM;
    uint8_t *w = o->p + o->len;
    memcpy(w, dc->prefix.p, dc->prefix.len);
    w += dc->prefix.len;
    if (ch->key.len) {
        memcpy(w, ch->key.p, ch->key.len);
        w += ch->key.len;
    } else {
        memcpy(w, "null", 4);
        w += 4;
    }
    memcpy(w, ",\"value\":", 9);
    w += 9;
    if (ch->value.len) {
        memcpy(w, ch->value.p, ch->value.len);
        w += ch->value.len;
    } else {
        memcpy(w, "null", 4);
        w += 4;
    }
    o->len = (size_t)(w - o->p);
    if (ch->xid && ch->op != 's') {
        rl_buf_puts(o, ",\"xid\":");
        rl_buf_json_str(o, ch->xid, strlen(ch->xid));
        if (!rl_buf_ok(o))
            return -ENOMEM;
    }
    if (rl_buf_reserve(o, 2) != 0)
        return -ENOMEM;
    memcpy(o->p + o->len, "}\n", 2);
    o->len += 2;
    dc->changes++;
    if (o->len >= DUMP_FLUSH)
        return dump_flush(dc);
    return 0;
}

static int dump_on_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

/* XA outcomes (binlog_xa_handler): the prepare itself prints nothing (its rows carried the
 * XID); the outcome is a line of its own. */
static int dump_on_xa_prepare(void *ctx, const char *xid, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)xid;
    (void)cp;
    return 0;
}

static int dump_on_xa_end(void *ctx, const char *xid, bool commit, const binlog_checkpoint *cp)
{
    dump_ctx *dc = ctx;
    (void)cp;
    rl_buf *o = &dc->obuf;
    rl_buf_puts(o, commit ? "{\"xa\":\"commit\",\"xid\":" : "{\"xa\":\"rollback\",\"xid\":");
    rl_buf_json_str(o, xid, strlen(xid));
    rl_buf_puts(o, "}\n");
    if (!rl_buf_ok(o))
        return -ENOMEM;
    dc->changes++;
    return o->len >= DUMP_FLUSH ? dump_flush(dc) : 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* --format raw: the header line of the event ev that starts at byte `at` of file `name`.
 * binlog_file_next_transient guarantees at least the 19 header bytes. */
static int dump_raw_event(dump_ctx *dc, const char *name, uint64_t at, rl_slice ev)
{
    rl_reader rd = rl_reader_make(ev);
    uint32_t ts = rl_get_u32le(&rd);
    uint8_t type = rl_get_u8(&rd);
    uint32_t server_id = rl_get_u32le(&rd);
    uint32_t size = rl_get_u32le(&rd);
    uint32_t log_pos = rl_get_u32le(&rd);
    uint16_t flags = rl_get_u16le(&rd);
    if (rd.err)
        return RL_ECORRUPT;
    rl_buf *b = &dc->line;
    rl_buf_reset(b);
    rl_buf_puts(b, "{\"file\":");
    rl_buf_json_str(b, name, strlen(name));
    rl_buf_printf(b,
                  ",\"at\":%llu,\"timestamp\":%u,\"type\":\"%s\",\"type_code\":%u,"
                  "\"server_id\":%u,\"size\":%u,\"log_pos\":%u,\"flags\":%u}\n",
                  (unsigned long long)at, ts, binlog_event_type_name(type), type, server_id, size,
                  log_pos, flags);
    if (!rl_buf_ok(b))
        return -ENOMEM;
    int rc = tool_write(dc->out, b->p, b->len);
    if (rc) {
        dc->werr = rc;
        return rc;
    }
    dc->changes++;
    return 0;
}

/* Decodes one file. Returns 0 or a negative code with err set. */
static int dump_file(dump_ctx *dc, const char *path, const binlog_decoder_opts *dopts, rl_err *err)
{
    binlog_file_t *f = NULL;
    binlog_decoder_t *dec = NULL;
    binlog_handler h = {dc, dump_on_change, dump_on_commit};
    int rc = binlog_file_open(&f, path, err);
    if (rc) {
        if (!err->msg[0])
            rl_err_set(err, rc, "%s", rl_strerror(rc));
        goto out;
    }
    rc = binlog_decoder_new(&dec, dopts, &h);
    if (rc) {
        rl_err_set(err, rc, "%s: cannot create a decoder: %s", path, rl_strerror(rc));
        goto out;
    }
    binlog_decoder_set_file(dec, base_name(path));
    static const binlog_xa_handler xh = {dump_on_xa_prepare, dump_on_xa_end};
    binlog_decoder_set_xa_handler(dec, &xh);

    rl_slice ev;
    uint64_t at = binlog_file_offset(f);
    /* Nothing keeps a slice of an earlier event: the cheaper buffered reader. */
    while ((rc = binlog_file_next_transient(f, &ev, err)) == 1) {
        if (dc->raw) {
            rc = dump_raw_event(dc, base_name(path), at, ev);
            if (rc == RL_ECORRUPT)
                rl_err_set(err, rc, "%s at offset %llu: event header too short", path,
                           (unsigned long long)at);
            else if (rc < 0)
                rl_err_set(err, rc, "%s", rl_strerror(rc));
            at = binlog_file_offset(f);
            if (rc < 0)
                break;
            continue;
        }
        rc = binlog_decoder_feed(dec, ev, err);
        if (rc < 0)
            break;
    }
    if (rc < 0 && !err->msg[0])
        rl_err_set(err, rc, "%s at offset %llu: %s", path,
                   (unsigned long long)binlog_file_offset(f), rl_strerror(rc));
    if (rc > 0)
        rc = 0;
out:
    /* What was decoded goes out before an error is reported, and between files. */
    if (dc->obuf.len) {
        int frc = dump_flush(dc);
        if (frc && rc >= 0)
            rc = frc;
    }
    /* Several files may be given: make sure the message says which one failed. */
    if (rc < 0 && !strstr(err->msg, base_name(path)))
        rl_err_wrap(err, rc, "%s", path);
    if (dec)
        binlog_decoder_free(dec);
    if (f)
        binlog_file_close(f);
    return rc;
}

static int binlog_dump_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic-prefix", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    binlog_decoder_opts dopts = {.topic_prefix = NULL};
    bool raw = false;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            if (!*optarg)
                return tool_usage_error(DUMP_PROG, binlog_usage, "--topic-prefix needs a NAME%s", "");
            dopts.topic_prefix = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "raw") == 0)
                raw = true;
            else if (strcmp(optarg, "events") == 0)
                raw = false;
            else
                return tool_usage_error(DUMP_PROG, binlog_usage,
                                        "--format: '%s' is not events or raw", optarg);
            break;
        case 'h':
            binlog_usage(stdout);
            return TOOL_EXIT_OK;
        case ':':
            return tool_usage_error(DUMP_PROG, binlog_usage, "option %s needs a value", argv[optind - 1]);
        default:
            return tool_usage_error(DUMP_PROG, binlog_usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage_error(DUMP_PROG, binlog_usage, "no FILE given%s", "");

    dump_ctx dc = {stdout, RL_BUF_INIT, RL_BUF_INIT, 0, 0, raw, RL_BUF_INIT, RL_BUF_INIT};
    rl_err err = {0, ""};
    int status = TOOL_EXIT_OK;
    setvbuf(stdout, NULL, _IOFBF, TOOL_STDOUT_BUF);
    for (int a = optind; a < argc; a++) {
        int rc = dump_file(&dc, argv[a], &dopts, &err);
        if (rc) {
            fflush(stdout);
            if (dc.werr)
                fprintf(stderr, DUMP_PROG ": cannot write to stdout: %s\n", strerror(-dc.werr));
            else
                fprintf(stderr, DUMP_PROG ": %s\n", err.msg[0] ? err.msg : rl_strerror(rc));
            status = TOOL_EXIT_FAIL;
            break;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (status == TOOL_EXIT_OK)
            fprintf(stderr, DUMP_PROG ": cannot write to stdout: %s\n",
                    strerror(errno ? errno : EIO));
        status = TOOL_EXIT_FAIL;
    }
    rl_buf_free(&dc.topic);
    rl_buf_free(&dc.prefix);
    rl_buf_free(&dc.line);
    rl_buf_free(&dc.obuf);
    return status;
}

int tool_binlog_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "rowlog binlog: missing subcommand\n");
        binlog_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "dump") == 0)
        return binlog_dump_main(argc - 1, argv + 1);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        binlog_usage(stdout);
        return TOOL_EXIT_OK;
    }
    fprintf(stderr, "rowlog binlog: unknown subcommand '%s'\n", sub);
    binlog_usage(stderr);
    return TOOL_EXIT_USAGE;
}
