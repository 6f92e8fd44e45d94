/*
 * binlog_int.h - reader/ internals shared by event.c, tablemap.c, rows.c, gtid.c and file.c.
 * Other modules never include this file (STYLE rule 2).
 *
 * Threading: a decoder and everything it owns is used by one thread at a time.
 * Ownership: the decoder owns its table cache (binlog_table, copied TABLE_MAP bodies), its
 * output buffers and its GTID state; slices handed to callbacks point into those buffers.
 */
#ifndef BINLOG_INT_H
#define BINLOG_INT_H

#include "reader/binlog.h"
#include "reader/gtid_set.h"

enum {
    BINLOG_HEADER_LEN = 19, /* v4 common header */
    BINLOG_CRC_LEN = 4,
    BINLOG_MAX_COLUMNS = 4096,     /* MAX_FIELDS in mysql-server and MariaDB sql/unireg.h */
    BINLOG_TABLE_CACHE_MAX = 1024, /* inactive table maps above this are dropped at commit */
    BINLOG_STMT_WARN_MAX = 1024,   /* tables remembered for the statement-DML warning */
};

/* Event types: mysql-server libs/mysql/binlog/event/binlog_event.h (Log_event_type),
 * MariaDB sql/log_event.h. */
enum binlog_event_type {
    BINLOG_START_V3 = 1,
    BINLOG_QUERY = 2,
    BINLOG_STOP = 3,
    BINLOG_ROTATE = 4,
    BINLOG_INTVAR = 5,
    BINLOG_LOAD = 6,
    BINLOG_SLAVE = 7,
    BINLOG_CREATE_FILE = 8,
    BINLOG_APPEND_BLOCK = 9,
    BINLOG_EXEC_LOAD = 10,
    BINLOG_DELETE_FILE = 11,
    BINLOG_NEW_LOAD = 12,
    BINLOG_RAND = 13,
    BINLOG_USER_VAR = 14,
    BINLOG_FORMAT_DESCRIPTION = 15,
    BINLOG_XID = 16,
    BINLOG_BEGIN_LOAD_QUERY = 17,
    BINLOG_EXECUTE_LOAD_QUERY = 18,
    BINLOG_TABLE_MAP = 19,
    BINLOG_PRE_GA_WRITE_ROWS = 20,
    BINLOG_PRE_GA_UPDATE_ROWS = 21,
    BINLOG_PRE_GA_DELETE_ROWS = 22,
    BINLOG_WRITE_ROWS_V1 = 23,
    BINLOG_UPDATE_ROWS_V1 = 24,
    BINLOG_DELETE_ROWS_V1 = 25,
    BINLOG_INCIDENT = 26,
    BINLOG_HEARTBEAT = 27,
    BINLOG_IGNORABLE = 28,
    BINLOG_ROWS_QUERY = 29,
    BINLOG_WRITE_ROWS_V2 = 30,
    BINLOG_UPDATE_ROWS_V2 = 31,
    BINLOG_DELETE_ROWS_V2 = 32,
    BINLOG_GTID = 33,
    BINLOG_ANONYMOUS_GTID = 34,
    BINLOG_PREVIOUS_GTIDS = 35,
    BINLOG_TRANSACTION_CONTEXT = 36,
    BINLOG_VIEW_CHANGE = 37,
    BINLOG_XA_PREPARE = 38,
    BINLOG_PARTIAL_UPDATE_ROWS = 39,
    BINLOG_TRANSACTION_PAYLOAD = 40,
    BINLOG_HEARTBEAT_V2 = 41,
    BINLOG_GTID_TAGGED = 42,
    BINLOG_MARIA_ANNOTATE_ROWS = 160,
    BINLOG_MARIA_BINLOG_CHECKPOINT = 161,
    BINLOG_MARIA_GTID = 162,
    BINLOG_MARIA_GTID_LIST = 163,
    BINLOG_MARIA_START_ENCRYPTION = 164,
    BINLOG_MARIA_QUERY_COMPRESSED = 165,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED = 169,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED = 170,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED = 171,
};

/* Common header flags (binlog_event.h LOG_EVENT_*_F). */
enum {
    BINLOG_F_IN_USE = 0x0001,
    BINLOG_F_ARTIFICIAL = 0x0020,
    BINLOG_F_IGNORABLE = 0x0080,
};

