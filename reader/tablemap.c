/*
 * tablemap.c - TABLE_MAP events (19) and the table-map cache.
 *
 * Sources: mysql-server libs/mysql/binlog/event/rows_event.h (Table_map_event, enum
 * Optional_metadata_field_type), sql/log_event.cc (Table_map_log_event::init_*_field,
 * print_columns: which columns each optional field covers); MariaDB sql/log_event_server.cc.
 * Mirrored in docs/format-binlog.md. Integers little-endian unless noted; "packed" is the
 * length-encoded integer (0-250 inline, 252 u16, 253 u24, 254 u64).
 *
 * Post-header (8 bytes; 6 with a 4-byte table id when the FDE says 6)
 *   0   6    table_id
 *   6   2    flags
 * Body
 *   db_len u8, db, 0x00, table_len u8, table, 0x00
 *   column_count packed
 *   column_type[column_count] u8
 *   metadata_len packed, metadata: per column, by type
 *       FLOAT(4), DOUBLE(5)                      1 byte: pack length (4 / 8)
 *       TIMESTAMP2(17), DATETIME2(18), TIME2(19) 1 byte: fractional digits (0-6)
 *       BLOB(249-252), GEOMETRY(255), JSON(245),
 *       VECTOR(242)                              1 byte: length-prefix bytes (1-4)
 *       VARCHAR(15)                              2 bytes: max length u16 (bytes)
 *       BIT(16)                                  2 bytes: bits % 8, bits / 8
 *       NEWDECIMAL(246)                          2 bytes: precision, scale
 *       STRING(254), VAR_STRING(253), ENUM(247),
 *       SET(248)                                 2 bytes: real type, length; real type 247
 *                                                ENUM / 248 SET (length = pack length);
 *                                                else CHAR of length
 *                                                ((~b0 & 0x30) << 4) | b1 when
 *                                                (b0 & 0x30) != 0x30, else b1
 *       other types                              none
 *   null_bitmap[(column_count + 7) / 8]
 *   optional metadata to the end: fields of type u8, length packed, value
 *       1  SIGNEDNESS        bitmap, MSB first, one bit per numeric column (1 = unsigned).
 *                            Numeric: TINY SHORT INT24 LONG LONGLONG NEWDECIMAL FLOAT DOUBLE,
 *                            and on MariaDB also YEAR (a Field_num there)
 *       2  DEFAULT_CHARSET   packed default collation, then (packed index among character
 *                            columns, packed collation) pairs for the exceptions
 *       3  COLUMN_CHARSET    packed collation per character column. Character columns:
 *                            STRING (not ENUM/SET), VAR_STRING, VARCHAR, BLOB; MySQL also
 *                            VECTOR, MariaDB also GEOMETRY
 *       4  COLUMN_NAME       per column: packed length + name
 *       5  SET_STR_VALUE     per SET column: packed count, count x (packed length + string)
 *       6  ENUM_STR_VALUE    per ENUM column: same
 *       7  GEOMETRY_TYPE     per GEOMETRY column: packed type (not used)
 *       8  SIMPLE_PRIMARY_KEY       packed column indexes, in key order
 *       9  PRIMARY_KEY_WITH_PREFIX  (packed column index, packed prefix length) pairs
 *       10 ENUM_AND_SET_DEFAULT_CHARSET, 11 ENUM_AND_SET_COLUMN_CHARSET: as 2 and 3 over the
 *                            ENUM and SET columns
 *       13 VECTOR_DIMENSIONALITY  packed dimension (elements) per VECTOR column
 *       12 COLUMN_VISIBILITY, others: skipped by length
 *
 * The cache is keyed by table id; a new TABLE_MAP for an id replaces the old one, and one
 * byte-identical to the cached map only re-activates it (no parsing, no allocation).
 */
#include "reader/rows_int.h"
#include "reader/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    OPT_SIGNEDNESS = 1,
    OPT_DEFAULT_CHARSET = 2,
    OPT_COLUMN_CHARSET = 3,
    OPT_COLUMN_NAME = 4,
    OPT_SET_STR_VALUE = 5,
    OPT_ENUM_STR_VALUE = 6,
    OPT_GEOMETRY_TYPE = 7,
    OPT_SIMPLE_PRIMARY_KEY = 8,
    OPT_PRIMARY_KEY_WITH_PREFIX = 9,
    OPT_ENUM_AND_SET_DEFAULT_CHARSET = 10,
    OPT_ENUM_AND_SET_COLUMN_CHARSET = 11,
    OPT_VECTOR_DIMENSIONALITY = 13,
    OPT_MAX = 16,
};

enum { COLLATION_BINARY = 63 };

