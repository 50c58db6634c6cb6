/*
 * The log writer: one thread that drains the ring into segment files with group commit.
 *
 * DESIGN. Each turn of the loop does whatever is ready, in this order, and sleeps only
 * when nothing was:
 *   gather   index every published record (memory only; readers see it at once) and
 *            lay it out: (segment, offset) chosen now, bytes appended to a run
 *   reap     write completion: advance `written`, release ring bytes to producers;
 *            fdatasync completion: advance `durable`
 *   write    at most one writev in flight: the oldest runs, straight from ring memory
 *   sync     at most one fdatasync in flight, covering exactly the writes that had
 *            completed when it was submitted
 * so a batch forms by itself while the previous write or sync runs: small at low load,
 * large at high load, no timer (linger_us adds one only when asked).
 * It sleeps in poll() on the doorbell (rung by producers only when it announced sleep)
 * and the I/O completion eventfd, so it never blocks inside I/O while records wait.
 *
 * Invariants:
 *  1. Runs are written in FIFO order; `written` is the last LSN of the last completed
 *     run, so it only ever covers a contiguous prefix. A run is sealed when submitted:
 *     what the write covers is exactly what its completion credits.
 *  2. `durable` advances to a target <= `written` at the time the fdatasync was
 *     submitted, and only within the synced segment.
 *  3. A new segment is created only once every earlier record is durable, so a power
 *     cut can never leave an earlier segment shorter than its successor expects.
 *  4. The first write or sync error poisons the log: nothing is retried or acknowledged
 *     after it (a failed fdatasync may have dropped dirty pages: PostgreSQL's fsyncgate).
 *  5. Ring bytes are released only after their write completed, and ring_released_lsn
 *     is raised under the index write lock first, so no reader copies released bytes.
 *
 * Shutdown: log_stop sets `stopping` and rings the doorbell; the loop exits once every
 * claimed record is durable (or the log is poisoned) and no I/O is in flight; log_stop
 * joins the thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sluice.h"

struct log_run {
    uint64_t ring_from, ring_to; /* contiguous ring bytes [from, to) */
    uint64_t release_to;         /* ring cursor after the run's last record */
    uint32_t seg;
    uint64_t file_off;
    uint64_t first_lsn, last_lsn;
    int sealed; /* part of a submitted write: never extended again */
};

/* Records indexed per hold of the index write lock: bounds how long a reader waits. */
#define GATHER_CHUNK 256

static inline struct log_run *run_at(struct log *lg, size_t i)
{
    return &lg->runs[(lg->runs_head + i) % lg->runs_cap];
}

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

/* Places one record; write lock held. */
static int lay_out(struct log *lg, const struct rec_hdr *h, uint64_t rec_pos, uint64_t cursor)
{
    size_t size = rec_size(h->klen, h->vlen);
    struct hot_index *x = lg->index;
    if (x->segs[lg->layout_seg].end + size > lg->segment_bytes) {
        int idx = hot_add_segment(x, lg->next_seq, h->lsn, -1);
        if (idx < 0)
            return idx;
        lg->next_seq++;
        lg->layout_seg = (uint32_t)idx;
    }
    struct hot_segment *seg = &x->segs[lg->layout_seg];
    uint64_t off = seg->end;
    int r = hot_insert(x, h, rec_pos, lg->layout_seg, (uint32_t)off);
    if (r)
        return r;
    seg->end += size;

    struct log_run *last = lg->runs_count ? run_at(lg, lg->runs_count - 1) : NULL;
    if (last && !last->sealed && last->seg == lg->layout_seg && last->ring_to == rec_pos &&
        (rec_pos & lg->ring->mask) != 0 &&
        last->ring_to - last->ring_from + size <= lg->batch_max_bytes) {
        last->ring_to += size;
        last->last_lsn = h->lsn;
        last->release_to = cursor;
    } else {
        /* sized in log_start so that it cannot fill: see runs_cap there */
        struct log_run *run = run_at(lg, lg->runs_count++);
        *run = (struct log_run){.ring_from = rec_pos, .ring_to = rec_pos + size,
                                .release_to = cursor, .seg = lg->layout_seg,
                                .file_off = off, .first_lsn = h->lsn, .last_lsn = h->lsn};
    }
    atomic_fetch_add_explicit(&lg->st.puts, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lg->st.put_bytes, h->klen + h->vlen, memory_order_relaxed);
    return 0;
}

