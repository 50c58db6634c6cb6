/*
 * The log writer: one thread that drains the ring into segment files with group commit.
 *
 * DESIGN. Each turn of the loop does whatever is ready, in this order, and sleeps only
 * when nothing was:
 *   reap     write completion: advance `written`, release ring bytes to producers;
 *            fdatasync completion: advance `durable`
 *   gather   index every published record (memory only; readers see it at once)
 *   write    every gathered record not yet written, up to batch_max_bytes, laid out
 *            now (segment, offset), ended by a stamped fill record on a 4 KiB boundary.
 *            Direct mode (the default): copied into an aligned staging buffer and
 *            written O_DIRECT with RWF_DSYNC, so its one completion makes the batch
 *            written and durable (measured here: at the disk's own write+fdatasync
 *            latency, while a buffered io_uring write alone cost ~40 us in a worker
 *            thread); up to LOG_MAX_WRITES in flight, so producers that just missed a
 *            batch need not wait a whole device write. Buffered mode (filesystems
 *            without O_DIRECT): one write in flight, straight from ring memory,
 *            chained to an fdatasync when none is running.
 *   sync     buffered mode only: at most one fdatasync in flight, covering exactly the
 *            writes that had completed when it was submitted
 * so a batch forms by itself while the previous write or sync runs: small at low load,
 * large at high load. One timer: while nobody waits for the pending records to be
 * written (MEMORY acks only), they wait up to memory_delay_us to fill LOG_HOLD_BYTES
 * (hold_batch); linger_us holds every batch when asked.
 * It sleeps in poll() on the doorbell (rung by producers only when it announced sleep)
 * and the I/O completion eventfd, so it never blocks inside I/O while records wait.
 *
 * Invariants:
 *  1. Writes are acknowledged in LSN order: `written` (and, in direct mode, `durable`)
 *     advance only over the completed prefix of the FIFO of writes, whatever order the
 *     device completes them in.
 *  2. `durable` advances to a target <= `written` at the time the fdatasync was
 *     submitted (a chained one starts only after its write completed), and only within
 *     the synced segment.
 *  3. A new segment is created only once every earlier record is durable, so a power
 *     cut can never leave an earlier segment shorter than its successor expects.
 *  4. The first write or sync error poisons the log: nothing is retried or acknowledged
 *     after it (a failed fdatasync may have dropped dirty pages: PostgreSQL's fsyncgate).
 *  5. Ring bytes are released only after their write completed, and ring_released_lsn
 *     is raised under the index write lock first, so no reader copies released bytes.
 *     Written records stay in the ring (at most a quarter of it) as the read cache of
 *     the newest data, and are released at once when the ring is three quarters full.
 *  6. A record's file offset is stored before its write is submitted, and read only
 *     once its LSN is released.
 *  7. Every write ends with a fill stamped with `durable` at its submission, and a clean
 *     close appends one more (every batch leaves a block free for it): after a hole at
 *     LSN H in the last segment, a later stamp >= H proves H had been acknowledged
 *     (corruption); without one, the writes after the hole were never acknowledged and
 *     recovery may cut them (a device may complete in-flight writes in any order).
 *
 * Shutdown: log_stop sets `stopping` and rings the doorbell; the loop exits once every
 * claimed record is durable (or the log is poisoned) and no I/O is in flight; log_stop
 * joins the thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "placement.h"
#include "clock.h"
#include "log_state.h"
#include "sluice.h"

/* Records indexed per hold of the index write lock: bounds how long a reader waits. */
#define GATHER_CHUNK 256
/* An I/O tag is a counter shifted past the index of its write slot. */
#define WRITE_TAG_BITS 3
#define WRITE_TAG_MASK ((1u << WRITE_TAG_BITS) - 1)
_Static_assert(LOG_MAX_WRITES <= 1u << WRITE_TAG_BITS, "a write slot's index fits its tag bits");
/* How long the writer spins for a producer mid-copy before it sleeps. */
#define WRITER_SPIN_NS 5000

/* The position lattice (sluice.h): durable <= written <= indexed <= claimed. The writer
 * advances the first three; producers only raise claimed, so the order holds whenever
 * the writer reads them. */
static void check_lattice(struct log *lg)
{
    const struct log_progress *p = lg->progress;
    SLUICE_ASSERT(pos_load(&p->durable) <= pos_load(&p->written) &&
                  pos_load(&p->written) <= pos_load(&p->indexed) &&
                  pos_load(&p->indexed) <=
                      atomic_load_explicit(&lg->ring->claim[1], memory_order_acquire));
    (void)p;
}

static void emit(struct log *lg, int type, uint64_t a, uint64_t b)
{
    if (lg->on_event)
        lg->on_event(lg->event_arg, type, a, b);
}

