/*
 * tools.h - tools/: the `rowlog` command-line program, shared between its files.
 *
 * Each subcommand lives in its own file and exposes one entry point with the calling
 * convention of main(): argv[0] is the subcommand name, the return value is the process exit
 * status (0 success, 1 runtime error, 2 usage error, 130 interrupted). Entry points write their
 * output to stdout and every diagnostic to stderr prefixed with "rowlog SUBCOMMAND: ".
 *
 * Threading: everything here runs on the program's main thread. librdkafka starts its own
 * threads inside tool_kafka_new(); SIGINT and SIGTERM are blocked before that so that they are
 * delivered to the main thread only, through sigtimedwait() (see tool_signals_block).
 * Ownership: returned handles are owned by the caller and freed with the matching destroy call.
 */
#ifndef ROWLOG_TOOLS_H
#define ROWLOG_TOOLS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "common/rl.h"

/* Exit statuses of every subcommand. */
enum { TOOL_EXIT_OK = 0, TOOL_EXIT_FAIL = 1, TOOL_EXIT_USAGE = 2, TOOL_EXIT_INTERRUPTED = 130 };

#define TOOL_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
/* Default time limit, in ms, for metadata and watermark requests. */
#define TOOL_DEFAULT_TIMEOUT_MS 10000
/* stdout buffer of the subcommands that print many lines (bytes). */
#define TOOL_STDOUT_BUF (1u << 20)

/* ---------------------------------------------------------------------------------------
 * Subcommands. Each prints its own usage on --help (exit 0) or on a usage error (exit 2).
 * ------------------------------------------------------------------------------------- */
int tool_tail_main(int argc, char **argv);   /* tools/tail.c */
int tool_topics_main(int argc, char **argv); /* tools/topics.c */
int tool_binlog_main(int argc, char **argv); /* tools/binlog_dump.c: `binlog dump` */
int tool_offsets_main(int argc, char **argv); /* tools/offsets.c */
int tool_groups_main(int argc, char **argv);  /* tools/groups.c */

/* ---------------------------------------------------------------------------------------
 * JSON (tools/json_check.c).
 * ------------------------------------------------------------------------------------- */

/* Containers nested deeper than this are refused (the validator keeps a fixed-size stack so
 * that hostile input cannot exhaust memory or the call stack). */
#define TOOL_JSON_MAX_DEPTH 1024

/*
 * Strict check that the n bytes at p are exactly one JSON text as RFC 8259 section 2 defines
 * it: optional whitespace (space, tab, LF, CR), one value, optional whitespace, nothing else.
 * Strings must be valid UTF-8 (RFC 3629: no overlong forms, no surrogate code points, nothing
 * above U+10FFFF) without raw control characters; escapes are the nine of section 7 (\uXXXX
 * with any four hex digits: the grammar allows unpaired surrogate escapes and so do we).
 * Numbers follow section 6 (no leading zeros, no '+', no bare '.', no NaN/Infinity). No
 * byte-order mark, no comments, no trailing commas, no NUL.
 * p may be NULL when n is 0 (which is invalid: a JSON text holds one value).
 * Returns true when valid. When invalid and bad_at is not NULL, *bad_at is the byte offset
 * of the first byte that made the text invalid (n when the text ended too early).
 * Pure function: no allocation, no state, any thread.
 */
bool tool_json_valid(const void *p, size_t n, size_t *bad_at);

/*
 * Appends the bytes at p to b as one JSON value for an output line:
 *   - p == NULL (a Kafka null key or value): `null`;
 *   - valid JSON (tool_json_valid): copied as is, except that CR and LF (which valid JSON
 *     can only hold as whitespace between tokens) become spaces, so a line stays one line;
 *   - anything else: a JSON string of the bytes (rl_buf_json_str: invalid UTF-8 bytes are
 *     written as \u00XX, so nothing is lost).
 * Errors stick in b (check rl_buf_ok once per line).
 */
void tool_json_embed(rl_buf *b, const void *p, size_t n);

/* ---------------------------------------------------------------------------------------
 * Small helpers shared by the subcommands (tools/util.c).
 * ------------------------------------------------------------------------------------- */

/* Usage error of a subcommand: prints "PROG: " + fmt (with arg) on stderr, then the
 * subcommand's usage text, and returns TOOL_EXIT_USAGE. */
int tool_usage_error(const char *prog, void (*usage)(FILE *f), const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));
/* Parses a whole decimal string as an unsigned integer no larger than max.
 * Returns 0, or -EINVAL (empty, sign, trailing characters, above max). */
