/*
 * Embedding sluice: libsluice.so loads into a process that did not link jemalloc (a C
 * program through dlopen, Python through ctypes), sluice_options carries its size so
 * callers built against another header keep working or get a clear code, a bad option
 * is named in errbuf, sluice_version() tells the loaded library, and an installed tree
 * is found by pkg-config and by CMake's find_package(sluice).
 */
#include <criterion/criterion.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

extern char **environ;

/* Runs argv (argv[0] a path) with stdout+stderr into out; returns the exit status. */
static int spawn(char *const argv[], char *out, size_t cap)
{
    char tmpl[] = "/tmp/sluice-embed-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert_geq(fd, 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = -1;
    if (r == 0)
        waitpid(pid, &status, 0);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(tmpl);
    return r ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Writes DIR/consumer/main.c and a CMakeLists.txt that builds it twice. */
static char *write_consumer(const char *d, const char *prog)
{
    char *p;
    if (asprintf(&p, "%s/consumer", d) < 0 || mkdir(p, 0755))
        abort();
    free(p);
    if (asprintf(&p, "%s/consumer/main.c", d) < 0)
        abort();
    FILE *f = fopen(p, "w");
    fputs(prog, f);
    fclose(f);
    char *cm;
    if (asprintf(&cm, "%s/consumer/CMakeLists.txt", d) < 0)
        abort();
    f = fopen(cm, "w");
    fputs("cmake_minimum_required(VERSION 3.18)\nproject(consumer C)\n"
          "find_package(sluice 0.2 REQUIRED)\n"
          "add_executable(shared_consumer main.c)\n"
          "target_link_libraries(shared_consumer PRIVATE sluice::sluice)\n"
          "add_executable(static_consumer main.c)\n"
          "target_link_libraries(static_consumer PRIVATE sluice::sluice_static)\n", f);
    fclose(f);
    free(cm);
    return p;
}

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }
TestSuite(embed, .init = setup, .fini = teardown);

/* The first user's finding: ctypes.CDLL("libsluice.so") failed with "libjemalloc.so.2:
 * cannot allocate memory in static TLS block". */
Test(embed, a_program_without_jemalloc_dlopens_libsluice)
{
    char out[4096];
    char *argv[] = {SLUICE_BIN_DIR "/dlopen_probe", SLUICE_SHARED_LIB, dir, NULL};
    int code = spawn(argv, out, sizeof out);
    cr_assert_eq(code, 0, "dlopen_probe: %s", out);
    char want[64];
    snprintf(want, sizeof want, "ok %s\n", sluice_version(NULL, NULL, NULL));
    cr_expect_str_eq(out, want);
}

Test(embed, python_ctypes_loads_libsluice_and_round_trips)
{
#ifdef SLUICE_SANITIZED
    cr_skip_test("a sanitizer build's libsluice.so needs its runtime preloaded");
#endif
    char out[4096];
    char *which[] = {"python3", "-c", "import ctypes", NULL};
    if (spawn(which, out, sizeof out) != 0)
        cr_skip_test("python3 with ctypes is not installed");
    char *argv[] = {"python3", SLUICE_SOURCE_DIR "/tests/ffi_ctypes.py", SLUICE_SHARED_LIB, dir, NULL};
    int code = spawn(argv, out, sizeof out);
    cr_assert_eq(code, 0, "ffi_ctypes.py: %s", out);
    cr_expect(!strncmp(out, "ok ", 3), "%s", out);
}

Test(embed, version_is_the_headers)
{
    int ma = -1, mi = -1, pa = -1;
    const char *v = sluice_version(&ma, &mi, &pa);
    cr_assert_not_null(v);
    cr_expect_eq(ma, SLUICE_VERSION_MAJOR);
    cr_expect_eq(mi, SLUICE_VERSION_MINOR);
    cr_expect_eq(pa, SLUICE_VERSION_PATCH);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ma, mi, pa);
    cr_expect_str_eq(v, want);
}

/* An older caller's struct (shorter), a newer caller's (longer, zero or not past ours),
 * and a struct nobody initialised. */
