/*
 * The put path: validate, reserve ring space and an LSN (one atomic operation), copy
 * the record in its log layout with its CRC, publish, then wait for the asked level.
 * Nothing here allocates, locks or writes a cache line shared by all producers.
 */
#include <string.h>

#include "clock.h"
#include "db.h"
#include "format.h"

/* Durable waits last ~100 µs (an fdatasync): a spin would only steal the writer's core. */
#define ACK_SPIN_NS 0

static int append(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
                  const void *val, size_t vlen, int ack, uint64_t *lsn_out)
{
    if (db->read_only)
        return SLUICE_EREADONLY;
    int level = db_resolve_ack(db, ack);
    if (level < 0)
        return SLUICE_EINVAL;
    if (atomic_load_explicit(&db->log.poison, memory_order_acquire))
        return SLUICE_EPOISONED;

    struct ring_slot slot;
    uint64_t waited;
    int r = ring_reserve(&db->ring, rec_size(klen, vlen),
                         db->opts.full_policy == SLUICE_FULL_BLOCK, db->opts.put_timeout_ms,
                         &db->log.poison, &slot, &waited);
    if (waited) {
        atomic_fetch_add_explicit(&db->ring_full_waits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->ring_full_wait_ns, waited, memory_order_relaxed);
    }
    if (r) {
        if (r == SLUICE_EBUSY || r == SLUICE_ETIMEDOUT)
            atomic_fetch_add_explicit(&db->ring_full_rejections, 1, memory_order_relaxed);
        return r;
    }
    rec_fill(slot.rec, type, slot.lsn, ts, key, klen, val, vlen);
    ring_publish(&db->ring, &slot);
    if (lsn_out)
        *lsn_out = slot.lsn;
    if (level == SLUICE_ACK_WRITTEN)
        return pos_wait(&db->log.written, slot.lsn, 0, ACK_SPIN_NS, &db->log.poison);
    if (level == SLUICE_ACK_DURABLE)
        return pos_wait(&db->log.durable, slot.lsn, 0, ACK_SPIN_NS, &db->log.poison);
    return 0;
}

int sluice_put(sluice_db *db, const void *key, size_t klen, uint64_t ts, const void *val,
               size_t vlen, int ack, uint64_t *lsn)
{
    if (!db || !key || klen == 0 || klen > SLUICE_KEY_MAX || (!val && vlen) ||
        vlen > db->value_max)
        return SLUICE_EINVAL;
    return append(db, REC_PUT, key, klen, ts, val, vlen, ack, lsn);
}

int sluice_delete(sluice_db *db, const void *key, size_t klen, uint64_t ts, int ack,
                  uint64_t *lsn)
{
    if (!db || !key || klen == 0 || klen > SLUICE_KEY_MAX)
        return SLUICE_EINVAL;
    return append(db, REC_DELETE, key, klen, ts, NULL, 0, ack, lsn);
}

static int source_len(const char *source, size_t *len)
{
    if (!source)
        return SLUICE_EINVAL;
    *len = strnlen(source, SLUICE_SOURCE_MAX + 1);
    return *len == 0 || *len > SLUICE_SOURCE_MAX ? SLUICE_EINVAL : 0;
}

int sluice_offset_put(sluice_db *db, const char *source, uint64_t offset, int ack)
{
    size_t len;
    if (!db || source_len(source, &len))
        return SLUICE_EINVAL;
    return append(db, REC_OFFSET, source, len, 0, &offset, sizeof offset, ack, NULL);
}

int sluice_offset_get(sluice_db *db, const char *source, uint64_t *offset)
{
    size_t len;
    if (!db || !offset || source_len(source, &len))
        return SLUICE_EINVAL;
    (void)db_read_snapshot(db);
    struct cold_view v;
    int r = db_read_begin(db, &v);
    if (r)
        return r;
    r = hot_offset_get(&db->index, source, offset);
    if (r == SLUICE_NOTFOUND && v.txn) /* older offsets live with the cold data */
        r = cold_offset_get(&v, source, offset);
    db_read_end(db, &v);
    return r;
}

int sluice_wait(sluice_db *db, uint64_t lsn, int ack, uint32_t timeout_ms)
{
    if (!db)
        return SLUICE_EINVAL;
    int level = db_resolve_ack(db, ack);
    uint64_t claimed = db->read_only ? pos_load(&db->log.indexed) : ring_claimed_lsn(&db->ring);
    if (level < 0 || lsn == 0 || lsn > claimed)
        return SLUICE_EINVAL;
    if (level == SLUICE_ACK_MEMORY) {
        /* Visible to reads: indexing is memory work only, so wait as a read would. */
        (void)db_read_snapshot(db);
        return 0;
    }
    struct position *p = level == SLUICE_ACK_WRITTEN ? &db->log.written : &db->log.durable;
    if (pos_load(p) >= lsn)
        return 0;
    if (db->read_only)
        return SLUICE_ETIMEDOUT; /* nothing moves in a read-only handle */
    if (atomic_load(&db->log.poison))
        return SLUICE_EPOISONED;
    if (timeout_ms == 0)
        return SLUICE_ETIMEDOUT;
    uint64_t deadline = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    return pos_wait(p, lsn, deadline, ACK_SPIN_NS, &db->log.poison);
}

int sluice_flush(sluice_db *db)
{
    if (!db)
        return SLUICE_EINVAL;
    if (db->read_only)
        return SLUICE_EREADONLY;
    uint64_t target = ring_claimed_lsn(&db->ring);
    if (pos_load(&db->log.durable) >= target)
        return atomic_load(&db->log.poison) ? SLUICE_EPOISONED : 0;
    return pos_wait(&db->log.durable, target, 0, 0, &db->log.poison);
}

int sluice_compact(sluice_db *db)
{
    if (!db)
        return SLUICE_EINVAL;
    if (db->read_only)
        return SLUICE_EREADONLY;
    uint64_t target = ring_claimed_lsn(&db->ring);
    int r = sluice_flush(db);
    if (r || target <= pos_load(&db->compactor.compacted))
        return r;
    compactor_kick(&db->compactor, target);
    return pos_wait(&db->compactor.compacted, target, 0, 0, &db->compactor.error);
}