static void atomic_max(_Atomic uint64_t *p, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

static void poison(struct log *lg, int cause)
{
    int expected = 0;
    int first = atomic_compare_exchange_strong(&lg->poison_cause, &expected, cause);
    atomic_store_explicit(&lg->progress->poison, SLUICE_EPOISONED, memory_order_release);
    pos_wake_all(&lg->progress->written);
    pos_wake_all(&lg->progress->durable);
    pos_wake_all(&lg->progress->indexed);
    pos_wake_all(&lg->ring->released);
    if (first)
        emit(lg, SLUICE_EVENT_POISON, (uint64_t)(int64_t)cause, 0);
}

static int poisoned(struct log *lg)
{
    return atomic_load_explicit(&lg->progress->poison, memory_order_acquire);
}

static int gather(struct log *lg)
{
    if (poisoned(lg))
        return 0; /* what was not indexed stays so: nothing more is acknowledged */
    int total = 0;
    size_t bytes = 0;
    uint64_t newest = 0;
    while (bytes < lg->batch_max_bytes) {
        uint64_t probe = lg->gather_pos, rec_pos;
        if (!ring_next(lg->ring, &probe, lg->gather_lsn, &rec_pos))
            break;
        const struct rec_hdr *hs[GATHER_CHUNK];
        uint64_t at[GATHER_CHUNK], cursor = lg->gather_pos;
        int n = 0;
        hot_wrlock(lg->index);
        while (n < GATHER_CHUNK) {
            const struct rec_hdr *h = ring_next(lg->ring, &cursor, lg->gather_lsn + (uint64_t)n,
                                                &rec_pos);
            if (!h)
                break;
            hs[n] = h;
            at[n++] = rec_pos;
        }
        int r = hot_insert_batch(lg->index, hs, at, (size_t)n);
        if (r) {
            hot_unlock(lg->index);
            poison(lg, r);
            return total;
        }
        for (int i = 0; i < n; i++) {
            const struct rec_hdr *h = hs[i];
            atomic_fetch_add_explicit(&lg->st.puts, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&lg->st.put_bytes, h->klen + h->vlen, memory_order_relaxed);
            if (h->type != REC_OFFSET)
                newest = h->ts > newest ? h->ts : newest;
            bytes += rec_size(h->klen, h->vlen);
        }
        lg->gather_pos = cursor;
        lg->gather_lsn += (uint64_t)n;
        hot_unlock(lg->index);
        atomic_max(&lg->st.newest_ts_indexed, newest); /* before the records become visible */
        pos_advance(&lg->progress->indexed, lg->gather_lsn - 1);
        total += n;
    }
    return total;
}

/* Opens the O_DIRECT descriptor of segment idx; -EINVAL where the filesystem has none. */
static int open_direct(struct log *lg, uint32_t idx)
{
    char path[4096];
    int r = seg_path(path, sizeof path, lg->logdir, seg_at(&lg->index->segs, idx)->first_lsn);
    return r ? r : lg->io->ops->open(lg->io, path, O_RDWR | O_DIRECT, 0);
}

/* The smallest segment the next record fits in: a header block, the record, its fill
 * and the block every batch leaves for the seal (lay_out_batch). */
static uint64_t segment_need(struct log *lg)
{
    uint64_t cursor = lg->write_pos, pos;
    const struct rec_hdr *h = ring_next(lg->ring, &cursor, lg->write_lsn, &pos);
    size_t rec = h ? rec_size(h->klen, h->vlen) : 0;
    uint64_t need = SEG_HEADER_BYTES + rec + REC_FILL_MAX + LOG_BLOCK;
    return (need + LOG_BLOCK - 1) & ~(uint64_t)(LOG_BLOCK - 1);
}

/* A segment made without a spare (not pre-zeroed: its durable writes also journal
 * extent conversions) has the size of the one it follows, or what the record needs.
 * Smaller ones were tried: at 4 M puts/s a 2 MiB segment fills in 4 ms, and a roll
 * every few milliseconds (each drains the write pipeline and costs ~2 ms of syncs)
 * took 13 % off put-memory's throughput. */
static uint64_t unzeroed_size(struct log *lg, uint64_t need, uint64_t sealed)
{
    uint64_t s = sealed > lg->seg_start_bytes ? sealed : lg->seg_start_bytes;
    while (s < need)
        s *= 2;
    /* the value limits (rec_max_value) make every record fit segment_bytes */
    return s > lg->segment_bytes ? lg->segment_bytes : s;
}

/* The size of the spare to make for the roll after this one (log.h): full size as soon
 * as a segment filled within SEG_GROW_FILL_NS, half as large after one took longer than
 * SEG_SHRINK_FILL_NS. Doubling step by step was measured too: it kept the spare ahead
 * of the writer, but a durable writer after open met five rolls and 60 MB of zeroing
 * in its first 20 MB, and p99.9 went from 0.3 to 1.8 ms; jumping costs one roll. */
static uint64_t next_spare_size(struct log *lg, uint64_t installed, uint64_t sealed_fill_ns)
{
    uint64_t s = installed;
    if (sealed_fill_ns < SEG_GROW_FILL_NS)
        s = lg->segment_bytes;
    else if (sealed_fill_ns > SEG_SHRINK_FILL_NS)
        s = installed / 2;
    if (s > lg->segment_bytes)
        s = lg->segment_bytes;
    if (s < lg->seg_start_bytes)
        s = lg->seg_start_bytes;
    return s;
}

#define SPARE_PACE_MAX_NS (10ull * 1000000000u)

/* Opens the segment that starts at write_lsn; 0, 1 = not yet (earlier data not durable),
 * or an error. Costs a few syncs in this thread (header, rename, directory); the
 * zero-filling was done ahead by the preparer. */
static int roll_segment(struct log *lg)
{
    /* Invariant 3. The write path keeps an fdatasync running while anything is
     * unsynced, so this wait ends by itself. */
    if (pos_load(&lg->progress->durable) + 1 < lg->write_lsn || lg->fsync_inflight)
        return 1;
    /* The log backlog budget: past it a stalled cold tier slows puts, through the ring's
     * backpressure; the compactor rings the doorbell when it retired segments. */
    if (lg->backlog_max_bytes) {
        uint64_t live, bytes, newest, oldest;
        hot_rdlock(lg->index);
        seg_table_usage(&lg->index->segs, &live, &bytes, &newest, &oldest);
        hot_unlock(lg->index);
        if (bytes > lg->backlog_max_bytes)
            return 1;
    }
    struct segment_table *t = &lg->index->segs;
    uint64_t need = segment_need(lg), bytes = 0;
    uint64_t sealed_size = seg_at(t, lg->wseg)->size;
    const char *spare = prep_take(&lg->prep, need, &bytes);
    if (!spare)
        bytes = unzeroed_size(lg, need, sealed_size);
    uint64_t sealed_fill = clock_now_ns() - seg_at(t, lg->wseg)->created_ns;
    int fd = seg_install(lg->io, lg->logdir, spare, lg->uuid, lg->next_seq, lg->write_lsn, bytes);
    /* the next spare's zeros spread over half the time this segment took to fill (at
     * most SPARE_PACE_MAX_NS: a quiet log must not keep a half-made spare for long) */
    uint64_t pace = sealed_fill / 2 < SPARE_PACE_MAX_NS ? sealed_fill / 2 : SPARE_PACE_MAX_NS;
    prep_request(&lg->prep, next_spare_size(lg, spare ? bytes : sealed_size, sealed_fill), pace);
    if (fd < 0)
        return fd;
    /* A segment without records (a record too large for it came first) had the same
     * name: the rename replaced its file, and its entry must not name it any longer
     * (the compactor deletes retired segments by name). */
    int replaced = seg_at(t, lg->wseg)->first_lsn == lg->write_lsn;
    int old_fds[2], nold = 0;
    hot_wrlock(lg->index);
    int idx = seg_table_add(t, lg->next_seq, lg->write_lsn, bytes, fd);
    if (idx >= 0 && replaced)
        nold = seg_table_retire(t, lg->wseg, old_fds);
    hot_unlock(lg->index);
    if (idx < 0) {
        lg->io->ops->close(lg->io, fd);
        return idx;
    }
    /* no reader has an offset in a segment without records: no wait for readers */
    for (int i = 0; i < nold; i++)
        lg->io->ops->close(lg->io, old_fds[i]);
    if (lg->direct) {
        int dfd = open_direct(lg, (uint32_t)idx);
        if (dfd < 0)
            return dfd;
        seg_at(t, (size_t)idx)->dfd = dfd;
    }
    lg->next_seq++;
    lg->wseg = (uint32_t)idx;
    atomic_fetch_add_explicit(&lg->st.segments_created, 1, memory_order_relaxed);
    if (idx > 0)
        atomic_fetch_add_explicit(&lg->st.segments_sealed, 1, memory_order_relaxed);
    emit(lg, SLUICE_EVENT_SEGMENT_ROLL, lg->next_seq - 1, lg->write_lsn);
    if (lg->on_seal) /* every record of the previous segment is durable (invariant 3) */
        lg->on_seal(lg->on_seal_arg);
    return 0;
}

/* The slot of the write with this FIFO position. */
static struct log_write *write_at(struct log *lg, unsigned i)
{
    return &lg->writes[(lg->w_head + i) % LOG_MAX_WRITES];
}

/* Tags carry the write's slot in their low bits, so a completion finds its write. */
static uint64_t next_tag(struct log *lg, const struct log_write *w)
{
    return (++lg->tag << WRITE_TAG_BITS) | (uint64_t)(w - lg->writes);
}

/* Lays out the next batch into w->iov (ring memory); returns its record bytes (0:
 * nothing fits in this segment). */
static size_t lay_out_batch(struct log *lg, struct log_write *w, struct segment *seg,
                            uint64_t *lsn_out, uint64_t *cursor_out)
{
    size_t total = 0;
    uint64_t lsn = lg->write_lsn, cursor = lg->write_pos, pos;
    w->iovcnt = 0;
    w->max_ts = 0;
    while (lsn < lg->gather_lsn) {
        uint64_t next = cursor;
        const struct rec_hdr *h = ring_next(lg->ring, &next, lsn, &pos);
        size_t size = rec_size(h->klen, h->vlen);
        /* after the batch and its fill one block stays free, so the seal of a clean
         * close always fits (invariant 7) */
        uint64_t end = seg->end + total + size;
        if (end + rec_fill_size(end) + LOG_BLOCK > seg->size ||
            (total && total + size > lg->batch_max_bytes))
            break;
        struct iovec *last = w->iovcnt ? &w->iov[w->iovcnt - 1] : NULL;
        if (last && (uint8_t *)last->iov_base + last->iov_len == (uint8_t *)ring_at(lg->ring, pos)) {
            last->iov_len += size;
        } else {
            if (w->iovcnt == IO_MAX_IOV - 1) /* keep one for the fill */
                break;
            w->iov[w->iovcnt++] = (struct iovec){ring_at(lg->ring, pos), size};
        }
        seg_push_off(seg, seg->end + total);
        if (h->type != REC_OFFSET && h->ts > w->max_ts)
            w->max_ts = h->ts;
        total += size;
        lsn++;
        cursor = next;
    }
    *lsn_out = lsn;
    *cursor_out = cursor;
    return total;
}

/* Ends the batch in w with its stamped fill (or, in a segment's last bytes, zeros),
 * stages it in direct mode, and submits it. */
static int submit_batch(struct log *lg, struct log_write *w, struct segment *seg,
                        size_t total, uint64_t lsn)
{
    size_t fill = rec_fill_size(seg->end + total), zeros = 0;
    if (seg->end + total + fill > seg->size) {
        /* The segment's last bytes, fewer than a header: too few for any record. O_DIRECT
         * still needs whole blocks, so they are written as zeros, which the walker reads
         * as the end of the segment. */
        fill = 0;
        zeros = lg->direct ? seg->size - (seg->end + total) : 0;
    }
    uint64_t stamp = pos_load(&lg->progress->durable);
    /* the layout (invariant 2): the batch starts where the last one ended and ends on a
     * block boundary within the segment, as O_DIRECT and the walker need */
    SLUICE_ASSERT(seg->end + total + fill + zeros <= seg->size);
    SLUICE_ASSERT(!lg->direct || (seg->end % LOG_BLOCK == 0 &&
                                  (seg->end + total + fill + zeros) % LOG_BLOCK == 0));
    if (lg->direct) {
        SLUICE_ALWAYS(total + fill + zeros <= lg->stage_bytes);
        size_t at = 0;
        for (int i = 0; i < w->iovcnt; i++) {
            memcpy(w->stage + at, w->iov[i].iov_base, w->iov[i].iov_len);
            at += w->iov[i].iov_len;
        }
        if (fill)
            rec_fill_encode(w->stage + at, fill, lsn, stamp);
        memset(w->stage + at + fill, 0, zeros);
        w->iov[0] = (struct iovec){w->stage, total + fill + zeros};
        w->iovcnt = 1;
    } else if (fill) {
        rec_fill_encode(lg->fill_buf, fill, lsn, stamp);
        w->iov[w->iovcnt++] = (struct iovec){lg->fill_buf, fill};
    }
    w->off = seg->end;
    w->seg = lg->wseg;
    w->done = 0;
    seg->end += total + fill + zeros;
    int linked = !lg->direct && !lg->fsync_inflight;
    int r;
    w->submit_ns = clock_now_ns();
    if (lg->direct)
        r = lg->io->ops->submit_writev(lg->io, seg->dfd, w->iov, 1, w->off, RWF_DSYNC,
                                       next_tag(lg, w));
    else if (linked)
        r = lg->io->ops->submit_writev_fdatasync(lg->io, seg->fd, w->iov, w->iovcnt, w->off,
                                                 next_tag(lg, w));
    else
        r = lg->io->ops->submit_writev(lg->io, seg->fd, w->iov, w->iovcnt, w->off, 0,
                                       next_tag(lg, w));
    if (r) {
        poison(lg, r);
        return 0;
    }
    lg->w_count++;
    if (linked) {
        lg->write_broken = 0;
        lg->fsync_inflight = 1;
        lg->fsync_target = w->last_lsn;
        lg->fsync_submit_ns = w->submit_ns;
        lg->fsync_max_ts = lg->written_max_ts > w->max_ts ? lg->written_max_ts : w->max_ts;
    }
    atomic_fetch_add_explicit(&lg->st.batches, 1, memory_order_relaxed);
    return 1;
}

/* Whether the pending batch waits for more records: for linger_us when asked, and
 * while nobody waits for it to be written (MEMORY acks only) for up to memory_delay_us
 * until it fills LOG_HOLD_BYTES. Without the second, a trickle of MEMORY puts (150 k/s
 * of 144-byte records) became one 4 KiB O_DIRECT write per record or two: 15 device
 * bytes per user byte, and a writer thread busy enough to delay the producers. */
static int hold_batch(struct log *lg)
{
    uint64_t pending = lg->gather_pos - lg->write_pos, hold_ns = 0;
    if (atomic_load(&lg->stopping))
        return lg->hold_until = 0;
    if (lg->linger_us && pending < lg->batch_max_bytes)
        hold_ns = (uint64_t)lg->linger_us * 1000u;
    if (lg->memory_delay_us && pending < LOG_HOLD_BYTES &&
        atomic_load_explicit(&lg->want_lsn, memory_order_seq_cst) < lg->write_lsn &&
        (uint64_t)lg->memory_delay_us * 1000u > hold_ns)
        hold_ns = (uint64_t)lg->memory_delay_us * 1000u;
    if (!hold_ns)
        return lg->hold_until = 0;
    uint64_t now = clock_now_ns();
    if (!lg->hold_until)
        lg->hold_until = now + hold_ns;
    if (now < lg->hold_until)
        return 1;
    return lg->hold_until = 0;
}

void log_want(struct log *lg, uint64_t lsn)
{
    uint64_t cur = atomic_load_explicit(&lg->want_lsn, memory_order_relaxed);
    while (cur < lsn)
        if (atomic_compare_exchange_weak_explicit(&lg->want_lsn, &cur, lsn, memory_order_seq_cst,
                                                  memory_order_relaxed))
            break;
}

static int submit_write(struct log *lg)
{
    if (lg->w_count == lg->w_max || poisoned(lg) || lg->write_lsn == lg->gather_lsn)
        return 0;
    if (hold_batch(lg))
        return 0;
    hot_wrlock(lg->index);
    int r = seg_table_reserve_offs(&lg->index->segs, lg->wseg, lg->gather_lsn - lg->write_lsn);
    hot_unlock(lg->index);
    if (r) {
        poison(lg, r);
        return 0;
    }
    struct segment *seg = seg_at(&lg->index->segs, lg->wseg);
    struct log_write *w = write_at(lg, lg->w_count);
    uint64_t lsn, cursor;
    /* O_DIRECT writes start on a block; an unaligned end (a segment recovered with no
     * room left for a fill) means the segment is done */
    size_t total = lg->direct && seg->end % LOG_BLOCK ? 0 : lay_out_batch(lg, w, seg, &lsn, &cursor);
    if (!total) { /* the next record does not fit: continue in a new segment */
        if (lg->w_count) /* invariant 3: every earlier write completes first */
            return 0;
        r = roll_segment(lg);
        if (r < 0)
            poison(lg, r);
        return r == 0;
    }
    pthread_mutex_lock(&lg->obs.mu);
    hist_record(&lg->obs.batch_records, lsn - lg->write_lsn);
    hist_record(&lg->obs.batch_bytes, total);
    pthread_mutex_unlock(&lg->obs.mu);
    w->end_pos = cursor;
    w->last_lsn = lsn - 1;
    lg->write_pos = cursor;
    lg->write_lsn = lsn;
    lg->wrote_since_open = 1;
    return submit_batch(lg, w, seg, total, lsn);
}

/* On a clean close: one more write, only a stamped fill, so that recovery can tell
 * damage in the last batch from a torn write (invariant 7). */
static int submit_seal(struct log *lg)
{
    struct segment *seg = seg_at(&lg->index->segs, lg->wseg);
    if (lg->sealed || lg->w_count || lg->fsync_inflight || poisoned(lg) ||
        !lg->wrote_since_open || (lg->direct && seg->end % LOG_BLOCK) ||
        seg->end + rec_fill_size(seg->end) > seg->size)
        return 0;
    lg->sealed = 1;
    struct log_write *w = write_at(lg, 0);
    w->iovcnt = 0;
    w->end_pos = lg->write_pos;
    w->last_lsn = lg->write_lsn - 1;
    return submit_batch(lg, w, seg, 0, lg->write_lsn);
}

static int submit_fsync(struct log *lg)
{
    if (lg->fsync_inflight || poisoned(lg))
        return 0;
    uint64_t w = pos_load(&lg->progress->written), d = pos_load(&lg->progress->durable);
    if (w <= d)
        return 0;
    /* one file per sync: the segment holding the first record not yet durable, up to
     * its end (a later segment's records wait for the next sync) */
    const struct segment_table *t = &lg->index->segs;
    size_t j = seg_table_holding(t, d + 1);
    /* entries are never removed, and the first starts at or before the first LSN the
     * log ever held after open, so some entry holds d + 1 */
    SLUICE_ASSERT(j < t->n);
    uint64_t last = seg_last_lsn(t, j), target = w < last ? w : last;
    int r = lg->io->ops->submit_fdatasync(lg->io, seg_at(t, j)->fd, ++lg->tag << WRITE_TAG_BITS);
    if (r) {
        poison(lg, r);
        return 0;
    }
    lg->fsync_inflight = 1;
    lg->fsync_target = target;
    lg->fsync_submit_ns = clock_now_ns();
    lg->fsync_max_ts = lg->written_max_ts;
    return 1;
}

/* Releases written records from the oldest, keeping up to a quarter of the ring of them
 * as a read cache unless the ring is three quarters full. */
static void release_ring(struct log *lg)
{
    struct ring *rg = lg->ring;
    uint64_t written = pos_load(&lg->progress->written);
    uint64_t used = ring_claimed_pos(rg) - lg->release_pos;
    uint64_t keep = used > rg->size / 4 * 3 ? 0 : rg->size / 4;
    uint64_t cur = lg->release_pos, lsn = lg->release_lsn, pos;
    while (lsn <= written && lg->written_pos - cur > keep) {
        if (!ring_next(rg, &cur, lsn, &pos))
            break; /* cannot happen: written records are published */
        lsn++;
    }
    if (lsn == lg->release_lsn)
        return;
    hot_wrlock(lg->index);
    pthread_rwlock_wrlock(&lg->index->release_lock);
    lg->index->ring_released_lsn = lsn - 1;
    lg->index->ring_released_pos = cur;
    pthread_rwlock_unlock(&lg->index->release_lock);
    hot_unlock(lg->index);
    ring_release(rg, cur);
    lg->release_pos = cur;
    lg->release_lsn = lsn;
}

/* Acknowledges the completed writes at the head of the FIFO, in order (invariant 1). */
static void retire_writes(struct log *lg)
{
    uint64_t last = 0;
    while (lg->w_count && write_at(lg, 0)->done) {
        struct log_write *w = write_at(lg, 0);
        if (w->done > 0 && !poisoned(lg)) {
            last = w->last_lsn;
            lg->written_pos = w->end_pos;
            if (w->max_ts > lg->written_max_ts)
                lg->written_max_ts = w->max_ts;
        }
        lg->w_head = (lg->w_head + 1) % LOG_MAX_WRITES;
        lg->w_count--;
    }
    /* Invariant 4: nothing is acknowledged after the first error. */
    if (!last || poisoned(lg))
        return;
    pos_advance(&lg->progress->written, last);
    if (lg->direct) { /* RWF_DSYNC: the write's completion is its durability */
        atomic_max(&lg->st.newest_ts_durable, lg->written_max_ts);
        pos_advance(&lg->progress->durable, last);
    }
    check_lattice(lg);
    release_ring(lg);
}

static void write_done(struct log *lg, struct log_write *w, int res)
{
    size_t want = 0;
    for (int i = 0; i < w->iovcnt; i++)
        want += w->iov[i].iov_len;
    if (res == 0 && want)
        res = -EIO; /* a write that wrote nothing would be resubmitted forever */
    if (res == -EAGAIN || (res >= 0 && (size_t)res < want)) {
        if (res == -EAGAIN)
            atomic_fetch_add_explicit(&lg->st.eagain_retries, 1, memory_order_relaxed);
        /* Resubmit what is left: -EAGAIN whole, a short write from where it stopped.
         * A chained fdatasync is cancelled by the kernel; submit_fsync issues another. */
        if (!lg->direct)
            lg->write_broken = 1;
        if (res > 0) {
            atomic_fetch_add_explicit(&lg->st.short_writes, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
            size_t done = (size_t)res;
            w->off += done;
            int i = 0;
            while (done >= w->iov[i].iov_len)
                done -= w->iov[i++].iov_len;
            w->iov[i].iov_base = (uint8_t *)w->iov[i].iov_base + done;
            w->iov[i].iov_len -= done;
            memmove(w->iov, w->iov + i, sizeof(struct iovec) * (size_t)(w->iovcnt - i));
            w->iovcnt -= i;
        }
        struct segment *seg = seg_at(&lg->index->segs, w->seg);
        int r = lg->io->ops->submit_writev(lg->io, lg->direct ? seg->dfd : seg->fd, w->iov,
                                           w->iovcnt, w->off, lg->direct ? RWF_DSYNC : 0,
                                           next_tag(lg, w));
        if (r) {
            w->done = -1;
            poison(lg, r);
        }
        return;
    }
    if (res < 0) {
        w->done = -1;
        poison(lg, res);
    } else {
        w->done = 1;
        atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
        if (lg->direct)
            atomic_fetch_add_explicit(&lg->st.fsyncs, 1, memory_order_relaxed);
        pthread_mutex_lock(&lg->obs.mu);
        hist_record(&lg->obs.write_ns, clock_now_ns() - w->submit_ns);
        pthread_mutex_unlock(&lg->obs.mu);
    }
    retire_writes(lg);
}

static void fsync_done(struct log *lg, int res)
{
    lg->fsync_inflight = 0;
    if (res == -ECANCELED && lg->write_broken)
        return; /* the chain broke at a short write; nothing was synced */
    if (res < 0) {
        poison(lg, res);
        return;
    }
    /* Invariant 4: a sync that completes after the first error acknowledges nothing
     * (its write may be the one that failed). */
    if (poisoned(lg))
        return;
    atomic_fetch_add_explicit(&lg->st.fsyncs, 1, memory_order_relaxed);
    pthread_mutex_lock(&lg->obs.mu);
    hist_record(&lg->obs.fsync_ns, clock_now_ns() - lg->fsync_submit_ns);
    pthread_mutex_unlock(&lg->obs.mu);
    atomic_max(&lg->st.newest_ts_durable, lg->fsync_max_ts);
    pos_advance(&lg->progress->durable, lg->fsync_target);
    check_lattice(lg);
}

static int reap(struct log *lg)
{
    struct io_completion c[2 * IO_MAX_INFLIGHT];
    int n = lg->io->ops->reap(lg->io, c, 2 * IO_MAX_INFLIGHT);
    for (int i = 0; i < n; i++) {
        if (c[i].op == IO_OP_WRITE) {
            SLUICE_ALWAYS((c[i].tag & WRITE_TAG_MASK) < LOG_MAX_WRITES);
            write_done(lg, &lg->writes[c[i].tag & WRITE_TAG_MASK], c[i].res);
        } else {
            fsync_done(lg, c[i].res);
        }
    }
    return n;
}

static int finished(struct log *lg)
{
    if (!atomic_load(&lg->stopping) || lg->w_count || lg->fsync_inflight)
        return 0;
    if (poisoned(lg))
        return 1;
    uint64_t claimed = ring_claimed_lsn(lg->ring);
    if (pos_load(&lg->progress->durable) != claimed || lg->gather_lsn != claimed + 1)
        return 0;
    return !submit_seal(lg);
}

static void drain_eventfd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing was pending */
}

static int ring_has_record(struct log *lg)
{
    uint64_t probe = lg->gather_pos, pos;
    return ring_next(lg->ring, &probe, lg->gather_lsn, &pos) != NULL;
}

/* While a batch is held back (hold_batch), the writer naps instead of sleeping: it does
 * not announce sleep, so producers of MEMORY records do not ring the doorbell for each
 * record, and it gathers whatever arrived once per nap. At 150 k puts/s the per-record
 * wake-ups had kept the writer busy on 90 % of a core, which on two cores took the
 * producer's CPU and became milliseconds of put latency. Whoever needs it sooner kicks
 * it when it sees `napping`: a WRITTEN/DURABLE put after publishing (it stored want_lsn
 * first), sluice_wait and sluice_flush, and a read that outran indexing. */
#define NAP_NS 200000u

static void nap(struct log *lg)
{
    atomic_store_explicit(&lg->napping, 1, memory_order_seq_cst);
    /* a waiter that stored want_lsn before we announced the nap is seen here (Dekker
     * with log_nudge); a linger holds even for waiters */
    if (lg->linger_us || atomic_load_explicit(&lg->want_lsn, memory_order_seq_cst) < lg->write_lsn) {
        uint64_t now = clock_now_ns(), ns = lg->hold_until > now ? lg->hold_until - now : 0;
        ns = ns < NAP_NS ? ns : NAP_NS;
        struct timespec t = {.tv_sec = 0, .tv_nsec = (long)ns};
        struct pollfd p[2] = {{.fd = lg->doorbell_fd, .events = POLLIN},
                              {.fd = lg->io->ops->event_fd(lg->io), .events = POLLIN}};
        if (ppoll(p, 2, &t, NULL) > 0) {
            drain_eventfd(lg->doorbell_fd);
            drain_eventfd(p[1].fd);
        }
    }
    atomic_store_explicit(&lg->napping, 0, memory_order_relaxed);
}

void log_nudge(struct log *lg)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&lg->napping, memory_order_relaxed))
        log_kick(lg);
}

