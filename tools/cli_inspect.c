/*
 * sluice info, dump and verify: they read the files themselves, with the library's own
 * segment walker (tiers/log/walker.c, shared with recovery) and block decoder, so a
 * damaged directory that the library refuses to open can still be inspected. They never
 * write: segments are opened O_RDONLY, LMDB with MDB_RDONLY, and no lock is taken.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "cold.h"
#include "io.h"
#include "log.h"
#include "walker.h"

/* ---- the log ---- */

struct seg_summary {
    struct seg_hdr hdr;
    uint64_t size, records, fills, first, last, ts_min, ts_max;
    uint64_t valid_end, nonzero_end, stamp, expect_next;
};

typedef int (*rec_fn)(void *arg, const struct rec_hdr *h, uint64_t off);

/*
 * Walks one segment file: fn (may be NULL) for every valid record; *s summarises it.
 * 0, or the error that stopped it: SLUICE_ECORRUPT/EVERSION (header), -errno. msg gets a
 * one-line reason.
 */
static int walk_file(struct io *io, const char *path, rec_fn fn, void *arg, struct seg_summary *s,
                     char *msg, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->ts_min = UINT64_MAX;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0) {
        snprintf(msg, cap, "cannot open: %s", strerror(errno));
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, cap, "not a regular file");
        close(fd);
        return SLUICE_ECORRUPT;
    }
    s->size = (uint64_t)st.st_size;
    /* a live writer's O_DIRECT writes may have left pages we cached earlier stale */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    struct seg_walker w;
    int r = seg_walker_open(&w, io, fd, s->size);
    if (r) {
        snprintf(msg, cap, "offset 0: bad segment header (%s)", sluice_strerror(r));
        seg_walker_close(&w);
        close(fd);
        return r;
    }
    s->hdr = w.hdr;
    const struct rec_hdr *h;
    uint64_t off;
    while ((r = seg_walker_next(&w, &h, &off)) == 1) {
        if (!s->records)
            s->first = h->lsn;
        s->last = h->lsn;
        s->records++;
        if (h->type != REC_OFFSET) {
            s->ts_min = h->ts < s->ts_min ? h->ts : s->ts_min;
            s->ts_max = h->ts > s->ts_max ? h->ts : s->ts_max;
        }
        if (fn && (r = fn(arg, h, off)) != 0)
            break;
    }
    s->fills = w.fills;
    s->valid_end = w.pos;
    s->expect_next = w.expect_lsn;
    if (r < 0 && r != SLUICE_END) {
        snprintf(msg, cap, "read error: %s", sluice_strerror(r));
    } else {
        if (r == 0)
            r = seg_walker_scan_tail(&w, &s->nonzero_end, &s->stamp);
        if (r == SLUICE_END)
            r = 0;
    }
    seg_walker_close(&w);
    close(fd);
    return r;
}

static const char *type_name(uint8_t t)
{
    return t == REC_PUT ? "put" : t == REC_DELETE ? "delete" : t == REC_OFFSET ? "offset" : "?";
}

/* The log directory of DIR; DIR itself if it holds segments directly. */
static void log_dir_of(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/log", dir);
    struct stat st;
    if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
        snprintf(out, cap, "%s", dir);
}

static int open_io(const char *cmd, struct io **io)
{
    int r = io_create(SLUICE_IO_POSIX, io);
    return r ? cli_fail(cmd, CLI_USAGE, "cannot set up file I/O: %s", sluice_strerror(r)) : 0;
}

/* ---- the cold tier ---- */

/* Where data.mdb is mapped in this process, to turn a value's address into a file
 * offset (LMDB tells the map address only for MDB_FIXEDMAP). */
struct map_range {
    uintptr_t start, end;
    uint64_t file_off;
};

static void find_map(const char *dir, struct map_range *m)
{
    memset(m, 0, sizeof *m);
    char want[4200], real[4200];
    snprintf(want, sizeof want, "%s/cold/data.mdb", dir);
    if (!realpath(want, real))
        return;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char line[4608];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        unsigned long long off;
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %*s %llx %*s %*s %n", &lo, &hi, &off, &path_at) < 3 || !path_at)
            continue;
        char *p = line + path_at;
        p[strcspn(p, "\n")] = 0;
        if (!strcmp(p, real) && (!m->start || lo < m->start)) {
            m->start = lo;
            m->end = hi;
            m->file_off = off;
        }
    }
    fclose(f);
}

