/*
 * What the inspecting commands (info, dump, verify, repair) share: walking a segment file
 * with the library's own walker, opening DIR's tiers read-only, decoding and judging
 * cold blocks, and finding a block's offset in data.mdb. Nothing here writes.
 */
#include "cli_files.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

json_t *cli_json_u64(uint64_t v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, v);
    return json_string(digits);
}

void cli_json_set_bytes(json_t *o, const char *name, const void *p, size_t n)
{
    if (cli_utf8_valid(p, n)) {
        json_object_set_new(o, name, json_stringn_nocheck(p, n));
        return;
    }
    char *text = NULL, key[64];
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        cli_b64_encode(m, p, n);
        fclose(m);
    }
    snprintf(key, sizeof key, "%s_b64", name);
    json_object_set_new(o, key, text ? json_stringn(text, len) : json_null());
    free(text);
}

void cli_json_print(json_t *o)
{
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
    json_decref(o);
}

/* ---- the log ---- */

/*
 * Walks one segment file: fn (may be NULL) for every valid record; *s summarises it.
 * 0, or the error that stopped it: SLUICE_ECORRUPT/EVERSION (header), -errno. msg gets a
 * one-line reason.
 */
static void note_skip(void *arg, const struct seg_skip *k)
{
    struct seg_summary *s = arg;
    if (s->skips < CLI_SKIPS_KEPT)
        s->skip[s->skips] = *k;
    s->skips++;
}

int cli_walk_segment(struct io *io, const char *path, uint64_t skip_upto, rec_fn fn, void *arg,
                     struct seg_summary *s, char *msg, size_t cap)
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
    w.skip_upto = skip_upto;
    w.on_skip = note_skip;
    w.skip_arg = s;
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
    s->skipped_lsns = w.skipped_lsns;
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

const char *cli_rec_type_name(uint8_t t)
{
    return t == REC_PUT ? "put" : t == REC_DELETE ? "delete" : t == REC_OFFSET ? "offset" : "?";
}

/* The log directory of DIR; DIR itself if it holds segments directly. */
void cli_log_dir_of(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/log", dir);
    struct stat st;
    if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
        snprintf(out, cap, "%s", dir);
}

int cli_open_io(const char *cmd, struct io **io)
{
    int r = io_create(SLUICE_IO_POSIX, io);
    return r ? cli_fail(cmd, CLI_USAGE, "cannot set up file I/O: %s", sluice_strerror(r)) : 0;
}

/* ---- the cold tier ---- */

void cli_find_map(const char *dir, struct map_range *m)
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

uint64_t cli_file_offset(const struct map_range *m, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return m->start && a >= m->start && a < m->end ? a - m->start + m->file_off : 0;
}

/* Opens DIR/cold read-only; *c NULL (and 0) when there is none. */
int cli_open_cold(const char *cmd, const char *dir, int mode, struct cold **c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cold", dir);
    *c = NULL;
    int r = cold_open(path, mode, 1u << 20, c);
    if (r == SLUICE_NOTFOUND)
        return 0;
    if (r)
        return cli_fail(cmd, cli_code(r), "%s: %s", path, sluice_strerror(r));
    return 0;
}

int cli_decoder_init(struct decoder *dc)
{
    dc->raw = malloc(BLOCK_RAW_MAX);
    dc->recs = malloc(COLD_BLOCK_RECORDS * sizeof *dc->recs);
    return dc->raw && dc->recs ? 0 : SLUICE_ENOMEM;
}

void cli_decoder_free(struct decoder *dc)
{
    free(dc->raw);
    free(dc->recs);
}

/* Decodes b fully and checks it against its LMDB key. */
void cli_check_block(struct decoder *dc, const struct cold_block_ref *b, struct block_check *bc)
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

int cli_dir_and_json(const char *cmd, int argc, char **argv, const char **dir, int *json)
{
    *dir = NULL;
    *json = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = 1;
        else if (argv[i][0] == '-' || *dir)
            return cli_fail(cmd, CLI_USAGE, "usage: sluice %s DIR [--json]", cmd);
        else
            *dir = argv[i];
    }
    return *dir ? 0 : cli_fail(cmd, CLI_USAGE, "usage: sluice %s DIR [--json]", cmd);
}

int cli_inspect_open(const char *cmd, const char *dir, unsigned flags, struct inspect *in)
{
    memset(in, 0, sizeof *in);
    in->dir = dir;
    struct stat st;
    if (stat(in->dir, &st) < 0)
        return cli_fail(cmd, CLI_ABSENT, "%s: %s", in->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail(cmd, CLI_USAGE, "%s: not a directory", in->dir);
    snprintf(in->logdir, sizeof in->logdir, "%s/log", in->dir);
    int code = cli_open_cold(cmd, in->dir, flags & CLI_INSPECT_NOLOCK ? COLD_READ_NOLOCK : 1, &in->c);
    if (code)
        return code;
    if (seg_list(in->logdir, &in->firsts, &in->nseg, NULL, NULL) && !in->c)
        return cli_fail(cmd, CLI_ABSENT, "%s: not a sluice directory (no log/ or cold/ in it)", in->dir);
    return cli_open_io(cmd, &in->io);
}

void cli_inspect_close(struct inspect *in)
{
    if (in->io)
        io_destroy(in->io);
    cold_close(in->c);
    free(in->firsts);
}

