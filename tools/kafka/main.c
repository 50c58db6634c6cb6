/*
 * sluice-kafka: stores Kafka topics in a sluice directory, exactly once per directory
 * (docs/kafka.md). Usage: sluice-kafka --help. Exit 0 after a clean stop (SIGINT,
 * SIGTERM, --exit-idle-ms), 1 when the database failed (poisoned, full disk), 2 for bad
 * arguments, unreachable brokers, unknown topics and other consumer errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice_kafka.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static const char usage[] =
    "usage: sluice-kafka DIR --brokers LIST --topic T[,T2...] --group G [--partitions LIST]\n"
    "         [--key kafka-key|json:FIELD] [--ts kafka-timestamp|json:FIELD]\n"
    "         [--ack memory|written|durable] [--batch N] [--linger-ms M]\n"
    "         [--dead-letter FILE] [--exit-idle-ms N] [--connect-timeout-ms N]\n"
    "         (--exit-idle-ms: stop once caught up with every assigned partition, or left\n"
    "          with none, and idle that long)\n"
    "         [--prometheus FILE] [-X librdkafka.property=value ...]\n";

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static int fail(int code, const char *fmt, const char *arg)
{
    fprintf(stderr, "sluice-kafka: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return code;
}

/* The terminal's progress line: rate, lag (per partition when there are a few), bad
 * messages, pauses. */
static void progress_line(sluice_kafka *k, const struct sluice_kafka_stats *st, double rate)
{
    struct sluice_kafka_partition parts[8];
    size_t n = sluice_kafka_partitions(k, parts, 8);
    char lags[256] = "";
    size_t used = 0;
    for (size_t i = 0; n <= 8 && i < n && used < sizeof lags; i++) {
        int w = snprintf(lags + used, sizeof lags - used, "%s%s/%" PRId32 " %" PRId64, i ? ", " : " (",
                         parts[i].topic, parts[i].partition, parts[i].lag);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used && used < sizeof lags - 1)
        strcat(lags, ")");
    fprintf(stderr, "\r%" PRIu64 " messages (%.0f/s), lag %" PRId64 "%s, bad %" PRIu64 ", pauses %" PRIu64
            ", %" PRIu32 " partitions   ",
            st->messages, rate, st->lag, lags, st->bad, st->pauses, st->assigned);
}

static void on_warning(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "sluice-kafka: %s\n", line);
}

/* "a,b,c" split in place into out (at most max); the count, or -1. */
static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *t = strtok(s, ","); t; t = strtok(NULL, ","))
        if (n == max || !*t)
            return -1;
        else
            out[n++] = t;
    return n ? n : -1;
}

