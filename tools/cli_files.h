/* Shared by the commands that read a directory's files themselves (cli_files.c). */
#ifndef SLUICE_CLI_FILES_H
#define SLUICE_CLI_FILES_H
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "block.h"
#include "cli.h"
#include "cold.h"
#include "io.h"
#include "segment.h"
#include "walker.h"

/* ---- JSON documents (jansson), by the rules of cli.h ---- */

/* A 64-bit integer as a JSON string of digits. */
json_t *cli_json_u64(uint64_t v);
/* o[name] = the bytes as text if valid UTF-8, else o[name_b64] = base64. */
void cli_json_set_bytes(json_t *o, const char *name, const void *p, size_t n);
/* Prints o (indented, keys in insertion order) and a newline; releases o. */
void cli_json_print(json_t *o);

/* ---- the log ---- */

#define CLI_SKIPS_KEPT 8
struct seg_summary {
    struct seg_hdr hdr;
    uint64_t size, records, fills, first, last, ts_min, ts_max;
    uint64_t valid_end, nonzero_end, stamp, expect_next;
    /* damaged stretches stepped over (records the cold tier holds: walker.h) */
    uint64_t skips, skipped_lsns;
    struct seg_skip skip[CLI_SKIPS_KEPT]; /* the first of them */
};

typedef int (*rec_fn)(void *arg, const struct rec_hdr *h, uint64_t off);

/*
 * Walks one segment file: fn (may be NULL) for every valid record; *s summarises it.
 * Damage among records at or below skip_upto (the cold tier's compacted_lsn; 0 for
 * none) is stepped over as recovery does, and listed in *s. 0, or the error that
 * stopped it: SLUICE_ECORRUPT/EVERSION (header), -errno. msg gets a one-line reason.
 */
int cli_walk_segment(struct io *io, const char *path, uint64_t skip_upto, rec_fn fn, void *arg,
                     struct seg_summary *s, char *msg, size_t cap);
const char *cli_rec_type_name(uint8_t t);
/* The log directory of DIR; DIR itself if it holds segments directly. */
void cli_log_dir_of(const char *dir, char *out, size_t cap);
/* Plain-syscall file I/O for the walker; 0 or the exit code (printed). */
int cli_open_io(const char *cmd, struct io **io);

/* ---- the cold tier ---- */

/* Where data.mdb is mapped in this process, to turn a value's address into a file
 * offset (LMDB tells the map address only for MDB_FIXEDMAP). */
struct map_range {
    uintptr_t start, end;
    uint64_t file_off;
};
void cli_find_map(const char *dir, struct map_range *m);
uint64_t cli_file_offset(const struct map_range *m, const void *p);
/* Opens DIR/cold read-only; *c NULL (and 0) when there is none; else the exit code. */
int cli_open_cold(const char *cmd, const char *dir, int mode, struct cold **c);

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
int cli_decoder_init(struct decoder *dc);
void cli_decoder_free(struct decoder *dc);
/* Decodes b fully and checks it against its LMDB key. */
void cli_check_block(struct decoder *dc, const struct cold_block_ref *b, struct block_check *bc);

/* ---- what info and verify open: DIR's segments, its cold tier, file I/O ---- */

struct inspect {
    const char *dir;
    char logdir[4096];
    uint64_t *firsts; /* the segments' first LSNs, in order */
    size_t nseg;
    struct cold *c;   /* NULL: no cold tier yet */
    struct io *io;
};
/* The arguments of `CMD DIR [--json]`: 0, or the exit code of a usage error (printed). */
int cli_dir_and_json(const char *cmd, int argc, char **argv, const char **dir, int *json);

/* Opens what there is of DIR; 0 or the exit code (printed). flags CLI_INSPECT_NOLOCK
 * opens the cold tier without LMDB's lock file (cold.h): nothing in DIR is written. */
#define CLI_INSPECT_NOLOCK 1
int cli_inspect_open(const char *cmd, const char *dir, unsigned flags, struct inspect *in);
void cli_inspect_close(struct inspect *in);
#endif
