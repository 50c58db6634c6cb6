/*
 * The hot index: every record of the log tier (in the ring or in a segment) that reads
 * must see. DESIGN: one hash map from key bytes to a series; each series keeps its
 * entries sorted by (ts, lsn), so a point read is a hash lookup plus a binary search and
 * a one-key scan walks one array. The writer thread inserts records as it drains the
 * ring, before their I/O, so a read waits at most for indexing, never for a disk.
 *
 * The guide suggests one index per segment so compaction can drop a segment in one
 * step; a single index pruned by LSN serves reads with one lookup instead of one per
 * segment, and pruning is one pass per compaction (docs/design.md).
 *
 * Concurrency: a writer-preferring rwlock. The writer thread takes it exclusively only
 * for memory work (inserting a drained batch, recording a release of ring bytes, adding
 * a segment); readers take it shared and never hold it across file I/O.
 *
 * Invariants:
 *  1. Entries of a series are sorted by (ts, lsn); an LSN appears once in the index.
 *  2. An entry with lsn > ring_released_lsn has its bytes in the ring at ring_pos;
 *     otherwise in the segment holding its LSN, at that segment's offs[lsn - first_lsn]
 *     (set when the writer laid the batch out, before its write was submitted).
 *  3. Series, entry arrays and the segment table (segment.h) change only under the write lock
 *     (ring_released_lsn and ring_released_pos under release_lock as well)
 *     (recovery, before any reader exists, edits the segment table without it while its
 *     indexer holds it for the series: recovery.c, struct index_feed).
 */
#ifndef SLUICE_HOT_INDEX_H
#define SLUICE_HOT_INDEX_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "record.h"
#include "segment.h"

struct hot_entry {
    uint64_t ts;
    uint64_t lsn;
    uint64_t ring_pos;
    uint32_t vlen;
    uint8_t type; /* REC_PUT or REC_DELETE */
    uint8_t pad_[3];
};

struct hot_series {
    uint64_t hash;
    uint8_t *key;
    uint32_t klen;
    /* 0 while the entries are in LSN order as well (no late record was inserted before
     * others): pruning then cuts a prefix in O(log n) instead of visiting every entry */
    uint8_t lsn_unordered;
    struct hot_entry *e; /* the live entries: e[0 .. n), room up to e[cap) */
    size_t n, cap;
    struct hot_entry *base; /* the allocation; e - base entries were pruned from the front */
};

struct hot_offset {
    char *source;
    uint64_t offset;
    uint64_t lsn;
};

struct hot_index {
    pthread_rwlock_t lock;
    struct hot_series **slots;
    size_t nslots, nseries;
    struct segment_table segs; /* segment.h: guarded by lock, as the entries are */
    struct hot_offset *offsets;
    size_t noffsets;
    uint64_t ring_released_lsn;
    uint64_t ring_released_pos; /* the ring position of record ring_released_lsn + 1 (or of
                                 * padding before it): where a tail starts to walk the ring */
    /* The two fields above also change under this lock (taken inside `lock`), which is
     * all a tail needs to copy ring records safely: a tail takes it shared and so never
     * waits for the writer's indexing, only for a release (engine/tail.c). */
    pthread_rwlock_t release_lock;
    uint64_t pruned_upto;   /* entries <= it were pruned (they are in the cold tier) */
    uint64_t records;
};

int hot_init(struct hot_index *x);
/* Frees everything; closes no file descriptors (the log owns them). */
void hot_destroy(struct hot_index *x);

static inline void hot_rdlock(struct hot_index *x) { pthread_rwlock_rdlock(&x->lock); }
static inline void hot_wrlock(struct hot_index *x) { pthread_rwlock_wrlock(&x->lock); }
static inline void hot_unlock(struct hot_index *x) { pthread_rwlock_unlock(&x->lock); }

/* Write lock held. Indexes one drained record. SLUICE_ENOMEM leaves the index unchanged. */
int hot_insert(struct hot_index *x, const struct rec_hdr *h, uint64_t ring_pos);
/* Write lock held. hot_insert of n records in order, faster when many series interleave
 * (ring_pos NULL: all 0). On an error, a prefix of the records may have been indexed. */
#define HOT_BATCH_MAX 64
int hot_insert_batch(struct hot_index *x, const struct rec_hdr *const *hs,
                     const uint64_t *ring_pos, size_t n);
/* Write lock held. Drops every entry with lsn <= upto (they are in the cold tier). */
void hot_prune(struct hot_index *x, uint64_t upto);

/* Read lock held. NULL if the key was never indexed. */
struct hot_series *hot_find(const struct hot_index *x, const void *key, size_t klen);
/* The index of the first entry with ts >= ts (n if none). */
size_t hot_seek(const struct hot_series *s, uint64_t ts);
/* The entry with the highest lsn <= snap among those with this ts, or NULL. */
const struct hot_entry *hot_at(const struct hot_series *s, uint64_t ts, uint64_t snap);
/* Read lock held. 0 and *offset, or SLUICE_NOTFOUND. */
int hot_offset_get(const struct hot_index *x, const char *source, uint64_t *offset);

uint64_t hot_hash(const void *key, size_t klen);
#endif
