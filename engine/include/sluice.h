/*
 * sluice.h — the whole public interface of sluice, an embedded storage engine for
 * real-time pipelines. Records are (key bytes, uint64 timestamp, value bytes).
 *
 * Conventions and caveats
 *  - Every fallible function returns int: SLUICE_OK (0) or a negative code below.
 *    Errors from the operating system come back as -errno (for example -ENOSPC).
 *    sluice_strerror() names every code and never returns NULL.
 *  - One sluice_db handle may be used from any number of threads at once: puts, gets
 *    and iterators are thread-safe. sluice_close() must not race with other calls.
 *  - One writing process per directory (an flock on DIR/LOCK); a second one gets
 *    SLUICE_ELOCKED. Any number of read_only handles may inspect a directory.
 *  - A handle must not be used in a child after fork(); open a new one there. In the
 *    child every call on the parent's handle (close included) returns SLUICE_EFORKED
 *    and touches nothing; sluice_iter_close() on its iterators does nothing.
 *  - The library never prints and never exits. Nothing is allocated per put.
 *
 * Limits (checked before anything enters the ring; beyond them SLUICE_EINVAL):
 *  - key: 1 .. SLUICE_KEY_MAX (511) bytes;
 *  - value: 0 .. min(SLUICE_VALUE_MAX (1 MiB), ring_bytes / 4, (segment_bytes - 4 KiB) / 2);
 *  - source names for offsets: 1 .. SLUICE_SOURCE_MAX (255) bytes, NUL-terminated.
 * Resource limits (beyond them SLUICE_ELIMIT; nothing else changes, so close something
 * and try again):
 *  - cold-tier read views at once: SLUICE_READERS_MAX (1024) per directory, shared by
 *    every process that has it open (LMDB's reader table). An open iterator holds one for
 *    its whole life, a get one while it runs; idle views a handle keeps for reuse are
 *    given back before a new one is refused. So a process alone on a directory can keep
 *    about a thousand iterators open at once; sluice_iter_open beyond that returns
 *    SLUICE_ELIMIT.
 *
 * Durability levels (the `ack` argument of writes):
 *  - SLUICE_ACK_MEMORY:  returned once the record is in the ring. Visible to every read
 *                        that starts after the put returns. Not promised to survive a
 *                        crash of the process.
 *  - SLUICE_ACK_WRITTEN: survives a crash of the process, not of the machine or a power
 *                        cut. The ring lives in a shared-memory file (/dev/shm) that
 *                        outlives the process and that the next open replays into the
 *                        log, so a WRITTEN put returns as soon as its record is in the
 *                        ring, as fast as a MEMORY put (stats.ring_shared = 1). Where
 *                        shared memory is unavailable or options.ring_private is set, it
 *                        returns once the log write completed (OS page cache).
 *  - SLUICE_ACK_DURABLE: returned once an fdatasync covering the record completed:
 *                        survives power loss.
 *  - SLUICE_ACK_COLD:    returned once the record is committed in the cold tier (durable
 *                        too): it asks the compactor for a round up to it, so it costs
 *                        a compaction round; for producers that want read-optimised
 *                        visibility or a bounded log before they go on.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#define SLUICE_MUST_CHECK __attribute__((warn_unused_result))
#else
#define SLUICE_API
#define SLUICE_MUST_CHECK
#endif

/* The library's version; sluice_version() tells the one actually loaded. */
#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 2
#define SLUICE_VERSION_PATCH 0

#define SLUICE_KEY_MAX 511u
#define SLUICE_VALUE_MAX (1u << 20)
#define SLUICE_SOURCE_MAX 255u
#define SLUICE_READERS_MAX 1024u

/* One table generates the codes and sluice_strerror(). X(name, value, message).
 * The codes sit far below -4095 so they never collide with -errno values (as LMDB's). */
#define SLUICE_ERROR_TABLE(X)                                                              \
    X(OK, 0, "success")                                                                    \
    X(END, -30001, "no more records")                                                          \
    X(NOTFOUND, -30002, "no such record")                                                      \
    X(EINVAL, -30003, "invalid argument")                                                      \
    X(EBUSY, -30004, "resource busy (ring full, or iterators still open)")                    \
    X(ETIMEDOUT, -30005, "timed out")                                                          \
    X(ERANGE, -30006, "buffer too small; *vlen holds the size needed")                        \
    X(ECORRUPT, -30007, "data corruption detected")                                            \
    X(ELOCKED, -30008, "another process is writing this directory")                           \
    X(EVERSION, -30009, "unsupported on-disk format version")                                 \
    X(EPOISONED, -30010, "an earlier write or sync error poisoned the database; reopen it") \
    X(ENOMEM, -30011, "out of memory")                                                        \
    X(EREADONLY, -30012, "the database was opened read-only")                                 \
    X(EFORKED, -30013, "the handle belongs to the process that opened it (used after fork)") \
    X(ELIMIT, -30014, "a resource limit was reached (see the limits in sluice.h)")           \
    X(EINTERNAL, -30015, "internal error: a bug in sluice or its storage library")          \
    X(ETRIMMED, -30016, "the LSN asked for is no longer retained (sluice_tail_oldest)")      \
    X(EORDER, -30017, "a watermark may not move backwards")                                  \
    X(ELATE, -30018, "the record is below the low watermark (late_policy refuses it)")

