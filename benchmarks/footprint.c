/*
 * sluice-footprint-bench: what a directory costs on disk, and what a durable writer sees
 * right after opening one, through the public API only — so the same source builds
 * against an earlier version of the library for a same-run A/B (docs/benchmarks.md,
 * "Footprint and the first seconds of a directory"):
 *
 *   sluice-footprint-bench [--dir DIR] [--runs N] [--warm-mib W]
 *
 * 1. A one-record directory's disk use (du: allocated blocks) while open (once the
 *    spare segment is ready), after close, and after a reopen that compacts everything.
 * 2. N runs of 5,000 DURABLE puts (16-byte keys, 100-byte values) into a new directory,
 *    right after open (cold), and after W MiB of MEMORY warm-up puts compacted away and
 *    two seconds of rest (steady): p50, p99, p99.9 and max of each run, and the median
 *    of each over the runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"

#define PUTS 5000

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "sluice-footprint-bench: %s: %s\n", what, sluice_strerror(r));
    exit(2);
}

static long long disk_bytes(const char *d)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "du -s -B1 '%s'", d);
    FILE *p = popen(cmd, "r");
    long long n = -1;
    if (!p || fscanf(p, "%lld", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static void rm_rf(const char *d)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd))
        die("rm", -1);
}

static void wait_spare(sluice_db *db)
{
    for (int i = 0; i < 5000; i++) {
        struct sluice_stats st;
        if (sluice_stats(db, &st) == 0 && st.spare_ready)
            return;
        usleep(1000);
    }
}

static void footprint(const char *d)
{
    sluice_options o;
    sluice_options_init(&o);
    sluice_db *db;
    int r;
    if ((r = sluice_open(d, &o, &db)) || (r = sluice_put(db, "one", 3, 1, "record", 6, SLUICE_ACK_DURABLE, NULL)))
        die("footprint", r);
    wait_spare(db);
    long long open_bytes = disk_bytes(d);
    if ((r = sluice_close(db)))
        die("close", r);
    long long closed = disk_bytes(d);
    if ((r = sluice_open(d, &o, &db)) || (r = sluice_compact(db)) || (r = sluice_close(db)))
        die("compact", r);
    printf("one-record directory (du): %.2f MB open, %.2f MB closed, %.2f MB after a full compaction\n",
           open_bytes / 1e6, closed / 1e6, disk_bytes(d) / 1e6);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct pct {
    double p50, p99, p999, max;
};

/* 5,000 DURABLE puts into a new directory after warm_mib of warm-up. */
static struct pct durable_run(const char *d, long warm_mib)
{
    sluice_options o;
    sluice_options_init(&o);
    sluice_db *db;
    int r = sluice_open(d, &o, &db);
    if (r)
        die("open", r);
    static char warm[1024], val[100];
    memset(warm, 'w', sizeof warm);
    memset(val, 'v', sizeof val);
    for (long i = 0; i < warm_mib * 1024; i++)
        if ((r = sluice_put(db, "warm-up", 7, (uint64_t)i, warm, sizeof warm, SLUICE_ACK_MEMORY, NULL)))
            die("warm-up", r);
    if (warm_mib) {
        if ((r = sluice_compact(db)))
            die("compact", r);
        sync();
        sleep(2);
    }
    wait_spare(db);
    static uint64_t lat[PUTS];
    for (int i = 0; i < PUTS; i++) {
        char k[32];
        int n = snprintf(k, sizeof k, "sensor-%09d", i % 10000);
        uint64_t a = now_ns();
        if ((r = sluice_put(db, k, (size_t)n, 1000000 + (uint64_t)i, val, sizeof val, SLUICE_ACK_DURABLE, NULL)))
            die("put", r);
        lat[i] = now_ns() - a;
    }
    if ((r = sluice_close(db)))
        die("close", r);
    qsort(lat, PUTS, sizeof *lat, cmp_u64);
    return (struct pct){lat[PUTS / 2] / 1e3, lat[PUTS * 99 / 100] / 1e3, lat[PUTS * 999 / 1000] / 1e3,
                        lat[PUTS - 1] / 1e3};
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    const char *base = "/var/tmp";
    int runs = 5;
    long warm = 70;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warm-mib") && i + 1 < argc)
            warm = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: sluice-footprint-bench [--dir DIR] [--runs N] [--warm-mib W]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 64)
        runs = 5;
    char d[4096];
    snprintf(d, sizeof d, "%s/sluice-footprint-%d", base, (int)getpid());
    rm_rf(d);
    footprint(d);
    rm_rf(d);
    printf("%d runs of %d DURABLE puts into a new directory (us)\n", runs, PUTS);
    double v[2][4][64];
    for (int r = 0; r < runs; r++)
        for (int w = 0; w < 2; w++) {
            struct pct p = durable_run(d, w ? warm : 0);
            rm_rf(d);
            v[w][0][r] = p.p50, v[w][1][r] = p.p99, v[w][2][r] = p.p999, v[w][3][r] = p.max;
            printf("  %-28s p50 %7.1f  p99 %7.1f  p99.9 %7.1f  max %8.1f\n",
                   w ? "steady (after warm-up)" : "cold (right after open)", p.p50, p.p99, p.p999, p.max);
        }
    for (int w = 0; w < 2; w++)
        printf("median %-21s p50 %7.1f  p99 %7.1f  p99.9 %7.1f  max %8.1f\n", w ? "steady" : "cold",
               median(v[w][0], runs), median(v[w][1], runs), median(v[w][2], runs), median(v[w][3], runs));
    return 0;
}
