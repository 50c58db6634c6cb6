/*
 * The compactor: one thread that moves log records into the cold tier, exactly once.
 *
 * DESIGN. Each round takes the records after compacted_lsn up to the end of the oldest
 * sealed segment (a segment with a successor, all of it durable) — or, when
 * sluice_compact asked, up to the requested LSN inside the active segment — reads them
 * from the segment file with the log's own walker, and hands them to cold_apply, whose
 * one LMDB transaction stores the records and the new compacted_lsn together. Only after
 * that commit is durable does it prune the hot index and retire segments wholly at or
 * below the horizon (the compacted LSN, held back by iterators whose cold view is older),
 * deleting their files and syncing the directory. A crash anywhere leaves either the old
 * checkpoint (the round is redone) or the new one (recovery deletes what is left).
 *
 * It never touches the put path: it reads files the writer finished with, and takes the
 * index write lock only to prune and retire (memory work).
 *
 * Lifecycle: compactor_start in sluice_open after recovery; compactor_stop in
 * sluice_close after the writer stopped: the current round finishes, the thread exits
 * and is joined.
 */
#ifndef SLUICE_COMPACTOR_H
#define SLUICE_COMPACTOR_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cold.h"
#include "hist.h"
#include "log.h"
#include "position.h"

/* The records of one round, copied out of the segment; kept from round to round (cold.c
 * says why). */
struct compactor_batch {
    struct cold_rec *recs;
    size_t n, cap;
    uint8_t *arena;
    size_t used, arena_cap;
};

struct compactor {
    struct log *lg;
    struct cold *cold;
    uint64_t cpus;                 /* where the thread runs (placement.h) */
    uint64_t retention_ns;
    int manual;                    /* compact only what sluice_compact asks for (a sealed
                                    * segment is not work by itself: manual_compaction) */
    /* the oldest compacted_lsn of a cold view that an open iterator holds (UINT64_MAX
     * if none): hot entries above it must stay */
    uint64_t (*horizon)(void *arg);
    void *horizon_arg;

    struct position compacted;
    _Atomic int error;             /* the last round's error (0 when it succeeded) */
    _Atomic uint64_t rounds, records, blocks, bytes, dropped_records, dropped_bytes,
        segments_deleted, map_growths;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    uint64_t requested;            /* compact at least up to this LSN */
    uint64_t kicks;                /* compactor_kick calls (under mu) */
    uint64_t newest_ts;            /* for retention */
    struct compactor_batch batch;  /* the thread's own */
    /* observability: the thread records under obs_mu; stats copy under it */
    pthread_mutex_t obs_mu;
    struct hist round_ns;          /* read, merge and commit of each round */
    struct hist to_cold_ns;        /* the round's segment's first record -> committed */
    _Atomic uint64_t newest_ts_cold;
    void (*on_event)(void *arg, int type, uint64_t a, uint64_t b); /* may be NULL */
    void *event_arg;
    /* pacing (compactor.c, pace): the round's start, the rate its writes may go at (0:
     * unpaced), and the log's write rate it follows */
    uint64_t round_t0, pace_bytes_per_s, pace_paused_ns;
    uint64_t log_bytes_seen, log_seen_ns;
    double log_rate;               /* bytes per second, smoothed */
    _Atomic uint64_t paced_ns;     /* time spent waiting between transactions */
};

/* Prepares the observability fields (also for handles that never start the thread). */
void compactor_obs_init(struct compactor *c);
void compactor_obs_destroy(struct compactor *c);
int compactor_start(struct compactor *c, uint64_t compacted_lsn);
void compactor_stop(struct compactor *c);
/* Fills the compactor's counters in *out (any thread). */
struct sluice_stats;
void compactor_fill_stats(struct compactor *c, struct sluice_stats *out);
/* Wakes the compactor: a segment was sealed, or target > 0 was asked for. */
void compactor_kick(struct compactor *c, uint64_t target);
#endif
