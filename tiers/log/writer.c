/*
 * The log writer: one thread that drains the ring into segment files with group commit.
 *
 * DESIGN. Each turn of the loop does whatever is ready, in this order, and sleeps only
 * when nothing was:
 *   reap     write completion: advance `written`, release ring bytes to producers;
 *            fdatasync completion: advance `durable`
 *   gather   index every published record (memory only; readers see it at once)
 *   write    at most one write in flight: every gathered record not yet written, up to
 *            batch_max_bytes, laid out now (segment, offset), ended by a fill record on
 *            a 4 KiB boundary. Direct mode (the default): copied into an aligned staging
 *            buffer and written O_DIRECT with RWF_DSYNC, so its one completion makes the
 *            batch written and durable (measured here: at the disk's own write+fdatasync
 *            latency, while a buffered io_uring write alone cost ~40 us in a worker
 *            thread). Buffered mode (filesystems without O_DIRECT): straight from ring
 *            memory, chained to an fdatasync when none is running.
 *   sync     buffered mode only: at most one fdatasync in flight, covering exactly the
 *            writes that had completed when it was submitted
 * so a batch forms by itself while the previous write or sync runs: small at low load,
 * large at high load, no timer (linger_us adds one only when asked).
 * It sleeps in poll() on the doorbell (rung by producers only when it announced sleep)
 * and the I/O completion eventfd, so it never blocks inside I/O while records wait.
 *
 * Invariants:
 *  1. Writes complete in LSN order (one in flight), so `written` always covers a
 *     contiguous prefix of the log.
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

#include "clock.h"
#include "log.h"
#include "sluice.h"

/* Records indexed per hold of the index write lock: bounds how long a reader waits. */
#define GATHER_CHUNK 256

static void poison(struct log *lg, int cause)
{
    int expected = 0;
    atomic_compare_exchange_strong(&lg->poison_cause, &expected, cause);
    atomic_store_explicit(&lg->poison, SLUICE_EPOISONED, memory_order_release);
    pos_wake_all(&lg->written);
    pos_wake_all(&lg->durable);
    pos_wake_all(&lg->indexed);
    pos_wake_all(&lg->ring->released);
}

static int poisoned(struct log *lg) { return atomic_load_explicit(&lg->poison, memory_order_acquire); }

static int gather(struct log *lg)
{
    int total = 0;
    size_t bytes = 0;
    while (bytes < lg->batch_max_bytes) {
        uint64_t probe = lg->gather_pos, rec_pos;
        if (!ring_next(lg->ring, &probe, lg->gather_lsn, &rec_pos))
            break;
        int n = 0;
        hot_wrlock(lg->index);
        while (n < GATHER_CHUNK) {
            uint64_t cursor = lg->gather_pos;
            const struct rec_hdr *h = ring_next(lg->ring, &cursor, lg->gather_lsn, &rec_pos);
            if (!h)
                break;
            int r = hot_insert(lg->index, h, rec_pos);
            if (r) {
                hot_unlock(lg->index);
                poison(lg, r);
                return total;
            }
            atomic_fetch_add_explicit(&lg->st.puts, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&lg->st.put_bytes, h->klen + h->vlen, memory_order_relaxed);
            bytes += rec_size(h->klen, h->vlen);
            lg->gather_pos = cursor;
            lg->gather_lsn++;
            n++;
        }
        hot_unlock(lg->index);
        pos_advance(&lg->indexed, lg->gather_lsn - 1);
        total += n;
    }
    return total;
}

/* Opens the O_DIRECT descriptor of segment idx; -EINVAL where the filesystem has none. */
static int open_direct(struct log *lg, uint32_t idx)
{
    char name[32], path[4096];
    seg_filename(name, lg->index->segs[idx].first_lsn);
    snprintf(path, sizeof path, "%s/%s", lg->logdir, name);
    return lg->io->ops->open(lg->io, path, O_RDWR | O_DIRECT, 0);
}

/* Opens the segment that starts at write_lsn; 0, 1 = not yet (earlier data not durable),
 * or an error. Costs a few syncs in this thread (header, rename, directory); the
 * zero-filling was done ahead by the preparer. */
