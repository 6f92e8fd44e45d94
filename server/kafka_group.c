/*
 * kafka_group.c - the consumer-group coordinator: FindCoordinator 0-2, JoinGroup 0-5,
 * SyncGroup 0-3, Heartbeat 0-3, LeaveGroup 0-3. This node coordinates every group.
 *
 * Sources: apache/kafka clients/src/main/resources/common/message/{FindCoordinator,JoinGroup,
 * SyncGroup,Heartbeat,LeaveGroup}{Request,Response}.json (layouts), core/src/main/scala/kafka/
 * coordinator/group/GroupCoordinator.scala and GroupMetadata.scala (state machine, Kafka 2.x),
 * KIP-394 (MEMBER_ID_REQUIRED). Types as in kafka_api.c; mirrored in docs/format-kafka.md.
 *
 * FindCoordinator (10) v0-2. Request: key string (group id); key_type int8 (v1+; 0 group,
 * 1 transaction: answered COORDINATOR_NOT_AVAILABLE).
 * Response: throttle_time_ms int32 (v1+; 0), error_code int16, error_message nullable string
 * (v1+; null), node_id int32, host string, port int32 (this node, as in Metadata).
 *
 * JoinGroup (11) v0-5. Request: group_id string, session_timeout_ms int32,
 * rebalance_timeout_ms int32 (v1+; v0 uses the session timeout), member_id string,
 * group_instance_id nullable string (v5+; kept and echoed, membership stays dynamic),
 * protocol_type string, protocols array of: name string, metadata bytes.
 * Response: throttle_time_ms int32 (v2+), error_code int16, generation_id int32,
 * protocol_name string (empty on error), leader string, member_id string, members array
 * (the leader's response only) of: member_id string, group_instance_id nullable string (v5+),
 * metadata bytes (the member's metadata for the selected protocol).
 *
 * SyncGroup (14) v0-3. Request: group_id string, generation_id int32, member_id string,
 * group_instance_id nullable string (v3+), assignments array (the leader's) of: member_id
 * string, assignment bytes.
 * Response: throttle_time_ms int32 (v1+), error_code int16, assignment bytes.
 *
 * Heartbeat (12) v0-3. Request: group_id string, generation_id int32, member_id string,
 * group_instance_id nullable string (v3+). Response: throttle_time_ms int32 (v1+),
 * error_code int16.
 *
 * LeaveGroup (13) v0-3. Request v0-2: group_id string, member_id string; v3: group_id string,
 * members array of: member_id string, group_instance_id nullable string.
 * Response: throttle_time_ms int32 (v1+), error_code int16, members array (v3) of: member_id
 * string, group_instance_id nullable string, error_code int16.
 *
 * ListGroups (16) v0-4 (v3+ flexible: compact strings and arrays, tagged fields, request
 * header v2, response header v1). Request: v0-2 empty; v4: states_filter compact array of
 * compact strings (case-insensitive state names; empty = every state); tags (v3+).
 * Response: throttle_time_ms int32 (v1+; 0), error_code int16 (0), groups array of: group_id
 * string, protocol_type string ("" for a group that only holds committed offsets),
 * group_state string (v4+), tags (v3+); tags (v3+). Every group known is listed: those with
 * members and those that only hold committed offsets (Empty), as Kafka does.
 *
 * DescribeGroups (15) v0-5 (v5 flexible). Request: groups array of string (at most
 * KAFKA_MAX_REQ_GROUPS; more closes the connection), include_authorized_operations int8
 * (v3+; ignored), tags (v5).
 * Response: throttle_time_ms int32 (v1+; 0), groups array of: error_code int16 (0; 24
 * INVALID_GROUP_ID for an empty id), group_id string, group_state string (Empty,
 * PreparingRebalance, CompletingRebalance, Stable; "Dead" for an unknown group, as Kafka 2.x
 * answers), protocol_type string, protocol_data string (the selected protocol; "" unless
 * Stable), members array of: member_id string, group_instance_id nullable string (v4+),
 * client_id string, client_host string ("/" + address), member_metadata bytes and
 * member_assignment bytes (both empty unless Stable, as GroupMetadata.summary), tags (v5);
 * authorized_operations int32 (v3+; INT32_MIN: not computed), tags (v5); tags (v5).
 *
 * Group states (GroupMetadata.scala): EMPTY (no members; may hold committed offsets),
 * PREPARING (a rebalance: JoinGroup requests wait until every member rejoined, or until the
 * largest rebalance timeout passed, when members that did not rejoin are removed), COMPLETING
 * (the join phase ended: a new generation, a leader, a selected protocol; SyncGroup requests
 * wait for the leader's), STABLE (assignments handed out). Every member has a session timer,
 * refreshed by each of its requests and kept alive while it waits in a barrier; when it runs
 * out the member is removed and the group rebalances. A JoinGroup v4+ without a member id
 * gets MEMBER_ID_REQUIRED with a new id (a pending member, which the join phase waits for
 * until it joins or its session timeout passes). The assignment bytes are the client's: the
 * leader's SyncGroup assignment is relayed to each member unchanged.
 *
 * Waiting requests do not block the loop: the connection is parked (kafka__wait_begin) and
 * answered later (kafka__wait_done), other connections go on.
 * Not done: static membership (group_instance_id is echoed, not used to keep a member across
 * restarts), Kafka's initial rebalance delay for a new group (a second member joining shortly
 * after the first causes a second rebalance instead), persisting group membership (after a
 * restart, members get UNKNOWN_MEMBER_ID and rejoin; committed offsets do persist).
 */
#include "server/kafka_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum group_state {
    GROUP_EMPTY = 0,
    GROUP_PREPARING,
    GROUP_COMPLETING,
    GROUP_STABLE,
};

static const char *const state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                          "Stable"};

struct kafka_member {
    kafka_group *group;
    kafka_member *prev, *next; /* the group's members, or its pending members */
    rl_buf id;
    rl_buf instance_id;
    bool has_instance;
    bool pending;       /* issued by MEMBER_ID_REQUIRED, not joined yet */
    bool awaiting_join; /* rejoined in the current join phase */
    rl_buf protocols;   /* the JoinGroup protocols array as sent (count + entries), validated */
    rl_buf assignment;
    rl_buf client_id;   /* of its last JoinGroup (DescribeGroups) */
    char client_host[72]; /* "/" + the address it joined from, as Kafka shows it */
    int32_t session_ms, rebalance_ms;
    ev_timer session_w;
    kafka_conn *join_conn; /* JoinGroup waiting for the join phase to end */
    int32_t join_corr;
    int16_t join_version;
    kafka_conn *sync_conn; /* SyncGroup waiting for the leader's assignment */
    int32_t sync_corr;
    int16_t sync_version;
};

