/*
 * The cold store: one LMDB environment in DIR/cold holding lz4 blocks (block.h).
 *
 * DESIGN. Four databases:
 *   meta    "version" le32, "uuid" 16 bytes, "compacted_lsn" le64, "o:<source>" le64
 *   series  key bytes -> le32 series id (the dictionary)
 *   names   be32 series id -> key bytes (scans return keys)
 *   blocks  be32 series id || be64 ts_min -> block
 * Blocks are series-major: a point read is one dictionary lookup and one cursor seek to
 * the last block starting at or before ts; a late record merges into the one block
 * whose range holds it; a one-key scan walks consecutive keys. (The guide's time-major
 * layout favours all-series scans, which here merge one cursor per series; docs/
 * design.md.) A block holds about 4 KiB of records (COLD_BLOCK_RAW_TARGET), so a point
 * read decompresses and checks a small, bounded amount.
 *
 * cold_apply merges a batch of log records — in LSN order, as compaction reads them —
 * in one write transaction that also stores compacted_lsn and source offsets: data and
 * checkpoint commit together, so replay after a crash is exactly once. The same
 * (key, ts) keeps the highest LSN; a delete removes the record if its LSN is higher.
 * MDB_MAP_FULL (from a put or from the commit) aborts the transaction; the map is
 * doubled between transactions and the batch applied again.
 *
 * Reads use a read-only transaction (MDB_NOTLS: not tied to a thread) that never
 * blocks the writer of the environment.
 */
#ifndef SLUICE_COLD_H
#define SLUICE_COLD_H
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#define COLD_FORMAT_VERSION 1u
/* A block grows until its raw body would pass COLD_BLOCK_RAW_TARGET (one record larger
 * than that gets a block of its own) or it holds COLD_BLOCK_RECORDS records. 4000 bytes
 * plus the 48-byte header and LMDB's 16-byte page header fill one 4 KiB page when stored
 * uncompressed; measured against 64 and 128 records of 100 bytes (docs/design.md), it
 * gave the fastest point reads and all-series scans and the smallest file for
 * incompressible values, for ~15 % more bytes on compressible ones. */
#define COLD_BLOCK_RAW_TARGET 4000u
#define COLD_BLOCK_RECORDS 256u
/* Records per write transaction of a compaction round (cold_apply): its commit writes a
 * bounded burst (measured in docs/benchmarks.md, "Smoothing background I/O"). */
#define COLD_TXN_BYTES (4u << 20)

struct cold;

struct cold_rec {
    const uint8_t *key;
    uint16_t klen;
    uint8_t type; /* REC_PUT, REC_DELETE, REC_OFFSET */
    uint64_t ts;
    uint64_t lsn;
    const void *val;
    uint32_t vlen;
};

struct cold_apply_stats {
    uint64_t records_in;      /* records applied */
    uint64_t blocks_written;
    uint64_t bytes_written;   /* block bytes put */
    uint64_t map_growths;
    uint64_t dropped_records; /* retention */
    uint64_t dropped_bytes;
};

/* An LMDB return code as a sluice code (SLUICE_ECORRUPT only for damaged bytes,
 * SLUICE_ELIMIT for LMDB's limits, SLUICE_EINTERNAL for misuse; errno values as -errno). */
int cold_lmdb_error(int rc);

/* Opens (read_only: only if it exists) the environment in `path`. A missing
 * environment in read_only mode is SLUICE_NOTFOUND. read_only == COLD_READ_NOLOCK also
 * leaves lock.mdb alone (MDB_NOLOCK): nothing in `path` is written, so no process may
 * write the environment meanwhile (sluice repair checks DIR/LOCK first). */
#define COLD_READ_NOLOCK 2
int cold_open(const char *path, int read_only, size_t map_bytes, struct cold **out);

