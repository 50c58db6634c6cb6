/*
 * The sluice tool, run in process through cli_main: each subcommand's output against
 * known content, its error paths and exit codes, hostile files, and a directory being
 * written by another process while it is inspected.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_run.h"
#include "util.h"

/* A directory with known content: 20 records of k1 and k2 (ts 100..119, value "v<ts>")
 * compacted, 10 more of k3 (ts 200..209) only in the log, and an offset. */
static char *dir;
static void fixture(void)
{
    dir = tu_mkdtemp();
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = SLUICE_IO_POSIX_BUFFERED;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    char v[16];
    for (int ts = 100; ts < 120; ts++) {
        int n = sprintf(v, "v%d", ts);
        cr_assert_eq(sluice_put(db, ts % 2 ? "k1" : "k2", 2, (uint64_t)ts, v, (size_t)n, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_offset_put(db, "upstream", 42, SLUICE_ACK_MEMORY), 0);
    cr_assert_eq(sluice_compact(db), 0);
    for (int ts = 200; ts < 210; ts++) {
        int n = sprintf(v, "v%d", ts);
        cr_assert_eq(sluice_put(db, "k3", 2, (uint64_t)ts, v, (size_t)n, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_close(db), 0);
}

static void cleanup(void) { tu_rmdir(dir); }

/* A 64-bit integer in the JSON output: a string of digits (docs/tools.md). */
#define expect_json_u64(j, want)                                                             \
    cr_expect(json_is_string(j) && strtoull(json_string_value(j), NULL, 10) == (uint64_t)(want), \
              "want \"%llu\"", (unsigned long long)(want))

TestSuite(cli, .init = fixture, .fini = cleanup);

Test(cli, usage_errors_exit_2)
{
    cr_expect_eq(tc_run(NULL), 2);
    cr_expect_eq(tc_run("frobnicate", NULL), 2);
    cr_expect_eq(tc_run("stats", NULL), 2);
    cr_expect_eq(tc_run("get", dir, NULL), 2);
    cr_expect_eq(tc_run("get", dir, "k1", "not-a-time", NULL), 2);
    cr_expect_eq(tc_run("scan", dir, "--from", "0", NULL), 2);
    cr_expect_eq(tc_run("scan", dir, "--from", "5", "--to", "1", NULL), 2);
    cr_expect_eq(tc_run("dump", "sideways", dir, NULL), 2);
    cr_expect_eq(tc_run("dump", "log", dir, "--limit", NULL), 2);
    cr_expect_eq(tc_run("ingest", dir, "--ack", "sometimes", NULL), 2);
    cr_expect_eq(tc_run("demo", "--producers", "0", NULL), 2);
    cr_expect(strstr(tc_err, "sluice demo:") != NULL || strstr(tc_err, "producers") != NULL);
}

Test(cli, help_and_version_exit_0)
{
    cr_expect_eq(tc_run("help", NULL), 0);
    cr_expect(strstr(tc_out, "verify DIR"));
    cr_expect_eq(tc_run("scan", "--help", NULL), 0);
    cr_expect(strstr(tc_out, "usage: sluice scan"));
    cr_expect_eq(tc_run("version", NULL), 0);
    cr_expect(strncmp(tc_out, "sluice ", 7) == 0);
}

Test(cli, info_shows_every_tier)
{
    cr_assert_eq(tc_run("info", dir, NULL), 0, "%s", tc_err);
    cr_expect(strstr(tc_out, "writer      none"));
    cr_expect(strstr(tc_out, "0000000000000001.seg"));
    cr_expect(strstr(tc_out, "compacted_lsn 21"), "%s", tc_out); /* 20 records + the offset */
    cr_expect(strstr(tc_out, "20 records in 2 blocks, 2 series"), "%s", tc_out);
    cr_expect(strstr(tc_out, "upstream                 42"), "%s", tc_out);
    cr_expect(strstr(tc_out, "uuid "));
}

Test(cli, dump_log_shows_each_record_once)
{
    cr_assert_eq(tc_run("dump", "log", dir, NULL), 0, "%s", tc_err);
    cr_expect(strstr(tc_out, "offset=42"));
    cr_expect(strstr(tc_out, "  k3  4  v209  crc=ok"), "%s", tc_out);
    cr_assert_eq(tc_run("dump", "log", dir, "--json", "--from-lsn", "22", NULL), 0);
    cr_assert_eq(tc_lines(tc_out), 10, "%s", tc_out);
    char *p = tc_out;
    for (int i = 0; i < 10; i++) {
        json_error_t je;
        json_t *j = json_loadb(p, strcspn(p, "\n"), 0, &je);
        cr_assert(j, "line %d is not JSON: %s", i, je.text);
        expect_json_u64(json_object_get(j, "lsn"), 22 + i);
        cr_expect_str_eq(json_string_value(json_object_get(j, "key")), "k3");
        cr_expect_str_eq(json_string_value(json_object_get(j, "crc")), "ok");
        json_decref(j);
        p += strcspn(p, "\n") + 1;
    }
    cr_assert_eq(tc_run("dump", "log", dir, "--limit", "3", NULL), 0);
    cr_expect_eq(tc_lines(tc_out), 4, "a header line and 3 records: %s", tc_out);
}

Test(cli, dump_cold_shows_blocks_and_records)
{
    cr_assert_eq(tc_run("dump", "cold", dir, NULL), 0, "%s", tc_err);
    cr_expect_eq(tc_lines(tc_out), 2, "%s", tc_out);
    cr_expect(strstr(tc_out, "k1  ts 101..119  10 records"), "%s", tc_out);
    cr_assert_eq(tc_run("dump", "cold", dir, "--key", "k2", "--records", "--from", "104", "--to", "108", NULL), 0);
    cr_expect(strstr(tc_out, "ts 104  lsn 5  4  v104"), "%s", tc_out);
    cr_expect(strstr(tc_out, "ts 106") && !strstr(tc_out, "ts 108") && !strstr(tc_out, "ts 102"), "%s", tc_out);
    cr_expect_eq(tc_run("dump", "cold", dir, "--key", "nope", NULL), 1);
}

Test(cli, get_and_scan_through_the_api_in_three_formats)
{
    cr_assert_eq(tc_run("get", dir, "k1", "105", "--csv", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "key,ts,value\r\nk1,105,v105\r\n");
    cr_assert_eq(tc_run("get", dir, "k3", "--json", NULL), 0); /* the newest: in the log */
    cr_expect_str_eq(tc_out, "{\"key\":\"k3\",\"ts\":\"209\",\"value\":\"v209\"}\n");
    cr_expect_eq(tc_run("get", dir, "k1", "104", NULL), 1);
    cr_expect(strstr(tc_err, "not found"));
    cr_assert_eq(tc_run("scan", dir, "--from", "117", "--to", "202", "--csv", NULL), 0);
    cr_expect_str_eq(tc_out, "key,ts,lsn,value\r\nk1,117,18,v117\r\nk2,118,19,v118\r\nk1,119,20,v119\r\n"
                          "k3,200,22,v200\r\nk3,201,23,v201\r\n");
    cr_assert_eq(tc_run("scan", dir, "--key", "k3", "--from", "0", "--to", "1000", "--limit", "2", "--json", NULL), 0);
    cr_expect_eq(tc_lines(tc_out), 2);
    cr_assert_eq(tc_run("scan", dir, "--from", "1970-01-01T00:00:00.000000100Z", "--to", "1970-01-01T00:00:00.000000102+00:00",
                     "--time-format", "rfc3339", NULL), 0, "%s", tc_err);
    cr_expect(strstr(tc_out, "1970-01-01T00:00:00.000000101Z"), "%s", tc_out);
    cr_expect_eq(tc_lines(tc_out), 3, "header and two rows: %s", tc_out);
}

Test(cli, keys_and_latest_in_three_formats)
{
    cr_assert_eq(tc_run("keys", dir, "--csv", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "key,records,first_ts,last_ts\r\nk1,10,101,119\r\nk2,10,100,118\r\n"
                             "k3,10,200,209\r\n");
    cr_assert_eq(tc_run("keys", dir, "--prefix", "k3", "--json", NULL), 0, "%s", tc_err);
    json_error_t e;
    json_t *j = json_loads(tc_out, 0, &e);
    cr_assert(j, "keys --json: %s: %s", e.text, tc_out);
    cr_expect_str_eq(json_string_value(json_object_get(j, "key")), "k3");
    expect_json_u64(json_object_get(j, "records"), 10);
    expect_json_u64(json_object_get(j, "first_ts"), 200);
    expect_json_u64(json_object_get(j, "last_ts"), 209);
    json_decref(j);
    cr_assert_eq(tc_run("keys", dir, NULL), 0, "%s", tc_err);
    cr_expect_eq(tc_lines(tc_out), 4, "header and three keys: %s", tc_out);
    cr_assert_eq(tc_run("keys", dir, "--prefix", "nope", "--csv", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "");
    /* the newest of each key: k1 and k2 from the cold tier, k3 from the log */
    cr_assert_eq(tc_run("scan", dir, "--latest", "--csv", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "key,ts,lsn,value\r\nk1,119,20,v119\r\nk2,118,19,v118\r\nk3,209,31,v209\r\n");
    cr_assert_eq(tc_run("scan", dir, "--latest", "--prefix", "k2", "--json", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "{\"key\":\"k2\",\"ts\":\"118\",\"lsn\":\"19\",\"value\":\"v118\"}\n");
    cr_assert_eq(tc_run("scan", dir, "--latest", "--limit", "1", NULL), 0, "%s", tc_err);
    cr_expect_eq(tc_lines(tc_out), 2, "header and one row: %s", tc_out);
    cr_expect_eq(tc_run("keys", NULL), 2);
    cr_expect_eq(tc_run("keys", dir, dir, NULL), 2);
    cr_expect_eq(tc_run("keys", dir, "--prefix", NULL), 2);
    cr_expect_eq(tc_run("scan", dir, "--latest", "--key", "k1", NULL), 2);
    cr_expect_eq(tc_run("scan", dir, "--latest", "--from", "0", "--to", "9", NULL), 2);
    cr_expect_eq(tc_run("scan", dir, "--prefix", "k", "--from", "0", "--to", "9", NULL), 2);
}

Test(cli, stats_in_three_formats)
{
    cr_assert_eq(tc_run("stats", dir, "--json", NULL), 0, "%s", tc_err);
    json_error_t je;
    json_t *j = json_loads(tc_out, 0, &je);
    cr_assert(j, "%s", je.text);
    cr_expect_eq(json_integer_value(json_object_get(j, "compacted_lsn")), 21);
    json_decref(j);
    cr_assert_eq(tc_run("stats", dir, "--prometheus", NULL), 0);
    /* the exposition format: HELP, TYPE, then "name value" */
    for (char *p = tc_out; *p; p += strcspn(p, "\n") + 1) {
        if (*p == '#')
            cr_expect(!strncmp(p, "# HELP sluice_", 14) || !strncmp(p, "# TYPE sluice_", 14));
        else
            cr_expect(!strncmp(p, "sluice_", 7) && strchr(p, ' ') < p + strcspn(p, "\n"));
    }
    cr_expect_eq(tc_run("stats", dir, NULL), 0);
}

Test(cli, compact_moves_the_log_into_the_cold_tier)
{
    cr_assert_eq(tc_run("compact", dir, NULL), 0, "%s", tc_err);
    cr_expect(strstr(tc_out, "compacted_lsn 21 -> 31"), "%s", tc_out);
    cr_assert_eq(tc_run("dump", "cold", dir, NULL), 0);
    cr_expect_eq(tc_lines(tc_out), 3);
    cr_expect_eq(tc_run("verify", dir, NULL), 0, "%s", tc_out);
}

/* ---- verify and damage ---- */

static void flip(const char *path, long off) { cr_assert_eq(tu_flip(path, off, 0x10), 0, "%s", path); }

Test(cli, verify_names_a_flipped_byte_in_a_segment)
{
    cr_assert_eq(tc_run("verify", dir, NULL), 0, "%s%s", tc_out, tc_err);
    cr_expect(strstr(tc_out, "clean"));
    /* the records of LSN 5 (compacted) and 25 (only in the log), found with dump, get a
     * flipped byte in their values */
    cr_assert_eq(tc_run("dump", "log", dir, "--from-lsn", "5", "--limit", "1", "--json", NULL), 0);
    long off5 = atol(strstr(tc_out, "\"offset\":") + 9);
    cr_assert_eq(tc_run("dump", "log", dir, "--from-lsn", "25", "--limit", "1", "--json", NULL), 0);
    long off25 = atol(strstr(tc_out, "\"offset\":") + 9);
    char *seg = tu_segment(dir, 0);
    flip(seg, off5 + 34);
    cr_expect_eq(tc_run("verify", dir, NULL), 0, "the cold tier holds LSN 5: harmless");
    char want[512];
    snprintf(want, sizeof want, "%s: offset %ld: 40 damaged bytes (LSN 5..5) stepped over", seg, off5);
    cr_expect(strstr(tc_out, want) && strstr(tc_out, "harmless"), "want \"%s\" in:\n%s", want, tc_out);
    flip(seg, off25 + 34);
    cr_expect_eq(tc_run("verify", dir, NULL), 1);
    snprintf(want, sizeof want, "%s: offset %ld: bad record", seg, off25);
    cr_expect(strstr(tc_out, want), "want \"%s\" in:\n%s", want, tc_out);
    free(seg);
}

Test(cli, verify_names_a_flipped_byte_in_the_cold_tier)
{
    cr_assert_eq(tc_run("dump", "cold", dir, "--key", "k1", "--json", NULL), 0);
    long off = atol(strstr(tc_out, "\"offset\":") + 9);
    cr_assert_gt(off, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/cold/data.mdb", dir);
    flip(path, off + 60); /* inside the block body */
    cr_expect_eq(tc_run("verify", dir, NULL), 1);
    char want[4200];
    snprintf(want, sizeof want, "%s: offset %ld: block of series", path, off);
    cr_expect(strstr(tc_out, want), "want \"%s\" in:\n%s", want, tc_out);
    cr_expect_eq(tc_run("dump", "cold", dir, NULL), 1);
    cr_expect(strstr(tc_out, "crc=BAD"));
    cr_expect_eq(tc_run("get", dir, "k1", "101", NULL), 1, "damage is an error, never data");
}

/* Every truncation of the last record, then other hostile shapes of a segment file: a
 * message and an exit code, never a crash (ASan runs this too), never a write. */
Test(cli, hostile_segments_give_messages_not_crashes)
{
    char *seg = tu_segment(dir, 0);
    cr_assert_eq(tc_run("dump", "log", dir, "--json", "--from-lsn", "31", NULL), 0);
    long last = atol(strstr(tc_out, "\"offset\":") + 9);
    int fd = open(seg, O_RDONLY);
    size_t keep = (size_t)last + 64;
    unsigned char *orig = malloc(keep);
    cr_assert_eq(pread(fd, orig, keep, 0), (ssize_t)keep);
    close(fd);
    char copy[4200];
    snprintf(copy, sizeof copy, "%s/copy.seg", dir);
    for (size_t cut = (size_t)last; cut <= keep; cut++) {
        fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert_eq(write(fd, orig, cut), (ssize_t)cut);
        close(fd);
        int code = tc_run("dump", "log", copy, NULL);
        cr_assert(code == 0 || code == 1, "cut at %zu: exit %d", cut, code);
    }
    /* wrong magic, zeros, garbage, a tiny file, a directory loop */
    const char *shapes[] = {"magic", "zeros", "garbage", "tiny"};
    for (int s = 0; s < 4; s++) {
        unsigned char *b = malloc(keep);
        memcpy(b, orig, keep);
        if (s == 0)
            memcpy(b, "NOTSLUIC", 8);
        if (s == 1)
            memset(b, 0, keep);
        if (s == 2)
            tu_fill(b, keep, 99);
        fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert_eq(write(fd, b, s == 3 ? 10 : keep), (ssize_t)(s == 3 ? 10 : keep));
        close(fd);
        cr_expect_eq(tc_run("dump", "log", copy, NULL), 1, "%s", shapes[s]);
        cr_expect(strstr(tc_err, "copy.seg") && strchr(tc_err, '\n') == tc_err + strlen(tc_err) - 1,
                  "%s: one line naming the file: %s", shapes[s], tc_err);
        free(b);
    }
    char loop[4200];
    snprintf(loop, sizeof loop, "%s/loop", dir);
    cr_assert_eq(symlink(loop, loop), 0);
    int code = tc_run("verify", loop, NULL);
    cr_expect(code == 1 || code == 2, "a symlink loop: exit %d", code);
    code = tc_run("dump", "log", loop, NULL);
    cr_expect(code == 1 || code == 2);
    cr_expect_eq(tc_run("info", copy, NULL), 2, "a file is not a directory");
    free(orig);
    free(seg);
}

Test(cli, a_directory_that_is_not_sluice_exits_1)
{
    char *other = tu_mkdtemp();
    cr_expect_eq(tc_run("info", other, NULL), 1);
    cr_expect(strstr(tc_err, "not a sluice directory"), "%s", tc_err);
    cr_expect_eq(tc_run("verify", other, NULL), 1);
    cr_expect_eq(tc_run("stats", other, NULL), 1);
    cr_expect_eq(tc_run("get", other, "k", NULL), 1);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none", other);
    cr_expect_eq(tc_run("verify", missing, NULL), 1);
    tu_rmdir(other);
}

/* Inspection while another process writes: every command succeeds and sees a prefix. */
Test(cli, inspecting_a_directory_another_process_writes)
{
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sluice_db *db;
        sluice_options o;
        sluice_options_init(&o);
        o.segment_bytes = 1 << 20;
        if (sluice_open(dir, &o, &db))
            _exit(2);
        char v[64];
        for (uint64_t i = 0;; i++) {
            int n = sprintf(v, "live-%llu", (unsigned long long)i);
            if (sluice_put(db, "live", 4, 1000 + i, v, (size_t)n, SLUICE_ACK_WRITTEN, NULL))
                _exit(3);
            /* (WRITTEN records may still be only in the shared ring: the log has them once
             * flushed, and inspection reads the log) */
            if (i == 2000 && (sluice_flush(db) || write(ready[1], "x", 1) != 1))
                _exit(4);
            if (i % 5000 == 4999 && sluice_compact(db))
                _exit(5);
        }
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    for (int round = 0; round < 5; round++) {
        cr_expect_eq(tc_run("info", dir, NULL), 0, "%s", tc_err);
        cr_expect(strstr(tc_out, "a process holds DIR/LOCK"), "%s", tc_out);
        cr_expect_eq(tc_run("scan", dir, "--key", "live", "--from", "0", "--to", "99999999", "--csv", NULL), 0, "%s", tc_err);
        cr_expect_gt(tc_lines(tc_out), 2000);
        cr_expect_eq(tc_run("verify", dir, NULL), 0, "%s", tc_out);
        cr_expect_eq(tc_run("dump", "log", dir, "--limit", "10", NULL), 0);
        cr_expect_eq(tc_run("get", dir, "live", NULL), 0);
        cr_expect_eq(tc_run("compact", dir, NULL), 2, "a writer has it: refused");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(cli, demo_runs_end_to_end_and_the_inspectors_read_its_directory)
{
    char *d = tu_mkdtemp();
    cr_assert_eq(tc_run("demo", d, "--records", "20000", "--producers", "2", NULL), 0, "%s", tc_err);
    cr_expect(strstr(tc_out, "sluice info"), "the demo ends by naming the inspectors: %s", tc_out);
    cr_expect_eq(tc_run("info", d, NULL), 0, "%s", tc_err);
    cr_expect_eq(tc_run("verify", d, NULL), 0, "%s", tc_out);
    cr_expect_eq(tc_run("dump", "cold", d, "--key", "sensor-00001", NULL), 0, "%s", tc_err);
    tu_rmdir(d);
}

/* ---- one voice: JSON where asked, the same time formats, help and man page ---- */

static json_t *parse_doc(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert(j, "not one JSON document (%s): %s", je.text, text);
    return j;
}

Test(cli, info_and_verify_speak_json)
{
    cr_assert_eq(tc_run("info", dir, "--json", NULL), 0, "%s", tc_err);
    json_t *j = parse_doc(tc_out);
    expect_json_u64(json_object_get(json_object_get(j, "positions"), "compacted_lsn"), 21);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "cold"), "records")), 20);
    json_t *seg = json_array_get(json_object_get(json_object_get(j, "log"), "segments"), 0);
    expect_json_u64(json_object_get(seg, "first_lsn"), 1);
    json_t *off = json_array_get(json_object_get(json_object_get(j, "offsets"), "cold"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(off, "source")), "upstream");
    expect_json_u64(json_object_get(off, "offset"), 42);
    json_decref(j);

    cr_assert_eq(tc_run("verify", dir, "--json", NULL), 0, "%s", tc_out);
    j = parse_doc(tc_out);
    cr_expect(json_is_true(json_object_get(j, "clean")));
    cr_expect_eq(json_array_size(json_object_get(j, "problems")), 0);
    json_decref(j);
    char path[4096];
    snprintf(path, sizeof path, "%s/cold/data.mdb", dir);
    cr_assert_eq(tc_run("dump", "cold", dir, "--key", "k1", "--json", NULL), 0);
    long off_k1 = atol(strstr(tc_out, "\"offset\":") + 9);
    flip(path, off_k1 + 60);
    cr_assert_eq(tc_run("verify", dir, "--json", NULL), 1);
    j = parse_doc(tc_out);
    cr_expect(json_is_false(json_object_get(j, "clean")));
    json_t *p = json_array_get(json_object_get(j, "problems"), 0);
    cr_expect_eq(json_integer_value(json_object_get(p, "offset")), off_k1);
    cr_expect(strstr(json_string_value(json_object_get(p, "problem")), "block of series"));
    json_decref(j);
    cr_expect_eq(tc_run("info", dir, "--bogus", NULL), 2);
}

Test(cli, dump_shows_offsets_keys_and_time_formats)
{
    cr_assert_eq(tc_run("dump", "log", dir, "--json", "--from-lsn", "21", "--limit", "1", NULL), 0, "%s", tc_err);
    json_t *j = parse_doc(tc_out);
    cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "offset");
    cr_expect_str_eq(json_string_value(json_object_get(j, "source")), "upstream");
    expect_json_u64(json_object_get(j, "source_offset"), 42);
    cr_expect_null(json_object_get(j, "value"), "not the raw bytes of the offset");
    json_decref(j);
    cr_assert_eq(tc_run("dump", "log", dir, "--from-lsn", "31", "--time-format", "rfc3339", NULL), 0);
    cr_expect(strstr(tc_out, "1970-01-01T00:00:00.000000209Z  k3"), "%s", tc_out);
    cr_assert_eq(tc_run("dump", "log", dir, "--json", "--from-lsn", "31", "--time-format", "rfc3339", NULL), 0);
    cr_expect(strstr(tc_out, "\"ts\":\"1970-01-01T00:00:00.000000209Z\""), "%s", tc_out);
    cr_expect_eq(tc_run("dump", "log", dir, "--time-format", "weekday", NULL), 2);
    /* every record line of dump cold names its key */
    cr_assert_eq(tc_run("dump", "cold", dir, "--records", "--json", NULL), 0, "%s", tc_err);
    int records = 0;
    for (char *line = tc_out; *line; line += strcspn(line, "\n") + 1) {
        json_error_t je;
        json_t *r = json_loadb(line, strcspn(line, "\n"), 0, &je);
        cr_assert(r, "%s", je.text);
        const char *k = json_string_value(json_object_get(r, "key"));
        cr_expect(k && (!strcmp(k, "k1") || !strcmp(k, "k2")), "a line without its key: %.80s", line);
        records += json_object_get(r, "lsn") != NULL;
        json_decref(r);
    }
    cr_expect_eq(records, 20);
}

Test(cli, scan_explains_a_missing_range)
{
    cr_expect_eq(tc_run("scan", dir, "--key", "k1", NULL), 2);
    cr_expect(strstr(tc_err, "the time range is required") && strstr(tc_err, "--from") &&
                  strstr(tc_err, "--to"), "%s", tc_err);
    cr_expect(!strchr(tc_err, '\n') || strchr(tc_err, '\n') == tc_err + strlen(tc_err) - 1, "one line");
}

/* Help lines are aligned, and the man page covers every command the tool has. */
Test(cli, help_is_aligned_and_the_man_page_lists_every_command)
{
    cr_assert_eq(tc_run("help", NULL), 0);
    char *cmds = strstr(tc_out, "commands:\n");
    cr_assert(cmds);
    for (char *line = cmds + 10; *line && strncmp(line, "\n", 1); line += strcspn(line, "\n") + 1)
        cr_expect(!strncmp(line, "  ", 2), "a help line out of line: %.60s", line);
    FILE *f = fopen(SLUICE_SOURCE_DIR "/tools/sluice.1", "r");
    cr_assert(f);
    static char man[1 << 16];
    man[fread(man, 1, sizeof man - 1, f)] = 0;
    fclose(f);
    /* every synopsis help prints ("  name ..." or "  dump log ..."), so a new command
     * cannot miss the man page */
    int n = 0;
    for (char *line = cmds + 10; *line && *line != '\n'; line += strcspn(line, "\n") + 1) {
        if (line[2] == ' ')
            continue; /* a description */
        char name[64];
        size_t len = strcspn(line + 2, " \n");
        if (!strncmp(line + 2, "dump ", 5))
            len += 1 + strcspn(line + 2 + len + 1, " \n");
        snprintf(name, sizeof name, "%.*s", (int)len, line + 2);
        if (!strcmp(name, "help"))
            continue; /* help and version: the tool's own, described in the synopsis */
        char a[80], b[80];
        snprintf(a, sizeof a, ".BR %s ", name);
        snprintf(b, sizeof b, "\"%s ", name);
        cr_expect(strstr(man, a) || strstr(man, b), "the man page lacks %s", name);
        n++;
    }
    cr_expect_geq(n, 16, "help lists every command (%d synopses)", n);
}