static uint64_t file_offset(const struct map_range *m, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return m->start && a >= m->start && a < m->end ? a - m->start + m->file_off : 0;
}

/* Opens DIR/cold read-only; *c NULL (and 0) when there is none. */
static int open_cold(const char *cmd, const char *dir, struct cold **c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cold", dir);
    *c = NULL;
    int r = cold_open(path, 1, 1u << 20, c);
    if (r == SLUICE_NOTFOUND)
        return 0;
    if (r)
        return cli_fail(cmd, cli_code(r), "%s: %s", path, sluice_strerror(r));
    return 0;
}

struct block_check {
    struct block_hdr h;
    int err;           /* 0, or why the block is damaged */
    const char *why;
    uint32_t nrecs;
};

/* Buffers to decode one block into, owned by the command that runs. */
struct decoder {
    uint8_t *raw;
    struct block_rec *recs;
};

static int decoder_init(struct decoder *dc)
{
    dc->raw = malloc(BLOCK_RAW_MAX);
    dc->recs = malloc(COLD_BLOCK_RECORDS * sizeof *dc->recs);
    return dc->raw && dc->recs ? 0 : SLUICE_ENOMEM;
}

static void decoder_free(struct decoder *dc)
{
    free(dc->raw);
    free(dc->recs);
}

/* Decodes b fully and checks it against its LMDB key. */
static void check_block(struct decoder *dc, const struct cold_block_ref *b, struct block_check *bc)
{
    memset(bc, 0, sizeof *bc);
    if (b->bad_key) {
        bc->err = SLUICE_ECORRUPT, bc->why = "block key is not 12 bytes";
        return;
    }
    int r = block_decode(b->data, b->len, dc->raw, dc->recs, COLD_BLOCK_RECORDS, &bc->h);
    if (r) {
        bc->err = SLUICE_ECORRUPT;
        bc->why = r == SLUICE_ERANGE ? "more records than a block may hold" : "checksum or structure mismatch";
    } else if (bc->h.series != b->series) {
        bc->err = SLUICE_ECORRUPT, bc->why = "header series differs from its key";
    } else if (bc->h.ts_min != b->key_ts) {
        bc->err = SLUICE_ECORRUPT, bc->why = "header ts_min differs from its key";
    } else {
        bc->nrecs = bc->h.count;
    }
}

/* ---- what info and verify open: DIR's segments, its cold tier, file I/O ---- */

struct inspect {
    const char *dir;
    char logdir[4096];
    uint64_t *firsts; /* the segments' first LSNs, in order */
    size_t nseg;
    struct cold *c;   /* NULL: no cold tier yet */
    struct io *io;
};

