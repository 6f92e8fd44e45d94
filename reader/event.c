/*
 * event.c - binlog event framing, FORMAT_DESCRIPTION, checksums, event dispatch, transaction
 * boundaries and positions (binlog_decoder_*).
 *
 * Sources: mysql-server libs/mysql/binlog/event/binlog_event.h (Log_event_header,
 * Log_event_type), control_events.h (Format_description_event, Rotate_event, Query_event,
 * Xid_event, Gtid_event, Incident_event); MariaDB sql/log_event.h (Gtid_log_event,
 * Gtid_list_log_event, Binlog_checkpoint_log_event) and sql/log_event.cc
 * (Format_description_log_event, checksum_version_split). Mirrored in docs/format-binlog.md.
 * All integers little-endian.
 *
 * Common header (19 bytes)
 *   off size field
 *   0   4    timestamp, seconds since the epoch
 *   4   1    type
 *   5   4    server_id
 *   9   4    event_size: header + post-header + body + CRC32 (when the FDE says CRC32)
 *   13  4    log_pos: end offset of the event in its binlog file (0: artificial/unknown)
 *   17  2    flags: 0x0001 BINLOG_IN_USE (FDE), 0x0020 ARTIFICIAL, 0x0080 IGNORABLE
 *
 * CRC32: zlib crc32 over the event minus its last 4 bytes, stored u32 in those 4 bytes. The
 * FDE of a file closed while in use has flag 0x0001 set and its CRC matches with that bit
 * cleared.
 *
 * FORMAT_DESCRIPTION (15), body from offset 19
 *   0   2    binlog_version (4)
 *   2   50   server_version, NUL-padded ("10.11.19-MariaDB-log", "8.0.32")
 *   52  4    create_timestamp
 *   56  1    common_header_len (19)
 *   57  N    post_header_len[type - 1]
 *   57+N 1   checksum_alg (0 off, 1 CRC32), only for checksum-aware servers: MySQL >= 5.6.1,
 *            MariaDB >= 5.3.0 (decided from server_version)
 *   58+N 4   CRC32 of the FDE itself (present even when checksum_alg is 0)
 *
 * ROTATE (4): post-header pos u64 (position in the next file); body: next file name (no NUL).
 * QUERY (2): post-header thread_id u32, exec_time u32, db_len u8, error_code u16,
 *            status_vars_len u16 (13 bytes; 11 before 5.0); body: status vars, db + NUL, SQL.
 * XID (16): body xid u64.
 * INCIDENT (26): post-header incident u16; body: message length u8 + message.
 * MySQL GTID (33) / ANONYMOUS_GTID (34): flags u8, SID[16], GNO i64, ... (42-byte post-header).
 * MySQL GTID_TAGGED (42, 8.3+): one message of the serialization framework
 *            (libs/mysql/serialization/, control_events.h Gtid_event::define_fields), all
 *            integers varlen (binlog__get_varlen): format version, message size in bytes
 *            (counting from the message start), last non-ignorable field id, then
 *            (field id, value) pairs in ascending id order: 0 flags, 1 uuid (16 varlen
 *            bytes), 2 gno (signed), 3 tag (varlen length + bytes), 4 last_committed,
 *            5 sequence_number, 6.. timestamps, length, server versions, ticket (not needed
 *            here). Transaction GTID text: "uuid:tag:gno".
 * MySQL PREVIOUS_GTIDS (35): body = a GTID set in the binary encoding of gtid_set.c.
 * MySQL XA_PREPARE (38): one_phase u8, format_id u32, gtrid_len u32, bqual_len u32, data.
 * MariaDB GTID (162): seq_no u64, domain_id u32, flags2 u8 (0x01 STANDALONE, 0x02 GROUP_COMMIT_ID,
 *            0x40 PREPARED_XA, 0x80 COMPLETED_XA), then commit_id u64 (0x02) or XID
 *            (0x40/0x80: format_id u32, gtrid_len u8, bqual_len u8, gtrid + bqual bytes).
 * XA groups (docs/format-binlog.md "XA transactions"): XA START .. XA_PREPARE, and the later
 *            XA COMMIT / XA ROLLBACK QUERY group; see txn_finish and on_xa_prepare.
 * MariaDB GTID_LIST (163): count u32 (low 28 bits), count x (domain u32, server u32, seq u64).
 * TRANSACTION_PAYLOAD (40, MySQL): no post-header; fields (type packed, length packed, value a
 *            packed integer in `length` bytes) until type 0: 1 PAYLOAD_SIZE, 2 COMPRESSION_TYPE
 *            (0 zstd, 255 none), 3 UNCOMPRESSED_SIZE; then the payload to the end. Decompressed:
 *            whole events (log_pos 0, no CRC32) summing to UNCOMPRESSED_SIZE (on_payload).
 * MariaDB QUERY_COMPRESSED (165), compressed rows (166-171): as QUERY / rows events, the SQL
 *            text or row data compressed (compress.c).
 * TABLE_MAP (19) and rows events (23-25, 30-32): see tablemap.c and rows.c.
 */
#include "reader/binlog_int.h"
#include "reader/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Post-header lengths of a v4 binlog (binlog_event.h *_HEADER_LEN), used until an FDE says
 * otherwise and for types an FDE does not list. */
static void default_post_lens(uint8_t *pl)
{
    memset(pl, 0, 256);
    pl[BINLOG_START_V3] = 56;
    pl[BINLOG_QUERY] = 13;
    pl[BINLOG_ROTATE] = 8;
    pl[BINLOG_LOAD] = 18;
    pl[BINLOG_CREATE_FILE] = 4;
    pl[BINLOG_APPEND_BLOCK] = 4;
    pl[BINLOG_EXEC_LOAD] = 4;
    pl[BINLOG_DELETE_FILE] = 4;
    pl[BINLOG_NEW_LOAD] = 18;
    pl[BINLOG_FORMAT_DESCRIPTION] = 84;
    pl[BINLOG_BEGIN_LOAD_QUERY] = 4;
    pl[BINLOG_EXECUTE_LOAD_QUERY] = 26;
    pl[BINLOG_TABLE_MAP] = 8;
    pl[BINLOG_PRE_GA_WRITE_ROWS] = 8;
    pl[BINLOG_PRE_GA_UPDATE_ROWS] = 8;
    pl[BINLOG_PRE_GA_DELETE_ROWS] = 8;
    pl[BINLOG_WRITE_ROWS_V1] = 8;
    pl[BINLOG_UPDATE_ROWS_V1] = 8;
    pl[BINLOG_DELETE_ROWS_V1] = 8;
    pl[BINLOG_INCIDENT] = 2;
    pl[BINLOG_WRITE_ROWS_V2] = 10;
    pl[BINLOG_UPDATE_ROWS_V2] = 10;
    pl[BINLOG_DELETE_ROWS_V2] = 10;
    pl[BINLOG_GTID] = 42;
    pl[BINLOG_ANONYMOUS_GTID] = 42;
    pl[BINLOG_XA_PREPARE] = 0;
    pl[BINLOG_PARTIAL_UPDATE_ROWS] = 10;
    pl[BINLOG_MARIA_BINLOG_CHECKPOINT] = 4;
    pl[BINLOG_MARIA_GTID] = 19;
    pl[BINLOG_MARIA_GTID_LIST] = 4;
    pl[BINLOG_MARIA_QUERY_COMPRESSED] = 13;
    pl[BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1] = 8;
    pl[BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1] = 8;
    pl[BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1] = 8;
    pl[BINLOG_MARIA_WRITE_ROWS_COMPRESSED] = 10;
    pl[BINLOG_MARIA_UPDATE_ROWS_COMPRESSED] = 10;
    pl[BINLOG_MARIA_DELETE_ROWS_COMPRESSED] = 10;
}