/* A consistent copy of the environment (one read transaction: mdb_env_copy2, compacted)
 * into the existing, empty directory dest; the copy's compacted_lsn in *compacted_lsn.
 * A writer may go on meanwhile. 0, -errno, or an LMDB error as cold_lmdb_error says. */
int cold_copy(struct cold *c, const char *dest, uint64_t *compacted_lsn);
void cold_close(struct cold *c);

/* The durable checkpoint: 0 and *lsn (0 if never compacted); *has_uuid and uuid. */
int cold_meta(struct cold *c, uint64_t *compacted_lsn, uint8_t uuid[16], int *has_uuid);

/* Applies records[0..n) (LSN order) and sets compacted_lsn and the uuid, durably. The
 * series are applied in shares of about COLD_TXN_BYTES of records, one transaction each,
 * the last of which also stores the offsets, retention and compacted_lsn: data of an
 * earlier share that a crash separates from its checkpoint is applied again by the
 * replay, which changes nothing. Records with ts < retain_from are dropped, as are blocks
 * wholly older (retention; 0 keeps everything). */
int cold_apply(struct cold *c, const struct cold_rec *recs, size_t n, uint64_t compacted_lsn,
               const uint8_t uuid[16], uint64_t retain_from, struct cold_apply_stats *st);

/* pace(arg, bytes so far) is called between the transactions of a cold_apply, on its
 * thread: the compactor's rate limiter sleeps there. */
void cold_set_pacer(struct cold *c, void (*pace)(void *arg, uint64_t bytes), void *arg);
/* The records per transaction of the next cold_apply calls (0: COLD_TXN_BYTES). */
void cold_set_share(struct cold *c, uint64_t bytes);

/* A read view. */
struct cold_view {
    struct cold *c;
    MDB_txn *txn;
    uint64_t compacted_lsn;
};
int cold_view_begin(struct cold *c, struct cold_view *v);
void cold_view_end(struct cold_view *v);

/* The record of (key, ts) in the view: 0 with *lsn, *vlen and the value copied into buf
 * (cap bytes; SLUICE_ERANGE and *vlen if smaller), SLUICE_NOTFOUND, SLUICE_ECORRUPT. */
int cold_get(struct cold_view *v, const void *key, size_t klen, uint64_t ts, uint64_t *lsn,
             void *buf, size_t cap, size_t *vlen);

/* The newest record of key with ts <= at: as cold_get, and *ts. */
int cold_get_le(struct cold_view *v, const void *key, size_t klen, uint64_t at, uint64_t *ts,
                uint64_t *lsn, void *buf, size_t cap, size_t *vlen);

/* cold_get_le for a series id the caller has already looked up. */
int cold_get_le_id(struct cold_view *v, uint32_t sid, uint64_t at, uint64_t *ts, uint64_t *lsn,
                   void *buf, size_t cap, size_t *vlen);

/*
 * What the block headers of one series say: its first and last ts, and (count != 0, a
 * walk over every block of the series instead of two seeks) its record and block
 * counts. Headers are checked for shape (block_peek), not against the CRC, which covers
 * them together with the body and would cost a full decode: a scan or `sluice verify`
 * checks every byte. 0, SLUICE_NOTFOUND (no block), SLUICE_ECORRUPT.
 */
struct cold_span {
    uint64_t first_ts, last_ts;
    uint64_t records, blocks; /* with count only */
};
int cold_series_span(struct cold_view *v, uint32_t sid, int count, struct cold_span *out);

/*
 * The last-value cache (cold_latest.c): each series' newest record in the cold tier.
 * cold_latest_build turns it on from a view (one decode per series; 0 and nothing done
 * when it is on already, or the view is not at the last compacted_lsn this process
 * published — a later call builds). cold_latest_get: 0 with the record (value copied,
 * up to cap: SLUICE_ERANGE and *vlen), COLD_LATEST_NO_VALUE (ts, LSN and *vlen only:
 * the value is larger than the cache keeps), SLUICE_NOTFOUND (the view's cold tier holds
 * nothing of the series), COLD_LATEST_MISS (the cache cannot say for this view: decode).
 * cold_latest_fill gives it what a decode found for a series it could not say.
 */
