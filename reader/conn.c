/*
 * conn.c - a replication connection to a MySQL or MariaDB primary (binlog_conn_*).
 *
 * mariadb-connector-c owns the connection (connect, auth, TLS, queries, packet framing);
 * this file sends the replication commands itself with mysql->methods->db_command and reads
 * raw packets with mysql_net_read_packet. The mariadb_rpl_* API is not used (it decodes
 * many values wrongly; see docs/format-binlog.md).
 *
 * Commands (MariaDB KB "COM_REGISTER_SLAVE", "COM_BINLOG_DUMP"; mysql-server
 * sql/rpl_source.cc), payloads little-endian:
 *
 *   COM_REGISTER_SLAVE 0x15   server_id u32 | host len u8 + bytes | user len u8 + bytes |
 *                             password len u8 + bytes | port u16 | rank u32 | master_id u32
 *   COM_BINLOG_DUMP    0x12   pos u32 | flags u16 | server_id u32 | file name (rest)
 *   COM_BINLOG_DUMP_GTID 0x1e (MySQL, sql/rpl_source.cc com_binlog_dump_gtid)
 *                             flags u16 | server_id u32 | name_len u32 | name | pos u64 |
 *                             data_len u32 | data = the executed GTID set, binary-encoded
 *                             (gtid_set.h binlog_gtid_set_encode; tagged format when a tag
 *                             is present, which needs MySQL 8.3+)
 *                             flags: 0x04 BINLOG_THROUGH_GTID; name empty, pos 4: the primary
 *                             starts at its first binlog that has transactions outside the
 *                             set and skips those inside it
 *
 * Dump stream framing (one packet per event):
 *   0x00 + event            an event (header + body + CRC when the FDE says CRC32)
 *   0xFE, length < 9        EOF (end of a non-blocking dump)
 *   0xFF ...                error packet (mysql_net_read_packet returns packet_error)
 *
 * Session variables set before the dump (MariaDB sql/sql_repl.cc, MySQL rpl_source.cc):
 *   @master_binlog_checksum / @source_binlog_checksum = @@global.binlog_checksum (a CRC32
 *   server refuses a checksum-unaware replica), @master_heartbeat_period (ns),
 *   @mariadb_slave_capability = 4 (MariaDB: send real GTID events), and for a GTID start
 *   @slave_connect_state + @slave_gtid_strict_mode = 1.
 *
 * Flavor: "MariaDB" in SELECT VERSION() means MariaDB, anything else MySQL. Start modes:
 *   MariaDB  GTID state "d-s-n,..."  -> @slave_connect_state + COM_BINLOG_DUMP("", 4)
 *   MySQL    GTID set "uuid:1-5,..." -> COM_BINLOG_DUMP_GTID with the set
 *   either   file:pos                -> COM_BINLOG_DUMP(file, pos)
 *   either   nothing                 -> the current position (SHOW MASTER STATUS, or SHOW
 *            BINARY LOG STATUS on MySQL 8.4+) by file:pos; the GTID state reported with it
 *            is @@global.gtid_binlog_pos (MariaDB) or @@global.gtid_executed (MySQL).
 */
#include "reader/binlog.h"
#include "reader/gtid_set.h"

#include <errno.h>
#include <mysql.h>
#include <errmsg.h>
#include <ma_pvio.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

enum {
    COM_REGISTER_SLAVE_CMD = 0x15,
    COM_BINLOG_DUMP_CMD = 0x12,
    COM_BINLOG_DUMP_GTID_CMD = 0x1e, /* not in connector-c's enum (COM_UNSUPPORTED there) */
    BINLOG_DUMP_THROUGH_GTID = 0x04,
    ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236,
};

struct binlog_conn {
    MYSQL *mysql;
    binlog_start start;
    bool mariadb;
    bool crc32;
    atomic_bool stop;
    my_socket fd;
    char host_port[300];
};

static pthread_once_t conn_lib_once = PTHREAD_ONCE_INIT;
static void conn_lib_init(void) { mysql_library_init(0, NULL, NULL); }

/* ------------------------------------------------------------------ URL */

