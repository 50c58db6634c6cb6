/*
 * The Kafka connector (sluice_kafka.h): one librdkafka consumer feeding one database.
 *
 * DESIGN. A batch is: poll up to `batch` messages (up to linger_ms once the first came),
 * put each at MEMORY, then store every touched partition's last offset with
 * sluice_offset_put — in the log after the records it covers, so recovery can never find
 * an offset ahead of its records — the last of them at the configured ack level (which
 * covers everything before it in the log), and only then commit the offsets to Kafka.
 * A crash anywhere re-reads from the stored offset + 1, and the records it puts again
 * carry the same (key, ts) and value: the upsert keeps one (docs/kafka.md).
 *
 * Backpressure: the database is expected to fail fast on a full ring (the command opens
 * it with SLUICE_FULL_FAIL). A put that meets a full ring pauses every assigned
 * partition, and the message — and any others librdkafka had already fetched — waits in
 * a FIFO; the poll loop keeps serving the group (heartbeats, rebalances) and retries the
 * FIFO until puts flow, then resumes the partitions. It never blocks past
 * max.poll.interval.ms.
 *
 * Rebalances (eager protocol): on assignment each partition starts at sluice's stored
 * offset + 1, else at the group's committed offset (asked for there, so the lag is known
 * before a message comes), else at the earliest. On revocation
 * the offsets of what was put are stored, made durable and committed before the
 * partitions are released; messages still waiting for ring space are dropped — not
 * stored, so the next owner reads them from the committed offset.
 */
#include "sluice_kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define DEFAULT_BATCH 10000
#define DEFAULT_LINGER_MS 100
#define FIFO_MAX 100000
#define COMMIT_EVERY_MS 1000
#define STORE_WAIT_MS 30000

struct part {
    char *topic;
    int32_t partition;
    int64_t last_put;  /* offset of the last message put (or skipped as bad); -1: none */
    int64_t stored;    /* the offset last stored in sluice; -1: none */
    int64_t committed; /* the offset last committed to Kafka; -1: none */
    int assigned;      /* the partition is assigned to this consumer now */
    int64_t start;     /* where this assignment started reading (lag before a message) */
};

struct sluice_kafka {
    sluice_db *db;
    rd_kafka_t *rk;
    sluice_kafka_config cfg;
    FILE *dead;
    struct part *parts;
    size_t nparts, capparts;
    rd_kafka_message_t **fifo; /* messages waiting for ring space, in arrival order */
    size_t fifo_head, fifo_n;
    int paused;
    int fatal;                 /* a fatal consumer error: every poll returns it */
    uint64_t last_commit_ms;   /* below DURABLE acks, Kafka commits follow a flush, at
                                * most once per COMMIT_EVERY_MS */
    rd_kafka_queue_t *commit_q; /* outcomes of asynchronous commits (on_committed) */
    int closing;               /* sluice_kafka_close committed already: the revocation that
                                * rd_kafka_consumer_close calls must not commit again (a
                                * synchronous commit there never returned) */
    struct sluice_kafka_stats st;
};

static void say(sluice_kafka *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(sluice_kafka *k, const char *fmt, ...)
{
    if (!k->cfg.errbuf || !k->cfg.errbuf_bytes)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->cfg.errbuf, k->cfg.errbuf_bytes, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static struct part *part_get(sluice_kafka *k, const char *topic, int32_t partition, int create)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].partition == partition && !strcmp(k->parts[i].topic, topic))
            return &k->parts[i];
    if (!create)
        return NULL;
    if (k->nparts == k->capparts) {
        size_t cap = k->capparts ? k->capparts * 2 : 16;
        struct part *p = realloc(k->parts, cap * sizeof *p);
        if (!p)
            return NULL;
        k->parts = p;
        k->capparts = cap;
    }
    char *t = strdup(topic);
    if (!t)
        return NULL;
    k->parts[k->nparts] = (struct part){t, partition, -1, -1, -1, 0, 0};
    return &k->parts[k->nparts++];
}

