/*
 * The Kafka connector against librdkafka's mock cluster (rdkafka_mock.h): the Kafka
 * protocol over loopback, started in this process; the connectors are real sluice-kafka
 * processes (fork + exec), each with its own directory. Every message carries its id in
 * its value and a timestamp of its own, so a directory's records say exactly which
 * messages it holds.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "sluice.h"
#include "sluice_kafka.h"
#include "util.h"

#define TS_BASE 1796659200000ull /* ms */
#define MAX_MSGS 40000

static rd_kafka_t *host, *producer;
static rd_kafka_mock_cluster_t *mock;
static char brokers[512];
static char *root;

static void start_cluster(int partitions)
{
    char err[512];
    root = tu_mkdtemp();
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    host = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(host, "%s", err);
    mock = rd_kafka_mock_cluster_new(host, 3);
    cr_assert_not_null(mock);
    snprintf(brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "t", partitions, 1), 0);
    c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "0", err, sizeof err);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(producer, "%s", err);
}

static void stop_cluster(void)
{
    if (producer)
        rd_kafka_destroy(producer);
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (host)
        rd_kafka_destroy(host);
    producer = host = NULL;
    mock = NULL;
    if (getenv("SLUICE_KAFKA_KEEP")) /* the directories and the connectors' logs */
        fprintf(stderr, "kept %s\n", root);
    else
        tu_rmdir(root);
}

/* Message id: key "k<id % 50>", value {"id":id,"sensor":"s<id % 50>","ts":ns}, timestamp
 * TS_BASE + id ms, partition id % partitions. */