Test(embed, options_size_decides_what_is_read)
{
    char err[256] = "";
    sluice_db *db;
    /* a newer caller: its struct is longer; unknown bytes left zero are accepted */
    struct {
        sluice_options o;
        uint64_t future_option;
    } newer;
    sluice_options_init_size(&newer.o, sizeof newer);
    cr_expect_eq(newer.o.size, sizeof newer);
    cr_expect_eq(newer.future_option, 0, "init zeroes what it does not know");
    newer.o.errbuf = err;
    newer.o.errbuf_bytes = sizeof err;
    cr_assert_eq(sluice_open(dir, &newer.o, &db), 0, "%s", err);
    cr_assert_eq(sluice_close(db), 0);
    /* ...and one it set is refused, named */
    newer.future_option = 1;
    cr_expect_eq(sluice_open(dir, &newer.o, &db), SLUICE_EVERSION);
    cr_expect(strstr(err, "knows only"), "%s", err);
    /* never initialised: size 0 */
    sluice_options zero;
    memset(&zero, 0, sizeof zero);
    zero.ring_bytes = 1 << 20;
    cr_expect_eq(sluice_open(dir, &zero, &db), SLUICE_EINVAL);
    /* a caller of exactly this version */
    sluice_options o;
    sluice_options_init(&o);
    cr_expect_eq(o.size, sizeof o);
    cr_expect_eq(o.ring_bytes, 64u << 20, "the defaults");
    o.size = 8; /* shorter than the first versioned layout */
    cr_expect_eq(sluice_open(dir, &o, &db), SLUICE_EINVAL);
    cr_expect_eq(sluice_open(dir, NULL, &db), 0, "NULL options: the defaults");
    cr_expect_eq(sluice_close(db), 0);
}

Test(embed, a_bad_option_is_named_with_its_range)
{
    const char *want[] = {
        "options.ring_bytes 100000: must be a power of two from 64 KiB to 1 TiB",
        "options.segment_bytes 4096: must be a multiple of 4096 from 262144",
        "options.batch_max_bytes 0: must be at least 4096",
        "options.default_ack 3: must be SLUICE_ACK_MEMORY (0), WRITTEN (1) or DURABLE (2)",
        "options.full_policy 2: must be SLUICE_FULL_BLOCK (0) or SLUICE_FULL_FAIL (1)",
        "options.io_backend 9: must be",
    };
    for (int i = 0; i < 6; i++) {
        sluice_options o;
        sluice_options_init(&o);
        char err[256] = "";
        o.errbuf = err;
        o.errbuf_bytes = sizeof err;
        switch (i) {
        case 0: o.ring_bytes = 100000; break;
        case 1: o.segment_bytes = 4096; break;
        case 2: o.batch_max_bytes = 0; break;
        case 3: o.default_ack = SLUICE_ACK_DEFAULT; break;
        case 4: o.full_policy = 2; break;
        case 5: o.io_backend = 9; break;
        }
        sluice_db *db;
        cr_expect_eq(sluice_open(dir, &o, &db), SLUICE_EINVAL, "case %d", i);
        cr_expect(!strncmp(err, want[i], strlen(want[i])), "case %d: %s", i, err);
    }
}

/* An installed tree: a program built with pkg-config only, and a CMake project with
 * find_package(sluice) linking sluice::sluice and sluice::sluice_static. */
Test(embed, an_installed_tree_is_found_by_pkg_config_and_cmake)
{
#if defined(SLUICE_SANITIZED) || defined(SLUICE_COVERAGE_BUILD)
    cr_skip_test("instrumented libraries need their runtime in the consumer too");
#endif
    char cmd[8192], out[16384];
    snprintf(cmd, sizeof cmd, "'%s' --install '%s' --prefix '%s/prefix' >/dev/null", SLUICE_CMAKE,
             SLUICE_BUILD_DIR, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    const char *prog = "#include <sluice.h>\n#include <stdio.h>\n#include <string.h>\n"
                       "int main(int c, char **v) { (void)c; sluice_db *db; sluice_options o;\n"
                       " sluice_options_init(&o); o.ring_bytes = 1 << 20; o.segment_bytes = 1 << 20;\n"
                       " if (sluice_open(v[1], &o, &db)) return 1;\n"
                       " if (sluice_put(db, \"k\", 1, 1, \"v\", 1, SLUICE_ACK_DURABLE, NULL)) return 2;\n"
                       " char b[4]; size_t n; if (sluice_get(db, \"k\", 1, 1, b, 4, &n) || n != 1) return 3;\n"
                       " if (sluice_close(db)) return 4; printf(\"%s\\n\", sluice_version(0, 0, 0)); return 0; }\n";
    char *src = write_consumer(dir, prog);
    /* pkg-config only */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && export PKG_CONFIG_PATH && "
             "cc -o pc_consumer consumer/main.c $(pkg-config --cflags --libs sluice) && "
             "LD_LIBRARY_PATH='%s/prefix/lib' ./pc_consumer db1 > pc.out 2>&1",
             dir, dir, dir);
    cr_expect_eq(system(cmd), 0, "%s", cmd);
    /* CMake, shared and static */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' -S consumer -B consumer/build -DCMAKE_PREFIX_PATH='%s/prefix' >cm.out 2>&1 && "
             "'%s' --build consumer/build >>cm.out 2>&1 && "
             "LD_LIBRARY_PATH='%s/prefix/lib' consumer/build/shared_consumer db2 >>cm.out 2>&1 && "
             "consumer/build/static_consumer db3 >>cm.out 2>&1",
             dir, SLUICE_CMAKE, dir, SLUICE_CMAKE, dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/cm.out", dir);
    FILE *f = fopen(cmd, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    cr_expect_eq(rc, 0, "%s", out);
    free(src);
}
