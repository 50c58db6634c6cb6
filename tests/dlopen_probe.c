/*
 * A program that did not link jemalloc (nor sluice) loads libsluice.so with dlopen, as
 * Python's ctypes, a JVM through JNI or Go through cgo would, and does a put and a get.
 * Usage: dlopen_probe LIBSLUICE.so DIR. Exit 0 and one line "ok <version>" on success.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "sluice.h"

#define SYM(name) typeof(&name) p_##name = (typeof(&name))dlsym(lib, #name)

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: dlopen_probe LIBSLUICE.so DIR\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    SYM(sluice_options_init_size);
    SYM(sluice_open);
    SYM(sluice_put);
    SYM(sluice_get);
    SYM(sluice_close);
    SYM(sluice_version);
    SYM(sluice_strerror);
    if (!p_sluice_options_init_size || !p_sluice_open || !p_sluice_put || !p_sluice_get ||
        !p_sluice_close || !p_sluice_version || !p_sluice_strerror) {
        fprintf(stderr, "dlsym: a symbol is missing\n");
        return 1;
    }
    sluice_options o;
    p_sluice_options_init_size(&o, sizeof o);
    o.ring_bytes = 1 << 20;
    o.segment_bytes = 1 << 20;
    sluice_db *db;
    int r = p_sluice_open(argv[2], &o, &db);
    if (r) {
        fprintf(stderr, "open: %s\n", p_sluice_strerror(r));
        return 1;
    }
    r = p_sluice_put(db, "k", 1, 42, "hello", 5, SLUICE_ACK_DURABLE, NULL);
    char buf[16];
    size_t vlen = 0;
    if (!r)
        r = p_sluice_get(db, "k", 1, 42, buf, sizeof buf, &vlen);
    int rc = p_sluice_close(db);
    if (r || rc || vlen != 5 || memcmp(buf, "hello", 5)) {
        fprintf(stderr, "round trip: %s\n", p_sluice_strerror(r ? r : rc));
        return 1;
    }
    /* the library must not have brought an allocator in with it */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "jemalloc")) {
            fprintf(stderr, "libsluice.so loaded jemalloc: %s", line);
            return 1;
        }
    if (maps)
        fclose(maps);
    printf("ok %s\n", p_sluice_version(NULL, NULL, NULL));
    dlclose(lib);
    return 0;
}