/* Rows event flags (rows_event.h enum_flag). */
enum { BINLOG_ROWS_STMT_END = 0x0001 };

/* Column types (mysql-server include/field_types.h enum_field_types). */
enum binlog_col_type {
    BINLOG_T_DECIMAL = 0,
    BINLOG_T_TINY = 1,
    BINLOG_T_SHORT = 2,
    BINLOG_T_LONG = 3,
    BINLOG_T_FLOAT = 4,
    BINLOG_T_DOUBLE = 5,
    BINLOG_T_NULL = 6,
    BINLOG_T_TIMESTAMP = 7,
    BINLOG_T_LONGLONG = 8,
    BINLOG_T_INT24 = 9,
    BINLOG_T_DATE = 10,
    BINLOG_T_TIME = 11,
    BINLOG_T_DATETIME = 12,
    BINLOG_T_YEAR = 13,
    BINLOG_T_NEWDATE = 14,
    BINLOG_T_VARCHAR = 15,
    BINLOG_T_BIT = 16,
    BINLOG_T_TIMESTAMP2 = 17,
    BINLOG_T_DATETIME2 = 18,
    BINLOG_T_TIME2 = 19,
    BINLOG_T_TYPED_ARRAY = 20,
    BINLOG_T_VECTOR = 242,
    BINLOG_T_JSON = 245,
    BINLOG_T_NEWDECIMAL = 246,
    BINLOG_T_ENUM = 247,
    BINLOG_T_SET = 248,
    BINLOG_T_TINY_BLOB = 249,
    BINLOG_T_MEDIUM_BLOB = 250,
    BINLOG_T_LONG_BLOB = 251,
    BINLOG_T_BLOB = 252,
    BINLOG_T_VAR_STRING = 253,
    BINLOG_T_STRING = 254,
    BINLOG_T_GEOMETRY = 255,
};

/* binlog_col.flags */
enum {
    BINLOG_COL_UNSIGNED = 0x01, /* SIGNEDNESS bit set */
    BINLOG_COL_CHARSET = 0x02,  /* a collation is known (charset metadata) */
    BINLOG_COL_BINARY = 0x04,   /* collation 63 (binary): bytes, emitted as base64 */
    BINLOG_COL_LATIN1 = 0x08,   /* a latin1 collation: converted to UTF-8 as cp1252 */
    BINLOG_COL_STRS = 0x10,     /* ENUM/SET strings known (str_first/str_count valid) */
    BINLOG_COL_JSON_TEXT = 0x20, /* a text column (BLOB/VARCHAR/STRING with a charset) that
                                    the table's schema declares JSON (MariaDB's JSON is an
                                    alias of LONGTEXT CHECK (json_valid(c))): emitted as a JSON
                                    value when its text is valid JSON, else as a string */
    BINLOG_COL_HIRES = 0x40,     /* MariaDB 5.3's TIME(n)/DATETIME(n)/TIMESTAMP(n), n > 0 (a
                                    table created with mysql56_temporal_format=OFF): the binlog
                                    says TIME/DATETIME/TIMESTAMP with no metadata; the schema
                                    gives n (in meta8), hence the size (rows.c get_hires) */
};

/* One column of a table map, decoded once when the TABLE_MAP is cached. */
typedef struct binlog_col {
    uint8_t type;      /* value type: the real type (ENUM/SET/STRING resolved from metadata) */
    uint8_t map_type;  /* the type byte as written in the TABLE_MAP */
    uint8_t flags;     /* BINLOG_COL_* */
    uint8_t meta8;     /* fsp (TIME2/DATETIME2/TIMESTAMP2), pack length (BLOB, GEOMETRY, JSON,
                          ENUM, SET), scale (NEWDECIMAL), FLOAT/DOUBLE size */
    uint32_t len;      /* CHAR/BINARY/VARCHAR byte length, BIT bit count, NEWDECIMAL precision */
    uint32_t bin_size; /* NEWDECIMAL storage size in bytes */
    uint16_t charset;  /* collation id (0 = unknown) */
    uint32_t name_off; /* `"name":` in binlog_table.strs */
    uint32_t name_len;
    uint32_t str_first; /* ENUM/SET strings: index into binlog_table.str_offs */
    uint32_t str_count;
} binlog_col;

/* A cached TABLE_MAP. `raw` is the copied post-header + body (no CRC); db/table point into
 * it. `strs` holds rendered JSON snippets referenced by offset. */