const char *binlog__type_name(uint8_t type)
{
    switch (type) {
    case BINLOG_T_DECIMAL:
        return "DECIMAL";
    case BINLOG_T_TINY:
        return "TINY";
    case BINLOG_T_SHORT:
        return "SHORT";
    case BINLOG_T_LONG:
        return "LONG";
    case BINLOG_T_FLOAT:
        return "FLOAT";
    case BINLOG_T_DOUBLE:
        return "DOUBLE";
    case BINLOG_T_NULL:
        return "NULL";
    case BINLOG_T_TIMESTAMP:
        return "TIMESTAMP";
    case BINLOG_T_LONGLONG:
        return "LONGLONG";
    case BINLOG_T_INT24:
        return "INT24";
    case BINLOG_T_DATE:
        return "DATE";
    case BINLOG_T_TIME:
        return "TIME";
    case BINLOG_T_DATETIME:
        return "DATETIME";
    case BINLOG_T_YEAR:
        return "YEAR";
    case BINLOG_T_NEWDATE:
        return "NEWDATE";
    case BINLOG_T_VARCHAR:
        return "VARCHAR";
    case BINLOG_T_BIT:
        return "BIT";
    case BINLOG_T_TIMESTAMP2:
        return "TIMESTAMP2";
    case BINLOG_T_DATETIME2:
        return "DATETIME2";
    case BINLOG_T_TIME2:
        return "TIME2";
    case BINLOG_T_TYPED_ARRAY:
        return "TYPED_ARRAY";
    case BINLOG_T_VECTOR:
        return "VECTOR";
    case BINLOG_T_JSON:
        return "JSON";
    case BINLOG_T_NEWDECIMAL:
        return "NEWDECIMAL";
    case BINLOG_T_ENUM:
        return "ENUM";
    case BINLOG_T_SET:
        return "SET";
    case BINLOG_T_TINY_BLOB:
        return "TINY_BLOB";
    case BINLOG_T_MEDIUM_BLOB:
        return "MEDIUM_BLOB";
    case BINLOG_T_LONG_BLOB:
        return "LONG_BLOB";
    case BINLOG_T_BLOB:
        return "BLOB";
    case BINLOG_T_VAR_STRING:
        return "VAR_STRING";
    case BINLOG_T_STRING:
        return "STRING";
    case BINLOG_T_GEOMETRY:
        return "GEOMETRY";
    default:
        return "UNKNOWN";
    }
}

/* ------------------------------------------------------------------ cache */

static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

binlog_table *binlog__table_find(binlog_decoder_t *dec, uint64_t id)
{
    if (!dec->tabs_cap)
        return NULL;
    for (size_t i = slot_of(id, dec->tabs_cap);; i = (i + 1) & (dec->tabs_cap - 1)) {
        binlog_table *t = dec->tabs[i];
        if (!t || t->id == id)
            return t;
    }
}

static void table_free(binlog_table *t)
{
    if (!t)
        return;
    free(t->raw);
    free(t->cols);
    free(t->keys);
    free(t->str_offs);
    rl_buf_free(&t->strs);
    free(t);
}

/* Rebuilds the hash with `cap` slots from the tables kept (drop_inactive: only the mapped). */
static int cache_rebuild(binlog_decoder_t *dec, size_t cap, bool drop_inactive)
{
    binlog_table **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < dec->tabs_cap; i++) {
        binlog_table *t = dec->tabs[i];
        if (!t)
            continue;
        if (drop_inactive && t->gen != dec->stmt_gen) {
            table_free(t);
            continue;
        }
        size_t k = slot_of(t->id, cap);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = t;
        n++;
    }
    free(dec->tabs);
    dec->tabs = slots;
    dec->tabs_cap = cap;
    dec->tabs_n = n;
    return 0;
}

/* Stores t, replacing a table with the same id. On failure t is not stored (caller frees). */
static int cache_put(binlog_decoder_t *dec, binlog_table *t)
{
    if ((dec->tabs_n + 1) * 2 > dec->tabs_cap) {
        int rc = cache_rebuild(dec, dec->tabs_cap ? dec->tabs_cap * 2 : 16, false);
        if (rc < 0)
            return rc;
    }
    size_t i = slot_of(t->id, dec->tabs_cap);
    while (dec->tabs[i] && dec->tabs[i]->id != t->id)
        i = (i + 1) & (dec->tabs_cap - 1);
    if (dec->tabs[i])
        table_free(dec->tabs[i]);
    else
        dec->tabs_n++;
    dec->tabs[i] = t;
    return 0;
}

void binlog__tables_end_statement(binlog_decoder_t *dec)
{
    dec->stmt_gen++;
    /* source.query belongs to this statement: a next one without its own ROWS_QUERY /
     * ANNOTATE_ROWS (the servers' settings are per session) must not inherit it. */
    rl_buf_reset(&dec->rows_query);
}

void binlog__tables_trim(binlog_decoder_t *dec)
{
    if (dec->tabs_n <= BINLOG_TABLE_CACHE_MAX)
        return;
    /* Out of memory here only keeps the old, larger cache. */
    (void)cache_rebuild(dec, dec->tabs_cap, true);
}

void binlog__tables_free(binlog_decoder_t *dec)
{
    for (size_t i = 0; i < dec->tabs_cap; i++)
        table_free(dec->tabs[i]);
    free(dec->tabs);
    dec->tabs = NULL;
    dec->tabs_cap = dec->tabs_n = 0;
}

/* ------------------------------------------------------------------ column classes */

/* Columns the charset fields cover. mysql-server sql/log_event.cc is_character_type: STRING,
 * VAR_STRING, VARCHAR, BLOB (and VECTOR since 9.0); MariaDB sql/log_event_client.cc adds
 * GEOMETRY ("base class is blob for geom type"), as local-mariadb-10.11__binlog.000004 shows
 * (13 collations for 11 text/blob columns and 2 GEOMETRY columns). */
