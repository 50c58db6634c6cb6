/* Test helpers: scratch directories, seeds that are always printed, deterministic data. */
#ifndef SLUICE_TEST_UTIL_H
#define SLUICE_TEST_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* _exit for a forked child whose own threads have all been joined: a coverage build
 * writes the child's counters first (gcov writes them from an atexit handler, which a
 * forked child must not run). Not for a child that dies with threads running (a power
 * cut): counters copied while other threads move them are inconsistent, and gcov then
 * reports negative branch counts. */
_Noreturn void tu_exit(int code);
/* A fresh directory under $TMPDIR (or /tmp); path valid until tu_rmdir. */
char *tu_mkdtemp(void);
/* Deletes the shared-memory ring files of directory path (engine/ring_file.c): a
 * writer killed by a test leaves one until the directory is opened again; a power cut
 * would empty /dev/shm. */
void tu_rm_ring_files(const char *path);
/* rm -rf path (and its ring files), then free it. */
void tu_rmdir(char *path);
/* The seed for a randomized test: $SLUICE_TEST_SEED if set, else from the clock.
 * Printed to stderr with the test name, so a failure can be replayed. */
uint64_t tu_seed(const char *test);
static inline uint64_t tu_rand(uint64_t *s)
{
    /* xorshift64*: deterministic from the printed seed */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}
/* Fills buf with n bytes derived from x. */
void tu_fill(void *buf, size_t n, uint64_t x);
/* XORs the byte at off of path with mask (a flipped bit, for damage tests); 0 or -1. */
int tu_flip(const char *path, long off, unsigned mask);
/* File size, or -1. */
long long tu_file_size(const char *path);
/* Path of the n-th (0-based, in name order) segment of dir, or NULL. Caller frees. */
char *tu_segment(const char *dir, int n);
int tu_count_segments(const char *dir);
#endif
