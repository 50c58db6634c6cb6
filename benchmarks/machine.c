#include "machine.h"

#include <stdio.h>
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
    snprintf(out, cap, "%s %s, %s, %ld cpus, filesystem %s (%s)", u.sysname, u.release, cpu,
             sysconf(_SC_NPROCESSORS_ONLN), fs, dir);
}