#define COLD_LATEST_VALUE_MAX 1024u
#define COLD_LATEST_MISS 1
#define COLD_LATEST_NO_VALUE 2
int cold_latest_build(struct cold_view *v);
int cold_latest_get(struct cold_view *v, uint32_t sid, uint64_t *ts, uint64_t *lsn, void *buf,
                    size_t cap, size_t *vlen);
void cold_latest_fill(struct cold_view *v, uint32_t sid, uint64_t ts, uint64_t lsn,
                      const void *val, size_t vlen);

/* The offset stored for a source in the view. */
int cold_offset_get(struct cold_view *v, const char *source, uint64_t *offset);

/*
 * A cursor over one series' records in [from, to), in ts order, within a view.
 * cold_series_next: 0 with *rec (pointers valid until the next call), SLUICE_END,
 * SLUICE_ECORRUPT. Each cursor owns one decoded block.
 */
struct cold_series_cursor;
int cold_series_open(struct cold_view *v, const void *key, size_t klen, uint64_t from,
                     uint64_t to, struct cold_series_cursor **out);
int cold_series_open_id(struct cold_view *v, uint32_t series, uint64_t from, uint64_t to,
                        struct cold_series_cursor **out);
int cold_series_next(struct cold_series_cursor *cur, struct cold_rec *rec);
void cold_series_close(struct cold_series_cursor *cur);

/* Calls fn for every series in the view (id and key); stops at a non-zero return. */
int cold_for_each_series(struct cold_view *v,
                         int (*fn)(void *arg, uint32_t series, const void *key, size_t klen),
                         void *arg);

/* The same in key (byte) order, for keys starting with prefix (plen 0: every key), from
 * the key -> id dictionary: a prefix costs a seek, not a walk over every series. */
int cold_for_each_key(struct cold_view *v, const void *prefix, size_t plen,
                      int (*fn)(void *arg, uint32_t series, const void *key, size_t klen),
                      void *arg);

/* ---- inspection, for the CLI ---- */

/* A key's series id, and a series id's key (valid in the view). 0, NOTFOUND, ECORRUPT. */
int cold_series_of(struct cold_view *v, const void *key, size_t klen, uint32_t *series);
int cold_series_name(struct cold_view *v, uint32_t series, const void **key, size_t *klen);

/* One stored block, undecoded: decoding and judging it is the caller's (block.h). */
struct cold_block_ref {
    uint32_t series;      /* from the LMDB key */
    uint64_t key_ts;      /* ts_min from the LMDB key */
    int bad_key;          /* the key is not 12 bytes: series and key_ts are unknown */
    const void *data;     /* the block, valid in the view (in LMDB's map of data.mdb) */
    size_t len;
};
/* Calls fn for every block (series == UINT32_MAX) or one series' blocks, in key order;
 * stops at a non-zero return, which it returns. */
int cold_for_each_block(struct cold_view *v, uint32_t series,
                        int (*fn)(void *arg, const struct cold_block_ref *b), void *arg);
/* Calls fn for every stored source offset. */
int cold_for_each_offset(struct cold_view *v,
                         int (*fn)(void *arg, const char *source, uint64_t offset), void *arg);
/* Entries of the dictionary and of the blocks database; meta's next_series. */
int cold_counts(struct cold_view *v, uint64_t *series, uint64_t *blocks, uint64_t *next_series);

/* Bytes of the file's pages that no database uses (reusable by later writes). */
int cold_free_bytes(struct cold *c, uint64_t *free_bytes);

/* Environment figures for stats: map size and bytes in use. */
int cold_usage(struct cold *c, uint64_t *map_bytes, uint64_t *used_bytes);
#endif
