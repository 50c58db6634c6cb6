#include "tier_check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cold.h"
#include "io.h"
#include "log.h"
#include "sluice.h"
#include "walker.h"

struct lsns {
    uint64_t *v;
    size_t n, cap;
    int oom;
};

static void add(struct lsns *l, uint64_t lsn)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = lsn;
}

struct cold_walk {
    struct cold_view *view;
    struct lsns *l;
    uint64_t compacted;
    int bad;
};

static int one_series(void *arg, uint32_t series, const void *key, size_t klen)
{
    (void)key;
    (void)klen;
    struct cold_walk *cw = arg;
    struct cold_series_cursor *cur;
    int r = cold_series_open_id(cw->view, series, 0, UINT64_MAX, &cur);
    if (r)
        return r;
    struct cold_rec rec;
    while ((r = cold_series_next(cur, &rec)) == 0) {
        add(cw->l, rec.lsn);
        cw->bad |= rec.lsn > cw->compacted;
    }
    cold_series_close(cur);
    return r == SLUICE_END ? 0 : r;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int tc_check_lsns(const char *dir, uint64_t *records, char *why, size_t why_len)
{
    struct lsns l = {0};
    char path[4096];
    uint64_t compacted = 0;
    int rc = -1;
    *why = 0;
    snprintf(path, sizeof path, "%s/cold", dir);
    struct cold *c = NULL;
    int r = cold_open(path, 1, 0, &c);
    if (r && r != SLUICE_NOTFOUND) {
        snprintf(why, why_len, "cold_open: %s", sluice_strerror(r));
        return -1;
    }
    if (c) {
        struct cold_view v;
        uint8_t uuid[16];
        int has_uuid;
        if ((r = cold_meta(c, &compacted, uuid, &has_uuid)) || (r = cold_view_begin(c, &v))) {
            snprintf(why, why_len, "cold meta/view: %s", sluice_strerror(r));
            cold_close(c);
            return -1;
        }
        struct cold_walk cw = {.view = &v, .l = &l, .compacted = compacted};
        r = cold_for_each_series(&v, one_series, &cw);
        cold_view_end(&v);
        cold_close(c);
        if (r || cw.bad) {
            snprintf(why, why_len, r ? "cold walk: %s" : "a cold record above compacted_lsn%s",
                     r ? sluice_strerror(r) : "");
            goto out;
        }
    }
    size_t ncold = l.n;
    snprintf(path, sizeof path, "%s/log", dir);
    uint64_t *firsts = NULL;
    size_t nseg = 0;
    if ((r = seg_list(path, &firsts, &nseg, NULL, NULL))) {
        snprintf(why, why_len, "seg_list: %s", sluice_strerror(r));
        goto out;
    }
    struct io *io = NULL;
    if ((r = io_create(SLUICE_IO_POSIX, &io))) {
        snprintf(why, why_len, "io_create: %d", r);
        free(firsts);
        goto out;
    }
    for (size_t i = 0; i < nseg && !*why; i++) {
        char name[32];
        seg_filename(name, firsts[i]);
        snprintf(path, sizeof path, "%s/log/%s", dir, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            snprintf(why, why_len, "%s: cannot open", name);
            if (fd >= 0)
                close(fd);
            break;
        }
        struct seg_walker w;
        if ((r = seg_walker_open(&w, io, fd, (uint64_t)st.st_size))) {
            snprintf(why, why_len, "%s: header: %s", name, sluice_strerror(r));
            close(fd);
            break;
        }
        const struct rec_hdr *h;
        uint64_t off;
        int shadow_done = 0;
        while ((r = seg_walker_next(&w, &h, &off)) == 1) {
            if (h->lsn <= compacted) {
                /* the segment was compacted in part (sluice_compact takes the live
                 * one too); recovery and reads skip these, and they must lead it */
                if (shadow_done) {
                    snprintf(why, why_len, "%s: LSN %llu at offset %llu is below compacted_lsn %llu after newer records",
                             name, (unsigned long long)h->lsn, (unsigned long long)off,
                             (unsigned long long)compacted);
                    break;
                }
                continue;
            }
            shadow_done = 1;
            add(&l, h->lsn);
        }
        seg_walker_close(&w);
        close(fd);
    }
    io_destroy(io);
    free(firsts);
    if (*why)
        goto out;
    if (l.oom) {
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    if (l.n) /* qsort(NULL, 0) is undefined (UBSan says so) */
        qsort(l.v, l.n, sizeof *l.v, cmp_u64);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i] != i + 1) {
            snprintf(why, why_len, "LSN %llu %s (%zu in cold, %zu in all)",
                     (unsigned long long)(i + 1),
                     l.v[i] < i + 1 ? "twice" : "missing: the sequence has a gap", ncold, l.n);
            goto out;
        }
    rc = 0;
out:
    *records = l.n;
    free(l.v);
    return rc;
}
