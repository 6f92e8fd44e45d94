/*
 * gtid_set.h - reader/: GTID sets of both server flavors, as text and (MySQL) as the binary
 * encoding of PREVIOUS_GTIDS and COM_BINLOG_DUMP_GTID.
 *
 * MySQL (mysql-server sql/rpl_gtid_set.cc, libs/mysql/gtid/): a set of transactions, each
 * named uuid[:tag]:gno (gno 1 .. 2^63-2, tag of MySQL 8.3+: [a-z_][a-z0-9_]{0,31}, letters
 * folded to lower case). Text: "uuid:1-5:7-9,uuid2:3" and for tags "uuid:1-5:tag:1-3"
 * (the untagged intervals first, then each tag with its intervals). Parsing accepts any order,
 * overlaps, repeated uuids, upper-case hex and white space (including the newlines MySQL puts
 * after commas); formatting gives the canonical form: uuids sorted by their 16 bytes, lower
 * case, tags sorted, intervals merged and ascending, entries separated by "," alone.
 *
 * MariaDB (MariaDB sql/rpl_gtid.cc, slave_connect_state / gtid_binlog_pos): one GTID
 * "domain-server-seq" per replication domain, the last transaction applied in that domain.
 * Sequence numbers only grow within a domain, so the position stands for every earlier
 * transaction of the domain: contains(d-s-n) is true when the set has domain d with a seq
 * >= n, whichever server wrote it. add(d-s-n) replaces the domain's GTID (the position
 * moves to the last transaction applied); union keeps, per domain, the GTID with the higher
 * seq (the left operand's on a tie); subtract removes the domains whose GTID the other set
 * contains. Text: "d-s-n[,d-s-n...]" sorted by domain.
 *
 * A set has one flavor, taken from its first element or from the text parsed into it; an
 * empty set has none. Mixing flavors is refused with RL_ECONFIG.
 *
 * Threading: a set is used by one thread at a time. Ownership: the set owns its memory;
 * functions that fail leave the set as it was (except where said).
 */
#ifndef BINLOG_GTID_SET_H
#define BINLOG_GTID_SET_H

#include "../common/rl.h"

typedef struct binlog_gtid_set binlog_gtid_set;

enum binlog_gtid_flavor {
    BINLOG_GTID_NONE = 0,    /* empty set */
    BINLOG_GTID_MYSQL = 1,   /* uuid[:tag]:gno */
    BINLOG_GTID_MARIADB = 2, /* domain-server-seq */
};

enum {
    BINLOG_GTID_TAG_MAX = 32, /* mysql-server libs/mysql/gtid/tag.h tag_max_length */
};

/* MySQL's largest gno is 2^63-2 (GNO_END = INT64_MAX is exclusive). */
#define BINLOG_GTID_GNO_MAX ((uint64_t)INT64_MAX - 1)

/* Creates an empty set. Returns 0 or -ENOMEM. */
int binlog_gtid_set_new(binlog_gtid_set **out);
void binlog_gtid_set_free(binlog_gtid_set *set);
/* Empties the set (keeps its memory for reuse). */
void binlog_gtid_set_clear(binlog_gtid_set *set);
/* BINLOG_GTID_NONE when empty, else the flavor of the elements. */
int binlog_gtid_set_flavor(const binlog_gtid_set *set);
bool binlog_gtid_set_is_empty(const binlog_gtid_set *set);
/* Makes dst equal to src. Returns 0 or -ENOMEM (dst unchanged). */
int binlog_gtid_set_copy(binlog_gtid_set *dst, const binlog_gtid_set *src);

/* Replaces the set with the parsed text (NULL or blank = empty). The flavor follows from the
 * text: a ':' means MySQL, else MariaDB. Returns 0, RL_ECONFIG (malformed: err quotes the text
 * and where it stops; a MariaDB domain named twice; gno 0 or above BINLOG_GTID_GNO_MAX;
 * an interval whose end is below its start), -ENOMEM. */