static void source_name(char *out, size_t cap, const char *topic, int32_t partition)
{
    snprintf(out, cap, "%s/%" PRId32, topic, partition);
}

/* Stores the offsets of partitions with puts not yet stored; the last at `ack` (the log
 * orders it after everything before it). 0: all stored; 1: the ring is full — what is not
 * stored yet waits for the next call, and nothing may be committed to Kafka; <0: an
 * error. With `wait` (revocation, close: the offsets must be stored now) a full ring is
 * waited out, up to STORE_WAIT_MS: the writer drains it unless the database is stuck. */
static int store_offsets(sluice_kafka *k, int ack, int wait)
{
    ssize_t last = -1;
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].last_put > k->parts[i].stored)
            last = (ssize_t)i;
    uint64_t deadline = now_ms() + STORE_WAIT_MS;
    int r = 0;
    for (size_t i = 0; i < k->nparts && !r; i++) {
        struct part *p = &k->parts[i];
        if (p->last_put <= p->stored)
            continue;
        char src[SLUICE_SOURCE_MAX + 1];
        source_name(src, sizeof src, p->topic, p->partition);
        for (;;) {
            r = sluice_offset_put(k->db, src, (uint64_t)p->last_put,
                                  (ssize_t)i == last ? ack : SLUICE_ACK_MEMORY);
            if ((r != SLUICE_EBUSY && r != SLUICE_ETIMEDOUT) || (wait && now_ms() >= deadline))
                break;
            if (!wait)
                return 1;
            struct timespec ms = {0, 1000000}; /* the writer drains the ring meanwhile */
            nanosleep(&ms, NULL);
        }
        if (!r)
            p->stored = p->last_put;
    }
    if (last < 0 && ack == SLUICE_ACK_DURABLE && !r)
        r = sluice_flush(k->db); /* nothing new, but what is stored must be durable */
    return r;
}

/* A synchronous commit that failed for good: the partitions and offsets it carried, told
 * to the embedder (their next owner may store again what this directory holds). */
static void warn_commit_failed(sluice_kafka *k, const rd_kafka_topic_partition_list_t *l,
                               rd_kafka_resp_err_t err)
{
    k->st.commits_failed++;
    if (!k->cfg.on_warning)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "committing offsets to Kafka failed (%s):", rd_kafka_err2str(err));
    for (int i = 0; i < l->cnt && n > 0 && (size_t)n < sizeof line; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s/%" PRId32 "@%" PRId64, l->elems[i].topic,
                      l->elems[i].partition, l->elems[i].offset - 1);
    if (n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n,
                 "; a next owner of these partitions may store again messages up to these offsets");
    k->cfg.on_warning(k->cfg.warning_arg, line);
}

/* The outcome of an asynchronous commit (served from commit_q by the poll). A failed one
 * leaves its partitions to be committed again by the next commit. */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    sluice_kafka *k = opaque;
    (void)rk;
    if (!offsets || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    int failed = 0;
    for (int i = 0; i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        if (!err && !tp->err)
            continue;
        failed = 1;
        struct part *p = part_get(k, tp->topic, tp->partition, 0);
        if (p && p->committed >= tp->offset - 1)
            p->committed = tp->offset - 2; /* below what it carried: sent again */
    }
    if (failed)
        k->st.commits_failed++;
}

/* Commits to Kafka the offsets stored in sluice — durable by then (the caller's duty).
 * An asynchronous commit that fails (a rebalance began) is seen by on_committed, which
 * marks its partitions uncommitted again; a synchronous one — on revocation and close,
 * where the next owner starts from it — commits every stored offset of an assigned
 * partition again, whatever was sent before, and is tried twice. */
static void commit_offsets(sluice_kafka *k, int async)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nparts + 1);
    for (size_t i = 0; i < k->nparts; i++) {
        struct part *p = &k->parts[i];
        /* never a partition of another owner now: that could move its offset back */
        if (p->assigned && p->stored >= 0 && (p->stored > p->committed || !async)) {
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->stored + 1;
            p->committed = p->stored;
        }
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt && async)
        err = rd_kafka_commit_queue(k->rk, l, k->commit_q, on_committed, k);
    else if (l->cnt && (err = rd_kafka_commit(k->rk, l, 0)))
        err = rd_kafka_commit(k->rk, l, 0); /* the coordinator moving: once more */
    if (err && !async)
        warn_commit_failed(k, l, err);
    else if (err)
        k->st.commits_failed++;
    rd_kafka_topic_partition_list_destroy(l);
    k->last_commit_ms = now_ms();
}

