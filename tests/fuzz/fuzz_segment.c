/*
 * libFuzzer target: the segment decoder, as recovery and the tool use it (the walker
 * over a file through the I/O interface, record validation, the tail scan).
 * Input: one flag byte, then a segment file. Flag bit 0 set: the header CRC and every
 * record CRC the walk meets are recomputed first, so mutations reach the checks behind
 * the checksums (lengths, types, LSN order, fills). The file lives in a memfd. Besides
 * "no crash, no over-read", it checks what recovery relies on: every record returned
 * lies inside the file, starts where the previous one ended (fills aside) and carries
 * the next LSN; the walk ends; the tail scan ends at or after the walk.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crc32c.h"
#include "format.h"
#include "io.h"
#include "sluice.h"
#include "walker.h"

/* Rewrites the CRCs of a header block and of every record laid end to end after it. */
static void fix_checksums(uint8_t *f, size_t len)
{
    if (len < SEG_HEADER_BYTES)
        return;
    uint32_t crc = seg_hdr_crc(f);
    memcpy(f + offsetof(struct seg_hdr, crc), &crc, 4);
    size_t pos = SEG_HEADER_BYTES;
    while (pos + REC_HDR_BYTES <= len) {
        struct rec_hdr h;
        memcpy(&h, f + pos, sizeof h);
        if (h.klen > SLUICE_KEY_MAX || h.vlen > SLUICE_VALUE_MAX)
            return;
        size_t sz = rec_size(h.klen, h.vlen);
        if (sz > len - pos)
            return;
        h.crc = crc32c_mask(crc32c(f + pos + 4, sz - 4));
        memcpy(f + pos, &h.crc, 4);
        pos += sz;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct io *io;
    static int fd = -1;
    if (!io) {
        if (io_create(SLUICE_IO_POSIX, &io))
            abort();
        fd = memfd_create("segment", 0);
        if (fd < 0)
            abort();
    }
    if (size < 1)
        return 0;
    size_t len = size - 1;
    uint8_t *file = malloc(len ? len : 1);
    if (!file)
        abort();
    memcpy(file, data + 1, len);
    if (data[0] & 1)
        fix_checksums(file, len);
    if (ftruncate(fd, 0) || (len && pwrite(fd, file, len, 0) != (ssize_t)len))
        abort();
    free(file);

    struct seg_walker w;
    if (seg_walker_open(&w, io, fd, len) == 0) {
        const struct rec_hdr *h;
        uint64_t off, lsn = w.hdr.first_lsn, end = SEG_HEADER_BYTES;
        int r;
        while ((r = seg_walker_next(&w, &h, &off)) == 1) {
            size_t sz = rec_size(h->klen, h->vlen);
            if (off < end || off + sz > len || h->lsn != lsn || h->type == REC_FILL)
                abort();
            end = off + sz;
            lsn++;
        }
        if (r < 0 || w.pos > len || w.expect_lsn != lsn)
            abort();
        uint64_t nonzero_end, stamp;
        if (seg_walker_scan_tail(&w, &nonzero_end, &stamp) == 0 &&
            (nonzero_end < w.pos || nonzero_end > len))
            abort();
    }
    seg_walker_close(&w);
    return 0;
}
