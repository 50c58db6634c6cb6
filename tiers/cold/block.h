/*
 * Cold-tier blocks: one series' records for one time bucket, sorted by ts, stored as an
 * uncompressed 48-byte header followed by the body, lz4-compressed as a whole when
 * that saves space. LMDB has no checksums (8 random bit flips in data.mdb gave silent
 * wrong data 297 times in 300 here), so every block carries a CRC32C over its header and
 * its *uncompressed* body, and decoding trusts no length: a damaged block is
 * SLUICE_ECORRUPT, never wrong data, never an out-of-bounds access.
 *
 * Body: count entries {le64 ts, le64 lsn, le32 value offset, le32 vlen}, then the
 * values. Entries are sorted by ts, each ts once (the merge keeps the highest LSN).
 *
 * Invariants:
 *  1. The header is never compressed: ts_min/ts_max/count let a read skip a block
 *     without decompressing it.
 *  2. decode checks, before use: magic, version, codec, stored size against the LMDB
 *     value size, raw size against BLOCK_RAW_MAX, the stored body's CRC (lz4), the lz4 result
 *     size, the CRC of header and raw body, every value range against the body, and ts
 *     order.
 */
#ifndef SLUICE_BLOCK_H
#define SLUICE_BLOCK_H
#include <stddef.h>
#include <stdint.h>

#define BLOCK_MAGIC 0x4b424c53u /* "SLBK" */
#define BLOCK_VERSION 1u
#define BLOCK_HDR_BYTES 48u
#define BLOCK_ENTRY_BYTES 24u
/* The largest body: a few thousand small records, or one record of the largest value. */
#define BLOCK_RAW_MAX ((1u << 20) + (256u << 10))

enum { BLOCK_CODEC_NONE = 0, BLOCK_CODEC_LZ4 = 1 };

struct block_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t codec;
    uint32_t count;
    uint32_t raw_bytes;    /* uncompressed body */
    uint32_t stored_bytes; /* body as stored after the header */
    uint32_t crc;          /* masked CRC32C of the header (this field 0) and the raw body */
    uint64_t ts_min, ts_max;
    uint32_t series;
    uint32_t stored_crc;   /* masked CRC32C of the stored body: every stored byte is
                            * checked, even lz4 bits that would decompress the same
                            * (checked for lz4 bodies; an uncompressed body is covered
                            * by crc) */
};
_Static_assert(sizeof(struct block_hdr) == BLOCK_HDR_BYTES, "block header is 48 bytes");

struct block_rec {
    uint64_t ts;
    uint64_t lsn;
    const void *val;
    uint32_t vlen;
};

/* Bytes a body of these records needs uncompressed. */
size_t block_raw_size(const struct block_rec *recs, size_t n);

/*
 * Encodes n records (sorted by ts, distinct ts) of series into out (capacity cap, at
 * least BLOCK_HDR_BYTES + LZ4_compressBound(raw)); *len receives the block's size.
 * With try_lz4 the body is compressed where that saves an eighth; without, it is stored
 * as it is. scratch must hold block_raw_size() bytes. 0 or SLUICE_EINVAL / SLUICE_ERANGE.
 */
int block_encode(uint32_t series, const struct block_rec *recs, size_t n, int try_lz4,
                 void *scratch, void *out, size_t cap, size_t *len);

/* Worst-case encoded size for a raw body of raw bytes. */
size_t block_encode_bound(size_t raw);

/* Reads and checks only the header of a stored block (len = the LMDB value's size). */
int block_peek(const void *blk, size_t len, struct block_hdr *hdr);

/*
 * Decodes a stored block into raw (capacity BLOCK_RAW_MAX) and checks it fully. On
 * success recs[0..hdr.count) (capacity max_recs) point into raw. 0, SLUICE_ECORRUPT
 * (including an unknown block version: the environment's version is checked at open),
 * SLUICE_ERANGE (max_recs too small).
 */
int block_decode(const void *blk, size_t len, void *raw, struct block_rec *recs,
                 size_t max_recs, struct block_hdr *hdr);

/*
 * A point read: the record with the greatest ts <= at, without decoding the whole block.
 * Every stored byte is checked first (the stored CRC of an lz4 body, the header-and-body
 * CRC of an uncompressed one); then only the prefix holding the entry table and the
 * wanted value is decompressed into raw (capacity hdr.raw_bytes). The raw-body CRC, which
 * guards against a faulty compressor rather than the disk, is left to full decodes.
 * 0 with *rec (its value in raw or in blk), SLUICE_NOTFOUND (ts_min > at),
 * SLUICE_ECORRUPT.
 */
int block_find_le(const void *blk, size_t len, uint64_t at, void *raw, struct block_rec *rec,
                  struct block_hdr *hdr);
#endif
