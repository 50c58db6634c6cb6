/*
 * Segments: the table (segment.h) and the files. A segment file is born complete: its header is written and synced in a
 * *.seg.tmp file, which is renamed into place and the directory synced, so a *.seg file
 * always has a valid header and recovery only ever deletes *.tmp leftovers.
 *
 * The body should be pre-zeroed: a durable write into a fallocated (unwritten) extent
 * also journals the extent conversion, which doubled the latency of an fdatasync here.
 * Zeroing 64 MiB takes tens of milliseconds, so the preparer thread does it ahead of
 * time into a spare (seg_prepare_spare) and a roll only installs it (seg_install).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crc32c.h"
#include "format.h"
#include "segment.h"
#include "sluice.h"

/* --- the table ------------------------------------------------------------------- */

void seg_table_free(struct segment_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].offs);
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

int seg_table_add(struct segment_table *t, uint64_t seq, uint64_t first_lsn, uint64_t size,
                  int fd)
{
    /* LSN order: a roll starts where the newest entry's records end; the one exception,
     * a segment without records renamed over, starts at the same LSN (writer.c) */
    SLUICE_ASSERT(!t->n || seg_newest(t)->first_lsn <= first_lsn);
    SLUICE_ASSERT(fd >= 0);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct segment *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return SLUICE_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (struct segment){.seq = seq, .first_lsn = first_lsn, .fd = fd, .dfd = -1,
                                  .end = SEG_HEADER_BYTES, .size = size,
                                  .created_ns = clock_now_ns()};
    return (int)t->n++;
}

size_t seg_table_holding(const struct segment_table *t, uint64_t lsn)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) { /* the first entry with first_lsn > lsn */
        size_t mid = (lo + hi) / 2;
        if (t->v[mid].first_lsn <= lsn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : t->n;
}

int seg_table_reserve_offs(struct segment_table *t, size_t idx, size_t n)
{
    struct segment *s = seg_at(t, idx);
    SLUICE_ASSERT(!s->retired);
    if (s->noffs + n <= s->offs_cap)
        return 0;
    size_t cap = s->offs_cap ? s->offs_cap : SEG_OFFS_START;
    while (cap < s->noffs + n)
        cap *= 2;
    uint32_t *v = realloc(s->offs, cap * sizeof *v);
    if (!v)
        return SLUICE_ENOMEM;
    s->offs = v;
    s->offs_cap = cap;
    return 0;
}

int seg_table_locate(const struct segment_table *t, uint64_t lsn, int *fd, uint64_t *off)
{
    size_t i = seg_table_holding(t, lsn);
    if (i == t->n)
        return SLUICE_NOTFOUND;
    /* noffs is not read: the writer appends offsets without the lock; callers ask only
     * for released LSNs, whose offsets were stored before their write was submitted. */
    const struct segment *s = &t->v[i];
    if (s->fd < 0 || lsn - s->first_lsn >= s->offs_cap)
        return SLUICE_NOTFOUND;
    *fd = s->fd;
    *off = s->offs[lsn - s->first_lsn];
    return *off == SEG_NO_OFFSET ? SLUICE_NOTFOUND : 0;
}

void seg_table_wait_readers(struct segment_table *t)
{
    while (atomic_load(&t->file_readers))
        sched_yield();
}

int seg_table_retire(struct segment_table *t, size_t idx, int fds[2])
{
    struct segment *s = seg_at(t, idx);
    SLUICE_ASSERT(!s->retired && s->fd >= 0); /* live until retired, exactly once */
    int n = 0;
    fds[n++] = s->fd;
    if (s->dfd >= 0)
        fds[n++] = s->dfd;
    s->retired = 1;
    s->fd = s->dfd = -1;
    free(s->offs);
    s->offs = NULL;
    s->offs_cap = s->noffs = 0;
    return n;
}

void seg_table_usage(const struct segment_table *t, uint64_t *live, uint64_t *bytes,
                     uint64_t *newest_bytes, uint64_t *oldest_created_ns)
{
    uint64_t n = 0, sum = 0, oldest = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct segment *g = &t->v[i];
        if (g->retired)
            continue;
        n++;
        sum += g->size; /* files, not fill: g->end is the writer's, unlocked */
        if (!oldest || g->created_ns < oldest)
            oldest = g->created_ns;
    }
    *live = n;
    *bytes = sum;
    *newest_bytes = t->n ? t->v[t->n - 1].size : 0;
    *oldest_created_ns = oldest;
}

void seg_table_close_all(struct segment_table *t, struct io *io)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].fd >= 0)
            io->ops->close(io, t->v[i].fd);
        if (t->v[i].dfd >= 0)
            io->ops->close(io, t->v[i].dfd);
        t->v[i].fd = t->v[i].dfd = -1;
    }
}

