/*
 * rows_int.h - reader/ internals of column decoding shared by rows.c, tablemap.c, charset.c
 * and json_binary.c (MySQL binary JSON, JSON diffs, character-set conversion). Other modules
 * never include this file (STYLE rule 2); binlog_int.h holds the decoder itself.
 *
 * Threading: everything here is used by the decoder's thread only.
 * Ownership: struct binlog_charsets (dec->charsets) is created on first use by
 * binlog__charsets_get and freed by binlog__charsets_free; it owns the iconv converters and the
 * scratch buffers below, reused across values (no allocation per row once warm).
 */
#ifndef ROWS_INT_H
#define ROWS_INT_H

#include "reader/binlog_int.h"

/* Bytes of a NEWDECIMAL digit group of n (0-9) digits (strings/decimal.c dig2bytes). */
extern const uint8_t binlog__dig2bytes[10];

/* Writes the decimal of a MySQL binary DECIMAL (strings/decimal.c bin2decimal) of precision
 * `prec` and scale `scale` (src holds `size` bytes = its storage size) as text with exactly
 * `scale` fractional digits, no quotes, into out (at least 160 bytes). Returns the text's
 * length, or -1 when a digit group is out of range. */
int binlog__decimal_text(char *out, const uint8_t *src, unsigned prec, unsigned scale, size_t size);

/* Appends the shortest decimal that reads back as the same float32 (a JSON number). */
void binlog__put_float(rl_buf *b, float f);
/* Appends the shortest decimal that reads back as d (fixed notation for 1e-4 <= |d| < 1e15,
 * else the first of %.15g..%.17g that reads back): the JSON of a DOUBLE column. d finite.
 * The snapshot renders DOUBLE and FLOAT values through it, so both agree byte for byte. */
void binlog__put_double(rl_buf *b, double d);
/* Appends the topic "prefix.db.table" with bytes outside [A-Za-z0-9._-] (Kafka's legal set)
 * replaced by '_' (tablemap.c; the snapshot builds its topics with it too). Errors stick in b. */
void binlog__put_topic(rl_buf *b, const char *prefix, rl_slice db, rl_slice table);

/* Check-only decoding, for benchmarks ("decode alone", bench/decode.c) and tests: while on,
 * rows events are walked exactly as for rendering (post-header, table map, bitmaps, every
 * present value's length and range checks, MariaDB compressed rows inflated) and fail with the
 * same errors, but no JSON is built and on_change is not called; binlog__rows_checked counts
 * the rows walked. Binary JSON documents are length-checked only. Off by default; the
 * decoder's thread only. Out of memory leaves it off. */
/* rows.c: "00" "01" ... "99", for binlog__raw_u64. */
extern const char binlog__digits2[201];

/* Appends v in decimal, two digits per division; the caller has reserved 20 bytes in b (no
 * capacity check here: the hot paths of rows.c and the snapshot reserve once per row). */
static inline void binlog__raw_u64(rl_buf *b, uint64_t v)
{
    char t[20];
    char *e = t + sizeof t, *p = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, binlog__digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, binlog__digits2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    memcpy(b->p + b->len, p, (size_t)(e - p));
    b->len += (size_t)(e - p);
}

void binlog__rows_set_check_only(binlog_decoder_t *dec, bool on);

/* rows.c: a JSON column's value from its JSON string (`jstr`, quoted, as rl_buf_json_str or
 * binlog__put_charset_text wrote it): appends the JSON value the decoder emits for a
 * BINLOG_COL_JSON_TEXT column (the text minified; the document null as the string "null"),
 * or jstr itself when its text is not one JSON text (docs/events.md). scratch is the
 * caller's, reused across calls. Used by the snapshot so both agree byte for byte.
 * Returns 0 or -ENOMEM. */
int binlog__put_json_from_str(rl_buf *b, rl_buf *scratch, const uint8_t *jstr, size_t n);
uint64_t binlog__rows_checked(const binlog_decoder_t *dec);

/* ------------------------------------------------------------------ MySQL binary JSON */

enum {
    BINLOG_JSON_MAX_DEPTH = 100, /* JSON_DOCUMENT_MAX_DEPTH, sql-common/json_syntax_check.h */
};

/* One node of a JSON document being patched (PARTIAL_UPDATE_ROWS). Children form a list
 * (first/next are node indexes, UINT32_MAX = none); scalars keep their printed text. */
typedef struct binlog_jnode {
    uint8_t kind;              /* BINLOG_JN_* */
    uint32_t first;            /* first child */
    uint32_t next;             /* next sibling */
    size_t key_off, key_len;   /* member name (parent is an object), in binlog_charsets.jtext */
    size_t text_off, text_len; /* scalar: its JSON text in binlog_charsets.jtext */
} binlog_jnode;

enum { BINLOG_JN_SCALAR = 1, BINLOG_JN_ARRAY = 2, BINLOG_JN_OBJECT = 3 };

/* ------------------------------------------------------------------ character sets */

/* Character sets of text columns (charset.c). UTF8 covers utf8mb3 and utf8mb4, whose bytes are
 * copied; BINARY is base64; LATIN1 is read as cp1252 (binlog__json_latin1); the single-byte
 * ones convert by table, the multi-byte ones with iconv. */
