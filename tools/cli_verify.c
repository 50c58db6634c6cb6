/*
 * sluice verify: every log record and cold block checksum, LSN continuity across the
 * segments and the cold tier, and the cold tier's agreement with its meta. Reads the
 * files itself (cli_files.c), so a directory the library refuses can still be judged.
 */
#include "cli_files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct verify {
    const char *dir;
    struct cold_view *v;
    struct decoder dc;
    struct map_range map;
    uint64_t problems, blocks, block_records;
    uint32_t prev_series;
    uint64_t prev_ts_max;
    int have_prev;
    json_t *jproblems, *jnotes; /* --json: collected, printed as one document at the end */
};

/* A finding: a problem (damage: exit 1) or a note (harmless: a torn tail recovery cuts,
 * damage the cold tier already covers). One line each, or one JSON object each. */
static void say(struct verify *vf, int is_problem, const char *file, uint64_t off, const char *fmt,
                va_list ap)
{
    vf->problems += is_problem;
    char what[1024];
    vsnprintf(what, sizeof what, fmt, ap);
    json_t *list = is_problem ? vf->jproblems : vf->jnotes;
    if (list) {
        json_t *o = json_object();
        cli_json_set_bytes(o, "file", file, strlen(file));
        json_object_set_new(o, "offset", json_integer((json_int_t)off));
        json_object_set_new(o, is_problem ? "problem" : "note", json_string(what));
        json_array_append_new(list, o);
    } else {
        printf("%s: offset %" PRIu64 ": %s\n", file, off, what);
    }
}

/* Whether a failure to read is a finding about the bytes (exit 1), not a failure of this
 * run (memory, I/O, a limit: exit 2, "usage or I/O"). */
static void problem(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(vf, 1, file, off, fmt, ap);
    va_end(ap);
}

