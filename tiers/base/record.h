/*
 * The record layout, shared by every floor that holds records: the ring (whose layout is
 * the log's, so the writer copies ring memory to disk as is), the log, recovery, the cold
 * tier's compaction input and the tools. docs/format.md gives the grammar; the segment
 * header around records is the log's (tiers/log/format.h).
 *
 * Invariants:
 *  1. All integers are little-endian; records start 8-byte aligned.
 *  2. A record's masked CRC32C covers every byte of the record after the crc field,
 *     up to its 8-byte-aligned end (alignment bytes are zero and covered too).
 *  3. type 0 is never valid and the CRC is masked, so an all-zero header never parses.
 *  4. Every length is checked against what remains before it is added to an offset.
 *  5. LSNs are gap-free across segments: a segment's first record carries its header's
 *     first_lsn, each next record the previous LSN + 1.
 *  6. Every write (group commit) ends on a 4 KiB boundary with a REC_FILL record: a
 *     later write never rewrites a block holding acknowledged records. A fill carries
 *     the LSN of the record after it (it takes none itself) and, in its ts field, the
 *     durable LSN when its write was submitted: proof, for recovery, of which records
 *     had been acknowledged when later data was written.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sluice's on-disk format is little-endian; big-endian hosts need byte swaps here"
#endif

enum rec_type {
    REC_PUT = 1,
    REC_DELETE = 2,
    REC_OFFSET = 3, /* key = source name, value = le64 offset */
    REC_FILL = 4,   /* klen 0, value = zeros up to the next 4 KiB boundary, ts = the
                     * durable LSN when its write was submitted */
    REC_PAD = 0x7e, /* ring only: the rest of the buffer is skipped; never on disk */
};
/* rec_hdr.flags (segment format 2): a put or delete below the low watermark when it was
 * put (sluice_watermark_low), flagged for downstream consumers. */
enum { REC_F_LATE = 1 };

struct rec_hdr {
    uint32_t crc;  /* masked CRC32C of bytes [4, rec_size) */
    uint8_t type;  /* enum rec_type, never 0 */
    uint8_t flags; /* REC_F_*: 0 but for puts and deletes */
    uint16_t klen;
    uint32_t vlen;
    uint32_t reserved; /* 0 */
    uint64_t lsn;
    uint64_t ts;
};
_Static_assert(sizeof(struct rec_hdr) == 32, "record header is 32 bytes");
_Static_assert(offsetof(struct rec_hdr, lsn) == 16, "lsn at 16");
_Static_assert(offsetof(struct rec_hdr, ts) == 24, "ts at 24");

#define REC_HDR_BYTES 32u
#define REC_ALIGN 8u
#define LOG_BLOCK 4096u
/* Largest fill: a gap under one header grows by a block. */
#define REC_FILL_MAX (LOG_BLOCK + REC_HDR_BYTES)

static inline size_t rec_size(size_t klen, size_t vlen)
{
    return (REC_HDR_BYTES + klen + vlen + (REC_ALIGN - 1)) & ~(size_t)(REC_ALIGN - 1);
}

/*
 * Writes a complete record into dst (rec_size(klen, vlen) bytes, alignment bytes
 * zeroed) except the lsn field, which the caller stores last: in the ring the lsn is
 * the publication mark. Returns the CRC-bearing record size.
 */
size_t rec_fill(void *dst, int type, uint64_t lsn, uint64_t ts, const void *key, size_t klen,
                const void *val, size_t vlen);
/* rec_fill with flags (REC_F_*). */
size_t rec_fill_flagged(void *dst, int type, unsigned flags, uint64_t lsn, uint64_t ts,
                        const void *key, size_t klen, const void *val, size_t vlen);

enum rec_check_result {
    REC_VALID = 0,
    REC_TRUNCATED = 1, /* not enough bytes to decide */
    REC_INVALID = 2,   /* zero, bad type or lengths, or CRC mismatch */
};

/* Validates the record at buf with `avail` readable bytes (a REC_FILL too). On
 * REC_VALID, *size is its padded size. */
enum rec_check_result rec_check(const void *buf, size_t avail, size_t *size);

/* Size of the fill that ends a write ending at file offset `end`: up to the next 4 KiB
 * boundary, one block more when the gap is too small for a header (or is zero: every
 * write carries a fill, for its durable stamp). */
static inline size_t rec_fill_size(uint64_t end)
{
    size_t gap = (LOG_BLOCK - end % LOG_BLOCK) % LOG_BLOCK;
    return gap < REC_HDR_BYTES ? gap + LOG_BLOCK : gap;
}

/* Writes a fill record of `size` bytes (a multiple of 8, >= 32) carrying next_lsn and
 * the durable stamp. */
void rec_fill_encode(void *dst, size_t size, uint64_t next_lsn, uint64_t durable_stamp);

static inline int rec_type_on_disk(uint8_t t)
{
    return t == REC_PUT || t == REC_DELETE || t == REC_OFFSET || t == REC_FILL;
}

static inline const uint8_t *rec_key(const struct rec_hdr *h) { return (const uint8_t *)(h + 1); }
static inline const uint8_t *rec_val(const struct rec_hdr *h) { return rec_key(h) + h->klen; }

#endif
