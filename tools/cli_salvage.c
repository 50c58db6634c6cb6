/*
 * sluice repair and sluice backup: copies of a directory into a new one.
 *
 * repair DIR DEST reads DIR the way verify does (the library's walker and block decoder,
 * LMDB opened with MDB_NOLOCK, segments O_RDONLY: nothing in DIR is written) and puts
 * every record it can still read into DEST through the public API, oldest first:
 *   1. the cold tier, block by block; a damaged block's key and time range are noted;
 *   2. the log, segment by segment in LSN order, stepping over any damage: records above
 *      compacted_lsn, and records at or below it that fall in a damaged block's range
 *      (the log may still hold what the cold tier lost).
 * Applying in LSN order keeps "the higher LSN wins" across both tiers. What could not be
 * read is reported: LSN ranges of the log, keys and time ranges of cold blocks.
 *
 * backup DIR DEST copies a directory a writer may be using, so that DEST opens with
 * every record that was durable when the backup began:
 *   1. note the durable LSN D (the writer's stats.live, else the end of the log);
 *   2. copy each live segment's valid prefix (a segment deleted meanwhile was wholly
 *      compacted, so step 3 covers it);
 *   3. copy the cold tier in one LMDB read transaction (mdb_env_copy2): compacted_lsn C;
 *   4. if the copied log ends before C, everything in it is in the copy of the cold
 *      tier: the copied segments are dropped;
 *   5. sync DEST, open it (recovery), and check that it holds D.
 * Copying the log before the cold tier is what makes it consistent: compaction only
 * moves forward, so the cold copy's C covers every record of a segment that vanished.
 */