static int gather(struct log *lg)
{
    int total = 0;
    size_t bytes = 0;
    while (bytes < lg->batch_max_bytes && lg->runs_count + 2 < lg->runs_cap) {
        uint64_t probe = lg->gather_pos, rec_pos;
        if (!ring_next(lg->ring, &probe, lg->gather_lsn, &rec_pos))
            break;
        int n = 0;
        hot_wrlock(lg->index);
        while (n < GATHER_CHUNK && lg->runs_count + 2 < lg->runs_cap) {
            uint64_t cursor = lg->gather_pos;
            const struct rec_hdr *h = ring_next(lg->ring, &cursor, lg->gather_lsn, &rec_pos);
            if (!h)
                break;
            int r = lay_out(lg, h, rec_pos, cursor);
            if (r) {
                hot_unlock(lg->index);
                poison(lg, r);
                return total;
            }
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

static int create_segment(struct log *lg, uint32_t segidx)
{
    struct hot_segment *s = &lg->index->segs[segidx];
    int fd = seg_create(lg->io, lg->logdir, lg->uuid, s->seq, s->first_lsn, lg->segment_bytes);
    if (fd < 0)
        return fd;
    hot_wrlock(lg->index);
    lg->index->segs[segidx].fd = fd;
    hot_unlock(lg->index);
    atomic_fetch_add_explicit(&lg->st.segments_created, 1, memory_order_relaxed);
    return 0;
}

static int submit_write(struct log *lg)
{
    if (lg->write_inflight || !lg->runs_count || poisoned(lg))
        return 0;
    struct log_run *first = run_at(lg, 0);
    struct hot_segment *seg = &lg->index->segs[first->seg];
    if (seg->fd < 0) {
        /* Invariant 3: the previous segment must be wholly durable first. */
        if (pos_load(&lg->durable) + 1 < first->first_lsn)
            return 0;
        int r = create_segment(lg, first->seg);
        if (r) {
            poison(lg, r);
            return 0;
        }
    }
    size_t total = 0, k = 0;
    while (k < lg->runs_count && k < IO_MAX_IOV) {
        struct log_run *run = run_at(lg, k);
        size_t len = run->ring_to - run->ring_from;
        if (k && (run->seg != first->seg || run->file_off != first->file_off + total ||
                  total + len > lg->batch_max_bytes))
            break;
        total += len;
        k++;
    }
    if (lg->linger_us && total < lg->batch_max_bytes) {
        uint64_t now = clock_now_ns();
        if (!lg->linger_since)
            lg->linger_since = now;
        if (now - lg->linger_since < (uint64_t)lg->linger_us * 1000u &&
            !atomic_load(&lg->stopping))
            return 0;
    }
    for (size_t i = 0; i < k; i++) {
        struct log_run *run = run_at(lg, i);
        lg->iov[i].iov_base = ring_at(lg->ring, run->ring_from);
        lg->iov[i].iov_len = run->ring_to - run->ring_from;
        run->sealed = 1;
    }
    lg->linger_since = 0;
    lg->iovcnt = (int)k;
    lg->write_runs = k;
    lg->write_off = first->file_off;
    int r = lg->io->ops->submit_writev(lg->io, seg->fd, lg->iov, lg->iovcnt, lg->write_off,
                                       ++lg->tag);
    if (r) {
        poison(lg, r);
        return 0;
    }
    lg->write_inflight = 1;
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

static void write_done(struct log *lg, int res)
{
    size_t want = 0;
    for (int i = 0; i < lg->iovcnt; i++)
        want += lg->iov[i].iov_len;
    if (res == -EAGAIN || (res >= 0 && (size_t)res < want)) {
        /* Resubmit what is left: -EAGAIN whole, a short write from where it stopped. */
        if (res > 0) {
            atomic_fetch_add_explicit(&lg->st.short_writes, 1, memory_order_relaxed);
            size_t done = (size_t)res;
            lg->write_off += done;
            int i = 0;
            while (done >= lg->iov[i].iov_len)
                done -= lg->iov[i++].iov_len;
            lg->iov[i].iov_base = (uint8_t *)lg->iov[i].iov_base + done;
            lg->iov[i].iov_len -= done;
            memmove(lg->iov, lg->iov + i, sizeof(struct iovec) * (size_t)(lg->iovcnt - i));
            lg->iovcnt -= i;
            atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
        }
        int fd = lg->index->segs[run_at(lg, 0)->seg].fd;
        int r = lg->io->ops->submit_writev(lg->io, fd, lg->iov, lg->iovcnt, lg->write_off,
                                           ++lg->tag);
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
    atomic_fetch_add_explicit(&lg->st.log_bytes, (uint64_t)res, memory_order_relaxed);
    struct log_run *last = run_at(lg, lg->write_runs - 1);
    uint64_t written = last->last_lsn, release_to = last->release_to;
    lg->runs_head = (lg->runs_head + lg->write_runs) % lg->runs_cap;
    lg->runs_count -= lg->write_runs;
    hot_wrlock(lg->index);
    lg->index->ring_released_lsn = written;
    hot_unlock(lg->index);
    pos_advance(&lg->written, written);
    ring_release(lg->ring, release_to);
}

static int reap(struct log *lg)
{
    struct io_completion c[IO_MAX_INFLIGHT];
    int n = lg->io->ops->reap(lg->io, c, IO_MAX_INFLIGHT);
    for (int i = 0; i < n; i++) {
        if (c[i].op == IO_OP_WRITE) {
            write_done(lg, c[i].res);
        } else {
            lg->fsync_inflight = 0;
            if (c[i].res < 0) {
                poison(lg, c[i].res);
            } else {
                atomic_fetch_add_explicit(&lg->st.fsyncs, 1, memory_order_relaxed);
                pos_advance(&lg->durable, lg->fsync_target);
            }
        }
    }
    return n;
}

static int finished(struct log *lg)
{
    if (!atomic_load(&lg->stopping) || lg->write_inflight || lg->fsync_inflight)
        return 0;
    if (poisoned(lg))
        return 1;
    return pos_load(&lg->durable) == ring_claimed_lsn(lg->ring) &&
           lg->gather_lsn == ring_claimed_lsn(lg->ring) + 1;
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
    /* A run ends at a batch boundary, a wrap of the ring or a segment boundary; the
     * unwritten bytes never exceed the ring, which bounds the number of runs. */
    lg->runs_cap = lg->ring->size / lg->batch_max_bytes +
                   lg->ring->size / ((lg->segment_bytes - SEG_HEADER_BYTES) / 2) + 16;
    lg->runs = calloc(lg->runs_cap, sizeof *lg->runs);
    if (!lg->runs)
        return SLUICE_ENOMEM;
    lg->gather_pos = 0;
    int r = pthread_create(&lg->thread, NULL, writer_main, lg);
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
    return atomic_load(&lg->poison_cause);
}

void log_destroy(struct log *lg)
{
    free(lg->runs);
    lg->runs = NULL;
    if (lg->index && lg->index->segs)
        for (size_t i = 0; i < lg->index->nsegs; i++)
            if (lg->index->segs[i].fd >= 0)
                lg->io->ops->close(lg->io, lg->index->segs[i].fd);
}
