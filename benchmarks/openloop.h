/*
 * Open-loop load: requests arrive on a fixed schedule whether or not earlier ones have
 * finished, and each latency is measured from the time the request was due, not from
 * when the (possibly delayed) caller got round to it. A stall then counts against every
 * request it delays — the correction for coordinated omission that closed-loop
 * measurements lack.
 */
#ifndef SLUICE_BENCH_OPENLOOP_H
#define SLUICE_BENCH_OPENLOOP_H
#include <stdint.h>

#include "clock.h"

/* When request i of a run started at `start` at `rate` requests/s is due (ns). */
static inline uint64_t openloop_due(uint64_t start, uint64_t i, uint64_t rate)
{
    return start + (uint64_t)((unsigned __int128)i * 1000000000u / rate);
}

/* Spins until request time `due` (a sleep would wake late by more than the gap between
 * requests); returns the time it started. */
static inline uint64_t openloop_wait(uint64_t due)
{
    uint64_t now;
    while ((now = clock_now_ns()) < due)
        ;
    return now;
}

/* The latency of a request due at `due` that completed at `done`: the time it waited to
 * start counts. */
static inline uint64_t openloop_latency(uint64_t due, uint64_t done)
{
    return done > due ? done - due : 0;
}

/* Stall seconds of a run: seconds whose p99.9 exceeds 5x the median second's p99.9
 * (the benchmark-suite issue's definition). *median receives that median (the upper one
 * for an even count). Sorts p999 in place (insertion sort: a run has minutes of seconds). */
static inline int openloop_stall_seconds(double *p999, int n, double *median)
{
    *median = 0;
    if (n <= 0)
        return 0;
    for (int i = 1; i < n; i++) {
        double v = p999[i];
        int j = i - 1;
        for (; j >= 0 && p999[j] > v; j--)
            p999[j + 1] = p999[j];
        p999[j + 1] = v;
    }
    *median = p999[n / 2];
    int stalls = 0;
    for (int i = 0; i < n; i++)
        stalls += p999[i] > 5 * *median;
    return stalls;
}
#endif