#include "cli_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* DEST must be new, or an empty directory; it is created. 0 or the exit code. */
static int dest_prepare(const char *cmd, const char *dest)
{
    if (mkdir(dest, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return cli_fail(cmd, CLI_USAGE, "%s: cannot create: %s", dest, strerror(errno));
    DIR *d = opendir(dest);
    if (!d)
        return cli_fail(cmd, CLI_USAGE, "%s: %s", dest, strerror(errno));
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? 0 : cli_fail(cmd, CLI_USAGE, "%s: not empty (the copy goes into a new directory)", dest);
}

static int same_dir(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* ---- sluice repair ---- */

/* A damaged cold block: its key (if the dictionary still names it) and the time range
 * its records can have had, up to the next block of the same series. */
struct lost_block {
    uint8_t key[SLUICE_KEY_MAX];
    size_t klen;         /* 0: unknown */
    uint32_t series;
    uint64_t ts_lo, ts_hi;
    int64_t records;     /* -1: unknown (the header is damaged too) */
    uint64_t recovered;  /* of them, found again in the log */
};

struct repair {
    const char *dir, *dest;
    sluice_db *out;
    struct cold_view *v;
    struct decoder dc;
    uint64_t compacted;
    uint64_t from_cold, from_log, log_lost_records, log_stretches, cold_lost_blocks;
    struct lost_block *lost;
    size_t nlost, caplost;
    int fatal; /* a put into DEST failed */
};

/* An offset into the copy. Cursors and watermarks are offsets under reserved names
 * (engine/marks.c): a watermark (a ts) is carried; a cursor is not — the copy numbers its
 * records anew, so an LSN of DIR means nothing there — and is named instead. */
static int put_offset(struct repair *rp, const char *source, uint64_t value)
{
    if (source[0] != 1)
        return sluice_offset_put(rp->out, source, value, SLUICE_ACK_MEMORY);
    if (source[1] == 'w' && source[2]) {
        int r = sluice_watermark_put(rp->out, source + 2, value, SLUICE_ACK_MEMORY);
        return r == SLUICE_EORDER ? 0 : r; /* an older value met after a newer one */
    }
    if (source[1] == 'c' && source[2] && value != UINT64_MAX)
        printf("not carried: cursor %s at LSN %" PRIu64 " (the copy's LSNs differ: re-seed its "
               "consumer from the copy's time ranges)\n", source + 2, value);
    return 0;
}

static int put_out(struct repair *rp, uint8_t type, const void *key, size_t klen, uint64_t ts,
                   const void *val, size_t vlen)
{
    int r;
    if (type == REC_PUT) {
        r = sluice_put(rp->out, key, klen, ts, val, vlen, SLUICE_ACK_MEMORY, NULL);
    } else if (type == REC_DELETE) {
        r = sluice_delete(rp->out, key, klen, ts, SLUICE_ACK_MEMORY, NULL);
    } else if (type == REC_OFFSET && vlen == 8 && klen > 0 && klen <= SLUICE_SOURCE_MAX &&
               !memchr(key, 0, klen)) {
        char source[SLUICE_SOURCE_MAX + 1];
        uint64_t off;
        memcpy(source, key, klen);
        source[klen] = 0;
        memcpy(&off, val, 8);
        r = put_offset(rp, source, off);
    } else {
        return 0;
    }
    if (r && !rp->fatal)
        rp->fatal = cli_fail("repair", CLI_USAGE, "%s: writing the copy: %s", rp->dest, sluice_strerror(r));
    return r;
}

static int repair_block(void *arg, const struct cold_block_ref *b)
{
    struct repair *rp = arg;
    /* a damaged block's range ends where the next block of its series starts */
    if (rp->nlost && rp->lost[rp->nlost - 1].ts_hi == UINT64_MAX && rp->lost[rp->nlost - 1].series == b->series &&
        !b->bad_key && b->key_ts > rp->lost[rp->nlost - 1].ts_lo)
        rp->lost[rp->nlost - 1].ts_hi = b->key_ts - 1;
    struct block_check bc;
    cli_check_block(&rp->dc, b, &bc);
    const void *key = NULL;
    size_t klen = 0;
    int named = !b->bad_key && cold_series_name(rp->v, b->series, &key, &klen) == 0 && klen &&
                klen <= SLUICE_KEY_MAX;
    if (!bc.err && named) {
        for (uint32_t i = 0; i < bc.nrecs; i++) {
            const struct block_rec *r = &rp->dc.recs[i];
            if (put_out(rp, REC_PUT, key, klen, r->ts, r->val, r->vlen))
                return rp->fatal;
            rp->from_cold++;
        }
        return 0;
    }
    if (rp->nlost == rp->caplost) {
        size_t cap = rp->caplost ? rp->caplost * 2 : 16;
        struct lost_block *l = realloc(rp->lost, cap * sizeof *l);
        if (!l)
            return SLUICE_ENOMEM;
        rp->lost = l;
        rp->caplost = cap;
    }
    struct lost_block *l = &rp->lost[rp->nlost++];
    memset(l, 0, sizeof *l);
    l->series = b->series;
    l->ts_lo = b->bad_key ? 0 : b->key_ts;
    l->ts_hi = UINT64_MAX;
    struct block_hdr h;
    l->records = !b->bad_key && block_peek(b->data, b->len, &h) == 0 ? (int64_t)h.count : -1;
    if (named) {
        memcpy(l->key, key, klen);
        l->klen = klen;
    }
    rp->cold_lost_blocks++;
    return 0;
}

static int repair_offset(void *arg, const char *source, uint64_t offset)
{
    struct repair *rp = arg;
    int r = put_offset(rp, source, offset);
    if (r && !rp->fatal)
        rp->fatal = cli_fail("repair", CLI_USAGE, "%s: writing the copy: %s", rp->dest, sluice_strerror(r));
    return r;
}

/* The damaged cold block whose range holds (key, ts), or NULL. */
static struct lost_block *lost_block_of(struct repair *rp, const uint8_t *key, size_t klen, uint64_t ts)
{
    for (size_t i = 0; i < rp->nlost; i++) {
        struct lost_block *l = &rp->lost[i];
        if (l->klen == klen && !memcmp(l->key, key, klen) && ts >= l->ts_lo && ts <= l->ts_hi)
            return l;
    }
    return NULL;
}

static int repair_record(void *arg, const struct rec_hdr *h, uint64_t off)
{
    (void)off;
    struct repair *rp = arg;
    if (h->lsn <= rp->compacted) {
        struct lost_block *l = h->type == REC_OFFSET ? NULL : lost_block_of(rp, rec_key(h), h->klen, h->ts);
        if (!l)
            return 0; /* the cold tier's copy of it (or of what superseded it) is in DEST */
        l->recovered++;
    }
    if (put_out(rp, h->type, rec_key(h), h->klen, h->ts, rec_val(h), h->vlen))
        return rp->fatal;
    rp->from_log++;
    return 0;
}

static void lost_lsns(struct repair *rp, const char *file, uint64_t off, uint64_t first, uint64_t last,
                      const char *why)
{
    if (last < first || last <= rp->compacted)
        return; /* nothing, or only records the cold tier holds */
    if (first <= rp->compacted)
        first = rp->compacted + 1;
    rp->log_stretches++;
    rp->log_lost_records += last - first + 1;
    printf("lost: LSN %" PRIu64 "..%" PRIu64 " (%" PRIu64 " record%s): %s, offset %" PRIu64 ": %s\n", first,
           last, last - first + 1, last == first ? "" : "s", file, off, why);
}

static void repair_log(struct repair *rp, struct inspect *in)
{
    uint64_t next = rp->compacted + 1; /* the first LSN not yet accounted for */
    for (size_t i = 0; i < in->nseg && !rp->fatal; i++) {
        char name[32], path[4200], msg[256];
        seg_filename(name, in->firsts[i]);
        snprintf(path, sizeof path, "%s/%s", in->logdir, name);
        uint64_t seg_end = i + 1 < in->nseg ? in->firsts[i + 1] - 1 : UINT64_MAX;
        if (in->firsts[i] > next)
            lost_lsns(rp, path, 0, next, in->firsts[i] - 1, "no segment holds them");
        struct seg_summary s;
        int r = cli_walk_segment(in->io, path, UINT64_MAX, repair_record, rp, &s, msg, sizeof msg);
        if (r && !rp->fatal && !cli_is_damage(r) && r != -ELOOP) {
            /* could not read (I/O, out of memory): nothing is known of those records, so
             * none is called lost; the repair stops and says why */
            rp->fatal = cli_fail("repair", CLI_USAGE, "%s: %s", path, msg);
            break;
        }
        if (r) {
            if (seg_end != UINT64_MAX)
                lost_lsns(rp, path, 0, in->firsts[i], seg_end, msg);
            else
                printf("lost: the records of %s from LSN %" PRIu64 " on: %s\n", path, in->firsts[i], msg);
            next = seg_end == UINT64_MAX ? next : seg_end + 1;
            continue;
        }
        for (uint64_t k = 0; k < s.skips && k < CLI_SKIPS_KEPT; k++)
            lost_lsns(rp, path, s.skip[k].off, s.skip[k].first_lsn, s.skip[k].last_lsn, "damaged bytes");
        if (s.skips > CLI_SKIPS_KEPT)
            printf("lost: %" PRIu64 " more damaged stretches in %s\n", s.skips - CLI_SKIPS_KEPT, path);
        if (seg_end != UINT64_MAX && s.expect_next <= seg_end)
            lost_lsns(rp, path, s.valid_end, s.expect_next, seg_end, "damaged bytes up to the next segment");
        else if (seg_end == UINT64_MAX && s.nonzero_end > s.valid_end && s.stamp >= s.expect_next)
            lost_lsns(rp, path, s.valid_end, s.expect_next, s.stamp, "damaged bytes (a later durable stamp "
                      "shows they had been acknowledged)");
        else if (seg_end == UINT64_MAX && s.nonzero_end > s.valid_end)
            printf("note: %s: offset %" PRIu64 ": a torn tail of %" PRIu64 " bytes (never acknowledged; "
                   "recovery would cut it)\n", path, s.valid_end, s.nonzero_end - s.valid_end);
        if (s.expect_next > next)
            next = s.expect_next;
    }
}

int cli_repair(int argc, char **argv)
{
    if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-')
        return cli_fail("repair", CLI_USAGE, "usage: sluice repair DIR DEST");
    struct repair rp = {.dir = argv[2], .dest = argv[3]};
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", rp.dir);
    if (cli_lock_held(lock))
        return cli_fail("repair", CLI_USAGE, "%s: a process is writing it; repair reads a directory "
                        "nobody writes (sluice backup copies a live one)", rp.dir);
    if (same_dir(rp.dir, rp.dest))
        return cli_fail("repair", CLI_USAGE, "DEST must be another directory");
    /* without LMDB's lock file: repair writes nothing in DIR */
    struct inspect in;
    int code = cli_inspect_open("repair", rp.dir, CLI_INSPECT_NOLOCK, &in);
    if (code) {
        cli_inspect_close(&in);
        return code;
    }
    char cold[4200];
    snprintf(cold, sizeof cold, "%s/cold", rp.dir);
    int r;
    if ((code = dest_prepare("repair", rp.dest)) || (code = cli_open("repair", rp.dest, 0, &rp.out))) {
        cli_inspect_close(&in);
        return code;
    }
    if (cli_decoder_init(&rp.dc)) {
        code = cli_fail("repair", CLI_USAGE, "out of memory");
        goto out;
    }
    if (in.c) {
        uint8_t uuid[16];
        int has_uuid;
        if ((r = cold_meta(in.c, &rp.compacted, uuid, &has_uuid))) {
            printf("lost: the cold tier's meta (%s): every log record is copied\n", sluice_strerror(r));
            rp.compacted = 0;
        }
        struct cold_view v;
        if ((r = cold_view_begin(in.c, &v)) == 0) {
            rp.v = &v;
            r = cold_for_each_block(&v, UINT32_MAX, repair_block, &rp);
            if (!r)
                r = cold_for_each_offset(&v, repair_offset, &rp);
            cold_view_end(&v);
        }
        if (r && !rp.fatal)
            printf("lost: %s/data.mdb is unreadable past some point (%s): its remaining blocks\n", cold,
                   sluice_strerror(r));
    }
    if (!rp.fatal)
        repair_log(&rp, &in);
    for (size_t i = 0; i < rp.nlost; i++) {
        struct lost_block *l = &rp.lost[i];
        printf("lost: cold block of key ");
        if (l->klen)
            cli_print_bytes(stdout, l->key, l->klen, 64);
        else
            printf("(series %u, name unreadable)", l->series);
        printf(" from ts %" PRIu64 ": ", l->ts_lo);
        if (l->records >= 0)
            printf("%" PRId64 " records", l->records);
        else
            printf("its records");
        printf(", %" PRIu64 " of them (or newer versions) found again in the log\n", l->recovered);
    }
    r = sluice_flush(rp.out);
    if (r && !rp.fatal)
        rp.fatal = cli_fail("repair", CLI_USAGE, "%s: %s", rp.dest, sluice_strerror(r));
out:;
    int rc = sluice_close(rp.out);
    if (rc && !rp.fatal)
        rp.fatal = cli_fail("repair", CLI_USAGE, "%s: %s", rp.dest, sluice_strerror(rc));
    if (!code && !rp.fatal) {
        int lost = rp.log_stretches || rp.nlost;
        printf("repair %s -> %s: %" PRIu64 " records copied (%" PRIu64 " from the cold tier, %" PRIu64
               " from the log); ", rp.dir, rp.dest, rp.from_cold + rp.from_log, rp.from_cold, rp.from_log);
        if (lost)
            printf("lost %" PRIu64 " log record%s in %" PRIu64 " LSN range%s and %" PRIu64
                   " damaged cold block%s (listed above)\n", rp.log_lost_records,
                   rp.log_lost_records == 1 ? "" : "s", rp.log_stretches, rp.log_stretches == 1 ? "" : "s",
                   rp.cold_lost_blocks, rp.cold_lost_blocks == 1 ? "" : "s");
        else
            printf("nothing lost\n");
        code = lost ? CLI_ABSENT : CLI_OK;
    }
    if (rp.fatal)
        code = rp.fatal;
    cli_decoder_free(&rp.dc);
    free(rp.lost);
    cli_inspect_close(&in);
    return code;
}

/* ---- sluice backup ---- */

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) ? -errno : 0;
    close(fd);
    return r;
}

/* Copies [0, bytes) of src into dst (created), then sizes dst as src (a sparse tail: a
 * backup's segments are read, not written at speed), and syncs it. */
static int copy_prefix(const char *src, const char *dst, uint64_t bytes, uint64_t size)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    (void)posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED); /* pages a direct write left stale */
    static uint8_t buf[1 << 20];
    int r = 0;
    for (uint64_t off = 0; off < bytes && !r;) {
        size_t n = bytes - off < sizeof buf ? (size_t)(bytes - off) : sizeof buf;
        ssize_t got = pread(in, buf, n, (off_t)off);
        if (got <= 0) {
            r = got < 0 ? -errno : -EIO;
            break;
        }
        if (write(out, buf, (size_t)got) != got)
            r = -errno ? -errno : -EIO;
        off += (uint64_t)got;
    }
    if (!r && ftruncate(out, (off_t)(size > bytes ? size : bytes)))
        r = -errno;
    if (!r && fsync(out))
        r = -errno;
    close(in);
    close(out);
    return r;
}