static void sleep_until_work(struct log *lg)
{
    /* (a hold that ran out with every write slot busy, or a poisoned log: sleep) */
    if (lg->hold_until && clock_now_ns() < lg->hold_until && !poisoned(lg)) {
        nap(lg);
        return;
    }
    /* A short spin catches a producer that is mid-copy without two syscalls. */
    uint64_t until = clock_now_ns() + WRITER_SPIN_NS;
    while (clock_now_ns() < until)
        if (ring_has_record(lg))
            return;
    ring_consumer_sleeping(lg->ring, 1);
    /* a poisoned log gathers nothing more: records left in the ring are no work (the
     * writer spun on them when an allocation kept failing) */
    if (!poisoned(lg) && ring_has_record(lg)) {
        ring_consumer_sleeping(lg->ring, 0);
        return;
    }
    /* Everything rings an eventfd: a producer, a waiter, an I/O completion, or log_stop. */
    struct pollfd p[2] = {{.fd = lg->doorbell_fd, .events = POLLIN},
                          {.fd = lg->io->ops->event_fd(lg->io), .events = POLLIN}};
    (void)poll(p, 2, -1);
    ring_consumer_sleeping(lg->ring, 0);
    drain_eventfd(lg->doorbell_fd);
    drain_eventfd(p[1].fd);
}

