#include "block.h"

#include <lz4.h>
#include <string.h>

#include "crc32c.h"
#include "sluice.h"

struct entry {
    uint64_t ts;
    uint64_t lsn;
    uint32_t voff;
    uint32_t vlen;
};
_Static_assert(sizeof(struct entry) == BLOCK_ENTRY_BYTES, "entries are 24 bytes");

size_t block_raw_size(const struct block_rec *recs, size_t n)
{
    size_t raw = n * BLOCK_ENTRY_BYTES;
    for (size_t i = 0; i < n; i++)
        raw += recs[i].vlen;
    return raw;
}

size_t block_encode_bound(size_t raw)
{
    return BLOCK_HDR_BYTES + (size_t)LZ4_compressBound((int)raw);
}

static uint32_t block_crc(const struct block_hdr *h, const void *raw)
{
    struct block_hdr copy = *h;
    copy.crc = 0;
    uint32_t c = crc32c_extend(0, &copy, sizeof copy);
    return crc32c_mask(crc32c_extend(c, raw, h->raw_bytes));
}

int block_encode(uint32_t series, const struct block_rec *recs, size_t n, int try_lz4,
                 void *scratch, void *out, size_t cap, size_t *len)
{
    if (n == 0)
        return SLUICE_EINVAL;
    size_t raw = block_raw_size(recs, n);
    if (raw > BLOCK_RAW_MAX)
        return SLUICE_EINVAL;
    if (cap < block_encode_bound(raw))
        return SLUICE_ERANGE;
    uint8_t *body = scratch;
    uint32_t voff = (uint32_t)(n * BLOCK_ENTRY_BYTES);
    for (size_t i = 0; i < n; i++) {
        if (i && recs[i].ts <= recs[i - 1].ts)
            return SLUICE_EINVAL;
        struct entry e = {recs[i].ts, recs[i].lsn, voff, recs[i].vlen};
        memcpy(body + i * BLOCK_ENTRY_BYTES, &e, sizeof e);
        if (recs[i].vlen)
            memcpy(body + voff, recs[i].val, recs[i].vlen);
        voff += recs[i].vlen;
    }
    struct block_hdr h = {.magic = BLOCK_MAGIC, .version = BLOCK_VERSION,
                          .count = (uint32_t)n, .raw_bytes = (uint32_t)raw,
                          .ts_min = recs[0].ts, .ts_max = recs[n - 1].ts, .series = series};
    uint8_t *dst = (uint8_t *)out + BLOCK_HDR_BYTES;
    int z = try_lz4 ? LZ4_compress_default((const char *)body, (char *)dst, (int)raw,
                                           (int)(cap - BLOCK_HDR_BYTES))
                    : 0;
    /* Compress only when it saves at least an eighth: otherwise every read would pay for
     * decompression to save a few bytes. */
    if (z > 0 && (size_t)z < raw - raw / 8) {
        h.codec = BLOCK_CODEC_LZ4;
        h.stored_bytes = (uint32_t)z;
    } else { /* incompressible, or not tried: store it as it is */
        h.codec = BLOCK_CODEC_NONE;
        h.stored_bytes = (uint32_t)raw;
        memcpy(dst, body, raw);
    }
    h.stored_crc = crc32c_mask(crc32c(dst, h.stored_bytes));
    h.crc = block_crc(&h, body);
    memcpy(out, &h, sizeof h);
    *len = BLOCK_HDR_BYTES + h.stored_bytes;
    return 0;
}

int block_peek(const void *blk, size_t len, struct block_hdr *h)
{
    if (len < BLOCK_HDR_BYTES)
        return SLUICE_ECORRUPT;
    memcpy(h, blk, sizeof *h);
    /* A format change is detected once, by the environment's meta version at open; in an
     * environment of a known version, a block of another version is damage. */
    if (h->magic != BLOCK_MAGIC || h->version != BLOCK_VERSION)
        return SLUICE_ECORRUPT;
    if (h->codec > BLOCK_CODEC_LZ4 || h->count == 0 ||
        h->raw_bytes > BLOCK_RAW_MAX || h->stored_bytes != len - BLOCK_HDR_BYTES ||
        (h->codec == BLOCK_CODEC_NONE && h->stored_bytes != h->raw_bytes) ||
        (uint64_t)h->count * BLOCK_ENTRY_BYTES > h->raw_bytes || h->ts_min > h->ts_max)
        return SLUICE_ECORRUPT;
    return 0;
}

