/*
 * schema.h - reader/: the schema history of a source (binlog_schema_*), for binlogs whose
 * TABLE_MAP events carry no column names (binlog_row_metadata=MINIMAL or NO_LOG, MySQL 5.7,
 * older MariaDB). See docs/schema.md.
 *
 * A history holds, per table (database + table name), a list of versions: a table definition
 * (columns in ORDINAL_POSITION order with information_schema's DATA_TYPE and COLUMN_TYPE,
 * signedness, collation, nullability, ENUM/SET strings, the MariaDB JSON flag, and the
 * primary-key columns in key order) valid from a binlog position on, or a "dropped" mark.
 * Versions come from three places:
 *   - a DDL QUERY event on a table (CREATE, ALTER, RENAME, DROP, TRUNCATE) decoded while the
 *     history is attached: the table's CURRENT definition is fetched through the provider and
 *     recorded at the DDL's position;
 *   - the first TABLE_MAP of a table the history does not know yet: same, at the TABLE_MAP's
 *     position;
 *   - the schema-change events rowlog published earlier, read back from the log at start-up
 *     (server/rowlogd_schema.c parses them and adds their versions).
 * Each version is published as a schema-change event (binlog_change.op 's', topic PREFIX) by
 * the decoder, so the log itself is the persistent history.
 *
 * Positions: (file, pos) with pos the START offset of the DDL or TABLE_MAP event in its
 * binlog file. Files compare by the number after their last '.' when their names share the
 * part before it ("mysql-bin.000010" > "mysql-bin.000009"), else by strcmp.
 *
 * The provider only knows the CURRENT definition (information_schema): a binlog read long
 * after later DDL may be decoded against a newer definition. The decoder checks the column
 * count and every column type against each TABLE_MAP and stops with RL_ECORRUPT on a
 * difference; a rename that keeps the types cannot be seen. binlog_row_metadata=FULL avoids
 * the problem (names then come from the TABLE_MAP itself).
 *
 * Threading: a history is used by one thread at a time (the decoder's). Ownership: the
 * history owns every definition added to it; pointers it returns stay valid until the next
 * call that adds or removes versions (add, rollback) or binlog_schema_free.
 */
#ifndef BINLOG_SCHEMA_H
#define BINLOG_SCHEMA_H

#include "reader/binlog.h"

/* One column of a table definition. Strings are NUL-terminated UTF-8, owned by the table. */
typedef struct binlog_schema_col {
    char *name;
    char *data_type;       /* information_schema.COLUMNS.DATA_TYPE, lower case ("int") */
    char *column_type;     /* COLUMN_TYPE ("int(10) unsigned", "enum('a','b')") */
    char *charset;         /* CHARACTER_SET_NAME, or NULL (numbers, binary strings) */
    char *collation;       /* COLLATION_NAME, or NULL */
    uint32_t collation_id; /* information_schema.COLLATIONS.ID; 0 = unknown */
    bool is_unsigned;      /* COLUMN_TYPE says unsigned */
    bool nullable;         /* IS_NULLABLE = 'YES' */
    bool json;             /* MySQL JSON, or MariaDB's CHECK (json_valid(`c`)) */
    char **strs;           /* ENUM/SET values in order (parsed from column_type) */
    uint32_t nstrs;
} binlog_schema_col;

typedef struct binlog_schema_table {
    char *db;
    char *table;
    binlog_schema_col *cols;
    uint32_t ncols;
    uint32_t *keys; /* primary-key column indexes (0-based) in key order */
    uint32_t nkeys; /* 0: no primary key */
} binlog_schema_table;

/* Builds a definition: new, then add_col per column in ORDINAL_POSITION order, then add_key
 * per primary-key column in key order. new returns NULL on OOM. add_col copies every string
 * of spec (name and data_type required; strs ignored: ENUM/SET values are parsed from
 * column_type) and returns 0, RL_ECONFIG (more than 4096 columns, no name/type, an ENUM/SET
 * column_type that does not parse), -ENOMEM. add_key returns 0, RL_ENOTFOUND (no such
 * column), -ENOMEM. free accepts NULL. */
binlog_schema_table *binlog_schema_table_new(const char *db, const char *table);
int binlog_schema_table_add_col(binlog_schema_table *t, const binlog_schema_col *spec,
                                rl_err *err);
int binlog_schema_table_add_key(binlog_schema_table *t, const char *column, rl_err *err);
void binlog_schema_table_free(binlog_schema_table *t);

/* Where current definitions come from. fetch stores a new definition in *out (the caller
 * owns it) and returns 0, or returns RL_ENOTFOUND when the table does not exist (now), or
 * another negative code with err filled (the decoder stops with it). Called on the decoder's
 * thread, at most once per DDL'd table and once per table first seen. */