enum {
#define SLUICE_X_ENUM(name, value, msg) SLUICE_##name = value,
    SLUICE_ERROR_TABLE(SLUICE_X_ENUM)
#undef SLUICE_X_ENUM
    SLUICE_ERROR_MIN_ = -30018
};

typedef struct sluice_db sluice_db;
typedef struct sluice_iter sluice_iter;

enum {
    SLUICE_ACK_MEMORY = 0,  /* in the ring: visible to readers, lost on crash */
    SLUICE_ACK_WRITTEN = 1, /* write completed: survives a process crash */
    SLUICE_ACK_DURABLE = 2, /* fdatasync completed: survives power loss */
    SLUICE_ACK_DEFAULT = 3, /* the database's default_ack */
    SLUICE_ACK_COLD = 4     /* committed in the cold tier */
};
/* options.late_policy: what a put whose ts is below the low watermark gets. */
enum { SLUICE_LATE_ACCEPT = 0, SLUICE_LATE_REFUSE = 1 };
enum { SLUICE_FULL_BLOCK = 0, SLUICE_FULL_FAIL = 1 };

/* Events delivered to options.on_event. */
enum {
    SLUICE_EVENT_SEGMENT_ROLL = 1,     /* a = new segment's sequence number, b = its first LSN */
    SLUICE_EVENT_COMPACTION_DONE = 2,  /* a = compacted_lsn now, b = records in the round */
    SLUICE_EVENT_MAP_GROWTH = 3,       /* a = the LMDB map's new size in bytes (once per
                                        * compaction round that grew it) */
    SLUICE_EVENT_BACKPRESSURE_BEGIN = 4, /* the ring is full: the first producer waits */
    SLUICE_EVENT_BACKPRESSURE_END = 5, /* no producer waits any longer; a = ns it lasted */
    SLUICE_EVENT_POISON = 6,           /* a = the error (as int64) that poisoned the log */
    SLUICE_EVENT_DAMAGE_SKIPPED = 7,   /* during sluice_open: recovery stepped over damaged
                                        * log records LSN a..b, all already in the cold
                                        * tier (nothing lost; see sluice_open) */
    SLUICE_EVENT_RING_REPLAYED = 8,    /* during sluice_open: records LSN a..b, which a
                                        * crashed writer had in its shared ring but not in
                                        * the log, were put back and made durable */
    SLUICE_EVENT_CURSOR_LAGGING = 9    /* a named cursor fell behind what
                                        * cursor_retain_max_bytes lets it hold: a = its
                                        * LSN, b = the oldest LSN still retained */
};
struct sluice_event {
    int type;
    uint64_t a, b;
    uint64_t time_ns; /* CLOCK_REALTIME when it happened */
};

/*
 * Options of sluice_open. The struct only ever grows at its end, and `size` says how
 * much of it the caller knows: sluice_options_init sets it to the caller's
 * sizeof(sluice_options), so a program built against an older header keeps working (the
 * fields it does not know take their defaults), and one built against a newer header
 * than the library gets SLUICE_EVERSION if it set a field this library lacks (the bytes
 * past the library's own struct must be zero). Bindings that mirror the struct (ctypes,
 * cgo, JNA) call sluice_options_init_size with their mirror's size. A size below the
 * first versioned layout (0.2.0's, this one) is SLUICE_EINVAL.
 */