int block_decode(const void *blk, size_t len, void *raw, struct block_rec *recs,
                 size_t max_recs, struct block_hdr *h)
{
    int r = block_peek(blk, len, h);
    if (r)
        return r;
    if (h->count > max_recs)
        return SLUICE_ERANGE;
    const char *src = (const char *)blk + BLOCK_HDR_BYTES;
    /* An uncompressed body is its raw body, which the header's crc covers with the
     * header: checking stored_crc as well would read every byte twice. */
    if (h->codec != BLOCK_CODEC_NONE && crc32c_mask(crc32c(src, h->stored_bytes)) != h->stored_crc)
        return SLUICE_ECORRUPT;
    if (h->codec == BLOCK_CODEC_LZ4) {
        /* bounded: never writes past raw_bytes, never reads past stored_bytes */
        int n = LZ4_decompress_safe(src, raw, (int)h->stored_bytes, (int)h->raw_bytes);
        if (n < 0 || (uint32_t)n != h->raw_bytes)
            return SLUICE_ECORRUPT;
    } else {
        memcpy(raw, src, h->raw_bytes);
    }
    if (block_crc(h, raw) != h->crc)
        return SLUICE_ECORRUPT;
    /* The same layout rules as block_find_le (values packed in entry order right after
     * the table, ending at raw_bytes), so a block both readers accept is read alike:
     * fuzz_block found a block with valid checksums that only this one accepted. */
    const uint8_t *body = raw;
    uint64_t next_voff = (uint64_t)h->count * BLOCK_ENTRY_BYTES;
    for (uint32_t i = 0; i < h->count; i++) {
        struct entry e;
        memcpy(&e, body + (size_t)i * BLOCK_ENTRY_BYTES, sizeof e);
        if (e.voff != next_voff || (uint64_t)e.voff + e.vlen > h->raw_bytes ||
            (i && e.ts <= recs[i - 1].ts) || e.lsn == 0)
            return SLUICE_ECORRUPT;
        next_voff += e.vlen;
        recs[i] = (struct block_rec){e.ts, e.lsn, body + e.voff, e.vlen};
    }
    if (next_voff != h->raw_bytes || recs[0].ts != h->ts_min ||
        recs[h->count - 1].ts != h->ts_max)
        return SLUICE_ECORRUPT;
    return 0;
}

/* Decompresses the first `want` raw bytes (all of them for an uncompressed body, which
 * is used in place) into raw; returns the body or NULL if the stored bytes are damaged. */
static const uint8_t *body_prefix(const struct block_hdr *h, const char *src, void *raw, size_t want)
{
    if (h->codec == BLOCK_CODEC_NONE)
        return (const uint8_t *)src;
    int n = LZ4_decompress_safe_partial(src, raw, (int)h->stored_bytes, (int)want, (int)h->raw_bytes);
    return n >= 0 && (size_t)n == want ? raw : NULL;
}

int block_find_le(const void *blk, size_t len, uint64_t at, void *raw, struct block_rec *rec,
                  struct block_hdr *h)
{
    int r = block_peek(blk, len, h);
    if (r)
        return r;
    const char *src = (const char *)blk + BLOCK_HDR_BYTES;
    /* Every stored byte is checked before any is used: the stored CRC for lz4, the
     * header-and-body CRC for an uncompressed body (which is its own raw body). */
    if (h->codec == BLOCK_CODEC_LZ4 ? crc32c_mask(crc32c(src, h->stored_bytes)) != h->stored_crc
                                    : block_crc(h, src) != h->crc)
        return SLUICE_ECORRUPT;
    if (h->ts_min > at)
        return SLUICE_NOTFOUND;
    size_t table = (size_t)h->count * BLOCK_ENTRY_BYTES;
    const uint8_t *body = body_prefix(h, src, raw, table);
    if (!body)
        return SLUICE_ECORRUPT;
    /* The header of an lz4 block is covered only by the raw-body CRC, which is not
     * computed here; instead the entry table (from checked bytes) must agree with every
     * header field it implies: count (values start right after the table), raw_bytes
     * (values end there), ts_min and ts_max; series is checked by the caller. */
    struct entry e, found = {0};
    uint64_t next_voff = table, prev_ts = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        memcpy(&e, body + (size_t)i * BLOCK_ENTRY_BYTES, sizeof e);
        if (e.voff != next_voff || (i && e.ts <= prev_ts) || e.lsn == 0)
            return SLUICE_ECORRUPT;
        next_voff += e.vlen;
        prev_ts = e.ts;
        if (e.ts <= at)
            found = e;
        if (i == 0 && e.ts != h->ts_min)
            return SLUICE_ECORRUPT;
    }
    if (next_voff != h->raw_bytes || prev_ts != h->ts_max || found.lsn == 0)
        return SLUICE_ECORRUPT; /* found.lsn == 0: ts_min <= at, yet no entry is */
    e = found;
    if (h->codec == BLOCK_CODEC_LZ4 && e.vlen && !(body = body_prefix(h, src, raw, (size_t)e.voff + e.vlen)))
        return SLUICE_ECORRUPT;
    *rec = (struct block_rec){e.ts, e.lsn, body + e.voff, e.vlen};
    return 0;
}
