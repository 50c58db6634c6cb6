/*
 * The put path: validate, reserve ring space and an LSN (one atomic operation), copy
 * the record in its log layout with its CRC, publish, then wait for the asked level.
 * Nothing here allocates, locks or writes a cache line shared by all producers.
 */
#include <string.h>

#include "clock.h"
#include "db.h"
#include "record.h"

/* Durable waits last ~100 µs (an fdatasync): a spin would only steal the writer's core. */
#define ACK_SPIN_NS 0

/* A full ring under SLUICE_FULL_BLOCK: counts the sleepers, so that the first one to
 * wait and the last one to leave mark the backpressure period with events. */
static int reserve_blocking(sluice_db *db, size_t size, struct ring_slot *slot, uint64_t *waited)
{
    if (atomic_fetch_add(&db->pressure_waiters, 1) == 0) {
        atomic_store(&db->pressure_since, clock_now_ns());
        obs_event(db, SLUICE_EVENT_BACKPRESSURE_BEGIN, 0, 0);
    }
    int r = ring_reserve(&db->ring, size, 1, db->opts.put_timeout_ms, &db->progress.poison,
                         slot, waited);
    uint64_t since = atomic_load(&db->pressure_since);
    if (atomic_fetch_sub(&db->pressure_waiters, 1) == 1)
        obs_event(db, SLUICE_EVENT_BACKPRESSURE_END, clock_now_ns() - since, 0);
    return r;
}

static int append(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
                  const void *val, size_t vlen, int ack, uint64_t *lsn_out, int block)
{
    if (db->read_only)
        return SLUICE_EREADONLY;
    int level = db_resolve_ack(db, ack);
    if (level < 0) {
        atomic_fetch_add_explicit(&db->rejected_invalid, 1, memory_order_relaxed);
        return SLUICE_EINVAL;
    }
    if (atomic_load_explicit(&db->progress.poison, memory_order_acquire)) {
        atomic_fetch_add_explicit(&db->rejected_poisoned, 1, memory_order_relaxed);
        return SLUICE_EPOISONED;
    }
    /* Late: below the low watermark when put (a read-mostly word: one load per put). */
    unsigned flags = 0;
    if ((type == REC_PUT || type == REC_DELETE) &&
        ts < atomic_load_explicit(&db->low_watermark, memory_order_relaxed)) {
        if (db->opts.late_policy == SLUICE_LATE_REFUSE) {
            atomic_fetch_add_explicit(&db->rejected_late, 1, memory_order_relaxed);
            return SLUICE_ELATE;
        }
        atomic_fetch_add_explicit(&db->late_records, 1, memory_order_relaxed);
        flags = REC_F_LATE;
    }
    /* One MEMORY put in 16 is timed, chosen by the LSN it will most likely get (a read
     * of the claim word the reservation touches anyway): two clock reads would add half
     * again to a 70 ns put. */
    int timed = level == SLUICE_ACK_DURABLE || (level == SLUICE_ACK_WRITTEN && !db->ring_shared) ||
                (ring_claimed_lsn(&db->ring) & 15) == 15; /* (WRITTEN in a shared ring costs what
                                                            * MEMORY does: sampled alike) */
    uint64_t t0 = timed ? clock_now_ns() : 0;

    struct ring_slot slot;
    uint64_t waited = 0;
    size_t size = rec_size(klen, vlen);
    /* the first attempt never sleeps: a full ring is then handled on the slow path */
    int r = ring_reserve(&db->ring, size, 0, 0, &db->progress.poison, &slot, &waited);
    if (r == SLUICE_EBUSY && (block || db->opts.full_policy == SLUICE_FULL_BLOCK))
        r = reserve_blocking(db, size, &slot, &waited);
    if (waited) {
        atomic_fetch_add_explicit(&db->ring_full_waits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->ring_full_wait_ns, waited, memory_order_relaxed);
        pthread_mutex_lock(&db->obs_mu);
        hist_record(&db->ring_blocked, waited);
        pthread_mutex_unlock(&db->obs_mu);
    }
    if (r) {
        if (r == SLUICE_EBUSY || r == SLUICE_ETIMEDOUT)
            atomic_fetch_add_explicit(&db->ring_full_rejections, 1, memory_order_relaxed);
        _Atomic uint64_t *why = r == SLUICE_EBUSY ? &db->rejected_full
                              : r == SLUICE_ETIMEDOUT ? &db->rejected_timeout
                              : r == SLUICE_EPOISONED ? &db->rejected_poisoned : NULL;
        if (why)
            atomic_fetch_add_explicit(why, 1, memory_order_relaxed);
        return r;
    }
    rec_fill_flagged(slot.rec, type, flags, slot.lsn, ts, key, klen, val, vlen);
    /* WRITTEN: in a shared ring the publication itself survives a crash of the process
     * (ring_file.c); in a private one, the log write does */
    struct position *await =
        level >= SLUICE_ACK_DURABLE                        ? &db->progress.durable
        : level == SLUICE_ACK_WRITTEN && !db->ring_shared ? &db->progress.written
                                                           : NULL;
    if (await)
        log_want(db->log, slot.lsn); /* before the writer can see the record */
    ring_publish(&db->ring, &slot);
    if (await)
        log_nudge(db->log);
    if (lsn_out)
        *lsn_out = slot.lsn;
    if (await)
        r = pos_wait(await, slot.lsn, 0, ACK_SPIN_NS, &db->progress.poison);
    if (!r && level == SLUICE_ACK_COLD)
        r = db_wait_level(db, slot.lsn, SLUICE_ACK_COLD, 0);
    if (timed && !r && level <= SLUICE_ACK_DURABLE)
        obs_record_put(db, level, clock_now_ns() - t0);
    return r;
}