typedef struct sluice_options {
    uint32_t size;          /* the caller's sizeof(sluice_options): set by sluice_options_init */
    uint32_t reserved0_;    /* 0 */
    size_t ring_bytes;      /* ring tier capacity, power of two, >= 64 KiB (default 64 MiB) */
    size_t segment_bytes;   /* the largest log segment, >= 256 KiB (default 64 MiB).
                             * Segments start at 2 MiB (or this, if smaller) and reach
                             * this size once the log is busy; a clean close trims the
                             * last one, so a small directory stays small on disk */
    size_t batch_max_bytes; /* largest group-commit batch, >= 4 KiB (default 4 MiB;
                             * clamped to ring_bytes / 2) */
    uint32_t linger_us;     /* extra wait for a batch to grow (default 0) */
    int default_ack;        /* default SLUICE_ACK_DURABLE */
    int full_policy;        /* default SLUICE_FULL_BLOCK */
    uint32_t put_timeout_ms;/* bound on a put blocked by a full ring (default 10000) */
    size_t cold_map_bytes;  /* initial LMDB map size; doubles on demand up to the
                             * filesystem's size (default 16 GiB of address space; the
                             * file grows as used) */
    uint64_t retention_ns;  /* 0 = keep forever; else the cold tier drops records older
                             * than the newest ts seen minus this, whole blocks at a time */
    int read_only;          /* inspect a directory: no lock, no threads, no writes */
    int io_backend;         /* SLUICE_IO_AUTO (default), SLUICE_IO_URING, SLUICE_IO_POSIX,
                             * or SLUICE_IO_POSIX_BUFFERED (no O_DIRECT: for tests) */
    char *errbuf;           /* optional: a failed open writes a one-line reason here,
                             * naming the file and offset for SLUICE_ECORRUPT, or the
                             * option and its range for SLUICE_EINVAL; a successful open
                             * leaves it alone unless recovery stepped over damage (a
                             * one-line note: see sluice_open) */
    size_t errbuf_bytes;
    int manual_compaction;  /* 1: compact only on sluice_compact, not as segments seal
                             * (bulk loads, tests, tools; RocksDB's disable_auto_compactions) */
    uint64_t log_backlog_max_bytes; /* segments not yet compacted beyond this hold the log
                             * writer back, and so puts through the ring's backpressure
                             * (default 4 GiB; 0 = no limit) */
    uint32_t stats_interval_ms; /* publish a stats snapshot to DIR/stats.live this often
                             * (default 100; 0 = off), for `sluice top` and `sluice stats` */
    /* Optional: engine events (SLUICE_EVENT_*), called on the thread where they happen
     * (the log writer, the compactor, or a producer for backpressure). It must be quick
     * and must not call back into the database. */
    void (*on_event)(void *arg, const struct sluice_event *ev);
    void *event_arg;
    uint32_t memory_delay_us; /* while no put, sluice_wait or sluice_flush waits for them,
                             * records acknowledged at MEMORY wait up to this long to fill
                             * a 32 KiB log write (default 2000; 0 = write at once): tiny
                             * O_DIRECT writes cost a 4 KiB block each */
    /* ---- 0.2.0's first layout ends here; fields below were added later ---- */
    int ring_private;       /* 1: the ring in private memory, not in a /dev/shm file:
                             * WRITTEN then waits for the log write (default 0) */
    uint64_t background_cpus; /* CPUs (bit n = CPU n) for every thread sluice starts: the
                             * log writer, segment preparer, compactor, stats publisher
                             * and POSIX I/O worker (default 0: wherever the OS puts
                             * them); keeps them off the cores producers own */
    /* Replay retention (sluice_tail): compacted segments are moved to DIR/replay and kept
     * while they are within every limit set here (0 = no limit of that kind; both 0 =
     * deleted at once, as before). Judged after each compaction round. */
    uint64_t replay_retain_bytes; /* the newest compacted segments up to this many bytes */
    uint64_t replay_retain_ns;    /* segments whose last write is at most this old */
    /* Named cursors (sluice_cursor_commit) keep the compacted segments they still need,
     * beyond the limits above, up to this many bytes (default 4 GiB; UINT64_MAX: no
     * bound); past it the cursor that holds most is marked lagging (stats, an event) and
     * its segments go: a tail from it then gets SLUICE_ETRIMMED (PostgreSQL's
     * max_slot_wal_keep_size) */
    uint64_t cursor_retain_max_bytes;
    int late_policy;              /* SLUICE_LATE_ACCEPT (default) or SLUICE_LATE_REFUSE */
    uint32_t reserved3_;          /* 0 */
} sluice_options;

/* Log writes use O_DIRECT + RWF_DSYNC where the filesystem allows it (stats.direct_io),
 * buffered writes + fdatasync elsewhere. */
enum { SLUICE_IO_AUTO = 0, SLUICE_IO_URING = 1, SLUICE_IO_POSIX = 2, SLUICE_IO_POSIX_BUFFERED = 3 };

/* Fills the first `size` bytes of *opts with the defaults above (zeroes the rest of
 * what is unknown to this library) and sets opts->size = size. */
SLUICE_API void sluice_options_init_size(sluice_options *opts, size_t size);
#define sluice_options_init(opts) sluice_options_init_size((opts), sizeof(sluice_options))

/* The version of the library actually loaded, "MAJOR.MINOR.PATCH"; never NULL. *major,
 * *minor and *patch (each may be NULL) receive its parts. */
SLUICE_API const char *sluice_version(int *major, int *minor, int *patch);

/*
 * Opens (creating if needed) the database in directory `dir`. opts may be NULL for the
 * defaults. Recovery is automatic: a torn tail of the last log segment is cut off (and
 * the cut made durable); damaged log records that the cold tier already holds (LSN <=
 * its compacted_lsn) are stepped over — nothing is lost; errbuf gets a one-line note,
 * on_event a SLUICE_EVENT_DAMAGE_SKIPPED per stretch, and stats.recovery_skipped_records
 * counts them; damage anywhere else refuses the open with SLUICE_ECORRUPT and changes
 * nothing on disk.
 * On success *db owns a writer thread (none when read_only); release it with sluice_close.
 * Errors: SLUICE_EINVAL (NULL argument, bad option: errbuf names the option and its
 * allowed range; opts->size below the first versioned layout), SLUICE_ELOCKED,
 * SLUICE_ECORRUPT, SLUICE_EVERSION (an unsupported on-disk format, or options this
 * library does not know set by a newer caller), SLUICE_ENOMEM, -errno (the directory
 * could not be read or created; an I/O error during recovery fails the open and changes
 * nothing on disk).
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_open(const char *dir, const sluice_options *opts,
                                             sluice_db **db);

/*
 * Stops intake, drains the ring, makes everything durable, joins the writer thread and
 * frees the handle. Refuses with SLUICE_EBUSY (handle still valid) while iterators are
 * open. If a write or sync failed (now, or earlier: the database was poisoned), returns
 * the error that did it, as sluice_stats' poison_error reports it (-EIO, -ENOSPC, ...);
 * the handle is freed in that case too. NULL is SLUICE_EINVAL.
 */
