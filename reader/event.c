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
 * MariaDB GTID (162): seq_no u64, domain_id u32, flags2 u8 (0x01 STANDALONE, 0x02 GROUP_COMMIT_ID,
 *            0x40 PREPARED_XA, 0x80 COMPLETED_XA), then commit_id u64 (0x02) or XID.
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

/* ------------------------------------------------------------------ life cycle */

static void set_file_json(binlog_decoder_t *dec)
{
    rl_buf_reset(&dec->file_json);
    rl_buf_json_str(&dec->file_json, dec->file, strlen(dec->file));
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
        dec->h = *handler;
    dec->max_event_bytes = opts && opts->max_event_bytes ? opts->max_event_bytes : (1u << 30);
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

/* Ends the current transaction: advances the GTID state and reports the checkpoint. */
static int txn_commit(binlog_decoder_t *dec, const binlog_event *ev, rl_err *err)
{
    if (dec->have_mgtid) {
        if (binlog__gtid_state_put(dec, dec->mgtid, false) < 0)
            return rl_err_set(err, -ENOMEM, "out of memory updating the GTID state");
    }
    const char *state = binlog__gtid_state_text(dec);
    if (!state)
        return rl_err_set(err, -ENOMEM, "out of memory formatting the GTID state");
    binlog_checkpoint cp = {dec->file, ev->log_pos ? ev->log_pos : dec->pos, state, dec->gtid};
    int rc = 0;
    if (dec->h.on_commit)
        rc = dec->h.on_commit(dec->h.ctx, &cp);
    dec->in_txn = false;
    dec->standalone = false;
    dec->have_mgtid = false;
    dec->gtid[0] = '\0';
    binlog__tables_trim(dec);
    if (rc < 0)
        return rl_err_set(err, rc, "on_commit handler returned %d (%s)", rc, rl_strerror(rc));
    return 0;
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
    rl_reader_skip(rd, db_len);
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
    /* MySQL XA: XA START opens the group (rows, XA END, then XA_PREPARE or
     * XA COMMIT ... ONE PHASE follow). */
    if (sql_is(sql, "BEGIN") || sql_starts(sql, "XA START") || sql_starts(sql, "XA BEGIN")) {
        dec->in_txn = true;
        return 0;
    }
    if (sql_is(sql, "COMMIT") || sql_is(sql, "ROLLBACK") || sql_starts(sql, "XA COMMIT") ||
        sql_starts(sql, "XA ROLLBACK"))
        return txn_commit(dec, ev, err);
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
    if (flags2 & (0x40 | 0x80)) {
        rl_reader_skip(rd, 4); /* XID format_id */
        uint8_t gl = rl_get_u8(rd), bl = rl_get_u8(rd);
        if (gl + bl > 128)
            return rl_err_set(err, RL_ECORRUPT, "GTID with an XID of %u+%u bytes (max 128)", gl,
                              bl);
        rl_reader_skip(rd, (size_t)gl + bl);
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
        return 0;
    }
    static const char hex[] = "0123456789abcdef";
    char *o = dec->gtid;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[sid.p[i] >> 4];
        *o++ = hex[sid.p[i] & 15];
    }
    snprintf(o, sizeof dec->gtid - (size_t)(o - dec->gtid), ":%lld", (long long)gno);
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
    uint8_t head[BINLOG_HEADER_LEN];
    memcpy(head, ev.p, sizeof head);
    if (clear_in_use)
        head[17] &= (uint8_t)~BINLOG_F_IN_USE;
    uint32_t crc = rl_crc32(0, head, sizeof head);
    crc = rl_crc32(crc, ev.p + BINLOG_HEADER_LEN, ev.len - BINLOG_HEADER_LEN - BINLOG_CRC_LEN);
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

static int dispatch(binlog_decoder_t *dec, const binlog_event *ev, rl_slice body, rl_err *err);

/* Reads the common header of an event (raw holds at least the 19 bytes). */
static void parse_header(binlog_decoder_t *dec, rl_slice raw, binlog_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->raw = raw;
    rl_reader rd = rl_reader_make(raw);
    ev->timestamp = rl_get_u32le(&rd);
    ev->type = rl_get_u8(&rd);
    ev->server_id = rl_get_u32le(&rd);
    ev->size = rl_get_u32le(&rd);
    ev->log_pos = rl_get_u32le(&rd);
    ev->flags = rl_get_u16le(&rd);
    ev->post_len = dec->post_len[ev->type];
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
    case BINLOG_INCIDENT:
        return on_incident(ev, &rd, err);
    case BINLOG_TRANSACTION_PAYLOAD:
        return on_payload(dec, ev, &rd, err);
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
    case BINLOG_ROWS_QUERY:
    case BINLOG_PREVIOUS_GTIDS:
    case BINLOG_TRANSACTION_CONTEXT:
    case BINLOG_VIEW_CHANGE:
    case BINLOG_MARIA_ANNOTATE_ROWS:
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        return 0;
    case BINLOG_PRE_GA_WRITE_ROWS:
    case BINLOG_PRE_GA_UPDATE_ROWS:
    case BINLOG_PRE_GA_DELETE_ROWS:
    case BINLOG_XA_PREPARE:
    case BINLOG_GTID_TAGGED:
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
