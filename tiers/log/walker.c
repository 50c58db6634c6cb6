#include "walker.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* The window must hold the largest record (1 MiB value + key + header). */
#define WALK_WINDOW (4u << 20)

int seg_walker_open(struct seg_walker *w, struct io *io, int fd, uint64_t file_size)
{
    memset(w, 0, sizeof *w);
    w->io = io;
    w->fd = fd;
    w->file_size = file_size;
    if (file_size < SEG_HEADER_BYTES)
        return SLUICE_ECORRUPT;
    w->cap = WALK_WINDOW;
    w->buf = malloc(w->cap);
    if (!w->buf)
        return SLUICE_ENOMEM;
    ssize_t n = io_pread_full(io, fd, w->buf, SEG_HEADER_BYTES, 0);
    if (n < 0)
        return (int)n;
    if (n != SEG_HEADER_BYTES)
        return SLUICE_ECORRUPT;
    int r = seg_hdr_check(w->buf, &w->hdr);
    if (r)
        return r;
    w->pos = SEG_HEADER_BYTES;
    w->expect_lsn = w->hdr.first_lsn;
    w->buf_off = 0;
    w->buf_len = 0;
    return 0;
}

void seg_walker_close(struct seg_walker *w)
{
    free(w->buf);
    w->buf = NULL;
}

/* Makes [pos, pos + want) readable in the window if the file has it; returns what is. */
static ssize_t window_at(struct seg_walker *w, uint64_t pos, size_t want)
{
    if (pos >= w->buf_off && pos + want <= w->buf_off + w->buf_len)
        return (ssize_t)(w->buf_off + w->buf_len - pos);
    if (pos >= w->file_size)
        return 0;
    size_t len = w->cap;
    if (len > w->file_size - pos)
        len = (size_t)(w->file_size - pos);
    ssize_t n = io_pread_full(w->io, w->fd, w->buf, len, pos);
    if (n < 0)
        return n;
    /* The kernel's own read-ahead (128 KiB) leaves a cold walk waiting on the disk for
     * each window; asking for the next two ahead keeps the device busy while this one
     * is checked. */
    if (pos + len < w->file_size)
        (void)posix_fadvise(w->fd, (off_t)(pos + len), 2 * (off_t)w->cap, POSIX_FADV_WILLNEED);
    w->buf_off = pos;
    w->buf_len = (size_t)n;
    return n;
}

static int walk_one(struct seg_walker *w, const struct rec_hdr **rec, uint64_t *off)
{
    ssize_t avail = window_at(w, w->pos, REC_HDR_BYTES);
    if (avail < 0)
        return (int)avail;
    if (avail < REC_HDR_BYTES)
        return 0;
    const uint8_t *p = w->buf + (w->pos - w->buf_off);
    const struct rec_hdr *h = (const struct rec_hdr *)p;
    if (rec_type_on_disk(h->type)) {
        size_t need = rec_size(h->klen, h->vlen);
        if (h->klen <= SLUICE_KEY_MAX && h->vlen <= SLUICE_VALUE_MAX && (size_t)avail < need) {
            avail = window_at(w, w->pos, need);
            if (avail < 0)
                return (int)avail;
            p = w->buf + (w->pos - w->buf_off);
            h = (const struct rec_hdr *)p;
        }
    }
    size_t size;
    if (rec_check(p, (size_t)avail, &size) != REC_VALID || h->lsn != w->expect_lsn)
        return 0;
    *rec = h;
    *off = w->pos;
    w->pos += size;
    if (h->type != REC_FILL)
        w->expect_lsn++;
    return 1;
}

