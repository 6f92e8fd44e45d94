/*
 * snapshot_int.h - internals shared by reader/snapshot.c (connections, catalog, threads) and
 * reader/snapshot_render.c (text-protocol values to the decoder's JSON). Other modules never
 * include this file (STYLE rule 2).
 *
 * Threading: a snap_table is built by binlog_snapshot_open and then only read, except its
 * resume fields (set before binlog_snapshot_run); rendering buffers belong to one reader
 * thread each.
 */
#ifndef BINLOG_SNAPSHOT_INT_H
#define BINLOG_SNAPSHOT_INT_H

#include "reader/snapshot.h"

/* How a column's text-protocol value becomes JSON (docs/events.md, per type). */
enum snap_kind {
    SNAP_K_INT = 1,   /* integer text as is (signed or unsigned) */
    SNAP_K_DECIMAL,   /* DECIMAL text quoted as is: the server prints exactly `scale` digits */
    SNAP_K_FLOAT,     /* selected as CAST(c AS DOUBLE): exact; printed as the shortest float */
    SNAP_K_DOUBLE,    /* shortest round-trip double, as rows.c put_double */
    SNAP_K_DATE,      /* "YYYY-MM-DD" quoted */
    SNAP_K_TIME,      /* "[-]HH:MM:SS[.f]" quoted */
    SNAP_K_DATETIME,  /* "YYYY-MM-DD HH:MM:SS[.f]" -> "YYYY-MM-DDTHH:MM:SS[.f]" */
    SNAP_K_TIMESTAMP, /* read with time_zone +00:00, -> "...Z"; the zero value is the epoch */
    SNAP_K_YEAR,      /* number; "0000" is 0 */
    SNAP_K_TEXT,      /* string in the column's character set (see snap_col.latin1) */
    SNAP_K_BYTES,     /* base64 (binary strings, blobs, geometry) */
    SNAP_K_BIT,       /* base64 of (bits + 7) / 8 bytes, left-padded with zeros */
    SNAP_K_ENUM,      /* the label as a string */
    SNAP_K_SET,       /* array of labels ("a,c" -> ["a","c"]) */
};

typedef struct snap_col {
    char *name;        /* raw column name (utf8) */
    uint32_t name_off; /* `"name":` in snap_table.strs */
    uint32_t name_len;
    uint8_t kind;    /* enum snap_kind */
    bool latin1;     /* TEXT/ENUM/SET in a latin1 character set: read as cp1252 */
    bool convert;    /* ENUM/SET in another non-UTF-8 character set: selected as
                        CONVERT(c USING utf8mb4), the server's conversion to UTF-8 */
    int cs;          /* BINLOG_CS_* of the collation (reader/rows_int.h), 0 unknown */
    bool keyset_ok;  /* usable in a keyset predicate (ordering of the literal = of ORDER BY) */
    bool json;       /* SNAP_K_TEXT that is a MariaDB JSON column (LONGTEXT with CHECK
                        json_valid(`c`)), marked only with source.schema_history on, as the
                        decoder's BINLOG_COL_JSON_TEXT: the text becomes its JSON value */
    uint32_t bits;   /* BIT(n): n */
    char *charset;   /* CHARACTER_SET_NAME or NULL */
    char *collation; /* COLLATION_NAME or NULL */
} snap_col;

typedef struct snap_table {
    char *db, *name;
    snap_col *cols;
    uint32_t ncols;
    uint32_t *keys; /* primary-key column indexes in key order */
    uint32_t nkeys; /* 0: no primary key: the key is every column, one streamed pass */
    bool chunked;   /* keyset pagination usable (a primary key of orderable types) */
    uint64_t rows_est;
    rl_buf strs; /* topic, column names, the `"db":..,"table":..` part */
    uint32_t topic_off, topic_len;
    uint32_t tail_off, tail_len; /* `,"gtid":..,"db":..,"table":..,"ts_ms":..,"snapshot":` */
    char *select_sql;            /* "SELECT <cols> FROM `db`.`table`" */
    char *order_sql;             /* " ORDER BY `k1`,`k2`" ("" without a key) */
    /* Resume state (binlog_snapshot_resume_table). */
    bool resumed, done;
    rl_buf token; /* hex values of the last key read ("" = from the start) */
    uint64_t rows_done, chunks_done;
} snap_table;

/* snapshot_render.c */

/* Appends the JSON of one non-NULL value (p, n: the text-protocol bytes, results in the
 * column's own character set). dec (may be NULL: raw bytes as UTF-8) is a decoder used only
 * for its character-set converters, one per thread. scratch: two buffers of the caller's
 * (this thread's), reused across calls; used only for a json column (snap_col.json), whose
 * JSON string is rendered into scratch[0] and then turned into the value the stream writes by
 * binlog__put_json_from_str (reader/rows_int.h); may be NULL when no column is json (a json
 * column then renders as its string). Returns 0, RL_ECORRUPT (text that does not parse as the
 * column's type; err names table and column), -ENOMEM. */
int binlog__snap_value(rl_buf *b, binlog_decoder_t *dec, rl_buf *scratch, const snap_table *t,
                       uint32_t ci, const char *p, size_t n, rl_err *err);
/* Appends an SQL literal for a key value (raw bytes p, n of column ci) that compares in the
 * column's ordering: numbers as is, temporal values quoted, strings as
 * _charset X'..' COLLATE collation, binary strings as X'..'. Returns 0, RL_ECORRUPT. */
int binlog__snap_literal(rl_buf *b, const snap_col *c, const uint8_t *p, size_t n, rl_err *err);
/* Appends `name` as a quoted SQL identifier (backticks doubled). */
void binlog__snap_ident(rl_buf *b, const char *name);

#endif /* BINLOG_SNAPSHOT_INT_H */
