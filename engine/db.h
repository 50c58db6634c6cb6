/*
 * The database handle: the engine wires the tiers together and owns everything. No
 * state lives outside this struct, so two handles in one process share nothing mutable.
 */
#ifndef SLUICE_DB_H
#define SLUICE_DB_H
#include <stdatomic.h>
#include <sys/types.h>
#include <stdint.h>

#include "cold.h"
#include "hist.h"
#include "compactor.h"
#include "hot_index.h"
#include "io.h"
#include "log.h"
#include "ring.h"
#include "sluice.h"

/* Put latency is recorded per core (a stripe by sched_getcpu), never in a cache line
 * every producer writes: MEMORY puts are timed one in 16, the slower levels always. */
#define PUT_STRIPES 16
struct put_stripe {
    pthread_mutex_t mu;
    struct hist lat[3]; /* by ack level */
} __attribute__((aligned(64)));

/* The header of the ring's shared-memory file (engine/ring_file.c, docs/format.md). */
struct ring_file_hdr {
    char magic[8];      /* "SLUICRNG" */
    uint32_t version, header_bytes;
    uint8_t uuid[16];   /* the database's */
    uint64_t dir_dev, dir_ino; /* the directory's identity */
    uint64_t ring_bytes, first_lsn;
    uint32_t flags;     /* RING_FILE_REPLAYING */
    uint32_t crc;       /* masked CRC32C of the fields before it */
};

/* Named cursors and watermarks (engine/marks.c): the table mirrors what the log and the
 * cold tier store, sorted by name within each kind. */
struct mark {
    char *name;
    uint64_t value; /* a cursor's LSN, a watermark's ts */
    int lagging;    /* a cursor whose segments were let go (replay.h) */
};
struct marks {
    pthread_mutex_t mu;       /* orders the records of one kind with the table */
    struct mark *v[2];        /* [0] cursors, [1] watermarks */
    size_t n[2], cap[2];
};

struct sluice_db {
    pid_t owner_pid; /* the process that opened it: a fork()ed child has none of its threads */
    char *dir;
    sluice_options opts;
    int read_only;
    int lock_fd;
    int doorbell_fd;
    size_t value_max;
    struct io *io;
    struct ring ring;
    struct hot_index index;
    struct log *log;               /* NULL until step 5 of open (log.h: private) */
    struct log_progress progress;  /* the log's positions and poison flag, read by puts */
    char *logdir;                  /* DIR/log */
    char *replaydir;               /* DIR/replay: compacted segments kept for tails */
    /* from the cold tier (step 4), for the log: its checkpoint and the identity */
    uint64_t cold_compacted_lsn;
    uint8_t cold_uuid[16];
    int cold_uuid_known;
    struct cold *cold;          /* NULL for a read-only open of a directory without one */
    struct compactor *compactor; /* NULL for readers, and until step 7 of open */
    pthread_mutex_t views_mu;   /* cold views held by open iterators: the prune horizon */
    uint64_t *views;
    size_t nviews, views_cap;
    _Atomic int open_iters;
    /* slow-path counters: touched only by a put that found the ring full */
    _Atomic uint64_t ring_full_waits, ring_full_rejections, ring_full_wait_ns;
    /* observability (engine/observe.c) */
    uint64_t *view_since;       /* when each held view was taken (parallel to views) */
    struct put_stripe *stripes; /* PUT_STRIPES; NULL for read-only opens */
    pthread_mutex_t obs_mu;     /* guards ring_blocked */
    struct hist ring_blocked;
    _Atomic uint64_t rejected_full, rejected_timeout, rejected_poisoned, rejected_invalid;
    _Atomic uint64_t put_samples_dropped; /* obs_record_put found its stripe locked */
    _Atomic int pressure_waiters;  /* producers asleep on a full ring */
    _Atomic uint64_t pressure_since;
    struct stats_publisher *publisher; /* DIR/stats.live, NULL when off */
    int opened; /* the last step of open completed (enum open_step, engine/db.c) */
    /* the ring's shared-memory file (engine/ring_file.c); ring_shared 0: private memory */
    int ring_shared, ring_fd;
    char ring_path[300];
    struct ring_file_hdr ring_hdr;
    uint64_t ring_replayed;     /* records the open put back from a crashed writer's ring */
    uint64_t ring_replay_gaps;  /* claimed records it found unpublished (never acknowledged) */
    /* follow, replay and watermarks (engine/tail.c, engine/marks.c) */
    struct marks marks;
    _Atomic uint64_t low_watermark; /* 0: none; a put below it is late */
    _Atomic uint64_t late_records, rejected_late;
    _Atomic int open_tails;
};