static int url_unescape(char *dst, size_t cap, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            char hex[3] = {src[i + 1], src[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (end != hex + 2)
                return -1;
            c = (int)v;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return 0;
}

int binlog_source_parse_url(binlog_source_opts *opts, const char *url, rl_err *err)
{
    const char *p = url;
    if (strncmp(p, "mysql://", 8) == 0)
        p += 8;
    else if (strncmp(p, "mariadb://", 10) == 0)
        p += 10;
    else
        return rl_err_set(err, RL_ECONFIG,
                          "source URL '%s': expected mysql://USER[:PASS]@HOST[:PORT]", url);
    const char *at = strrchr(p, '@');
    if (!at)
        return rl_err_set(err, RL_ECONFIG, "source URL: missing USER@ before the host");
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ulen = (size_t)((colon ? colon : at) - p);
    if (ulen == 0 || url_unescape(opts->user, sizeof opts->user, p, ulen) != 0)
        return rl_err_set(err, RL_ECONFIG, "source URL: bad or empty user name");
    if (colon) {
        if (url_unescape(opts->password, sizeof opts->password, colon + 1,
                         (size_t)(at - colon - 1)) != 0)
            return rl_err_set(err, RL_ECONFIG, "source URL: bad password encoding");
    } else {
        opts->password[0] = 0;
    }
    const char *h = at + 1;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *pc = NULL;
    if (hl > 0 && h[0] == '[') { /* [ipv6]:port */
        const char *rb = memchr(h, ']', hl);
        if (!rb)
            return rl_err_set(err, RL_ECONFIG, "source URL: unterminated [ in host");
        if ((size_t)(rb - h - 1) >= sizeof opts->host)
            return rl_err_set(err, RL_ECONFIG, "source URL: host too long");
        memcpy(opts->host, h + 1, (size_t)(rb - h - 1));
        opts->host[rb - h - 1] = 0;
        if (rb + 1 < h + hl && rb[1] == ':')
            pc = rb + 1;
    } else {
        pc = memchr(h, ':', hl);
        size_t n = (size_t)((pc ? pc : h + hl) - h);
        if (n == 0 || n >= sizeof opts->host)
            return rl_err_set(err, RL_ECONFIG, "source URL: missing or too long host");
        memcpy(opts->host, h, n);
        opts->host[n] = 0;
    }
    if (pc) {
        char *end;
        long port = strtol(pc + 1, &end, 10);
        if (end == pc + 1 || end != h + hl || port <= 0 || port > 65535)
            return rl_err_set(err, RL_ECONFIG, "source URL: bad port");
        opts->port = (unsigned)port;
    } else if (!opts->port) {
        opts->port = 3306;
    }
    return 0;
}

/* ------------------------------------------------------------------ queries */

/* Runs a query and copies the first column of the first row into out (empty when NULL or
 * no row). Returns 0 or RL_ESOURCE. */
static int query_value(binlog_conn_t *conn, const char *sql, char *out, size_t cap,
                       rl_err *err)
{
    out[0] = 0;
    if (mysql_real_query(conn->mysql, sql, strlen(sql)) != 0)
        return rl_err_set(err, RL_ESOURCE, "%s: '%s' failed: %s (error %u)", conn->host_port,
                          sql, mysql_error(conn->mysql), mysql_errno(conn->mysql));
    MYSQL_RES *res = mysql_store_result(conn->mysql);
    if (!res)
        return mysql_field_count(conn->mysql) == 0
                   ? 0
                   : rl_err_set(err, RL_ESOURCE, "%s: '%s': %s", conn->host_port, sql,
                                mysql_error(conn->mysql));
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row && row[0])
        snprintf(out, cap, "%s", row[0]);
    mysql_free_result(res);
    return 0;
}

static int query_exec(binlog_conn_t *conn, const char *sql, rl_err *err)
{
    char ignore[8];
    return query_value(conn, sql, ignore, sizeof ignore, err);
}

/* SHOW MASTER STATUS (or SHOW BINARY LOG STATUS on MySQL 8.4+, where the old form is gone):
 * the primary's current binlog file and position. */
static int query_master_status(binlog_conn_t *conn, binlog_pos *at, rl_err *err)
{
    const char *forms[] = {"SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"};
    for (int i = 0; i < 2; i++) {
        if (mysql_real_query(conn->mysql, forms[i], strlen(forms[i])) != 0)
            continue;
        MYSQL_RES *res = mysql_store_result(conn->mysql);
        if (!res)
            continue;
        MYSQL_ROW row = mysql_fetch_row(res);
        int rc = RL_ESOURCE;
        if (row && row[0] && row[1]) {
            snprintf(at->file, sizeof at->file, "%s", row[0]);
            at->pos = strtoull(row[1], NULL, 10);
            rc = 0;
        }
        mysql_free_result(res);
        if (rc == 0)
            return 0;
        return rl_err_set(err, RL_ESOURCE,
                          "%s: %s returned no row: is binary logging (log_bin) enabled?",
                          conn->host_port, forms[i]);
    }
    return rl_err_set(err, RL_ESOURCE,
                      "%s: SHOW MASTER STATUS failed: %s (the user needs REPLICATION CLIENT, "
                      "or BINLOG MONITOR on MariaDB)",
                      conn->host_port, mysql_error(conn->mysql));
}

/* ------------------------------------------------------------------ commands */

static int send_command(binlog_conn_t *conn, int cmd, const uint8_t *payload, size_t len,
                        bool read_ok, const char *what, rl_err *err)
{
    int rc = conn->mysql->methods->db_command(conn->mysql, (enum enum_server_command)cmd,
                                              (const char *)payload, len, read_ok ? 0 : 1,
                                              NULL);
    if (rc != 0)
        return rl_err_set(err, RL_ESOURCE, "%s: %s failed: %s (error %u)", conn->host_port,
                          what, mysql_error(conn->mysql), mysql_errno(conn->mysql));
    return 0;
}

static void put_u16(rl_buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    rl_buf_append(b, t, 2);
}
static void put_u32(rl_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    rl_buf_append(b, t, 4);
}

static int register_replica(binlog_conn_t *conn, const binlog_source_opts *opts, rl_err *err)
{
    rl_buf b = RL_BUF_INIT;
    put_u32(&b, opts->server_id);
    rl_buf_putc(&b, 0); /* host */
    rl_buf_putc(&b, 0); /* user */
    rl_buf_putc(&b, 0); /* password */
    put_u16(&b, 0);     /* port */
    put_u32(&b, 0);     /* rank */
    put_u32(&b, 0);     /* master id */
    int rc = rl_buf_ok(&b) ? send_command(conn, COM_REGISTER_SLAVE_CMD, b.p, b.len, true,
                                          "COM_REGISTER_SLAVE", err)
                           : rl_err_set(err, -ENOMEM, "out of memory");
    rl_buf_free(&b);
    return rc;
}

static int send_dump(binlog_conn_t *conn, const binlog_source_opts *opts, const char *file,
                     uint64_t pos, rl_err *err)
{
    if (pos > UINT32_MAX)
        return rl_err_set(err, RL_EUNSUPPORTED,
                          "binlog position %llu above 4 GiB needs COM_BINLOG_DUMP_GTID",
                          (unsigned long long)pos);
    rl_buf b = RL_BUF_INIT;
    put_u32(&b, (uint32_t)pos);
    /* Flags: blocking dump; a MariaDB primary sends ANNOTATE_ROWS events only to a replica
     * that sets BINLOG_SEND_ANNOTATE_ROWS_EVENT (2, MariaDB include/mysql_com.h), wanted for
     * source.query. On MySQL 2 means BINLOG_THROUGH_POSITION: never set there. */
    put_u16(&b, conn->mariadb && opts->source_query ? 2 : 0);
    put_u32(&b, opts->server_id);
    rl_buf_puts(&b, file);
    int rc = rl_buf_ok(&b) ? send_command(conn, COM_BINLOG_DUMP_CMD, b.p, b.len, false,
                                          "COM_BINLOG_DUMP", err)
                           : rl_err_set(err, -ENOMEM, "out of memory");
    rl_buf_free(&b);
    return rc;
}

/* COM_BINLOG_DUMP_GTID (MySQL) with the executed set: the primary sends every transaction
 * outside it. */
static int send_dump_gtid(binlog_conn_t *conn, const binlog_source_opts *opts,
                          const binlog_gtid_set *set, rl_err *err)
{
    rl_buf data = RL_BUF_INIT, b = RL_BUF_INIT;
    int rc = binlog_gtid_set_encode(set, &data);
    if (rc < 0)
        goto out;
    if (data.len > UINT32_MAX) {
        rc = rl_err_set(err, RL_ETOOBIG, "GTID set of %zu bytes is too large to send", data.len);
        goto out;
    }
    put_u16(&b, BINLOG_DUMP_THROUGH_GTID);
    put_u32(&b, opts->server_id);
    put_u32(&b, 0); /* name_len: the primary finds the first file itself */
    put_u32(&b, 4); /* pos u64 = 4 */
    put_u32(&b, 0);
    put_u32(&b, (uint32_t)data.len);
    rl_buf_append(&b, data.p, data.len);
    rc = rl_buf_ok(&b) ? send_command(conn, COM_BINLOG_DUMP_GTID_CMD, b.p, b.len, false,
                                      "COM_BINLOG_DUMP_GTID", err)
                       : -ENOMEM;
out:
    if (rc == -ENOMEM)
        rl_err_set(err, -ENOMEM, "out of memory");
    rl_buf_free(&data);
    rl_buf_free(&b);
    return rc;
}

/* Reads @@global.gtid_executed (MySQL) into out as canonical text: the server puts newlines
 * after commas and may use upper case. Returns 0, RL_ESOURCE, RL_ECONFIG (does not parse, or
 * its text does not fit out). */
static int query_gtid_executed(binlog_conn_t *conn, char *out, size_t cap, rl_err *err)
{
    int rc;
    char *raw = malloc(BINLOG_GTID_STATE_MAX * 4);
    binlog_gtid_set *set = NULL;
    rl_buf txt = RL_BUF_INIT;
    if (!raw || binlog_gtid_set_new(&set) < 0) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = query_value(conn, "SELECT @@global.gtid_executed", raw, BINLOG_GTID_STATE_MAX * 4,
                          err)) != 0)
        goto out;
    if ((rc = binlog_gtid_set_parse(set, raw, err)) != 0) {
        rl_err_wrap(err, rc, "%s: @@global.gtid_executed", conn->host_port);
        goto out;
    }
    if ((rc = binlog_gtid_set_format(set, &txt)) != 0) {
        rl_err_set(err, rc, "out of memory");
        goto out;
    }
    if (txt.len >= cap) {
        rc = rl_err_set(err, RL_ECONFIG,
                        "%s: @@global.gtid_executed is %zu bytes as text, above the %zu rowlog "
                        "keeps in a checkpoint",
                        conn->host_port, txt.len, cap - 1);
        goto out;
    }
    if (txt.len)
        memcpy(out, txt.p, txt.len);
    out[txt.len] = '\0';
