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
 * Lifecycle: compactor_create in sluice_open after recovery and the ring (it kicks the
 * writer's doorbell); compactor_destroy in sluice_close after the writer drained: the
 * current round finishes, the thread exits and is joined. struct compactor is private
 * to compactor.c: the engine sees the calls below.
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
#include "replay.h"

struct compactor; /* private: tiers/compact/compactor.c */

/* What the compactor works with, fixed at creation. */
struct compactor_config {
    struct log *lg;          /* its progress, identity and write rate; it is kicked */
    struct hot_index *index; /* pruned; its segment table's entries retired */
    struct io *io;           /* reads segments, closes and deletes retired ones */
    const char *logdir;      /* must outlive the compactor */
    struct cold *cold;
    uint64_t cpus;          /* where the thread runs (placement.h) */
    uint64_t retention_ns;
    int manual;             /* compact only what compactor_compact asks for (a sealed
                             * segment is not work by itself: manual_compaction) */
    /* the oldest compacted_lsn of a cold view that an open iterator holds (UINT64_MAX if
     * none): hot entries above it must stay */
    uint64_t (*horizon)(void *arg);
    void *horizon_arg;
    void (*on_event)(void *arg, int type, uint64_t a, uint64_t b); /* may be NULL */
    void *event_arg;
    /* replay retention (replay.h); replay.replaydir NULL: compacted segments are deleted.
     * replay.logdir is taken from logdir above */
    struct replay_policy replay;
};

/* Creates the compactor and starts its thread, from the checkpoint compacted_lsn. On an
 * error nothing is left started or allocated. */
int compactor_create(const struct compactor_config *cfg, uint64_t compacted_lsn,
                     struct compactor **out);
/* Stops the thread (its current round finishes; joined) and frees it; NULL is ignored. */
void compactor_destroy(struct compactor *c);
/* Wakes the compactor: a segment was sealed, or target > 0 was asked for. */
void compactor_kick(struct compactor *c, uint64_t target);
/* Every record <= it is committed in the cold tier. */
uint64_t compactor_compacted_lsn(struct compactor *c);
/* Asks for everything up to target and waits until it is in the cold tier: 0, or the
 * error of the round that failed (the next kick tries again). */
int compactor_compact(struct compactor *c, uint64_t target);
/* The same with a deadline (CLOCK_MONOTONIC, 0: none): 0, SLUICE_ETIMEDOUT, or the error
 * of the round that failed. */
int compactor_wait(struct compactor *c, uint64_t target, uint64_t deadline_ns);
/* Adds the distribution of round times (put_to_cold 0) or of put-to-cold times
 * (put_to_cold 1) to *out. */
void compactor_hist(struct compactor *c, int put_to_cold, struct hist *out);
/* Fills the compactor's counters in *out (any thread). */
struct sluice_stats;
void compactor_fill_stats(struct compactor *c, struct sluice_stats *out);
#endif