int db_append(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
              const void *val, size_t vlen, uint64_t *lsn)
{
    return append(db, type, key, klen, ts, val, vlen, SLUICE_ACK_MEMORY, lsn, 1);
}

int db_append_ack(sluice_db *db, int type, const void *key, size_t klen, uint64_t ts,
                  const void *val, size_t vlen, int ack, uint64_t *lsn)
{
    return append(db, type, key, klen, ts, val, vlen, ack, lsn, 0);
}

int db_wait_level(sluice_db *db, uint64_t lsn, int level, uint64_t deadline_ns)
{
    if (level == SLUICE_ACK_MEMORY)
        return 0;
    struct position *p =
        level == SLUICE_ACK_WRITTEN ? &db->progress.written : &db->progress.durable;
    int r = 0;
    if (pos_load(p) < lsn) {
        log_want(db->log, lsn);
        log_kick(db->log);
        r = pos_wait(p, lsn, deadline_ns, ACK_SPIN_NS, &db->progress.poison);
    }
    if (r || level != SLUICE_ACK_COLD)
        return r;
    /* durable now: the compactor takes it in a round of its own if none is coming */
    return compactor_wait(db->compactor, lsn, deadline_ns);
}

int sluice_put(sluice_db *db, const void *key, size_t klen, uint64_t ts, const void *val,
               size_t vlen, int ack, uint64_t *lsn)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!key || klen == 0 || klen > SLUICE_KEY_MAX || (!val && vlen) || vlen > db->value_max) {
        atomic_fetch_add_explicit(&db->rejected_invalid, 1, memory_order_relaxed);
        return SLUICE_EINVAL;
    }
    return append(db, REC_PUT, key, klen, ts, val, vlen, ack, lsn, 0);
}

int sluice_delete(sluice_db *db, const void *key, size_t klen, uint64_t ts, int ack,
                  uint64_t *lsn)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!key || klen == 0 || klen > SLUICE_KEY_MAX) {
        atomic_fetch_add_explicit(&db->rejected_invalid, 1, memory_order_relaxed);
        return SLUICE_EINVAL;
    }
    return append(db, REC_DELETE, key, klen, ts, NULL, 0, ack, lsn, 0);
}