enum binlog_charset {
    BINLOG_CS_UNKNOWN = 0,
    BINLOG_CS_UTF8,
    BINLOG_CS_BINARY,
    BINLOG_CS_LATIN1,
    BINLOG_CS_ASCII,
    /* Single-byte character sets, converted by table (charset.c sb_hi). */
    BINLOG_CS_DEC8,
    BINLOG_CS_CP850,
    BINLOG_CS_HP8,
    BINLOG_CS_KOI8R,
    BINLOG_CS_LATIN2,
    BINLOG_CS_SWE7,
    BINLOG_CS_HEBREW,
    BINLOG_CS_TIS620,
    BINLOG_CS_KOI8U,
    BINLOG_CS_GREEK,
    BINLOG_CS_CP1250,
    BINLOG_CS_LATIN5,
    BINLOG_CS_ARMSCII8,
    BINLOG_CS_CP866,
    BINLOG_CS_KEYBCS2,
    BINLOG_CS_MACCE,
    BINLOG_CS_MACROMAN,
    BINLOG_CS_CP852,
    BINLOG_CS_LATIN7,
    BINLOG_CS_CP1251,
    BINLOG_CS_CP1256,
    BINLOG_CS_CP1257,
    BINLOG_CS_GEOSTD8,
    /* Multi-byte character sets, converted by iconv. */
    BINLOG_CS_BIG5,
    BINLOG_CS_UJIS,
    BINLOG_CS_SJIS,
    BINLOG_CS_EUCKR,
    BINLOG_CS_GB2312,
    BINLOG_CS_GBK,
    BINLOG_CS_UCS2,
    BINLOG_CS_UTF16,
    BINLOG_CS_UTF16LE,
    BINLOG_CS_UTF32,
    BINLOG_CS_CP932,
    BINLOG_CS_EUCJPMS,
    BINLOG_CS_GB18030,
    BINLOG_CS_COUNT,
    BINLOG_CS_SB_FIRST = BINLOG_CS_DEC8,
    BINLOG_CS_SB_LAST = BINLOG_CS_GEOSTD8,
};

/* The character set of a MySQL or MariaDB collation id; BINLOG_CS_UNKNOWN for ids no server
 * defines (as far as this table knows). */
int binlog__charset_of(uint32_t collation);
/* MySQL's name of a character set ("gbk"); static storage. */
const char *binlog__charset_name(int cs);
/* Appends text bytes of character set cs as JSON: a string in UTF-8 (UTF8 copied as
 * rl_buf_json_str does, LATIN1 as cp1252, others through a cached iconv converter), base64
 * for BINARY, and when the bytes do not convert (or no converter exists) the object
 * {"_bytes_base64":"<the original bytes>","_charset":"<name>"} so nothing is lost.
 * Returns 0 or -ENOMEM. */
int binlog__put_charset_text(binlog_decoder_t *dec, rl_buf *b, int cs, const uint8_t *p, size_t n);

/* Per-decoder conversion state (dec->charsets). */
struct binlog_charsets {
    /* Character-set converters to UTF-8 (charset.c), one per charset, opened on first use. */
    void *cd[BINLOG_CS_COUNT];       /* iconv_t, or NULL */
    bool cd_failed[BINLOG_CS_COUNT]; /* iconv_open refused this charset */
    rl_buf conv;                     /* converted text of one value */
    /* MySQL binary JSON (json_binary.c). */
    rl_buf json;         /* one document's JSON text before it is quoted */
    rl_buf jtext;        /* scalar texts of a patched document */
    binlog_jnode *nodes; /* nodes of a patched document */
    size_t nnodes, nodes_cap;
    rl_slice *jbefore; /* per column: the before image's binary JSON (partial updates) */
    size_t jbefore_cap;
};

/* charset.c: returns dec->charsets, creating it; NULL on out of memory. */
struct binlog_charsets *binlog__charsets_get(binlog_decoder_t *dec);

/* json_binary.c: appends the JSON text of the MySQL binary JSON document `doc` to out, exactly
 * as MySQL prints it (sql-common/json_dom.cc wrapper_to_string: ", " and ": " separators,
 * doubles as my_gcvt plus ".0" when integral, opaque DECIMAL as a number, DATE/TIME/DATETIME/
 * TIMESTAMP as quoted "YYYY-MM-DD hh:mm:ss.ffffff", other opaque values as
 * "base64:typeN:..."). An empty document is the JSON null literal (json_binary.cc
 * parse_binary). The text is valid JSON: strings and keys must be valid UTF-8 (utf8mb4).
 * Returns 0, RL_ECORRUPT (an offset, size or type out of bounds, a string or key that is not
 * UTF-8, or nesting deeper than BINLOG_JSON_MAX_DEPTH; err says where in the document),
 * -ENOMEM. On error out may hold part of the text. */
int binlog__json_print(rl_buf *out, rl_slice doc, rl_err *err);

/* json_binary.c: applies the JSON diffs `diffs` (the value of a partial JSON column of a
 * PARTIAL_UPDATE_ROWS after image: operation u8 (0 REPLACE, 1 INSERT, 2 REMOVE), path
 * (packed length + MySQL JSON path text), and unless REMOVE the new value (packed length +
 * binary JSON), repeated to the end; mysql-server sql/json_diff.cc Json_diff_vector::
 * read_binary) to the binary document `before` and appends the new document's JSON text to
 * out. cs provides the scratch storage. Returns 0, RL_ECORRUPT (bad diff, path or document,
 * or a path the document lacks), -ENOMEM. */
int binlog__json_apply_diffs(struct binlog_charsets *cs, rl_slice before, rl_slice diffs,
                             rl_buf *out, rl_err *err);

#endif /* ROWS_INT_H */