int tool_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Blocks SIGINT and SIGTERM in the calling thread (threads created afterwards, librdkafka's
 * included, inherit the mask) and fills *set with them. Returns 0 or -errno. */
int tool_signals_block(sigset_t *set);
/* Returns the pending signal among *set (consuming it) without waiting, or 0 when none. */
int tool_signals_pending(const sigset_t *set);

/* True when topic is internal: its name begins with "__" (Kafka's convention, which rowlogd
 * follows for __rowlog_xa; its Metadata answers mark these topics is_internal). Pure.
 * (tools/util.c; tool_topic_match applies the same rule to wildcards.) */
bool tool_topic_is_internal(const char *topic);

/* Writes the len bytes at p to f (an unlocked stdio stream used by one thread).
 * Returns 0 or -errno of the first failed write (errors stick on the stream). */
int tool_write(FILE *f, const void *p, size_t len);

/* ---------------------------------------------------------------------------------------
 * librdkafka client setup shared by tail, topics, offsets and groups (tools/kafka_client.c).
 * ------------------------------------------------------------------------------------- */

typedef struct tool_kafka tool_kafka;

typedef struct tool_kafka_opts {
    const char *bootstrap; /* "HOST:PORT[,HOST:PORT...]"; NULL = TOOL_DEFAULT_BOOTSTRAP */
    const char *prog;      /* diagnostic prefix, "rowlog tail" */
    int timeout_ms;        /* limit for metadata and watermark requests; 0 = default */
    bool verbose;          /* pass librdkafka's own log lines through to stderr */
    const sigset_t *stop;  /* blocked signals that interrupt a wait (tool_signals_block), or
                              NULL; the set must outlive the handle */
    /* Consumer groups only (a group.id among the extra properties): called on the main
     * thread from rd_kafka_consumer_poll with librdkafka's rebalance event (rdkafka.h,
     * rd_kafka_conf_set_rebalance_cb); it must call rd_kafka_assign (or, with a cooperative
     * assignor, rd_kafka_incremental_assign/_unassign) itself. NULL = none. */
    void (*rebalance)(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                      rd_kafka_topic_partition_list_t *parts, void *arg);
    void *rebalance_arg;
} tool_kafka_opts;

/*
 * Creates a consumer handle with check.crcs=true, enable.auto.commit=false,
 * enable.auto.offset.store=false, enable.partition.eof=true: by default for the legacy
 * simple-consumer API (no consumer group, no commits).
 * extra: NULL or NULL-terminated name/value pairs of further librdkafka properties, applied
 * after those (a group.id and commit settings make it a group consumer).
 * Returns the handle, or NULL with the reason in err: RL_ECONFIG (bad bootstrap list, a
 * property librdkafka refuses: err names it), -ENOMEM.
 */
tool_kafka *tool_kafka_new(const tool_kafka_opts *opts, const char *const *extra, rl_err *err);
void tool_kafka_destroy(tool_kafka *kc);
/* The librdkafka handle (owned by kc). */
rd_kafka_t *tool_kafka_rk(tool_kafka *kc);
/* Limit for one request, ms. */
int tool_kafka_timeout_ms(const tool_kafka *kc);

/* getopt_long entries of the options every broker subcommand takes (topics, offsets, groups):
 * --bootstrap, --timeout, --verbose, --help; tool_kafka_option handles them. */
#define TOOL_KAFKA_LONGOPTS                                                                        \
    {"bootstrap", required_argument, NULL, 'b'}, {"timeout", required_argument, NULL, 'T'},        \
        {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}

/* tool_kafka_option's answer when parsing goes on (any other answer is an exit status). */
#define TOOL_OPT_NEXT (-1)

/*
 * Handles the getopt_long result c of a subcommand parsing argv with ":h" as its short option
 * string and TOOL_KAFKA_LONGOPTS among its long ones: 'b' (--bootstrap HOST:PORT, not empty),
 * 'T' (--timeout MS, 1 to 3600000) and 'v' (--verbose) fill *ko; 'h' prints usage on stdout;
 * ':' (a missing value) and any other c is a usage error (tool_usage_error with prog and
 * usage), so a subcommand with options of its own handles those first and passes the rest.
 * Returns TOOL_OPT_NEXT (handled: go on parsing) or the exit status the subcommand returns
 * now (TOOL_EXIT_OK after --help, TOOL_EXIT_USAGE). Reads optarg and optind: call it right
 * after getopt_long. Main thread (getopt's state is global).
 */
