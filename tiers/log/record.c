#include <string.h>

#include "crc32c.h"
#include "format.h"
#include "sluice.h"

size_t rec_fill(void *dst, int type, uint64_t lsn, uint64_t ts, const void *key, size_t klen,
                const void *val, size_t vlen)
{
    size_t size = rec_size(klen, vlen);
    struct rec_hdr *h = dst;
    h->type = (uint8_t)type;
    h->flags = 0;
    h->klen = (uint16_t)klen;
    h->vlen = (uint32_t)vlen;
    h->reserved = 0;
    h->ts = ts;
    uint8_t *p = (uint8_t *)(h + 1);
    memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, val, vlen);
    size_t used = REC_HDR_BYTES + klen + vlen;
    memset((uint8_t *)dst + used, 0, size - used);
    /* The lsn field is not written here, so the CRC takes its value from the argument. */
    uint32_t c = crc32c_extend(0, (uint8_t *)dst + 4, 12);
    c = crc32c_extend(c, &lsn, 8);
    c = crc32c_extend(c, (uint8_t *)dst + 24, size - 24);
    h->crc = crc32c_mask(c);
    return size;
}

void rec_fill_encode(void *dst, size_t size, uint64_t next_lsn, uint64_t durable_stamp)
{
    memset(dst, 0, size);
    struct rec_hdr *h = dst;
    h->type = REC_FILL;
    h->vlen = (uint32_t)(size - REC_HDR_BYTES);
    h->lsn = next_lsn;
    h->ts = durable_stamp;
    h->crc = crc32c_mask(crc32c((uint8_t *)dst + 4, size - 4));
}

enum rec_check_result rec_check(const void *buf, size_t avail, size_t *size)
{
    if (avail < REC_HDR_BYTES)
        return REC_TRUNCATED;
    const struct rec_hdr *h = buf;
    if (!rec_type_on_disk(h->type))
        return REC_INVALID;
    if (h->flags || h->reserved || h->klen > SLUICE_KEY_MAX || h->vlen > SLUICE_VALUE_MAX ||
        h->lsn == 0)
        return REC_INVALID;
    if (h->type == REC_FILL ? h->klen != 0 || h->ts >= h->lsn || h->vlen > REC_FILL_MAX
                            : h->klen == 0)
        return REC_INVALID;
    if (h->type == REC_OFFSET && (h->vlen != 8 || h->klen > SLUICE_SOURCE_MAX))
        return REC_INVALID;
    if (h->type == REC_DELETE && h->vlen != 0)
        return REC_INVALID;
    size_t sz = rec_size(h->klen, h->vlen);
    if (sz > avail)
        return REC_TRUNCATED;
    uint32_t c = crc32c(((const uint8_t *)buf) + 4, sz - 4);
    if (crc32c_mask(c) != h->crc)
        return REC_INVALID;
    *size = sz;
    return REC_VALID;
}

void seg_hdr_fill(struct seg_hdr *h, const uint8_t uuid[16], uint64_t seq, uint64_t first_lsn,
                  uint64_t segment_bytes)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, SEG_MAGIC, 8);
    h->version = SEG_FORMAT_VERSION;
    h->header_bytes = SEG_HEADER_BYTES;
    memcpy(h->uuid, uuid, 16);
    h->segment_seq = seq;
    h->first_lsn = first_lsn;
    h->segment_bytes = segment_bytes;
}

uint32_t seg_hdr_crc(const uint8_t *block)
{
    static const uint8_t zero4[4];
    uint32_t c = crc32c_extend(0, block, 60);
    c = crc32c_extend(c, zero4, 4);
    c = crc32c_extend(c, block + 64, SEG_HEADER_BYTES - 64);
    return crc32c_mask(c);
}

int seg_hdr_check(const uint8_t *block, struct seg_hdr *out)
{
    memcpy(out, block, sizeof *out);
    if (memcmp(out->magic, SEG_MAGIC, 8) != 0)
        return SLUICE_ECORRUPT;
    /* Version before CRC: a later format may define its header checksum differently. */
    if (out->version != SEG_FORMAT_VERSION)
        return SLUICE_EVERSION;
    if (seg_hdr_crc(block) != out->crc)
        return SLUICE_ECORRUPT;
    if (out->header_bytes != SEG_HEADER_BYTES || out->segment_bytes < SEG_MIN_BYTES ||
        out->first_lsn == 0 || out->segment_seq == 0)
        return SLUICE_ECORRUPT;
    return 0;
}