static int source_len(const char *source, size_t *len)
{
    if (!source)
        return SLUICE_EINVAL;
    *len = strnlen(source, SLUICE_SOURCE_MAX + 1);
    /* names starting with MARK_PREFIX are cursors' and watermarks' (marks.c) */
    return *len == 0 || *len > SLUICE_SOURCE_MAX || source[0] == MARK_PREFIX ? SLUICE_EINVAL : 0;
}

int sluice_offset_put(sluice_db *db, const char *source, uint64_t offset, int ack)
{
    size_t len;
    int bad = db_check(db);
    if (bad)
        return bad;
    if (source_len(source, &len))
        return SLUICE_EINVAL;
    return append(db, REC_OFFSET, source, len, 0, &offset, sizeof offset, ack, NULL, 0);
}

int sluice_offset_get(sluice_db *db, const char *source, uint64_t *offset)
{
    size_t len;
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!offset || source_len(source, &len))
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
    int bad = db_check(db);
    if (bad)
        return bad;
    int level = db_resolve_ack(db, ack);
    uint64_t claimed =
        db->read_only ? pos_load(&db->progress.indexed) : ring_claimed_lsn(&db->ring);
    if (level < 0 || lsn == 0 || lsn > claimed)
        return SLUICE_EINVAL;
    if (level == SLUICE_ACK_COLD) {
        if (db_compacted_lsn(db) >= lsn)
            return 0;
        if (db->read_only || timeout_ms == 0)
            return SLUICE_ETIMEDOUT;
        return db_wait_level(db, lsn, level, clock_now_ns() + (uint64_t)timeout_ms * 1000000u);
    }
    if (level == SLUICE_ACK_MEMORY || (level == SLUICE_ACK_WRITTEN && db->ring_shared)) {
        /* Visible to reads (indexed, so published, which in a shared ring is also safe
         * from a crash of the process): memory work only, so wait as a read would. */
        (void)db_read_snapshot(db);
        return 0;
    }
    struct position *p =
        level == SLUICE_ACK_WRITTEN ? &db->progress.written : &db->progress.durable;
    if (pos_load(p) >= lsn)
        return 0;
    if (db->read_only)
        return SLUICE_ETIMEDOUT; /* nothing moves in a read-only handle */
    if (atomic_load(&db->progress.poison))
        return SLUICE_EPOISONED;
    if (timeout_ms == 0)
        return SLUICE_ETIMEDOUT;
    uint64_t deadline = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    log_want(db->log, lsn);
    log_kick(db->log);
    return pos_wait(p, lsn, deadline, ACK_SPIN_NS, &db->progress.poison);
}

int sluice_flush(sluice_db *db)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (db->read_only)
        return SLUICE_EREADONLY;
    uint64_t target = ring_claimed_lsn(&db->ring);
    if (pos_load(&db->progress.durable) >= target)
        return atomic_load(&db->progress.poison) ? SLUICE_EPOISONED : 0;
    log_want(db->log, target);
    log_kick(db->log);
    return pos_wait(&db->progress.durable, target, 0, 0, &db->progress.poison);
}

int sluice_compact(sluice_db *db)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (db->read_only)
        return SLUICE_EREADONLY;
    /* Not flush, then compact: past log_backlog_max_bytes the writer waits for the
     * compactor to free segments, and a flush first would wait for it forever. So the
     * compactor takes what is durable, which frees segments and lets the writer go on,
     * until everything claimed now is in the cold tier. */
    uint64_t target = ring_claimed_lsn(&db->ring);
    log_want(db->log, target);
    log_kick(db->log);
    for (;;) {
        uint64_t durable = pos_load(&db->progress.durable);
        uint64_t step = durable < target ? durable : target;
        int r = compactor_compact(db->compactor, step);
        if (r || step == target)
            return r;
        if ((r = pos_wait(&db->progress.durable, durable + 1, 0, 0, &db->progress.poison)))
            return r;
    }
}