static void *writer_main(void *arg)
{
    struct log *lg = arg;
    for (;;) {
        int progress = reap(lg);
        progress += gather(lg);
        release_ring(lg); /* the ring may have filled since the last completion */
        progress += submit_write(lg);
        progress += submit_fsync(lg);
        if (finished(lg))
            break;
        if (!progress)
            sleep_until_work(lg);
    }
    return NULL;
}

/* What log_start allocates for the writer; log_stop frees it. */
static void writer_free(struct log *lg)
{
    free(lg->fill_buf);
    lg->fill_buf = NULL;
    for (int i = 0; i < LOG_MAX_WRITES; i++) {
        free(lg->writes[i].stage);
        lg->writes[i].stage = NULL;
    }
}

static int writer_alloc(struct log *lg)
{
    lg->fill_buf = malloc(REC_FILL_MAX);
    if (!lg->fill_buf)
        return SLUICE_ENOMEM;
    if (!lg->direct)
        return 0;
    /* the largest batch (lay_out_batch): batch_max_bytes, or one record larger than that;
     * then its fill, or the zeros of a segment's last bytes (fewer) */
    lg->stage_bytes = lg->batch_max_bytes + rec_size(SLUICE_KEY_MAX, SLUICE_VALUE_MAX) + REC_FILL_MAX;
    lg->stage_bytes = (lg->stage_bytes + LOG_BLOCK - 1) & ~(size_t)(LOG_BLOCK - 1);
    for (int i = 0; i < LOG_MAX_WRITES; i++) {
        void *p;
        if (posix_memalign(&p, LOG_BLOCK, lg->stage_bytes))
            return SLUICE_ENOMEM;
        lg->writes[i].stage = p;
    }
    return 0;
}

