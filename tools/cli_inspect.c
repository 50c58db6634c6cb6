/*
 * sluice info and dump: they read the files themselves, with the library's own
 * segment walker (tiers/log/walker.c, shared with recovery) and block decoder, so a
 * damaged directory that the library refuses to open can still be inspected. They never
 * write: segments are opened O_RDONLY, LMDB with MDB_RDONLY, and no lock is taken.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_files.h"

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

struct cold_offsets {
    char (*name)[SLUICE_SOURCE_MAX + 1];
    uint64_t *value;
    size_t n, cap;
};

static int collect_cold_offset(void *arg, const char *source, uint64_t offset)
{
    struct cold_offsets *co = arg;
    if (co->n == co->cap) {
        size_t cap = co->cap ? co->cap * 2 : 16;
        void *nn = realloc(co->name, cap * sizeof *co->name), *nv = realloc(co->value, cap * sizeof *co->value);
        if (nn)
            co->name = nn;
        if (nv)
            co->value = nv;
        if (!nn || !nv)
            return SLUICE_ENOMEM;
        co->cap = cap;
    }
    snprintf(co->name[co->n], sizeof co->name[co->n], "%s", source);
    co->value[co->n++] = offset;
    return 0;
}

/* Cursors and watermarks are offsets under reserved names (engine/marks.c: 0x01 'c' or
 * 'w', then the name): 'c', 'w', or 0 for a user's offset. */
static int mark_kind(const char *source)
{
    return source[0] == 1 && (source[1] == 'c' || source[1] == 'w') && source[2] ? source[1] : 0;
}

/* The newest value of each mark of kind k: the cold tier's, then the log's over them. */
struct mark_view {
    const char *name[2 * LOG_SOURCES + 64];
    uint64_t value[2 * LOG_SOURCES + 64];
    size_t n;
};

