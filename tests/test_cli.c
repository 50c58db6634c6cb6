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
#include "util.h"

/* Runs the tool with stdout and stderr captured; returns its exit code. */
static char out[1 << 20], err[1 << 16];
static int run(const char *first, ...)
{
    char *argv[32] = {"sluice", (char *)first};
    int argc = first ? 2 : 1;
    va_list ap;
    va_start(ap, first);
    for (char *a; first && (a = va_arg(ap, char *)) && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    FILE *o = tmpfile(), *e = tmpfile();
    int so = dup(1), se = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    int code = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    size_t n;
    rewind(o);
    n = fread(out, 1, sizeof out - 1, o);
    out[n] = 0;
    rewind(e);
    n = fread(err, 1, sizeof err - 1, e);
    err[n] = 0;
    fclose(o);
    fclose(e);
    return code;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

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

TestSuite(cli, .init = fixture, .fini = cleanup);

Test(cli, usage_errors_exit_2)
{
    cr_expect_eq(run(NULL), 2);
    cr_expect_eq(run("frobnicate", NULL), 2);
    cr_expect_eq(run("stats", NULL), 2);
    cr_expect_eq(run("get", dir, NULL), 2);
    cr_expect_eq(run("get", dir, "k1", "not-a-time", NULL), 2);
    cr_expect_eq(run("scan", dir, "--from", "0", NULL), 2);
    cr_expect_eq(run("scan", dir, "--from", "5", "--to", "1", NULL), 2);
    cr_expect_eq(run("dump", "sideways", dir, NULL), 2);
    cr_expect_eq(run("dump", "log", dir, "--limit", NULL), 2);
    cr_expect_eq(run("ingest", dir, "--ack", "sometimes", NULL), 2);
    cr_expect_eq(run("demo", "--producers", "0", NULL), 2);
    cr_expect(strstr(err, "sluice demo:") != NULL || strstr(err, "producers") != NULL);
}

Test(cli, help_and_version_exit_0)
{
    cr_expect_eq(run("help", NULL), 0);
    cr_expect(strstr(out, "verify DIR"));
    cr_expect_eq(run("scan", "--help", NULL), 0);
    cr_expect(strstr(out, "usage: sluice scan"));
    cr_expect_eq(run("version", NULL), 0);
    cr_expect(strncmp(out, "sluice ", 7) == 0);
}

Test(cli, info_shows_every_tier)
{
    cr_assert_eq(run("info", dir, NULL), 0, "%s", err);
    cr_expect(strstr(out, "writer      none"));
    cr_expect(strstr(out, "0000000000000001.seg"));
    cr_expect(strstr(out, "compacted_lsn 21"), "%s", out); /* 20 records + the offset */
    cr_expect(strstr(out, "20 records in 2 blocks, 2 series"), "%s", out);
    cr_expect(strstr(out, "upstream                 42"), "%s", out);
    cr_expect(strstr(out, "uuid "));
}

Test(cli, dump_log_shows_each_record_once)
{
    cr_assert_eq(run("dump", "log", dir, NULL), 0, "%s", err);
    cr_expect(strstr(out, "offset=42"));
    cr_expect(strstr(out, "  k3  4  v209  crc=ok"), "%s", out);
    cr_assert_eq(run("dump", "log", dir, "--json", "--from-lsn", "22", NULL), 0);
    cr_assert_eq(lines(out), 10, "%s", out);
    char *p = out;
    for (int i = 0; i < 10; i++) {
        json_error_t je;
        json_t *j = json_loadb(p, strcspn(p, "\n"), 0, &je);
        cr_assert(j, "line %d is not JSON: %s", i, je.text);
        cr_expect_eq(json_integer_value(json_object_get(j, "lsn")), 22 + i);
        cr_expect_str_eq(json_string_value(json_object_get(j, "key")), "k3");
        cr_expect_str_eq(json_string_value(json_object_get(j, "crc")), "ok");
        json_decref(j);
        p += strcspn(p, "\n") + 1;
    }
    cr_assert_eq(run("dump", "log", dir, "--limit", "3", NULL), 0);
    cr_expect_eq(lines(out), 4, "a header line and 3 records: %s", out);
}

Test(cli, dump_cold_shows_blocks_and_records)
{
    cr_assert_eq(run("dump", "cold", dir, NULL), 0, "%s", err);
    cr_expect_eq(lines(out), 2, "%s", out);
    cr_expect(strstr(out, "k1  ts 101..119  10 records"), "%s", out);
    cr_assert_eq(run("dump", "cold", dir, "--key", "k2", "--records", "--from", "104", "--to", "108", NULL), 0);
    cr_expect(strstr(out, "ts 104  lsn 5  4  v104"), "%s", out);
    cr_expect(strstr(out, "ts 106") && !strstr(out, "ts 108") && !strstr(out, "ts 102"), "%s", out);
    cr_expect_eq(run("dump", "cold", dir, "--key", "nope", NULL), 1);
}

Test(cli, get_and_scan_through_the_api_in_three_formats)
{
    cr_assert_eq(run("get", dir, "k1", "105", "--csv", NULL), 0, "%s", err);
    cr_expect_str_eq(out, "key,ts,value\r\nk1,105,v105\r\n");
    cr_assert_eq(run("get", dir, "k3", "--json", NULL), 0); /* the newest: in the log */
    cr_expect_str_eq(out, "{\"key\":\"k3\",\"ts\":209,\"value\":\"v209\"}\n");
    cr_expect_eq(run("get", dir, "k1", "104", NULL), 1);
    cr_expect(strstr(err, "not found"));
    cr_assert_eq(run("scan", dir, "--from", "117", "--to", "202", "--csv", NULL), 0);
    cr_expect_str_eq(out, "key,ts,lsn,value\r\nk1,117,18,v117\r\nk2,118,19,v118\r\nk1,119,20,v119\r\n"
                          "k3,200,22,v200\r\nk3,201,23,v201\r\n");
    cr_assert_eq(run("scan", dir, "--key", "k3", "--from", "0", "--to", "1000", "--limit", "2", "--json", NULL), 0);
    cr_expect_eq(lines(out), 2);
    cr_assert_eq(run("scan", dir, "--from", "1970-01-01T00:00:00.000000100Z", "--to", "1970-01-01T00:00:00.000000102+00:00",
                     "--time-format", "rfc3339", NULL), 0, "%s", err);
    cr_expect(strstr(out, "1970-01-01T00:00:00.000000101Z"), "%s", out);
    cr_expect_eq(lines(out), 3, "header and two rows: %s", out);
}

Test(cli, stats_in_three_formats)
{
    cr_assert_eq(run("stats", dir, "--json", NULL), 0, "%s", err);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert(j, "%s", je.text);
    cr_expect_eq(json_integer_value(json_object_get(j, "compacted_lsn")), 21);
    json_decref(j);
    cr_assert_eq(run("stats", dir, "--prometheus", NULL), 0);
    /* the exposition format: HELP, TYPE, then "name value" */
    for (char *p = out; *p; p += strcspn(p, "\n") + 1) {
        if (*p == '#')
            cr_expect(!strncmp(p, "# HELP sluice_", 14) || !strncmp(p, "# TYPE sluice_", 14));
        else
            cr_expect(!strncmp(p, "sluice_", 7) && strchr(p, ' ') < p + strcspn(p, "\n"));
    }
    cr_expect_eq(run("stats", dir, NULL), 0);
}

Test(cli, compact_moves_the_log_into_the_cold_tier)
{
    cr_assert_eq(run("compact", dir, NULL), 0, "%s", err);
    cr_expect(strstr(out, "compacted_lsn 21 -> 31"), "%s", out);
    cr_assert_eq(run("dump", "cold", dir, NULL), 0);
    cr_expect_eq(lines(out), 3);
    cr_expect_eq(run("verify", dir, NULL), 0, "%s", out);
}

/* ---- verify and damage ---- */

static void flip(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

Test(cli, verify_names_a_flipped_byte_in_a_segment)
{
    cr_assert_eq(run("verify", dir, NULL), 0, "%s%s", out, err);
    cr_expect(strstr(out, "clean"));
    /* the record of LSN 5 (found with dump) gets a flipped byte in its value */
    cr_assert_eq(run("dump", "log", dir, "--from-lsn", "5", "--limit", "1", "--json", NULL), 0);
    long off = atol(strstr(out, "\"offset\":") + 9);
    char *seg = tu_segment(dir, 0);
    flip(seg, off + 34);
    cr_expect_eq(run("verify", dir, NULL), 1);
    char want[512];
    snprintf(want, sizeof want, "%s: offset %ld: bad record", seg, off);
    cr_expect(strstr(out, want), "want \"%s\" in:\n%s", want, out);
    free(seg);
}

Test(cli, verify_names_a_flipped_byte_in_the_cold_tier)
{
    cr_assert_eq(run("dump", "cold", dir, "--key", "k1", "--json", NULL), 0);
    long off = atol(strstr(out, "\"offset\":") + 9);
    cr_assert_gt(off, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/cold/data.mdb", dir);
    flip(path, off + 60); /* inside the block body */
    cr_expect_eq(run("verify", dir, NULL), 1);
    char want[4200];
    snprintf(want, sizeof want, "%s: offset %ld: block of series", path, off);
    cr_expect(strstr(out, want), "want \"%s\" in:\n%s", want, out);
    cr_expect_eq(run("dump", "cold", dir, NULL), 1);
    cr_expect(strstr(out, "crc=BAD"));
    cr_expect_eq(run("get", dir, "k1", "101", NULL), 1, "damage is an error, never data");
}

/* Every truncation of the last record, then other hostile shapes of a segment file: a
 * message and an exit code, never a crash (ASan runs this too), never a write. */
Test(cli, hostile_segments_give_messages_not_crashes)
{
    char *seg = tu_segment(dir, 0);
    cr_assert_eq(run("dump", "log", dir, "--json", "--from-lsn", "31", NULL), 0);
    long last = atol(strstr(out, "\"offset\":") + 9);
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
        int code = run("dump", "log", copy, NULL);
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
        cr_expect_eq(run("dump", "log", copy, NULL), 1, "%s", shapes[s]);
        cr_expect(strstr(err, "copy.seg") && strchr(err, '\n') == err + strlen(err) - 1,
                  "%s: one line naming the file: %s", shapes[s], err);
        free(b);
    }
    char loop[4200];
    snprintf(loop, sizeof loop, "%s/loop", dir);
    cr_assert_eq(symlink(loop, loop), 0);
    int code = run("verify", loop, NULL);
    cr_expect(code == 1 || code == 2, "a symlink loop: exit %d", code);
    code = run("dump", "log", loop, NULL);
    cr_expect(code == 1 || code == 2);
    cr_expect_eq(run("info", copy, NULL), 2, "a file is not a directory");
    free(orig);
    free(seg);
}

Test(cli, a_directory_that_is_not_sluice_exits_1)
{
    char *other = tu_mkdtemp();
    cr_expect_eq(run("info", other, NULL), 1);
    cr_expect(strstr(err, "not a sluice directory"), "%s", err);
    cr_expect_eq(run("verify", other, NULL), 1);
    cr_expect_eq(run("stats", other, NULL), 1);
    cr_expect_eq(run("get", other, "k", NULL), 1);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none", other);
    cr_expect_eq(run("verify", missing, NULL), 1);
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
            if (i == 2000 && write(ready[1], "x", 1) != 1)
                _exit(4);
            if (i % 5000 == 4999 && sluice_compact(db))
                _exit(5);
        }
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    for (int round = 0; round < 5; round++) {
        cr_expect_eq(run("info", dir, NULL), 0, "%s", err);
        cr_expect(strstr(out, "a process holds DIR/LOCK"), "%s", out);
        cr_expect_eq(run("scan", dir, "--key", "live", "--from", "0", "--to", "99999999", "--csv", NULL), 0, "%s", err);
        cr_expect_gt(lines(out), 2000);
        cr_expect_eq(run("verify", dir, NULL), 0, "%s", out);
        cr_expect_eq(run("dump", "log", dir, "--limit", "10", NULL), 0);
        cr_expect_eq(run("get", dir, "live", NULL), 0);
        cr_expect_eq(run("compact", dir, NULL), 2, "a writer has it: refused");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- ingest ---- */

static char *write_file(const char *name, const char *text)
{
    char *p = malloc(4200);
    snprintf(p, 4200, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

Test(cli, ingest_csv_reports_bad_lines_by_number_and_loads_the_rest)
{
    char *csv = write_file("in.csv", "ts,extra,key,value\n"
                                     "500,x,a,plain\n"
                                     "501,x,a,\"quoted, with comma and \"\"quotes\"\"\"\n"
                                     "not-a-ts,x,a,bad\n"
                                     "502,x,a,\"two\nlines\"\n"
                                     "503,x\n"
                                     "1970-01-01T00:00:00.000000504Z,x,b,rfc\n");
    cr_expect_eq(run("ingest", dir, csv, NULL), 1, "%s", err);
    cr_expect(strstr(err, "in.csv:4: bad ts 'not-a-ts'"), "%s", err);
    cr_expect(strstr(err, "in.csv:7: 2 fields"), "%s", err);
    cr_expect(strstr(out, "ingested 4 records") && strstr(out, "2 bad lines"), "%s", out);
    cr_assert_eq(run("get", dir, "a", "501", "--csv", NULL), 0);
    cr_expect_str_eq(out, "key,ts,value\r\na,501,\"quoted, with comma and \"\"quotes\"\"\"\r\n");
    cr_assert_eq(run("get", dir, "a", "502", "--json", NULL), 0);
    cr_expect(strstr(out, "\"two\\nlines\""), "%s", out);
    cr_expect_eq(run("get", dir, "b", "504", NULL), 0);
    /* a header without the needed columns is refused before anything is loaded */
    char *bad = write_file("bad.csv", "key,time,value\nz,1,v\n");
    cr_expect_eq(run("ingest", dir, bad, NULL), 1);
    cr_expect(strstr(err, "must name the columns"), "%s", err);
    cr_expect_eq(run("get", dir, "z", "1", NULL), 1);
    /* --max-errors stops early */
    char *many = write_file("many.csv", "key,ts,value\nq,x,1\nq,y,2\nq,z,3\nq,7,4\n");
    cr_expect_eq(run("ingest", dir, "--max-errors", "2", many, NULL), 1);
    cr_expect(strstr(err, "stopping after 2 bad lines"), "%s", err);
    cr_expect_eq(run("get", dir, "q", "7", NULL), 1, "nothing after the stop was loaded");
    free(csv);
    free(bad);
    free(many);
}

Test(cli, ingest_jsonl_strings_numbers_and_objects)
{
    char *jl = write_file("in.jsonl", "{\"key\":\"j\",\"ts\":10,\"value\":\"text\"}\n"
                                      "{\"key\":\"j\",\"ts\":\"1970-01-01T00:00:00.000000011Z\",\"value\":{\"t\":21.5}}\n"
                                      "\n"
                                      "{\"key\":\"j\",\"ts\":-1,\"value\":\"neg\"}\n"
                                      "not json\n"
                                      "{\"key\":\"j\",\"ts\":12,\"value\":[1,2]}\n");
    cr_expect_eq(run("ingest", dir, "--ack", "durable", jl, NULL), 1, "%s", err);
    cr_expect(strstr(err, "in.jsonl:4:") && strstr(err, "in.jsonl:5: not JSON"), "%s", err);
    cr_assert_eq(run("scan", dir, "--key", "j", "--from", "0", "--to", "100", "--csv", NULL), 0);
    cr_expect_str_eq(out, "key,ts,lsn,value\r\nj,10,32,text\r\nj,11,33,\"{\"\"t\"\":21.5}\"\r\nj,12,34,\"[1,2]\"\r\n");
    free(jl);
}

Test(cli, demo_runs_end_to_end_and_the_inspectors_read_its_directory)
{
    char *d = tu_mkdtemp();
    cr_assert_eq(run("demo", d, "--records", "20000", "--producers", "2", NULL), 0, "%s", err);
    cr_expect(strstr(out, "sluice info"), "the demo ends by naming the inspectors: %s", out);
    cr_expect_eq(run("info", d, NULL), 0, "%s", err);
    cr_expect_eq(run("verify", d, NULL), 0, "%s", out);
    cr_expect_eq(run("dump", "cold", d, "--key", "sensor-00001", NULL), 0, "%s", err);
    tu_rmdir(d);
}
