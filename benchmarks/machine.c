#include "machine.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

void bench_machine(const char *dir, char *out, size_t cap)
{
    struct utsname u;
    uname(&u);
    char cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) {
                    snprintf(cpu, sizeof cpu, "%s", p + 2);
                    cpu[strcspn(cpu, "\n")] = 0;
                }
                break;
            }
        fclose(f);
    }
    struct statfs sf;
    const char *fs = "unknown";
    if (statfs(dir, &sf) == 0)
        fs = sf.f_type == 0xEF53 ? "ext4" : sf.f_type == 0x58465342 ? "xfs"
           : sf.f_type == 0x01021994 ? "tmpfs" : sf.f_type == 0x9123683E ? "btrfs" : "other";
    /* the mount holding dir: the longest mount point that prefixes its real path */
    char real[PATH_MAX] = "", opts[256] = "unknown", best[PATH_MAX] = "";
    if (!realpath(dir, real))
        snprintf(real, sizeof real, "%s", dir);
    FILE *m = fopen("/proc/self/mounts", "r");
    if (m) {
        char dev[256], mp[PATH_MAX], type[64], o[256];
        while (fscanf(m, "%255s %4095s %63s %255s %*d %*d", dev, mp, type, o) == 4) {
            size_t n = strlen(mp);
            if (strncmp(real, mp, n) == 0 && (real[n] == '/' || real[n] == 0 || n == 1) &&
                n >= strlen(best)) {
                snprintf(best, sizeof best, "%s", mp);
                snprintf(opts, sizeof opts, "%s", o);
            }
        }
        fclose(m);
    }
    snprintf(out, cap, "%s %s, %s, %ld cpus, %.1f GiB, filesystem %s (%s) mounted %s", u.sysname,
             u.release, cpu, sysconf(_SC_NPROCESSORS_ONLN),
             (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30), fs, dir, opts);
}