static void produce(int from, int to, int partitions)
{
    for (int id = from; id < to; id++) {
        char key[16], val[128];
        snprintf(key, sizeof key, "k%d", id % 50);
        snprintf(val, sizeof val, "{\"id\":%d,\"sensor\":\"s%d\",\"ts\":%llu,\"pad\":\"%0*d\"}", id,
                 id % 50, (unsigned long long)((TS_BASE + (uint64_t)id) * 1000000u), 40, id);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"),
                                      RD_KAFKA_V_PARTITION(id % partitions), RD_KAFKA_V_KEY(key, strlen(key)),
                                      RD_KAFKA_V_VALUE(val, strlen(val)),
                                      RD_KAFKA_V_TIMESTAMP((int64_t)(TS_BASE + (uint64_t)id)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(producer, 10);
        cr_assert_eq(e, 0, "%s", rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(producer, 30000), 0);
}

static void produce_raw(char *key, const char *val, int partition)
{
    cr_assert_eq(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(partition),
                                   RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                   RD_KAFKA_V_VALUE((void *)val, strlen(val)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_END),
                 0);
    cr_assert_eq(rd_kafka_flush(producer, 30000), 0);
}

static char *dir_of(const char *name)
{
    char *p = malloc(strlen(root) + strlen(name) + 2);
    sprintf(p, "%s/%s", root, name);
    return p;
}

/* The connectors started, and where each one's stderr goes: printed when one exits in
 * a way a test did not expect (the directory, and the log, are gone after the test). */
static struct {
    pid_t pid;
    char log[4200];
} kids[32];
static size_t nkids;

/* Starts sluice-kafka on dir with the extra arguments (NULL-terminated). */
static pid_t spawn(const char *dir, const char *group, ...)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = SLUICE_BIN_DIR "/sluice-kafka";
    argv[n++] = dir;
    argv[n++] = "--brokers";
    argv[n++] = brokers;
    argv[n++] = "--topic";
    argv[n++] = "t";
    argv[n++] = "--group";
    argv[n++] = group;
    argv[n++] = "-X";
    argv[n++] = "session.timeout.ms=6000";
    argv[n++] = "-X";
    argv[n++] = "heartbeat.interval.ms=300";
    argv[n++] = "-X";
    argv[n++] = "log_level=0";
    char prom[4200];
    snprintf(prom, sizeof prom, "%s.prom", dir); /* the connector's metrics, each second */
    argv[n++] = "--prometheus";
    argv[n++] = prom;
    va_list ap;
    va_start(ap, group);
    for (const char *a; (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0 && nkids < sizeof kids / sizeof *kids) {
        kids[nkids].pid = pid;
        snprintf(kids[nkids++].log, sizeof kids[0].log, "%s.log", dir);
    }
    if (pid == 0) {
        char log[4096];
        snprintf(log, sizeof log, "%s.log", dir);
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* A metric from a connector's --prometheus file, or -1. */
static long long metric(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long long v = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ' ')
            v = atoll(line + n + 1);
    fclose(f);
    return v;
}

/* Until the connector on dir has stored a message (its metrics say so), up to 20 s. */
static void wait_until_stored(const char *dir)
{
    char prom[4200];
    snprintf(prom, sizeof prom, "%s.prom", dir);
    for (int i = 0; i < 400 && metric(prom, "sluice_kafka_messages_total") <= 0; i++)
        usleep(50000); /* polling a file another process rewrites each second */
}

static int wait_exit(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    for (size_t i = 0; code && code != 128 + SIGKILL && i < nkids; i++) {
        if (kids[i].pid != pid)
            continue;
        FILE *f = fopen(kids[i].log, "r");
        char buf[4096];
        size_t n = 0;
        if (f) {
            fseek(f, -(long)sizeof buf + 1, SEEK_END); /* fails on a short log: from 0 */
            n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
        }
        buf[n] = 0;
        fprintf(stderr, "sluice-kafka (pid %d) exited %d; the end of its stderr:\n%s\n", (int)pid,
                code, buf);
    }
    return code;
}

struct holding {
    uint8_t *count; /* per id: records in the directory's log (tail: every copy) */
    uint8_t *seen;  /* per id: present in a read (scan: one per (key, ts)) */
    int partitions_seen[64];
};

/* What dir holds: counts per id from a tail over the whole log (duplicates count) and a
 * scan; checks each record against the message it came from; the stored offsets. */
static void holding_of(const char *dir, int partitions, struct holding *h, int64_t *offsets)
{
    h->count = calloc(MAX_MSGS, 1);
    h->seen = calloc(MAX_MSGS, 1);
    memset(h->partitions_seen, 0, sizeof h->partitions_seen);
    sluice_options o;
    sluice_options_init(&o);
    o.read_only = 1;
    o.replay_retain_bytes = 0;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    cr_assert_eq(r, 0, "%s: %s", dir, sluice_strerror(r));
    sluice_iter *it;
    cr_assert_eq(sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it), 0);
    sluice_record rec;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        int id = -1;
        char val[256]; /* a value is not NUL-terminated: sscanf would read past it */
        cr_assert_lt(rec.vlen, sizeof val);
        if (rec.vlen) /* an empty value may come as NULL */
            memcpy(val, rec.val, rec.vlen);
        val[rec.vlen] = 0;
        cr_assert_eq(sscanf(val, "{\"id\":%d,", &id), 1);
        cr_assert(id >= 0 && id < MAX_MSGS);
        char key[16];
        snprintf(key, sizeof key, "k%d", id % 50);
        cr_assert_eq(rec.klen, strlen(key));
        cr_assert(!memcmp(rec.key, key, rec.klen));
        cr_assert_eq(rec.ts, (TS_BASE + (uint64_t)id) * 1000000u);
        h->seen[id]++;
        h->partitions_seen[id % partitions] = 1;
    }
    cr_assert_eq(r, SLUICE_END);
    sluice_iter_close(it);
    for (int p = 0; p < partitions; p++) {
        char src[32];
        uint64_t off;
        snprintf(src, sizeof src, "t/%d", p);
        offsets[p] = sluice_offset_get(db, src, &off) == 0 ? (int64_t)off : -1;
    }
    cr_assert_eq(sluice_close(db), 0);
}

static void holding_free(struct holding *h)
{
    free(h->count);
    free(h->seen);
}

TestSuite(kafka, .fini = stop_cluster);

/* One connector: every message stored once, the stored offsets at each partition's
 * last message; a restart under another group id resumes from sluice's offsets (the
 * group has none), so nothing is stored twice. */
Test(kafka, one_connector_exactly_once_and_resume)
{
    enum { P = 4, N = 4000 };
    start_cluster(P);
    produce(0, N, P);
    char *d = dir_of("one");
    cr_assert_eq(wait_exit(spawn(d, "g1", "--exit-idle-ms", "1500", NULL)), 0);
    produce(N, 2 * N, P);
    cr_assert_eq(wait_exit(spawn(d, "another-group", "--exit-idle-ms", "1500", "--ack", "memory", NULL)), 0);
    struct holding h;
    int64_t off[P];
    holding_of(d, P, &h, off);
    for (int id = 0; id < 2 * N; id++)
        cr_assert_eq(h.seen[id], 1, "message %d", id);
    for (int p = 0; p < P; p++)
        cr_assert_eq(off[p], 2 * N / P - 1, "partition %d: stored offset %lld", p, (long long)off[p]);
    /* the second run stored only the new messages: it re-read nothing */
    char log[4200], text[8192] = "", want[64];
    snprintf(log, sizeof log, "%s.log", d);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = 0;
    fclose(f);
    snprintf(want, sizeof want, "%d messages stored", N);
    const char *first = strstr(text, want);
    cr_assert(first && strstr(first + 1, want), "both runs stored %d: %s", N, text);
    holding_free(&h);
    free(d);
}

/* Static partitions: two connectors split the partitions by hand; the union holds every
 * message exactly once. */
Test(kafka, static_partitions_exactly_once_across_the_union)
{
    enum { P = 4, N = 4000 };
    start_cluster(P);
    produce(0, N, P);
    char *a = dir_of("a"), *b = dir_of("b");
    pid_t pa = spawn(a, "g", "--partitions", "0,1", "--exit-idle-ms", "1500", NULL);
    pid_t pb = spawn(b, "g", "--partitions", "2,3", "--exit-idle-ms", "1500", NULL);
    cr_assert_eq(wait_exit(pa), 0);
    cr_assert_eq(wait_exit(pb), 0);
    struct holding ha, hb;
    int64_t oa[P], ob[P];
    holding_of(a, P, &ha, oa);
    holding_of(b, P, &hb, ob);
    for (int id = 0; id < N; id++)
        cr_assert_eq(ha.seen[id] + hb.seen[id], 1, "message %d: %d + %d", id, ha.seen[id], hb.seen[id]);
    cr_assert_eq(oa[0], N / P - 1);
    cr_assert_eq(oa[2], -1);
    cr_assert_eq(ob[3], N / P - 1);
    holding_free(&ha);
    holding_free(&hb);
    free(a);
    free(b);
}

/* The union of a group's directories d[0..nd): no message missing; a message in two
 * directories is byte-identical there (holding_of checks each record against its id) and
 * belongs to a partition the killed connector d[killed] held, or lies below an offset
 * whose commit failed as its owner released it — which that owner reported, naming the
 * partition and offset (the mock coordinator refuses commits while the group rejoins);
 * `sluice scan` over all of them prints each message once. */
static void check_union(char **d, int nd, int killed, int P, int N, const char *what)
{
    struct holding h[8];
    int64_t off[8][64];
    cr_assert(nd <= 8 && P <= 64);
    for (int i = 0; i < nd; i++)
        holding_of(d[i], P, &h[i], off[i]);
    int64_t uncommitted[64];
    for (int p = 0; p < P; p++)
        uncommitted[p] = -1;
    for (int i = 0; i < nd; i++) {
        char log[4200], line[2048];
        snprintf(log, sizeof log, "%s.log", d[i]);
        FILE *f = fopen(log, "r");
        cr_assert_not_null(f);
        while (fgets(line, sizeof line, f)) {
            const char *at = strstr(line, "committing offsets to Kafka failed");
            for (at = at ? strchr(at, ':') : NULL; at && (at = strstr(at, " t/"));) {
                int part;
                long long at_off;
                if (sscanf(at, " t/%d@%lld", &part, &at_off) == 2 && part >= 0 && part < P &&
                    at_off > uncommitted[part])
                    uncommitted[part] = at_off;
                at += 3;
            }
        }
        fclose(f);
    }
    int dups = 0, dups_uncommitted = 0;
    for (int id = 0; id < N; id++) {
        int copies = 0;
        for (int i = 0; i < nd; i++)
            copies += h[i].seen[id];
        cr_assert_geq(copies, 1, "message %d missing from every directory", id);
        if (copies > 1) {
            int part = id % P, offset = id / P; /* produced in order: offset id / P */
            if (h[killed].partitions_seen[part])
                dups++;
            else if (offset <= uncommitted[part])
                dups_uncommitted++;
            else
                cr_assert_fail("message %d (partition %d, offset %d) twice: the killed connector never held "
                               "its partition and no connector reported its commit failed",
                               id, part, offset);
        }
    }
    fprintf(stderr, "%s: messages in two directories: %d in partitions the killed one had, "
            "%d below offsets whose commit failed\n", what, dups, dups_uncommitted);
    /* one query across the machines: every message once (one key's: the output buffer
     * holds 4 MiB) */
    char *argv[20] = {"scan"};
    int n = 1;
    for (int i = 0; i < nd; i++)
        argv[n++] = d[i];
    char *tail[] = {"--key", "k7", "--from", "0", "--to", "18446744073709551615", "--csv"};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    cr_assert_eq(tc_runv(n, argv), 0, "%s", tc_err);
    cr_assert_eq(tc_lines(tc_out), N / 50 + 1, "a header and %d records", N / 50);
    cr_assert(!strncmp(tc_out, "key,ts,value\r\n", 14), "no LSN column across directories");
    for (int i = 0; i < nd; i++)
        holding_free(&h[i]);
}

/* A group of three, one SIGKILLed mid-stream and a fourth started. */
Test(kafka, group_rebalance_with_a_sigkill_loses_nothing)
{
    enum { P = 6, N = 30000 };
    start_cluster(P);
    produce(0, N / 3, P);
    char *d[5] = {dir_of("m0"), dir_of("m1"), dir_of("m2"), dir_of("m3"), dir_of("m4")};
    pid_t pid[4];
    for (int i = 0; i < 3; i++)
        pid[i] = spawn(d[i], "grp", "--exit-idle-ms", "8000", "--batch", "500", NULL);
    wait_until_stored(d[1]); /* killed once it has stored something: mid-batch, most likely */
    produce(N / 3, 2 * N / 3, P);
    kill(pid[1], SIGKILL);
    cr_assert_eq(wait_exit(pid[1]), 128 + SIGKILL);
    tu_rm_ring_files(d[1]);
    pid[3] = spawn(d[3], "grp", "--exit-idle-ms", "8000", "--batch", "500", NULL);
    produce(2 * N / 3, N, P);
    cr_assert_eq(wait_exit(pid[0]), 0);
    cr_assert_eq(wait_exit(pid[2]), 0);
    cr_assert_eq(wait_exit(pid[3]), 0);
    /* members that left during a rebalance storm may leave partitions unread: an
     * operator's restart drains them from the group's committed offsets */
    cr_assert_eq(wait_exit(spawn(d[4], "grp", "--exit-idle-ms", "3000", NULL)), 0);
    check_union(d, 5, 1, P, N, "group_rebalance");
    for (int i = 0; i < 5; i++)
        free(d[i]);
}

/* A rebalance in flight — a third member has just joined, and the coordinator waits for
 * the others to rejoin — when one of the two that consumed is SIGKILLed. */
Test(kafka, sigkill_while_a_rebalance_is_in_flight_loses_nothing)
{
    enum { P = 4, N = 12000 };
    start_cluster(P);
    produce(0, N / 2, P);
    char *d[4] = {dir_of("r0"), dir_of("r1"), dir_of("r2"), dir_of("r3")};
    pid_t pid[3];
    for (int i = 0; i < 2; i++)
        pid[i] = spawn(d[i], "reb", "--exit-idle-ms", "8000", "--batch", "300", NULL);
    wait_until_stored(d[1]);
    pid[2] = spawn(d[2], "reb", "--exit-idle-ms", "8000", "--batch", "300", NULL);
    /* A sleep, because nothing can be waited on: the mock (librdkafka 2.0.2) reports no
     * group state, and the joining connector says nothing until it has partitions. Its
     * JoinGroup reaches the coordinator within a few ms of the start, and the rejoin
     * window it opens lasts up to session.timeout.ms - 1 s (5 s): 300 ms lands inside. */
    usleep(300000);
    kill(pid[1], SIGKILL);
    cr_assert_eq(wait_exit(pid[1]), 128 + SIGKILL);
    tu_rm_ring_files(d[1]);
    produce(N / 2, N, P);
    cr_assert_eq(wait_exit(pid[0]), 0);
    cr_assert_eq(wait_exit(pid[2]), 0);
    cr_assert_eq(wait_exit(spawn(d[3], "reb", "--exit-idle-ms", "3000", NULL)), 0);
    check_union(d, 4, 1, P, N, "rebalance_in_flight");
    for (int i = 0; i < 4; i++)
        free(d[i]);
}

/* Backpressure through the library: a log budget that fills (compaction only on demand)
 * holds the writer back, the ring fills, puts fail fast, and the connector pauses its
 * partitions and keeps the waiting messages; each sluice_compact frees the budget and
 * the connector resumes. Every message stored once. */
Test(kafka, a_full_ring_pauses_the_partitions_and_nothing_is_lost)
{
    enum { P = 2, N = 12000 };
    start_cluster(P);
    produce(0, N, P);
    char *d = dir_of("full");
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 64 << 10;
    o.segment_bytes = 256 << 10;
    o.batch_max_bytes = 16 << 10;
    o.manual_compaction = 1;
    o.log_backlog_max_bytes = 512 << 10; /* two segments: a third of the messages */
    o.full_policy = SLUICE_FULL_FAIL;
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0);
    const char *topics[] = {"t"};
    char err[512] = "";
    sluice_kafka_config c = {.brokers = brokers, .topics = topics, .ntopics = 1, .group = "bp",
                             .ack = SLUICE_ACK_MEMORY, .batch = 500, .linger_ms = 20,
                             .errbuf = err, .errbuf_bytes = sizeof err};
    const char *props[] = {"log_level=0"};
    c.props = props;
    c.nprops = 1;
    sluice_kafka *k;
    cr_assert_eq(sluice_kafka_open(db, &c, &k), 0, "%s", err);
    struct sluice_kafka_stats st = {0};
    uint64_t compactions = 0, paused_at = 0;
    for (int round = 0; round < 3000 && st.messages < N; round++) {
        int r = sluice_kafka_poll(k, 100);
        cr_assert_geq(r, 0, "%s: %s", sluice_errname(r), err);
        sluice_kafka_stats(k, &st);
        if (st.pauses > paused_at) { /* held back: the waiting messages must stay waiting */
            for (int i = 0; i < 5; i++) {
                int w = sluice_kafka_poll(k, 20);
                cr_assert_geq(w, 0, "paused: %s: %s", sluice_errname(w), err);
            }
            paused_at = st.pauses;
            cr_assert_eq(sluice_compact(db), 0);
            compactions++;
        }
    }
    cr_assert_eq(st.messages, N, "stored %llu of %d", (unsigned long long)st.messages, N);
    cr_assert_geq(st.pauses, 1, "the ring filled: the partitions were paused");
    cr_log_info("%llu pauses, %llu compactions", (unsigned long long)st.pauses, (unsigned long long)compactions);
    /* per partition: everything consumed, the last offset stored — in the API and in the
     * Prometheus text */
    cr_assert_geq(sluice_kafka_poll(k, 100), 0); /* this batch's offsets, if the ring held them back */
    struct sluice_kafka_partition parts[4];
    cr_assert_eq(sluice_kafka_partitions(k, parts, 4), P);
    for (int p = 0; p < P; p++) {
        cr_expect_str_eq(parts[p].topic, "t");
        cr_expect_eq(parts[p].stored, N / P - 1, "partition %d stored %lld", parts[p].partition,
                     (long long)parts[p].stored);
        cr_expect(parts[p].lag == 0 || parts[p].lag == -1, "partition %d lag %lld", parts[p].partition,
                  (long long)parts[p].lag);
    }
    size_t need = sluice_kafka_prometheus(k, NULL, 0);
    char *text = malloc(need + 1);
    cr_assert_eq(sluice_kafka_prometheus(k, text, need + 1), need);
    cr_expect(strstr(text, "sluice_kafka_partition_lag_messages{topic=\"t\",partition=\"0\"} "), "%s", text);
    cr_expect(strstr(text, "sluice_kafka_partition_lag_messages{topic=\"t\",partition=\"1\"} "), "%s", text);
    free(text);
    cr_assert_eq(sluice_kafka_close(k), 0);
    cr_assert_eq(sluice_close(db), 0);
    struct holding h;
    int64_t off[P];
    holding_of(d, P, &h, off);
    for (int id = 0; id < N; id++)
        cr_assert_eq(h.seen[id], 1, "message %d", id);
    for (int p = 0; p < P; p++)
        cr_assert_eq(off[p], N / P - 1);
    holding_free(&h);
    free(d);
}

