/*
 * What every sluice-bench workload shares, and calls down to (bench.c is the only caller
 * of the workloads; no workload calls back into it): the run's configuration, one result
 * row, the records every workload writes, opening and loading sluice, and the process
 * counters (CPU time, device bytes) a row is charged with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"

static uint8_t *random_values; /* a pool the values are cut from: incompressible */
#define POOL (1u << 20)

void records_init(void)
{
    random_values = malloc(POOL);
    if (!random_values)
        die("values", SLUICE_ENOMEM);
    uint64_t s = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < POOL; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        random_values[i] = (uint8_t)s;
    }
}

void records_free(void) { free(random_values); }

const uint8_t *value_of(uint64_t i) { return random_values + (i * 131) % (POOL - VALUE_BYTES); }

int key_of(char *k, uint64_t i) { return sprintf(k, "sensor-%05u", (unsigned)(i % SERIES)); }

size_t engine_key(uint8_t *k, uint64_t i, uint64_t ts)
{
    char s[32];
    int n = key_of(s, i);
    memcpy(k, s, (size_t)n);
    for (int b = 7; b >= 0; b--, ts >>= 8)
        k[n + b] = (uint8_t)ts;
    return (size_t)n + 8;
}

int selected(const struct cfg *c, const char *name)
{
    if (!c->only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = c->only; (p = strstr(p, name)); p += n)
        if ((p == c->only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

void die(const char *what, int r)
{
    /* sluice_strerror names -errno values too */
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, sluice_strerror(r));
    exit(2);
}

char *fresh_dir(const struct cfg *c, const char *name)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", c->dir, name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        die("rm", -EIO);
    /* no run inherits the writeback of the one before it */
    sync();
    return p;
}

uint64_t proc_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t proc_device_written(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    unsigned long long v = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %llu", &v) == 1)
            break;
    fclose(f);
    return v;
}

void meter_start(struct meter *m)
{
    m->dev0 = proc_device_written();
    m->cpu0 = proc_cpu_ns();
    m->t0 = clock_now_ns();
}

void meter_stop(const struct meter *m, struct result *r)
{
    r->secs = (clock_now_ns() - m->t0) / 1e9;
    r->cpu_secs = (proc_cpu_ns() - m->cpu0) / 1e9;
    r->device_bytes = (double)(proc_device_written() - m->dev0);
}

void result_init(struct result *r, const char *name)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    hist_init(&r->lat);
    r->stall_seconds = -1;
}

sluice_db *bench_open_opts(const char *dir, uint32_t stats_interval_ms, int manual)
{
    sluice_options o;
    sluice_options_init(&o);
    o.stats_interval_ms = stats_interval_ms;
    o.manual_compaction = manual;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    if (r)
        die("open", r);
    return db;
}

sluice_db *bench_open(const char *dir) { return bench_open_opts(dir, 100, 0); }

void bench_put(sluice_db *db, uint64_t i, uint64_t ts, int ack, uint64_t *lsn)
{
    char k[32];
    int kl = key_of(k, i);
    int r = sluice_put(db, k, (size_t)kl, ts, value_of(i), VALUE_BYTES, ack, lsn);
    if (r)
        die("put", r);
}