const char *binlog__event_name(uint8_t type)
{
    switch (type) {
    case BINLOG_START_V3:
        return "START_V3";
    case BINLOG_QUERY:
        return "QUERY";
    case BINLOG_STOP:
        return "STOP";
    case BINLOG_ROTATE:
        return "ROTATE";
    case BINLOG_INTVAR:
        return "INTVAR";
    case BINLOG_LOAD:
        return "LOAD";
    case BINLOG_SLAVE:
        return "SLAVE";
    case BINLOG_CREATE_FILE:
        return "CREATE_FILE";
    case BINLOG_APPEND_BLOCK:
        return "APPEND_BLOCK";
    case BINLOG_EXEC_LOAD:
        return "EXEC_LOAD";
    case BINLOG_DELETE_FILE:
        return "DELETE_FILE";
    case BINLOG_NEW_LOAD:
        return "NEW_LOAD";
    case BINLOG_RAND:
        return "RAND";
    case BINLOG_USER_VAR:
        return "USER_VAR";
    case BINLOG_FORMAT_DESCRIPTION:
        return "FORMAT_DESCRIPTION";
    case BINLOG_XID:
        return "XID";
    case BINLOG_BEGIN_LOAD_QUERY:
        return "BEGIN_LOAD_QUERY";
    case BINLOG_EXECUTE_LOAD_QUERY:
        return "EXECUTE_LOAD_QUERY";
    case BINLOG_TABLE_MAP:
        return "TABLE_MAP";
    case BINLOG_PRE_GA_WRITE_ROWS:
        return "PRE_GA_WRITE_ROWS";
    case BINLOG_PRE_GA_UPDATE_ROWS:
        return "PRE_GA_UPDATE_ROWS";
    case BINLOG_PRE_GA_DELETE_ROWS:
        return "PRE_GA_DELETE_ROWS";
    case BINLOG_WRITE_ROWS_V1:
        return "WRITE_ROWS_V1";
    case BINLOG_UPDATE_ROWS_V1:
        return "UPDATE_ROWS_V1";
    case BINLOG_DELETE_ROWS_V1:
        return "DELETE_ROWS_V1";
    case BINLOG_INCIDENT:
        return "INCIDENT";
    case BINLOG_HEARTBEAT:
        return "HEARTBEAT";
    case BINLOG_IGNORABLE:
        return "IGNORABLE";
    case BINLOG_ROWS_QUERY:
        return "ROWS_QUERY";
    case BINLOG_WRITE_ROWS_V2:
        return "WRITE_ROWS_V2";
    case BINLOG_UPDATE_ROWS_V2:
        return "UPDATE_ROWS_V2";
    case BINLOG_DELETE_ROWS_V2:
        return "DELETE_ROWS_V2";
    case BINLOG_GTID:
        return "GTID";
    case BINLOG_ANONYMOUS_GTID:
        return "ANONYMOUS_GTID";
    case BINLOG_PREVIOUS_GTIDS:
        return "PREVIOUS_GTIDS";
    case BINLOG_TRANSACTION_CONTEXT:
        return "TRANSACTION_CONTEXT";
    case BINLOG_VIEW_CHANGE:
        return "VIEW_CHANGE";
    case BINLOG_XA_PREPARE:
        return "XA_PREPARE";
    case BINLOG_PARTIAL_UPDATE_ROWS:
        return "PARTIAL_UPDATE_ROWS";
    case BINLOG_TRANSACTION_PAYLOAD:
        return "TRANSACTION_PAYLOAD";
    case BINLOG_HEARTBEAT_V2:
        return "HEARTBEAT_V2";
    case BINLOG_GTID_TAGGED:
        return "GTID_TAGGED";
    case BINLOG_MARIA_ANNOTATE_ROWS:
        return "ANNOTATE_ROWS";
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        return "BINLOG_CHECKPOINT";
    case BINLOG_MARIA_GTID:
        return "MARIADB_GTID";
    case BINLOG_MARIA_GTID_LIST:
        return "GTID_LIST";
    case BINLOG_MARIA_START_ENCRYPTION:
        return "START_ENCRYPTION";
    case BINLOG_MARIA_QUERY_COMPRESSED:
        return "QUERY_COMPRESSED";
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
        return "WRITE_ROWS_COMPRESSED_V1";
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
        return "UPDATE_ROWS_COMPRESSED_V1";
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return "DELETE_ROWS_COMPRESSED_V1";
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
        return "WRITE_ROWS_COMPRESSED";
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
        return "UPDATE_ROWS_COMPRESSED";
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
        return "DELETE_ROWS_COMPRESSED";
    default:
        return "UNKNOWN";
    }
}

const char *binlog_event_type_name(unsigned type)
{
    return type > 255 ? "UNKNOWN" : binlog__event_name((uint8_t)type);
}

/* ------------------------------------------------------------------ life cycle */

static void set_file_json(binlog_decoder_t *dec)
{
    rl_buf_reset(&dec->file_json);
    rl_buf_json_str(&dec->file_json, dec->file, strlen(dec->file));
}

/* The handler the decoder calls: counts, then forwards to the caller's. */
static int count_change(void *ctx, const binlog_change *ch)
{
    binlog_decoder_t *dec = ctx;
    if (!dec->user_h.on_change)
        return 0;
    dec->stats.rows++;
    binlog_change c = *ch; /* rows.c leaves xid to this trampoline */
    c.xid = dec->xa_group ? dec->xa_xid : NULL;
    return dec->user_h.on_change(dec->user_h.ctx, &c);
}

static int count_commit(void *ctx, const binlog_checkpoint *cp)
{
    binlog_decoder_t *dec = ctx;
    dec->stats.transactions++;
    return dec->user_h.on_commit ? dec->user_h.on_commit(dec->user_h.ctx, cp) : 0;
}

void binlog_decoder_stats_get(const binlog_decoder_t *dec, binlog_decoder_stats *out)
{
    *out = dec->stats;
}

int binlog_decoder_new(binlog_decoder_t **out, const binlog_decoder_opts *opts,
                       const binlog_handler *handler)
{
    *out = NULL;
    binlog_decoder_t *dec = calloc(1, sizeof *dec);
    if (!dec)
        return -ENOMEM;
    const char *prefix = opts && opts->topic_prefix ? opts->topic_prefix : "rowlog";
    const char *name = opts && opts->source_name ? opts->source_name : prefix;
    dec->topic_prefix = strdup(prefix);
    if (!dec->topic_prefix)
        goto fail;
    if (handler)
        dec->user_h = *handler;
    dec->h.ctx = dec;
    dec->h.on_change = count_change;
    dec->h.on_commit = count_commit;
    if (binlog_gtid_set_new(&dec->mset) < 0)
        goto fail;
    dec->max_event_bytes = opts && opts->max_event_bytes ? opts->max_event_bytes : (1u << 30);
    dec->source_query = opts && opts->source_query;
    rl_buf_puts(&dec->source_json, ",\"source\":{\"name\":");
    rl_buf_json_str(&dec->source_json, name, strlen(name));
    rl_buf_puts(&dec->source_json, ",\"server_id\":");
    set_file_json(dec);
    if (!rl_buf_ok(&dec->source_json) || !rl_buf_ok(&dec->file_json))
        goto fail;
    default_post_lens(dec->post_len);
    *out = dec;
    return 0;
fail:
    binlog_decoder_free(dec);
    return -ENOMEM;
}

void binlog_decoder_free(binlog_decoder_t *dec)
{
    if (!dec)
        return;
    binlog__tables_free(dec);
    binlog__compress_free(dec);
    binlog__charsets_free(dec);
    free(dec->topic_prefix);
    free(dec->gstate);
    binlog_gtid_set_free(dec->mset);
    rl_buf_free(&dec->mset_text);
    rl_buf_free(&dec->warned);
    rl_buf_free(&dec->rows_query);
    rl_buf_free(&dec->schema_key);
    rl_buf_free(&dec->schema_value);
    rl_buf_free(&dec->schema_tmp);
    binlog__rows_free(dec);
    free(dec->colpos[0]);
    free(dec->colpos[1]);
    rl_buf_free(&dec->source_json);
    rl_buf_free(&dec->file_json);
    rl_buf_free(&dec->gstate_text);
    rl_buf_free(&dec->img[0]);
    rl_buf_free(&dec->img[1]);
    rl_buf_free(&dec->key);
    rl_buf_free(&dec->key2);
    rl_buf_free(&dec->value);
    rl_buf_free(&dec->head);
    rl_buf_free(&dec->tail);
    free(dec);
}