static bool is_char_col(const binlog_col *c, bool mariadb)
{
    switch (c->type) {
    case BINLOG_T_STRING:
    case BINLOG_T_VAR_STRING:
    case BINLOG_T_VARCHAR:
    case BINLOG_T_TINY_BLOB:
    case BINLOG_T_MEDIUM_BLOB:
    case BINLOG_T_LONG_BLOB:
    case BINLOG_T_BLOB:
        return true;
    case BINLOG_T_GEOMETRY:
        return mariadb;
    case BINLOG_T_VECTOR:
        return !mariadb;
    default:
        return false;
    }
}

static bool is_enumset_col(const binlog_col *c, bool mariadb)
{
    (void)mariadb;
    return c->type == BINLOG_T_ENUM || c->type == BINLOG_T_SET;
}

static bool is_numeric_col(const binlog_col *c, bool mariadb)
{
    switch (c->type) {
    case BINLOG_T_TINY:
    case BINLOG_T_SHORT:
    case BINLOG_T_INT24:
    case BINLOG_T_LONG:
    case BINLOG_T_LONGLONG:
    case BINLOG_T_NEWDECIMAL:
    case BINLOG_T_FLOAT:
    case BINLOG_T_DOUBLE:
        return true;
    case BINLOG_T_YEAR:
        return mariadb; /* MariaDB's Field_year is a Field_tiny and reports its sign */
    default:
        return false;
    }
}

