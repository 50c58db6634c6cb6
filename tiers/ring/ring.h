/*
 * The ring tier: one lock-free multi-producer, single-consumer byte ring of log records.
 *
 * DESIGN. A producer reserves space and its LSN together with one 16-byte
 * compare-and-swap on the claim word {byte position, last LSN}, copies the record into
 * the ring in the log's own on-disk layout (CRC computed on its own core), and publishes
 * it by storing the record's LSN with release order. The log writer consumes records in
 * order, hands ring memory straight to the kernel as the write buffer, and releases the
 * bytes (zeroing them) once the write completed. A record never straddles the end of the
 * buffer: the producer that would cross it also claims the tail as padding.
 *
 * Invariants:
 *  1. released <= consumed <= claim.pos, and claim.pos - released <= size.
 *  2. Bytes in [released, claim.pos) are owned by producers or the consumer; all other
 *     bytes are zero. A record is published iff its header's lsn word equals the LSN
 *     the consumer expects there (zero memory never matches, LSNs start at 1).
 *  3. No producer writes a cache line another producer writes, except the claim word:
 *     the one atomic operation that orders a put. Producer-side and consumer-side
 *     fields live on separate cache lines.
 *  4. The consumer is woken (eventfd doorbell) only when it announced it is asleep.
 */
#ifndef SLUICE_RING_H
#define SLUICE_RING_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "position.h"

struct ring {
    /* producer side: the claim word, CAS'd as one 16-byte unit */
    _Alignas(64) _Atomic uint64_t claim[2]; /* [0] = bytes claimed, [1] = last LSN claimed */
    /* consumer side */
    _Alignas(64) _Atomic uint32_t consumer_asleep;
    struct position released; /* bytes released; producers wait on it when full */
    /* read-only after ring_init */
    _Alignas(64) uint8_t *buf;
    size_t size;
    size_t mask;
    int doorbell_fd;
    uint8_t *map;      /* what was mapped: buf, or a file's header and buf */
    size_t map_bytes;
};

struct ring_slot {
    uint64_t pos; /* ring byte position of the record */
    uint64_t lsn;
    void *rec;    /* where the producer writes the record */
    uint64_t pad_pos; /* position of a padding header to publish, or UINT64_MAX */
};

/* size: power of two >= 64 KiB. first_lsn: the LSN the first put receives. The buffer is
 * allocated and prefaulted here (first touch costs microseconds per page on these VMs). */
int ring_init(struct ring *r, size_t size, uint64_t first_lsn, int doorbell_fd);
/* The same with the buffer in file fd at offset (a multiple of the page size), mapped
 * shared: what producers publish there outlives the process (engine/ring_file.c). The
 * file is sized here; the caller keeps fd. */
int ring_init_file(struct ring *r, size_t size, uint64_t first_lsn, int doorbell_fd, int fd,
                   size_t offset);
void ring_destroy(struct ring *r);

/*
 * Reserves rec_bytes (a multiple of 8, <= size / 2: puts keep values to a quarter of the
 * ring, plus a header and a key) and the next LSN.
 * block: 0 fails at once with SLUICE_EBUSY when full; 1 sleeps until space frees or
 * timeout_ms passes (SLUICE_ETIMEDOUT); the clock is read only when it has to wait.
 * *abort_code (may be NULL) non-zero ends a wait with that code. *waited_ns receives
 * the time spent waiting.
 */
int ring_reserve(struct ring *r, size_t rec_bytes, int block, uint32_t timeout_ms,
                 const _Atomic int *abort_code, struct ring_slot *slot, uint64_t *waited_ns);

/* Publishes a reserved record (its bytes fully written, lsn field not yet stored). */
void ring_publish(struct ring *r, const struct ring_slot *slot);

static inline uint64_t ring_claimed_lsn(struct ring *r)
{
    return atomic_load_explicit(&r->claim[1], memory_order_acquire);
}
static inline uint64_t ring_claimed_pos(struct ring *r)
{
    return atomic_load_explicit(&r->claim[0], memory_order_acquire);
}

/*
 * Consumer: returns the published record at *cursor (skipping padding) whose LSN must be
 * expected_lsn, advancing *cursor past it and setting *rec_pos; NULL if it is not
 * published yet.
 */
const struct rec_hdr *ring_next(struct ring *r, uint64_t *cursor, uint64_t expected_lsn,
                                uint64_t *rec_pos);

/*
 * ring_next for a reader that is not the consumer (a tail): it never reads at or past the
 * claimed position, where the bytes are those of the previous lap, which the consumer may
 * be zeroing in ring_release at that moment.
 */
const struct rec_hdr *ring_next_claimed(struct ring *r, uint64_t *cursor, uint64_t expected_lsn,
                                        uint64_t *rec_pos);

/* Consumer: zeroes [released, upto) and makes it available to producers. */
void ring_release(struct ring *r, uint64_t upto);

static inline void *ring_at(struct ring *r, uint64_t pos) { return r->buf + (pos & r->mask); }

/* Consumer sleep protocol: announce, re-check for work, then sleep; clear on waking. */
void ring_consumer_sleeping(struct ring *r, int asleep);
#endif
