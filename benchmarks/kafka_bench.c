/*
 * sluice-kafka-bench: the Kafka connector against its ceiling, on librdkafka's mock
 * cluster (three brokers in this process, loopback), 8 partitions, 100-byte values.
 *  - discard: a plain librdkafka consumer that reads every message and drops it — the
 *    rate the client library and the mock deliver at, the connector's ceiling;
 *  - connector at MEMORY and at DURABLE (libsluice-kafka's poll loop into a fresh
 *    directory): messages/s until the last is stored (and, at DURABLE, durable with its
 *    offsets);
 *  - end-to-end lag: a producer thread at a fixed rate while the connector runs at
 *    DURABLE and a DURABLE tail reads the directory; each record's lag is now minus its
 *    Kafka timestamp (ms resolution), i.e. produce -> durable in sluice -> delivered.
 * Usage: sluice-kafka-bench [--messages N] [--rate R] [--seconds S] [--dir DIR]
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "sluice_kafka.h"

#define PARTITIONS 8
#define VALUE_BYTES 100

static char brokers[512];
static rd_kafka_t *producer;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void die(const char *what)
{
    fprintf(stderr, "sluice-kafka-bench: %s\n", what);
    exit(2);
}

static void produce_one(const char *topic, uint64_t i, int64_t ts_ms)
{
    char key[16], val[VALUE_BYTES];
    snprintf(key, sizeof key, "sensor-%05u", (unsigned)(i % 10000));
    memset(val, 'a' + (int)(i % 26), sizeof val);
    memcpy(val, &i, sizeof i);
    while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % PARTITIONS)),
                             RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(val, sizeof val),
                             RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(producer, 10);
}

/* Rates count from the n / WARMUP_DIV-th message on: the first fetches wait for the
 * connections to three brokers, about a second here, whichever consumer comes first. */
#define WARMUP_DIV 5

static double discard_rate(const char *topic, uint64_t n)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", "discard", err, sizeof err);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(c, "fetch.wait.max.ms", "5", err, sizeof err); /* as the connector's runs */
    rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!k)
        die(err);
    rd_kafka_poll_set_consumer(k);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(k, l); /* no group join: the connector's static mode does the same */
    rd_kafka_topic_partition_list_destroy(l);
    uint64_t got = 0, t0 = 0, from = n / WARMUP_DIV;
    while (got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 1000);
        if (!m)
            continue;
        if (!m->err && ++got == from)
            t0 = now_ns();
        rd_kafka_message_destroy(m);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    rd_kafka_consumer_close(k);
    rd_kafka_destroy(k);
    return (double)(n - from) / secs;
}