/* Checks the DIR argument and opens what there is; 0 or the exit code (printed). */
static int inspect_open(const char *cmd, int argc, char **argv, struct inspect *in)
{
    memset(in, 0, sizeof *in);
    if (argc != 3 || argv[2][0] == '-')
        return cli_fail(cmd, CLI_USAGE, "usage: sluice %s DIR", cmd);
    in->dir = argv[2];
    struct stat st;
    if (stat(in->dir, &st) < 0)
        return cli_fail(cmd, CLI_ABSENT, "%s: %s", in->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail(cmd, CLI_USAGE, "%s: not a directory", in->dir);
    snprintf(in->logdir, sizeof in->logdir, "%s/log", in->dir);
    int code = open_cold(cmd, in->dir, &in->c);
    if (code)
        return code;
    if (seg_list(in->logdir, &in->firsts, &in->nseg, NULL, NULL) && !in->c)
        return cli_fail(cmd, CLI_ABSENT, "%s: not a sluice directory (no log/ or cold/ in it)", in->dir);
    return open_io(cmd, &in->io);
}

static void inspect_close(struct inspect *in)
{
    if (in->io)
        io_destroy(in->io);
    cold_close(in->c);
    free(in->firsts);
}

/* ---- sluice info ---- */


struct cold_totals {
    uint64_t blocks, records, stored, raw, damaged;
};

static int sum_block(void *arg, const struct cold_block_ref *b)
{
    struct cold_totals *t = arg;
    struct block_hdr h;
    t->blocks++;
    if (b->bad_key || block_peek(b->data, b->len, &h)) {
        t->damaged++;
        return 0;
    }
    t->records += h.count;
    t->stored += b->len;
    t->raw += h.raw_bytes + BLOCK_HDR_BYTES;
    return 0;
}

/* The newest offset per source among the log's records (not yet compacted). */
#define LOG_SOURCES 64
struct log_offsets {
    char name[LOG_SOURCES][SLUICE_SOURCE_MAX + 1];
    uint64_t value[LOG_SOURCES];
    int n, more;
};

static int collect_offset(void *arg, const struct rec_hdr *h, uint64_t off)
{
    (void)off;
    struct log_offsets *lo = arg;
    if (h->type != REC_OFFSET || h->vlen != 8 || h->klen == 0 || h->klen > SLUICE_SOURCE_MAX)
        return 0;
    int i = 0;
    while (i < lo->n && (strlen(lo->name[i]) != h->klen || memcmp(lo->name[i], rec_key(h), h->klen)))
        i++;
    if (i == lo->n) {
        if (lo->n == LOG_SOURCES) {
            lo->more = 1;
            return 0;
        }
        memcpy(lo->name[i], rec_key(h), h->klen);
        lo->name[i][h->klen] = 0;
        lo->n++;
    }
    memcpy(&lo->value[i], rec_val(h), 8); /* records come in LSN order: the last one wins */
    return 0;
}

static int print_offset(void *arg, const char *source, uint64_t offset)
{
    ++*(int *)arg;
    printf("  %-24s %" PRIu64 "\n", source, offset);
    return 0;
}

static void print_uuid(const uint8_t u[16])
{
    for (int i = 0; i < 16; i++)
        printf("%02x%s", u[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
}

int cli_info(int argc, char **argv)
{
    struct inspect in;
    int code = inspect_open("info", argc, argv, &in);
    if (code) {
        inspect_close(&in);
        return code;
    }
    const char *dir = in.dir, *logdir = in.logdir;
    struct cold *c = in.c;
    struct io *io = in.io;
    uint64_t *firsts = in.firsts;
    size_t nseg = in.nseg;
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    printf("directory   %s\n", dir);
    printf("writer      %s\n", cli_lock_held(lock) ? "a process holds DIR/LOCK: the directory is being "
                                                  "written (records still only in its ring are not shown)"
                                                : "none");
    uint64_t compacted = 0;
    uint8_t uuid[16];
    int has_uuid = 0;
    if (c && cold_meta(c, &compacted, uuid, &has_uuid) != 0)
        code = CLI_ABSENT;
    printf("format      log v%u, cold v%u\n", SEG_FORMAT_VERSION, COLD_FORMAT_VERSION);
    if (has_uuid) {
        printf("uuid        ");
        print_uuid(uuid);
        printf("\n");
    }
    printf("\nlog         %zu segment%s in %s\n", nseg, nseg == 1 ? "" : "s", logdir);
    uint64_t last_lsn = 0, log_bytes = 0, log_records = 0;
    struct log_offsets *log_offs = calloc(1, sizeof *log_offs);
    if (nseg)
        printf("  %-22s %6s %12s %12s %10s %21s %21s %10s\n", "SEGMENT", "SEQ", "FIRST_LSN",
               "LAST_LSN", "RECORDS", "TS_MIN", "TS_MAX", "BYTES");
    for (size_t i = 0; i < nseg; i++) {
        char name[32], path[4200], msg[256];
        seg_filename(name, firsts[i]);
        snprintf(path, sizeof path, "%s/%s", logdir, name);
        struct seg_summary s;
        int r = walk_file(io, path, log_offs ? collect_offset : NULL, log_offs, &s, msg, sizeof msg);
        if (r) {
            printf("  %-22s %s\n", name, msg);
            code = CLI_ABSENT;
            continue;
        }
        char lo[48] = "-", hi[48] = "-";
        if (s.ts_min <= s.ts_max) {
            cli_format_ts(s.ts_min, 0, lo);
            cli_format_ts(s.ts_max, 0, hi);
        }
        printf("  %-22s %6" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %21s %21s %10" PRIu64
               "\n", name, s.hdr.segment_seq, s.hdr.first_lsn, s.records ? s.last : 0, s.records, lo, hi,
               s.valid_end);
        if (s.records)
            last_lsn = s.last;
        log_bytes += s.size;
        log_records += s.records;
    }
    printf("  %" PRIu64 " records, %.1f MB of files\n", log_records, log_bytes / 1e6);
    printf("\npositions   durable_lsn %" PRIu64 " (the last record on disk), compacted_lsn %" PRIu64
           "; claimed_lsn is known only to a live writer\n",
           last_lsn > compacted ? last_lsn : compacted, compacted);
    if (c) {
        struct cold_view v;
        int r = cold_view_begin(c, &v);
        uint64_t series = 0, blocks = 0, next = 0, map = 0, used = 0;
        struct cold_totals t = {0};
        if (!r)
            r = cold_counts(&v, &series, &blocks, &next);
        if (!r)
            r = cold_for_each_block(&v, UINT32_MAX, sum_block, &t);
        cold_usage(c, &map, &used);
        printf("\ncold        %" PRIu64 " records in %" PRIu64 " blocks, %" PRIu64
               " series; %.1f MB stored (%.1f MB raw); LMDB %.1f MB in use\n",
               t.records, t.blocks, series, t.stored / 1e6, t.raw / 1e6, used / 1e6);
        if (t.records)
            printf("            %.1f bytes per record stored\n", (double)t.stored / t.records);
        if (t.damaged)
            printf("            %" PRIu64 " damaged block headers (run sluice verify)\n", t.damaged);
        printf("\noffsets in the cold tier\n");
        int noffsets = 0;
        if (!r)
            r = cold_for_each_offset(&v, print_offset, &noffsets);
        if (!r && !noffsets)
            printf("  (none in the cold tier)\n");
        if (r) {
            printf("  cold tier unreadable: %s\n", sluice_strerror(r));
            code = CLI_ABSENT;
        }
        if (v.txn)
            cold_view_end(&v);
        if (t.damaged)
            code = CLI_ABSENT;
    } else {
        printf("\ncold        none yet (nothing compacted)\n");
    }
    if (log_offs && log_offs->n) {
        printf("offsets in the log, not yet compacted (the newest of each source)\n");
        for (int i = 0; i < log_offs->n; i++)
            printf("  %-24s %" PRIu64 "\n", log_offs->name[i], log_offs->value[i]);
        if (log_offs->more)
            printf("  (more than %d sources: sluice dump log lists them all)\n", LOG_SOURCES);
    }
    free(log_offs);
    inspect_close(&in);
    return code;
}

/* ---- sluice dump log ---- */

struct dump_log {
    int json;
    uint64_t from, limit, shown;
};

static int dump_record(void *arg, const struct rec_hdr *h, uint64_t off)
{
    struct dump_log *d = arg;
    if (h->lsn < d->from)
        return 0;
    if (d->shown == d->limit)
        return SLUICE_END;
    d->shown++;
    const uint8_t *key = rec_key(h), *val = rec_val(h);
    if (d->json) {
        /* 64-bit values as strings (cli.h); "offset" is the record's place in the file */
        fputc('{', stdout);
        cli_print_json_u64(stdout, 0, "lsn", h->lsn);
        printf(",\"offset\":%" PRIu64 ",\"type\":\"%s\"", off, type_name(h->type));
        if (h->type == REC_OFFSET && h->vlen == 8) {
            uint64_t v;
            memcpy(&v, val, 8);
            cli_print_json_bytes(stdout, 1, "source", key, h->klen);
            cli_print_json_u64(stdout, 1, "source_offset", v);
        } else {
            cli_print_json_u64(stdout, 1, "ts", h->ts);
            cli_print_json_bytes(stdout, 1, "key", key, h->klen);
            printf(",\"vlen\":%u", h->vlen);
            cli_print_json_bytes(stdout, 1, "value", val, h->vlen);
        }
        printf(",\"crc\":\"ok\"}\n");
    } else {
        printf("%12" PRIu64 " %10" PRIu64 " %-6s %20" PRIu64 "  ", h->lsn, off, type_name(h->type), h->ts);
        cli_print_bytes(stdout, key, h->klen, 32);
        printf("  %u  ", h->vlen);
        if (h->type == REC_OFFSET && h->vlen == 8) {
            uint64_t v;
            memcpy(&v, val, 8);
            printf("offset=%" PRIu64, v);
        } else {
            cli_print_bytes(stdout, val, h->vlen, 32);
        }
        printf("  crc=ok\n");
    }
    return 0;
}

static int dump_log(int argc, char **argv)
{
    struct dump_log d = {.limit = UINT64_MAX};
    const char *target = NULL, *v;
    for (int i = 3; i < argc; i++) {
        int m;
        if (!strcmp(argv[i], "--json")) {
            d.json = 1;
            continue;
        }
        if ((m = cli_opt(argc, argv, &i, "--from-lsn", &v)) != 0) {
            if (m < 0 || cli_u64(v, &d.from))
                return cli_fail("dump", CLI_USAGE, "--from-lsn needs a number");
            continue;
        }
        if ((m = cli_opt(argc, argv, &i, "--limit", &v)) != 0) {
            if (m < 0 || cli_u64(v, &d.limit))
                return cli_fail("dump", CLI_USAGE, "--limit needs a number");
            continue;
        }
        if (argv[i][0] == '-' || target)
            return cli_fail("dump", CLI_USAGE, "usage: sluice dump log DIR|SEGMENT [--from-lsn N] [--limit N] [--json]");
        target = argv[i];
    }
    if (!target)
        return cli_fail("dump", CLI_USAGE, "usage: sluice dump log DIR|SEGMENT [--from-lsn N] [--limit N] [--json]");
    struct stat st;
    if (stat(target, &st) < 0)
        return cli_fail("dump", CLI_ABSENT, "%s: %s", target, strerror(errno));
    struct io *io;
    int code = open_io("dump", &io);
    if (code)
        return code;
    uint64_t one = 0, *firsts = &one;
    size_t n = 1;
    char logdir[4096] = "";
    if (S_ISDIR(st.st_mode)) {
        log_dir_of(target, logdir, sizeof logdir);
        int r = seg_list(logdir, &firsts, &n, NULL, NULL);
        if (r) {
            io_destroy(io);
            return cli_fail("dump", r == SLUICE_ENOMEM ? CLI_USAGE : CLI_ABSENT, "%s: %s", logdir,
                            r < 0 && r > -4096 ? strerror(-r) : sluice_strerror(r));
        }
        if (!n)
            printf("# %s: no segments\n", logdir);
    }
    if (!d.json)
        printf("# %10s %10s %-6s %20s  KEY  VLEN  VALUE  CRC\n", "LSN", "OFFSET", "TYPE", "TS");
    for (size_t i = 0; i < n && d.shown < d.limit; i++) {
        char path[4200], name[32], msg[256];
        if (logdir[0]) {
            seg_filename(name, firsts[i]);
            snprintf(path, sizeof path, "%s/%s", logdir, name);
        } else {
            snprintf(path, sizeof path, "%s", target);
        }
        struct seg_summary s;
        int r = walk_file(io, path, dump_record, &d, &s, msg, sizeof msg);
        if (r) {
            code = cli_fail("dump", cli_code(r), "%s: %s", path, msg);
            continue;
        }
        if (!d.json && d.shown < d.limit)
            printf("# %s: seq %" PRIu64 ", first_lsn %" PRIu64 ", %" PRIu64 " records, %" PRIu64
                   " fills, valid bytes end at %" PRIu64 "%s\n",
                   path, s.hdr.segment_seq, s.hdr.first_lsn, s.records, s.fills, s.valid_end,
                   s.nonzero_end > s.valid_end ? " (non-zero bytes follow: torn or damaged, see sluice verify)" : "");
    }
    if (logdir[0])
        free(firsts);
    io_destroy(io);
    return code;
}

/* ---- sluice dump cold ---- */

struct dump_cold {
    struct cold_view *v;
    struct decoder dc;
    struct map_range map;
    int json, records;
    uint64_t from, to;
    int damaged;
};

static const char *codec_name(uint16_t c) { return c == BLOCK_CODEC_LZ4 ? "lz4" : c == BLOCK_CODEC_NONE ? "none" : "?"; }

static int dump_block(void *arg, const struct cold_block_ref *b)
{
    struct dump_cold *d = arg;
    struct block_check bc;
    check_block(&d->dc, b, &bc);
    if (!bc.err && (bc.h.ts_max < d->from || bc.h.ts_min >= d->to))
        return 0;
    const void *key = "";
    size_t klen = 0;
    if (!b->bad_key && cold_series_name(d->v, b->series, &key, &klen))
        key = "?", klen = 1;
    if (d->json) {
        printf("{\"series\":%u", b->series);
        cli_print_json_bytes(stdout, 1, "key", key, klen);
        cli_print_json_u64(stdout, 1, "ts_min", bc.err ? b->key_ts : bc.h.ts_min);
        cli_print_json_u64(stdout, 1, "ts_max", bc.h.ts_max);
        printf(",\"records\":%u,\"codec\":\"%s\",\"stored\":%zu,\"raw\":%u,\"offset\":%" PRIu64
               ",\"crc\":\"%s\"}\n",
               bc.h.count, codec_name(bc.h.codec), b->len, bc.h.raw_bytes + BLOCK_HDR_BYTES,
               file_offset(&d->map, b->data), bc.err ? "bad" : "ok");
    } else {
        printf("series %-6u ", b->series);
        cli_print_bytes(stdout, key, klen, 32);
        printf("  ts %" PRIu64 "..%" PRIu64 "  %u records  %s  %zu/%u bytes  data.mdb@%" PRIu64
               "  crc=%s%s%s\n",
               bc.err ? b->key_ts : bc.h.ts_min, bc.h.ts_max, bc.h.count, codec_name(bc.h.codec), b->len,
               bc.h.raw_bytes + BLOCK_HDR_BYTES, file_offset(&d->map, b->data), bc.err ? "BAD (" : "ok",
               bc.err ? bc.why : "", bc.err ? ")" : "");
    }
    if (bc.err) {
        d->damaged = 1;
        return 0;
    }
    for (uint32_t i = 0; d->records && i < bc.nrecs; i++) {
        const struct block_rec *r = &d->dc.recs[i];
        if (r->ts < d->from || r->ts >= d->to)
            continue;
        if (d->json) { /* every record line names its key: each line stands alone */
            printf("{\"series\":%u", b->series);
            cli_print_json_bytes(stdout, 1, "key", key, klen);
            cli_print_json_u64(stdout, 1, "ts", r->ts);
            cli_print_json_u64(stdout, 1, "lsn", r->lsn);
            cli_print_json_bytes(stdout, 1, "value", r->val, r->vlen);
            printf("}\n");
        } else {
            printf("    ts %" PRIu64 "  lsn %" PRIu64 "  %u  ", r->ts, r->lsn, r->vlen);
            cli_print_bytes(stdout, r->val, r->vlen, 48);
            printf("\n");
        }
    }
    return 0;
}

static int dump_cold(int argc, char **argv)
{
    struct dump_cold d = {.to = UINT64_MAX};
    const char *dir = NULL, *key = NULL, *v;
    for (int i = 3; i < argc; i++) {
        int m = 0;
        if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--records")) {
            *(argv[i][2] == 'j' ? &d.json : &d.records) = 1;
            continue;
        }
        if ((m = cli_opt(argc, argv, &i, "--key", &v)) > 0) {
            key = v;
            continue;
        }
        if (m == 0 && (m = cli_opt(argc, argv, &i, "--from", &v)) > 0) {
            if (cli_parse_ts(v, &d.from))
                return cli_fail("dump", CLI_USAGE, "bad timestamp '%s'", v);
            continue;
        }
        if (m == 0 && (m = cli_opt(argc, argv, &i, "--to", &v)) > 0) {
            if (cli_parse_ts(v, &d.to))
                return cli_fail("dump", CLI_USAGE, "bad timestamp '%s'", v);
            continue;
        }
        if (m < 0 || argv[i][0] == '-' || dir)
            return cli_fail("dump", CLI_USAGE, "usage: sluice dump cold DIR [--key K] [--from T] [--to T] [--records] [--json]");
        dir = argv[i];
    }
    if (!dir)
        return cli_fail("dump", CLI_USAGE, "usage: sluice dump cold DIR [--key K] [--from T] [--to T] [--records] [--json]");
    struct cold *c;
    int code = open_cold("dump", dir, &c);
    if (code)
        return code;
    if (!c)
        return cli_fail("dump", CLI_ABSENT, "%s: no cold tier (nothing compacted yet, or not a sluice directory)", dir);
    if (decoder_init(&d.dc)) {
        decoder_free(&d.dc);
        cold_close(c);
        return cli_fail("dump", CLI_USAGE, "out of memory");
    }
    struct cold_view view;
    int r = cold_view_begin(c, &view);
    d.v = &view;
    find_map(dir, &d.map);
    uint32_t series = UINT32_MAX;
    if (!r && key)
        r = cold_series_of(&view, key, strlen(key), &series);
    if (!r)
        r = cold_for_each_block(&view, series, dump_block, &d);
    if (view.txn)
        cold_view_end(&view);
    if (r == SLUICE_NOTFOUND && key)
        code = cli_fail("dump", CLI_ABSENT, "%s: key not in the cold tier", key);
    else if (r)
        code = cli_fail("dump", cli_code(r), "%s/cold: %s", dir, sluice_strerror(r));
    else if (d.damaged)
        code = cli_fail("dump", CLI_ABSENT, "%s/cold/data.mdb: damaged blocks (marked BAD above)", dir);
    decoder_free(&d.dc);
    cold_close(c);
    return code;
}

int cli_dump(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[2], "log"))
        return dump_log(argc, argv);
    if (argc >= 3 && !strcmp(argv[2], "cold"))
        return dump_cold(argc, argv);
    return cli_fail("dump", CLI_USAGE, "usage: sluice dump log|cold ... (sluice dump --help)");
}

