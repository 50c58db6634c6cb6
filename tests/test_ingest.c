/*
 * sluice ingest and the formats it reads back: CSV (RFC 4180, strict), JSON lines, and
 * the round trip scan --json | [jq -c .] | ingest, byte for byte. Every malformed input is
 * a reported bad line with its number, never data silently merged, trimmed or dropped.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static void fresh(void) { dir = tu_mkdtemp(); }
static void cleanup(void) { tu_rmdir(dir); }
TestSuite(ingest, .init = fresh, .fini = cleanup);

static char *put_file(const char *name, const char *text)
{
    return tc_write_file(dir, name, text, strlen(text));
}

/* The records of the whole directory as CSV (scan over all time). */
static const char *scan_csv(void)
{
    cr_assert_eq(tc_run("scan", dir, "--from", "0", "--to", "18446744073709551615", "--csv", NULL), 0,
                 "%s", tc_err);
    return tc_out;
}

Test(ingest, csv_reports_bad_lines_by_number_and_loads_the_rest)
{
    char *csv = put_file("in.csv", "ts,extra,key,value\n"
                                   "500,x,a,plain\n"
                                   "501,x,a,\"quoted, with comma and \"\"quotes\"\"\"\n"
                                   "not-a-ts,x,a,bad\n"
                                   "502,x,a,\"two\nlines\"\n"
                                   "503,x\n"
                                   "1970-01-01T00:00:00.000000504Z,x,b,rfc\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "in.csv:4: bad ts 'not-a-ts'"), "%s", tc_err);
    cr_expect(strstr(tc_err, "in.csv:7: 2 fields"), "%s", tc_err);
    cr_expect(strstr(tc_out, "ingested 4 records") && strstr(tc_out, "2 bad lines"), "%s", tc_out);
    cr_assert_eq(tc_run("get", dir, "a", "501", "--csv", NULL), 0);
    cr_expect_str_eq(tc_out, "key,ts,value\r\na,501,\"quoted, with comma and \"\"quotes\"\"\"\r\n");
    cr_assert_eq(tc_run("get", dir, "a", "502", "--json", NULL), 0);
    cr_expect(strstr(tc_out, "\"two\\nlines\""), "%s", tc_out);
    cr_expect_eq(tc_run("get", dir, "b", "504", NULL), 0);
    /* a header without the needed columns is refused before anything is loaded */
    char *bad = put_file("bad.csv", "key,time,value\nz,1,v\n");
    cr_expect_eq(tc_run("ingest", dir, bad, NULL), 1);
    cr_expect(strstr(tc_err, "must name the columns"), "%s", tc_err);
    cr_expect_eq(tc_run("get", dir, "z", "1", NULL), 1);
    /* --max-errors stops early */
    char *many = put_file("many.csv", "key,ts,value\nq,x,1\nq,y,2\nq,z,3\nq,7,4\n");
    cr_expect_eq(tc_run("ingest", dir, "--max-errors", "2", many, NULL), 1);
    cr_expect(strstr(tc_err, "stopping after 2 bad lines"), "%s", tc_err);
    cr_expect_eq(tc_run("get", dir, "q", "7", NULL), 1, "nothing after the stop was loaded");
    free(csv);
    free(bad);
    free(many);
}

/* The first user's finding: an unterminated quote swallowed the rest of the file into
 * one value, with 0 bad lines and exit 0. */
Test(ingest, csv_unterminated_quote_is_a_bad_line_not_a_value)
{
    char *csv = put_file("open.csv", "key,ts,value\nk1,1,\"unterminated\nk2,2,v2\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "open.csv:2: a quoted field is not closed"), "%s", tc_err);
    cr_expect(strstr(tc_err, "lines 2-3"), "the stretch it covers is named: %s", tc_err);
    cr_expect(strstr(tc_out, "ingested 0 records") && strstr(tc_out, "1 bad line"), "%s", tc_out);
    cr_expect_str_eq(scan_csv(), "", "nothing was stored");
    free(csv);
}

Test(ingest, csv_stray_quotes_extra_fields_and_spaces)
{
    char *csv = put_file("odd.csv", "key,ts,value\n"
                                    "k1,1, padded \n"            /* spaces are data */
                                    "k2,2,a,b\n"                 /* an unquoted comma */
                                    "k3,3,ab\"c\n"               /* a quote mid-field */
                                    "k4,4,\"closed\"tail\n"      /* text after the quote */
                                    "k5,5,\"spans\nlines\"x\n"   /* the same, a line later */
                                    "k6,6,\tok\n");
    cr_expect_eq(tc_run("ingest", dir, csv, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:3: 4 fields; the header has 3"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:4: a quote inside an unquoted field"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:5: a quote inside"), "%s", tc_err);
    cr_expect(strstr(tc_err, "odd.csv:6:") && strstr(tc_err, "lines 6-7"), "%s", tc_err);
    cr_expect(strstr(tc_out, "ingested 2 records") && strstr(tc_out, "4 bad lines"), "%s", tc_out);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nk1,1,1, padded \r\nk6,6,2,\tok\r\n");
    free(csv);
}

Test(ingest, csv_from_stdin_and_a_malformed_header)
{
    const char *in = "key,ts,value\r\nk,7,crlf\r\n";
    cr_expect_eq(tc_run_stdin(in, strlen(in), "ingest", dir, "-", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nk,7,1,crlf\r\n");
    const char *hdr = "key,\"ts,value\nk,8,x\n";
    cr_expect_eq(tc_run_stdin(hdr, strlen(hdr), "ingest", dir, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "malformed header"), "%s", tc_err);
}

Test(ingest, jsonl_strings_numbers_and_objects)
{
    char *jl = put_file("in.jsonl", "{\"key\":\"j\",\"ts\":10,\"value\":\"text\"}\n"
                                    "{\"key\":\"j\",\"ts\":\"1970-01-01T00:00:00.000000011Z\",\"value\":{\"t\":21.5}}\n"
                                    "\n"
                                    "{\"key\":\"j\",\"ts\":-1,\"value\":\"neg\"}\n"
                                    "not json\n"
                                    "{\"key\":\"j\",\"ts\":12,\"value\":[1,2]}\n");
    cr_expect_eq(tc_run("ingest", dir, "--ack", "durable", jl, NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "in.jsonl:4:") && strstr(tc_err, "in.jsonl:5: not JSON"), "%s", tc_err);
    cr_expect_str_eq(scan_csv(), "key,ts,lsn,value\r\nj,10,1,text\r\nj,11,2,\"{\"\"t\"\":21.5}\"\r\nj,12,3,\"[1,2]\"\r\n");
    free(jl);
}

/* ---- JSON that round-trips ---- */

/* Every record of a directory, in scan order. */
struct rec {
    uint8_t key[64], val[320];
    size_t klen, vlen;
    uint64_t ts;
};

static size_t read_all(const char *d, struct rec *out, size_t cap)
{
    sluice_options o;
    sluice_options_init(&o);
    o.read_only = 1;
    sluice_db *db;
    cr_assert_eq(sluice_open(d, &o, &db), 0);
    sluice_iter *it;
    cr_assert_eq(sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it), 0);
    sluice_record r;
    size_t n = 0;
    int e;
    while ((e = sluice_iter_next(it, &r)) == 0) {
        cr_assert_lt(n, cap);
        cr_assert_leq(r.klen, sizeof out[n].key);
        cr_assert_leq(r.vlen, sizeof out[n].val);
        memcpy(out[n].key, r.key, r.klen);
        if (r.vlen) /* an empty value may come as NULL: memcpy must not see it */
            memcpy(out[n].val, r.val, r.vlen);
        out[n].klen = r.klen;
        out[n].vlen = r.vlen;
        out[n].ts = r.ts;
        n++;
    }
    cr_assert_eq(e, SLUICE_END);
    sluice_iter_close(it);
    cr_assert_eq(sluice_close(db), 0);
    return n;
}

/* Random bytes: NULs, invalid UTF-8, valid multi-byte text, control characters. */
static size_t random_bytes(uint8_t *p, size_t max, size_t min, uint64_t *s)
{
    static const char *text[] = {"café", "日本語", "\xf0\x9f\x98\x80", "a\"b\\c", "tab\there",
                                 "nul\0byte", "\x7f", "\xe2\x80\xa8"};
    size_t n = min + tu_rand(s) % (max - min + 1);
    int kind = (int)(tu_rand(s) % 3);
    for (size_t i = 0; i < n;) {
        if (kind == 0) { /* any byte at all */
            p[i++] = (uint8_t)tu_rand(s);
        } else { /* text, with a broken sequence now and then when kind == 2 */
            const char *t = text[tu_rand(s) % 8];
            size_t tl = !strncmp(t, "nul", 3) ? 8 : strlen(t);
            for (size_t k = 0; k < tl && i < n; k++)
                p[i++] = (uint8_t)t[k];
            if (kind == 2 && i < n && tu_rand(s) % 4 == 0)
                p[i++] = 0xc3; /* a lead byte without its continuation */
        }
    }
    return n;
}

/* Records with every kind of byte go out as `scan --json`, optionally through
 * `jq -c .` (jq 1.6, Debian's), and back in through `ingest --format jsonl`: the second
 * directory holds the same records, byte for byte. */
static void round_trip(int through_jq)
{
    if (through_jq && system("jq --version >/dev/null 2>&1") != 0)
        cr_skip_test("jq is not installed (tools/bootstrap.sh installs it)");
    uint64_t seed = tu_seed(through_jq ? "json round trip through jq" : "json round trip");
    enum { N = 400 };
    static struct rec want[N + 1], got[N + 1];
    sluice_db *db;
    sluice_options o;
    sluice_options_init(&o);
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    uint64_t s = seed;
    for (int i = 0; i < N; i++) {
        uint8_t key[64], val[320];
        size_t klen = random_bytes(key, 40, 1, &s), vlen = random_bytes(val, 300, 0, &s);
        /* timestamps far above 2^53, where a JSON number loses digits, and small ones */
        uint64_t ts = i % 3 ? 1796615272046015398ull + tu_rand(&s) % (1ull << 40) : (uint64_t)i;
        cr_assert_eq(sluice_put(db, key, klen, ts, val, vlen, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_put(db, "café", 5, 1796615272046015398ull, "x\0y", 3, SLUICE_ACK_MEMORY, NULL), 0);
    cr_assert_eq(sluice_close(db), 0);
    size_t n = read_all(dir, want, N + 1);
    cr_assert_eq(n, N + 1);

    cr_assert_eq(tc_run("scan", dir, "--from", "0", "--to", "18446744073709551615", "--json", NULL), 0,
                 "%s", tc_err);
    cr_expect(strstr(tc_out, "{\"key\":\"café\",\"ts\":\"1796615272046015398\",\"lsn\":\"401\","
                             "\"value\":\"x\\u0000y\"}"),
              "UTF-8 as UTF-8, 64-bit integers as strings, NUL as \\u0000");
    cr_expect(strstr(tc_out, "\"key_b64\":") && strstr(tc_out, "\"value_b64\":"),
              "bytes that are not UTF-8 are base64");
    char *json = tc_write_file(dir, "scan.jsonl", tc_out, strlen(tc_out));
    char *in = json;
    if (through_jq) {
        char cmd[8400];
        if (asprintf(&in, "%s/jq.jsonl", dir) < 0)
            abort();
        snprintf(cmd, sizeof cmd, "jq -c . < '%s' > '%s'", json, in);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    char *copy;
    if (asprintf(&copy, "%s/copy", dir) < 0)
        abort();
    cr_assert_eq(tc_run("ingest", copy, "--format", "jsonl", in, NULL), 0, "%s", tc_err);
    cr_assert_eq(read_all(copy, got, N + 1), n, "every record came back");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(got[i].ts, want[i].ts, "record %zu: ts", i);
        cr_assert(got[i].klen == want[i].klen && !memcmp(got[i].key, want[i].key, want[i].klen),
                  "record %zu: key", i);
        cr_assert(got[i].vlen == want[i].vlen && !memcmp(got[i].val, want[i].val, want[i].vlen),
                  "record %zu: value", i);
    }
    if (in != json)
        free(in);
    free(json);
    free(copy);
}

Test(ingest, scan_json_round_trips_byte_for_byte) { round_trip(0); }
Test(ingest, scan_json_round_trips_through_jq) { round_trip(1); }

Test(ingest, jsonl_ts_as_a_string_and_bad_base64)
{
    const char *in = "{\"key\":\"k\",\"ts\":\"18446744073709551614\",\"value\":\"max\"}\n"
                     "{\"key_b64\":\"AP8=\",\"ts\":1,\"value_b64\":\"\"}\n"
                     "{\"key_b64\":\"AP8\",\"ts\":2,\"value\":\"x\"}\n"
                     "{\"key\":\"k\",\"key_b64\":\"aw==\",\"ts\":3,\"value\":\"x\"}\n";
    cr_expect_eq(tc_run_stdin(in, strlen(in), "ingest", dir, "--format", "jsonl", NULL), 1, "%s", tc_err);
    cr_expect(strstr(tc_err, "stdin:3: key_b64 is not valid base64"), "%s", tc_err);
    cr_expect(strstr(tc_err, "stdin:4: key has both"), "%s", tc_err);
    cr_assert_eq(tc_run("get", dir, "k", "18446744073709551614", "--json", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "{\"key\":\"k\",\"ts\":\"18446744073709551614\",\"value\":\"max\"}\n");
    cr_assert_eq(tc_run("scan", dir, "--from", "1", "--to", "2", "--json", NULL), 0, "%s", tc_err);
    cr_expect_str_eq(tc_out, "{\"key_b64\":\"AP8=\",\"ts\":\"1\",\"lsn\":\"2\",\"value\":\"\"}\n");
}