/* engine/marks.c */
void marks_init(sluice_db *db);
void marks_destroy(sluice_db *db);
/* Fills the table from the cold tier's offsets and the log's (after recovery). */
int marks_load(sluice_db *db);
/* For the compactor (replay.h): the lowest LSN a cursor that is not lagging needs, and
 * marking cursors lagging. */
uint64_t marks_cursor_need(void *db);
void marks_cursor_lag(void *db, uint64_t below, uint64_t oldest);
/* How many cursors, and how many of them lag. */
void marks_count(sluice_db *db, uint64_t *cursors, uint64_t *lagging);
/* Internal offset names: 0x01 'c' NAME (cursor), 0x01 'w' NAME (watermark). */
#define MARK_PREFIX 0x01
/* engine/tail.c: the oldest LSN a segment file still holds (log/ or replay/). */
int db_oldest_lsn(sluice_db *db, uint64_t *lsn);
/* engine/write.c: a record of any type at `ack` (block: wait for ring space whatever
 * full_policy says); waits for the level; *lsn (may be NULL) receives its LSN. */
int db_append_ack(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
                  const void *val, size_t vlen, int ack, uint64_t *lsn);
/* Waits until lsn reached level (WRITTEN, DURABLE or COLD; deadline 0: none). */
int db_wait_level(sluice_db *db, uint64_t lsn, int level, uint64_t deadline_ns);

/* engine/ring_file.c */
int ring_file_create(sluice_db *db, int *fd);
int ring_file_replay(sluice_db *db);
void ring_file_close(sluice_db *db, int keep);

/* A put of a record of any type at MEMORY level that waits for room in a full ring
 * whatever full_policy says (replay). *lsn receives its LSN. */
int db_append(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
              const void *val, size_t vlen, uint64_t *lsn);

/* engine/observe.c */
int obs_init(sluice_db *db);
void obs_destroy(sluice_db *db);
void obs_record_put(sluice_db *db, int level, uint64_t ns);
void obs_event(sluice_db *db, int type, uint64_t a, uint64_t b);
/* Starts / stops the thread that writes DIR/stats.live every stats_interval_ms. */
int obs_publisher_start(sluice_db *db);
void obs_publisher_stop(sluice_db *db);

/* sluice_open with a caller-made I/O backend (tests substitute fault-injecting ones).
 * The handle takes ownership of io, also when the open fails. */
int db_open_with_io(const char *dir, const sluice_options *opts, struct io *io, sluice_db **db);

/* Resolves SLUICE_ACK_DEFAULT; -1 for an unknown level. */
int db_resolve_ack(const sluice_db *db, int ack);

/* Registers / releases an iterator's cold view (its compacted_lsn) for the horizon. */
int db_view_hold(sluice_db *db, uint64_t compacted_lsn);
void db_view_release(sluice_db *db, uint64_t compacted_lsn);
uint64_t db_compacted_lsn(sluice_db *db);
/* Waits until the log's spare segment is ready (prep_wait_ready): tests and benchmarks
 * that measure a directory in its steady state. */
int db_wait_spare(sluice_db *db, uint32_t timeout_ms);

/*
 * Starts a read over both tiers: opens a cold view (if there is a cold tier), then takes
 * the index read lock — always in that order (the view holds the cold map's growth lock).
 * If the compactor pruned hot entries newer than the view in between, the view is
 * retried, so the two together never miss a record. Ends with db_read_end.
 */
int db_read_begin(sluice_db *db, struct cold_view *v);
void db_read_end(sluice_db *db, struct cold_view *v);

/* The LSN a read must see: everything claimed when it started, once indexed. */
uint64_t db_read_snapshot(sluice_db *db);

/*
 * Copies the value (or the whole record when whole != 0) of entry e into dst.
 * Called with the index read lock held; releases it on every path (file reads happen
 * outside the lock). Returns 0 or SLUICE_ECORRUPT / -errno.
 */
int db_fetch_unlock(sluice_db *db, const struct hot_entry *e, const uint8_t *key, size_t klen,
                    void *dst);
/* getpid() is a system call: each thread caches its pid, and an atfork handler
 * (installed by sluice_open) clears the forking thread's cache in the child. */
extern __thread pid_t db_cached_pid;
pid_t db_pid_slow(void);
/* SLUICE_EINVAL for NULL, SLUICE_EFORKED in a process other than the opener, else 0.
 * Every public entry point on a handle starts with it. */
static inline int db_check(const sluice_db *db)
{
    if (!db)
        return SLUICE_EINVAL;
    pid_t self = db_cached_pid ? db_cached_pid : db_pid_slow();
    return self == db->owner_pid ? 0 : SLUICE_EFORKED;
}
#endif