typedef struct binlog_table {
    uint64_t id;
    uint64_t gen; /* mapped in the current statement when equal to the decoder's stmt_gen */
    uint8_t *raw;
    size_t raw_len;
    rl_slice db;
    rl_slice table;
    uint32_t ncols;
    binlog_col *cols;
    uint32_t *keys;     /* primary-key column indexes in key order */
    uint32_t nkeys;     /* 0: no primary key known, the key is every column */
    uint32_t *str_offs; /* ENUM/SET strings: (offset, length) pairs in strs, quoted JSON */
    uint32_t nstrs;
    rl_buf strs;
    uint32_t topic_off, topic_len;     /* "prefix.db.table" (sanitized) */
    uint32_t dbtable_off, dbtable_len; /* `"db":"..","table":".."` */
    uint64_t schema_gen; /* the decoder's schema_gen when parsed: a DDL since forces a
                            re-parse of an identical TABLE_MAP */
} binlog_table;

/* One MariaDB GTID, text form "domain-server-seq". */
typedef struct binlog_gtid {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
} binlog_gtid;

/* The event being decoded (header fields and where it sits). */
typedef struct binlog_event {
    rl_slice raw;       /* the whole event as received */
    uint32_t timestamp; /* seconds */
    uint8_t type;
    uint32_t server_id;
    uint32_t size;    /* event_size */
    uint64_t log_pos; /* end of the event in its binlog file; 0 when unknown. For an event
                         inside a TRANSACTION_PAYLOAD: the payload event's log_pos */
    uint16_t flags;
    uint8_t post_len; /* post-header length from the FORMAT_DESCRIPTION in force */
    bool inner;       /* inside a TRANSACTION_PAYLOAD: source.pos is src_pos and rows are
                         numbered across the payload (binlog_decoder.inner_row) */
    uint64_t src_pos; /* inner events: start offset of the payload event */
} binlog_event;

struct binlog_decoder {
    binlog_handler h;      /* what the decoder calls: counting trampolines around user_h */
    binlog_handler user_h; /* the caller's handler */
    binlog_xa_handler xa_h; /* the caller's XA callbacks (both set, or both NULL) */
    char *topic_prefix;
    rl_buf source_json; /* `,"source":{"name":"..."` */
    size_t max_event_bytes;

    /* Position. */
    char file[256];
    rl_buf file_json; /* the file name as a JSON string */
    uint64_t pos;

    /* FORMAT_DESCRIPTION in force. */
    bool have_fde;
    bool crc;        /* events carry a CRC32 */
    bool expect_crc; /* before the first FDE */
    bool mariadb;    /* server_version says MariaDB */
    char server_version[51];
    uint8_t post_len[256];

    /* Transaction state. */
    bool in_txn;     /* BEGIN seen, or a MariaDB GTID group that is not standalone */
    bool standalone; /* MariaDB GTID with FL_STANDALONE: the next QUERY ends the group */
    bool have_mgtid; /* mgtid holds this group's MariaDB GTID */
    binlog_gtid mgtid;
    bool xa_group; /* the open group is an XA transaction (XA START, or a MariaDB GTID
                      flagged FL_PREPARED_XA): its changes carry xa_xid */
    char xa_xid[BINLOG_XID_TEXT_MAX]; /* canonical XID of the open XA group */
    char gtid[96]; /* this transaction's GTID text, "" when none: "d-s-n", "uuid:gno" or
                      "uuid:tag:gno" (36 + 1 + 32 + 1 + 19 bytes at most) */

    /* MySQL GTID state: the executed set after the last commit (seeded by
     * binlog_decoder_set_gtid_state, else by the first PREVIOUS_GTIDS), and the GTID of the
     * open transaction, added to it at commit. */
    binlog_gtid_set *mset;
    bool mset_seeded; /* a seed or a PREVIOUS_GTIDS was taken: later PREVIOUS_GTIDS ignored */
    bool have_mysql_gtid;
    uint8_t muuid[16];
    char mtag[BINLOG_GTID_TAG_MAX + 1];
    size_t mtag_len;
    uint64_t mgno;
    rl_buf mset_text;

    /* Statement-format DML seen in QUERY events: tables already warned about ("db.table"
     * NUL-separated in warned, at most BINLOG_STMT_WARN_MAX names), and counters. */
    rl_buf warned;
    uint32_t nwarned;