void binlog_decoder_set_file(binlog_decoder_t *dec, const char *file)
{
    snprintf(dec->file, sizeof dec->file, "%s", file ? file : "");
    set_file_json(dec);
}

void binlog_decoder_set_xa_handler(binlog_decoder_t *dec, const binlog_xa_handler *xh)
{
    if (xh && xh->on_xa_prepare && xh->on_xa_end)
        dec->xa_h = *xh;
    else
        memset(&dec->xa_h, 0, sizeof dec->xa_h);
}

void binlog_decoder_set_source_query(binlog_decoder_t *dec, bool on)
{
    dec->source_query = on;
    if (!on)
        rl_buf_reset(&dec->rows_query);
}

void binlog_decoder_expect_checksum(binlog_decoder_t *dec, bool crc32)
{
    dec->expect_crc = crc32;
}

void binlog_decoder_position(const binlog_decoder_t *dec, binlog_pos *out)
{
    memcpy(out->file, dec->file, sizeof out->file);
    out->pos = dec->pos;
}

/* ------------------------------------------------------------------ transactions */

/* How a group ends (txn_finish). */
enum txn_end {
    TXN_COMMIT,      /* XID, COMMIT, DDL, ONE PHASE: the changes are final */
    TXN_XA_PREPARE,  /* XA_PREPARE one_phase 0: the changes wait for their XA COMMIT */
    TXN_XA_COMMIT,   /* "XA COMMIT xid" of a transaction prepared earlier */
    TXN_XA_ROLLBACK, /* "XA ROLLBACK xid" of a transaction prepared earlier */
};

static bool xa_handled(const binlog_decoder_t *dec)
{
    return dec->xa_h.on_xa_prepare && dec->xa_h.on_xa_end;
}

/* Ends the current group: advances the GTID state and reports the checkpoint, through
 * on_commit, or for XA groups (with the XA callbacks) on_xa_prepare and/or on_xa_end (binlog.h
 * binlog_handler). xid: the XID of an XA COMMIT / XA ROLLBACK group (TXN_XA_COMMIT,
 * TXN_XA_ROLLBACK), else unused. */
static int txn_finish(binlog_decoder_t *dec, const binlog_event *ev, enum txn_end kind,
                      const char *xid, rl_err *err)
{
    if (dec->have_mgtid) {
        if (binlog__gtid_state_put(dec, dec->mgtid, false) < 0)
            return rl_err_set(err, -ENOMEM, "out of memory updating the GTID state");
    }
    if (dec->have_mysql_gtid) {
        int arc =
            binlog_gtid_set_add_mysql(dec->mset, dec->muuid, dec->mtag, dec->mtag_len, dec->mgno);
        if (arc == -ENOMEM)
            return rl_err_set(err, -ENOMEM, "out of memory updating the GTID set");
        if (arc < 0)
            return rl_err_set(err, RL_ECORRUPT, "GTID %s cannot join the GTID state", dec->gtid);
    }
    /* MySQL sources report their executed GTID set; MariaDB ones (and anything before the
     * first FORMAT_DESCRIPTION, unless a MySQL set was seeded) the per-domain state. */
    const char *state;
    if (dec->have_fde ? !dec->mariadb : !binlog_gtid_set_is_empty(dec->mset)) {
        rl_buf_reset(&dec->mset_text);
        binlog_gtid_set_format(dec->mset, &dec->mset_text);
        state = rl_buf_cstr(&dec->mset_text);
    } else {
        state = binlog__gtid_state_text(dec);
    }
    if (!state)
        return rl_err_set(err, -ENOMEM, "out of memory formatting the GTID state");
    binlog_checkpoint cp = {dec->file, ev->log_pos ? ev->log_pos : dec->pos, state, dec->gtid};
    int rc = 0;
    const char *what = "on_commit";
    if (xa_handled(dec) && dec->xa_group) {
        /* The changes went out with ch->xid: prepared, then (unless this is the prepare
         * itself) committed at once or rolled back. */
        what = "on_xa_prepare";
        rc = dec->xa_h.on_xa_prepare(dec->user_h.ctx, dec->xa_xid, &cp);
        if (rc >= 0 && kind != TXN_XA_PREPARE) {
            what = "on_xa_end";
            dec->stats.transactions++;
            rc = dec->xa_h.on_xa_end(dec->user_h.ctx, dec->xa_xid, kind != TXN_XA_ROLLBACK,
                                       &cp);
        }
    } else if (xa_handled(dec) && (kind == TXN_XA_COMMIT || kind == TXN_XA_ROLLBACK)) {
        what = "on_xa_end";
        dec->stats.transactions++;
        rc = dec->xa_h.on_xa_end(dec->user_h.ctx, xid, kind == TXN_XA_COMMIT, &cp);
    } else if (dec->h.on_commit) {
        rc = dec->h.on_commit(dec->h.ctx, &cp);
    }
    dec->in_txn = false;
    dec->xa_group = false;
    dec->xa_xid[0] = '\0';
    dec->standalone = false;
    dec->have_mgtid = false;
    dec->have_mysql_gtid = false;
    dec->gtid[0] = '\0';
    rl_buf_reset(&dec->rows_query);
    binlog__tables_trim(dec);
    if (rc < 0)
        return rl_err_set(err, rc, "%s handler returned %d (%s)", what, rc, rl_strerror(rc));
    /* The schema versions published in this transaction are now in the caller's hands. */
    if (dec->schema && !dec->schema_caller_commits)
        binlog_schema_commit(dec->schema);
    return 0;
}

static int txn_commit(binlog_decoder_t *dec, const binlog_event *ev, rl_err *err)
{
    return txn_finish(dec, ev, TXN_COMMIT, NULL, err);
}

/* A GTID event opens a group; one arriving inside an open group means that group never
 * ended in a way this decoder understands, which must not pass silently. */
static int check_no_open_group(binlog_decoder_t *dec, rl_err *err)
{
    if (dec->in_txn || dec->standalone)
        return rl_err_set(err, RL_ECORRUPT,
                          "GTID event inside an open transaction (GTID \"%s\" never ended)",
                          dec->gtid);
    return 0;
}

/* Trims ASCII white space and a trailing ';' off the SQL text. */
static rl_slice sql_trim(rl_slice s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\n' || s.p[0] == '\r')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' || s.p[s.len - 1] == '\n' ||
                     s.p[s.len - 1] == '\r' || s.p[s.len - 1] == ';'))
        s.len--;
    return s;
}

static bool sql_is(rl_slice s, const char *word)
{
    size_t n = strlen(word);
    return s.len == n && strncasecmp((const char *)s.p, word, n) == 0;
}

static bool sql_starts(rl_slice s, const char *word)
{
    size_t n = strlen(word);
    return s.len >= n && strncasecmp((const char *)s.p, word, n) == 0;
}

static bool sql_ends(rl_slice s, const char *word)
{
    size_t n = strlen(word);
    return s.len >= n && strncasecmp((const char *)s.p + s.len - n, word, n) == 0;
}