int tool_kafka_option(int c, const char *prog, void (*usage)(FILE *f), char **argv,
                      tool_kafka_opts *ko);

/*
 * Low and high watermark offsets of topic/partition (ListOffsets earliest and latest,
 * rd_kafka_query_watermark_offsets), bounded by the handle's timeout: *lo is the log start,
 * *hi the log end (the offset the next record gets).
 * Returns 0, or RL_EPROTO with "TOPIC [PARTITION]: cannot read offsets: REASON" in err;
 * *lo and *hi are then unchanged.
 */
int tool_kafka_watermarks(tool_kafka *kc, const char *topic, int32_t partition, int64_t *lo,
                          int64_t *hi, rl_err *err);

/*
 * Fetches metadata (all topics when rkt is NULL, else that topic only), giving up early when
 * librdkafka reports that every broker is down. *md is freed with rd_kafka_metadata_destroy.
 * Returns 0; -ETIMEDOUT; -ECONNREFUSED (all brokers down: err names the broker and reason);
 * RL_ESTOPPED (one of opts.stop arrived; it is consumed); RL_EPROTO (another librdkafka
 * error, named in err).
 */
int tool_kafka_metadata(tool_kafka *kc, rd_kafka_topic_t *rkt, const struct rd_kafka_metadata **md,
                        rl_err *err);

/*
 * Serves librdkafka's error callbacks queued so far (non-blocking; for a group consumer,
 * one with opts.rebalance, rd_kafka_consumer_poll serves them and this only reports). Returns 0; -ECONNREFUSED
 * when librdkafka reported since the previous call that every broker is down (err names the
 * bootstrap list and the last connection error; librdkafka keeps retrying, so the caller
 * chooses between giving up and waiting); RL_EPROTO for a fatal client error (sticks).
 * Other client errors are printed on stderr as warnings.
 */
int tool_kafka_poll_errors(tool_kafka *kc, rl_err *err);

/* ---------------------------------------------------------------------------------------
 * HTTP GET against rowlogd's HTTP endpoint (tools/http_get.c, libcurl).
 * ------------------------------------------------------------------------------------- */

/* Default HTTP address of rowlogd (its --http option). */
#define TOOL_DEFAULT_HTTP "127.0.0.1:9100"
/* Default cap on a response body, bytes. */
#define TOOL_HTTP_MAX_BODY (1u << 20)

/*
 * GETs url ("http://HOST:PORT/PATH?QUERY"; the caller escapes the query, see
 * tool_url_escape) and appends the response body to body, at most max_body bytes
 * (0 = TOOL_HTTP_MAX_BODY). No redirects, no proxy. timeout_ms bounds the whole exchange
 * (0 = TOOL_DEFAULT_TIMEOUT_MS).
 * On success *status is the HTTP status code (any code: 404 and 400 are answers too) and the
 * body holds what the server sent. Returns 0; -ECONNREFUSED (nobody listens); -ETIMEDOUT;
 * RL_ETOOBIG (body above the cap); RL_ECONFIG (bad URL); -ENOMEM; RL_EPROTO (any other
 * transport failure). err names the URL. On failure body is as it was.
 * Main thread only (libcurl's global initialisation is not thread-safe).
 */
int tool_http_get(const char *url, int timeout_ms, size_t max_body, long *status, rl_buf *body,
                  rl_err *err);
/* The same as a POST with an empty body (rowlogd's POST /v1/snapshots takes its arguments in
 * the query string). */
int tool_http_post(const char *url, int timeout_ms, size_t max_body, long *status, rl_buf *body,
                   rl_err *err);
/* `rowlog snapshot` (tools/snapshot.c). */
int tool_snapshot_main(int argc, char **argv);

/* Appends s to b percent-encoded as a URL query value (RFC 3986 section 2.1: every byte but
 * the unreserved ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX). Errors stick in b. */
void tool_url_escape(rl_buf *b, const char *s);

/* ---------------------------------------------------------------------------------------
 * Reading JSON without a tree (tools/json_walk.c). Slices point into the input text.
 * Bounds-checked on any input; structure is checked only as far as value boundaries need,
 * so run tool_json_valid first where malformed text must be refused.
 * ------------------------------------------------------------------------------------- */

/* Skips whitespace and one value starting at s.p[*pos]; on success *pos is just past it and
 * *val (if not NULL) its raw text. Returns false when no value can be delimited there. */
