#include <string.h>

#include "crc32c.h"
#include "record.h"
#include "sluice.h"

size_t rec_fill(void *dst, int type, uint64_t lsn, uint64_t ts, const void *key, size_t klen,
                const void *val, size_t vlen)
{
    return rec_fill_flagged(dst, type, 0, lsn, ts, key, klen, val, vlen);
}

size_t rec_fill_flagged(void *dst, int type, unsigned flags, uint64_t lsn, uint64_t ts,
                        const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t size = rec_size(klen, vlen);
    struct rec_hdr *h = dst;
    h->type = (uint8_t)type;
    h->flags = (uint8_t)flags;
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
    unsigned allowed = h->type == REC_PUT || h->type == REC_DELETE ? REC_F_LATE : 0;
    if ((h->flags & ~allowed) || h->reserved || h->klen > SLUICE_KEY_MAX || h->vlen > SLUICE_VALUE_MAX ||
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
