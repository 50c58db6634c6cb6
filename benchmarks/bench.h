/*
 * The workloads of sluice-bench, each in its own file; bench.c runs them in order.
 */
#ifndef SLUICE_BENCH_H
#define SLUICE_BENCH_H
#include "common.h"

void bench_limits(const struct cfg *c);  /* limits.c: the machine's own limits */
void bench_soak(const struct cfg *c);    /* soak.c */
void bench_reads(const struct cfg *c);   /* reads.c: read-point, read-scan */
void bench_mixed(const struct cfg *c);   /* reads.c */
void bench_follow(const struct cfg *c);  /* follow.c: tail-memory, tail-durable, tail-catch-up */
/* rates.c: records/s the log sustains behind one MEMORY producer (the put-memory row's
 * if it ran, else measured now) */
double bench_sustained_rate(const struct cfg *c);
/* ... and with compaction keeping up: until the last put is in the cold tier */
double bench_end_to_end_rate(const struct cfg *c);
#endif
