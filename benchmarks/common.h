/*
 * What the parts of sluice-bench share (common.c): the run's configuration, one result
 * row, the records every workload writes, opening and loading sluice, and the process
 * counters (CPU time, device bytes) a row is charged with.
 */
#ifndef SLUICE_BENCH_COMMON_H
#define SLUICE_BENCH_COMMON_H
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "sluice.h"

#define SERIES 10000
#define VALUE_BYTES 100
#define KEY_BYTES 12                           /* "sensor-%05u" */
#define USER_BYTES (KEY_BYTES + 8 + VALUE_BYTES) /* what a user hands over per record */

struct cfg {
    int quick, markdown, json, peers;
    const char *plots; /* a directory for SVG plots, or NULL */
    const char *dir;
    const char *only;
    uint32_t soak_secs; /* per engine and rate */
    const char *soak_rates; /* "100000,150000" for every engine; sluice also the third */
};

/* One line of output. A row without latencies (a bandwidth, a recovery) has lat.count 0. */
struct result {
    char name[64];
    uint64_t records;
    double secs;
    struct hist lat;
    double cpu_secs;      /* CPU time of the whole process (every thread) during the row */
    double device_bytes;  /* bytes the process caused to be written to the device */
    double rate_override; /* > 0: printed as records/s instead of records / secs */
    char unit[16];        /* what rate_override counts ("MB/s", "GB/s"); empty: records/s */
    int indent;           /* a peer's row under sluice's */
    int stall_seconds;    /* soak: seconds whose p99.9 exceeded 5x the median second's; -1: n/a */
    double user_bytes;    /* bytes handed over by the user (key, ts, value); 0: a read row */
    char note[240];
};

/* An empty row named `name`: no samples, no stall count. */
void result_init(struct result *r, const char *name);

/* Process counters around a measured section. */
struct meter {
    uint64_t t0, cpu0, dev0;
};
void meter_start(struct meter *m);
/* Fills secs, cpu_secs and device_bytes of r from the meter's start until now. */
void meter_stop(const struct meter *m, struct result *r);
uint64_t proc_cpu_ns(void);
uint64_t proc_device_written(void); /* /proc/self/io write_bytes; 0 when unreadable */

__attribute__((noreturn)) void die(const char *what, int r);
/* DIR/name, emptied; the caller frees it. */
char *fresh_dir(const struct cfg *c, const char *name);
int selected(const struct cfg *c, const char *name);
int key_of(char *k, uint64_t i);
const uint8_t *value_of(uint64_t i);
/* key_of(i) || be64(ts): the peers' natural layout for time series; returns its length */
size_t engine_key(uint8_t *k, uint64_t i, uint64_t ts);

/* The value pool (before any workload; records_free at the end). */
void records_init(void);
void records_free(void);
/* sluice with the stats publisher every stats_interval_ms (0: off), automatic or manual
 * compaction; bench_open: 100 ms, automatic. They die on an error. */
sluice_db *bench_open_opts(const char *dir, uint32_t stats_interval_ms, int manual);
sluice_db *bench_open(const char *dir);
/* Puts record i (key_of, value_of) at ts; dies on an error. */
void bench_put(sluice_db *db, uint64_t i, uint64_t ts, int ack, uint64_t *lsn);
#endif
