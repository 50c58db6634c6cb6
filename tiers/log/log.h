/*
 * The log tier: segment files under DIR/log, appended by one writer thread that drains
 * the ring, with group commit. See log.c for the handle, writer.c for the loop,
 * recovery.c for open.
 *
 * Positions (each advanced only by the writer thread):
 *   indexed  every record <= it is in the hot index, visible to reads
 *   written  every record <= it completed its write (OS page cache)
 *   durable  every record <= it is covered by a completed fdatasync
 * durable <= written <= indexed <= ring claimed LSN, always.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hot_index.h"
#include "io.h"
#include "position.h"
#include "ring.h"
#include "segment.h"

struct log; /* private (log_state.h) */
struct hist;
struct sluice_stats;

/* What producers and readers wait on: the positions (advanced only by the writer
 * thread) and the poison flag. The caller provides it (log_config) and reads it
 * directly: a put's check costs the same load it did when the log was a field of the
 * handle. */
struct log_progress {
    struct position indexed, written, durable;
    _Atomic int poison; /* 0, or SLUICE_EPOISONED: the abort code of every waiter */
};

/* What the log is built from. Pointers stay the caller's and must outlive the log;
 * logdir is copied. */
struct log_config {
    struct io *io;
    struct ring *ring;
    struct hot_index *index; /* the segment table lives in it (segment.h) */
    struct log_progress *progress; /* initialised by log_open */
    const char *logdir;
    uint8_t uuid[16];       /* the database's identity */
    int uuid_known;         /* the cold tier named it: segments must agree */
    uint64_t compacted_lsn; /* records <= it are in the cold tier */
    int read_only;          /* another process may be writing: recovery only reads */
    size_t segment_bytes;   /* the largest segment */
    size_t batch_max_bytes;
    uint32_t linger_us;
    uint32_t memory_delay_us; /* MEMORY-only records may wait this long to fill a write */
    int prefer_buffered;      /* never use O_DIRECT (tests of the buffered path) */
    uint64_t cpus;            /* where the writer and the preparer run (placement.h) */
    uint64_t backlog_max_bytes; /* live segments beyond this hold the writer back */
    /* compacted segments recovery finds still in logdir go here instead of being deleted
     * (NULL: deleted), when keep_compacted is set or the directory exists: tails replay
     * them (tiers/compact/replay.h) */
    const char *replaydir;
    int keep_compacted;
    /* events (may be NULL): segment roll and poison, from the writer thread */
    void (*on_event)(void *arg, int type, uint64_t a, uint64_t b);
    void *event_arg;
};

/* Creates the log and recovers it (recovery.c): scans log/, rebuilds the hot index, cuts
 * a torn tail and creates the first segment of an empty log (neither when read_only).
 * On SLUICE_ECORRUPT or an I/O error, errbuf (may be NULL) receives a one-line reason
 * naming the file and offset. On failure nothing is left: *out is NULL. */
int log_open(const struct log_config *cfg, struct log **out, char *errbuf, size_t errcap);

/* Starts the writer thread and its preparer (the ring ready, its doorbell given; on_seal,
 * may be NULL, is called from the writer thread when a segment is sealed: the
 * compactor has work). On an error nothing is left started or allocated. */
int log_start(struct log *lg, int doorbell_fd, void (*on_seal)(void *arg), void *on_seal_arg);
/* The writer drains everything into the log and makes it durable (unless poisoned),
 * seals it, trims the last segment and is joined; its preparer keeps running (stats
 * read it). Idempotent. Returns 0 or the poison cause. */
int log_drain(struct log *lg);
/* Undoes log_start: log_drain, then the preparer stops and the writer's buffers are
 * freed. Idempotent. Returns 0 or the poison cause. */
int log_stop(struct log *lg);
/* Undoes log_open: closes the segment files, frees the log. NULL is a no-op. */
void log_destroy(struct log *lg);

/* --- for any thread ----------------------------------------------------------------- */

struct log_progress *log_progress(struct log *lg);
const uint8_t *log_uuid(const struct log *lg);
/* Before log_start: the LSN the first new record gets. */
uint64_t log_next_lsn(const struct log *lg);
/* The error that poisoned the log (-errno), or 0. */
int log_poison_cause(struct log *lg);
/* Bytes written to segment files so far (the compactor's pacing follows them). */
uint64_t log_bytes_written(struct log *lg);
/* Waits until the preparer has a spare segment ready (tests and benchmarks that want
 * the first roll without zeroing): 0, SLUICE_ETIMEDOUT, or its error. */
int log_wait_spare(struct log *lg, uint32_t timeout_ms);
/* Fills the log's part of *out (positions, counters, segments, poison). */
void log_fill_stats(struct log *lg, struct sluice_stats *out);
enum log_hist { LOG_HIST_BATCH_RECORDS, LOG_HIST_BATCH_BYTES, LOG_HIST_WRITE, LOG_HIST_FSYNC };
/* Merges one of the writer's distributions into *out. */
void log_hist(struct log *lg, enum log_hist which, struct hist *out);

/* Wakes the writer if it sleeps (used by flush and close). */
void log_kick(struct log *lg);
/* Announces a waiter for record `lsn` to be written: the writer stops holding the pending
 * batch back (hold_batch in writer.c). A producer calls it before it publishes the
 * record; sluice_wait and sluice_flush before they wait, followed by log_kick. */
void log_want(struct log *lg, uint64_t lsn);
/* Kicks the writer if it naps on a held batch (a put that waits, a read that outran
 * indexing): it would otherwise look again only when its nap ends. */
void log_nudge(struct log *lg);
#endif