static int roll_segment(struct log *lg)
{
    /* Invariant 3. The write path keeps an fdatasync running while anything is
     * unsynced, so this wait ends by itself. */
    if (pos_load(&lg->durable) + 1 < lg->write_lsn || lg->fsync_inflight)
        return 1;
    const char *spare = prep_take(&lg->prep);
    int fd = seg_install(lg->io, lg->logdir, spare, lg->uuid, lg->next_seq, lg->write_lsn,
                         lg->segment_bytes);
    prep_request(&lg->prep);
    if (fd < 0)
        return fd;
    hot_wrlock(lg->index);
    int idx = hot_add_segment(lg->index, lg->next_seq, lg->write_lsn, lg->segment_bytes, fd);
    hot_unlock(lg->index);
    if (idx < 0) {
        lg->io->ops->close(lg->io, fd);
        return idx;
    }
    if (lg->direct) {
        int dfd = open_direct(lg, (uint32_t)idx);
        if (dfd < 0)
            return dfd;
        lg->index->segs[idx].dfd = dfd;
    }
    lg->next_seq++;
    lg->wseg = (uint32_t)idx;
    atomic_fetch_add_explicit(&lg->st.segments_created, 1, memory_order_relaxed);
    return 0;
}

/* Lays out the next batch into lg->iov; returns its record bytes (0: nothing fits). */
static size_t lay_out_batch(struct log *lg, struct hot_segment *seg, uint64_t *lsn_out,
                            uint64_t *cursor_out)
{
    size_t room = seg->size - seg->end, total = 0;
    uint64_t lsn = lg->write_lsn, cursor = lg->write_pos, pos;
    lg->iovcnt = 0;
    while (lsn < lg->gather_lsn) {
        uint64_t next = cursor;
        const struct rec_hdr *h = ring_next(lg->ring, &next, lsn, &pos);
        size_t size = rec_size(h->klen, h->vlen);
        if (total + size > room || (total && total + size > lg->batch_max_bytes))
            break;
        struct iovec *last = lg->iovcnt ? &lg->iov[lg->iovcnt - 1] : NULL;
        if (last && (uint8_t *)last->iov_base + last->iov_len == (uint8_t *)ring_at(lg->ring, pos)) {
            last->iov_len += size;
        } else {
            if (lg->iovcnt == IO_MAX_IOV - 1) /* keep one for the fill */
                break;
            lg->iov[lg->iovcnt++] = (struct iovec){ring_at(lg->ring, pos), size};
        }
        hot_push_off(seg, seg->end + total);
        total += size;
        lsn++;
        cursor = next;
    }
    *lsn_out = lsn;
    *cursor_out = cursor;
    return total;
}

static int submit_write(struct log *lg)
{
    if (lg->write_inflight || poisoned(lg) || lg->write_lsn == lg->gather_lsn)
        return 0;
    if (lg->linger_us && lg->gather_pos - lg->write_pos < lg->batch_max_bytes &&
        !atomic_load(&lg->stopping)) {
        uint64_t now = clock_now_ns();
        if (!lg->linger_since)
            lg->linger_since = now;
        if (now - lg->linger_since < (uint64_t)lg->linger_us * 1000u)
            return 0;
    }
    lg->linger_since = 0;
    hot_wrlock(lg->index);
    int r = hot_reserve_offs(lg->index, lg->wseg, lg->gather_lsn - lg->write_lsn);
    hot_unlock(lg->index);
    if (r) {
        poison(lg, r);
        return 0;
    }
    struct hot_segment *seg = &lg->index->segs[lg->wseg];
    uint64_t lsn, cursor;
    /* O_DIRECT writes start on a block; an unaligned end (a segment recovered with no
     * room left for a fill) means the segment is done */
    size_t total = lg->direct && seg->end % LOG_BLOCK ? 0 : lay_out_batch(lg, seg, &lsn, &cursor);
    if (!total) { /* the next record does not fit: continue in a new segment */
        r = roll_segment(lg);
        if (r < 0)
            poison(lg, r);
        return r == 0;
    }
    size_t fill = rec_fill_size(seg->end + total), zeros = 0;
    if (seg->end + total + fill > seg->size) {
        /* The segment's last bytes, fewer than a header: too few for any record. O_DIRECT
         * still needs whole blocks, so they are written as zeros, which the walker reads
         * as the end of the segment. */
        fill = 0;
        zeros = lg->direct ? seg->size - (seg->end + total) : 0;
    }
    if (lg->direct) {
        size_t at = 0;
        for (int i = 0; i < lg->iovcnt; i++) {
            memcpy(lg->stage + at, lg->iov[i].iov_base, lg->iov[i].iov_len);
            at += lg->iov[i].iov_len;
        }
        if (fill)
            rec_fill_encode(lg->stage + at, fill, lsn);
        memset(lg->stage + at, 0, zeros);
        fill += zeros;
        lg->iov[0] = (struct iovec){lg->stage, total + fill};
        lg->iovcnt = 1;
    } else if (fill) {
        rec_fill_encode(lg->fill_buf, fill, lsn);
        lg->iov[lg->iovcnt++] = (struct iovec){lg->fill_buf, fill};
    }
    lg->write_off = seg->end;
    seg->end += total + fill;
    lg->batch_end_pos = cursor;
    lg->batch_last_lsn = lsn - 1;
    lg->write_pos = cursor;
    lg->write_lsn = lsn;
    int linked = !lg->direct && !lg->fsync_inflight;
    if (lg->direct)
        r = lg->io->ops->submit_writev(lg->io, seg->dfd, lg->iov, 1, lg->write_off, RWF_DSYNC,
                                       ++lg->tag);
    else if (linked)
        r = lg->io->ops->submit_writev_fdatasync(lg->io, seg->fd, lg->iov, lg->iovcnt,
                                                 lg->write_off, ++lg->tag);
    else
        r = lg->io->ops->submit_writev(lg->io, seg->fd, lg->iov, lg->iovcnt, lg->write_off, 0,
                                       ++lg->tag);
    if (r) {
        poison(lg, r);
        return 0;
    }
    lg->write_inflight = 1;
    lg->write_broken = 0;
    if (linked) {
        lg->fsync_inflight = 1;
        lg->fsync_target = lg->batch_last_lsn;
    }
    atomic_fetch_add_explicit(&lg->st.batches, 1, memory_order_relaxed);
    return 1;
}