/* Messages that cannot become records: counted, reported and dead-lettered; the
 * connector goes on. */
Test(kafka, bad_messages_are_dead_lettered)
{
    enum { P = 2 };
    start_cluster(P);
    produce(0, 100, P);
    produce_raw(NULL, "{\"id\":7}", 0);        /* no key */
    produce_raw((char *)"k1", "not json at all", 1); /* with --ts json: not JSON */
    produce_raw((char *)"k1", "{\"id\":8,\"ts\":\"yesterday\"}", 1);
    produce(100, 200, P);
    char *d = dir_of("bad"), dead[4200];
    snprintf(dead, sizeof dead, "%s.dead", d);
    cr_assert_eq(wait_exit(spawn(d, "g", "--ts", "json:ts", "--dead-letter", dead, "--exit-idle-ms", "1500",
                                 NULL)),
                 0);
    struct holding h;
    int64_t off[P];
    holding_of(d, P, &h, off);
    for (int id = 0; id < 200; id++)
        cr_assert_eq(h.seen[id], 1, "message %d", id);
    FILE *f = fopen(dead, "r");
    cr_assert_not_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cr_assert(!strncmp(line, "{\"topic\":\"t\",\"partition\":", 25), "%s", line);
        cr_assert(strstr(line, "\"reason\":"), "%s", line);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 3);
    cr_assert_eq(off[0], 100, "partition 0: 50 + 1 bad + 50 messages");
    cr_assert_eq(off[1], 101, "partition 1: 50 + 2 bad + 50 messages");
    holding_free(&h);
    free(d);
}

