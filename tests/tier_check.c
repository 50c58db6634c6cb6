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

int tc_check_oracle(const char *dir, const sluice_options *opts, const struct tc_oracle *o,
                    char *why, size_t why_len)
{
    sluice_options opt = *opts;
    char err[256] = "";
    opt.errbuf = err;
    opt.errbuf_bytes = sizeof err;
    sluice_db *db;
    int r = sluice_open(dir, &opt, &db);
    if (r) {
        snprintf(why, why_len, "open: %s: %s", sluice_errname(r), err);
        return -1;
    }
    char key[SLUICE_KEY_MAX + 1];
    static _Thread_local uint8_t want[4096], got[4096];
    int bad = 0;
    for (uint64_t id = 1; id <= o->max_id && !bad; id++) {
        if (!o->acked[id])
            continue;
        size_t vlen, glen, klen = o->record_of(id, key, want, &vlen);
        r = sluice_get(db, key, klen, id, got, sizeof got, &glen);
        if (r || glen != vlen || memcmp(got, want, vlen))
            bad = snprintf(why, why_len, "acknowledged record %llu %s: %s",
                           (unsigned long long)id, r ? "lost" : "damaged", sluice_errname(r));
    }
    uint8_t *seen = calloc(o->max_id + 1, 1);
    sluice_iter *it = NULL;
    if (!bad && (!seen || (r = sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it))))
        bad = snprintf(why, why_len, "scan: %s", seen ? sluice_errname(r) : "out of memory");
    sluice_record rec;
    while (!bad && (r = sluice_iter_next(it, &rec)) == 0) {
        uint64_t id = rec.ts;
        if (id < 1 || id > o->max_id || !o->tried[id]) {
            bad = snprintf(why, why_len, "invented record ts %llu", (unsigned long long)id);
            break;
        }
        size_t vlen, klen = o->record_of(id, key, want, &vlen);
        if (rec.klen != klen || memcmp(rec.key, key, klen) || rec.vlen != vlen ||
            memcmp(rec.val, want, vlen))
            bad = snprintf(why, why_len, "record %llu present but not as written",
                           (unsigned long long)id);
        else if (seen[id]++)
            bad = snprintf(why, why_len, "record %llu twice", (unsigned long long)id);
    }
    if (!bad && r != SLUICE_END)
        bad = snprintf(why, why_len, "scan: %s", sluice_errname(r));
    sluice_iter_close(it);
    free(seen);
    r = sluice_close(db);
    if (!bad && r)
        bad = snprintf(why, why_len, "close: %s", sluice_errname(r));
    if (bad)
        return -1;
    uint64_t n;
    return o->lsn_gaps_allowed ? 0 : tc_check_lsns(dir, &n, why, why_len);
}
