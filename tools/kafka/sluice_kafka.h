/*
 * sluice_kafka.h — the Kafka connector: a librdkafka consumer that stores the messages
 * of Kafka topics in a sluice database, exactly once per directory (docs/kafka.md).
 * libsluice-kafka stands on the public sluice.h and librdkafka; libsluice itself does not
 * link librdkafka, so embedders who do not use Kafka do not carry it.
 *
 * How it keeps exactly once. A partition's consumed offset is a sluice offset (source
 * "<topic>/<partition>", sluice_offset_put) stored in the log after the records it
 * covers, so it is never durable before them; on assignment a partition resumes at the
 * stored offset + 1 (else the group's committed offset, else the earliest). Offsets go to
 * Kafka too (commit), once durable in sluice, for lag monitoring and the next owner of a
 * partition; sluice's stored offset is the truth for a directory that owned it before.
 *
 * One thread drives a connector: sluice_kafka_poll in a loop, then sluice_kafka_close.
 */
#ifndef SLUICE_KAFKA_H
#define SLUICE_KAFKA_H
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SLUICE_KAFKA_KEY_MESSAGE = 0, /* the message key */
       SLUICE_KAFKA_KEY_JSON = 1     /* a string field of the JSON value (key_field) */ };
enum { SLUICE_KAFKA_TS_MESSAGE = 0,  /* the message timestamp (ms, stored as ns) */
       SLUICE_KAFKA_TS_JSON = 1      /* an integer field of the JSON value, in ns (a number
                                      * or a string of digits: ts_field) */ };

typedef struct sluice_kafka_config {
    const char *brokers;        /* bootstrap.servers */
    const char *const *topics;  /* ntopics names */
    size_t ntopics;
    const char *group;          /* group.id (also with static partitions: commits) */
    const int32_t *partitions;  /* static assignment of these partitions of every topic
                                 * (no rebalancing); NULL: join the group */
    size_t npartitions;
    int key_mode, ts_mode;
    const char *key_field, *ts_field;
    int ack;                    /* SLUICE_ACK_MEMORY, WRITTEN or DURABLE: what a batch waits
                                 * for before its offsets are committed to Kafka */
    uint32_t batch;             /* messages per batch (default 10000) */
    uint32_t linger_ms;         /* the longest a batch waits to fill (default 100) */
    const char *const *props;   /* "name=value" librdkafka properties (TLS, SASL, ...) */
    size_t nprops;
    const char *dead_letter;    /* bad messages appended here as JSON lines; NULL: skipped */
    char *errbuf;               /* a failed open or poll says why here (one line) */
    size_t errbuf_bytes;
    /* Told (one line, no newline) when the offsets of partitions being released could not
     * be committed to Kafka: their next owner starts from the group's previous commit and
     * may store again what this directory stored up to the offsets named. NULL: not told
     * (commits_failed counts it either way). */
    void (*on_warning)(void *arg, const char *line);
    void *warning_arg;
} sluice_kafka_config;

typedef struct sluice_kafka sluice_kafka;

/*
 * Creates the consumer and subscribes (or assigns the static partitions). The database
 * must be open for writing and outlive the connector. Errors: SLUICE_EINVAL (a bad
 * configuration or property: errbuf says which), SLUICE_ENOMEM, -errno (dead-letter file).
 */
int sluice_kafka_open(sluice_db *db, const sluice_kafka_config *cfg, sluice_kafka **out);

/*
 * One batch: consumes up to cfg.batch messages (waiting up to timeout_ms for the first,
 * then up to linger_ms for the rest), puts them, stores each partition's offset, waits
 * for cfg.ack, commits the offsets to Kafka. Returns the messages consumed (0: none came),
 * or an error: SLUICE_EPOISONED and other sluice errors of the database, SLUICE_EINVAL
 * with errbuf set for a fatal consumer error (an unknown topic, authentication).
 * Unreachable brokers are not fatal: librdkafka retries, and the stats say it.
 */
int sluice_kafka_poll(sluice_kafka *k, uint32_t timeout_ms);

struct sluice_kafka_stats {
    uint64_t messages;      /* stored */
    uint64_t bytes;         /* their value bytes */
    uint64_t bad;           /* could not become records: skipped or dead-lettered */
    uint64_t batches;
    uint64_t pauses;        /* times the partitions were paused because the ring was full */
    uint64_t rebalances;    /* assignments and revocations */
    uint64_t commits_failed;
    int64_t lag;            /* messages behind the high watermarks of the assigned
                             * partitions (-1: not known yet for one of them, or none
                             * assigned) */
    uint32_t assigned;      /* partitions assigned now */
};
void sluice_kafka_stats(sluice_kafka *k, struct sluice_kafka_stats *out);
/* The partitions assigned now: up to cap into out; returns how many there are. topic
 * points into the connector, valid until the next poll or close. */
struct sluice_kafka_partition {
    const char *topic;
    int32_t partition;
    int64_t lag;            /* messages behind the high watermark (-1: not known yet) */
    int64_t stored;         /* the offset stored in sluice (-1: none) */
};
size_t sluice_kafka_partitions(sluice_kafka *k, struct sluice_kafka_partition *out, size_t cap);

/* The stats as Prometheus text (sluice_kafka_* metrics, the lag also per partition) into
 * buf; its length, or the length needed when cap is too small (buf may then be NULL). */
size_t sluice_kafka_prometheus(sluice_kafka *k, char *buf, size_t cap);

/* Makes what was stored durable, stores and commits the offsets, leaves the group and
 * closes the consumer; the database stays open. Returns 0 or the first error. NULL: 0. */
int sluice_kafka_close(sluice_kafka *k);

#ifdef __cplusplus
}
#endif
#endif