SLUICE_API int sluice_close(sluice_db *db);

/*
 * Appends a record. `ack` is one of SLUICE_ACK_*; the call returns once that level is
 * reached. *lsn (if lsn is not NULL) receives the record's log sequence number, which
 * increases by one per record (puts, deletes and offsets share the sequence).
 * The same (key, ts) written twice: the higher LSN wins.
 * Errors: SLUICE_EINVAL (NULL key/db, NULL val with vlen > 0, lengths out of limits,
 * unknown ack), SLUICE_EBUSY (ring full under SLUICE_FULL_FAIL), SLUICE_ETIMEDOUT (ring
 * stayed full for put_timeout_ms under SLUICE_FULL_BLOCK), SLUICE_EPOISONED,
 * SLUICE_EREADONLY. After EBUSY/ETIMEDOUT/EINVAL nothing was written and no LSN taken.
 * A put that fails with EPOISONED while waiting for its ack may or may not survive.
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_put(sluice_db *db, const void *key, size_t klen,
                                            uint64_t ts, const void *val, size_t vlen,
                                            int ack, uint64_t *lsn);

/* Writes a tombstone that hides (key, ts) for reads; same errors as sluice_put. */
SLUICE_API SLUICE_MUST_CHECK int sluice_delete(sluice_db *db, const void *key, size_t klen,
                                               uint64_t ts, int ack, uint64_t *lsn);

/*
 * Waits until record `lsn` reached level `ack`. MEMORY means visible to reads, which
 * never waits on I/O, so it returns without regard to timeout_ms. For WRITTEN and
 * DURABLE, timeout_ms 0 only checks. Errors: SLUICE_EINVAL (lsn 0 or never handed out, unknown ack),
 * SLUICE_ETIMEDOUT, SLUICE_EPOISONED.
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_wait(sluice_db *db, uint64_t lsn, int ack,
                                             uint32_t timeout_ms);

/* Returns once every record put before the call is durable. Errors: SLUICE_EPOISONED,
 * SLUICE_EREADONLY, SLUICE_EINVAL. */
SLUICE_API SLUICE_MUST_CHECK int sluice_flush(sluice_db *db);

/* Returns once every record put before the call is in the cold tier: what is durable is
 * compacted while the writer makes the rest durable (so a writer held back by
 * log_backlog_max_bytes goes on as segments are freed). Errors: SLUICE_EINVAL,
 * SLUICE_EREADONLY, SLUICE_EPOISONED, and the compaction's own error (for example
 * SLUICE_ECORRUPT for a damaged segment, or -ENOSPC). */
SLUICE_API SLUICE_MUST_CHECK int sluice_compact(sluice_db *db);

/*
 * Reads the value of (key, ts) as of the call into buf (cap bytes); *vlen receives its
 * length. Errors: SLUICE_NOTFOUND (never written, or deleted), SLUICE_ERANGE (cap <
 * *vlen; nothing copied), SLUICE_EINVAL (NULL db/key/vlen, NULL buf with cap > 0, bad
 * klen), SLUICE_ECORRUPT (a checksum failed while reading the log).
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_get(sluice_db *db, const void *key, size_t klen,
                                            uint64_t ts, void *buf, size_t cap,
                                            size_t *vlen);

/* Like sluice_get for the key's newest timestamp that is not deleted; *ts receives it. */
SLUICE_API SLUICE_MUST_CHECK int sluice_get_latest(sluice_db *db, const void *key,
                                                   size_t klen, uint64_t *ts, void *buf,
                                                   size_t cap, size_t *vlen);

typedef struct sluice_record {
    const void *key;
    size_t klen;
    uint64_t ts;
    const void *val;
    size_t vlen;
    uint64_t lsn;
} sluice_record;

/*
 * Opens an iterator over [ts_from, ts_to) for one key (key != NULL: ts order) or all keys
 * (key == NULL: (ts, key bytes) order), from a stable view taken now: each (key, ts)
 * once, with the value of its highest LSN in the view; deleted ones are skipped.
 * Errors: SLUICE_EINVAL (NULL db/it, ts_from > ts_to, bad klen), SLUICE_ENOMEM.
 * The iterator belongs to the caller, who closes it before closing the database; it may
 * be used by one thread at a time.
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_iter_open(sluice_db *db, const void *key, size_t klen,
                                                  uint64_t ts_from, uint64_t ts_to,
                                                  sluice_iter **it);

/* Fills *rec with the next record. Its pointers stay valid until the next call on this
 * iterator or its close; val is never NULL, also for an empty value (memcpy from it is
 * defined). Returns SLUICE_END when done, SLUICE_ECORRUPT, SLUICE_EINVAL. */