static int write_prometheus(sluice_kafka *k, const char *path)
{
    char tmp[4200];
    size_t n = sluice_kafka_prometheus(k, NULL, 0);
    char *buf = malloc(n + 1);
    if (!buf)
        return -1;
    n = sluice_kafka_prometheus(k, buf, n + 1);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fwrite(buf, 1, n, f) == n;
    ok &= f && fclose(f) == 0;
    free(buf);
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *topics_arg = NULL, *parts_arg = NULL, *prom = NULL;
    sluice_kafka_config cfg = {.ack = SLUICE_ACK_DURABLE};
    const char *props[64];
    size_t nprops = 0;
    uint64_t idle_ms = 0, connect_ms = 30000;
    char errbuf[512] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (a[0] != '-') {
            if (dir)
                return fail(2, "one directory only (%s)", a);
            dir = a;
            takes = 0;
        } else if (!v) {
            return fail(2, "%s needs a value", a);
        } else if (!strcmp(a, "--brokers")) {
            cfg.brokers = v;
        } else if (!strcmp(a, "--topic")) {
            topics_arg = v;
        } else if (!strcmp(a, "--group")) {
            cfg.group = v;
        } else if (!strcmp(a, "--partitions")) {
            parts_arg = v;
        } else if (!strcmp(a, "--key")) {
            if (!strncmp(v, "json:", 5) && v[5]) {
                cfg.key_mode = SLUICE_KAFKA_KEY_JSON;
                cfg.key_field = v + 5;
            } else if (strcmp(v, "kafka-key")) {
                return fail(2, "--key: kafka-key or json:FIELD, not %s", v);
            }
        } else if (!strcmp(a, "--ts")) {
            if (!strncmp(v, "json:", 5) && v[5]) {
                cfg.ts_mode = SLUICE_KAFKA_TS_JSON;
                cfg.ts_field = v + 5;
            } else if (strcmp(v, "kafka-timestamp")) {
                return fail(2, "--ts: kafka-timestamp or json:FIELD, not %s", v);
            }
        } else if (!strcmp(a, "--ack")) {
            if (!strcmp(v, "memory"))
                cfg.ack = SLUICE_ACK_MEMORY;
            else if (!strcmp(v, "written"))
                cfg.ack = SLUICE_ACK_WRITTEN;
            else if (!strcmp(v, "durable"))
                cfg.ack = SLUICE_ACK_DURABLE;
            else
                return fail(2, "--ack: memory, written or durable, not %s", v);
        } else if (!strcmp(a, "--batch") || !strcmp(a, "--linger-ms") || !strcmp(a, "--exit-idle-ms") ||
                   !strcmp(a, "--connect-timeout-ms")) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (errno || *end || !*v || (!strcmp(a, "--batch") && (n == 0 || n > 1000000)))
                return fail(2, "bad number '%s'", v);
            if (!strcmp(a, "--batch"))
                cfg.batch = (uint32_t)n;
            else if (!strcmp(a, "--linger-ms"))
                cfg.linger_ms = (uint32_t)(n > 60000 ? 60000 : n);
            else if (!strcmp(a, "--exit-idle-ms"))
                idle_ms = n;
            else
                connect_ms = n;
        } else if (!strcmp(a, "--dead-letter")) {
            cfg.dead_letter = v;
        } else if (!strcmp(a, "--prometheus")) {
            prom = v;
        } else if (!strcmp(a, "-X")) {
            if (nprops == sizeof props / sizeof *props)
                return fail(2, "too many -X (%s)", v);
            props[nprops++] = v;
        } else {
            return fail(2, "unknown option %s (try --help)", a);
        }
        i += takes;
    }
    if (!dir || !cfg.brokers || !topics_arg || !cfg.group) {
        fputs(usage, stderr);
        return 2;
    }
    char *topics_copy = strdup(topics_arg), *topics[64];
    int ntopics = topics_copy ? split(topics_copy, topics, 64) : -1;
    if (ntopics < 0)
        return fail(2, "--topic: a comma-separated list of names, not '%s'", topics_arg);
    int32_t parts[1024];
    int nparts = 0;
    if (parts_arg) {
        char *copy = strdup(parts_arg), *p[1024];
        int n = copy ? split(copy, p, 1024) : -1;
        for (int i = 0; i < n; i++) {
            char *end;
            long v = strtol(p[i], &end, 10);
            if (*end || v < 0 || v > INT32_MAX)
                n = -1;
            else
                parts[nparts++] = (int32_t)v;
        }
        free(copy);
        if (n < 0)
            return fail(2, "--partitions: a comma-separated list of partition numbers, not '%s'", parts_arg);
        cfg.partitions = parts;
        cfg.npartitions = (size_t)nparts;
    }
    cfg.topics = (const char *const *)topics;
    cfg.ntopics = (size_t)ntopics;
    cfg.props = props;
    cfg.nprops = nprops;
    cfg.errbuf = errbuf;
    cfg.errbuf_bytes = sizeof errbuf;
    cfg.on_warning = on_warning;

    sluice_options o;
    sluice_options_init(&o);
    o.full_policy = SLUICE_FULL_FAIL; /* a full ring pauses the partitions (sluice_kafka.h) */
    char openerr[512] = "";
    o.errbuf = openerr;
    o.errbuf_bytes = sizeof openerr;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r) {
        fprintf(stderr, "sluice-kafka: %s: %s%s%s\n", dir, sluice_strerror(r), *openerr ? ": " : "", openerr);
        return r == SLUICE_ELOCKED || r == SLUICE_EINVAL ? 2 : 1;
    }
    sluice_kafka *k;
    if ((r = sluice_kafka_open(db, &cfg, &k))) {
        fprintf(stderr, "sluice-kafka: %s\n", *errbuf ? errbuf : sluice_strerror(r));
        (void)sluice_close(db);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int tty = isatty(STDERR_FILENO), code = 0, ever_assigned = 0;
    uint64_t t0 = mono_ms(), last_msg = t0, last_report = t0, last_count = 0;
    char said[512] = "";
    while (!stop) {
        r = sluice_kafka_poll(k, 200);
        uint64_t now = mono_ms();
        struct sluice_kafka_stats st;
        sluice_kafka_stats(k, &st);
        if (r < 0) {
            fprintf(stderr, "%ssluice-kafka: %s\n", tty ? "\n" : "",
                    r == SLUICE_EINVAL && *errbuf ? errbuf : sluice_strerror(r));
            code = r == SLUICE_EINVAL ? 2 : 1;
            break;
        }
        if (r > 0)
            last_msg = now;
        if (*errbuf && strcmp(errbuf, said)) { /* a consumer problem, said once */
            fprintf(stderr, "%ssluice-kafka: %s\n", tty ? "\n" : "", errbuf);
            snprintf(said, sizeof said, "%s", errbuf);
        }
        if (!st.messages && !st.bad && !st.assigned && *errbuf && now - t0 > connect_ms) {
            fprintf(stderr, "sluice-kafka: nothing consumed after %" PRIu64 " ms: %s\n", connect_ms, errbuf);
            code = 2;
            break;
        }
        /* --exit-idle-ms: once it has had partitions, caught up with every one assigned
         * (or left with none by a rebalance) and nothing new since */
        ever_assigned |= st.assigned > 0;
        if (!ever_assigned || (st.assigned && st.lag != 0))
            last_msg = now;
        if (idle_ms && now - last_msg >= idle_ms)
            break;
        if (now - last_report >= 1000) {
            if (tty)
                progress_line(k, &st, (double)(st.messages - last_count) * 1000.0 / (double)(now - last_report));
            if (prom)
                (void)write_prometheus(k, prom);
            last_report = now;
            last_count = st.messages;
        }
    }
    struct sluice_kafka_stats st;
    sluice_kafka_stats(k, &st);
    if ((r = sluice_kafka_close(k)) && !code) {
        fprintf(stderr, "sluice-kafka: closing: %s\n", sluice_strerror(r));
        code = 1;
    }
    if ((r = sluice_close(db)) && !code) {
        fprintf(stderr, "sluice-kafka: %s: %s\n", dir, sluice_strerror(r));
        code = 1;
    }
    fprintf(stderr, "%ssluice-kafka: %" PRIu64 " messages stored, %" PRIu64 " bad, %" PRIu64
            " pauses, %" PRIu64 " rebalances\n", tty ? "\n" : "", st.messages, st.bad, st.pauses,
            st.rebalances);
    free(topics_copy);
    return code;
}