/* The record at pos if it is valid (any type on disk), else NULL. */
static const struct rec_hdr *valid_at(struct seg_walker *w, uint64_t pos, int *err)
{
    ssize_t n = window_at(w, pos, REC_HDR_BYTES);
    if (n < 0) {
        *err = (int)n;
        return NULL;
    }
    if (n < REC_HDR_BYTES)
        return NULL;
    const uint8_t *p = w->buf + (pos - w->buf_off);
    const struct rec_hdr *h = (const struct rec_hdr *)p;
    if (!rec_type_on_disk(h->type))
        return NULL;
    size_t need = rec_size(h->klen, h->vlen), size;
    if (h->klen > SLUICE_KEY_MAX || h->vlen > SLUICE_VALUE_MAX)
        return NULL;
    if ((size_t)n < need) {
        n = window_at(w, pos, need);
        if (n < 0) {
            *err = (int)n;
            return NULL;
        }
        p = w->buf + (pos - w->buf_off);
        h = (const struct rec_hdr *)p;
    }
    return rec_check(p, (size_t)n, &size) == REC_VALID ? h : NULL;
}

/* At an invalid record whose LSN the cold tier holds: finds where the valid records go
 * on. 1 and the walk moved there, 0 when it may not (nothing valid follows, or the
 * stretch would hide a record above skip_upto), or an I/O error. */
static int resync(struct seg_walker *w)
{
    uint64_t expect = w->expect_lsn;
    for (uint64_t pos = w->pos + REC_ALIGN; pos + REC_HDR_BYTES <= w->file_size; pos += REC_ALIGN) {
        int err = 0;
        const struct rec_hdr *h = valid_at(w, pos, &err);
        if (err)
            return err;
        if (!h || h->lsn < expect)
            continue; /* not a record, or not one that can come next */
        if (h->lsn - 1 > w->skip_upto)
            return 0; /* the stretch held records the cold tier lacks */
        struct seg_skip s = {.off = w->pos, .end = pos, .first_lsn = expect, .last_lsn = h->lsn - 1};
        w->skips++;
        w->skipped_lsns += h->lsn - expect;
        w->pos = pos;
        w->expect_lsn = h->lsn;
        if (w->on_skip)
            w->on_skip(w->skip_arg, &s);
        return 1;
    }
    return 0;
}

int seg_walker_next(struct seg_walker *w, const struct rec_hdr **rec, uint64_t *off)
{
    for (;;) {
        int r;
        while ((r = walk_one(w, rec, off)) == 1 && (*rec)->type == REC_FILL)
            w->fills++;
        if (r != 0 || !w->skip_upto || w->expect_lsn > w->skip_upto)
            return r;
        if ((r = resync(w)) != 1)
            return r;
    }
}

int seg_walker_scan_tail(struct seg_walker *w, uint64_t *nonzero_end, uint64_t *stamp)
{
    *nonzero_end = w->pos;
    *stamp = 0;
    uint64_t pos = w->pos;
    while (pos < w->file_size) {
        ssize_t n = window_at(w, pos, 8);
        if (n < 0)
            return (int)n;
        if (n < 8)
            break;
        const uint8_t *p = w->buf + (pos - w->buf_off);
        /* records are 8-aligned relative to the header, which is 4 KiB */
        uint64_t word;
        memcpy(&word, p, 8);
        if (word)
            *nonzero_end = pos + 8;
        if (word && (size_t)n >= REC_HDR_BYTES) {
            const struct rec_hdr *h = (const struct rec_hdr *)p;
            if (rec_type_on_disk(h->type)) {
                size_t need = rec_size(h->klen, h->vlen), size;
                if (h->klen <= SLUICE_KEY_MAX && h->vlen <= SLUICE_VALUE_MAX &&
                    (size_t)n < need) {
                    n = window_at(w, pos, need);
                    if (n < 0)
                        return (int)n;
                    p = w->buf + (pos - w->buf_off);
                    h = (const struct rec_hdr *)p;
                }
                if (rec_check(p, (size_t)n, &size) == REC_VALID && h->type == REC_FILL &&
                    h->ts > *stamp)
                    *stamp = h->ts;
            }
        }
        pos += 8;
    }
    return 0;
}