static void format_uuid(const uint8_t u[16], char out[37])
{
    for (int i = 0, o = 0; i < 16; i++)
        o += sprintf(out + o, "%02x%s", u[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
}

/* What info reports, gathered first and then printed as a table or as one JSON document
 * (docs/tools.md). */
struct info_seg {
    char name[32];
    struct seg_summary s;
    int err;
    char msg[256];
};

#define INFO_RING_FILES 8
struct info {
    int writer;
    char ring_files[INFO_RING_FILES][300]; /* DIR's shared rings in /dev/shm */
    int nring_files;
    int has_uuid;
    uint8_t uuid[16];
    uint64_t compacted, last_lsn, log_bytes, log_records;
    struct info_seg *segs;
    size_t nseg;
    int cold_present, cold_err;
    uint64_t series, map, used;
    struct cold_totals t;
    struct cold_offsets co;
    struct log_offsets *lo;
};

/* A writer's ring lives in /dev/shm/sluice-<dev>-<ino of DIR>-...: a live writer's, or
 * one a crashed writer left for the next open to replay (engine/ring_file.c). */
static void find_ring_files(const char *dir, struct info *f)
{
    struct stat st;
    DIR *d = stat(dir, &st) == 0 ? opendir("/dev/shm") : NULL;
    if (!d)
        return;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sluice-%" PRIx64 "-%" PRIx64 "-", (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    struct dirent *e;
    while ((e = readdir(d)) && f->nring_files < INFO_RING_FILES)
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            snprintf(f->ring_files[f->nring_files++], sizeof f->ring_files[0], "/dev/shm/%s", e->d_name);
    closedir(d);
}

static void info_gather(struct inspect *in, struct info *f, int *code)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", in->dir);
    f->writer = cli_lock_held(lock);
    find_ring_files(in->dir, f);
    if (in->c && cold_meta(in->c, &f->compacted, f->uuid, &f->has_uuid) != 0)
        *code = CLI_ABSENT;
    f->lo = calloc(1, sizeof *f->lo);
    f->segs = calloc(in->nseg ? in->nseg : 1, sizeof *f->segs);
    if (!f->segs) {
        *code = cli_fail("info", CLI_USAGE, "out of memory");
        return;
    }
    f->nseg = 0;
    for (size_t i = 0; i < in->nseg; i++) {
        struct info_seg *g = &f->segs[f->nseg];
        char path[4200];
        seg_filename(g->name, in->firsts[i]);
        snprintf(path, sizeof path, "%s/%s", in->logdir, g->name);
        g->err = cli_walk_segment(in->io, path, f->compacted, f->lo ? collect_offset : NULL, f->lo,
                                  &g->s, g->msg, sizeof g->msg);
        if (g->err == -ENOENT)
            continue; /* compacted and deleted since the listing (a live writer) */
        f->nseg++;
        if (g->err) {
            *code = CLI_ABSENT;
            continue;
        }
        if (g->s.records)
            f->last_lsn = g->s.last;
        f->log_bytes += g->s.size;
        f->log_records += g->s.records;
    }
    if (!in->c)
        return;
    f->cold_present = 1;
    struct cold_view v;
    int r = cold_view_begin(in->c, &v);
    uint64_t blocks = 0, next = 0;
    if (!r)
        r = cold_counts(&v, &f->series, &blocks, &next);
    if (!r)
        r = cold_for_each_block(&v, UINT32_MAX, sum_block, &f->t);
    if (!r)
        r = cold_for_each_offset(&v, collect_cold_offset, &f->co);
    cold_usage(in->c, &f->map, &f->used);
    if (v.txn)
        cold_view_end(&v);
    f->cold_err = r;
    if (r || f->t.damaged)
        *code = CLI_ABSENT;
}

static void info_free(struct info *f)
{
    free(f->segs);
    free(f->lo);
    free(f->co.name);
    free(f->co.value);
}

static void marks_print_table(const struct info *f);

static void info_print_table(const struct inspect *in, const struct info *f)
{
    printf("directory   %s\n", in->dir);
    printf("writer      %s\n", f->writer ? "a process holds DIR/LOCK: the directory is being written "
                                           "(records still only in its ring are not shown)"
                                         : "none");
    printf("format      log v%u, cold v%u\n", SEG_FORMAT_VERSION, COLD_FORMAT_VERSION);
    for (int i = 0; i < f->nring_files; i++)
        printf("ring        %s (%s)\n", f->ring_files[i],
               f->writer ? "the writer's shared ring" : "left by a writer that crashed: the next open replays it");
    if (f->has_uuid) {
        char u[37];
        format_uuid(f->uuid, u);
        printf("uuid        %s\n", u);
    }
    printf("\nlog         %zu segment%s in %s\n", f->nseg, f->nseg == 1 ? "" : "s", in->logdir);
    if (f->nseg)
        printf("  %-22s %6s %12s %12s %10s %21s %21s %10s\n", "SEGMENT", "SEQ", "FIRST_LSN",
               "LAST_LSN", "RECORDS", "TS_MIN", "TS_MAX", "BYTES");
    for (size_t i = 0; i < f->nseg; i++) {
        const struct info_seg *g = &f->segs[i];
        if (g->err) {
            printf("  %-22s %s\n", g->name, g->msg);
            continue;
        }
        char lo[48] = "-", hi[48] = "-";
        if (g->s.ts_min <= g->s.ts_max) {
            cli_format_ts(g->s.ts_min, 0, lo);
            cli_format_ts(g->s.ts_max, 0, hi);
        }
        printf("  %-22s %6" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %21s %21s %10" PRIu64 "\n",
               g->name, g->s.hdr.segment_seq, g->s.hdr.first_lsn, g->s.records ? g->s.last : 0,
               g->s.records, lo, hi, g->s.valid_end);
    }
    printf("  %" PRIu64 " records, %.1f MB of files\n", f->log_records, f->log_bytes / 1e6);
    printf("\npositions   durable_lsn %" PRIu64 " (the last record on disk), compacted_lsn %" PRIu64
           "; claimed_lsn is known only to a live writer\n",
           f->last_lsn > f->compacted ? f->last_lsn : f->compacted, f->compacted);
    if (f->cold_present) {
        printf("\ncold        %" PRIu64 " records in %" PRIu64 " blocks, %" PRIu64
               " series; %.1f MB stored (%.1f MB raw); LMDB %.1f MB in use\n",
               f->t.records, f->t.blocks, f->series, f->t.stored / 1e6, f->t.raw / 1e6, f->used / 1e6);
        if (f->t.records)
            printf("            %.1f bytes per record stored\n", (double)f->t.stored / f->t.records);
        if (f->t.damaged)
            printf("            %" PRIu64 " damaged block headers (run sluice verify)\n", f->t.damaged);
        printf("\noffsets in the cold tier\n");
        size_t shown = 0;
        for (size_t i = 0; i < f->co.n; i++)
            if (!mark_kind(f->co.name[i])) {
                printf("  %-24s %" PRIu64 "\n", f->co.name[i], f->co.value[i]);
                shown++;
            }
        if (!f->cold_err && !shown)
            printf("  (none in the cold tier)\n");
        if (f->cold_err)
            printf("  cold tier unreadable: %s\n", sluice_strerror(f->cold_err));
    } else {
        printf("\ncold        none yet (nothing compacted)\n");
    }
    int user = 0;
    for (int i = 0; f->lo && i < f->lo->n; i++)
        user += !mark_kind(f->lo->name[i]);
    if (user) {
        printf("offsets in the log, not yet compacted (the newest of each source)\n");
        for (int i = 0; i < f->lo->n; i++)
            if (!mark_kind(f->lo->name[i]))
                printf("  %-24s %" PRIu64 "\n", f->lo->name[i], f->lo->value[i]);
    }
    if (f->lo && f->lo->more)
        printf("  (more than %d sources: sluice dump log lists them all)\n", LOG_SOURCES);
    marks_print_table(f);
}

static void marks_put(struct mark_view *m, const char *name, uint64_t value)
{
    size_t i = 0;
    while (i < m->n && strcmp(m->name[i], name))
        i++;
    if (i == m->n) {
        if (m->n == sizeof m->name / sizeof *m->name)
            return;
        m->name[m->n++] = name;
    }
    m->value[i] = value;
}

static void marks_gather(const struct info *f, int k, struct mark_view *m)
{
    m->n = 0;
    for (size_t i = 0; i < f->co.n; i++)
        if (mark_kind(f->co.name[i]) == k)
            marks_put(m, f->co.name[i] + 2, f->co.value[i]);
    for (int i = 0; f->lo && i < f->lo->n; i++)
        if (mark_kind(f->lo->name[i]) == k)
            marks_put(m, f->lo->name[i] + 2, f->lo->value[i]);
    /* a dropped cursor's last record holds UINT64_MAX */
    for (size_t i = 0; i < m->n;)
        if (k == 'c' && m->value[i] == UINT64_MAX) {
            m->n--;
            m->name[i] = m->name[m->n];
            m->value[i] = m->value[m->n];
        } else {
            i++;
        }
}

static void marks_print_table(const struct info *f)
{
    struct mark_view m;
    uint64_t last = f->last_lsn > f->compacted ? f->last_lsn : f->compacted;
    marks_gather(f, 'c', &m);
    printf("\ncursors%s\n", m.n ? "" : "     (none)");
    for (size_t i = 0; i < m.n; i++)
        printf("  %-24s lsn %" PRIu64 ", %" PRIu64 " LSNs behind the end of the log\n", m.name[i],
               m.value[i], last > m.value[i] ? last - m.value[i] : 0);
    marks_gather(f, 'w', &m);
    printf("watermarks%s\n", m.n ? "" : "  (none)");
    for (size_t i = 0; i < m.n; i++)
        printf("  %-24s ts %" PRIu64 "\n", m.name[i], m.value[i]);
}

static json_t *marks_json(const struct info *f, int k)
{
    struct mark_view m;
    marks_gather(f, k, &m);
    json_t *a = json_array();
    for (size_t i = 0; i < m.n; i++) {
        json_t *o = json_object();
        cli_json_set_bytes(o, "name", m.name[i], strlen(m.name[i]));
        json_object_set_new(o, k == 'c' ? "lsn" : "ts", cli_json_u64(m.value[i]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *offsets_json(char (*name)[SLUICE_SOURCE_MAX + 1], const uint64_t *value, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (mark_kind(name[i]))
            continue;
        json_t *o = json_object();
        cli_json_set_bytes(o, "source", name[i], strlen(name[i]));
        json_object_set_new(o, "offset", cli_json_u64(value[i]));
        json_array_append_new(a, o);
    }
    return a;
}

static void info_print_json(const struct inspect *in, const struct info *f)
{
    json_t *o = json_object();
    cli_json_set_bytes(o, "directory", in->dir, strlen(in->dir));
    json_object_set_new(o, "writer", json_boolean(f->writer));
    json_t *rings = json_array();
    for (int i = 0; i < f->nring_files; i++)
        json_array_append_new(rings, json_string(f->ring_files[i]));
    json_object_set_new(o, "ring_files", rings);
    json_object_set_new(o, "format", json_pack("{s:i,s:i}", "log", SEG_FORMAT_VERSION, "cold", COLD_FORMAT_VERSION));
    char u[37];
    format_uuid(f->uuid, u);
    json_object_set_new(o, "uuid", f->has_uuid ? json_string(u) : json_null());
    json_t *log = json_object(), *segs = json_array();
    cli_json_set_bytes(log, "dir", in->logdir, strlen(in->logdir));
    for (size_t i = 0; i < f->nseg; i++) {
        const struct info_seg *g = &f->segs[i];
        json_t *s = json_object();
        json_object_set_new(s, "file", json_string(g->name));
        if (g->err) {
            json_object_set_new(s, "error", json_string(g->msg));
        } else {
            json_object_set_new(s, "seq", cli_json_u64(g->s.hdr.segment_seq));
            json_object_set_new(s, "first_lsn", cli_json_u64(g->s.hdr.first_lsn));
            json_object_set_new(s, "last_lsn", g->s.records ? cli_json_u64(g->s.last) : json_null());
            json_object_set_new(s, "records", json_integer((json_int_t)g->s.records));
            int ts = g->s.ts_min <= g->s.ts_max;
            json_object_set_new(s, "ts_min", ts ? cli_json_u64(g->s.ts_min) : json_null());
            json_object_set_new(s, "ts_max", ts ? cli_json_u64(g->s.ts_max) : json_null());
            json_object_set_new(s, "bytes", json_integer((json_int_t)g->s.valid_end));
            json_object_set_new(s, "file_bytes", json_integer((json_int_t)g->s.size));
        }
        json_array_append_new(segs, s);
    }
    json_object_set_new(log, "segments", segs);
    json_object_set_new(log, "records", json_integer((json_int_t)f->log_records));
    json_object_set_new(log, "file_bytes", json_integer((json_int_t)f->log_bytes));
    json_object_set_new(o, "log", log);
    json_object_set_new(o, "positions",
                        json_pack("{s:o,s:o}", "durable_lsn",
                                  cli_json_u64(f->last_lsn > f->compacted ? f->last_lsn : f->compacted),
                                  "compacted_lsn", cli_json_u64(f->compacted)));
    if (f->cold_present) {
        json_t *c = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)f->t.records,
                              "blocks", (json_int_t)f->t.blocks, "series", (json_int_t)f->series,
                              "stored_bytes", (json_int_t)f->t.stored, "raw_bytes", (json_int_t)f->t.raw,
                              "lmdb_used_bytes", (json_int_t)f->used, "damaged_blocks", (json_int_t)f->t.damaged);
        if (f->cold_err)
            json_object_set_new(c, "error", json_string(sluice_strerror(f->cold_err)));
        json_object_set_new(o, "cold", c);
    } else {
        json_object_set_new(o, "cold", json_null());
    }
    json_t *offs = json_object();
    json_object_set_new(offs, "cold", offsets_json(f->co.name, f->co.value, f->co.n));
    json_object_set_new(offs, "log", f->lo ? offsets_json(f->lo->name, f->lo->value, (size_t)f->lo->n) : json_array());
    json_object_set_new(offs, "log_more_sources", json_boolean(f->lo && f->lo->more));
    json_object_set_new(o, "offsets", offs);
    json_object_set_new(o, "cursors", marks_json(f, 'c'));
    json_object_set_new(o, "watermarks", marks_json(f, 'w'));
    cli_json_print(o);
}

int cli_info(int argc, char **argv)
{
    const char *dir;
    int json;
    int code = cli_dir_and_json("info", argc, argv, &dir, &json);
    if (code)
        return code;
    struct inspect in;
    code = cli_inspect_open("info", dir, 0, &in);
    if (code) {
        cli_inspect_close(&in);
        return code;
    }
    struct info f = {0};
    info_gather(&in, &f, &code);
    if (f.segs) {
        if (json)
            info_print_json(&in, &f);
        else
            info_print_table(&in, &f);
    }
    info_free(&f);
    cli_inspect_close(&in);
    return code;
}

/* ---- sluice dump log ---- */

struct dump_log {
    int json, rfc3339;
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
        printf(",\"offset\":%" PRIu64 ",\"type\":\"%s\"", off, cli_rec_type_name(h->type));
        if (h->type == REC_OFFSET && h->vlen == 8) {
            uint64_t v;
            memcpy(&v, val, 8);
            cli_print_json_bytes(stdout, 1, "source", key, h->klen);
            cli_print_json_u64(stdout, 1, "source_offset", v);
        } else {
            if (d->rfc3339) {
                char ts[48];
                cli_format_ts(h->ts, 1, ts);
                printf(",\"ts\":\"%s\"", ts);
            } else {
                cli_print_json_u64(stdout, 1, "ts", h->ts);
            }
            cli_print_json_bytes(stdout, 1, "key", key, h->klen);
            printf(",\"vlen\":%u", h->vlen);
            cli_print_json_bytes(stdout, 1, "value", val, h->vlen);
        }
        printf(",\"crc\":\"ok\"}\n");
    } else {
        char ts[48] = "-";
        if (h->type != REC_OFFSET)
            cli_format_ts(h->ts, d->rfc3339, ts);
        printf("%12" PRIu64 " %10" PRIu64 " %-6s %*s  ", h->lsn, off, cli_rec_type_name(h->type),
               d->rfc3339 ? 30 : 20, ts);
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
        if ((m = cli_opt(argc, argv, &i, "--time-format", &v)) != 0) {
            if (m < 0 || (strcmp(v, "ns") && strcmp(v, "rfc3339")))
                return cli_fail("dump", CLI_USAGE, "--time-format is ns or rfc3339");
            d.rfc3339 = !strcmp(v, "rfc3339");
            continue;
        }
        if (argv[i][0] == '-' || target)
            return cli_fail("dump", CLI_USAGE, "usage: sluice dump log DIR|SEGMENT [--from-lsn N] [--limit N] [--json] [--time-format ns|rfc3339]");
        target = argv[i];
    }
    if (!target)
        return cli_fail("dump", CLI_USAGE, "usage: sluice dump log DIR|SEGMENT [--from-lsn N] [--limit N] [--json] [--time-format ns|rfc3339]");
    struct stat st;
    if (stat(target, &st) < 0)
        return cli_fail("dump", CLI_ABSENT, "%s: %s", target, strerror(errno));
    struct io *io;
    int code = cli_open_io("dump", &io);
    if (code)
        return code;
    uint64_t one = 0, *firsts = &one, compacted = 0;
    size_t n = 1;
    char logdir[4096] = "";
    if (S_ISDIR(st.st_mode)) {
        cli_log_dir_of(target, logdir, sizeof logdir);
        /* damage in records the cold tier holds is stepped over, as recovery does */
        struct cold *c = NULL;
        uint8_t uuid[16];
        int has_uuid;
        char cold[4200];
        snprintf(cold, sizeof cold, "%s/cold", target);
        if (cold_open(cold, 1, 1u << 20, &c) == 0 && cold_meta(c, &compacted, uuid, &has_uuid))
            compacted = 0;
        cold_close(c);
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
        printf("# %10s %10s %-6s %*s  KEY  VLEN  VALUE  CRC\n", "LSN", "OFFSET", "TYPE",
               d.rfc3339 ? 30 : 20, "TS");
    for (size_t i = 0; i < n && d.shown < d.limit; i++) {
        char path[4200], name[32], msg[256];
        if (logdir[0]) {
            seg_filename(name, firsts[i]);
            snprintf(path, sizeof path, "%s/%s", logdir, name);
        } else {
            snprintf(path, sizeof path, "%s", target);
        }
        struct seg_summary s;
        int r = cli_walk_segment(io, path, compacted, dump_record, &d, &s, msg, sizeof msg);
        if (r == -ENOENT && logdir[0])
            continue; /* compacted and deleted since the listing (a live writer) */
        if (r) {
            code = cli_fail("dump", cli_code(r), "%s: %s", path, msg);
            continue;
        }
        for (uint64_t k = 0; !d.json && k < s.skips && k < CLI_SKIPS_KEPT; k++)
            printf("# %s: offset %" PRIu64 ": %" PRIu64 " damaged bytes stepped over (LSN %" PRIu64
                   "..%" PRIu64 ", in the cold tier)\n", path, s.skip[k].off, s.skip[k].end - s.skip[k].off,
                   s.skip[k].first_lsn, s.skip[k].last_lsn);
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
    cli_check_block(&d->dc, b, &bc);
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
               cli_file_offset(&d->map, b->data), bc.err ? "bad" : "ok");
    } else {
        printf("series %-6u ", b->series);
        cli_print_bytes(stdout, key, klen, 32);
        printf("  ts %" PRIu64 "..%" PRIu64 "  %u records  %s  %zu/%u bytes  data.mdb@%" PRIu64
               "  crc=%s%s%s\n",
               bc.err ? b->key_ts : bc.h.ts_min, bc.h.ts_max, bc.h.count, codec_name(bc.h.codec), b->len,
               bc.h.raw_bytes + BLOCK_HDR_BYTES, cli_file_offset(&d->map, b->data), bc.err ? "BAD (" : "ok",
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
    int code = cli_open_cold("dump", dir, 1, &c);
    if (code)
        return code;
    if (!c)
        return cli_fail("dump", CLI_ABSENT, "%s: no cold tier (nothing compacted yet, or not a sluice directory)", dir);
    if (cli_decoder_init(&d.dc)) {
        cli_decoder_free(&d.dc);
        cold_close(c);
        return cli_fail("dump", CLI_USAGE, "out of memory");
    }
    struct cold_view view;
    int r = cold_view_begin(c, &view);
    d.v = &view;
    cli_find_map(dir, &d.map);
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
    cli_decoder_free(&d.dc);
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