bool binlog__is_latin1(uint32_t collation)
{
    switch (collation) {
    case 5:    /* latin1_german1_ci */
    case 8:    /* latin1_swedish_ci */
    case 15:   /* latin1_danish_ci */
    case 31:   /* latin1_german2_ci */
    case 47:   /* latin1_bin */
    case 48:   /* latin1_general_ci */
    case 49:   /* latin1_general_cs */
    case 94:   /* latin1_spanish_ci */
    case 1032: /* MariaDB latin1_swedish_nopad_ci */
    case 1071: /* MariaDB latin1_nopad_bin */
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------------ parsing */

static int col_meta(binlog_col *c, uint8_t type, rl_reader *m, uint32_t idx, rl_err *err)
{
    c->map_type = type;
    c->type = type;
    switch (type) {
    case BINLOG_T_DECIMAL:
    case BINLOG_T_TINY:
    case BINLOG_T_SHORT:
    case BINLOG_T_LONG:
    case BINLOG_T_NULL:
    case BINLOG_T_TIMESTAMP:
    case BINLOG_T_LONGLONG:
    case BINLOG_T_INT24:
    case BINLOG_T_DATE:
    case BINLOG_T_TIME:
    case BINLOG_T_DATETIME:
    case BINLOG_T_YEAR:
    case BINLOG_T_NEWDATE:
        return 0;
    case BINLOG_T_FLOAT:
    case BINLOG_T_DOUBLE:
        c->meta8 = rl_get_u8(m);
        if (!m->err && c->meta8 != (type == BINLOG_T_FLOAT ? 4 : 8))
            return rl_err_set(err, RL_ECORRUPT, "column %u: %s with pack length %u", idx + 1,
                              binlog__type_name(type), c->meta8);
        return 0;
    case BINLOG_T_TIMESTAMP2:
    case BINLOG_T_DATETIME2:
    case BINLOG_T_TIME2:
        c->meta8 = rl_get_u8(m);
        if (!m->err && c->meta8 > 6)
            return rl_err_set(err, RL_ECORRUPT, "column %u: %s with %u fractional digits", idx + 1,
                              binlog__type_name(type), c->meta8);
        return 0;
    case BINLOG_T_TINY_BLOB:
    case BINLOG_T_MEDIUM_BLOB:
    case BINLOG_T_LONG_BLOB:
    case BINLOG_T_BLOB:
    case BINLOG_T_GEOMETRY:
    case BINLOG_T_JSON:
    case BINLOG_T_VECTOR:
        c->meta8 = rl_get_u8(m);
        if (!m->err && (c->meta8 < 1 || c->meta8 > 4))
            return rl_err_set(err, RL_ECORRUPT, "column %u: %s with a %u-byte length", idx + 1,
                              binlog__type_name(type), c->meta8);
        return 0;
    case BINLOG_T_VARCHAR:
        c->len = rl_get_u16le(m);
        return 0;
    case BINLOG_T_BIT: {
        uint8_t bits = rl_get_u8(m), bytes = rl_get_u8(m);
        c->len = (uint32_t)bytes * 8 + bits;
        if (!m->err && (bits > 7 || c->len == 0 || c->len > 64))
            return rl_err_set(err, RL_ECORRUPT, "column %u: BIT(%u bits + %u bytes)", idx + 1, bits,
                              bytes);
        return 0;
    }
    case BINLOG_T_NEWDECIMAL: {
        uint8_t prec = rl_get_u8(m), scale = rl_get_u8(m);
        if (m->err)
            return 0;
        if (prec == 0 || prec > 65 || scale > prec)
            return rl_err_set(err, RL_ECORRUPT, "column %u: DECIMAL(%u,%u)", idx + 1, prec, scale);
        unsigned intg = prec - scale;
        c->len = prec;
        c->meta8 = scale;
        c->bin_size = (intg / 9) * 4 + binlog__dig2bytes[intg % 9] + (scale / 9) * 4u +
                      binlog__dig2bytes[scale % 9];
        return 0;
    }
    case BINLOG_T_VAR_STRING:
    case BINLOG_T_STRING:
    case BINLOG_T_ENUM:
    case BINLOG_T_SET: {
        uint8_t b0 = rl_get_u8(m), b1 = rl_get_u8(m);
        if (m->err)
            return 0;
        if (type == BINLOG_T_ENUM || type == BINLOG_T_SET || b0 == BINLOG_T_ENUM ||
            b0 == BINLOG_T_SET) {
            c->type = (type == BINLOG_T_ENUM || type == BINLOG_T_SET) ? type : b0;
            c->meta8 = b1;
            if ((c->type == BINLOG_T_ENUM && (b1 < 1 || b1 > 2)) ||
                (c->type == BINLOG_T_SET && (b1 < 1 || b1 > 8)))
                return rl_err_set(err, RL_ECORRUPT, "column %u: %s of %u bytes", idx + 1,
                                  binlog__type_name(c->type), b1);
            return 0;
        }
        if (type == BINLOG_T_VAR_STRING) {
            /* As mysqlbinlog's log_event_print_value: the two bytes are the max length. */
            c->len = (uint32_t)b0 << 8 | b1;
            return 0;
        }
        c->type = BINLOG_T_STRING;
        if ((b0 & 0x30) != 0x30)
            c->len = b1 | (((uint32_t)(b0 & 0x30) ^ 0x30) << 4);
        else
            c->len = b1;
        return 0;
    }
    default:
        return rl_err_set(err, RL_EUNSUPPORTED, "column %u: column type %u (%s) is not decoded",
                          idx + 1, type, binlog__type_name(type));
    }
}

/* The optional metadata fields of one TABLE_MAP, as slices into its copy. */
typedef struct opt_fields {
    rl_slice f[OPT_MAX];
    bool have[OPT_MAX];
} opt_fields;

static void set_collation(binlog_col *c, uint64_t cs)
{
    c->charset = (uint16_t)cs;
    c->flags |= BINLOG_COL_CHARSET;
    c->flags &= (uint8_t) ~(BINLOG_COL_BINARY | BINLOG_COL_LATIN1);
    if (cs == COLLATION_BINARY)
        c->flags |= BINLOG_COL_BINARY;
    else if (binlog__is_latin1((uint32_t)cs))
        c->flags |= BINLOG_COL_LATIN1;
}

/* Applies a (COLUMN_CHARSET | DEFAULT_CHARSET) pair to the columns selected by `sel`. */
static int apply_charsets(binlog_table *t, const opt_fields *o, int def_type, int col_type,
                          bool (*sel)(const binlog_col *, bool), bool mariadb, uint32_t *idx,
                          rl_err *err)
{
    uint32_t nsel = 0;
    for (uint32_t i = 0; i < t->ncols; i++)
        if (sel(&t->cols[i], mariadb))
            idx[nsel++] = i;
    if (o->have[col_type]) {
        rl_reader r = rl_reader_make(o->f[col_type]);
        bool bad = false;
        for (uint32_t k = 0; k < nsel && !r.err && !bad; k++) {
            uint64_t cs = rl_get_lenenc(&r);
            if (cs > UINT16_MAX)
                bad = true; /* no such collation: the column's text would be misread */
            else if (!r.err)
                set_collation(&t->cols[idx[k]], cs);
        }
        if (r.err || bad || rl_reader_left(&r) != 0)
            return rl_err_set(err, RL_ECORRUPT,
                              "optional metadata %d does not list one valid collation for each of "
                              "the %u columns it covers",
                              col_type, nsel);
        return 0;
    }
    if (!o->have[def_type])
        return 0;
    rl_reader r = rl_reader_make(o->f[def_type]);
    uint64_t def = rl_get_lenenc(&r);
    if (r.err || def > UINT16_MAX)
        return rl_err_set(err, RL_ECORRUPT, "optional metadata %d: bad default collation",
                          def_type);
    for (uint32_t k = 0; k < nsel; k++)
        set_collation(&t->cols[idx[k]], def);
    while (rl_reader_left(&r) > 0) {
        uint64_t at = rl_get_lenenc(&r), cs = rl_get_lenenc(&r);
        if (r.err || at >= nsel || cs > UINT16_MAX)
            return rl_err_set(err, RL_ECORRUPT,
                              "optional metadata %d: exception for column %llu of %u", def_type,
                              (unsigned long long)at, nsel);
        set_collation(&t->cols[idx[at]], cs);
    }
    return 0;
}

/* Renders a string of ENUM/SET metadata as JSON text in the column's character set (as
 * rows.c renders text values). Returns 0, RL_EUNSUPPORTED (unknown collation), -ENOMEM. */
static int put_label(binlog_decoder_t *dec, rl_buf *b, const binlog_col *c, rl_slice s,
                     uint32_t idx, rl_err *err)
{
    /* Labels are DDL text: a binary collation keeps them as text, not base64. */
    int cs = BINLOG_CS_UTF8;
    if (c->flags & BINLOG_COL_BINARY)
        cs = BINLOG_CS_UTF8;
    else if (c->flags & BINLOG_COL_LATIN1)
        cs = BINLOG_CS_LATIN1;
    else if (c->flags & BINLOG_COL_CHARSET)
        cs = binlog__charset_of(c->charset);
    if (cs == BINLOG_CS_UNKNOWN)
        return rl_err_set(err, RL_EUNSUPPORTED, "column %u: unknown collation id %u", idx + 1,
                          c->charset);
    if (binlog__put_charset_text(dec, b, cs, s.p, s.len) < 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int parse_strvalues(binlog_decoder_t *dec, binlog_table *t, rl_slice f, uint8_t type,
                           int opt, rl_err *err)
{
    /* First pass counts, second renders: str_offs is sized once. */
    for (int pass = 0; pass < 2; pass++) {
        rl_reader r = rl_reader_make(f);
        uint32_t total = 0;
        for (uint32_t i = 0; i < t->ncols; i++) {
            binlog_col *c = &t->cols[i];
            if (c->type != type)
                continue;
            uint64_t cnt = rl_get_lenenc(&r);
            if (r.err || cnt > (type == BINLOG_T_SET ? 64u : 65535u) || cnt > rl_reader_left(&r))
                return rl_err_set(err, RL_ECORRUPT,
                                  "optional metadata %d: column %u lists %llu values", opt, i + 1,
                                  (unsigned long long)cnt);
            if (pass == 1) {
                c->str_first = t->nstrs;
                c->str_count = (uint32_t)cnt;
                c->flags |= BINLOG_COL_STRS;
            }
            for (uint64_t k = 0; k < cnt; k++) {
                uint64_t len = rl_get_lenenc(&r);
                rl_slice s = rl_get_bytes(&r, r.err ? 0 : (size_t)len);
                if (r.err)
                    return rl_err_set(err, RL_ECORRUPT,
                                      "optional metadata %d: value %llu of column %u does not "
                                      "fit",
                                      opt, (unsigned long long)k + 1, i + 1);
                if (pass == 1) {
                    uint32_t off = (uint32_t)t->strs.len;
                    int rc = put_label(dec, &t->strs, c, s, i, err);
                    if (rc < 0)
                        return rc;
                    t->str_offs[2 * (size_t)t->nstrs] = off;
                    t->str_offs[2 * (size_t)t->nstrs + 1] = (uint32_t)(t->strs.len - off);
                    t->nstrs++;
                }
            }
            total += (uint32_t)cnt;
        }
        if (rl_reader_left(&r) != 0)
            return rl_err_set(err, RL_ECORRUPT, "optional metadata %d has %zu bytes left over", opt,
                              rl_reader_left(&r));
        if (pass == 0 && total) {
            uint32_t *no = realloc(t->str_offs, ((size_t)t->nstrs + total) * 2 * sizeof *no);
            if (!no)
                return rl_err_set(err, -ENOMEM, "out of memory");
            t->str_offs = no;
        }
    }
    return 0;
}

static int parse_names(binlog_table *t, const opt_fields *o, const binlog_schema_table *def,
                       rl_err *err)
{
    rl_reader r =
        rl_reader_make(o->have[OPT_COLUMN_NAME] ? o->f[OPT_COLUMN_NAME] : rl_slice_make("", 0));
    for (uint32_t i = 0; i < t->ncols; i++) {
        binlog_col *c = &t->cols[i];
        rl_slice name = {NULL, 0};
        if (o->have[OPT_COLUMN_NAME]) {
            uint64_t len = rl_get_lenenc(&r);
            name = rl_get_bytes(&r, r.err ? 0 : (size_t)len);
            if (r.err)
                return rl_err_set(err, RL_ECORRUPT, "COLUMN_NAME: name %u does not fit", i + 1);
        }
        c->name_off = (uint32_t)t->strs.len;
        if (name.p) {
            rl_buf_json_str(&t->strs, name.p, name.len);
        } else if (def) {
            rl_buf_json_str(&t->strs, def->cols[i].name, strlen(def->cols[i].name));
        } else {
            char tmp[16];
            int n = snprintf(tmp, sizeof tmp, "@%u", i + 1);
            rl_buf_json_str(&t->strs, tmp, (size_t)n);
        }
        rl_buf_putc(&t->strs, ':');
        c->name_len = (uint32_t)(t->strs.len - c->name_off);
    }
    if (o->have[OPT_COLUMN_NAME] && rl_reader_left(&r) != 0)
        return rl_err_set(err, RL_ECORRUPT, "COLUMN_NAME lists more names than the %u columns",
                          t->ncols);
    return 0;
}

static int parse_keys(binlog_table *t, const opt_fields *o, rl_err *err)
{
    int opt = o->have[OPT_SIMPLE_PRIMARY_KEY]        ? OPT_SIMPLE_PRIMARY_KEY
              : o->have[OPT_PRIMARY_KEY_WITH_PREFIX] ? OPT_PRIMARY_KEY_WITH_PREFIX
                                                     : 0;
    if (!opt)
        return 0;
    t->keys = malloc((size_t)t->ncols * sizeof *t->keys);
    if (!t->keys)
        return rl_err_set(err, -ENOMEM, "out of memory");
    rl_reader r = rl_reader_make(o->f[opt]);
    while (rl_reader_left(&r) > 0) {
        uint64_t at = rl_get_lenenc(&r);
        if (opt == OPT_PRIMARY_KEY_WITH_PREFIX)
            (void)rl_get_lenenc(&r); /* prefix length: the key carries the whole value */
        if (r.err || at >= t->ncols || t->nkeys >= t->ncols)
            return rl_err_set(err, RL_ECORRUPT, "primary key metadata names column %llu of %u",
                              (unsigned long long)at + 1, t->ncols);
        t->keys[t->nkeys++] = (uint32_t)at;
    }
    return 0;
}

/* VECTOR_DIMENSIONALITY (MySQL 9): a packed dimension per VECTOR column, kept in len so that
 * values of another size are refused. */
static int parse_dimensions(binlog_table *t, rl_slice f, rl_err *err)
{
    rl_reader r = rl_reader_make(f);
    for (uint32_t i = 0; i < t->ncols; i++) {
        binlog_col *c = &t->cols[i];
        if (c->type != BINLOG_T_VECTOR)
            continue;
        uint64_t d = rl_get_lenenc(&r);
        if (r.err || d == 0 || d > 16383)
            return rl_err_set(err, RL_ECORRUPT,
                              "VECTOR_DIMENSIONALITY: column %u has no valid dimension", i + 1);
        c->len = (uint32_t)d;
    }
    if (rl_reader_left(&r) != 0)
        return rl_err_set(err, RL_ECORRUPT,
                          "VECTOR_DIMENSIONALITY lists more dimensions than the "
                          "VECTOR columns");
    return 0;
}

static bool is_binary_type(const char *dt)
{
    return strcmp(dt, "binary") == 0 || strcmp(dt, "varbinary") == 0 ||
           strcmp(dt, "tinyblob") == 0 || strcmp(dt, "blob") == 0 ||
           strcmp(dt, "mediumblob") == 0 || strcmp(dt, "longblob") == 0;
}

/* Signedness and collations the TABLE_MAP does not carry, from the schema (whose column
 * count and types were checked against it), and the JSON flag of text columns. */
static void schema_fill(binlog_decoder_t *dec, binlog_table *t, const opt_fields *o,
                        const binlog_schema_table *def)
{
    bool have_cs = o->have[OPT_DEFAULT_CHARSET] || o->have[OPT_COLUMN_CHARSET];
    bool have_es = o->have[OPT_ENUM_AND_SET_DEFAULT_CHARSET] ||
                   o->have[OPT_ENUM_AND_SET_COLUMN_CHARSET];
    for (uint32_t i = 0; i < t->ncols; i++) {
        binlog_col *c = &t->cols[i];
        const binlog_schema_col *sc = &def->cols[i];
        if (!o->have[OPT_SIGNEDNESS] && sc->is_unsigned && is_numeric_col(c, dec->mariadb))
            c->flags |= BINLOG_COL_UNSIGNED;
        bool ch = is_char_col(c, dec->mariadb), es = is_enumset_col(c, dec->mariadb);
        if ((ch && !have_cs) || (es && !have_es)) {
            if (sc->collation_id && sc->collation_id <= UINT16_MAX)
                set_collation(c, sc->collation_id);
            else if (is_binary_type(sc->data_type))
                set_collation(c, COLLATION_BINARY);
        }
        /* The old temporal types with a fraction in the schema are MariaDB 5.3's formats
         * (MySQL writes TIME2/DATETIME2/TIMESTAMP2 for those): information_schema says
         * "time(3) (comment mariadb-5.3)", a CREATE TABLE "time(3)". */
        if ((c->type == BINLOG_T_TIME || c->type == BINLOG_T_DATETIME ||
             c->type == BINLOG_T_TIMESTAMP) &&
            sc->column_type) {
            const char *p = strchr(sc->column_type, '(');
            if (p && p[1] >= '1' && p[1] <= '6' && p[2] == ')') {
                c->meta8 = (uint8_t)(p[1] - '0');
                c->flags |= BINLOG_COL_HIRES;
            }
        }
        if (sc->json && !(c->flags & BINLOG_COL_BINARY) &&
            (c->type == BINLOG_T_BLOB || c->type == BINLOG_T_VARCHAR ||
             c->type == BINLOG_T_STRING || c->type == BINLOG_T_VAR_STRING))
            c->flags |= BINLOG_COL_JSON_TEXT;
    }
}

/* ENUM/SET strings from the schema (UTF-8 from information_schema), as parse_strvalues
 * renders them. */
static int schema_strvalues(binlog_table *t, const binlog_schema_table *def, uint8_t type,
                            rl_err *err)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < t->ncols; i++)
        if (t->cols[i].type == type)
            total += def->cols[i].nstrs;
    if (!total)
        return 0;
    uint32_t *no = realloc(t->str_offs, ((size_t)t->nstrs + total) * 2 * sizeof *no);
    if (!no)
        return rl_err_set(err, -ENOMEM, "out of memory");
    t->str_offs = no;
    for (uint32_t i = 0; i < t->ncols; i++) {
        binlog_col *c = &t->cols[i];
        const binlog_schema_col *sc = &def->cols[i];
        if (c->type != type)
            continue;
        c->str_first = t->nstrs;
        c->str_count = sc->nstrs;
        c->flags |= BINLOG_COL_STRS;
        for (uint32_t k = 0; k < sc->nstrs; k++) {
            uint32_t off = (uint32_t)t->strs.len;
            rl_buf_json_str(&t->strs, sc->strs[k], strlen(sc->strs[k]));
            t->str_offs[2 * (size_t)t->nstrs] = off;
            t->str_offs[2 * (size_t)t->nstrs + 1] = (uint32_t)(t->strs.len - off);
            t->nstrs++;
        }
    }
    return 0;
}

void binlog__put_topic(rl_buf *b, const char *prefix, rl_slice db, rl_slice table)
{
    size_t start = b->len;
    rl_buf_puts(b, prefix);
    rl_buf_putc(b, '.');
    rl_buf_append(b, db.p, db.len);
    rl_buf_putc(b, '.');
    rl_buf_append(b, table.p, table.len);
    if (!rl_buf_ok(b))
        return;
    for (size_t i = start; i < b->len; i++) {
        uint8_t ch = b->p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            b->p[i] = '_';
    }
}

static int table_parse(binlog_decoder_t *dec, const binlog_event *ev, binlog_table *t, rl_err *err)
{
    rl_reader rd = rl_reader_make(rl_slice_make(t->raw, t->raw_len));
    rl_reader_skip(&rd, ev->post_len);
    uint8_t dl = rl_get_u8(&rd);
    t->db = rl_get_bytes(&rd, dl);
    uint8_t nul1 = rl_get_u8(&rd);
    uint8_t tl = rl_get_u8(&rd);
    t->table = rl_get_bytes(&rd, tl);
    uint8_t nul2 = rl_get_u8(&rd);
    if (rd.err || nul1 || nul2) {
        t->db = t->table = rl_slice_make(NULL, 0);
        return rl_err_set(err, RL_ECORRUPT, "TABLE_MAP names do not fit the event");
    }
    uint64_t n = rl_get_lenenc(&rd);
    if (rd.err || n == 0 || n > BINLOG_MAX_COLUMNS)
        return rl_err_set(err, RL_ECORRUPT, "TABLE_MAP of `%.*s`.`%.*s` with %llu columns",
                          (int)t->db.len, (const char *)t->db.p, (int)t->table.len,
                          (const char *)t->table.p, (unsigned long long)n);
    t->ncols = (uint32_t)n;
    rl_slice types = rl_get_bytes(&rd, t->ncols);
    uint64_t mlen = rl_get_lenenc(&rd);
    rl_reader m = binlog__sub(&rd, rd.err ? 0 : (size_t)mlen);
    rl_reader_skip(&rd, (t->ncols + 7) / 8); /* null bitmap: the row images say it again */
    if (rd.err)
        return rl_err_set(err, RL_ECORRUPT,
                          "TABLE_MAP of %u columns: types, metadata (%llu bytes) or null bitmap "
                          "do not fit",
                          t->ncols, (unsigned long long)mlen);
    t->cols = calloc(t->ncols, sizeof *t->cols);
    uint32_t *idx = malloc((size_t)t->ncols * sizeof *idx);
    int rc = 0;
    if (!t->cols || !idx) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < t->ncols && rc == 0; i++)
        rc = col_meta(&t->cols[i], types.p[i], &m, i, err);
    if (rc < 0)
        goto out;
    if (m.err || rl_reader_left(&m) != 0) {
        rc = rl_err_set(err, RL_ECORRUPT,
                        "column metadata of %llu bytes does not match the %u column types",
                        (unsigned long long)mlen, t->ncols);
        goto out;
    }

    opt_fields o;
    memset(&o, 0, sizeof o);
    while (rl_reader_left(&rd) > 0) {
        uint8_t ft = rl_get_u8(&rd);
        uint64_t fl = rl_get_lenenc(&rd);
        rl_slice v = rl_get_bytes(&rd, rd.err ? 0 : (size_t)fl);
        if (rd.err) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "optional metadata field %u of %llu bytes does not fit", ft,
                            (unsigned long long)fl);
            goto out;
        }
        if (ft < OPT_MAX) {
            o.f[ft] = v;
            o.have[ft] = true;
        }
    }

    if (o.have[OPT_SIGNEDNESS]) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < t->ncols; i++) {
            binlog_col *c = &t->cols[i];
            if (!is_numeric_col(c, dec->mariadb))
                continue;
            if (k / 8 >= o.f[OPT_SIGNEDNESS].len) {
                rc = rl_err_set(err, RL_ECORRUPT,
                                "SIGNEDNESS of %zu bytes is too short for the numeric columns",
                                o.f[OPT_SIGNEDNESS].len);
                goto out;
            }
            if (o.f[OPT_SIGNEDNESS].p[k / 8] & (0x80u >> (k % 8)))
                c->flags |= BINLOG_COL_UNSIGNED;
            k++;
        }
    }
    rc = apply_charsets(t, &o, OPT_DEFAULT_CHARSET, OPT_COLUMN_CHARSET, is_char_col, dec->mariadb,
                        idx, err);
    if (rc == 0)
        rc =
            apply_charsets(t, &o, OPT_ENUM_AND_SET_DEFAULT_CHARSET, OPT_ENUM_AND_SET_COLUMN_CHARSET,
                           is_enumset_col, dec->mariadb, idx, err);
    /* With a schema history, what the TABLE_MAP lacks comes from the version in force
     * (schema.c checks its column count and types first). */
    const binlog_schema_table *def = NULL;
    if (rc == 0 && dec->schema)
        rc = binlog__schema_for_table(dec, ev, t, o.have[OPT_COLUMN_NAME], &def, err);
    if (rc == 0 && def)
        schema_fill(dec, t, &o, def);
    if (rc == 0)
        rc = parse_names(t, &o, def, err);
    if (rc == 0 && o.have[OPT_ENUM_STR_VALUE])
        rc = parse_strvalues(dec, t, o.f[OPT_ENUM_STR_VALUE], BINLOG_T_ENUM, OPT_ENUM_STR_VALUE,
                             err);
    else if (rc == 0 && def)
        rc = schema_strvalues(t, def, BINLOG_T_ENUM, err);
    if (rc == 0 && o.have[OPT_SET_STR_VALUE])
        rc = parse_strvalues(dec, t, o.f[OPT_SET_STR_VALUE], BINLOG_T_SET, OPT_SET_STR_VALUE, err);
    else if (rc == 0 && def)
        rc = schema_strvalues(t, def, BINLOG_T_SET, err);
    if (rc == 0)
        rc = parse_keys(t, &o, err);
    if (rc == 0 && def && !t->keys && def->nkeys) {
        t->keys = malloc((size_t)def->nkeys * sizeof *t->keys);
        if (!t->keys)
            rc = rl_err_set(err, -ENOMEM, "out of memory");
        else
            memcpy(t->keys, def->keys, (size_t)def->nkeys * sizeof *t->keys);
        t->nkeys = t->keys ? def->nkeys : 0;
    }
    if (rc == 0 && o.have[OPT_VECTOR_DIMENSIONALITY])
        rc = parse_dimensions(t, o.f[OPT_VECTOR_DIMENSIONALITY], err);
    if (rc < 0)
        goto out;

    t->topic_off = (uint32_t)t->strs.len;
    binlog__put_topic(&t->strs, dec->topic_prefix, t->db, t->table);
    t->topic_len = (uint32_t)(t->strs.len - t->topic_off);
    t->dbtable_off = (uint32_t)t->strs.len;
    rl_buf_puts(&t->strs, ",\"db\":");
    rl_buf_json_str(&t->strs, t->db.p, t->db.len);
    rl_buf_puts(&t->strs, ",\"table\":");
    rl_buf_json_str(&t->strs, t->table.p, t->table.len);
    t->dbtable_len = (uint32_t)(t->strs.len - t->dbtable_off);
    /* Offsets are 32-bit: a TABLE_MAP is far below 4 GiB even fully escaped. */
    if (!rl_buf_ok(&t->strs) || t->strs.len > UINT32_MAX)
        rc = rl_err_set(err, -ENOMEM, "out of memory");