typedef struct binlog_schema_provider {
    void *ctx;
    int (*fetch)(void *ctx, const char *db, const char *table, binlog_schema_table **out,
                 rl_err *err);
} binlog_schema_provider;

/* One version of a table. def NULL: the table was dropped (or renamed away) at `at`. */
typedef struct binlog_schema_version {
    binlog_pos at;
    char gtid[96];
    const binlog_schema_table *def;
} binlog_schema_version;

typedef struct binlog_schema binlog_schema_t;

/* Creates an empty history; provider is copied (NULL: no fetching: only loaded or added
 * versions are known). Returns 0 or -ENOMEM. */
int binlog_schema_new(binlog_schema_t **out, const binlog_schema_provider *provider);
void binlog_schema_free(binlog_schema_t *h);

/* Adds a version of db.table valid from `at` (gtid may be NULL or ""). def (NULL = dropped)
 * is taken over by the history, also on failure. A version at the same position as the
 * table's newest one replaces it (a transaction decoded again after a reconnect). pending:
 * the version was published in a transaction not committed yet (binlog_schema_commit /
 * binlog_schema_rollback). Returns 0 or -ENOMEM. */
int binlog_schema_add(binlog_schema_t *h, const char *db, const char *table, const binlog_pos *at,
                      const char *gtid, binlog_schema_table *def, bool pending);

/* The version of db.table in force at `at` (the newest whose position is <= at; at NULL: the
 * newest), or NULL when none is known. */
const binlog_schema_version *binlog_schema_lookup(const binlog_schema_t *h, const char *db,
                                                  const char *table, const binlog_pos *at);

/* Pending versions become permanent (their transaction was committed) / are removed (it was
 * not: the decoder stopped before its commit). */
/* A live history is fed by one stream in order and never holds versions past the point the
 * decoder reads from (rowlogd: versions are restored from its log up to its checkpoint and
 * rolled back past it): TABLE_MAPs then use each table's newest version, not the version at
 * their (file, position), because positions of different servers do not compare (after a
 * GTID failover the new primary numbers its files on its own). Default off: positions are
 * used (decoding files again over a full history). */
void binlog_schema_set_live(binlog_schema_t *h, bool live);
void binlog_schema_commit(binlog_schema_t *h);
void binlog_schema_rollback(binlog_schema_t *h);

/* Whether a CHECK clause as information_schema.CHECK_CONSTRAINTS shows it is MariaDB's JSON
 * column constraint `json_valid(`column`)` (case-insensitive name, backquotes in the column
 * name doubled), which marks a LONGTEXT column as JSON. Any thread. */
bool binlog_schema_clause_is_json_valid(const char *clause, const char *column);

/* Number of versions held (all tables). */
size_t binlog_schema_count(const binlog_schema_t *h);

/* Calls fn for each table of database db whose newest version is not a drop (DROP DATABASE).
 * Stops at and returns fn's first non-zero return. */
int binlog_schema_each_table(const binlog_schema_t *h, const char *db,
                             int (*fn)(void *ctx, const char *table), void *ctx);

/* ---------------------------------------------------------------------------------------
 * DDL statements: which tables a QUERY event's SQL changes.
 * ------------------------------------------------------------------------------------- */
enum binlog_ddl_kind {
    BINLOG_DDL_CREATE = 'C',  /* CREATE [OR REPLACE] TABLE (also ... LIKE, ... AS SELECT) */
    BINLOG_DDL_ALTER = 'A',   /* ALTER [ONLINE|IGNORE] TABLE (also CREATE/DROP INDEX ON) */
    BINLOG_DDL_DROP = 'D',    /* DROP TABLE a[, b] */
    BINLOG_DDL_RENAME = 'R',  /* RENAME TABLE a TO b, ALTER TABLE a RENAME [TO|AS] b */
    BINLOG_DDL_TRUNCATE = 'T',
    BINLOG_DDL_DROP_DB = 'X', /* DROP DATABASE|SCHEMA d: table empty */
};

typedef struct binlog_ddl_item {
    char kind;          /* enum binlog_ddl_kind */
    char db[256];       /* unquoted; the QUERY's default database when not qualified */
    char table[256];
    char new_db[256];   /* RENAME: the new name */
    char new_table[256];
} binlog_ddl_item;

/* Parses the SQL text of a QUERY event. Comments (slash-star, "-- ", '#'), backquoted names
 * (doubled backquotes), db-qualified names, IF [NOT] EXISTS are understood; TEMPORARY tables,
 * DML, views, other objects and anything not recognised give no items. *items (malloc'ed,
 * caller frees; NULL when *n is 0) gets one item per table (per pair for RENAME).
 * Returns 0 or -ENOMEM. */
int binlog_schema_parse_ddl(rl_slice sql, const char *default_db, binlog_ddl_item **items,
                            size_t *n);

#endif /* BINLOG_SCHEMA_H */