/* Skips white space and comments before a statement's first keyword. */
static rl_slice sql_skip_space(rl_slice s)
{
    for (;;) {
        while (s.len && (s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\n' || s.p[0] == '\r')) {
            s.p++;
            s.len--;
        }
        if (s.len >= 2 && s.p[0] == '/' && s.p[1] == '*') {
            size_t i = 2;
            while (i + 1 < s.len && !(s.p[i] == '*' && s.p[i + 1] == '/'))
                i++;
            i = i + 2 <= s.len ? i + 2 : s.len;
            s.p += i;
            s.len -= i;
            continue;
        }
        return s;
    }
}

/* The next word (letters, digits, '_', '$') or `quoted` identifier, optionally qualified
 * (a.b): returned as written; s moves past it. */
static rl_slice sql_word(rl_slice *s, bool qualified)
{
    *s = sql_skip_space(*s);
    size_t i = 0;
    for (;;) {
        if (i < s->len && s->p[i] == '`') {
            i++;
            while (i < s->len && s->p[i] != '`')
                i++;
            if (i < s->len)
                i++;
        } else {
            while (i < s->len &&
                   ((s->p[i] >= 'a' && s->p[i] <= 'z') || (s->p[i] >= 'A' && s->p[i] <= 'Z') ||
                    (s->p[i] >= '0' && s->p[i] <= '9') || s->p[i] == '_' || s->p[i] == '$' ||
                    s->p[i] >= 0x80))
                i++;
        }
        if (qualified && i < s->len && s->p[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    rl_slice w = rl_slice_make(s->p, i);
    s->p += i;
    s->len -= i;
    return w;
}

/* Statement-format DML (binlog_format=STATEMENT or MIXED on the source): the QUERY event
 * holds SQL text, not row images, so there is nothing exact to emit. It is skipped with a
 * warning the first time each table is seen (at most BINLOG_STMT_WARN_MAX tables are
 * remembered) and counted in stats.statement_dml_skipped. Returns true for such a statement.
 * The table is the first one named after the keyword (INSERT/REPLACE ... INTO t, UPDATE t,
 * DELETE ... FROM t, LOAD DATA ... INTO TABLE t), qualified by the event's database. */
static bool sql_dml_skipped(binlog_decoder_t *dec, const binlog_event *ev, rl_slice db,
                            rl_slice sql)
{
    rl_slice s = sql_skip_space(sql);
    rl_slice kw = sql_word(&s, false);
    bool load = sql_is(kw, "LOAD");
    if (!load && !sql_is(kw, "INSERT") && !sql_is(kw, "REPLACE") && !sql_is(kw, "UPDATE") &&
        !sql_is(kw, "DELETE"))
        return false;
    rl_slice w = sql_word(&s, true);
    if (load) {
        /* LOAD DATA [LOW_PRIORITY] [LOCAL] INFILE 'f' [REPLACE|IGNORE] INTO TABLE t */
        size_t i = 0;
        while (i + 10 <= s.len && strncasecmp((const char *)s.p + i, "INTO TABLE", 10) != 0)
            i++;
        i = i + 10 <= s.len ? i + 10 : s.len;
        s.p += i;
        s.len -= i;
        w = sql_word(&s, true);
    } else {
        static const char *const mods[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE",
                                           "INTO",         "QUICK",   "FROM"};
        for (bool again = true; again;) {
            again = false;
            for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
                if (sql_is(w, mods[i])) {
                    w = sql_word(&s, true);
                    again = true;
                    break;
                }
        }
    }
    dec->stats.statement_dml_skipped++;
    char name[256];
    if (memchr(w.p, '.', w.len) || db.len == 0)
        snprintf(name, sizeof name, "%.*s", (int)w.len, (const char *)w.p);
    else
        snprintf(name, sizeof name, "%.*s.%.*s", (int)db.len, (const char *)db.p, (int)w.len,
                 (const char *)w.p);
    size_t nlen = strlen(name);
    for (size_t off = 0; off < dec->warned.len;) {
        const char *seen = (const char *)dec->warned.p + off;
        size_t sl = strlen(seen);
        if (sl == nlen && memcmp(seen, name, nlen) == 0)
            return true;
        off += sl + 1;
    }
    if (dec->nwarned < BINLOG_STMT_WARN_MAX) {
        rl_buf_append(&dec->warned, name, nlen + 1);
        dec->nwarned++;
    }
    uint64_t at = ev->log_pos >= ev->size ? ev->log_pos - ev->size : dec->pos;
    rl_warn("%s at %llu: statement-format %.*s on %s skipped: a QUERY event carries SQL text, "
            "not row images (set binlog_format=ROW on the source); later statements on this "
            "table are only counted (statement_dml_skipped)",
            dec->file[0] ? dec->file : "(unnamed binlog)", (unsigned long long)at, (int)kw.len,
            (const char *)kw.p, name[0] ? name : "(unknown table)");
    return true;
}

static int on_query(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    if (ev->post_len < 11)
        return rl_err_set(err, RL_ECORRUPT, "QUERY post-header of %u bytes (at least 11)",
                          ev->post_len);
    rl_reader ph = binlog__sub(rd, ev->post_len);
    rl_reader_skip(&ph, 8); /* thread_id, exec_time */
    uint8_t db_len = rl_get_u8(&ph);
    rl_reader_skip(&ph, 2); /* error_code */
    uint16_t status_len = ev->post_len >= 13 ? rl_get_u16le(&ph) : 0;
    rl_reader_skip(rd, status_len);
    rl_slice db = rl_get_bytes(rd, db_len);
    uint8_t nul = rl_get_u8(rd);
    rl_slice sql = rl_get_rest(rd);
    if (rd->err || ph.err || nul != 0)
        return rl_err_set(err, RL_ECORRUPT,
                          "QUERY lengths do not fit the event (status %u, db %u bytes)", status_len,
                          db_len);
    if (ev->type == BINLOG_MARIA_QUERY_COMPRESSED) {
        /* Only the SQL text is compressed (MariaDB Query_compressed_log_event). */
        int rc = binlog__maria_uncompress(dec, sql, &sql, err);
        if (rc < 0)
            return rl_err_wrap(err, rc, "SQL text");
    }
    sql = sql_trim(sql);
    if (sql_is(sql, "BEGIN")) {
        dec->in_txn = true;
        return 0;
    }
    /* XA START opens an XA group (rows, XA END, then XA_PREPARE, or XA COMMIT ... ONE PHASE,
     * follow): its changes carry its XID. */
    if (sql_starts(sql, "XA START") || sql_starts(sql, "XA BEGIN")) {
        dec->in_txn = true;
        rl_slice x = {sql.p + 8, sql.len - 8};
        if (binlog_xid_parse(x, dec->xa_xid, NULL) == 0)
            dec->xa_group = true;
        else if (xa_handled(dec))
            return rl_err_set(err, RL_ECORRUPT, "%.*s: unreadable XID", sql.len > 200 ? 200 :
                              (int)sql.len, (const char *)sql.p);
        return 0;
    }
    if (sql_is(sql, "COMMIT") || sql_is(sql, "ROLLBACK"))
        return txn_commit(dec, ev, err);
    bool xa_commit = sql_starts(sql, "XA COMMIT");
    if (xa_commit || sql_starts(sql, "XA ROLLBACK")) {
        size_t kw = xa_commit ? 9 : 11;
        rl_slice x = {sql.p + kw, sql.len - kw}, rest;
        char xid[BINLOG_XID_TEXT_MAX];
        if (binlog_xid_parse(x, xid, &rest) != 0) {
            if (!xa_handled(dec))
                return txn_commit(dec, ev, err);
            return rl_err_set(err, RL_ECORRUPT, "%.*s: unreadable XID", sql.len > 200 ? 200 :
                              (int)sql.len, (const char *)sql.p);
        }
        rest = sql_skip_space(rest);
        if (xa_commit && sql_starts(rest, "ONE PHASE"))
            return txn_commit(dec, ev, err); /* the group's own rows, committed at once */
        return txn_finish(dec, ev, xa_commit ? TXN_XA_COMMIT : TXN_XA_ROLLBACK, xid, err);
    }
    if (sql_dml_skipped(dec, ev, db, sql))
        return dec->in_txn && !dec->standalone ? 0 : txn_commit(dec, ev, err);
    if (dec->schema) {
        int rc = binlog__schema_on_query(dec, ev, db, sql, err);
        if (rc < 0)
            return rc;
    }
    if (dec->standalone)
        return txn_commit(dec, ev, err);
    if (dec->in_txn)
        return 0; /* SAVEPOINT, XA START/END, statements of a mixed-format group */
    /* MySQL 8.0.21+ logs CREATE TABLE ... SELECT as "CREATE TABLE ... START TRANSACTION"
     * followed by rows and XID (sql/sql_insert.cc, atomic CTAS). */
    if (sql_ends(sql, "START TRANSACTION")) {
        dec->in_txn = true;
        return 0;
    }
    return txn_commit(dec, ev, err); /* DDL outside a transaction */
}

static int on_rotate(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    if (ev->post_len < 8)
        return rl_err_set(err, RL_ECORRUPT, "ROTATE post-header of %u bytes (expected 8)",
                          ev->post_len);
    rl_reader ph = binlog__sub(rd, ev->post_len);
    uint64_t pos = rl_get_u64le(&ph);
    rl_slice name = rl_get_rest(rd);
    if (rd->err || ph.err || name.len == 0 || name.len >= sizeof dec->file ||
        memchr(name.p, '\0', name.len))
        return rl_err_set(err, RL_ECORRUPT, "ROTATE with a bad file name (%zu bytes)", name.len);
    memcpy(dec->file, name.p, name.len);
    dec->file[name.len] = '\0';
    set_file_json(dec);
    if (!rl_buf_ok(&dec->file_json))
        return rl_err_set(err, -ENOMEM, "out of memory");
    dec->pos = pos;
    return 0;
}

static char *put_dec(char *o, uint64_t v)
{
    char t[20];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = t[--n];
    return o;
}

static int on_maria_gtid(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    int rc = check_no_open_group(dec, err);
    if (rc < 0)
        return rc;
    uint64_t seq = rl_get_u64le(rd);
    uint32_t domain = rl_get_u32le(rd);
    uint8_t flags2 = rl_get_u8(rd);
    if (flags2 & 0x02)
        rl_reader_skip(rd, 8); /* commit_id */
    dec->xa_group = false;
    dec->xa_xid[0] = '\0';
    if (flags2 & (0x40 | 0x80)) {
        /* FL_PREPARED_XA: the group is an XA transaction ending in XA_PREPARE; FL_COMPLETED_XA:
         * the group is its XA COMMIT / XA ROLLBACK (whose QUERY names the XID again). */
        int32_t fmt = (int32_t)rl_get_u32le(rd);
        uint8_t gl = rl_get_u8(rd), bl = rl_get_u8(rd);
        if (gl > 64 || bl > 64)
            return rl_err_set(err, RL_ECORRUPT, "GTID with an XID of %u+%u bytes (max 64 each)",
                              gl, bl);
        rl_slice d = rl_get_bytes(rd, (size_t)gl + bl);
        if (!rd->err && (flags2 & 0x40)) {
            binlog__xid_format(dec->xa_xid, fmt, d.p, gl, d.p + gl, bl);
            dec->xa_group = true;
        }
    }
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "GTID event too short for flags 0x%02x", flags2);
    dec->mgtid.domain = domain;
    dec->mgtid.server = ev->server_id;
    dec->mgtid.seq = seq;
    dec->have_mgtid = true;
    /* "domain-server-seq", formatted by hand: once per transaction on the hot path. */
    char *o = dec->gtid;
    o = put_dec(o, domain);
    *o++ = '-';
    o = put_dec(o, ev->server_id);
    *o++ = '-';
    o = put_dec(o, seq);
    *o = '\0';
    if (flags2 & 0x01) {
        dec->standalone = true;
        dec->in_txn = false;
    } else {
        dec->in_txn = true;
    }
    return 0;
}

static int gtid_cmp_domain_seq_desc(const void *a, const void *b)
{
    const binlog_gtid *x = a, *y = b;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq > y->seq ? -1 : 1;
    return 0;
}

/* GTID_LIST: the binlog state before this file (or, in a GTID dump, the start state). It
 * completes the state with domains it does not know yet, never overriding what was seeded or
 * committed since; of several servers listed for one domain the highest seq_no wins. */
static int on_maria_gtid_list(binlog_decoder_t *dec, rl_reader *rd, rl_err *err)
{
    uint32_t cnt = rl_get_u32le(rd) & 0x0fffffffu;
    if (rd->err || (uint64_t)cnt * 16 > rl_reader_left(rd))
        return rl_err_set(err, RL_ECORRUPT, "GTID_LIST of %u entries does not fit the event", cnt);
    if (cnt == 0)
        return 0;
    binlog_gtid *list = malloc((size_t)cnt * sizeof *list);
    if (!list)
        return rl_err_set(err, -ENOMEM, "out of memory reading GTID_LIST");
    for (uint32_t i = 0; i < cnt; i++) {
        list[i].domain = rl_get_u32le(rd);
        list[i].server = rl_get_u32le(rd);
        list[i].seq = rl_get_u64le(rd);
    }
    qsort(list, cnt, sizeof *list, gtid_cmp_domain_seq_desc);
    int rc = 0;
    for (uint32_t i = 0; i < cnt && rc == 0; i++) {
        if (i > 0 && list[i].domain == list[i - 1].domain)
            continue;
        rc = binlog__gtid_state_put(dec, list[i], true);
    }
    free(list);
    if (rc < 0)
        return rl_err_set(err, -ENOMEM, "out of memory updating the GTID state");
    return 0;
}

/* Records the open transaction's MySQL GTID (added to the state at commit) and its text. */
static int set_mysql_gtid(binlog_decoder_t *dec, const uint8_t *uuid, const char *tag,
                          size_t tag_len, int64_t gno, rl_err *err)
{
    if (gno < 1 || (uint64_t)gno > BINLOG_GTID_GNO_MAX)
        return rl_err_set(err, RL_ECORRUPT, "GTID with gno %lld (1..2^63-2)", (long long)gno);
    for (size_t i = 0; i < tag_len; i++) {
        char c = tag[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return rl_err_set(err, RL_ECORRUPT, "GTID tag with a byte 0x%02x", (uint8_t)c);
    }
    memcpy(dec->muuid, uuid, 16);
    for (size_t i = 0; i < tag_len; i++)
        dec->mtag[i] = (tag[i] >= 'A' && tag[i] <= 'Z') ? (char)(tag[i] - 'A' + 'a') : tag[i];
    dec->mtag[tag_len] = '\0';
    dec->mtag_len = tag_len;
    dec->mgno = (uint64_t)gno;
    dec->have_mysql_gtid = true;
    static const char hex[] = "0123456789abcdef";
    char *o = dec->gtid;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[uuid[i] >> 4];
        *o++ = hex[uuid[i] & 15];
    }
    if (tag_len) {
        *o++ = ':';
        memcpy(o, dec->mtag, tag_len);
        o += tag_len;
    }
    snprintf(o, sizeof dec->gtid - (size_t)(o - dec->gtid), ":%lld", (long long)gno);
    return 0;
}

static int on_mysql_gtid(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    int rc = check_no_open_group(dec, err);
    if (rc < 0)
        return rc;
    rl_get_u8(rd); /* flags */
    rl_slice sid = rl_get_bytes(rd, 16);
    int64_t gno = (int64_t)rl_get_u64le(rd);
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "GTID event too short");
    if (ev->type == BINLOG_ANONYMOUS_GTID) {
        dec->gtid[0] = '\0';
        dec->have_mysql_gtid = false;
        return 0;
    }
    return set_mysql_gtid(dec, sid.p, NULL, 0, gno, err);
}

/* GTID_TAGGED (42): the fields of Gtid_event in the serialization framework (see the table at
 * the top). Only uuid, gno and tag are needed; the fields after the tag are left unread. */
static int on_gtid_tagged(binlog_decoder_t *dec, rl_reader *rd, rl_err *err)
{
    int rc = check_no_open_group(dec, err);
    if (rc < 0)
        return rc;
    size_t total = rl_reader_left(rd);
    binlog__get_varlen(rd); /* serialization format version */
    uint64_t size = binlog__get_varlen(rd);
    binlog__get_varlen(rd); /* last non-ignorable field id */
    size_t used = total - rl_reader_left(rd);
    if (rd->err || size > total || size < used)
        return rl_err_set(err, RL_ECORRUPT, "GTID_TAGGED message of %llu bytes in %zu",
                          (unsigned long long)size, total);
    rl_reader msg = binlog__sub(rd, (size_t)(size - used));
    uint8_t uuid[16];
    bool have_uuid = false, have_gno = false;
    int64_t gno = 0;
    const char *tag = NULL;
    size_t tag_len = 0;
    uint64_t last_id = 0;
    bool first = true;
    while (rl_reader_left(&msg) > 0) {
        uint64_t id = binlog__get_varlen(&msg);
        if (msg.err || (!first && id <= last_id))
            return rl_err_set(err, RL_ECORRUPT, "GTID_TAGGED: field ids out of order");
        first = false;
        last_id = id;
        if (id == 0) {
            binlog__get_varlen(&msg); /* gtid_flags */
        } else if (id == 1) {
            for (int i = 0; i < 16; i++) {
                uint64_t b = binlog__get_varlen(&msg);
                if (b > 255)
                    msg.err = true;
                uuid[i] = (uint8_t)b;
            }
            have_uuid = true;
        } else if (id == 2) {
            gno = binlog__get_varlen_signed(&msg);
            have_gno = true;
        } else if (id == 3) {
            uint64_t n = binlog__get_varlen(&msg);
            if (n > BINLOG_GTID_TAG_MAX)
                return rl_err_set(err, RL_ECORRUPT, "GTID_TAGGED: tag of %llu bytes (max %d)",
                                  (unsigned long long)n, BINLOG_GTID_TAG_MAX);
            rl_slice t = rl_get_bytes(&msg, (size_t)n);
            tag = (const char *)t.p;
            tag_len = t.len;
        } else {
            break; /* commit timestamps, lengths, versions: not needed */
        }
        if (msg.err)
            return rl_err_set(err, RL_ECORRUPT, "GTID_TAGGED: field %llu runs past the message",
                              (unsigned long long)id);
    }
    if (!have_uuid || !have_gno)
        return rl_err_set(err, RL_ECORRUPT, "GTID_TAGGED without %s",
                          have_uuid ? "a gno" : "a uuid");
    return set_mysql_gtid(dec, uuid, tag, tag_len, gno, err);
}

/* XA_PREPARE (38): ends an XA group. one_phase 1 (MySQL "XA COMMIT ... ONE PHASE"): the
 * changes are committed now. one_phase 0: the changes are prepared, final only once a later
 * "XA COMMIT xid" group arrives, possibly after a restart of the source or of rowlog, or never
 * (XA ROLLBACK). With the handler's XA callbacks that is on_xa_prepare; without them the
 * stream stops here, loudly, instead of publishing changes an XA ROLLBACK may still undo
 * (docs/format-binlog.md, "XA transactions"). */
static int on_xa_prepare(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd,
                         rl_err *err)
{
    uint8_t one_phase = rl_get_u8(rd);
    int32_t fmt = (int32_t)rl_get_u32le(rd);
    uint32_t gl = rl_get_u32le(rd), bl = rl_get_u32le(rd);
    if (rd->err || gl > 64 || bl > 64)
        return rl_err_set(err, RL_ECORRUPT, "XA_PREPARE with an XID of %u+%u bytes (max 64 each)",
                          gl, bl);
    rl_slice d = rl_get_bytes(rd, (size_t)gl + bl);
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "XA_PREPARE: XID runs past the event");
    char xid[BINLOG_XID_TEXT_MAX];
    binlog__xid_format(xid, fmt, d.p, gl, d.p + gl, bl);
    if (one_phase)
        return txn_commit(dec, ev, err);
    if (!xa_handled(dec))
        return rl_err_set(err, RL_EUNSUPPORTED,
                          "XA PREPARE of transaction %s (xid %s): prepared XA transactions are "
                          "captured only by a reader that holds them until their XA COMMIT "
                          "(rowlogd does; this reader does not)",
                          dec->gtid[0] ? dec->gtid : "(no GTID)", xid);
    if (!dec->xa_group)
        return rl_err_set(err, RL_ECORRUPT,
                          "XA_PREPARE of xid %s outside an XA group (no XA START, no GTID "
                          "flagged FL_PREPARED_XA)",
                          xid);
    if (strcmp(xid, dec->xa_xid) != 0)
        return rl_err_set(err, RL_ECORRUPT, "XA_PREPARE of xid %s in the group of xid %s", xid,
                          dec->xa_xid);
    return txn_finish(dec, ev, TXN_XA_PREPARE, NULL, err);
}

/* PREVIOUS_GTIDS (35): the executed set before this file. It seeds the MySQL GTID state when
 * nothing else did (a seed from the caller, or an earlier file's PREVIOUS_GTIDS). */
static int on_previous_gtids(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd,
                             rl_err *err)
{
    rl_reader_skip(rd, ev->post_len);
    rl_slice body = rl_get_rest(rd);
    if (dec->mset_seeded)
        return 0;
    int rc = binlog_gtid_set_decode_add(dec->mset, body, err);
    if (rc < 0)
        return rl_err_wrap(err, rc == RL_ECONFIG ? RL_ECORRUPT : rc, "PREVIOUS_GTIDS");
    dec->mset_seeded = true;
    return 0;
}

static int on_incident(const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    rl_reader ph = binlog__sub(rd, ev->post_len);
    unsigned number = ev->post_len >= 2 ? rl_get_u16le(&ph) : 0;
    uint8_t n = rl_get_u8(rd);
    rl_slice msg = rl_get_bytes(rd, n);
    if (rd->err)
        msg = rl_slice_str("");
    return rl_err_set(err, RL_EINCIDENT,
                      "the source logged incident %u (\"%.*s\"): events may be missing", number,
                      (int)msg.len, (const char *)msg.p);
}

/* ------------------------------------------------------------------ FORMAT_DESCRIPTION */

static bool version_at_least(const char *v, unsigned a, unsigned b, unsigned c)
{
    unsigned x[3] = {0, 0, 0};
    const char *s = v;
    for (int i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9')
            break;
        while (*s >= '0' && *s <= '9') {
            if (x[i] < 100000)
                x[i] = x[i] * 10 + (unsigned)(*s - '0');
            s++;
        }
        if (*s != '.')
            break;
        s++;
    }
    if (x[0] != a)
        return x[0] > a;
    if (x[1] != b)
        return x[1] > b;
    return x[2] >= c;
}

static bool crc_ok(rl_slice ev, bool clear_in_use)
{
    uint32_t crc;
    if (clear_in_use && (ev.p[17] & BINLOG_F_IN_USE)) {
        uint8_t head[BINLOG_HEADER_LEN];
        memcpy(head, ev.p, sizeof head);
        head[17] &= (uint8_t)~BINLOG_F_IN_USE;
        crc = rl_crc32(0, head, sizeof head);
        crc = rl_crc32(crc, ev.p + BINLOG_HEADER_LEN, ev.len - BINLOG_HEADER_LEN - BINLOG_CRC_LEN);
    } else { /* the bytes as they are: one call */
        crc = rl_crc32(0, ev.p, ev.len - BINLOG_CRC_LEN);
    }
    const uint8_t *s = ev.p + ev.len - BINLOG_CRC_LEN;
    uint32_t stored =
        (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
    return crc == stored;
}

static int on_fde(binlog_decoder_t *dec, const binlog_event *ev, rl_err *err)
{
    rl_reader rd = rl_reader_make(ev->raw);
    rl_reader_skip(&rd, BINLOG_HEADER_LEN);
    uint16_t version = rl_get_u16le(&rd);
    rl_slice sv = rl_get_bytes(&rd, 50);
    rl_reader_skip(&rd, 4); /* create_timestamp */
    uint8_t hlen = rl_get_u8(&rd);
    if (rd.err)
        return rl_err_set(err, RL_ECORRUPT, "FORMAT_DESCRIPTION of %u bytes is too short",
                          ev->size);
    if (version != 4)
        return rl_err_set(err, RL_EUNSUPPORTED, "binlog version %u (only v4 is decoded)", version);
    if (hlen != BINLOG_HEADER_LEN)
        return rl_err_set(err, RL_EUNSUPPORTED, "common header of %u bytes (expected 19)", hlen);
    char ver[51];
    size_t vl = 0;
    while (vl < 50 && sv.p[vl])
        vl++;
    memcpy(ver, sv.p, vl);
    ver[vl] = '\0';
    bool mariadb = strstr(ver, "MariaDB") != NULL;
    bool aware = mariadb ? version_at_least(ver, 5, 3, 0) : version_at_least(ver, 5, 6, 1);
    rl_slice rest = rl_get_rest(&rd);
    uint8_t alg = 0;
    size_t npost = rest.len;
    if (aware) {
        if (rest.len < 1 + BINLOG_CRC_LEN)
            return rl_err_set(err, RL_ECORRUPT,
                              "FORMAT_DESCRIPTION of %s has no checksum algorithm", ver);
        alg = rest.p[rest.len - 1 - BINLOG_CRC_LEN];
        npost = rest.len - 1 - BINLOG_CRC_LEN;
        if (alg == 0 || alg == 1) {
            /* The FDE carries its CRC even with checksums off; a file closed while in use
             * has the in-use flag set, which the CRC does not cover. */
            if (!crc_ok(ev->raw, true) && !crc_ok(ev->raw, false))
                return rl_err_set(err, RL_ECHECKSUM, "FORMAT_DESCRIPTION CRC32 mismatch");
        } else if (alg == 255) {
            alg = 0; /* BINLOG_CHECKSUM_ALG_UNDEF: written by servers without checksums */
        } else {
            return rl_err_set(err, RL_EUNSUPPORTED, "checksum algorithm %u", alg);
        }
    }
    default_post_lens(dec->post_len);
    for (size_t i = 0; i < npost && i < 255; i++)
        dec->post_len[i + 1] = rest.p[i];
    /* MySQL FDEs list 40 for TRANSACTION_PAYLOAD, but its fields start right after the common
     * header (control_events.h Transaction_payload_event; checked on the payload fixtures). */
    if (!mariadb)
        dec->post_len[BINLOG_TRANSACTION_PAYLOAD] = 0;
    memcpy(dec->server_version, ver, vl + 1);
    dec->mariadb = mariadb;
    dec->crc = alg == 1;
    dec->have_fde = true;
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

/* ROWS_QUERY (29, MySQL binlog_rows_query_log_events): post-header none, body: length u8
 * (the text's length modulo 256, ignored as mysqlbinlog does) then the statement to the end.
 * ANNOTATE_ROWS (160, MariaDB binlog_annotate_row_events): the body is the statement. Kept as
 * a quoted JSON string for source.query until the transaction ends; a later one replaces it
 * (one per statement). */
static int on_rows_query(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd,
                         rl_err *err)
{
    rl_reader_skip(rd, ev->post_len);
    if (ev->type == BINLOG_ROWS_QUERY)
        rl_reader_skip(rd, 1);
    if (rd->err)
        return rl_err_set(err, RL_ECORRUPT, "%s event too short", binlog__event_name(ev->type));
    rl_slice q = rl_get_rest(rd);
    rl_buf_reset(&dec->rows_query);
    rl_buf_json_str(&dec->rows_query, q.p, q.len);
    if (!rl_buf_ok(&dec->rows_query))
        return rl_err_set(err, -ENOMEM, "out of memory keeping the statement text");
    return 0;
}

static int dispatch(binlog_decoder_t *dec, const binlog_event *ev, rl_slice body, rl_err *err);

static inline uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads the common header of an event (raw holds at least the 19 bytes). */
static void parse_header(binlog_decoder_t *dec, rl_slice raw, binlog_event *ev)
{
    /* Plain little-endian loads: every caller has checked the 19 bytes are there. */
    const uint8_t *p = raw.p;
    memset(ev, 0, sizeof *ev);
    ev->raw = raw;
    ev->timestamp = le32_at(p);
    ev->type = p[4];
    ev->server_id = le32_at(p + 5);
    ev->size = le32_at(p + 9);
    ev->log_pos = le32_at(p + 13);
    ev->flags = (uint16_t)(p[17] | (unsigned)p[18] << 8);
    ev->post_len = dec->post_len[ev->type];
    dec->stats.events[ev->type]++;
}

/* MySQL TRANSACTION_PAYLOAD (40): the events of one transaction (all but its GTID event),
 * compressed together. The fields come first, each (type packed, length packed, value: a
 * packed integer in `length` bytes) until type 0; the payload follows to the end of the event.
 * The decompressed bytes are whole events (19-byte headers, log_pos 0, no CRC32), decoded here
 * as if they had arrived inline, except for positions: every change names the payload event
 * (source.pos = its start, source.row counting rows across its inner rows events) and a commit
 * inside it checkpoints at the payload's log_pos, the first position after the whole
 * transaction. */
static int on_payload(binlog_decoder_t *dec, const binlog_event *ev, rl_reader *rd, rl_err *err)
{
    enum { F_END = 0, F_PAYLOAD_SIZE = 1, F_COMPRESSION = 2, F_UNCOMPRESSED_SIZE = 3 };
    enum { C_ZSTD = 0, C_NONE = 255 };
    rl_reader_skip(rd, ev->post_len); /* 0 on MySQL (on_fde) */
    uint64_t psize = UINT64_MAX, ctype = UINT64_MAX, usize = UINT64_MAX;
    for (;;) {
        uint64_t type = rl_get_lenenc(rd);
        if (rd->err)
            return rl_err_set(err, RL_ECORRUPT, "payload fields run past the end of the event");
        if (type == F_END)
            break;
        uint64_t len = rl_get_lenenc(rd);
        if (rd->err || len > rl_reader_left(rd))
            return rl_err_set(err, RL_ECORRUPT, "payload field %llu of %llu bytes does not fit",
                              (unsigned long long)type, (unsigned long long)len);
        rl_reader f = binlog__sub(rd, (size_t)len);
        uint64_t *dst = type == F_PAYLOAD_SIZE        ? &psize
                        : type == F_COMPRESSION       ? &ctype
                        : type == F_UNCOMPRESSED_SIZE ? &usize
                                                      : NULL;
        if (dst) { /* other fields: skipped by their length */
            *dst = rl_get_lenenc(&f);
            if (f.err || rl_reader_left(&f) != 0)
                return rl_err_set(err, RL_ECORRUPT, "payload field %llu is not one integer",
                                  (unsigned long long)type);
        }
    }
    rl_slice payload = rl_get_rest(rd);
    if (psize != payload.len)
        return rl_err_set(err, RL_ECORRUPT, "PAYLOAD_SIZE %llu but %zu payload bytes",
                          (unsigned long long)psize, payload.len);
    rl_slice plain;
    if (ctype == C_ZSTD) {
        if (usize == UINT64_MAX)
            return rl_err_set(err, RL_ECORRUPT, "zstd payload without UNCOMPRESSED_SIZE");
        int rc = binlog__zstd_uncompress(dec, payload, usize, &plain, err);
        if (rc < 0)
            return rc;
    } else if (ctype == C_NONE) {
        if (usize != UINT64_MAX && usize != payload.len)
            return rl_err_set(err, RL_ECORRUPT, "uncompressed payload of %zu bytes, %llu declared",
                              payload.len, (unsigned long long)usize);
        plain = payload;
    } else {
        return rl_err_set(err, RL_EUNSUPPORTED, "payload compression type %llu (0 zstd, 255 none)",
                          (unsigned long long)ctype);
    }
    /* Inner events, each in its own narrowed reader. */
    uint64_t start = ev->log_pos >= ev->size ? ev->log_pos - ev->size : 0;
    dec->inner_row = 0;
    rl_reader in = rl_reader_make(plain);
    for (unsigned idx = 0; rl_reader_left(&in) > 0; idx++) {
        size_t at = plain.len - rl_reader_left(&in);
        size_t left = rl_reader_left(&in);
        uint32_t size = 0;
        if (left >= BINLOG_HEADER_LEN) {
            const uint8_t *h = plain.p + at + 9;
            size =
                (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        }
        if (left < BINLOG_HEADER_LEN || size < BINLOG_HEADER_LEN || size > left)
            return rl_err_set(err, RL_ECORRUPT,
                              "inner event %u at payload offset %zu: event_size %u with %zu bytes "
                              "left",
                              idx, at, size, left);
        binlog_event iev;
        parse_header(dec, rl_get_bytes(&in, size), &iev);
        iev.inner = true;
        iev.src_pos = start;
        iev.log_pos = ev->log_pos;
        int rc;
        if (iev.type == BINLOG_FORMAT_DESCRIPTION || iev.type == BINLOG_ROTATE ||
            iev.type == BINLOG_TRANSACTION_PAYLOAD || iev.type == BINLOG_GTID ||
            iev.type == BINLOG_ANONYMOUS_GTID || iev.type == BINLOG_GTID_TAGGED)
            rc = rl_err_set(err, RL_ECORRUPT, "event type not allowed in a payload");
        else
            rc = dispatch(dec, &iev,
                          rl_slice_make(iev.raw.p + BINLOG_HEADER_LEN, size - BINLOG_HEADER_LEN),
                          err);
        if (rc < 0)
            return rl_err_wrap(err, rc, "inner event %u (%s, type %u) at payload offset %zu", idx,
                               binlog__event_name(iev.type), iev.type, at);
    }
    return 0;
}

static int dispatch(binlog_decoder_t *dec, const binlog_event *ev, rl_slice body, rl_err *err)
{
    rl_reader rd = rl_reader_make(body);
    switch (ev->type) {
    case BINLOG_QUERY:
    case BINLOG_MARIA_QUERY_COMPRESSED:
        return on_query(dec, ev, &rd, err);
    case BINLOG_ROTATE:
        return on_rotate(dec, ev, &rd, err);
    case BINLOG_XID:
        if (rl_reader_left(&rd) < (size_t)ev->post_len + 8)
            return rl_err_set(err, RL_ECORRUPT, "XID event too short");
        return txn_commit(dec, ev, err);
    case BINLOG_TABLE_MAP:
        return binlog__table_map(dec, ev, body, err);
    case BINLOG_WRITE_ROWS_V1:
    case BINLOG_UPDATE_ROWS_V1:
    case BINLOG_DELETE_ROWS_V1:
    case BINLOG_WRITE_ROWS_V2:
    case BINLOG_UPDATE_ROWS_V2:
    case BINLOG_DELETE_ROWS_V2:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
    case BINLOG_PARTIAL_UPDATE_ROWS:
        return binlog__rows(dec, ev, body, err);
    case BINLOG_MARIA_GTID:
        return on_maria_gtid(dec, ev, &rd, err);
    case BINLOG_MARIA_GTID_LIST:
        return on_maria_gtid_list(dec, &rd, err);
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
        return on_mysql_gtid(dec, ev, &rd, err);
    case BINLOG_GTID_TAGGED:
        rl_reader_skip(&rd, ev->post_len);
        return on_gtid_tagged(dec, &rd, err);
    case BINLOG_PREVIOUS_GTIDS:
        return on_previous_gtids(dec, ev, &rd, err);
    case BINLOG_XA_PREPARE:
        rl_reader_skip(&rd, ev->post_len);
        return on_xa_prepare(dec, ev, &rd, err);
    case BINLOG_INCIDENT:
        return on_incident(ev, &rd, err);
    case BINLOG_TRANSACTION_PAYLOAD:
        return on_payload(dec, ev, &rd, err);
    case BINLOG_ROWS_QUERY:
    case BINLOG_MARIA_ANNOTATE_ROWS:
        return dec->source_query ? on_rows_query(dec, ev, &rd, err) : 0;
    /* Carry nothing the change stream needs: statement-format and LOAD DATA events (a
     * rowlog source runs binlog_format=ROW), SQL annotations, GTID sets, group replication. */
    case BINLOG_START_V3:
    case BINLOG_STOP:
    case BINLOG_INTVAR:
    case BINLOG_LOAD:
    case BINLOG_SLAVE:
    case BINLOG_CREATE_FILE:
    case BINLOG_APPEND_BLOCK:
    case BINLOG_EXEC_LOAD:
    case BINLOG_DELETE_FILE:
    case BINLOG_NEW_LOAD:
    case BINLOG_RAND:
    case BINLOG_USER_VAR:
    case BINLOG_BEGIN_LOAD_QUERY:
    case BINLOG_EXECUTE_LOAD_QUERY:
    case BINLOG_HEARTBEAT:
    case BINLOG_HEARTBEAT_V2:
    case BINLOG_IGNORABLE:
    case BINLOG_TRANSACTION_CONTEXT:
    case BINLOG_VIEW_CHANGE:
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        return 0;
    case BINLOG_PRE_GA_WRITE_ROWS:
    case BINLOG_PRE_GA_UPDATE_ROWS:
    case BINLOG_PRE_GA_DELETE_ROWS:
    case BINLOG_MARIA_START_ENCRYPTION:
        return rl_err_set(err, RL_EUNSUPPORTED, "event type %u (%s) is not decoded yet", ev->type,
                          binlog__event_name(ev->type));
    default:
        if (ev->flags & BINLOG_F_IGNORABLE)
            return 0; /* skipped by size, as the IGNORABLE flag allows */
        return rl_err_set(err, RL_EUNSUPPORTED, "unknown event type %u without the IGNORABLE flag",
                          ev->type);
    }
}

/* Where an event sits, for messages: "binlog.000004 at 2132 (WRITE_ROWS_V1, log_pos 2722)". */
static int wrap_location(binlog_decoder_t *dec, const binlog_event *ev, int code, rl_err *e)
{
    const char *file = dec->file[0] ? dec->file : "(unnamed binlog)";
    if (ev->log_pos >= ev->size && ev->log_pos != 0)
        return rl_err_wrap(e, code, "%s at %llu (%s, type %u, log_pos %llu)", file,
                           (unsigned long long)(ev->log_pos - ev->size),
                           binlog__event_name(ev->type), ev->type, (unsigned long long)ev->log_pos);
    return rl_err_wrap(e, code, "%s after %llu (%s, type %u, log_pos %llu)", file,
                       (unsigned long long)dec->pos, binlog__event_name(ev->type), ev->type,
                       (unsigned long long)ev->log_pos);
}

static int feed_one(binlog_decoder_t *dec, rl_slice raw, rl_err *e)
{
    binlog_event ev;
    if (raw.len < BINLOG_HEADER_LEN)
        return rl_err_set(
            e, RL_ECORRUPT, "%s after %llu: event of %zu bytes is shorter than the 19-byte header",
            dec->file[0] ? dec->file : "(unnamed binlog)", (unsigned long long)dec->pos, raw.len);
    parse_header(dec, raw, &ev);
    int rc;
    if (ev.size != raw.len) {
        rl_err_set(e, RL_ECORRUPT, "event_size %u does not match the %zu bytes of the event",
                   ev.size, raw.len);
        return wrap_location(dec, &ev, RL_ECORRUPT, e);
    }
    if (raw.len > dec->max_event_bytes) {
        rl_err_set(e, RL_ETOOBIG, "event of %zu bytes is above max_event_bytes %zu", raw.len,
                   dec->max_event_bytes);
        return wrap_location(dec, &ev, RL_ETOOBIG, e);
    }
    if (ev.type == BINLOG_FORMAT_DESCRIPTION) {
        rc = on_fde(dec, &ev, e);
    } else {
        bool crc = dec->have_fde ? dec->crc : dec->expect_crc;
        rl_slice body = rl_slice_make(raw.p + BINLOG_HEADER_LEN, raw.len - BINLOG_HEADER_LEN);
        if (crc) {
            if (raw.len < BINLOG_HEADER_LEN + BINLOG_CRC_LEN) {
                rl_err_set(e, RL_ECORRUPT, "event of %zu bytes has no room for its CRC32", raw.len);
                return wrap_location(dec, &ev, RL_ECORRUPT, e);
            }
            if (!crc_ok(raw, false)) {
                rl_err_set(e, RL_ECHECKSUM, "CRC32 mismatch");
                return wrap_location(dec, &ev, RL_ECHECKSUM, e);
            }
            body.len -= BINLOG_CRC_LEN;
        }
        /* Each decoded event checks its own post-header and body lengths; skipped and
         * unsupported events are judged by type alone. */
        rc = dispatch(dec, &ev, body, e);
    }
    if (rc < 0)
        return wrap_location(dec, &ev, rc, e);
    /* Artificial events, heartbeats and log_pos 0 do not move the position; ROTATE sets it. */
    if (ev.type != BINLOG_ROTATE && ev.type != BINLOG_HEARTBEAT && ev.type != BINLOG_HEARTBEAT_V2 &&
        !(ev.flags & BINLOG_F_ARTIFICIAL) && ev.log_pos != 0)
        dec->pos = ev.log_pos;
    return 0;
}

int binlog_decoder_feed(binlog_decoder_t *dec, rl_slice ev, rl_err *err)
{
    if (dec->fail_code) {
        if (err)
            *err = dec->fail;
        return dec->fail_code;
    }
    rl_err e;
    e.code = 0;
    e.msg[0] = '\0';
    int rc = feed_one(dec, ev, &e);
    if (rc < 0) {
        e.code = rc;
        dec->fail = e;
        dec->fail_code = rc;
        if (err)
            *err = e;
        return rc;
    }
    return 0;
}