static void note(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(struct verify *vf, const char *file, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(vf, 0, file, off, fmt, ap);
    va_end(ap);
}

static int verify_block(void *arg, const struct cold_block_ref *b)
{
    struct verify *vf = arg;
    char file[4200];
    snprintf(file, sizeof file, "%s/cold/data.mdb", vf->dir);
    struct block_check bc;
    cli_check_block(&vf->dc, b, &bc);
    vf->blocks++;
    if (bc.err) {
        problem(vf, file, cli_file_offset(&vf->map, b->data), "block of series %u at ts %" PRIu64 ": %s", b->series, b->key_ts, bc.why);
        return 0;
    }
    vf->block_records += bc.nrecs;
    const void *key;
    size_t klen;
    uint32_t back;
    int r = cold_series_name(vf->v, b->series, &key, &klen);
    if (!r)
        r = cold_series_of(vf->v, key, klen, &back);
    if (r && !cli_is_damage(r) && r != SLUICE_NOTFOUND)
        return r; /* the walk stops: this run could not read, nothing is known of the bytes */
    if (r || back != b->series)
        problem(vf, file, cli_file_offset(&vf->map, b->data), "series %u has no consistent dictionary entry", b->series);
    if (vf->have_prev && vf->prev_series == b->series && bc.h.ts_min <= vf->prev_ts_max)
        problem(vf, file, cli_file_offset(&vf->map, b->data), "block of series %u at ts %" PRIu64 " overlaps the one before",
                b->series, bc.h.ts_min);
    vf->have_prev = 1;
    vf->prev_series = b->series;
    vf->prev_ts_max = bc.h.ts_max;
    return 0;
}

int cli_verify(int argc, char **argv)
{
    const char *dirarg;
    int json;
    int code = cli_dir_and_json("verify", argc, argv, &dirarg, &json);
    if (code)
        return code;
    struct inspect in;
    code = cli_inspect_open("verify", dirarg, 0, &in);
    if (code) {
        cli_inspect_close(&in);
        return code;
    }
    const char *dir = in.dir, *logdir = in.logdir;
    struct cold *c = in.c;
    struct io *io = in.io;
    uint64_t *firsts = in.firsts;
    size_t nseg = in.nseg;
    struct verify vf = {.dir = dir};
    if (json) {
        vf.jproblems = json_array();
        vf.jnotes = json_array();
    }
    uint64_t compacted = 0, records = 0;
    uint8_t uuid[16];
    int has_uuid = 0;
    char cold_file[4200];
    snprintf(cold_file, sizeof cold_file, "%s/cold/data.mdb", dir);
    if (c) {
        int r = cold_meta(c, &compacted, uuid, &has_uuid);
        if (r && !cli_is_damage(r))
            code = cli_fail("verify", CLI_USAGE, "%s: cannot read: %s", cold_file, sluice_strerror(r));
        else if (r)
            problem(&vf, cold_file, 0, "meta database unreadable: %s", sluice_strerror(r));
    }
    uint64_t next_lsn = compacted + 1, prev_seq = 0;
    for (size_t i = 0; i < nseg && !code; i++) {
        char name[32], path[4200], msg[256];
        seg_filename(name, firsts[i]);
        snprintf(path, sizeof path, "%s/%s", logdir, name);
        struct seg_summary s;
        int r = cli_walk_segment(io, path, compacted, NULL, NULL, &s, msg, sizeof msg);
        if (r == -ENOENT)
            continue; /* compacted and deleted since the listing (a live writer) */
        if (r) {
            /* a read that could not be made (I/O, out of memory) says nothing of the bytes:
             * an error, never a problem in the directory; a symlink is one (ELOOP) */
            if (!cli_is_damage(r) && r != -ELOOP) {
                code = cli_fail("verify", CLI_USAGE, "%s: %s", path, msg);
                break;
            }
            problem(&vf, path, 0, "%s", msg + (strncmp(msg, "offset 0: ", 10) ? 0 : 10));
            continue;
        }
        records += s.records;
        for (uint64_t k = 0; k < s.skips && k < CLI_SKIPS_KEPT; k++)
            note(&vf, path, s.skip[k].off, "%" PRIu64 " damaged bytes (LSN %" PRIu64 "..%" PRIu64
                 ") stepped over: those records are in the cold tier, nothing is lost (harmless)",
                 s.skip[k].end - s.skip[k].off, s.skip[k].first_lsn, s.skip[k].last_lsn);
        if (s.skips > CLI_SKIPS_KEPT)
            note(&vf, path, 0, "%" PRIu64 " more damaged stretches stepped over (harmless)",
                 s.skips - CLI_SKIPS_KEPT);
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
                note(&vf, path, s.valid_end, "torn tail of %" PRIu64 " bytes (an unfinished write; "
                     "recovery cuts it)", s.nonzero_end - s.valid_end);
        }
    }
    if (c && !code) {
        struct cold_view v = {0};
        int r = cli_decoder_init(&vf.dc);
        if (!r)
            r = cold_view_begin(c, &v);
        vf.v = &v;
        cli_find_map(dir, &vf.map);
        if (!r)
            r = cold_for_each_block(&v, UINT32_MAX, verify_block, &vf);
        if (r && !cli_is_damage(r))
            code = cli_fail("verify", CLI_USAGE, "%s: cannot read: %s", cold_file, sluice_strerror(r));
        else if (r)
            problem(&vf, cold_file, 0, "cold tier unreadable: %s", sluice_strerror(r));
        if (v.txn)
            cold_view_end(&v);
        if (vf.blocks && !compacted)
            problem(&vf, cold_file, 0, "blocks exist but meta has no compacted_lsn");
    }
    if (!code && json) {
        json_t *o = json_object();
        cli_json_set_bytes(o, "directory", dir, strlen(dir));
        json_object_set_new(o, "clean", json_boolean(!vf.problems));
        json_object_set_new(o, "segments", json_integer((json_int_t)nseg));
        json_object_set_new(o, "log_records", json_integer((json_int_t)records));
        json_object_set_new(o, "cold_blocks", json_integer((json_int_t)vf.blocks));
        json_object_set_new(o, "cold_records", json_integer((json_int_t)vf.block_records));
        json_object_set_new(o, "compacted_lsn", cli_json_u64(compacted));
        json_object_set_new(o, "problems", vf.jproblems);
        json_object_set_new(o, "notes", vf.jnotes);
        vf.jproblems = vf.jnotes = NULL;
        cli_json_print(o);
    } else if (!code) {
        printf("verify %s: %zu segments (%" PRIu64 " records), %" PRIu64 " cold blocks (%" PRIu64
               " records), compacted_lsn %" PRIu64 ": %s",
               dir, nseg, records, vf.blocks, vf.block_records, compacted, vf.problems ? "" : "clean\n");
        if (vf.problems)
            printf("%" PRIu64 " problem%s\n", vf.problems, vf.problems == 1 ? "" : "s");
    }
    if (!code)
        code = vf.problems ? CLI_ABSENT : CLI_OK;
    json_decref(vf.jproblems);
    json_decref(vf.jnotes);
    cli_decoder_free(&vf.dc);
    cli_inspect_close(&in);
    return code;
}