static int submit_fsync(struct log *lg)
{
    if (lg->fsync_inflight || poisoned(lg))
        return 0;
    uint64_t w = pos_load(&lg->written), d = pos_load(&lg->durable);
    if (w <= d)
        return 0;
    struct hot_index *x = lg->index;
    size_t j = x->nsegs - 1;
    while (j > 0 && x->segs[j].first_lsn > d + 1)
        j--;
    uint64_t target = w;
    if (j + 1 < x->nsegs && x->segs[j + 1].first_lsn - 1 < target)
        target = x->segs[j + 1].first_lsn - 1;
    int r = lg->io->ops->submit_fdatasync(lg->io, x->segs[j].fd, ++lg->tag);
    if (r) {
        poison(lg, r);
        return 0;
    }
    lg->fsync_inflight = 1;
    lg->fsync_target = target;
    return 1;
}

/* Releases written records from the oldest, keeping up to a quarter of the ring of them
 * as a read cache unless the ring is three quarters full. */
static void release_ring(struct log *lg)
{
    struct ring *rg = lg->ring;
    uint64_t written = pos_load(&lg->written);
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
    lg->index->ring_released_lsn = lsn - 1;
    hot_unlock(lg->index);
    ring_release(rg, cur);
    lg->release_pos = cur;
    lg->release_lsn = lsn;
}