bool tool_json_skip(rl_slice s, size_t *pos, rl_slice *val);
/* Iterates the members of the object text obj: set *pos to 0 before the first call. Returns
 * true with *key (the name's raw bytes between the quotes, escapes not decoded) and *val (raw
 * value text); false at the end or on malformed text. */
bool tool_json_object_next(rl_slice obj, size_t *pos, rl_slice *key, rl_slice *val);
/* The same for the elements of the array text arr. */
bool tool_json_array_next(rl_slice arr, size_t *pos, rl_slice *val);
/* Finds the first member of obj named key (compared with the name's raw bytes). */
bool tool_json_member(rl_slice obj, const char *key, rl_slice *val);
/* Reads the value text v as a JSON integer within int64 (no fraction, no exponent). */
bool tool_json_int(rl_slice v, int64_t *out);

/* ---------------------------------------------------------------------------------------
 * Change envelopes (tools/pretty.c; envelope fields in docs/events.md).
 * ------------------------------------------------------------------------------------- */

/* The op of the change envelope in value ('c', 'u', 'd' or 'r'), or 0 when value is NULL,
 * not valid JSON or has no such op member. Pure function. */
int tool_envelope_op(const void *value, size_t len);
/*
 * Appends one human line for a record to b ("OP DB.TABLE KEY COLUMNS\n"; the layout is in
 * pretty.c's header), with ANSI colours when color is true. key/value may be NULL (Kafka
 * nulls). topic, partition and offset are used for records that are not change envelopes.
 * Errors stick in b.
 */
void tool_pretty_format(rl_buf *b, const char *topic, int32_t partition, int64_t offset,
                        const void *key, size_t key_len, const void *value, size_t value_len,
                        bool color);

/* ---------------------------------------------------------------------------------------
 * Times (tools/time_arg.c).
 * ------------------------------------------------------------------------------------- */

/*
 * Parses a TIME argument into ms since the Unix epoch (UTC): an RFC 3339 date-time with its
 * offset ("2026-11-23T10:00:00Z", "2026-11-23T11:00:00.5+01:00"), a date alone (midnight
 * UTC), or a time relative to now_ms ("-10m"; units ms, s, m, h, d).
 * Returns 0, or -EINVAL (malformed, impossible date, before the epoch). Pure function.
 */
int tool_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* ---------------------------------------------------------------------------------------
 * Positions and topic wildcards (tools/seek.c).
 * ------------------------------------------------------------------------------------- */

/* True when name holds a wildcard character (*, ? or [: fnmatch(3) syntax). */
bool tool_topic_is_pattern(const char *name);
/* True when topic matches the wildcard pattern (fnmatch without flags); internal topics
 * (names starting with "__") match only a pattern that starts with "__". */
bool tool_topic_match(const char *pattern, const char *topic);
/* Appends the librdkafka subscription regex for a wildcard ("rowlog.shop.*" gives
 * "^rowlog\.shop\..*$"). Errors stick in b. */
void tool_glob_regex(rl_buf *b, const char *glob);

/*
 * Sets the offset of every entry of tpl (topic, partition) to the first offset whose record
 * timestamp is >= ts_ms (ms since the epoch), or RD_KAFKA_OFFSET_END when the partition has
 * no such record. One ListOffsets round trip (rd_kafka_offsets_for_times), bounded by the
 * handle's timeout. Returns 0 or RL_EPROTO (request or partition error, named in err).
 */
int tool_seek_time(tool_kafka *kc, rd_kafka_topic_partition_list_t *tpl, int64_t ts_ms,
                   rl_err *err);
/*
 * Sets the offset of every entry of tpl whose topic is topic to the first offset of the
 * transaction gtid or of the first one after it, asking rowlogd's HTTP endpoint at http
 * ("HOST:PORT"): GET /v1/offsets?topic=T&gtid=G (answer layout in seek.c).
 * Returns 0; RL_ENOTFOUND (404: rowlogd has no such topic); RL_ECONFIG (400: rowlogd refused
 * the GTID, its reason in err); RL_EPROTO (another status, a malformed answer, a partition of
 * tpl missing from it); the errors of tool_http_get. Main thread only.
 */
int tool_seek_gtid(const char *http, const char *topic, const char *gtid, int timeout_ms,
                   rd_kafka_topic_partition_list_t *tpl, rl_err *err);

#endif /* ROWLOG_TOOLS_H */