    /* source.query (binlog_decoder_opts.source_query): the statement of the current rows as a
     * quoted JSON string, empty when none. Set by event.c at ROWS_QUERY / ANNOTATE_ROWS,
     * cleared at the end of the transaction; rows.c writes it as `,"query":` + rows_query. */
    bool source_query;
    rl_buf rows_query;
    binlog_decoder_stats stats;

    /* Schema history (schema.c; NULL: names from TABLE_MAP metadata alone). schema_gen moves
     * at each DDL; schema_key/value/tmp hold the schema-change event being emitted. */
    struct binlog_schema *schema;
    bool schema_caller_commits; /* binlog_decoder_set_schema_commit */
    uint64_t schema_gen;
    rl_buf schema_key, schema_value, schema_tmp;

    /* MariaDB GTID state (sorted by domain) and its text. */
    binlog_gtid *gstate;
    size_t gstate_n, gstate_cap;
    rl_buf gstate_text;

    /* Table-map cache: open addressing on the table id. A statement end (STMT_END_F)
     * increments stmt_gen, which unmaps every table at once. */
    binlog_table **tabs;
    size_t tabs_cap, tabs_n;
    uint64_t stmt_gen;

    /* Row output, reused across rows (no malloc per row). */
    rl_buf img[2];     /* before/after image JSON objects */
    size_t *colpos[2]; /* per column: (offset, length) of its value text in img, or SIZE_MAX */
    size_t colpos_cap; /* columns allocated in colpos */
    rl_buf key, key2, value, head, tail;

    /* Decompression (compress.c), buffers reused across events: zbuf for MariaDB compressed
     * events, pbuf for the events of a MySQL TRANSACTION_PAYLOAD (inner events are decoded
     * while pbuf holds them, and never use zbuf). */
    uint8_t *zbuf, *pbuf;
    size_t zbuf_cap, pbuf_cap;
    void *zstd;         /* ZSTD_DCtx, created at the first payload */
    uint64_t inner_row; /* rows decoded so far in the current TRANSACTION_PAYLOAD */

    /* rows.c's own state (caches, scratch), defined in rows.c; freed by binlog__rows_free. */
    struct binlog_rows_state *rows_state;

    /* Character-set converters to UTF-8 (charset.c), created on first use. */
    struct binlog_charsets *charsets;

    /* Sticky error. */
    int fail_code;
    rl_err fail;
};

/* rl_reader_sub that never forms NULL + 0 (undefined in C) when the parent is short: the
 * result is then an empty reader in error, and the parent's error is set. */
static inline rl_reader binlog__sub(rl_reader *rd, size_t n)
{
    if (rd->err || rl_reader_left(rd) < n) {
        rd->err = true;
        rl_reader r = {rd->p, rd->p, true};
        return r;
    }
    return rl_reader_sub(rd, n);
}

/* MySQL serialization framework variable-length integers (mysql-server
 * libs/mysql/serialization/variable_length_integers.h): the count of trailing one bits of the
 * first byte is the number of bytes that follow (8 ones: the value is the next 8 bytes, LE);
 * otherwise the value is the little-endian number made of all the bytes, shifted right by the
 * total byte count. Signed values are zigzag-encoded. Short input sets rd->err. */
