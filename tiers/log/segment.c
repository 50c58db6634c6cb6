/*
 * Segment files. A segment is born complete: it is written as <name>.tmp with its header,
 * preallocated, synced, renamed into place, and the directory synced, so a *.seg file
 * always has a valid header and recovery only ever deletes *.tmp leftovers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "log.h"
#include "sluice.h"

void seg_filename(char out[32], uint64_t first_lsn)
{
    snprintf(out, 32, "%016" PRIx64 ".seg", first_lsn);
}

int seg_create(struct io *io, const char *logdir, const uint8_t uuid[16], uint64_t seq,
               uint64_t first_lsn, uint64_t bytes)
{
    char name[32], path[4096], tmp[4096];
    seg_filename(name, first_lsn);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", logdir, name) >= sizeof tmp)
        return -ENAMETOOLONG;
    snprintf(path, sizeof path, "%s/%s", logdir, name);

    uint8_t *block = calloc(1, SEG_HEADER_BYTES);
    if (!block)
        return SLUICE_ENOMEM;
    struct seg_hdr h;
    seg_hdr_fill(&h, uuid, seq, first_lsn, bytes);
    memcpy(block, &h, sizeof h);
    h.crc = seg_hdr_crc(block);
    memcpy(block, &h, sizeof h);

    int fd = io->ops->open(io, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int r = fd;
    if (fd < 0)
        goto out;
    /* Preallocate so appends never change the file size (fdatasync then has no size
     * metadata to write). Pre-zeroing would also avoid unwritten-extent conversion:
     * docs/benchmarks.md records it as the next step. */
    if ((r = io->ops->fallocate(io, fd, 0, bytes)) < 0)
        goto err_close;
    ssize_t w = io->ops->pwrite(io, fd, block, SEG_HEADER_BYTES, 0);
    if (w != SEG_HEADER_BYTES) {
        r = w < 0 ? (int)w : -EIO;
        goto err_close;
    }
    if ((r = io->ops->fdatasync(io, fd)) < 0)
        goto err_close;
    if ((r = io->ops->rename(io, tmp, path)) < 0)
        goto err_close;
    if ((r = io->ops->fsync_dir(io, logdir)) < 0)
        goto err_close;
    r = fd;
    goto out;
err_close:
    io->ops->close(io, fd);
    io->ops->unlink(io, tmp);
out:
    free(block);
    return r;
}