/* Broker errors on fetch and a broker down for a while: retried, nothing lost. */
Test(kafka, broker_errors_are_retried)
{
    enum { P = 3, N = 3000 };
    start_cluster(P);
    produce(0, N, P);
    rd_kafka_mock_push_request_errors(mock, 1 /* Fetch */, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(mock, 8 /* OffsetCommit */, 2,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    char *d = dir_of("errors");
    pid_t pid = spawn(d, "g", "--exit-idle-ms", "4000", NULL);
    /* Sleeps, because an outage is a length of time: the broker goes down while the
     * connector is still joining and fetching (it has not stored anything to wait for
     * yet: the group's first rebalance alone takes longer than 0.5 s in the mock) and
     * stays down 1.5 s, longer than librdkafka's reconnect backoff. */
    usleep(500000);
    rd_kafka_mock_broker_set_down(mock, 2);
    usleep(1500000);
    rd_kafka_mock_broker_set_up(mock, 2);
    cr_assert_eq(wait_exit(pid), 0);
    struct holding h;
    int64_t off[P];
    holding_of(d, P, &h, off);
    for (int id = 0; id < N; id++)
        cr_assert_eq(h.seen[id], 1, "message %d", id);
    holding_free(&h);
    free(d);
}

/* Clear errors, exit 2: an unknown topic; brokers that cannot be reached; bad arguments. */
Test(kafka, clear_errors_for_unknown_topics_and_unreachable_brokers)
{
    start_cluster(1);
    char *d = dir_of("err");
    const char *argv_bad[] = {SLUICE_BIN_DIR "/sluice-kafka", d, "--brokers", brokers, "--topic", "t",
                              "--group", "g", "--ack", "sometimes", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execv(argv_bad[0], (char *const *)argv_bad);
        _exit(127);
    }
    cr_assert_eq(wait_exit(pid), 2);
    char unreachable[] = "127.0.0.1:1";
    snprintf(brokers, sizeof brokers, "%s", unreachable);
    cr_assert_eq(wait_exit(spawn(d, "g", "--connect-timeout-ms", "2000", NULL)), 2);
    char log[4200], text[8192] = "";
    snprintf(log, sizeof log, "%s.log", d);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    cr_assert(strstr(text, "nothing consumed after 2000 ms"), "%s", text);
    free(d);
}