struct kafka_group {
    kafka_hnode node; /* first: srv->groups */
    kafka_server_t *srv;
    rl_buf name;
    int state;
    int32_t generation;
    rl_buf protocol_type;
    rl_buf protocol; /* selected protocol name (COMPLETING, STABLE) */
    kafka_member *leader;
    kafka_member *members, *pending;
    size_t nmembers, npending, nawaiting;
    ev_timer join_w;
    kafka_htab offsets;
};

static void member_remove(kafka_group *g, kafka_member *m, const char *why);
static void group_try_complete_join(kafka_group *g);

/* ------------------------------------------------------------------ hash table */

uint32_t kafka__hash(const void *p, size_t n) { return rl_murmur2(p, n); }

kafka_hnode *kafka__htab_find(const kafka_htab *t, uint32_t hash,
                              bool (*eq)(const kafka_hnode *n, const void *key), const void *key)
{
    if (t->cap == 0)
        return NULL;
    for (kafka_hnode *n = t->slots[hash & (t->cap - 1)]; n; n = n->next)
        if (n->hash == hash && eq(n, key))
            return n;
    return NULL;
}

int kafka__htab_insert(kafka_htab *t, kafka_hnode *n)
{
    if (t->count >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        kafka_hnode **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < t->cap; i++) {
            kafka_hnode *x = t->slots[i];
            while (x) {
                kafka_hnode *next = x->next;
                x->next = ns[x->hash & (ncap - 1)];
                ns[x->hash & (ncap - 1)] = x;
                x = next;
            }
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    kafka_hnode **head = &t->slots[n->hash & (t->cap - 1)];
    n->next = *head;
    *head = n;
    t->count++;
    return 0;
}

void kafka__htab_remove(kafka_htab *t, kafka_hnode *n)
{
    kafka_hnode **pp = &t->slots[n->hash & (t->cap - 1)];
    while (*pp != n) {
        RL_ASSERT(*pp);
        pp = &(*pp)->next;
    }
    *pp = n->next;
    n->next = NULL;
    t->count--;
}

void kafka__htab_each(kafka_htab *t, void (*fn)(kafka_hnode *n, void *ctx), void *ctx)
{
    for (size_t i = 0; i < t->cap; i++) {
        kafka_hnode *n = t->slots[i];
        while (n) {
            kafka_hnode *next = n->next;
            fn(n, ctx);
            n = next;
        }
    }
}

void kafka__htab_free(kafka_htab *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ helpers */

static void put_buf_str(rl_buf *b, const rl_buf *s)
{
    kafka__put_str(b, rl_slice_make(s->p ? s->p : (const uint8_t *)"", s->len));
}

static void put_bytes(rl_buf *b, rl_slice s)
{
    rl_buf_put_be32(b, (uint32_t)s.len);
    rl_buf_append(b, s.p, s.len);
}

static bool buf_eq(const rl_buf *b, rl_slice s)
{
    return b->len == s.len && (s.len == 0 || memcmp(b->p, s.p, s.len) == 0);
}

static bool buf_set(rl_buf *b, rl_slice s)
{
    rl_buf_reset(b);
    rl_buf_append(b, s.p, s.len);
    return rl_buf_ok(b);
}

static int malformed(rl_err *err, const char *what)
{
    return rl_err_set(err, RL_EPROTO, "malformed %s", what);
}

static rl_slice buf_slice(const rl_buf *b)
{
    return rl_slice_make(b->p ? b->p : (const uint8_t *)"", b->len);
}

/* ------------------------------------------------------------------ groups */

static bool group_eq(const kafka_hnode *n, const void *key)
{
    const kafka_group *g = (const kafka_group *)n;
    return buf_eq(&g->name, *(const rl_slice *)key);
}

static void on_join_timeout(struct ev_loop *loop, ev_timer *w, int revents);

kafka_group *kafka__group_get(kafka_server_t *srv, rl_slice name, bool create)
{
    uint32_t h = kafka__hash(name.p, name.len);
    kafka_group *g = (kafka_group *)kafka__htab_find(&srv->groups, h, group_eq, &name);
    if (g || !create)
        return g;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->srv = srv;
    g->node.hash = h;
    g->generation = 0;
    if (!buf_set(&g->name, name) || kafka__htab_insert(&srv->groups, &g->node) != 0) {
        rl_buf_free(&g->name);
        free(g);
        return NULL;
    }
    ev_timer_init(&g->join_w, on_join_timeout, 0.0, 0.0);
    g->join_w.data = g;
    KAFKA_STAT_ADD(srv, groups, 1);
    return g;
}

kafka_htab *kafka__group_offsets(kafka_group *group) { return &group->offsets; }

rl_slice kafka__group_name(const kafka_group *group) { return buf_slice(&group->name); }

size_t kafka__group_nmembers(const kafka_group *group) { return group->nmembers; }

static void group_free(kafka_group *g)
{
    kafka_server_t *srv = g->srv;
    ev_timer_stop(srv->loop, &g->join_w);
    kafka__htab_remove(&srv->groups, &g->node);
    kafka__offsets_free(&g->offsets);
    rl_buf_free(&g->name);
    rl_buf_free(&g->protocol_type);
    rl_buf_free(&g->protocol);
    free(g);
    KAFKA_STAT_SUB(srv, groups, 1);
}

void kafka__group_maybe_free(kafka_group *g)
{
    if (g && g->nmembers == 0 && g->npending == 0 && g->offsets.count == 0 &&
        g->state == GROUP_EMPTY)
        group_free(g);
}

static kafka_member *member_find(kafka_member *list, rl_slice id)
{
    for (kafka_member *m = list; m; m = m->next)
        if (buf_eq(&m->id, id))
            return m;
    return NULL;
}

static void list_link(kafka_member **head, kafka_member *m)
{
    m->prev = NULL;
    m->next = *head;
    if (*head)
        (*head)->prev = m;
    *head = m;
}

static void list_unlink(kafka_member **head, kafka_member *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        *head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
}

static void on_session_timeout(struct ev_loop *loop, ev_timer *w, int revents);

static void member_touch(kafka_member *m)
{
    kafka_server_t *srv = m->group->srv;
    m->session_w.repeat = (double)m->session_ms / 1000.0;
    ev_timer_again(srv->loop, &m->session_w);
}

static void member_free(kafka_member *m)
{
    ev_timer_stop(m->group->srv->loop, &m->session_w);
    rl_buf_free(&m->id);
    rl_buf_free(&m->instance_id);
    rl_buf_free(&m->protocols);
    rl_buf_free(&m->assignment);
    rl_buf_free(&m->client_id);
    free(m);
}

/* A new member id: the client id (at most 64 bytes of it), then this server's boot id and a
 * sequence number, as Kafka's clientId + "-" + UUID: unique within this server's life. */
static kafka_member *member_new(kafka_group *g, rl_slice client_id, bool pending)
{
    kafka_server_t *srv = g->srv;
    kafka_member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->group = g;
    m->pending = pending;
    size_t n = client_id.p ? client_id.len : 0;
    if (n > 64)
        n = 64;
    if (n > 0)
        rl_buf_append(&m->id, client_id.p, n);
    else
        rl_buf_puts(&m->id, "member");
    rl_buf_printf(&m->id, "-%" PRIx64 "-%" PRIu64, srv->boot_id, ++srv->member_seq);
    if (!rl_buf_ok(&m->id)) {
        rl_buf_free(&m->id);
        free(m);
        return NULL;
    }
    ev_init(&m->session_w, on_session_timeout);
    m->session_w.data = m;
    return m;
}

/* ------------------------------------------------------------------ responses */

/* The member's metadata for the group's selected protocol (its protocols were validated
 * when stored, and every member supports the selected one); empty when none is selected. */
static rl_slice member_metadata(const kafka_group *g, const kafka_member *x)
{
    rl_reader rd = rl_reader_make(buf_slice(&x->protocols));
    int32_t np = rl_get_i32be(&rd);
    for (int32_t i = 0; i < np; i++) {
        rl_slice name, md;
        (void)kafka__get_str(&rd, false, &name);
        int32_t len = rl_get_i32be(&rd);
        md = rl_get_bytes(&rd, len > 0 ? (size_t)len : 0);
        if (buf_eq(&g->protocol, name))
            return md.p ? md : rl_slice_str("");
    }
    return rl_slice_str("");
}

/* One member as JoinGroup (the leader's member list) and DescribeGroups encode it: member_id,
 * group_instance_id (nullable; when with_instance: JoinGroup v5+, DescribeGroups v4+), then
 * for DescribeGroups (describe) client_id and client_host, then its metadata for the selected
 * protocol, then for DescribeGroups its assignment, and the tag section when flexible.
 * has_state: the group is Stable; DescribeGroups gives metadata and assignment only then. */
static void put_member(rl_buf *b, bool flex, const kafka_group *g, const kafka_member *x,
                       bool with_instance, bool describe, bool has_state)
{
    kafka__put_fstr(b, flex, buf_slice(&x->id));
    if (with_instance)
        kafka__put_fstr(b, flex,
                        x->has_instance ? buf_slice(&x->instance_id) : rl_slice_make(NULL, 0));
    if (describe) {
        kafka__put_fstr(b, flex, buf_slice(&x->client_id));
        kafka__put_fstr(b, flex, rl_slice_str(x->client_host));
    }
    kafka__put_fbytes(b, flex, has_state ? member_metadata(g, x) : rl_slice_str(""));
    if (describe)
        kafka__put_fbytes(b, flex, has_state ? buf_slice(&x->assignment) : rl_slice_str(""));
    if (flex)
        rl_buf_put_uvarint(b, 0);
}

/* JoinGroup response to (conn, corr, v). For a successful one, g and m give the generation
 * and, for the leader, the members with their metadata for the selected protocol. */
static int join_resp(kafka_conn *conn, int32_t corr, int16_t v, int16_t error,
                     const kafka_group *g, const kafka_member *m, rl_slice member_id,
                     rl_err *err)
{
    rl_buf *b = &conn->obuf;
    kafka__resp_begin(conn, corr);
    if (v >= 2)
        rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, (uint16_t)error);
    if (error != KAFKA_ERR_NONE || !g) {
        rl_buf_put_be32(b, (uint32_t)-1);
        kafka__put_str(b, rl_slice_str(""));
        kafka__put_str(b, rl_slice_str(""));
        kafka__put_str(b, member_id.p ? member_id : rl_slice_str(""));
        rl_buf_put_be32(b, 0);
        return kafka__resp_end(conn, err);
    }
    rl_buf_put_be32(b, (uint32_t)g->generation);
    put_buf_str(b, &g->protocol);
    put_buf_str(b, &g->leader->id);
    put_buf_str(b, &m->id);
    if (m != g->leader) {
        rl_buf_put_be32(b, 0);
        return kafka__resp_end(conn, err);
    }
    rl_buf_put_be32(b, (uint32_t)g->nmembers);
    /* JoinGroup v0-5 is not flexible (flexible from v6, not served). */
    for (const kafka_member *x = g->members; x; x = x->next)
        put_member(b, false, g, x, v >= 5, false, true);
    return kafka__resp_end(conn, err);
}

static int simple_resp(kafka_conn *conn, int32_t corr, int16_t v, int16_t throttle_from,
                       int16_t error, rl_err *err)
{
    kafka__resp_begin(conn, corr);
    if (v >= throttle_from)
        rl_buf_put_be32(&conn->obuf, 0);
    rl_buf_put_be16(&conn->obuf, (uint16_t)error);
    return kafka__resp_end(conn, err);
}

static int sync_resp(kafka_conn *conn, int32_t corr, int16_t v, int16_t error, rl_slice assign,
                     rl_err *err)
{
    rl_buf *b = &conn->obuf;
    kafka__resp_begin(conn, corr);
    if (v >= 1)
        rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, (uint16_t)error);
    put_bytes(b, error == KAFKA_ERR_NONE ? assign : rl_slice_str(""));
    return kafka__resp_end(conn, err);
}

