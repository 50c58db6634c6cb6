/*
 * Replay retention: compacted log segments kept for tails (sluice_tail) in DIR/replay.
 *
 * DESIGN. Once a segment's records are committed in the cold tier the compactor used to
 * delete it. When replay is wanted (options.replay_retain_*, or a named cursor that still
 * needs the segment) it renames the file into DIR/replay instead: the same bytes, still
 * checked record by record, never written again. After each compaction round
 * replay_prune walks DIR/replay from the newest file to the oldest and keeps a file while
 *   - retention is set and the file is within every limit set (the newest files up to
 *     retain_bytes, files last written at most retain_ns ago), or
 *   - a cursor needs one of its records (its last LSN >= the cursor's next LSN) and the
 *     bytes kept for cursors alone stay within cursor_max_bytes;
 * a file a cursor needs beyond that bound makes the cursor lagging (on_lag) before the
 * file goes, as PostgreSQL's max_slot_wal_keep_size does for replication slots.
 *
 * Crash safety: a rename is atomic and the directories are synced after it; a crash
 * between the cold commit and the rename leaves the segment in DIR/log, where recovery
 * (which knows the checkpoint) moves it on (recovery.c). A rename that fails leaves it
 * there too — never deleted instead, which would leave a hole in the retained run. Tails find a segment in DIR/log
 * or DIR/replay by its name, listing DIR/log first: a segment moves only from the first
 * to the second, so a tail never misses one in flight.
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H
#include <stdint.h>

#include "io.h"

struct replay_policy {
    const char *logdir, *replaydir;
    uint64_t retain_bytes, retain_ns, cursor_max_bytes;
    /* The lowest LSN a named cursor that is not lagging still needs (UINT64_MAX: none). */
    uint64_t (*cursor_need)(void *arg);
    /* Marks lagging every cursor that needs an LSN below `below`; oldest = the oldest LSN
     * still retained afterwards. */
    void (*on_lag)(void *arg, uint64_t below, uint64_t oldest);
    void *arg;
};

/* Whether a segment just compacted should be kept (moved) rather than deleted. */
int replay_wanted(const struct replay_policy *p);

/* Moves DIR/log/<first_lsn>.seg into DIR/replay (created if needed) and syncs both
 * directories. 0 or -errno (the caller then deletes it as before). */
int replay_keep(struct io *io, const struct replay_policy *p, uint64_t first_lsn);

/* What DIR/replay holds after replay_prune. */
struct replay_usage {
    uint64_t files, bytes, oldest_lsn; /* oldest_lsn 0: none */
    uint64_t deleted;                  /* files deleted by this call */
};

/* Applies the policy to DIR/replay; last_compacted is the last LSN the newest file can
 * hold. 0 or -errno (listing failed: nothing deleted). */
int replay_prune(struct io *io, const struct replay_policy *p, uint64_t last_compacted,
                 struct replay_usage *out);
#endif