int binlog_gtid_set_parse(binlog_gtid_set *set, const char *text, rl_err *err);
/* Appends the canonical text to out (nothing for an empty set; not NUL-terminated: use
 * rl_buf_cstr). Returns 0 or -ENOMEM. */
int binlog_gtid_set_format(const binlog_gtid_set *set, rl_buf *out);

/* Adds one MySQL GTID (uuid: 16 bytes; tag: tag_len bytes, 0 for none, folded to lower case).
 * Returns 0, RL_ECONFIG (MariaDB set, bad tag, gno 0 or above the maximum), -ENOMEM. */
int binlog_gtid_set_add_mysql(binlog_gtid_set *set, const uint8_t uuid[16], const char *tag,
                              size_t tag_len, uint64_t gno);
/* Sets the position of a MariaDB domain. Returns 0, RL_ECONFIG (MySQL set), -ENOMEM. */
int binlog_gtid_set_add_mariadb(binlog_gtid_set *set, uint32_t domain, uint32_t server,
                                uint64_t seq);
/* The number of MariaDB domains in the set (0 for an empty or a MySQL set). */
size_t binlog_gtid_set_mariadb_count(const binlog_gtid_set *set);
/* The position of the i-th MariaDB domain (i < binlog_gtid_set_mariadb_count), in ascending
 * domain order. Pure function. */
void binlog_gtid_set_mariadb_at(const binlog_gtid_set *set, size_t i, uint32_t *domain,
                                uint32_t *server, uint64_t *seq);
/* Adds one GTID given as text ("uuid:gno", "uuid:tag:gno" or "d-s-n").
 * Returns 0, RL_ECONFIG (malformed or other flavor), -ENOMEM. */
int binlog_gtid_set_add_text(binlog_gtid_set *set, const char *gtid, rl_err *err);

bool binlog_gtid_set_contains_mysql(const binlog_gtid_set *set, const uint8_t uuid[16],
                                    const char *tag, size_t tag_len, uint64_t gno);
bool binlog_gtid_set_contains_mariadb(const binlog_gtid_set *set, uint32_t domain, uint32_t server,
                                      uint64_t seq);
/* 1 contained, 0 not (also for a GTID of the other flavor), RL_ECONFIG malformed GTID. */
int binlog_gtid_set_contains_text(const binlog_gtid_set *set, const char *gtid);

/* set = set U other. Returns 0, RL_ECONFIG (flavors differ, set unchanged), -ENOMEM (set may
 * hold part of other: clear or discard it). */
int binlog_gtid_set_union(binlog_gtid_set *set, const binlog_gtid_set *other);
/* set = set - other. Returns 0, RL_ECONFIG (flavors differ), -ENOMEM (as for union). */
int binlog_gtid_set_subtract(binlog_gtid_set *set, const binlog_gtid_set *other);
/* Same elements (two empty sets are equal whatever their history). */
bool binlog_gtid_set_equal(const binlog_gtid_set *a, const binlog_gtid_set *b);

/* MySQL binary encoding (sql/rpl_gtid_set.cc Gtid_set::encode), appended to out:
 *   u64 n_sids (untagged) or (1 << 56) | (n_sids << 8) | 1 (tagged, when any tag is present);
 *   per (uuid, tag): uuid[16], [tagged format: tag length << 1 as one byte + tag bytes],
 *   n_intervals u64, then (start i64, end i64 exclusive) per interval. All little-endian.
 * An empty set encodes as 8 zero bytes. Returns 0, RL_ECONFIG (MariaDB set), -ENOMEM. */
int binlog_gtid_set_encode(const binlog_gtid_set *set, rl_buf *out);
/* Adds the GTIDs of a binary encoding (PREVIOUS_GTIDS body) to the set. The encoding must
 * fill `bytes` exactly. Returns 0, RL_ECORRUPT (err says what is wrong, with the byte
 * offset), RL_ECONFIG (MariaDB set), -ENOMEM. On error the set is unchanged. */
int binlog_gtid_set_decode_add(binlog_gtid_set *set, rl_slice bytes, rl_err *err);

#endif /* BINLOG_GTID_SET_H */