SLUICE_API SLUICE_MUST_CHECK int sluice_iter_next(sluice_iter *it, sluice_record *rec);

/* Closes an iterator; NULL is ignored. */
SLUICE_API void sluice_iter_close(sluice_iter *it);

/*
 * Series: the catalogue of keys and the latest value of each, one series per call in key
 * (byte) order, from a stable view taken at open as an iterator's is. Only series with
 * at least one record not deleted are listed; prefix (plen bytes; NULL and 0: every
 * key) keeps those whose key starts with it. `what` asks for more than the key:
 *   SLUICE_SERIES_STATS   records (what a scan of the key would return), first_ts and
 *                         last_ts — from block headers and the log tier's index, without
 *                         decoding blocks (a series with late data or deletes not yet
 *                         compacted is merged record by record); headers are checked for
 *                         shape, not by CRC (sluice verify checks every byte);
 *   SLUICE_SERIES_LATEST  the newest record not deleted: latest_ts, latest_lsn and its
 *                         value (as sluice_get_latest returns it).
 * Errors: SLUICE_EINVAL (NULL db/out, NULL prefix with plen > 0, plen > SLUICE_KEY_MAX,
 * unknown bits in what), SLUICE_ENOMEM; next: SLUICE_END, SLUICE_ECORRUPT. The handle
 * counts as an open iterator (close it before the database); one thread at a time.
 */
typedef struct sluice_series sluice_series;
enum { SLUICE_SERIES_STATS = 1, SLUICE_SERIES_LATEST = 2 };
typedef struct sluice_series_info {
    const void *key;        /* valid until the next call or the close, as values are */
    size_t klen;
    uint64_t records;       /* SLUICE_SERIES_STATS */
    uint64_t first_ts, last_ts;
    uint64_t latest_ts;     /* SLUICE_SERIES_LATEST */
    uint64_t latest_lsn;
    const void *latest_val;
    size_t latest_vlen;
} sluice_series_info;

SLUICE_API SLUICE_MUST_CHECK int sluice_series_open(sluice_db *db, const void *prefix,
                                                    size_t plen, int what, sluice_series **out);
SLUICE_API SLUICE_MUST_CHECK int sluice_series_next(sluice_series *s, sluice_series_info *info);
/* NULL is ignored. */
SLUICE_API void sluice_series_close(sluice_series *s);

/*
 * Stores the consumed offset of an upstream `source` (a NUL-terminated name) in the log,
 * in order with the data: after a crash the recovered offset never runs ahead of the
 * recovered records. Same errors as sluice_put. Names starting with byte 0x01 are
 * reserved (cursors and watermarks are stored under them): SLUICE_EINVAL.
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_offset_put(sluice_db *db, const char *source,
                                                   uint64_t offset, int ack);

/* Latest offset stored for `source`. Errors: SLUICE_NOTFOUND, SLUICE_EINVAL. */
SLUICE_API SLUICE_MUST_CHECK int sluice_offset_get(sluice_db *db, const char *source,
                                                   uint64_t *offset);

/*
 * Follow: records in commit (LSN) order, as a downstream consumer reads them.
 *
 * A tail reads whichever tier holds the LSN it is at: the ring (a caught-up tail: no
 * I/O), log segments, and compacted segments kept for replay (replay_retain_*, or
 * named cursors). It takes no lock a producer or the log writer waits on for longer
 * than one record's copy, and holds nothing back. On a read_only handle it reads the
 * files another process writes, so `sluice tail --follow` works beside a running writer.
 *
 * sluice_tail_open: from_lsn is the first LSN wanted (0: the oldest still retained;
 * SLUICE_TAIL_END: what is put from now on). min_ack is what a consumer may see:
 * SLUICE_ACK_MEMORY (the freshest, as reads see it), WRITTEN, or DURABLE (never a record
 * a power cut could take back; on a read_only handle, only once the log proves it: the
 * segment was sealed, or a later write carried a durable stamp covering it). Errors:
 * SLUICE_EINVAL, SLUICE_ETRIMMED (from_lsn is older than anything retained:
 * sluice_tail_oldest says what is; re-seed from a time-range read of the cold tier,
 * docs/design.md), SLUICE_ENOMEM. A tail is used by one thread at a time and closed
 * before the database (sluice_close refuses with SLUICE_EBUSY while one is open).
 *
 * sluice_tail_next: the next record (puts and deletes; offsets, cursors and watermarks
 * are not data), waiting up to timeout_ms for it. Its pointers stay valid until the next
 * call on the tail. Errors: SLUICE_ETIMEDOUT (none came), SLUICE_ETRIMMED (the records
 * after the last one delivered were deleted before the tail read them: it fell behind
 * retention), SLUICE_ECORRUPT (a record that must be there failed its checksum),
 * SLUICE_EPOISONED (nothing more will come), -errno.
 */