out:
    free(idx);
    return rc;
}

int binlog__table_map(binlog_decoder_t *dec, const binlog_event *ev, rl_slice pb, rl_err *err)
{
    if (ev->post_len != 6 && ev->post_len < 8)
        return rl_err_set(err, RL_ECORRUPT, "TABLE_MAP post-header of %u bytes", ev->post_len);
    rl_reader rd = rl_reader_make(pb);
    uint64_t id = ev->post_len == 6 ? rl_get_u32le(&rd) : rl_get_u48le(&rd);
    binlog_table *old = binlog__table_find(dec, id);
    if (old && old->raw_len == pb.len && old->schema_gen == dec->schema_gen &&
        memcmp(old->raw, pb.p, pb.len) == 0) {
        old->gen = dec->stmt_gen;
        return 0;
    }
    binlog_table *t = calloc(1, sizeof *t);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    t->id = id;
    t->schema_gen = dec->schema_gen;
    t->raw_len = pb.len;
    t->raw = malloc(pb.len ? pb.len : 1);
    if (!t->raw) {
        table_free(t);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(t->raw, pb.p, pb.len);
    int rc = table_parse(dec, ev, t, err);
    if (rc == 0) {
        t->gen = dec->stmt_gen;
        rc = cache_put(dec, t);
        if (rc < 0)
            rl_err_set(err, rc, "out of memory");
    }
    if (rc < 0) {
        if (t->table.p)
            rl_err_wrap(err, rc, "table id %llu `%.*s`.`%.*s`", (unsigned long long)id,
                        (int)t->db.len, (const char *)t->db.p, (int)t->table.len,
                        (const char *)t->table.p);
        else
            rl_err_wrap(err, rc, "table id %llu", (unsigned long long)id);
        table_free(t);
        return rc;
    }
    return 0;
}
