/* Runs the concurrent workloads without Criterion, which cannot start under
 * ThreadSanitizer (Snaipe/Criterion#274). Built and registered only in TSan builds. */
#include <stdio.h>

#include "concurrency.h"

int main(void)
{
    char err[256] = "";
    int failed = 0, passed = 0;
    struct {
        const char *name;
        int rc;
    } runs[3];
    runs[0].name = "ring_producers";
    runs[0].rc = conc_ring_producers(4, 50000, err, sizeof err);
    if (runs[0].rc)
        fprintf(stderr, "ring_producers: %s\n", err);
    runs[1].name = "db_stress";
    runs[1].rc = conc_db_stress(100000, err, sizeof err);
    if (runs[1].rc)
        fprintf(stderr, "db_stress: %s\n", err);
    runs[2].name = "fail_fast";
    runs[2].rc = conc_fail_fast(err, sizeof err);
    if (runs[2].rc)
        fprintf(stderr, "fail_fast: %s\n", err);
    for (int i = 0; i < 3; i++) {
        printf("%s: %s\n", runs[i].name, runs[i].rc ? "FAILED" : "ok");
        runs[i].rc ? failed++ : passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
