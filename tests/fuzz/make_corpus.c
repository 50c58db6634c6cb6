/*
 * Writes the fuzz targets' seed corpora from a real database (run by hand when the
 * formats change; the output is committed under tests/fuzz/corpus):
 *   make_corpus OUTDIR  ->  OUTDIR/{segment,block,cli}/...
 * segment: the head of a real segment (puts, deletes, offsets, a large value, fills),
 *          as is (flag 0) and with checksum repair on (flag 1);
 * block:   real cold blocks, lz4-compressed and stored raw, with probe timestamps
 *          before, inside and after each block;
 * cli:     a segment for the file commands, and argument lists of read-only commands.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cold.h"
#include "sluice.h"

static const char *out;

static void put_file(const char *sub, const char *name, const void *a, size_t alen,
                     const void *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen))
        exit(1);
    fclose(f);
}

static int nblocks;

static int one_block(void *arg, const struct cold_block_ref *b)
{
    (void)arg;
    if (nblocks >= 12 || b->bad_key)
        return nblocks >= 12;
    struct block_probe {
        uint8_t flag;
        uint64_t probe;
    } __attribute__((packed)) p[3] = {
        {0, b->key_ts ? b->key_ts - 1 : 0}, {1, b->key_ts + 5}, {0, UINT64_MAX}};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "series%u-ts%llu-%d", b->series,
                 (unsigned long long)b->key_ts, i);
        put_file("block", name, &p[i], sizeof p[i], b->data, b->len);
    }
    nblocks++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    out = argv[1];
    mkdir(out, 0755);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/.db", out);
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    o.segment_bytes = 256 << 10;
    sluice_db *db;
    if (sluice_open(dir, &o, &db))
        return 1;
    char v[3000];
    for (int i = 0; i < 600; i++) {
        size_t n = (size_t)snprintf(v, sizeof v, "reading %d.%d", i * 7, i % 10);
        if (i % 2) { /* an incompressible series next to a compressible one */
            for (size_t k = 0; k < 40; k++)
                v[k] = (char)((i * 2654435761u) >> (k % 24));
            n = 40;
        }
        if (i == 300)
            n = sizeof v; /* a large value */
        if (sluice_put(db, i % 2 ? "noise" : "temp", i % 2 ? 5 : 4, (uint64_t)i * 10, v, n,
                       SLUICE_ACK_MEMORY, NULL))
            return 1;
        if (i % 97 == 0 && (sluice_delete(db, "temp", 4, (uint64_t)i * 10 - 20, SLUICE_ACK_MEMORY, NULL) ||
                            sluice_offset_put(db, "kafka:0", (uint64_t)i, SLUICE_ACK_MEMORY)))
            return 1;
        if (i == 400 && sluice_compact(db))
            return 1;
    }
    if (sluice_close(db))
        return 1;

    char seg[4200];
    snprintf(seg, sizeof seg, "%s/log/0000000000000001.seg", dir);
    int fd = open(seg, O_RDONLY);
    static uint8_t head[64 << 10];
    ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof head);
    if (n < 16384)
        return 1;
    close(fd);
    uint8_t flag0 = 0, flag1 = 1;
    put_file("segment", "head-64k", &flag0, 1, head, (size_t)n);
    put_file("segment", "head-12k-repair", &flag1, 1, head, 12288);
    put_file("segment", "header-only", &flag0, 1, head, 4096);
    put_file("cli", "segment", &flag0, 1, head, 12288);
    static const char scan[] = "\001--key\000temp\000--from\0000\000--to\000100\000--json";
    put_file("cli", "scan", scan, sizeof scan - 1, NULL, 0);
    static const char get[] = "\003temp\00010";
    put_file("cli", "get", get, sizeof get - 1, NULL, 0);

    char colddir[4200];
    snprintf(colddir, sizeof colddir, "%s/cold", dir);
    struct cold *c;
    struct cold_view view;
    if (cold_open(colddir, 1, 0, &c) || cold_view_begin(c, &view))
        return 1;
    if (cold_for_each_block(&view, UINT32_MAX, one_block, NULL) < 0)
        return 1;
    cold_view_end(&view);
    cold_close(c);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        return 1;
    printf("make_corpus: %d blocks, segment head %zd bytes\n", nblocks, n);
    return 0;
}
