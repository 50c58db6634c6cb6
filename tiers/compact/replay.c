#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "segment.h"
#include "sluice.h"

int replay_wanted(const struct replay_policy *p)
{
    if (p->retain_bytes || p->retain_ns)
        return 1;
    return p->cursor_need && p->cursor_need(p->arg) != UINT64_MAX;
}

int replay_keep(struct io *io, const struct replay_policy *p, uint64_t first_lsn)
{
    char from[4096], to[4096];
    int r;
    if ((r = seg_path(from, sizeof from, p->logdir, first_lsn)) ||
        (r = seg_path(to, sizeof to, p->replaydir, first_lsn)))
        return r;
    if (mkdir(p->replaydir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if ((r = io->ops->rename(io, from, to)))
        return r;
    /* the new name first: a crash after it leaves the file in one place or the other,
     * and recovery moves one still in log/ */
    if ((r = io->ops->fsync_dir(io, p->replaydir)))
        return r;
    return io->ops->fsync_dir(io, p->logdir);
}

struct replay_file {
    uint64_t first_lsn, bytes, mtime_ns;
};

static uint64_t wall_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int replay_prune(struct io *io, const struct replay_policy *p, uint64_t last_compacted,
                 struct replay_usage *out)
{
    *out = (struct replay_usage){0};
    uint64_t *lsns = NULL;
    size_t n = 0;
    int r = seg_list(p->replaydir, &lsns, &n, NULL, NULL);
    if (r == -ENOENT)
        return 0; /* nothing was ever kept */
    if (r)
        return r;
    struct replay_file *f = calloc(n ? n : 1, sizeof *f);
    if (!f) {
        free(lsns);
        return SLUICE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        f[i].first_lsn = lsns[i];
        if (seg_path(path, sizeof path, p->replaydir, lsns[i]) == 0 && stat(path, &st) == 0) {
            f[i].bytes = (uint64_t)st.st_size;
            f[i].mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        }
    }
    free(lsns);
    uint64_t now = wall_now_ns();
    uint64_t need = p->cursor_need ? p->cursor_need(p->arg) : UINT64_MAX;
    uint64_t kept = 0, for_cursors = 0;
    int retained = p->retain_bytes || p->retain_ns;
    /* newest first: f[i] is kept or not; once one goes, every older one goes too, so
     * what stays is always a run of consecutive LSNs up to the log */
    size_t keep_from = n;
    for (size_t k = n; k-- > 0;) {
        uint64_t last = k + 1 < n ? f[k + 1].first_lsn - 1 : last_compacted;
        int by_retention = retained && (!p->retain_bytes || kept + f[k].bytes <= p->retain_bytes) &&
                           (!p->retain_ns || now - f[k].mtime_ns <= p->retain_ns);
        int by_cursor = !by_retention && last >= need;
        if (by_cursor && for_cursors + f[k].bytes > p->cursor_max_bytes) {
            /* the cursor asks for more than it may hold: it lags, the file goes */
            if (p->on_lag)
                p->on_lag(p->arg, last + 1, k + 1 < n ? f[k + 1].first_lsn : last_compacted + 1);
            by_cursor = 0;
        }
        if (!by_retention && !by_cursor)
            break;
        kept += f[k].bytes;
        if (by_cursor)
            for_cursors += f[k].bytes;
        keep_from = k;
    }
    int deleted_any = 0;
    for (size_t k = 0; k < keep_from; k++) {
        char path[4096];
        if (seg_path(path, sizeof path, p->replaydir, f[k].first_lsn) == 0 &&
            io->ops->unlink(io, path) == 0) {
            out->deleted++;
            deleted_any = 1;
        }
    }
    if (deleted_any)
        (void)io->ops->fsync_dir(io, p->replaydir);
    out->files = n - keep_from;
    out->bytes = kept;
    out->oldest_lsn = keep_from < n ? f[keep_from].first_lsn : 0;
    free(f);
    return 0;
}