int log_start(struct log *lg, int doorbell_fd, void (*on_seal)(void *arg), void *on_seal_arg)
{
    lg->doorbell_fd = doorbell_fd;
    lg->on_seal = on_seal;
    lg->on_seal_arg = on_seal_arg;
    lg->gather_pos = lg->write_pos = lg->written_pos = lg->release_pos = 0;
    lg->write_lsn = lg->release_lsn = lg->gather_lsn;
    lg->wseg = (uint32_t)(lg->index->segs.n - 1);
    int dfd = lg->prefer_buffered ? -EINVAL : open_direct(lg, lg->wseg);
    if (dfd < 0 && dfd != -EINVAL)
        return dfd;
    /* the segment table owns the descriptor from here: log_destroy closes it */
    if (dfd >= 0)
        seg_at(&lg->index->segs, lg->wseg)->dfd = dfd;
    lg->direct = dfd >= 0;
    lg->w_max = lg->direct ? LOG_MAX_WRITES : 1;
    int r = writer_alloc(lg);
    if (!r)
        r = prep_start(&lg->prep, lg->io, lg->logdir, lg->seg_start_bytes);
    if (!r) {
        thread_place(lg->prep.thread, lg->cpus);
        r = -pthread_create(&lg->thread, NULL, writer_main, lg);
    }
    if (r) {
        prep_stop(&lg->prep);
        writer_free(lg);
        return r;
    }
    thread_place(lg->thread, lg->cpus);
    lg->thread_started = 1;
    return 0;
}