out:
    free(raw);
    binlog_gtid_set_free(set);
    rl_buf_free(&txt);
    return rc;
}

/* Single quotes for a SQL literal of a GTID state (digits, '-' and ',' only). */
static bool gtid_state_is_safe(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == ','))
            return false;
    return true;
}

/* ------------------------------------------------------------------ open */

int binlog_conn_open(binlog_conn_t **out, const binlog_source_opts *opts,
                     const binlog_start *start, rl_err *err)
{
    char val[1024], sql[1400];
    int rc;
    binlog_gtid_set *mysql_set = NULL; /* MySQL GTID start: the set to send */
    *out = NULL;
    pthread_once(&conn_lib_once, conn_lib_init);
    binlog_conn_t *conn = calloc(1, sizeof *conn);
    if (!conn)
        return rl_err_set(err, -ENOMEM, "out of memory");
    atomic_init(&conn->stop, false);
    conn->fd = -1;
    snprintf(conn->host_port, sizeof conn->host_port, "%s:%u", opts->host, opts->port);
    conn->mysql = mysql_init(NULL);
    if (!conn->mysql) {
        free(conn);
        return rl_err_set(err, -ENOMEM, "mysql_init: out of memory");
    }
    unsigned heartbeat_ms = opts->heartbeat_ms ? opts->heartbeat_ms : 1000;
    unsigned connect_timeout = opts->connect_timeout_s ? opts->connect_timeout_s : 10;
    /* The read timeout must exceed the heartbeat period (2x at least, see mysql-client.md
     * section 5): an idle primary sends a heartbeat every period, so silence for 3 periods
     * (and at least 5 s) means the connection is gone. */
    unsigned read_timeout = (heartbeat_ms * 3 + 999) / 1000;
    if (read_timeout < 5)
        read_timeout = 5;
    unsigned long max_packet = 1024ul * 1024 * 1024;
    my_bool off = 0;
    mysql_optionsv(conn->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_optionsv(conn->mysql, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
    mysql_optionsv(conn->mysql, MYSQL_OPT_WRITE_TIMEOUT, &connect_timeout);
    mysql_optionsv(conn->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(conn->mysql, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    mysql_optionsv(conn->mysql, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(conn->mysql, opts->host, opts->user, opts->password, NULL,
                            opts->port, NULL, 0)) {
        rc = rl_err_set(err, RL_ESOURCE, "connect to %s as '%s': %s (error %u)",
                        conn->host_port, opts->user, mysql_error(conn->mysql),
                        mysql_errno(conn->mysql));
        goto fail;
    }
    conn->fd = mysql_get_socket(conn->mysql);

    if ((rc = query_value(conn, "SELECT VERSION()", val, sizeof val, err)) != 0)
        goto fail;
    conn->mariadb = strstr(val, "MariaDB") != NULL;
    if ((rc = query_value(conn, "SELECT @@global.binlog_format", val, sizeof val, err)) != 0)
        goto fail;
    if (strcasecmp(val, "ROW") != 0) {
        rc = rl_err_set(err, RL_EUNSUPPORTED,
                        "%s: binlog_format is '%s'; rowlog needs ROW (SET GLOBAL binlog_format=ROW"
                        " and binlog_format=ROW in the server's configuration)",
                        conn->host_port, val);
        goto fail;
    }
    if (query_value(conn, "SELECT @@global.binlog_row_metadata", val, sizeof val, NULL) == 0 &&
        val[0] && strcasecmp(val, "FULL") != 0)
        rl_warn("%s: binlog_row_metadata is '%s': without FULL, change events carry no column "
                "names or primary key (set binlog_row_metadata=FULL)",
                conn->host_port, val);

    if ((rc = query_value(conn, "SELECT @@global.binlog_checksum", val, sizeof val, err)) != 0)
        goto fail;
    conn->crc32 = strcasecmp(val, "CRC32") == 0;
    /* Checksum-aware replica: both variable names (old and new servers), value = the
     * server's own setting, so events arrive exactly as written. */
    if ((rc = query_exec(conn,
                         "SET @master_binlog_checksum = @@global.binlog_checksum, "
                         "@source_binlog_checksum = @@global.binlog_checksum",
                         err)) != 0)
        goto fail;
    snprintf(sql, sizeof sql,
             "SET @master_heartbeat_period = %llu, @source_heartbeat_period = %llu",
             (unsigned long long)heartbeat_ms * 1000000ull,
             (unsigned long long)heartbeat_ms * 1000000ull);
    if ((rc = query_exec(conn, sql, err)) != 0)
        goto fail;
    if (conn->mariadb &&
        (rc = query_exec(conn, "SET @mariadb_slave_capability = 4", err)) != 0)
        goto fail;

    /* Where to start. */
    if (start)
        conn->start = *start;
    conn->start.gtid_state[sizeof conn->start.gtid_state - 1] = '\0';
    bool use_gtid = conn->start.gtid_state[0] != '\0';
    if (use_gtid) {
        /* The state must be of the primary's flavor (a MySQL set has a ':'): resuming a
         * MariaDB position on MySQL, or the reverse, would start from the wrong place. */
        bool mysql_state = strchr(conn->start.gtid_state, ':') != NULL;
        if (mysql_state == conn->mariadb) {
            rc = rl_err_set(err, RL_ECONFIG,
                            "%s is %s but the stored GTID state '%.200s' is %s's: the "
                            "checkpoint belongs to another kind of primary",
                            conn->host_port, conn->mariadb ? "MariaDB" : "MySQL",
                            conn->start.gtid_state, mysql_state ? "MySQL" : "MariaDB");
            goto fail;
        }
    }
    if (!use_gtid && !conn->start.at.file[0]) {
        /* No stored position: the primary's current one. Its GTID state seeds checkpoints
         * so a later restart can resume by GTID. */
        if ((rc = query_master_status(conn, &conn->start.at, err)) != 0)
            goto fail;
        if (conn->mariadb &&
            (rc = query_value(conn, "SELECT @@global.gtid_binlog_pos", conn->start.gtid_state,
                              sizeof conn->start.gtid_state, err)) != 0)
            goto fail;
        if (!conn->mariadb &&
            (rc = query_gtid_executed(conn, conn->start.gtid_state,
                                      sizeof conn->start.gtid_state, err)) != 0)
            goto fail;
    }
    if (use_gtid && !conn->mariadb) {
        if (binlog_gtid_set_new(&mysql_set) < 0) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = binlog_gtid_set_parse(mysql_set, conn->start.gtid_state, err)) != 0)
            goto fail;
    }
    if (use_gtid && conn->mariadb) {
        if (!gtid_state_is_safe(conn->start.gtid_state)) {
            rc = rl_err_set(err, RL_ECONFIG, "malformed GTID state '%s'",
                            conn->start.gtid_state);
            goto fail;
        }
        /* A state of many domains can be longer than sql[]. */
        rl_buf q = RL_BUF_INIT;
        rl_buf_printf(&q, "SET @slave_connect_state = '%s', @slave_gtid_strict_mode = 1",
                      conn->start.gtid_state);
        const char *qs = rl_buf_cstr(&q);
        rc = qs ? query_exec(conn, qs, err) : rl_err_set(err, -ENOMEM, "out of memory");
        rl_buf_free(&q);
        if (rc != 0)
            goto fail;
    }
    if ((rc = register_replica(conn, opts, err)) != 0)
        goto fail;
    if (use_gtid && conn->mariadb)
        rc = send_dump(conn, opts, "", 4, err);
    else if (use_gtid)
        rc = send_dump_gtid(conn, opts, mysql_set, err);
    else
        rc = send_dump(conn, opts, conn->start.at.file, conn->start.at.pos, err);
    binlog_gtid_set_free(mysql_set);
    mysql_set = NULL;
    if (rc != 0)
        goto fail;
    if (use_gtid)
        rl_info("streaming from %s (%s) at GTID %s", conn->host_port,
                conn->mariadb ? "MariaDB" : "MySQL", conn->start.gtid_state);
    else
        rl_info("streaming from %s (%s) at %s:%llu", conn->host_port,
                conn->mariadb ? "MariaDB" : "MySQL", conn->start.at.file,
                (unsigned long long)conn->start.at.pos);
    *out = conn;
    return 0;
fail:
    binlog_gtid_set_free(mysql_set);
    mysql_close(conn->mysql);
    free(conn);
    return rc;
}

const binlog_start *binlog_conn_start_state(const binlog_conn_t *conn) { return &conn->start; }

bool binlog_conn_checksum_crc32(const binlog_conn_t *conn) { return conn->crc32; }

/* ------------------------------------------------------------------ reading */

int binlog_conn_next(binlog_conn_t *conn, rl_slice *ev, rl_err *err)
{
    if (atomic_load(&conn->stop))
        return rl_err_set(err, RL_ESTOPPED, "%s: replication connection stopped",
                          conn->host_port);
    unsigned long n = mysql_net_read_packet(conn->mysql);
    if (atomic_load(&conn->stop))
        return rl_err_set(err, RL_ESTOPPED, "%s: replication connection stopped",
                          conn->host_port);
    if (n == packet_error) {
        unsigned e = mysql_errno(conn->mysql);
        /* 1053 server shutdown, 1927 connection killed (KILL of the dump thread): the link
         * is gone, not the position. */
        if (e == CR_SERVER_LOST || e == CR_SERVER_GONE_ERROR || e == 0 || e == 1053 ||
            e == 1927) {
            return rl_err_set(err, -ECONNRESET,
                              "%s: lost the replication connection (no event or heartbeat "
                              "within the read timeout, or the server closed it): %s",
                              conn->host_port, mysql_error(conn->mysql));
        }
        if (e == ER_MASTER_FATAL_ERROR_READING_BINLOG)
            return rl_err_set(err, RL_ESOURCE,
                              "%s: the primary cannot send the binlog from the requested "
                              "position (error 1236: %s); if the position was purged, the "
                              "log must be rebuilt from a new snapshot",
                              conn->host_port, mysql_error(conn->mysql));
        return rl_err_set(err, RL_ESOURCE, "%s: replication error %u: %s", conn->host_port, e,
                          mysql_error(conn->mysql));
    }
    const uint8_t *p = conn->mysql->net.read_pos;
    if (n >= 1 && p[0] == 0xFE && n < 9)
        return 0;
    if (n < 1 || p[0] != 0x00)
        return rl_err_set(err, RL_EPROTO, "%s: unexpected replication packet (first byte 0x%02x,"
                          " %lu bytes)", conn->host_port, n ? p[0] : 0, n);
    *ev = rl_slice_make(p + 1, n - 1);
    return 1;
}

bool binlog_conn_pending(binlog_conn_t *conn)
{
    MARIADB_PVIO *pvio = conn->mysql->net.pvio;
    if (pvio && pvio->cache && pvio->cache_pos < pvio->cache + pvio->cache_size)
        return true;
    if (conn->fd < 0)
        return false;
    struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

void binlog_conn_interrupt(binlog_conn_t *conn)
{
    atomic_store(&conn->stop, true);
    /* Wakes a blocked read at once; the socket stays open (and valid) until close. */
    if (conn->fd >= 0)
        shutdown(conn->fd, SHUT_RDWR);
}

void binlog_conn_close(binlog_conn_t *conn)
{
    if (!conn)
        return;
    mysql_close(conn->mysql);
    free(conn);
}