static void fifo_drop(sluice_kafka *k, const rd_kafka_topic_partition_list_t *revoked)
{
    size_t keep = 0;
    for (size_t i = 0; i < k->fifo_n; i++) {
        rd_kafka_message_t *m = k->fifo[(k->fifo_head + i) % FIFO_MAX];
        int gone = !revoked;
        for (int j = 0; revoked && j < revoked->cnt && !gone; j++)
            gone = revoked->elems[j].partition == m->partition &&
                   !strcmp(revoked->elems[j].topic, rd_kafka_topic_name(m->rkt));
        if (gone)
            rd_kafka_message_destroy(m);
        else
            k->fifo[(k->fifo_head + keep++) % FIFO_MAX] = m;
    }
    k->fifo_n = keep;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sluice_kafka *k = opaque;
    k->st.rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* where the group got to, for partitions sluice has no offset of */
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
        if (rd_kafka_committed(rk, committed, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int i = 0; i < committed->cnt; i++)
                committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            char src[SLUICE_SOURCE_MAX + 1];
            uint64_t stored;
            source_name(src, sizeof src, tp->topic, tp->partition);
            struct part *p = part_get(k, tp->topic, tp->partition, 1);
            if (p)
                p->assigned = 1;
            if (sluice_offset_get(k->db, src, &stored) == 0) {
                tp->offset = (int64_t)stored + 1; /* sluice's offset is the truth */
                if (p)
                    p->last_put = p->stored = (int64_t)stored;
            } else if (committed->elems[i].offset >= 0) {
                tp->offset = committed->elems[i].offset; /* the group's */
            } else {
                tp->offset = RD_KAFKA_OFFSET_BEGINNING;
            }
            if (p)
                p->start = tp->offset >= 0 ? tp->offset : 0;
        }
        rd_kafka_topic_partition_list_destroy(committed);
        rd_kafka_assign(rk, parts);
        k->st.assigned = (uint32_t)parts->cnt;
        return;
    }
    /* revoked: what was put is stored, durable and committed before the release */
    fifo_drop(k, parts);
    int r = store_offsets(k, SLUICE_ACK_DURABLE, 1);
    if (r) /* not committed either: the next owner reads them again */
        k->fatal = k->fatal ? k->fatal : r;
    else if (!k->closing)
        commit_offsets(k, 0);
    rd_kafka_assign(rk, NULL);
    for (size_t i = 0; i < k->nparts; i++)
        k->parts[i].assigned = 0;
    k->paused = 0;
    k->st.assigned = 0;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sluice_kafka *k = opaque;
    (void)rk;
    say(k, "kafka: %s: %s", rd_kafka_err2str((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        k->fatal = SLUICE_EINVAL;
}

/* Writes a bad message to the dead-letter file (JSON line) or skips it. */
static void bad_message(sluice_kafka *k, const rd_kafka_message_t *m, const char *why)
{
    k->st.bad++;
    struct part *p = part_get(k, rd_kafka_topic_name(m->rkt), m->partition, 1);
    if (p && m->offset > p->last_put)
        p->last_put = m->offset; /* past it: a bad message is never retried */
    if (!k->dead)
        return;
    fprintf(k->dead, "{\"topic\":");
    cli_print_json_text(k->dead, rd_kafka_topic_name(m->rkt), strlen(rd_kafka_topic_name(m->rkt)));
    fprintf(k->dead, ",\"partition\":%" PRId32 ",\"offset\":\"%" PRId64 "\",\"reason\":", m->partition,
            m->offset);
    cli_print_json_text(k->dead, why, strlen(why));
    if (m->key)
        cli_print_json_bytes(k->dead, 1, "key", m->key, m->key_len);
    cli_print_json_bytes(k->dead, 1, "value", m->payload ? m->payload : "", m->len);
    fputs("}\n", k->dead);
    fflush(k->dead);
}

/* The record a message becomes: 0, or 1 with *why set when it cannot become one. */
static int to_record(sluice_kafka *k, const rd_kafka_message_t *m, const void **key, size_t *klen,
                     uint64_t *ts, char *keybuf, const char **why)
{
    json_t *doc = NULL;
    if (k->cfg.key_mode == SLUICE_KAFKA_KEY_JSON || k->cfg.ts_mode == SLUICE_KAFKA_TS_JSON) {
        doc = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
        if (!json_is_object(doc)) {
            json_decref(doc);
            *why = "value is not a JSON object";
            return 1;
        }
    }
    int bad = 0;
    if (k->cfg.key_mode == SLUICE_KAFKA_KEY_JSON) {
        json_t *f = json_object_get(doc, k->cfg.key_field);
        const char *s = json_string_value(f);
        size_t n = s ? json_string_length(f) : 0;
        if (!s || !n || n > SLUICE_KEY_MAX) {
            *why = !s ? "key field missing or not a string" : "key field empty or over 511 bytes";
            bad = 1;
        } else {
            memcpy(keybuf, s, n);
            *key = keybuf;
            *klen = n;
        }
    } else if (!m->key || !m->key_len || m->key_len > SLUICE_KEY_MAX) {
        *why = !m->key || !m->key_len ? "message has no key" : "key over 511 bytes";
        bad = 1;
    } else {
        *key = m->key;
        *klen = m->key_len;
    }
    if (!bad && k->cfg.ts_mode == SLUICE_KAFKA_TS_JSON) {
        json_t *f = json_object_get(doc, k->cfg.ts_field);
        if (json_is_integer(f) && json_integer_value(f) >= 0) {
            *ts = (uint64_t)json_integer_value(f);
        } else if (!json_is_string(f) || cli_parse_ts(json_string_value(f), ts)) {
            *why = "timestamp field missing or not ns / RFC 3339";
            bad = 1;
        }
    } else if (!bad) {
        rd_kafka_timestamp_type_t tt;
        int64_t ms = rd_kafka_message_timestamp(m, &tt);
        if (ms < 0) {
            *why = "message has no timestamp";
            bad = 1;
        } else {
            *ts = (uint64_t)ms * 1000000u;
        }
    }
    json_decref(doc);
    return bad;
}

/* 0 stored (or skipped as bad), 1 the ring is full (keep it), <0 an error. */
static int store_message(sluice_kafka *k, const rd_kafka_message_t *m)
{
    const void *key = NULL;
    size_t klen = 0;
    uint64_t ts = 0;
    char keybuf[SLUICE_KEY_MAX + 1];
    const char *why = NULL;
    if (to_record(k, m, &key, &klen, &ts, keybuf, &why)) {
        bad_message(k, m, why);
        return 0;
    }
    int r = sluice_put(k->db, key, klen, ts, m->payload, m->len, SLUICE_ACK_MEMORY, NULL);
    if (r == SLUICE_EBUSY || r == SLUICE_ETIMEDOUT)
        return 1;
    if (r == SLUICE_EINVAL) { /* a value over the database's limit */
        bad_message(k, m, "value over the database's limit");
        return 0;
    }
    if (r)
        return r;
    struct part *p = part_get(k, rd_kafka_topic_name(m->rkt), m->partition, 1);
    if (!p)
        return SLUICE_ENOMEM;
    p->last_put = m->offset;
    k->st.messages++;
    k->st.bytes += m->len;
    return 0;
}

static void pause_all(sluice_kafka *k, int pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(k->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (pause)
            rd_kafka_pause_partitions(k->rk, l);
        else
            rd_kafka_resume_partitions(k->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    k->paused = pause;
    if (pause)
        k->st.pauses++;
}

/* Puts what waits in the FIFO: 0 when it is empty, 1 when the ring is still full. */
static int drain_fifo(sluice_kafka *k)
{
    while (k->fifo_n) {
        rd_kafka_message_t *m = k->fifo[k->fifo_head];
        int r = store_message(k, m);
        if (r == 1)
            return 1;
        rd_kafka_message_destroy(m);
        k->fifo_head = (k->fifo_head + 1) % FIFO_MAX;
        k->fifo_n--;
        if (r < 0)
            return r;
    }
    if (k->paused)
        pause_all(k, 0);
    return 0;
}

static int fatal_message(sluice_kafka *k, const rd_kafka_message_t *m)
{
    switch (m->err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__FATAL:
        say(k, "kafka: %s%s%s", m->rkt ? rd_kafka_topic_name(m->rkt) : "",
            m->rkt ? ": " : "", rd_kafka_message_errstr(m));
        return 1;
    default:
        return 0; /* transient: librdkafka retries */
    }
}

int sluice_kafka_poll(sluice_kafka *k, uint32_t timeout_ms)
{
    if (!k)
        return SLUICE_EINVAL;
    if (k->fatal)
        return k->fatal;
    uint64_t before = k->st.messages + k->st.bad;
    rd_kafka_queue_poll_callback(k->commit_q, 0); /* earlier commits' outcomes */
    int r = drain_fifo(k);
    if (r < 0)
        return r;
    uint64_t deadline = now_ms() + timeout_ms;
    uint32_t got = 0, batch = k->cfg.batch ? k->cfg.batch : DEFAULT_BATCH;
    while (got < batch) {
        uint64_t now = now_ms();
        if (now >= deadline && got)
            break;
        int wait = now >= deadline ? 0 : (int)(deadline - now);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, wait);
        if (k->fatal)
            return k->fatal;
        if (!m) {
            if (now_ms() >= deadline)
                break;
            continue;
        }
        if (m->err) {
            int fatal = fatal_message(k, m);
            rd_kafka_message_destroy(m);
            if (fatal)
                return k->fatal = SLUICE_EINVAL;
            continue;
        }
        if (!got++) /* the first message: the rest may linger this long */
            deadline = now_ms() + (k->cfg.linger_ms ? k->cfg.linger_ms : DEFAULT_LINGER_MS);
        if (k->fifo_n) { /* behind messages still waiting: keep the order */
            if (k->fifo_n == FIFO_MAX) {
                rd_kafka_message_destroy(m); /* cannot happen: paused partitions stop */
                continue;
            }
            k->fifo[(k->fifo_head + k->fifo_n++) % FIFO_MAX] = m;
            continue;
        }
        r = store_message(k, m);
        if (r == 1) {
            k->fifo[(k->fifo_head + k->fifo_n++) % FIFO_MAX] = m;
            if (!k->paused)
                pause_all(k, 1);
            break;
        }
        rd_kafka_message_destroy(m);
        if (r < 0)
            return r;
    }
    r = store_offsets(k, k->cfg.ack, 0);
    if (r < 0)
        return r;
    if (r == 1) /* the ring is full: stored and committed by a later batch */
        r = 0;
    else if (k->cfg.ack == SLUICE_ACK_DURABLE)
        commit_offsets(k, 1);
    else if (now_ms() - k->last_commit_ms >= COMMIT_EVERY_MS && !(r = sluice_flush(k->db)))
        commit_offsets(k, 1);
    if (r)
        return r;
    uint64_t n = k->st.messages + k->st.bad - before;
    if (n)
        k->st.batches++;
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

int sluice_kafka_open(sluice_db *db, const sluice_kafka_config *cfg, sluice_kafka **out)
{
    if (!db || !cfg || !out || !cfg->brokers || !cfg->group || !cfg->ntopics || !cfg->topics)
        return SLUICE_EINVAL;
    *out = NULL;
    sluice_kafka *k = calloc(1, sizeof *k);
    if (!k)
        return SLUICE_ENOMEM;
    k->db = db;
    k->cfg = *cfg;
    k->st.lag = -1;
    k->fifo = calloc(FIFO_MAX, sizeof *k->fifo);
    if (!k->fifo) {
        free(k);
        return SLUICE_ENOMEM;
    }
    if ((cfg->key_mode == SLUICE_KAFKA_KEY_JSON && !cfg->key_field) ||
        (cfg->ts_mode == SLUICE_KAFKA_TS_JSON && !cfg->ts_field) || cfg->ack < SLUICE_ACK_MEMORY ||
        cfg->ack > SLUICE_ACK_DURABLE) {
        say(k, "kafka: a JSON key or ts needs its field name, and ack is memory, written or durable");
        sluice_kafka_close(k);
        return SLUICE_EINVAL;
    }
    if (cfg->dead_letter && !(k->dead = fopen(cfg->dead_letter, "a"))) {
        int e = -errno;
        say(k, "%s: %s", cfg->dead_letter, strerror(-e));
        sluice_kafka_close(k);
        return e;
    }
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    struct { const char *n, *v; } base[] = {
        {"bootstrap.servers", cfg->brokers}, {"group.id", cfg->group},
        {"enable.auto.commit", "false"},     /* offsets go to Kafka once stored in sluice */
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof base / sizeof *base && !bad; i++)
        if (rd_kafka_conf_set(c, base[i].n, base[i].v, err, sizeof err) != RD_KAFKA_CONF_OK) {
            say(k, "kafka: %s", err);
            bad = 1;
        }
    for (size_t i = 0; i < cfg->nprops && !bad; i++) {
        char name[256];
        const char *eq = strchr(cfg->props[i], '=');
        if (!eq || eq == cfg->props[i] || (size_t)(eq - cfg->props[i]) >= sizeof name) {
            say(k, "kafka: -X %s: expected name=value", cfg->props[i]);
            bad = 1;
            break;
        }
        memcpy(name, cfg->props[i], (size_t)(eq - cfg->props[i]));
        name[eq - cfg->props[i]] = 0;
        if (rd_kafka_conf_set(c, name, eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK) {
            say(k, "kafka: -X %s: %s", cfg->props[i], err);
            bad = 1;
        }
    }
    if (bad) {
        rd_kafka_conf_destroy(c);
        sluice_kafka_close(k);
        return SLUICE_EINVAL;
    }
    rd_kafka_conf_set_opaque(c, k);
    rd_kafka_conf_set_error_cb(c, on_error);
    if (!cfg->partitions)
        rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!k->rk) {
        say(k, "kafka: %s", err);
        sluice_kafka_close(k);
        return SLUICE_EINVAL;
    }
    rd_kafka_poll_set_consumer(k->rk);
    if (!(k->commit_q = rd_kafka_queue_new(k->rk))) {
        sluice_kafka_close(k);
        return SLUICE_ENOMEM;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(
        (int)(cfg->ntopics * (cfg->partitions ? cfg->npartitions : 1)));
    for (size_t t = 0; t < cfg->ntopics; t++) {
        if (!cfg->partitions) {
            rd_kafka_topic_partition_list_add(l, cfg->topics[t], RD_KAFKA_PARTITION_UA);
            continue;
        }
        for (size_t i = 0; i < cfg->npartitions; i++)
            rd_kafka_topic_partition_list_add(l, cfg->topics[t], cfg->partitions[i]);
    }
    rd_kafka_resp_err_t e;
    if (cfg->partitions) {
        /* static ownership: the assignment callback's work, once */
        on_rebalance(k->rk, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, l, k);
        e = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else {
        e = rd_kafka_subscribe(k->rk, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        say(k, "kafka: subscribe: %s", rd_kafka_err2str(e));
        sluice_kafka_close(k);
        return SLUICE_EINVAL;
    }
    *out = k;
    return 0;
}

/* An assigned partition's lag: the messages between this consumer's position and the high
 * watermark; -1 until both are known (from a fetch). */
static int64_t part_lag(sluice_kafka *k, const struct part *p)
{
    int64_t lo, hi;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    int64_t next = rd_kafka_position(k->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR ? l->elems[0].offset : -1;
    rd_kafka_topic_partition_list_destroy(l);
    if (next < 0) /* nothing consumed in this assignment yet */
        next = p->last_put + 1 > p->start ? p->last_put + 1 : p->start;
    if (rd_kafka_get_watermark_offsets(k->rk, p->topic, p->partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return -1;
    if (next < lo)
        next = lo;
    return hi > next ? hi - next : 0;
}

void sluice_kafka_stats(sluice_kafka *k, struct sluice_kafka_stats *out)
{
    if (!k || !out)
        return;
    int64_t lag = k->st.assigned ? 0 : -1;
    for (size_t i = 0; i < k->nparts && lag >= 0; i++) {
        if (!k->parts[i].assigned)
            continue;
        int64_t one = part_lag(k, &k->parts[i]);
        lag = one < 0 ? -1 : lag + one;
    }
    k->st.lag = lag;
    *out = k->st;
}

size_t sluice_kafka_partitions(sluice_kafka *k, struct sluice_kafka_partition *out, size_t cap)
{
    if (!k)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < k->nparts; i++) {
        struct part *p = &k->parts[i];
        if (!p->assigned)
            continue;
        if (out && n < cap)
            out[n] = (struct sluice_kafka_partition){p->topic, p->partition, part_lag(k, p), p->stored};
        n++;
    }
    return n;
}

size_t sluice_kafka_prometheus(sluice_kafka *k, char *buf, size_t cap)
{
    struct sluice_kafka_stats s;
    sluice_kafka_stats(k, &s);
    int n = snprintf(buf, cap,
                     "# TYPE sluice_kafka_messages_total counter\nsluice_kafka_messages_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_bytes_total counter\nsluice_kafka_bytes_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_bad_messages_total counter\nsluice_kafka_bad_messages_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_batches_total counter\nsluice_kafka_batches_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_pauses_total counter\nsluice_kafka_pauses_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_rebalances_total counter\nsluice_kafka_rebalances_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_commits_failed_total counter\nsluice_kafka_commits_failed_total %" PRIu64 "\n"
                     "# TYPE sluice_kafka_lag_messages gauge\nsluice_kafka_lag_messages %" PRId64 "\n"
                     "# TYPE sluice_kafka_assigned_partitions gauge\nsluice_kafka_assigned_partitions %" PRIu32 "\n"
                     "# TYPE sluice_kafka_partition_lag_messages gauge\n",
                     s.messages, s.bytes, s.bad, s.batches, s.pauses, s.rebalances, s.commits_failed,
                     s.lag, s.assigned);
    if (n < 0)
        return 0;
    size_t len = (size_t)n;
    /* one line per assigned partition; Kafka topic names are [a-zA-Z0-9._-]: nothing to
     * escape in a label */
    for (size_t i = 0; i < k->nparts; i++) {
        struct part *p = &k->parts[i];
        if (!p->assigned)
            continue;
        n = snprintf(len < cap ? buf + len : NULL, len < cap ? cap - len : 0,
                     "sluice_kafka_partition_lag_messages{topic=\"%s\",partition=\"%" PRId32 "\"} %" PRId64 "\n",
                     p->topic, p->partition, part_lag(k, p));
        if (n > 0)
            len += (size_t)n;
    }
    return len;
}

int sluice_kafka_close(sluice_kafka *k)
{
    if (!k)
        return 0;
    int r = 0;
    if (k->rk) {
        fifo_drop(k, NULL); /* not stored: read again from the committed offset */
        r = store_offsets(k, SLUICE_ACK_DURABLE, 1);
        if (!r)
            commit_offsets(k, 0);
        k->closing = 1;
        rd_kafka_consumer_close(k->rk); /* a group member's revocation stores and commits too */
        if (k->commit_q)
            rd_kafka_queue_destroy(k->commit_q); /* before the handle it belongs to */
        rd_kafka_destroy(k->rk);
    }
    if (k->dead)
        fclose(k->dead);
    for (size_t i = 0; i < k->nparts; i++)
        free(k->parts[i].topic);
    free(k->parts);
    free(k->fifo);
    free(k);
    return r;
}