void log_kick(struct log *lg)
{
    if (lg->doorbell_fd < 0) /* not started: a reader's log has no writer to wake */
        return;
    uint64_t one = 1;
    ssize_t w = write(lg->doorbell_fd, &one, sizeof one);
    (void)w;
}

/* A clean close gives back what the last segment does not use: every record and the
 * seal are durable, the rest of the file is zeros. The next open finds the segment full
 * and rolls to a new one. A segment without records keeps the start size, so the next
 * open writes into it. A failed truncation leaves the file as it was, which recovery
 * reads the same way: nothing depends on it. */
static void trim_last_segment(struct log *lg)
{
    struct segment *seg = seg_at(&lg->index->segs, lg->wseg);
    uint64_t keep = seg->first_lsn == lg->write_lsn ? lg->seg_start_bytes : seg->end;
    if (poisoned(lg) || seg->fd < 0 || keep >= seg->size || keep < seg->end)
        return;
    if (lg->io->ops->truncate(lg->io, seg->fd, keep) == 0) {
        hot_wrlock(lg->index); /* sluice_stats reads sizes under the read lock */
        seg->size = keep;
        hot_unlock(lg->index);
    }
}

int log_drain(struct log *lg)
{
    if (lg->thread_started) {
        atomic_store(&lg->stopping, 1);
        log_kick(lg);
        pthread_join(lg->thread, NULL);
        lg->thread_started = 0;
        trim_last_segment(lg);
    }
    return atomic_load(&lg->poison_cause);
}

int log_stop(struct log *lg)
{
    int r = log_drain(lg);
    prep_stop(&lg->prep);
    writer_free(lg);
    return r;
}