/* The durable LSN a writer published (DIR/stats.live), or 0. */
static uint64_t live_durable(const char *dir)
{
    sluice_live_stats live;
    if (sluice_stats_read_live(dir, &live))
        return 0;
    uint64_t d = 0;
    json_t *j = json_loads(live.json, 0, NULL);
    if (j)
        d = (uint64_t)json_integer_value(json_object_get(j, "durable_lsn"));
    json_decref(j);
    sluice_live_stats_free(&live);
    return d;
}

int cli_backup(int argc, char **argv)
{
    if (argc != 4 || argv[2][0] == '-' || argv[3][0] == '-')
        return cli_fail("backup", CLI_USAGE, "usage: sluice backup DIR DEST");
    const char *dir = argv[2], *dest = argv[3];
    if (same_dir(dir, dest))
        return cli_fail("backup", CLI_USAGE, "DEST must be another directory");
    char lock[4200], path[8400], to[8400], logdir[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    int writer = cli_lock_held(lock);
    uint64_t durable = writer ? live_durable(dir) : 0;
    struct inspect in;
    int code = cli_inspect_open("backup", dir, 0, &in);
    if (code) {
        cli_inspect_close(&in);
        return code;
    }
    if ((code = dest_prepare("backup", dest))) {
        cli_inspect_close(&in);
        return code;
    }
    snprintf(logdir, sizeof logdir, "%s/log", dest);
    if (mkdir(logdir, 0755)) {
        code = cli_fail("backup", CLI_USAGE, "%s: %s", logdir, strerror(errno));
        goto out;
    }
    /* 2. the log, before the cold tier; damage the cold tier already covers is stepped
     * over as recovery does (and copied: DEST's recovery steps over it again) */
    uint64_t log_end = 0, log_bytes = 0, copied = 0, first_copied = 0, cold_now = 0;
    uint8_t uuid[16];
    int has_uuid;
    if (in.c && cold_meta(in.c, &cold_now, uuid, &has_uuid))
        cold_now = 0;
    for (size_t i = 0; i < in.nseg; i++) {
        char name[32], msg[256];
        seg_filename(name, in.firsts[i]);
        snprintf(path, sizeof path, "%s/%s", in.logdir, name);
        snprintf(to, sizeof to, "%s/%s", logdir, name);
        struct seg_summary s;
        int r = cli_walk_segment(in.io, path, cold_now, NULL, NULL, &s, msg, sizeof msg);
        if (r == -ENOENT)
            continue; /* compacted and deleted since the listing: step 3 covers it */
        if (r) {
            code = cli_fail("backup", cli_code(r), "%s: %s", path, msg);
            goto out;
        }
        if ((r = copy_prefix(path, to, s.valid_end, s.size))) {
            if (r == -ENOENT)
                continue;
            code = cli_fail("backup", CLI_USAGE, "%s: copying: %s", path, sluice_strerror(r));
            goto out;
        }
        if (!copied++)
            first_copied = s.hdr.first_lsn;
        log_end = s.records ? s.last : s.hdr.first_lsn - 1;
        log_bytes += s.valid_end;
    }
    if (!writer || !durable)
        durable = log_end; /* nobody writes: the log's end is durable */
    /* 3. the cold tier, in one read transaction */
    uint64_t compacted = 0;
    if (in.c) {
        snprintf(to, sizeof to, "%s/cold", dest);
        int r = mkdir(to, 0755) ? -errno : cold_copy(in.c, to, &compacted);
        if (r) {
            code = cli_fail("backup", cli_code(r), "%s/cold: copying: %s", dir, sluice_strerror(r));
            goto out;
        }
    }
    /* 4. a log that ends before the cold copy is wholly in it */
    if (copied && log_end < compacted) {
        for (size_t i = 0; i < in.nseg; i++) {
            char name[32];
            seg_filename(name, in.firsts[i]);
            snprintf(to, sizeof to, "%s/%s", logdir, name);
            (void)unlink(to);
        }
        copied = 0;
        log_bytes = 0;
    }
    /* 5. durable, then opened: recovery checks the whole copy */
    int r = fsync_path(logdir, 1);
    if (!r)
        r = fsync_path(dest, 1);
    if (r) {
        code = cli_fail("backup", CLI_USAGE, "%s: sync: %s", dest, sluice_strerror(r));
        goto out;
    }
    sluice_db *db;
    if ((code = cli_open("backup", dest, 0, &db)))
        goto out;
    struct sluice_stats st;
    r = sluice_stats(db, &st);
    int rc = sluice_close(db);
    if (r || rc) {
        code = cli_fail("backup", CLI_USAGE, "%s: %s", dest, sluice_strerror(r ? r : rc));
        goto out;
    }
    if (st.durable_lsn < durable) {
        code = cli_fail("backup", CLI_ABSENT, "%s: holds LSN %" PRIu64 ", short of the %" PRIu64
                        " durable when the backup began", dest, st.durable_lsn, durable);
        goto out;
    }
    printf("backup %s -> %s: every record durable at the start (LSN %" PRIu64 "); cold tier to LSN %"
           PRIu64 ", log LSN %" PRIu64 "..%" PRIu64 " (%" PRIu64 " segment%s, %.1f MB)%s\n",
           dir, dest, durable, compacted, copied ? (first_copied > compacted ? first_copied : compacted + 1) : 0,
           copied ? log_end : 0, copied, copied == 1 ? "" : "s", log_bytes / 1e6,
           writer ? "; a writer was running" : "");
out:
    cli_inspect_close(&in);
    return code;
}
