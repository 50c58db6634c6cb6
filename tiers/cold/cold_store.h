/*
 * The cold tier's insides, shared by its files and by nothing else (the guard
 * below makes an include from another floor fail to compile):
 *   cold.c        the LMDB environment, map growth, read views, meta, inspection
 *   cold_read.c   decoding a block for a reader, point gets, series cursors
 *   cold_apply.c  the compactor's writes (cold_apply)
 *   cold_latest.c the last-value cache: each series' newest record
 */
#ifndef SLUICE_COLD_STORE_H
#define SLUICE_COLD_STORE_H
#ifndef SLUICE_FLOOR_COLD
#error "cold_store.h is private to tiers/cold: include cold.h"
#endif
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "cold.h"

#define COLD_TXN_POOL 16

struct apply_keep;

struct cold {
    MDB_env *env;
    MDB_dbi meta, series, names, blocks;
    int read_only;
    /* Views hold it shared; growing the map takes it exclusively, because LMDB may only
     * resize while no transaction of this process is open. */
    pthread_rwlock_t grow;
    /* Read transactions reset and kept for the next view: mdb_txn_renew reuses the
     * reader slot, where mdb_txn_begin searches the reader table under LMDB's mutex. */
    pthread_mutex_t pool_mu;
    MDB_txn *pool[COLD_TXN_POOL];
    int npool;
    /* compactor-only scratch, kept from one cold_apply to the next: freeing and
     * reallocating megabytes per round made the allocator return pages to the kernel,
     * and every such unmap interrupts the producers' cores (TLB shootdown IPIs, costly
     * under a hypervisor): 10-40 µs put stalls while compaction runs */
    uint8_t *raw, *enc, *scratch;
    struct apply_keep *keep;
    /* compactor-only: per series id, whether to try lz4 on its next block (lz4_gate) */
    uint8_t *lz4_gate;
    size_t lz4_gate_cap;
    /* called between the transactions of one cold_apply (cold_set_pacer) */
    void (*pace)(void *arg, uint64_t bytes);
    void *pace_arg;
    uint64_t share_bytes; /* records per transaction (0: COLD_TXN_BYTES) */
    /* The map is never grown past what the filesystem could hold: doubling beyond it
     * cannot make room, and an unbounded doubling ends in a failed mmap. */
    uint64_t map_max;
    /* A cold_remap failed (mdb_env_set_mapsize unmaps first, then maps anew): LMDB is left
     * without a map, and any further use would fault. Every later call returns this
     * error; reopening the database is the way out. */
    _Atomic int broken;
    struct cold_latest *latest; /* the last-value cache (cold_latest.c) */
};

/* cold_latest.c: the compactor's side of the last-value cache. A round begins, notes
 * each series whose newest record it changed (known: that record; else unknown), may
 * rewind to a mark when a transaction is retried, and publishes once its last
 * transaction committed. */
int cold_latest_init(struct cold *c, uint64_t compacted_lsn);
void cold_latest_free(struct cold *c);
void cold_latest_round_begin(struct cold *c);
size_t cold_latest_mark(struct cold *c);
void cold_latest_rewind(struct cold *c, size_t mark);
void cold_latest_note(struct cold *c, uint32_t sid, int known, uint64_t ts, uint64_t lsn,
                      const void *val, uint32_t vlen);
void cold_latest_publish(struct cold *c, uint64_t compacted_lsn, uint64_t retain_from);

/* Block keys: be32(series id) || be64(first ts), so one series' blocks are adjacent
 * and in time order. */
static inline void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define BLOCK_KEY_BYTES 12
static inline void block_key(uint8_t k[BLOCK_KEY_BYTES], uint32_t series, uint64_t ts)
{
    be32(k, series);
    be64(k + 4, ts);
}

/* Buffers sized to the largest block seen: an all-series scan holds one per series. */
struct decoded {
    uint8_t *raw;
    size_t raw_cap;
    struct block_rec *recs;
    size_t recs_cap;
    struct block_hdr hdr;
};

/* The series id of key: 0, SLUICE_NOTFOUND, or an error (cold.c). */
int cold_sid_lookup(MDB_txn *txn, struct cold *c, const void *key, size_t klen, uint32_t *sid);
/* A meta value of 8 bytes (cold.c). */
int cold_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out);
/* Grow lock held exclusively: a new map size (0: adopt the file's) (cold.c). */
int cold_remap(struct cold *c, size_t size);
/* cold_read.c: decodes a block of series into d (checksums verified). */
int cold_decode(struct decoded *d, const MDB_val *val, uint32_t series);
void cold_decoded_free(struct decoded *d);
/* cold_read.c: positions cur on the last block of series starting at or before ts;
 * SLUICE_NOTFOUND if none. */
int cold_seek_block_le(MDB_cursor *cur, uint32_t series, uint64_t ts, MDB_val *k, MDB_val *v);
/* cold_apply.c: frees what cold_apply keeps between calls. */
void cold_keep_free(struct apply_keep *k);
#endif