/* --- the files ------------------------------------------------------------------- */

void seg_filename(char out[32], uint64_t first_lsn)
{
    snprintf(out, 32, "%016" PRIx64 ".seg", first_lsn);
}

int seg_path(char *out, size_t cap, const char *logdir, uint64_t first_lsn)
{
    int n = snprintf(out, cap, "%s/%016" PRIx64 ".seg", logdir, first_lsn);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int seg_prepare_spare(struct io *io, const char *spare_path, uint64_t bytes, uint64_t pace_ns,
                      const _Atomic int *stop)
{
    /* O_DIRECT keeps 64 MiB of zeros out of the page cache */
    int fd = io->ops->open(io, spare_path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd == -EINVAL) /* a filesystem without O_DIRECT: zero through the page cache */
        fd = io->ops->open(io, spare_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    /* 128 KiB writes, not 1 MiB: a durable 4 KiB write that queues behind one waits a
     * quarter as long (a durable writer's p99 right after open: 0.5-0.6 ms with 1 MiB
     * chunks, 0.27-0.31 ms with 128 KiB, against 0.19-0.21 ms with nothing zeroed) */
    const size_t chunk = 128u << 10;
    void *zeros = NULL;
    int r = posix_memalign(&zeros, LOG_BLOCK, chunk) ? SLUICE_ENOMEM : 0;
    if (!r) {
        memset(zeros, 0, chunk);
        uint64_t t0 = clock_now_ns();
        for (uint64_t off = 0; off < bytes && !r;) {
            if (stop && atomic_load_explicit(stop, memory_order_relaxed)) {
                r = SLUICE_EBUSY;
                break;
            }
            /* paced: off bytes should not be done before off / bytes of pace_ns */
            uint64_t due = pace_ns ? (uint64_t)((double)off / (double)bytes * (double)pace_ns) : 0;
            uint64_t spent = clock_now_ns() - t0;
            if (due > spent) {
                uint64_t nap = due - spent < 10000000u ? due - spent : 10000000u;
                struct timespec ts = {0, (long)nap};
                nanosleep(&ts, NULL);
                continue;
            }
            size_t n = bytes - off < chunk ? (size_t)(bytes - off) : chunk;
            ssize_t w = io->ops->pwrite(io, fd, zeros, n, off);
            if (w <= 0)
                r = w < 0 ? (int)w : -EIO;
            else
                off += (uint64_t)w;
        }
    }
    if (!r)
        r = io->ops->fdatasync(io, fd);
    free(zeros);
    io->ops->close(io, fd);
    if (r)
        io->ops->unlink(io, spare_path);
    return r;
}

int seg_install(struct io *io, const char *logdir, const char *spare_path, const uint8_t uuid[16],
                uint64_t seq, uint64_t first_lsn, uint64_t bytes)
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

    int r;
    if (spare_path && (r = io->ops->rename(io, spare_path, tmp)) < 0)
        spare_path = NULL; /* fall back to a fresh file */
    int fd = io->ops->open(io, tmp, O_RDWR | O_CREAT | (spare_path ? 0 : O_TRUNC), 0644);
    r = fd;
    if (fd < 0)
        goto out;
    /* Without a spare, preallocate at least, so appends never change the file size. */
    if (!spare_path && (r = io->ops->fallocate(io, fd, 0, bytes)) < 0)
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

/* Parses "<16 hex>.seg"; 1 on success. */
int seg_parse_name(const char *name, uint64_t *first_lsn)
{
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *first_lsn = v;
    return v != 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int seg_list(const char *logdir, uint64_t **out, size_t *n, void (*on_tmp)(void *, const char *),
             void *arg)
{
    DIR *d = opendir(logdir);
    if (!d)
        return -errno;
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 8 && strcmp(e->d_name + len - 8, ".seg.tmp") == 0) {
            if (on_tmp)
                on_tmp(arg, e->d_name);
            continue;
        }
        uint64_t lsn;
        if (!seg_parse_name(e->d_name, &lsn))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                r = SLUICE_ENOMEM;
                break;
            }
            v = nv;
        }
        v[cnt++] = lsn;
    }
    closedir(d);
    if (r) {
        free(v);
        return r;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *out = v;
    *n = cnt;
    return 0;
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
    if (out->version < SEG_FORMAT_VERSION_MIN || out->version > SEG_FORMAT_VERSION)
        return SLUICE_EVERSION;
    if (seg_hdr_crc(block) != out->crc)
        return SLUICE_ECORRUPT;
    if (out->header_bytes != SEG_HEADER_BYTES || out->segment_bytes < SEG_MIN_BYTES ||
        out->first_lsn == 0 || out->segment_seq == 0)
        return SLUICE_ECORRUPT;
    return 0;
}
