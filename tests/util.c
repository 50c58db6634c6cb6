#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
    const char *t = getenv("TMPDIR");
    char *p;
    if (asprintf(&p, "%s/sluice-test-XXXXXX", t && *t ? t : "/tmp") < 0)
        abort();
    if (!mkdtemp(p))
        abort();
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void tu_rm_ring_files(const char *path)
{
    struct stat st;
    DIR *d = stat(path, &st) == 0 ? opendir("/dev/shm") : NULL;
    if (!d)
        return;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sluice-%llx-%llx-", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            char p[300];
            snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
            unlink(p);
        }
    closedir(d);
}

void tu_rmdir(char *path)
{
    if (!path)
        return;
    tu_rm_ring_files(path);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

uint64_t tu_seed(const char *test)
{
    const char *e = getenv("SLUICE_TEST_SEED");
    uint64_t s;
    if (e && *e) {
        s = strtoull(e, NULL, 0);
    } else {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        s = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 20) ^ (uint64_t)getpid();
    }
    if (!s)
        s = 1;
    fprintf(stderr, "%s: seed %llu (replay with SLUICE_TEST_SEED=%llu)\n", test,
            (unsigned long long)s, (unsigned long long)s);
    return s;
}

void tu_fill(void *buf, size_t n, uint64_t x)
{
    uint8_t *p = buf;
    uint64_t s = x * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            s = tu_rand(&s) | 1;
        p[i] = (uint8_t)(s >> (8 * (i % 8)));
    }
}

int tu_flip(const char *path, long off, unsigned mask)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    unsigned char b;
    int r = fd >= 0 && pread(fd, &b, 1, off) == 1 ? 0 : -1;
    b ^= (unsigned char)mask;
    if (!r && pwrite(fd, &b, 1, off) != 1)
        r = -1;
    if (fd >= 0)
        close(fd);
    return r;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_segments(const char *dir, char ***names)
{
    char *logdir;
    if (asprintf(&logdir, "%s/log", dir) < 0)
        abort();
    DIR *d = opendir(logdir);
    int n = 0;
    *names = NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".seg")) {
                *names = realloc(*names, sizeof(char *) * (size_t)(n + 1));
                if (asprintf(&(*names)[n++], "%s/%s", logdir, e->d_name) < 0)
                    abort();
            }
        }
        closedir(d);
    }
    free(logdir);
    if (n)
        qsort(*names, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

char *tu_segment(const char *dir, int k)
{
    char **names;
    int n = list_segments(dir, &names);
    char *r = NULL;
    for (int i = 0; i < n; i++) {
        if (i == k)
            r = names[i];
        else
            free(names[i]);
    }
    free(names);
    return r;
}

int tu_count_segments(const char *dir)
{
    char **names;
    int n = list_segments(dir, &names);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return n;
}

#ifdef SLUICE_COVERAGE_BUILD
void __gcov_dump(void); /* libgcov's (a weak reference would not pull it from the archive) */
#endif

void tu_exit(int code)
{
#ifdef SLUICE_COVERAGE_BUILD
    __gcov_dump();
#endif
    _exit(code);
}