#define SLUICE_TAIL_END UINT64_MAX
enum { SLUICE_TAIL_DELETE = 1, /* a tombstone for (key, ts) */
       SLUICE_TAIL_LATE = 2    /* put below the low watermark: a correction downstream */ };
typedef struct sluice_tail sluice_tail;
typedef struct sluice_tail_record {
    uint64_t lsn;
    const void *key;
    size_t klen;
    uint64_t ts;
    const void *val;
    size_t vlen;
    uint32_t flags; /* SLUICE_TAIL_* */
} sluice_tail_record;
SLUICE_API SLUICE_MUST_CHECK int sluice_tail_open(sluice_db *db, uint64_t from_lsn, int min_ack,
                                                  sluice_tail **t);
SLUICE_API SLUICE_MUST_CHECK int sluice_tail_next(sluice_tail *t, sluice_tail_record *rec,
                                                  uint32_t timeout_ms);
/* The LSN of the next record the tail will deliver. */
SLUICE_API uint64_t sluice_tail_position(const sluice_tail *t);
/* NULL is ignored. */
SLUICE_API void sluice_tail_close(sluice_tail *t);
/* The oldest LSN a tail can read now (in the log or kept for replay). SLUICE_NOTFOUND
 * when the log holds nothing. */
SLUICE_API SLUICE_MUST_CHECK int sluice_tail_oldest(sluice_db *db, uint64_t *lsn);

/*
 * Named cursors: where a downstream consumer got to, stored in the log in order with the
 * data (as offsets are) and carried into the cold tier at compaction. A consumer
 * processes record L, commits L with its output, and after a crash resumes with
 * sluice_tail_open(db, cursor + 1, ...): exactly once downstream. A cursor keeps the
 * compacted segments it still needs (up to cursor_retain_max_bytes). Names: 1 ..
 * SLUICE_CURSOR_NAME_MAX bytes, NUL-terminated. commit: lsn must not exceed the last LSN
 * handed out; same errors as sluice_put. get: SLUICE_NOTFOUND, SLUICE_EINVAL; *lagging
 * (may be NULL) is 1 when the cursor fell behind what it may hold (its next tail gets
 * SLUICE_ETRIMMED). drop: SLUICE_NOTFOUND if there was none.
 */
#define SLUICE_CURSOR_NAME_MAX 253u
SLUICE_API SLUICE_MUST_CHECK int sluice_cursor_commit(sluice_db *db, const char *name,
                                                      uint64_t lsn, int ack);
SLUICE_API SLUICE_MUST_CHECK int sluice_cursor_get(sluice_db *db, const char *name,
                                                   uint64_t *lsn, int *lagging);
SLUICE_API SLUICE_MUST_CHECK int sluice_cursor_drop(sluice_db *db, const char *name, int ack);

/*
 * Watermarks: a source declares "everything I will send has ts >= this" (Flink's
 * watermark). Stored like offsets; monotonic per source (a lower one is SLUICE_EORDER;
 * the same one again is accepted). sluice_watermark_low is the minimum over sources:
 * every source has declared itself complete up to there. A put or delete whose ts is
 * below it at the moment it is put is late: counted (stats.late_records), flagged
 * SLUICE_TAIL_LATE on tail delivery, and accepted (merged with what is there, as any
 * put) or refused with SLUICE_ELATE, as options.late_policy says. Sources: 1 ..
 * SLUICE_CURSOR_NAME_MAX bytes. Errors as for cursors; get and low: SLUICE_NOTFOUND.
 */
SLUICE_API SLUICE_MUST_CHECK int sluice_watermark_put(sluice_db *db, const char *source,
                                                      uint64_t ts, int ack);
SLUICE_API SLUICE_MUST_CHECK int sluice_watermark_get(sluice_db *db, const char *source,
                                                      uint64_t *ts);
SLUICE_API SLUICE_MUST_CHECK int sluice_watermark_low(sluice_db *db, uint64_t *ts);

/* Calls fn for every cursor (kind SLUICE_MARK_CURSOR: value = its LSN) and watermark
 * (SLUICE_MARK_WATERMARK: value = its ts), in name order within each kind; a non-zero
 * return from fn stops the walk and is returned. Errors: SLUICE_EINVAL, SLUICE_ENOMEM. */
enum { SLUICE_MARK_CURSOR = 1, SLUICE_MARK_WATERMARK = 2 };
SLUICE_API SLUICE_MUST_CHECK int sluice_marks_list(
    sluice_db *db, int (*fn)(void *arg, int kind, const char *name, uint64_t value, int lagging),
    void *arg);

enum { SLUICE_IO_BACKEND_NONE = 0, SLUICE_IO_BACKEND_URING = 1, SLUICE_IO_BACKEND_POSIX = 2 };

