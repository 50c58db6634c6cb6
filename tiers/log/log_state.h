/*
 * The log tier's state: private to tiers/log (the guard below makes an include from
 * another floor fail to compile). writer.c runs the writer thread, recovery.c rebuilds
 * the state at open, log.c creates and frees it and answers the accessors of log.h.
 */
#ifndef SLUICE_LOG_STATE_H
#define SLUICE_LOG_STATE_H
#ifndef SLUICE_FLOOR_LOG
#error "log_state.h is private to tiers/log: include log.h"
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "hist.h"
#include "log.h"
#include "preparer.h"

/* O_DIRECT writes in flight at most: more lets producers that missed a batch go out at
 * once instead of waiting a whole device write (group commit with few producers). */
#define LOG_MAX_WRITES 4
/* What records nobody waits for may be held back to fill (memory_delay_us): a 4 KiB
 * block's fill then pads at most an eighth of the write. */
#define LOG_HOLD_BYTES (32u << 10)

/* Segments grow with the write rate (roll_segment in writer.c): a log starts with
 * segments of SEG_START_BYTES (or segment_bytes, if smaller), and each spare is twice the
 * segment just installed while segments fill within SEG_GROW_FILL_NS, up to
 * segment_bytes; half of it, down to the start size, once one took SEG_SHRINK_FILL_NS.
 * A tiny or idle directory so costs a few MiB, a busy one full-size pre-zeroed segments. */
#define SEG_START_BYTES (2u << 20)
#define SEG_GROW_FILL_NS (10ull * 1000000000u)
#define SEG_SHRINK_FILL_NS (120ull * 1000000000u)

struct log_write {
    int done;          /* 0 in flight, 1 completed, -1 failed */
    uint8_t *stage;    /* direct mode: 4 KiB-aligned copy of the batch */
    struct iovec iov[IO_MAX_IOV];
    int iovcnt;
    uint64_t off;      /* file offset of what remains to write */
    uint32_t seg;
    uint64_t end_pos;  /* ring cursor after its last record */
    uint64_t last_lsn; /* its last LSN (write_lsn - 1 for a seal) */
    uint64_t submit_ns;/* when it was submitted (monotonic) */
    uint64_t max_ts;   /* the newest ts among its records (0 if none) */
};

struct log_stats {
    _Atomic uint64_t puts, put_bytes, log_bytes, batches, fsyncs, short_writes,
        segments_created, segments_sealed, eagain_retries;
    /* freshness: the newest ts visible to reads (indexed) and made durable */
    _Atomic uint64_t newest_ts_indexed, newest_ts_durable;
};

/* The writer's distributions: it records under mu once per batch, readers copy under
 * it (log_hist). Initialised by log_open before anything records. */
struct log_obs {
    pthread_mutex_t mu;
    struct hist batch_records, batch_bytes; /* records and bytes per write */
    struct hist write_ns;  /* submit -> completion of each write (with RWF_DSYNC: durable) */
    struct hist fsync_ns;  /* submit -> completion of each separate fdatasync */
};

struct log {
    /* wiring, from struct log_config (log_open) */
    struct io *io;
    struct ring *ring;
    struct hot_index *index;
    char *logdir;
    char *replaydir;         /* struct log_config; NULL: compacted segments are deleted */
    int keep_compacted;
    uint8_t uuid[16];
    int uuid_known;          /* the cold tier named the database: segments must agree */
    uint64_t compacted_lsn;  /* at open: records <= it are in the cold tier */
    int read_only;           /* another process may be writing: recovery only reads */
    uint64_t recovery_skips;        /* damaged stretches recovery stepped over (all cold) */
    uint64_t recovery_skipped_lsns; /* the records they held */
    uint64_t backlog_max_bytes; /* live segments beyond this hold the writer back */
    void (*on_seal)(void *arg); /* a segment was sealed: the compactor has work */
    void *on_seal_arg;
    size_t segment_bytes, batch_max_bytes; /* segment_bytes: the largest segment */
    uint64_t seg_start_bytes;  /* the first segments' size: min(SEG_START_BYTES, segment_bytes) */
    uint32_t linger_us;
    uint32_t memory_delay_us; /* MEMORY-only records may wait this long to fill a write */
    int prefer_buffered;   /* never use O_DIRECT (tests of the buffered path) */
    uint64_t cpus;         /* where the writer and the preparer run (placement.h) */
    int doorbell_fd;          /* -1 until log_start */

    struct log_progress *progress; /* the caller's (log_config): what producers and
                                    * readers wait on */
    _Atomic int poison_cause; /* the error that poisoned the log (-errno) */
    _Atomic int stopping;
    /* The highest LSN a producer, sluice_wait or sluice_flush waits to see written: while
     * it is below the first unwritten record, nobody waits for the pending batch. */
    _Atomic uint64_t want_lsn;
    _Atomic int napping;      /* the writer naps on a held batch: kick it if you need it */
    struct log_stats st;
    struct log_obs obs;
    /* events (may be NULL): segment roll and poison, from the writer thread */
    void (*on_event)(void *arg, int type, uint64_t a, uint64_t b);
    void *event_arg;

    /* writer-thread state */
    pthread_t thread;
    int thread_started;
    uint64_t next_seq;     /* segment_seq of the next segment to create */
    uint64_t gather_pos;   /* ring cursor of the next record to index */
    uint64_t gather_lsn;   /* its LSN */
    uint64_t write_pos;    /* ring cursor of the next record to write */
    uint64_t write_lsn;    /* its LSN */
    uint32_t wseg;         /* segment being appended */
    int direct;            /* 1: O_DIRECT + RWF_DSYNC writes from the staging buffer;
                            * 0: buffered writes from ring memory + fdatasync */
    size_t stage_bytes;
    struct seg_preparer prep;
    uint8_t *fill_buf;     /* REC_FILL_MAX bytes: the fill that ends each write */
    uint64_t tag;
    uint64_t hold_until;   /* the pending batch is held back for more records until then */
    /* writes in flight, oldest first: up to LOG_MAX_WRITES in direct mode, one in
     * buffered mode (its fdatasync logic covers one write at a time) */
    struct log_write writes[LOG_MAX_WRITES];
    unsigned w_head, w_count, w_max;
    int write_broken;      /* buffered: the write chained to the running sync came up short */
    int wrote_since_open;  /* a clean close then seals the log with a stamped fill */
    int sealed;
    /* ring release: written records stay in the ring as a read cache (O_DIRECT writes
     * leave nothing in the page cache) until producers need the space */
    uint64_t written_pos;  /* ring cursor after the last written record */
    uint64_t release_pos;  /* ring cursor of the next record to release */
    uint64_t release_lsn;  /* its LSN */
    /* the fdatasync in flight (at most one) */
    int fsync_inflight;
    uint64_t fsync_target;
    uint64_t fsync_submit_ns;
    uint64_t written_max_ts; /* newest ts among written records */
    uint64_t fsync_max_ts;   /* ... when the running fdatasync was submitted */
};

/* Recovery (recovery.c): scans log/, rebuilds the index, cuts a torn tail (unless
 * read_only), creates the first segment of an empty log (unless read_only). On
 * SLUICE_ECORRUPT or an I/O error, errbuf (may be NULL) receives a one-line reason
 * naming the file and offset. What it added to the segment table stays on failure
 * (log_destroy closes it). */
int log_recover(struct log *lg, char *errbuf, size_t errcap);
#endif
