/*
 * Where the threads sluice starts may run: options.background_cpus, a mask of CPUs
 * (bit n = CPU n; 0 = anywhere), applied by each tier to the thread it starts — the log
 * writer, the segment preparer, the compactor, the stats publisher and the POSIX I/O
 * worker — so an embedder can keep them off the cores its producers own. Best effort: a
 * mask the kernel refuses (no such CPU, a cgroup that forbids it) leaves the thread
 * where it was.
 */
#ifndef SLUICE_PLACEMENT_H
#define SLUICE_PLACEMENT_H
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

static inline void thread_place(pthread_t t, uint64_t cpus)
{
    if (!cpus)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < 64; i++)
        if (cpus >> i & 1)
            CPU_SET(i, &set);
    (void)pthread_setaffinity_np(t, sizeof set, &set);
}
#endif
