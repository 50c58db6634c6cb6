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

/* When request i of a run started at `start` at `rate` requests/s is due (ns). */
static inline uint64_t openloop_due(uint64_t start, uint64_t i, uint64_t rate)
{
    return start + (uint64_t)((unsigned __int128)i * 1000000000u / rate);
}

/* The latency of a request due at `due` that completed at `done`: the time it waited to
 * start counts. */
static inline uint64_t openloop_latency(uint64_t due, uint64_t done)
{
    return done > due ? done - due : 0;
}
#endif