/* Answers a waiting connection; a response that cannot be built (out of memory) closes it. */
static void deliver(kafka_conn *conn, int rc, const rl_err *err)
{
    if (rc < 0) {
        rl_warn("kafka: connection from %s: %s; closing", conn->peer, err->msg);
        conn->doomed = true;
    }
    kafka__wait_done(conn);
}

static void answer_join(kafka_member *m, int16_t error)
{
    kafka_conn *conn = m->join_conn;
    if (!conn)
        return;
    m->join_conn = NULL;
    rl_err err = {0};
    int rc = join_resp(conn, m->join_corr, m->join_version, error, m->group, m,
                       buf_slice(&m->id), &err);
    deliver(conn, rc, &err);
}

static void answer_sync(kafka_member *m, int16_t error)
{
    kafka_conn *conn = m->sync_conn;
    if (!conn)
        return;
    m->sync_conn = NULL;
    rl_err err = {0};
    int rc = sync_resp(conn, m->sync_corr, m->sync_version, error, buf_slice(&m->assignment),
                       &err);
    deliver(conn, rc, &err);
}

/* ------------------------------------------------------------------ state machine */

static void group_set_state(kafka_group *g, int state)
{
    if (g->state != state)
        rl_debug("kafka: group '%.*s' generation %" PRId32 ": %s -> %s", (int)g->name.len,
                 (const char *)g->name.p, g->generation, state_names[g->state],
                 state_names[state]);
    g->state = state;
}

/* Starts a rebalance (GroupCoordinator.prepareRebalance): waiting SyncGroups are answered
 * REBALANCE_IN_PROGRESS, and the join phase lasts at most the largest rebalance timeout. */