static inline uint64_t binlog__get_varlen(rl_reader *rd)
{
    uint8_t b = rl_get_u8(rd);
    unsigned n = 1;
    while (n < 9 && ((b >> (n - 1)) & 1))
        n++;
    if (n == 1)
        return b >> 1;
    if (n == 9)
        return rl_get_u64le(rd);
    uint64_t v = b | rl_get_uNle(rd, n - 1) << 8;
    return v >> n;
}
static inline int64_t binlog__get_varlen_signed(rl_reader *rd)
{
    uint64_t u = binlog__get_varlen(rd);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* event.c */
/* Tests: binlog_file_next_transient's buffer unit in bytes (0: the default, 256 KiB), to
 * exercise events straddling or larger than the buffer. Before the first read. */
void binlog__file_set_buffer(binlog_file_t *f, size_t bytes);

const char *binlog__event_name(uint8_t type);

/* tablemap.c: decodes a TABLE_MAP (rd = post-header + body, CRC excluded) into the cache.
 * Returns 0, RL_ECORRUPT, RL_EUNSUPPORTED (a column type with unknown metadata), -ENOMEM. */
int binlog__table_map(binlog_decoder_t *dec, const binlog_event *ev, rl_slice post_and_body,
                      rl_err *err);
binlog_table *binlog__table_find(binlog_decoder_t *dec, uint64_t id);
/* End of statement: table maps must be sent again before the next rows event. */
void binlog__tables_end_statement(binlog_decoder_t *dec);
/* Drops inactive table maps when the cache holds more than BINLOG_TABLE_CACHE_MAX. */
void binlog__tables_trim(binlog_decoder_t *dec);
void binlog__tables_free(binlog_decoder_t *dec);
/* Name of a column type for messages ("NEWDECIMAL", "TIME2", ...). */
const char *binlog__type_name(uint8_t type);

/* schema.c: a DDL QUERY event (db = its default database, sql = its text, trimmed): records
 * and publishes the versions of the tables it changes. Returns 0, -ENOMEM, a provider error
 * or the handler's. */
int binlog__schema_on_query(binlog_decoder_t *dec, const binlog_event *ev, rl_slice db,
                            rl_slice sql, rl_err *err);
/* schema.c: the definition in force for the TABLE_MAP t (parsed, names not applied yet),
 * fetched and published at the table's first sight; *out NULL when the table is unknown to
 * the source. Checks column count and types: RL_ECORRUPT on a mismatch, unless have_names
 * (the TABLE_MAP carries COLUMN_NAME: it decodes without the schema): then a warning and
 * *out NULL. */
struct binlog_schema_table;
int binlog__schema_for_table(binlog_decoder_t *dec, const binlog_event *ev, const binlog_table *t,
                             bool have_names, const struct binlog_schema_table **out,
                             rl_err *err);

/* rows.c: JSON string of latin1 bytes read as cp1252 (MySQL's latin1), with quotes. */
void binlog__json_latin1(rl_buf *b, const uint8_t *p, size_t n);
/* True for the latin1 collation ids (latin1_* of mysys/charset-def and MariaDB's nopad ones). */
bool binlog__is_latin1(uint32_t collation);

/* rows.c: frees dec->rows_state (NULL allowed). */
void binlog__rows_free(binlog_decoder_t *dec);

/* rows.c: decodes a WRITE/UPDATE/DELETE rows event (v1 or v2) and calls on_change per row. */
int binlog__rows(binlog_decoder_t *dec, const binlog_event *ev, rl_slice post_and_body,
                 rl_err *err);

/* compress.c: inflates the compressed part of a MariaDB QUERY_COMPRESSED or compressed rows
 * event (header byte, big-endian length, zlib stream) into dec->zbuf; *out is valid until the
 * next call. Returns 0, RL_ECORRUPT (bad header, bad stream, length mismatch), RL_ETOOBIG
 * (declared length above max_event_bytes), -ENOMEM. */
int binlog__maria_uncompress(binlog_decoder_t *dec, rl_slice in, rl_slice *out, rl_err *err);
/* compress.c: decompresses a zstd TRANSACTION_PAYLOAD that must yield exactly len bytes into
 * dec->pbuf; *out is valid until the next call. Same errors. */
int binlog__zstd_uncompress(binlog_decoder_t *dec, rl_slice in, uint64_t len, rl_slice *out,
                            rl_err *err);
void binlog__compress_free(binlog_decoder_t *dec);

/* charset.c: frees dec->charsets (NULL allowed). */
void binlog__charsets_free(binlog_decoder_t *dec);

/* gtid.c: writes the canonical XID text (binlog_xid_parse) of formatID, gtrid and bqual
 * (lengths above 64 are cut to 64) into out, BINLOG_XID_TEXT_MAX bytes. */
void binlog__xid_format(char *out, int64_t format_id, const uint8_t *gtrid, size_t gl,
                        const uint8_t *bqual, size_t bl);

/* gtid.c: MariaDB GTID state. */
int binlog__gtid_state_put(binlog_decoder_t *dec, binlog_gtid g, bool only_if_absent);
/* Renders the state as "d-s-n,..." into dec->gstate_text; returns the NUL-terminated text or
 * NULL on OOM. */
const char *binlog__gtid_state_text(binlog_decoder_t *dec);

#endif /* BINLOG_INT_H */
