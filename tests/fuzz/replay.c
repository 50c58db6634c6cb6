/*
 * Replays a fuzz target's corpus without libFuzzer, so every build (gcc, ASan+UBSan)
 * runs the seed inputs and the regression inputs of crashes once found:
 *   replay_<target> DIR... feeds each regular file in each DIR to LLVMFuzzerTestOneInput.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int files = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: %s: cannot open\n", argv[a]);
            return 2;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            struct stat st;
            if (stat(path, &st) || !S_ISREG(st.st_mode))
                continue;
            FILE *f = fopen(path, "rb");
            uint8_t *buf = malloc((size_t)st.st_size + 1);
            if (!f || !buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
                fprintf(stderr, "replay: %s: cannot read\n", path);
                return 2;
            }
            fclose(f);
            LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
            free(buf);
            files++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", files);
    return files ? 0 : 1;
}