static void group_prepare_rebalance(kafka_group *g, const char *why)
{
    kafka_server_t *srv = g->srv;
    if (g->state == GROUP_PREPARING)
        return;
    if (g->state == GROUP_COMPLETING)
        for (kafka_member *m = g->members; m; m = m->next)
            answer_sync(m, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    for (kafka_member *m = g->members; m; m = m->next)
        rl_buf_reset(&m->assignment);
    int32_t timeout = 0;
    for (kafka_member *m = g->members; m; m = m->next)
        if (m->rebalance_ms > timeout)
            timeout = m->rebalance_ms;
    rl_info("kafka: group '%.*s': rebalancing (%s), %zu members, generation %" PRId32,
            (int)g->name.len, (const char *)g->name.p, why, g->nmembers, g->generation);
    group_set_state(g, GROUP_PREPARING);
    ev_timer_stop(srv->loop, &g->join_w);
    ev_timer_set(&g->join_w, (double)timeout / 1000.0, 0.0);
    ev_timer_start(srv->loop, &g->join_w);
}

/* Protocol every member supports that most members list first (GroupMetadata.selectProtocol):
 * each member votes for its first listed candidate. Returns false when there is none. */
static bool group_select_protocol(kafka_group *g, rl_slice *out)
{
    rl_reader rd = rl_reader_make(buf_slice(&g->members->protocols));
    int32_t np = rl_get_i32be(&rd);
    size_t best_votes = 0;
    bool found = false;
    for (int32_t i = 0; i < np; i++) {
        rl_slice cand;
        (void)kafka__get_str(&rd, false, &cand);
        int32_t len = rl_get_i32be(&rd);
        rl_reader_skip(&rd, len > 0 ? (size_t)len : 0);
        size_t votes = 0;
        bool all = true;
        for (kafka_member *m = g->members; m && all; m = m->next) {
            rl_reader r2 = rl_reader_make(buf_slice(&m->protocols));
            int32_t n2 = rl_get_i32be(&r2);
            bool has = false, first_cand = true;
            for (int32_t k = 0; k < n2 && !has; k++) {
                rl_slice name;
                (void)kafka__get_str(&r2, false, &name);
                int32_t l2 = rl_get_i32be(&r2);
                rl_reader_skip(&r2, l2 > 0 ? (size_t)l2 : 0);
                if (name.len == cand.len && memcmp(name.p, cand.p, cand.len) == 0)
                    has = true;
                else
                    first_cand = false;
            }
            if (!has)
                all = false;
            else if (first_cand)
                votes++;
        }
        if (all && (!found || votes > best_votes)) {
            *out = cand;
            best_votes = votes;
            found = true;
        }
    }
    return found;
}

/* Ends the join phase (GroupCoordinator.onCompleteJoin): members that did not rejoin are
 * removed, a new generation starts, and every waiting JoinGroup is answered. */
static void group_complete_join(kafka_group *g)
{
    kafka_server_t *srv = g->srv;
    ev_timer_stop(srv->loop, &g->join_w);
    kafka_member *m = g->members;
    while (m) {
        kafka_member *next = m->next;
        if (!m->awaiting_join) {
            rl_info("kafka: group '%.*s': member '%.*s' did not rejoin in time; removed",
                    (int)g->name.len, (const char *)g->name.p, (int)m->id.len,
                    (const char *)m->id.p);
            list_unlink(&g->members, m);
            g->nmembers--;
            KAFKA_STAT_SUB(srv, members, 1);
            kafka__offsets_changed(srv);
            if (g->leader == m)
                g->leader = NULL;
            answer_sync(m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
            member_free(m);
        }
        m = next;
    }
    g->generation++;
    KAFKA_STAT_ADD(srv, rebalances, 1);
    if (g->nmembers == 0) {
        rl_buf_reset(&g->protocol);
        g->leader = NULL;
        group_set_state(g, GROUP_EMPTY);
        g->nawaiting = 0;
        return;
    }
    rl_slice proto;
    if (!group_select_protocol(g, &proto) || !buf_set(&g->protocol, proto)) {
        /* Joins are refused when they share no protocol with the group, so this is only
         * reachable by running out of memory: answer and let them rejoin. */
        rl_buf_reset(&g->protocol);
        for (m = g->members; m; m = m->next) {
            m->awaiting_join = false;
            answer_join(m, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
        }
        g->nawaiting = 0;
        group_set_state(g, GROUP_PREPARING);
        group_prepare_rebalance(g, "no common protocol");
        return;
    }
    if (!g->leader)
        g->leader = g->members;
    group_set_state(g, GROUP_COMPLETING);
    rl_info("kafka: group '%.*s': generation %" PRId32 " with %zu members, protocol '%.*s', "
            "leader '%.*s'",
            (int)g->name.len, (const char *)g->name.p, g->generation, g->nmembers,
            (int)g->protocol.len, (const char *)g->protocol.p, (int)g->leader->id.len,
            (const char *)g->leader->id.p);
    for (m = g->members; m; m = m->next) {
        m->awaiting_join = false;
        member_touch(m);
        answer_join(m, KAFKA_ERR_NONE);
    }
    g->nawaiting = 0;
}

static void group_try_complete_join(kafka_group *g)
{
    if (g->state == GROUP_PREPARING && g->nawaiting == g->nmembers && g->npending == 0)
        group_complete_join(g);
}

static void on_join_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    kafka_group *g = w->data;
    (void)loop;
    (void)revents;
    if (g->state == GROUP_PREPARING)
        group_complete_join(g);
    kafka__group_maybe_free(g);
}

/* Removes a member (leave, session expiry) and moves the group on as Kafka's
 * removeMemberAndUpdateGroup does. Its waiting requests are answered UNKNOWN_MEMBER_ID. */
static void member_remove(kafka_group *g, kafka_member *m, const char *why)
{
    kafka_server_t *srv = g->srv;
    if (m->pending) {
        list_unlink(&g->pending, m);
        g->npending--;
        member_free(m);
        group_try_complete_join(g);
        return;
    }
    rl_info("kafka: group '%.*s': member '%.*s' %s", (int)g->name.len, (const char *)g->name.p,
            (int)m->id.len, (const char *)m->id.p, why);
    list_unlink(&g->members, m);
    g->nmembers--;
    KAFKA_STAT_SUB(srv, members, 1);
    kafka__offsets_changed(srv);
    if (m->awaiting_join)
        g->nawaiting--;
    if (g->leader == m)
        g->leader = g->members;
    answer_join(m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    answer_sync(m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    member_free(m);
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING)
        group_prepare_rebalance(g, why);
    group_try_complete_join(g);
}

static void on_session_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    kafka_member *m = w->data;
    kafka_group *g = m->group;
    (void)revents;
    /* A member waiting in a barrier is alive (Kafka's shouldKeepAlive). */
    if (!m->pending && (m->awaiting_join || m->sync_conn)) {
        ev_timer_again(loop, w);
        return;
    }
    ev_timer_stop(loop, w);
    member_remove(g, m, m->pending ? "pending member expired"
                                   : "session timed out; removed");
    kafka__group_maybe_free(g);
}

void kafka__group_conn_gone(kafka_conn *conn)
{
    kafka_member *m = conn->wait_member;
    if (conn->wait == KAFKA_WAIT_COMMIT) {
        kafka__offsets_conn_gone(conn);
    } else if (m) {
        if (m->join_conn == conn)
            m->join_conn = NULL;
        if (m->sync_conn == conn)
            m->sync_conn = NULL;
    }
    conn->wait = KAFKA_WAIT_NONE;
    conn->wait_member = NULL;
}

static void groups_free_one(kafka_hnode *n, void *ctx)
{
    kafka_group *g = (kafka_group *)n;
    (void)ctx;
    while (g->members) {
        kafka_member *m = g->members;
        list_unlink(&g->members, m);
        member_free(m);
        KAFKA_STAT_SUB(g->srv, members, 1);
    }
    while (g->pending) {
        kafka_member *m = g->pending;
        list_unlink(&g->pending, m);
        member_free(m);
    }
    group_free(g);
}

void kafka__groups_free(kafka_server_t *srv)
{
    kafka__htab_each(&srv->groups, groups_free_one, NULL);
    kafka__htab_free(&srv->groups);
}

int16_t kafka__group_commit_check(kafka_group *g, int32_t generation, rl_slice member_id)
{
    /* GroupCoordinator.handleCommitOffsets (Kafka 2.x): a commit without a generation is
     * accepted for a group without members (a "simple" consumer, or an admin). */
    if (!g || g->state == GROUP_EMPTY)
        return generation < 0 ? KAFKA_ERR_NONE : KAFKA_ERR_ILLEGAL_GENERATION;
    if (g->state == GROUP_COMPLETING)
        return KAFKA_ERR_REBALANCE_IN_PROGRESS;
    kafka_member *m = member_find(g->members, member_id);
    if (!m)
        return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (generation != g->generation)
        return KAFKA_ERR_ILLEGAL_GENERATION;
    member_touch(m);
    return KAFKA_ERR_NONE;
}

/* ------------------------------------------------------------------ FindCoordinator */

int kafka__find_coordinator(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice key;
    int8_t key_type = 0;
    if (!kafka__get_str(&rd, false, &key))
        return malformed(err, "key");
    if (v >= 1)
        key_type = rl_get_i8(&rd);
    if (rd.err)
        return malformed(err, "key_type");
    rl_buf *b = &conn->obuf;
    int16_t error = key_type == 0 ? KAFKA_ERR_NONE : KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    kafka__resp_begin(conn, req->correlation_id);
    if (v >= 1)
        rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, (uint16_t)error);
    if (v >= 1)
        kafka__put_str(b, error ? rl_slice_str("transaction coordinator not served")
                                : rl_slice_make(NULL, 0));
    rl_buf_put_be32(b, (uint32_t)(error ? -1 : srv->opts.node_id));
    kafka__put_str(b, rl_slice_str(error ? ""
                                   : srv->wildcard ? conn->local_host
                                                   : srv->opts.advertised_host));
    rl_buf_put_be32(b, error ? (uint32_t)-1 : srv->port);
    return kafka__resp_end(conn, err);
}

/* ------------------------------------------------------------------ JoinGroup */

/* Protocols one JoinGroup may list. Clients send one per assignor (librdkafka: range and
 * roundrobin; Java: up to 3); group_supports compares every pair across members, so the
 * count from the wire is bounded before anything is kept. */
enum { KAFKA_GROUP_MAX_PROTOCOLS = 64 };

/* Validates a protocols array (count + entries) and returns its bytes. */
static bool get_protocols(rl_reader *rd, rl_slice *raw)
{
    const uint8_t *start = rd->p;
    int32_t n = kafka__get_count(rd, false);
    if (n < 0 || n > KAFKA_GROUP_MAX_PROTOCOLS)
        return false;
    for (int32_t i = 0; i < n; i++) {
        rl_slice name;
        if (!kafka__get_str(rd, false, &name))
            return false;
        int32_t len = rl_get_i32be(rd);
        if (rd->err || len < -1)
            return false;
        rl_reader_skip(rd, len > 0 ? (size_t)len : 0);
        if (rd->err)
            return false;
    }
    *raw = rl_slice_make(start, (size_t)(rd->p - start));
    return true;
}

/* True when the member's protocols share one with every other member of the group
 * (GroupMetadata.supportsProtocols). */
static bool group_supports(const kafka_group *g, const kafka_member *self, rl_slice protocols)
{
    rl_reader rd = rl_reader_make(protocols);
    int32_t np = rl_get_i32be(&rd);
    for (int32_t i = 0; i < np; i++) {
        rl_slice cand;
        (void)kafka__get_str(&rd, false, &cand);
        int32_t len = rl_get_i32be(&rd);
        rl_reader_skip(&rd, len > 0 ? (size_t)len : 0);
        bool all = true;
        for (const kafka_member *m = g->members; m && all; m = m->next) {
            if (m == self)
                continue;
            rl_reader r2 = rl_reader_make(buf_slice(&m->protocols));
            int32_t n2 = rl_get_i32be(&r2);
            bool has = false;
            for (int32_t k = 0; k < n2 && !has; k++) {
                rl_slice name;
                (void)kafka__get_str(&r2, false, &name);
                int32_t l2 = rl_get_i32be(&r2);
                rl_reader_skip(&r2, l2 > 0 ? (size_t)l2 : 0);
                has = name.len == cand.len && memcmp(name.p, cand.p, cand.len) == 0;
            }
            all = has;
        }
        if (all)
            return true;
    }
    return false;
}

/* Parks the JoinGroup of m on conn until the join phase ends. */
static void join_wait(kafka_conn *conn, kafka_member *m)
{
    kafka_group *g = m->group;
    if (m->join_conn && m->join_conn != conn) {
        /* The same member joined again on another connection: the older request loses. */
        answer_join(m, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    }
    if (!m->awaiting_join) {
        m->awaiting_join = true;
        g->nawaiting++;
    }
    m->join_conn = conn;
    m->join_corr = conn->req.correlation_id;
    m->join_version = conn->req.api_version;
    kafka__wait_begin(conn, KAFKA_WAIT_JOIN, m);
}

/* "/host" of a "host:port" or "[host]:port" peer string. */
static void peer_host(const char *peer, char *out, size_t outlen)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    snprintf(out, outlen, "/%.*s", (int)n, peer);
}

/* Stores what a JoinGroup says about the member. Returns false when out of memory. */
static bool member_update(kafka_member *m, const kafka_conn *conn, int32_t session_ms,
                          int32_t rebalance_ms, rl_slice instance, rl_slice protocols)
{
    m->session_ms = session_ms;
    m->rebalance_ms = rebalance_ms;
    m->has_instance = instance.p != NULL;
    peer_host(conn->peer, m->client_host, sizeof m->client_host);
    if (!buf_set(&m->client_id, conn->req.client_id.p ? conn->req.client_id : rl_slice_str("")))
        return false;
    if (!buf_set(&m->instance_id, instance.p ? instance : rl_slice_str("")))
        return false;
    return buf_set(&m->protocols, protocols);
}

int kafka__join_group(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    int32_t corr = req->correlation_id;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice group_id, member_id, instance = {NULL, 0}, ptype, protocols;

    if (!kafka__get_str(&rd, false, &group_id))
        return malformed(err, "group_id");
    int32_t session_ms = rl_get_i32be(&rd);
    int32_t rebalance_ms = v >= 1 ? rl_get_i32be(&rd) : session_ms;
    if (!kafka__get_str(&rd, false, &member_id))
        return malformed(err, "timeouts or member_id");
    if (v >= 5 && !kafka__get_str(&rd, true, &instance))
        return malformed(err, "group_instance_id");
    if (!kafka__get_str(&rd, false, &ptype))
        return malformed(err, "protocol_type");
    if (!get_protocols(&rd, &protocols))
        return malformed(err, "protocols (a valid array of at most 64)");

    if (group_id.len == 0 || group_id.len > KAFKA_GROUP_ID_MAX)
        return join_resp(conn, corr, v, KAFKA_ERR_INVALID_GROUP_ID, NULL, NULL, member_id, err);
    if (member_id.len > KAFKA_MEMBER_ID_MAX)
        return join_resp(conn, corr, v, KAFKA_ERR_UNKNOWN_MEMBER_ID, NULL, NULL,
                         rl_slice_str(""), err);
    if (session_ms < srv->opts.group_min_session_ms ||
        session_ms > srv->opts.group_max_session_ms)
        return join_resp(conn, corr, v, KAFKA_ERR_INVALID_SESSION_TIMEOUT, NULL, NULL,
                         member_id, err);
    if (rebalance_ms < 0)
        rebalance_ms = session_ms;

    kafka_group *g = kafka__group_get(srv, group_id, true);
    if (!g)
        return rl_err_set(err, -ENOMEM, "out of memory creating group");

    /* Protocol checks (GroupCoordinator.doJoinGroup). */
    bool ok;
    if (g->nmembers == 0)
        ok = ptype.len > 0 && protocols.len > 4; /* a type and at least one protocol */
    else
        ok = buf_eq(&g->protocol_type, ptype) &&
             group_supports(g, member_find(g->members, member_id), protocols);
    if (!ok) {
        int rc = join_resp(conn, corr, v, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL, NULL, NULL,
                           member_id, err);
        kafka__group_maybe_free(g);
        return rc;
    }

    kafka_member *m = NULL;
    bool is_new = false;
    if (member_id.len == 0 || (m = member_find(g->pending, member_id)) != NULL) {
        if (!m && v >= 4) {
            /* KIP-394: hand out the id first; the member joins with it. */
            m = member_new(g, req->client_id, true);
            if (!m) {
                kafka__group_maybe_free(g);
                return rl_err_set(err, -ENOMEM, "out of memory adding a member");
            }
            m->session_ms = session_ms;
            list_link(&g->pending, m);
            g->npending++;
            member_touch(m);
            return join_resp(conn, corr, v, KAFKA_ERR_MEMBER_ID_REQUIRED, NULL, NULL,
                             buf_slice(&m->id), err);
        }
        if (m) {
            list_unlink(&g->pending, m);
            g->npending--;
            m->pending = false;
        } else {
            m = member_new(g, req->client_id, false);
            if (!m) {
                kafka__group_maybe_free(g);
                return rl_err_set(err, -ENOMEM, "out of memory adding a member");
            }
        }
        is_new = true;
    } else {
        m = member_find(g->members, member_id);
        if (!m) {
            int rc = join_resp(conn, corr, v, KAFKA_ERR_UNKNOWN_MEMBER_ID, NULL, NULL,
                               member_id, err);
            kafka__group_maybe_free(g);
            return rc;
        }
    }

    bool same = !is_new && buf_eq(&m->protocols, protocols);
    if (!member_update(m, conn, session_ms, rebalance_ms, instance, protocols)) {
        if (is_new)
            member_free(m);
        kafka__group_maybe_free(g);
        return rl_err_set(err, -ENOMEM, "out of memory storing a member");
    }
    if (is_new) {
        if (g->nmembers == 0 && !buf_set(&g->protocol_type, ptype)) {
            member_free(m);
            kafka__group_maybe_free(g);
            return rl_err_set(err, -ENOMEM, "out of memory storing a member");
        }
        list_link(&g->members, m);
        /* Keep join order (the first member becomes leader): link at the head, then move
         * to the tail. Groups are small, so the walk is cheap. */
        if (m->next) {
            list_unlink(&g->members, m);
            kafka_member *t = g->members;
            while (t->next)
                t = t->next;
            t->next = m;
            m->prev = t;
        }
        g->nmembers++;
        KAFKA_STAT_ADD(srv, members, 1);
        kafka__offsets_changed(srv);
        rl_info("kafka: group '%.*s': member '%.*s' joined from %s", (int)g->name.len,
                (const char *)g->name.p, (int)m->id.len, (const char *)m->id.p, conn->peer);
    }
    member_touch(m);

    switch (g->state) {
    case GROUP_EMPTY:
    case GROUP_PREPARING:
        join_wait(conn, m);
        group_prepare_rebalance(g, "member joined");
        group_try_complete_join(g);
        return KAFKA_PARKED;
    case GROUP_COMPLETING:
        if (same)
            /* It missed the response: the current generation is the answer. */
            return join_resp(conn, corr, v, KAFKA_ERR_NONE, g, m, member_id, err);
        join_wait(conn, m);
        group_prepare_rebalance(g, "member changed its metadata");
        return KAFKA_PARKED;
    default: /* GROUP_STABLE */
        if (same && m != g->leader)
            return join_resp(conn, corr, v, KAFKA_ERR_NONE, g, m, member_id, err);
        join_wait(conn, m);
        group_prepare_rebalance(g, is_new ? "member joined" : "member rejoined");
        return KAFKA_PARKED;
    }
}

/* ------------------------------------------------------------------ SyncGroup */

/* Looks up (group, member) for SyncGroup, Heartbeat: a Kafka error code, or 0 with *gp and
 * *mp set. */
static int16_t member_check(kafka_server_t *srv, rl_slice group_id, rl_slice member_id,
                            int32_t generation, kafka_group **gp, kafka_member **mp)
{
    *gp = NULL;
    *mp = NULL;
    if (group_id.len == 0)
        return KAFKA_ERR_INVALID_GROUP_ID;
    kafka_group *g = kafka__group_get(srv, group_id, false);
    if (!g || g->state == GROUP_EMPTY)
        return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    kafka_member *m = member_find(g->members, member_id);
    if (!m)
        return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    *gp = g;
    *mp = m;
    if (generation != g->generation)
        return KAFKA_ERR_ILLEGAL_GENERATION;
    return KAFKA_ERR_NONE;
}

int kafka__sync_group(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    int32_t corr = req->correlation_id;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice group_id, member_id, instance;

    if (!kafka__get_str(&rd, false, &group_id))
        return malformed(err, "group_id");
    int32_t generation = rl_get_i32be(&rd);
    if (!kafka__get_str(&rd, false, &member_id))
        return malformed(err, "generation_id or member_id");
    if (v >= 3 && !kafka__get_str(&rd, true, &instance))
        return malformed(err, "group_instance_id");
    /* The assignments are checked whole before anything is stored. */
    rl_reader arr = rd;
    int32_t n = kafka__get_count(&rd, false);
    if (n < 0)
        return malformed(err, "assignments count");
    for (int32_t i = 0; i < n; i++) {
        rl_slice mid;
        int32_t len;
        if (!kafka__get_str(&rd, false, &mid) || (len = rl_get_i32be(&rd)) < -1 || rd.err)
            return malformed(err, "assignment entry");
        rl_reader_skip(&rd, len > 0 ? (size_t)len : 0);
        if (rd.err)
            return malformed(err, "assignment bytes");
    }

    kafka_group *g;
    kafka_member *m;
    int16_t ec = member_check(srv, group_id, member_id, generation, &g, &m);
    if (ec != KAFKA_ERR_NONE)
        return sync_resp(conn, corr, v, ec, rl_slice_str(""), err);
    member_touch(m);
    if (g->state == GROUP_PREPARING)
        return sync_resp(conn, corr, v, KAFKA_ERR_REBALANCE_IN_PROGRESS, rl_slice_str(""), err);
    if (g->state == GROUP_STABLE)
        return sync_resp(conn, corr, v, KAFKA_ERR_NONE, buf_slice(&m->assignment), err);

    /* COMPLETING: wait for the leader's assignment (or, for the leader, deliver it). */
    if (m->sync_conn)
        answer_sync(m, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    m->sync_conn = conn;
    m->sync_corr = corr;
    m->sync_version = v;
    kafka__wait_begin(conn, KAFKA_WAIT_SYNC, m);
    if (m == g->leader) {
        (void)kafka__get_count(&arr, false);
        for (kafka_member *x = g->members; x; x = x->next)
            rl_buf_reset(&x->assignment);
        bool oom = false;
        for (int32_t i = 0; i < n; i++) {
            rl_slice mid;
            (void)kafka__get_str(&arr, false, &mid);
            int32_t len = rl_get_i32be(&arr);
            rl_slice bytes = rl_get_bytes(&arr, len > 0 ? (size_t)len : 0);
            kafka_member *x = member_find(g->members, mid);
            if (x && !buf_set(&x->assignment, bytes))
                oom = true;
        }
        if (oom) {
            /* Members would get partial assignments: start over instead. */
            rl_warn("kafka: group '%.*s': out of memory storing assignments; rebalancing",
                    (int)g->name.len, (const char *)g->name.p);
            group_prepare_rebalance(g, "out of memory");
            return KAFKA_PARKED;
        }
        group_set_state(g, GROUP_STABLE);
        for (kafka_member *x = g->members; x; x = x->next)
            answer_sync(x, KAFKA_ERR_NONE);
    }
    return KAFKA_PARKED;
}

/* ------------------------------------------------------------------ Heartbeat */

int kafka__heartbeat(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice group_id, member_id, instance;

    if (!kafka__get_str(&rd, false, &group_id))
        return malformed(err, "group_id");
    int32_t generation = rl_get_i32be(&rd);
    if (!kafka__get_str(&rd, false, &member_id))
        return malformed(err, "generation_id or member_id");
    if (v >= 3 && !kafka__get_str(&rd, true, &instance))
        return malformed(err, "group_instance_id");

    kafka_group *g;
    kafka_member *m;
    int16_t ec = member_check(srv, group_id, member_id, generation, &g, &m);
    if (m)
        member_touch(m);
    if (ec == KAFKA_ERR_NONE && g->state == GROUP_PREPARING)
        ec = KAFKA_ERR_REBALANCE_IN_PROGRESS;
    return simple_resp(conn, req->correlation_id, v, 1, ec, err);
}

/* ------------------------------------------------------------------ LeaveGroup */

static int16_t leave_one(kafka_server_t *srv, rl_slice group_id, rl_slice member_id)
{
    if (group_id.len == 0)
        return KAFKA_ERR_INVALID_GROUP_ID;
    kafka_group *g = kafka__group_get(srv, group_id, false);
    if (!g)
        return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    kafka_member *m = member_find(g->members, member_id);
    if (!m) {
        m = member_find(g->pending, member_id);
        if (!m)
            return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    }
    member_remove(g, m, "left the group");
    kafka__group_maybe_free(g);
    return KAFKA_ERR_NONE;
}

int kafka__leave_group(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice group_id, member_id;
    rl_buf *b = &conn->obuf;

    if (!kafka__get_str(&rd, false, &group_id))
        return malformed(err, "group_id");
    if (v < 3) {
        if (!kafka__get_str(&rd, false, &member_id))
            return malformed(err, "member_id");
        return simple_resp(conn, req->correlation_id, v, 1, leave_one(srv, group_id, member_id),
                           err);
    }
    int32_t n = kafka__get_count(&rd, false);
    if (n < 0)
        return malformed(err, "members count");
    /* Check the whole array before acting on any of it. */
    rl_reader check = rd;
    for (int32_t i = 0; i < n; i++) {
        rl_slice instance;
        if (!kafka__get_str(&check, false, &member_id) ||
            !kafka__get_str(&check, true, &instance))
            return malformed(err, "member entry");
    }
    kafka__resp_begin(conn, req->correlation_id);
    rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, group_id.len == 0 ? KAFKA_ERR_INVALID_GROUP_ID : KAFKA_ERR_NONE);
    rl_buf_put_be32(b, (uint32_t)n);
    for (int32_t i = 0; i < n; i++) {
        rl_slice instance;
        (void)kafka__get_str(&rd, false, &member_id);
        (void)kafka__get_str(&rd, true, &instance);
        kafka__put_str(b, member_id);
        kafka__put_str(b, instance);
        rl_buf_put_be16(b, (uint16_t)leave_one(srv, group_id, member_id));
    }
    return kafka__resp_end(conn, err);
}

/* ------------------------------------------------------------------ ListGroups */

typedef struct list_ctx {
    rl_buf *b;
    bool flexible;
    int16_t version;
    const rl_slice *states; /* filter (v4); NULL or nstates 0: all */
    int32_t nstates;
    uint32_t count;
} list_ctx;

static bool state_matches(const list_ctx *c, int state)
{
    if (c->nstates <= 0)
        return true;
    const char *name = state_names[state];
    size_t n = strlen(name);
    for (int32_t i = 0; i < c->nstates; i++)
        if (c->states[i].len == n && strncasecmp((const char *)c->states[i].p, name, n) == 0)
            return true;
    return false;
}

static void list_one(kafka_hnode *n, void *arg)
{
    list_ctx *c = arg;
    const kafka_group *g = (const kafka_group *)n;
    if (!state_matches(c, g->state))
        return;
    kafka__put_fstr(c->b, c->flexible, buf_slice(&g->name));
    kafka__put_fstr(c->b, c->flexible, buf_slice(&g->protocol_type));
    if (c->version >= 4)
        kafka__put_fstr(c->b, c->flexible, rl_slice_str(state_names[g->state]));
    if (c->flexible)
        rl_buf_put_uvarint(c->b, 0);
    c->count++;
}

/* States a ListGroups v4 filter may name: one per state, four at most matter; a longer list
 * is accepted up to this bound (duplicates), then refused as malformed. */
enum { KAFKA_LIST_MAX_STATES = 16 };

int kafka__list_groups(kafka_conn *conn, rl_err *err)
{
    kafka_server_t *srv = conn->srv;
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    rl_reader rd = rl_reader_make(req->body);
    rl_slice states[KAFKA_LIST_MAX_STATES];
    int32_t nstates = 0;
    if (v >= 4) {
        nstates = kafka__get_ccount(&rd, false);
        if (nstates < 0 || nstates > KAFKA_LIST_MAX_STATES)
            return malformed(err, "states_filter (a compact array of at most 16 names)");
        for (int32_t i = 0; i < nstates; i++)
            if (!kafka__get_cstr(&rd, false, &states[i]))
                return malformed(err, "states_filter entry");
    }
    if (flex && !kafka__skip_tags(&rd))
        return malformed(err, "tagged fields");
    rl_buf *b = &conn->obuf;
    kafka__resp_begin(conn, req->correlation_id);
    if (flex)
        rl_buf_put_uvarint(b, 0); /* response header v1 tags */
    if (v >= 1)
        rl_buf_put_be32(b, 0);
    rl_buf_put_be16(b, KAFKA_ERR_NONE);
    /* The count is patched once the groups are written (the filter decides it). A flexible
     * count is a uvarint: reserve the 5 bytes an int32 can need and write it padded. */
    size_t at = b->len;
    if (flex)
        rl_buf_append(b, "\x80\x80\x80\x80\x00", 5);
    else
        rl_buf_put_be32(b, 0);
    list_ctx c = {b, flex, v, states, nstates, 0};
    kafka__htab_each(&srv->groups, list_one, &c);
    if (rl_buf_ok(b)) {
        if (flex) {
            /* Padded LEB128: continuation bits on the first four bytes. */
            uint32_t x = c.count + 1;
            for (int i = 0; i < 5; i++) {
                b->p[at + (size_t)i] = (uint8_t)((x & 0x7f) | (i < 4 ? 0x80 : 0));
                x >>= 7;
            }
        } else {
            rl_buf_patch_be32(b, at, c.count);
        }
    }
    if (flex)
        rl_buf_put_uvarint(b, 0);
    return kafka__resp_end(conn, err);
}

/* ------------------------------------------------------------------ DescribeGroups */

static void describe_one(kafka_conn *conn, rl_slice id)
{
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    rl_buf *b = &conn->obuf;
    kafka_group *g = id.len > 0 ? kafka__group_get(conn->srv, id, false) : NULL;
    rl_buf_put_be16(b, id.len == 0 ? KAFKA_ERR_INVALID_GROUP_ID : KAFKA_ERR_NONE);
    kafka__put_fstr(b, flex, id);
    if (!g) {
        kafka__put_fstr(b, flex, rl_slice_str(id.len == 0 ? "" : "Dead"));
        kafka__put_fstr(b, flex, rl_slice_str(""));
        kafka__put_fstr(b, flex, rl_slice_str(""));
        kafka__put_fcount(b, flex, 0);
    } else {
        bool stable = g->state == GROUP_STABLE;
        kafka__put_fstr(b, flex, rl_slice_str(state_names[g->state]));
        kafka__put_fstr(b, flex, buf_slice(&g->protocol_type));
        kafka__put_fstr(b, flex, stable ? buf_slice(&g->protocol) : rl_slice_str(""));
        kafka__put_fcount(b, flex, (uint32_t)g->nmembers);
        for (const kafka_member *m = g->members; m; m = m->next)
            put_member(b, flex, g, m, v >= 4, true, stable);
    }
    if (v >= 3)
        rl_buf_put_be32(b, (uint32_t)INT32_MIN); /* authorized_operations: not computed */
    if (flex)
        rl_buf_put_uvarint(b, 0);
}

int kafka__describe_groups(kafka_conn *conn, rl_err *err)
{
    const kafka_req *req = &conn->req;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    rl_reader rd = rl_reader_make(req->body);
    rl_buf *b = &conn->obuf;
    int32_t n = flex ? kafka__get_ccount(&rd, false) : kafka__get_count(&rd, false);
    if (n < 0)
        return malformed(err, "groups count");
    if (n > KAFKA_MAX_REQ_GROUPS)
        return rl_err_set(err, RL_ETOOBIG,
                          "%" PRId32 " groups in one request (at most %d are answered)", n,
                          KAFKA_MAX_REQ_GROUPS);
    rl_reader names = rd;
    for (int32_t i = 0; i < n; i++) {
        rl_slice id;
        if (!(flex ? kafka__get_cstr(&rd, false, &id) : kafka__get_str(&rd, false, &id)))
            return malformed(err, "group id");
    }
    if (v >= 3)
        (void)rl_get_u8(&rd); /* include_authorized_operations */
    if (flex)
        (void)kafka__skip_tags(&rd);
    if (rd.err)
        return malformed(err, "include_authorized_operations or tagged fields");

    kafka__resp_begin(conn, req->correlation_id);
    if (flex)
        rl_buf_put_uvarint(b, 0);
    if (v >= 1)
        rl_buf_put_be32(b, 0);
    kafka__put_fcount(b, flex, (uint32_t)n);
    for (int32_t i = 0; i < n; i++) {
        rl_slice id;
        (void)(flex ? kafka__get_cstr(&names, false, &id) : kafka__get_str(&names, false, &id));
        describe_one(conn, id);
        /* Big groups asked for many times over: the response is bounded, not the request. */
        if (b->len - conn->resp_obuf_start > KAFKA_MAX_RESP_BYTES) {
            kafka__resp_abort(conn);
            return rl_err_set(err, RL_ETOOBIG,
                              "response above %zu bytes after %" PRId32 " of %" PRId32
                              " groups",
                              (size_t)KAFKA_MAX_RESP_BYTES, i + 1, n);
        }
    }
    if (flex)
        rl_buf_put_uvarint(b, 0);
    return kafka__resp_end(conn, err);
}