/* ---- sluice verify ---- */

struct verify {
    const char *dir;
    struct cold_view *v;
    struct decoder dc;
    struct map_range map;
    uint64_t problems, blocks, block_records;
    uint32_t prev_series;
    uint64_t prev_ts_max;
    int have_prev;
};

static void problem(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
{
    vf->problems++;
    printf("%s: offset %" PRIu64 ": ", file, off);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int verify_block(void *arg, const struct cold_block_ref *b)
{
    struct verify *vf = arg;
    char file[4200];
    snprintf(file, sizeof file, "%s/cold/data.mdb", vf->dir);
    struct block_check bc;
    check_block(&vf->dc, b, &bc);
    vf->blocks++;
    if (bc.err) {
        problem(vf, file, file_offset(&vf->map, b->data), "block of series %u at ts %" PRIu64 ": %s", b->series, b->key_ts, bc.why);
        return 0;
    }
    vf->block_records += bc.nrecs;
    const void *key;
    size_t klen;
    uint32_t back;
    if (cold_series_name(vf->v, b->series, &key, &klen) || cold_series_of(vf->v, key, klen, &back) ||
        back != b->series)
        problem(vf, file, file_offset(&vf->map, b->data), "series %u has no consistent dictionary entry", b->series);
    if (vf->have_prev && vf->prev_series == b->series && bc.h.ts_min <= vf->prev_ts_max)
        problem(vf, file, file_offset(&vf->map, b->data), "block of series %u at ts %" PRIu64 " overlaps the one before",
                b->series, bc.h.ts_min);
    vf->have_prev = 1;
    vf->prev_series = b->series;
    vf->prev_ts_max = bc.h.ts_max;
    return 0;
}

int cli_verify(int argc, char **argv)
{
    struct inspect in;
    int code = inspect_open("verify", argc, argv, &in);
    if (code) {
        inspect_close(&in);
        return code;
    }
    const char *dir = in.dir, *logdir = in.logdir;
    struct cold *c = in.c;
    struct io *io = in.io;
    uint64_t *firsts = in.firsts;
    size_t nseg = in.nseg;
    struct verify vf = {.dir = dir};
    uint64_t compacted = 0, records = 0;
    uint8_t uuid[16];
    int has_uuid = 0;
    char cold_file[4200];
    snprintf(cold_file, sizeof cold_file, "%s/cold/data.mdb", dir);
    if (c) {
        int r = cold_meta(c, &compacted, uuid, &has_uuid);
        if (r)
            problem(&vf, cold_file, 0, "meta database unreadable: %s", sluice_strerror(r));
    }
    uint64_t next_lsn = compacted + 1, prev_seq = 0;
    for (size_t i = 0; i < nseg; i++) {
        char name[32], path[4200], msg[256];
        seg_filename(name, firsts[i]);
        snprintf(path, sizeof path, "%s/%s", logdir, name);
        struct seg_summary s;
        int r = walk_file(io, path, NULL, NULL, &s, msg, sizeof msg);
        if (r) {
            if (r < 0 && r > -4096 && r != -ELOOP) {
                code = cli_fail("verify", CLI_USAGE, "%s: %s", path, msg);
                break;
            }
            problem(&vf, path, 0, "%s", msg + (strncmp(msg, "offset 0: ", 10) ? 0 : 10));
            continue;
        }
        records += s.records;
        if (s.hdr.first_lsn != firsts[i])
            problem(&vf, path, 0, "header first_lsn %" PRIu64 " does not match the file name", s.hdr.first_lsn);
        if (has_uuid && memcmp(s.hdr.uuid, uuid, 16))
            problem(&vf, path, 0, "belongs to another database (uuid differs from the cold tier's)");
        if (prev_seq && s.hdr.segment_seq != prev_seq + 1)
            problem(&vf, path, 0, "sequence %" PRIu64 " follows %" PRIu64, s.hdr.segment_seq, prev_seq);
        prev_seq = s.hdr.segment_seq;
        /* records before compacted_lsn + 1 may be gone with their compacted segment */
        if (s.hdr.first_lsn > next_lsn && !(i == 0 && !c && s.hdr.first_lsn == 1))
            problem(&vf, path, 0, "records %" PRIu64 "..%" PRIu64 " are in neither the log nor the cold tier",
                    next_lsn, s.hdr.first_lsn - 1);
        if (s.records && s.last + 1 > next_lsn)
            next_lsn = s.last + 1;
        else if (!s.records && s.hdr.first_lsn > next_lsn)
            next_lsn = s.hdr.first_lsn;
        int last = i + 1 == nseg;
        if (s.nonzero_end > s.valid_end) {
            if (!last || s.stamp >= s.expect_next)
                problem(&vf, path, s.valid_end, "bad record (checksum, type or length); %" PRIu64
                        " bytes up to %" PRIu64 " cannot be read%s", s.nonzero_end - s.valid_end,
                        s.nonzero_end, last ? ", and a later durable stamp shows they were acknowledged" : "");
            else
                printf("%s: offset %" PRIu64 ": torn tail of %" PRIu64 " bytes (an unfinished write; "
                       "recovery cuts it)\n", path, s.valid_end, s.nonzero_end - s.valid_end);
        }
    }
    if (c && decoder_init(&vf.dc) == 0) {
        struct cold_view v;
        int r = cold_view_begin(c, &v);
        vf.v = &v;
        find_map(dir, &vf.map);
        if (!r)
            r = cold_for_each_block(&v, UINT32_MAX, verify_block, &vf);
        if (r)
            problem(&vf, cold_file, 0, "cold tier unreadable: %s", sluice_strerror(r));
        if (v.txn)
            cold_view_end(&v);
        if (vf.blocks && !compacted)
            problem(&vf, cold_file, 0, "blocks exist but meta has no compacted_lsn");
    }
    if (!code) {
        printf("verify %s: %zu segments (%" PRIu64 " records), %" PRIu64 " cold blocks (%" PRIu64
               " records), compacted_lsn %" PRIu64 ": %s",
               dir, nseg, records, vf.blocks, vf.block_records, compacted, vf.problems ? "" : "clean\n");
        if (vf.problems)
            printf("%" PRIu64 " problem%s\n", vf.problems, vf.problems == 1 ? "" : "s");
        code = vf.problems ? CLI_ABSENT : CLI_OK;
    }
    decoder_free(&vf.dc);
    inspect_close(&in);
    return code;
}