static sluice_db *open_dir(const char *root, const char *name)
{
    char path[4096], cmd[4200];
    snprintf(path, sizeof path, "%s/%s", root, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        die("rm");
    sluice_options o;
    sluice_options_init(&o);
    o.full_policy = SLUICE_FULL_FAIL;
    o.stats_interval_ms = 0;
    sluice_db *db;
    if (sluice_open(path, &o, &db))
        die("sluice_open");
    return db;
}

/* low_latency: batches of at most 5 ms. Every run: fetches the broker answers within 5 ms
 * (librdkafka's fetch.wait.max.ms is 500 by default: a quiet partition's fetch waits
 * that long for data), and a local queue deep enough for the whole topic (with the
 * default queued.min.messages, a consumer slower than its fetches fills the queue past
 * the threshold, and librdkafka 2.0.2 then stops fetching for about 0.8 s: every
 * connector run stalled so, the faster discarding consumer seldom) */
static sluice_kafka *connect_db(sluice_db *db, const char *topic, const char *group, int ack,
                                int low_latency)
{
    static const int32_t parts[PARTITIONS] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const char *fast[] = {"fetch.wait.max.ms=5", "queued.min.messages=1000000"};
    const char *topics[1] = {topic};
    char errbuf[512] = "";
    sluice_kafka_config cfg = {.brokers = brokers, .topics = topics, .ntopics = 1, .group = group,
                               .partitions = parts, .npartitions = PARTITIONS, .ack = ack,
                               .errbuf = errbuf, .errbuf_bytes = sizeof errbuf,
                               .linger_ms = low_latency ? 5 : 0, .props = fast, .nprops = 2};
    sluice_kafka *k;
    if (sluice_kafka_open(db, &cfg, &k))
        die(errbuf);
    return k;
}

static double connector_rate(const char *root, const char *topic, uint64_t n, int ack, const char *group)
{
    sluice_db *db = open_dir(root, ack == SLUICE_ACK_MEMORY ? "memory" : "durable");
    sluice_kafka *k = connect_db(db, topic, group, ack, 0);
    struct sluice_kafka_stats st = {0};
    uint64_t t0 = 0, from = 0;
    while (st.messages < n) {
        int r = sluice_kafka_poll(k, 1000);
        if (r < 0)
            die(sluice_strerror(r));
        sluice_kafka_stats(k, &st);
        if (!t0 && st.messages >= n / WARMUP_DIV) {
            t0 = now_ns();
            from = st.messages;
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    sluice_kafka_close(k);
    sluice_close(db);
    return (double)(st.messages - from) / secs;
}

struct lagrun {
    sluice_db *db;
    uint64_t n, rate;
    struct hist lat;
};

/* The live producer: lr->n messages at lr->rate, each stamped when produced. */
static void *produce_thread(void *arg)
{
    struct lagrun *lr = arg;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < lr->n; i++) {
        uint64_t due = start + i * 1000000000u / lr->rate;
        while (now_ns() < due)
            rd_kafka_poll(producer, 0);
        produce_one("live", i, (int64_t)wall_ms());
    }
    rd_kafka_flush(producer, 10000);
    return NULL;
}

static void *tail_thread(void *arg)
{
    struct lagrun *lr = arg;
    sluice_tail *t;
    if (sluice_tail_open(lr->db, SLUICE_TAIL_END, SLUICE_ACK_DURABLE, &t))
        die("tail_open");
    for (uint64_t i = 0; i < lr->n;) {
        sluice_tail_record rec;
        int r = sluice_tail_next(t, &rec, 10000);
        if (r == SLUICE_ETIMEDOUT)
            die("tail: nothing for 10 s");
        if (r)
            die(sluice_strerror(r));
        uint64_t now = wall_ms() * 1000000u, ts = rec.ts;
        hist_record(&lr->lat, now > ts ? now - ts : 0);
        i++;
    }
    sluice_tail_close(t);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t n = 500000, rate = 50000, seconds = 10;
    const char *root = "/var/tmp/sluice-kafka-bench";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--messages"))
            n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--rate"))
            rate = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir"))
            root = argv[i + 1];
        else
            die("usage: sluice-kafka-bench [--messages N] [--rate R] [--seconds S] [--dir DIR]");
    }
    mkdir(root, 0755);
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    rd_kafka_mock_cluster_t *mc = host ? rd_kafka_mock_cluster_new(host, 3) : NULL;
    if (!mc)
        die("mock cluster");
    snprintf(brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    rd_kafka_mock_topic_create(mc, "bulk", PARTITIONS, 1);
    rd_kafka_mock_topic_create(mc, "live", PARTITIONS, 1);
    c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!producer)
        die(err);
    for (uint64_t i = 0; i < n; i++)
        produce_one("bulk", i, (int64_t)wall_ms());
    if (rd_kafka_flush(producer, 120000))
        die("produce");
    /* Best of three for each row: the mock cluster's fetches now and then stall for
     * ~0.8 s whichever consumer reads (the discarding one included), which alone would
     * decide a row; each repetition reads the topic from the start under a new group. */
    double ceiling = 0, mem = 0, dur = 0;
    for (int rep = 0; rep < 3; rep++) {
        char g[32];
        double x = discard_rate("bulk", n);
        ceiling = x > ceiling ? x : ceiling;
        snprintf(g, sizeof g, "g-memory-%d", rep);
        x = connector_rate(root, "bulk", n, SLUICE_ACK_MEMORY, g);
        mem = x > mem ? x : mem;
        snprintf(g, sizeof g, "g-durable-%d", rep);
        x = connector_rate(root, "bulk", n, SLUICE_ACK_DURABLE, g);
        dur = x > dur ? x : dur;
    }
    printf("| run (best of 3) | messages | per second | vs discard |\n|---|---|---|---|\n");
    printf("| discard (plain librdkafka consumer) | %" PRIu64 " | %.0f | 1.00 |\n", n, ceiling);
    printf("| sluice-kafka, --ack memory | %" PRIu64 " | %.0f | %.2f |\n", n, mem, mem / ceiling);
    printf("| sluice-kafka, --ack durable | %" PRIu64 " | %.0f | %.2f |\n", n, dur, dur / ceiling);
    fflush(stdout);

    /* end-to-end lag at a fixed produce rate */
    struct lagrun lr = {.db = open_dir(root, "lag"), .n = rate * seconds, .rate = rate};
    hist_init(&lr.lat);
    sluice_kafka *k = connect_db(lr.db, "live", "g-lag", SLUICE_ACK_DURABLE, 1);
    pthread_t th, pt;
    pthread_create(&th, NULL, tail_thread, &lr);
    /* warm-up: the consumer connected and fetching before the first message is due */
    for (uint64_t t0 = now_ns(); now_ns() - t0 < 2000000000u;)
        if (sluice_kafka_poll(k, 10) < 0)
            die("poll");
    pthread_create(&pt, NULL, produce_thread, &lr);
    struct sluice_kafka_stats st = {0};
    while (st.messages < lr.n) {
        int r = sluice_kafka_poll(k, 10);
        if (r < 0)
            die(sluice_strerror(r));
        sluice_kafka_stats(k, &st);
    }
    pthread_join(pt, NULL);
    pthread_join(th, NULL);
    sluice_kafka_close(k);
    sluice_close(lr.db);
    printf("\nend-to-end lag, produce timestamp -> durable in sluice -> a DURABLE tail, %" PRIu64
           " msg/s for %" PRIu64 " s (ms resolution):\n", rate, seconds);
    printf("| p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|\n| %.1f | %.1f | %.1f | %.1f |\n",
           (double)hist_percentile(&lr.lat, 50) / 1e6, (double)hist_percentile(&lr.lat, 99) / 1e6,
           (double)hist_percentile(&lr.lat, 99.9) / 1e6, (double)lr.lat.max / 1e6);
    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    return 0;
}