/*
 * Positions: compacted <= durable <= written <= indexed <= claimed, always.
 * C gives a typedef and a function separate name spaces only for struct tags, so the
 * struct is used as `struct sluice_stats` and the function keeps the name sluice_stats.
 */
struct sluice_stats {
    uint32_t size;          /* sizeof(sluice_stats) of the library that filled it */
    uint32_t io_backend;    /* SLUICE_IO_BACKEND_* in use */
    uint64_t claimed_lsn;   /* last LSN handed to a producer */
    uint64_t indexed_lsn;   /* every record <= it is visible to reads */
    uint64_t written_lsn;   /* every record <= it is in the OS page cache */
    uint64_t durable_lsn;   /* every record <= it survived fdatasync */
    uint64_t compacted_lsn; /* every record <= it is in the cold tier (0: none yet) */
    uint64_t puts;          /* records accepted into the log since open (puts, deletes, offsets) */
    uint64_t put_bytes;     /* key + value bytes of those records */
    uint64_t log_bytes;     /* bytes written to log segments since open */
    uint64_t batches;       /* log writes submitted (group-commit batches) */
    uint64_t fsyncs;        /* fdatasync calls completed on segments */
    uint64_t ring_full_waits;      /* puts that slept because the ring was full */
    uint64_t ring_full_rejections; /* puts refused by a full ring (EBUSY or ETIMEDOUT) */
    uint64_t ring_full_wait_ns;    /* time puts spent asleep on a full ring */
    uint64_t short_writes;  /* partial writes resubmitted */
    uint64_t segments;      /* live log segments (not yet compacted and deleted) */
    uint64_t segments_created; /* segments created since open */
    uint64_t ring_bytes;    /* ring capacity */
    uint64_t ring_used_bytes;  /* ring bytes reserved and not yet released */
    int32_t poison_error;   /* 0, or the error that poisoned the database */
    uint32_t direct_io;     /* 1: log writes are O_DIRECT + RWF_DSYNC */
    /* cold tier */
    uint64_t compaction_rounds;    /* LMDB transactions committed by the compactor */
    uint64_t compacted_records;    /* log records applied to the cold tier */
    uint64_t cold_blocks_written;
    uint64_t cold_bytes_written;   /* block bytes put into LMDB */
    uint64_t segments_deleted;     /* log segments retired after compaction */
    uint64_t retention_dropped_records;
    uint64_t retention_dropped_bytes;
    uint64_t cold_map_bytes;       /* LMDB map size */
    uint64_t cold_used_bytes;      /* LMDB pages in use */
    int32_t compaction_error;      /* the last compaction round's error, 0 if it succeeded */
    uint32_t reserved2_;
    /* added with the observability work: the struct only grows at its end */
    uint64_t rejected_full;        /* puts refused by a full ring under SLUICE_FULL_FAIL */
    uint64_t rejected_timeout;     /* puts that gave up after put_timeout_ms */
    uint64_t rejected_poisoned;    /* puts refused because the log is poisoned */
    uint64_t rejected_invalid;     /* puts refused as SLUICE_EINVAL */
    uint64_t eagain_retries;       /* log writes resubmitted after -EAGAIN */
    uint64_t segments_sealed;      /* segments closed because the writer moved on */
    uint64_t newest_ts_indexed;    /* the newest ts visible to reads (ring and log) */
    uint64_t newest_ts_durable;    /* the newest ts made durable */
    uint64_t newest_ts_cold;       /* the newest ts in the cold tier */
    uint64_t log_backlog_bytes;    /* bytes of live segment files (what log_backlog_max_bytes
                                    * counts) */
    uint64_t log_backlog_age_ns;   /* age of the oldest live segment */
    uint64_t cold_free_bytes;      /* LMDB pages in the file not used by any database */
    uint64_t oldest_view_age_ns;   /* age of the oldest cold view an iterator holds (0: none) */
    uint64_t map_growths;          /* LMDB map growths */
    uint64_t spare_ready;          /* 1 when a pre-zeroed spare segment waits for the next
                                    * roll (zeroing one competes with durable writes: right
                                    * after open, benchmarks wait for it) */
    uint64_t put_samples_dropped;  /* put latency samples not recorded because the stats
                                    * reader held their stripe (a put never waits for it) */
    uint64_t recovery_skipped_records; /* damaged log records the last open stepped over
                                    * because the cold tier already held them */
    uint64_t active_segment_bytes; /* the size of the segment being appended to: segments
                                    * start at 2 MiB and grow to segment_bytes once the
                                    * log is busy (docs/design.md) */
    uint64_t ring_shared;          /* 1: the ring is a /dev/shm file, WRITTEN returns at
                                    * publication; 0: private memory */
    uint64_t ring_replayed_records;/* records the open put back from a crashed writer's
                                    * shared ring */
    uint64_t compaction_paced_ns;  /* time the compactor waited between its transactions to
                                    * keep its writes smooth (docs/design.md, pacing) */
    uint64_t ring_replay_gaps;     /* records it found claimed but never published (their
                                    * producers died mid-put: never acknowledged); the
                                    * LSNs after each such gap moved down to close it */
    /* added with follow, replay and watermarks */
    uint64_t late_records;         /* puts accepted below the low watermark (flagged late) */
    uint64_t rejected_late;        /* puts refused as SLUICE_ELATE (late_policy) */
    uint64_t replay_segments;      /* compacted segments kept in DIR/replay */
    uint64_t replay_bytes;         /* their bytes */
    uint64_t replay_oldest_lsn;    /* the oldest LSN a tail can still read (0: none yet) */
    uint64_t cursors;              /* named cursors */
    uint64_t cursors_lagging;      /* of which lagging (their segments were let go) */
    uint64_t low_watermark;        /* sluice_watermark_low (0: no watermark yet) */
    uint64_t tails_open;           /* tails open on this handle */
};

