#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "record.h"
#include "sluice.h"

/* The claim word is updated as one unit with cmpxchg16b (built with -mcx16). */
typedef unsigned __int128 u128;
_Static_assert(offsetof(struct ring, claim) % 16 == 0, "claim word 16-byte aligned");

static inline u128 claim_pack(uint64_t pos, uint64_t lsn) { return ((u128)lsn << 64) | pos; }

static int ring_setup(struct ring *r, size_t size, uint64_t first_lsn, int doorbell_fd, int fd,
                      size_t offset)
{
    if (size < 65536 || (size & (size - 1)))
        return SLUICE_EINVAL;
    memset(r, 0, sizeof *r);
    /* mmap gives page-aligned zeroed memory (a new file reads as zeros); MAP_POPULATE
     * prefaults it. A file's pages are allocated first (posix_fallocate, not a sparse
     * ftruncate): a producer's store into a page a full /dev/shm could not give is
     * SIGBUS, and MAP_POPULATE gives up silently. Without room, the caller falls back
     * to private memory. */
    size_t bytes = offset + size;
    int fa = fd >= 0 ? posix_fallocate(fd, 0, (off_t)bytes) : 0;
    if (fa)
        return -fa;
    void *p = fd < 0 ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
                     : mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED)
        return fd < 0 ? SLUICE_ENOMEM : -errno;
    r->map = p;
    r->map_bytes = fd < 0 ? size : bytes;
    r->buf = (uint8_t *)p + (fd < 0 ? 0 : offset);
    r->size = size;
    r->mask = size - 1;
    r->doorbell_fd = doorbell_fd;
    atomic_store(&r->claim[0], 0);
    atomic_store(&r->claim[1], first_lsn - 1);
    pos_init(&r->released, 0);
    return 0;
}

int ring_init(struct ring *r, size_t size, uint64_t first_lsn, int doorbell_fd)
{
    return ring_setup(r, size, first_lsn, doorbell_fd, -1, 0);
}

int ring_init_file(struct ring *r, size_t size, uint64_t first_lsn, int doorbell_fd, int fd,
                   size_t offset)
{
    return ring_setup(r, size, first_lsn, doorbell_fd, fd, offset);
}

void ring_destroy(struct ring *r)
{
    if (r->map)
        munmap(r->map, r->map_bytes);
    r->map = r->buf = NULL;
}

int ring_reserve(struct ring *r, size_t rec_bytes, int block, uint32_t timeout_ms,
                 const _Atomic int *abort_code, struct ring_slot *slot, uint64_t *waited_ns)
{
    /* the contract in ring.h: a record larger than the ring would be written past it */
    SLUICE_ALWAYS(rec_bytes % 8 == 0 && rec_bytes <= r->size / 2);
    *waited_ns = 0;
    uint64_t deadline_ns = 0;
    u128 old = claim_pack(atomic_load_explicit(&r->claim[0], memory_order_relaxed),
                          atomic_load_explicit(&r->claim[1], memory_order_relaxed));
    for (;;) {
        uint64_t pos = (uint64_t)old, lsn = (uint64_t)(old >> 64);
        size_t room = r->size - (pos & r->mask);
        size_t pad = rec_bytes > room ? room : 0;
        uint64_t end = pos + pad + rec_bytes;
        uint64_t released = pos_load(&r->released);
        if (end - released > r->size) {
            if (!block)
                return SLUICE_EBUSY;
            uint64_t t0 = clock_now_ns();
            if (!deadline_ns)
                deadline_ns = t0 + (uint64_t)timeout_ms * 1000000u + 1;
            int rc = pos_wait(&r->released, end - r->size, deadline_ns, 2000, abort_code);
            *waited_ns += clock_now_ns() - t0;
            if (rc)
                return rc;
            old = claim_pack(atomic_load_explicit(&r->claim[0], memory_order_relaxed),
                             atomic_load_explicit(&r->claim[1], memory_order_relaxed));
            continue;
        }
        u128 want = claim_pack(end, lsn + 1);
        u128 seen = __sync_val_compare_and_swap((u128 *)r->claim, old, want);
        if (seen == old) {
            slot->lsn = lsn + 1;
            slot->pos = pos + pad;
            slot->rec = ring_at(r, pos + pad);
            slot->pad_pos = pad && pad >= REC_HDR_BYTES ? pos : UINT64_MAX;
            return 0;
        }
        old = seen;
    }
}

void ring_publish(struct ring *r, const struct ring_slot *slot)
{
    struct rec_hdr *h = slot->rec;
    atomic_store_explicit((_Atomic uint64_t *)&h->lsn, slot->lsn, memory_order_release);
    if (slot->pad_pos != UINT64_MAX) {
        /* The padding header carries the LSN of the record after it, so the consumer
         * recognises it as published by the same rule as a record. */
        struct rec_hdr *pad = ring_at(r, slot->pad_pos);
        pad->type = REC_PAD;
        atomic_store_explicit((_Atomic uint64_t *)&pad->lsn, slot->lsn, memory_order_release);
    }
    /* Dekker with ring_consumer_sleeping(): either the consumer sees our record when it
     * re-checks, or we see that it sleeps and ring the doorbell. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->consumer_asleep, memory_order_relaxed)) {
        uint64_t one = 1;
        ssize_t w = write(r->doorbell_fd, &one, sizeof one);
        (void)w; /* only fails when the eventfd counter would overflow: already rung */
    }
}

void ring_consumer_sleeping(struct ring *r, int asleep)
{
    atomic_store_explicit(&r->consumer_asleep, (uint32_t)asleep, memory_order_seq_cst);
    if (asleep)
        atomic_thread_fence(memory_order_seq_cst);
}

const struct rec_hdr *ring_next(struct ring *r, uint64_t *cursor, uint64_t expected_lsn,
                                uint64_t *rec_pos)
{
    uint64_t pos = *cursor;
    for (;;) {
        size_t room = r->size - (pos & r->mask);
        if (room < REC_HDR_BYTES) {
            /* too small for a header: implicit padding, claimed by the wrapping record */
            if (ring_claimed_pos(r) <= pos)
                return NULL;
            pos += room;
            continue;
        }
        struct rec_hdr *h = ring_at(r, pos);
        uint64_t mark = atomic_load_explicit((_Atomic uint64_t *)&h->lsn, memory_order_acquire);
        if (mark != expected_lsn)
            return NULL;
        if (h->type == REC_PAD) {
            pos += room;
            continue;
        }
        *rec_pos = pos;
        *cursor = pos + rec_size(h->klen, h->vlen);
        return h;
    }
}

const struct rec_hdr *ring_next_claimed(struct ring *r, uint64_t *cursor, uint64_t expected_lsn,
                                        uint64_t *rec_pos)
{
    if (*cursor >= ring_claimed_pos(r))
        return NULL;
    return ring_next(r, cursor, expected_lsn, rec_pos);
}

void ring_release(struct ring *r, uint64_t upto)
{
    uint64_t from = pos_load(&r->released);
    /* only bytes already claimed are released, and never twice */
    SLUICE_ASSERT(upto >= from && upto <= atomic_load_explicit(&r->claim[0], memory_order_relaxed));
    while (from < upto) {
        size_t off = from & r->mask;
        size_t n = r->size - off;
        if (n > upto - from)
            n = upto - from;
        memset(r->buf + off, 0, n);
        from += n;
    }
    pos_advance(&r->released, upto);
}