static void write_done(struct log *lg, int res)
{
    size_t want = 0;
    for (int i = 0; i < lg->iovcnt; i++)
        want += lg->iov[i].iov_len;
    if (res == -EAGAIN || (res >= 0 && (size_t)res < want)) {
        /* Resubmit what is left: -EAGAIN whole, a short write from where it stopped.
         * A chained fdatasync is cancelled by the kernel; submit_fsync issues another. */
        lg->write_broken = 1;
        if (res > 0) {
            atomic_fetch_add_explicit(&lg->st.short_writes, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
            size_t done = (size_t)res;
            lg->write_off += done;
            int i = 0;
            while (done >= lg->iov[i].iov_len)
                done -= lg->iov[i++].iov_len;
            lg->iov[i].iov_base = (uint8_t *)lg->iov[i].iov_base + done;
            lg->iov[i].iov_len -= done;
            memmove(lg->iov, lg->iov + i, sizeof(struct iovec) * (size_t)(lg->iovcnt - i));
            lg->iovcnt -= i;
        }
        struct hot_segment *seg = &lg->index->segs[lg->wseg];
        int r = lg->io->ops->submit_writev(lg->io, lg->direct ? seg->dfd : seg->fd, lg->iov,
                                           lg->iovcnt, lg->write_off,
                                           lg->direct ? RWF_DSYNC : 0, ++lg->tag);
        if (r) {
            lg->write_inflight = 0;
            poison(lg, r);
        }
        return;
    }
    lg->write_inflight = 0;
    if (res < 0) {
        poison(lg, res);
        return;
    }
    if (poisoned(lg))
        return; /* invariant 4: nothing is acknowledged after the first error */
    atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
    lg->written_pos = lg->batch_end_pos;
    pos_advance(&lg->written, lg->batch_last_lsn);
    if (lg->direct) { /* RWF_DSYNC: the write's completion is its durability */
        atomic_fetch_add_explicit(&lg->st.fsyncs, 1, memory_order_relaxed);
        pos_advance(&lg->durable, lg->batch_last_lsn);
    }
    release_ring(lg);
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
    pos_advance(&lg->durable, lg->fsync_target);
}

static int reap(struct log *lg)
{
    struct io_completion c[IO_MAX_INFLIGHT];
    int n = lg->io->ops->reap(lg->io, c, IO_MAX_INFLIGHT);
    for (int i = 0; i < n; i++) {
        if (c[i].op == IO_OP_WRITE)
            write_done(lg, c[i].res);
        else
            fsync_done(lg, c[i].res);
    }
    return n;
}

static int finished(struct log *lg)
{
    if (!atomic_load(&lg->stopping) || lg->write_inflight || lg->fsync_inflight)
        return 0;
    if (poisoned(lg))
        return 1;
    uint64_t claimed = ring_claimed_lsn(lg->ring);
    return pos_load(&lg->durable) == claimed && lg->gather_lsn == claimed + 1;
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

static void sleep_until_work(struct log *lg)
{
    /* A short spin catches a producer that is mid-copy without two syscalls. */
    uint64_t until = clock_now_ns() + 5000;
    while (clock_now_ns() < until)
        if (ring_has_record(lg))
            return;
    ring_consumer_sleeping(lg->ring, 1);
    if (ring_has_record(lg)) {
        ring_consumer_sleeping(lg->ring, 0);
        return;
    }
    /* Nothing wakes a linger but the clock. Everything else rings an eventfd: a
     * producer, an I/O completion, or log_stop. */
    int timeout = lg->linger_since ? (int)(lg->linger_us / 1000u) + 1 : -1;
    struct pollfd p[2] = {{.fd = lg->doorbell_fd, .events = POLLIN},
                          {.fd = lg->io->ops->event_fd(lg->io), .events = POLLIN}};
    (void)poll(p, 2, timeout);
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

int log_start(struct log *lg)
{
    lg->fill_buf = malloc(REC_FILL_MAX);
    if (!lg->fill_buf)
        return SLUICE_ENOMEM;
    lg->gather_pos = lg->write_pos = lg->written_pos = lg->release_pos = 0;
    lg->write_lsn = lg->release_lsn = lg->gather_lsn;
    lg->wseg = (uint32_t)(lg->index->nsegs - 1);
    int dfd = lg->prefer_buffered ? -EINVAL : open_direct(lg, lg->wseg);
    if (dfd >= 0) {
        /* the largest batch: batch_max_bytes, or one record larger than that */
        lg->stage_bytes = lg->batch_max_bytes + SLUICE_VALUE_MAX + 1024 + REC_FILL_MAX;
        lg->stage_bytes = (lg->stage_bytes + LOG_BLOCK - 1) & ~(size_t)(LOG_BLOCK - 1);
        void *p;
        if (posix_memalign(&p, LOG_BLOCK, lg->stage_bytes)) {
            lg->io->ops->close(lg->io, dfd);
            return SLUICE_ENOMEM;
        }
        lg->stage = p;
        lg->direct = 1;
        lg->index->segs[lg->wseg].dfd = dfd;
    } else if (dfd != -EINVAL) {
        return dfd;
    }
    int r = prep_start(&lg->prep, lg->io, lg->logdir, lg->segment_bytes);
    if (r)
        return r;
    r = pthread_create(&lg->thread, NULL, writer_main, lg);
    if (r)
        return -r;
    lg->thread_started = 1;
    return 0;
}

void log_kick(struct log *lg)
{
    uint64_t one = 1;
    ssize_t w = write(lg->doorbell_fd, &one, sizeof one);
    (void)w;
}

int log_stop(struct log *lg)
{
    if (lg->thread_started) {
        atomic_store(&lg->stopping, 1);
        log_kick(lg);
        pthread_join(lg->thread, NULL);
        lg->thread_started = 0;
    }
    prep_stop(&lg->prep);
    return atomic_load(&lg->poison_cause);
}

void log_destroy(struct log *lg)
{
    prep_stop(&lg->prep);
    free(lg->fill_buf);
    free(lg->stage);
    lg->fill_buf = lg->stage = NULL;
    if (lg->index && lg->index->segs)
        for (size_t i = 0; i < lg->index->nsegs; i++) {
            if (lg->index->segs[i].fd >= 0)
                lg->io->ops->close(lg->io, lg->index->segs[i].fd);
            if (lg->index->segs[i].dfd >= 0)
                lg->io->ops->close(lg->io, lg->index->segs[i].dfd);
        }
}