/* Latency and size distributions (log-linear buckets, <= 1.6 % wide), since open. */
enum {
    SLUICE_HIST_PUT_MEMORY = 0,   /* ns in sluice_put at MEMORY ack (1 put in 16 is timed) */
    SLUICE_HIST_PUT_WRITTEN = 1,  /* ns in sluice_put at WRITTEN ack (1 put in 16 is timed
                                   * when the ring is shared: it costs what MEMORY does) */
    SLUICE_HIST_PUT_DURABLE = 2,  /* ns in sluice_put at DURABLE ack: put -> durable */
    SLUICE_HIST_RING_BLOCKED = 3, /* ns a put slept on a full ring (only puts that slept) */
    SLUICE_HIST_BATCH_RECORDS = 4,/* records per log write (group commit) */
    SLUICE_HIST_BATCH_BYTES = 5,  /* record bytes per log write */
    SLUICE_HIST_WRITE = 6,        /* ns from a log write's submission to its completion */
    SLUICE_HIST_FSYNC = 7,        /* ns of each separate fdatasync (buffered mode) */
    SLUICE_HIST_COMPACTION = 8,   /* ns of each compaction round (read, merge, commit) */
    SLUICE_HIST_PUT_TO_COLD = 9,  /* ns from a segment's first record to its compaction:
                                   * the longest any of its records waited to be cold */
    SLUICE_HIST_COUNT_ = 10
};
typedef struct sluice_hist_summary {
    uint64_t count, sum, min, max;
    uint64_t p50, p90, p99, p999, p9999;
} sluice_hist_summary;

/* A summary of histogram `which`. Errors: SLUICE_EINVAL. */
SLUICE_API SLUICE_MUST_CHECK int sluice_stats_hist(sluice_db *db, int which,
                                                   sluice_hist_summary *out);

/*
 * Every counter, gauge and histogram as text: SLUICE_FMT_PROMETHEUS (the text exposition
 * format, metric names sluice_* with their unit, histograms as Prometheus histograms) or
 * SLUICE_FMT_JSON (one object). Writes at most cap bytes, NUL-terminated; *len receives
 * the length without the NUL. Errors: SLUICE_EINVAL, SLUICE_ERANGE (cap too small: *len
 * is the length needed).
 */
enum { SLUICE_FMT_PROMETHEUS = 1, SLUICE_FMT_JSON = 2 };
SLUICE_API SLUICE_MUST_CHECK int sluice_stats_format(sluice_db *db, int format, char *buf,
                                                     size_t cap, size_t *len);

/* Fills *out; each field is read atomically, the fields together are not one snapshot
 * (the position lattice still holds). Errors: SLUICE_EINVAL. */
SLUICE_API SLUICE_MUST_CHECK int sluice_stats(sluice_db *db, struct sluice_stats *out);

/*
 * The latest stats a writing process published to DIR/stats.live (every
 * stats_interval_ms), read from any process without opening the database: the texts of
 * sluice_stats_format (JSON and Prometheus, NUL-terminated, freed by
 * sluice_live_stats_free), when they were taken and by which process. Never a torn
 * snapshot. Errors: SLUICE_EINVAL, -ENOENT (no file: no writer published here),
 * SLUICE_NOTFOUND (created, nothing published yet), SLUICE_ECORRUPT (not a stats file,
 * or no consistent snapshot within 0.2 s: the writer died mid-snapshot), SLUICE_ENOMEM.
 */
typedef struct sluice_live_stats {
    char *json, *prometheus;
    uint64_t time_ns; /* CLOCK_REALTIME of the snapshot */
    uint64_t seq;     /* grows by 2 per snapshot */
    uint32_t pid;     /* the publishing process */
    uint32_t interval_ms;
} sluice_live_stats;
SLUICE_API SLUICE_MUST_CHECK int sluice_stats_read_live(const char *dir, sluice_live_stats *out);
SLUICE_API void sluice_live_stats_free(sluice_live_stats *l);

/* A static message for any code, including -errno values. Never NULL. */
SLUICE_API const char *sluice_strerror(int err);
/* The code's name ("SLUICE_EINVAL", "ENOSPC", ...), or "unknown". Never NULL. */
SLUICE_API const char *sluice_errname(int err);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */
