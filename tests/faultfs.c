/*
 * faultfs: a pass-through FUSE filesystem (libfuse3) that fails chosen calls, so the
 * tests can show that the io_uring path sees real kernel errors (io_uring bypasses
 * LD_PRELOAD and strace injection; the simulated disk never reaches the kernel).
 *
 *   faultfs BACKING MOUNTPOINT READY_FD
 * mounts BACKING at MOUNTPOINT in the foreground, writes one byte to READY_FD once the
 * kernel has initialised the connection, and serves until unmounted (fusermount3 -u).
 *
 * Control: the file ".fault" at the root. Writing "OP N ERRNO" (OP fsync or write, N >=
 * 1, ERRNO a number) makes the N-th such call from now on fail with -ERRNO, once;
 * writing "off" disarms. Reading it gives "fired K". Data calls go to BACKING with
 * pread/pwrite/fsync on descriptors kept in the file handle.
 */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTROL "/.fault"

static const char *backing;
static int ready_fd = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char armed_op[16];
static long armed_left, armed_err, fired;

static void real(char *out, const char *path) { snprintf(out, PATH_MAX, "%s%s", backing, path); }

/* -errno if this call is the armed one. */
static int injected(const char *op)
{
    int r = 0;
    pthread_mutex_lock(&mu);
    if (armed_left > 0 && !strcmp(op, armed_op) && --armed_left == 0) {
        r = -(int)armed_err;
        fired++;
    }
    pthread_mutex_unlock(&mu);
    return r;
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->entry_timeout = cfg->attr_timeout = cfg->negative_timeout = 0;
    if (ready_fd >= 0) {
        char one = 1;
        if (write(ready_fd, &one, 1) != 1)
            abort();
        close(ready_fd);
        ready_fd = -1;
    }
    return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    if (!strcmp(path, CONTROL)) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFREG | 0666;
        st->st_size = 64;
        return 0;
    }
    char p[PATH_MAX];
    real(p, path);
    return lstat(p, st) < 0 ? -errno : 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)off;
    (void)fi;
    (void)flags;
    char p[PATH_MAX];
    real(p, path);
    DIR *d = opendir(p);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)))
        if (fill(buf, e->d_name, NULL, 0, 0))
            break;
    closedir(d);
    return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
    if (!strcmp(path, CONTROL)) {
        fi->fh = (uint64_t)-1;
        fi->direct_io = 1;
        return 0;
    }
    /* No O_DIRECT: FUSE hands an RWF_DSYNC direct write to the server as a plain write
     * (no fsync call to fail), so the engine is made to take its buffered path, where
     * every acknowledgment waits for an fdatasync that reaches ff_fsync. */
    if (fi->flags & O_DIRECT)
        return -EINVAL;
    char p[PATH_MAX];
    real(p, path);
    int fd = open(p, fi->flags);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    char p[PATH_MAX];
    real(p, path);
    if (fi->flags & O_DIRECT)
        return -EINVAL;
    int fd = open(p, fi->flags | O_CREAT, mode);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int ff_read(const char *path, char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
    if (!strcmp(path, CONTROL)) {
        char s[64];
        pthread_mutex_lock(&mu);
        int len = snprintf(s, sizeof s, "fired %ld\n", fired);
        pthread_mutex_unlock(&mu);
        if (off >= len)
            return 0;
        size_t k = (size_t)(len - off) < n ? (size_t)(len - off) : n;
        memcpy(buf, s + off, k);
        return (int)k;
    }
    ssize_t r = pread((int)fi->fh, buf, n, off);
    return r < 0 ? -errno : (int)r;
}

static int ff_write(const char *path, const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi)
{
    if (!strcmp(path, CONTROL)) {
        char s[64] = "";
        memcpy(s, buf, n < sizeof s - 1 ? n : sizeof s - 1);
        pthread_mutex_lock(&mu);
        char op[16];
        long nth, err;
        if (!strncmp(s, "off", 3)) {
            armed_left = 0;
        } else if (sscanf(s, "%15s %ld %ld", op, &nth, &err) == 3 && nth > 0 && err > 0) {
            snprintf(armed_op, sizeof armed_op, "%s", op);
            armed_left = nth;
            armed_err = err;
        } else {
            pthread_mutex_unlock(&mu);
            return -EINVAL;
        }
        pthread_mutex_unlock(&mu);
        return (int)n;
    }
    int e = injected("write");
    if (e)
        return e;
    ssize_t r = pwrite((int)fi->fh, buf, n, off);
    return r < 0 ? -errno : (int)r;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    int e = injected("fsync");
    if (e)
        return e;
    return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0 ? -errno : 0;
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    if (fi->fh != (uint64_t)-1)
        close((int)fi->fh);
    return 0;
}

static int ff_mkdir(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    real(p, path);
    return mkdir(p, mode) < 0 ? -errno : 0;
}

static int ff_unlink(const char *path)
{
    char p[PATH_MAX];
    real(p, path);
    return unlink(p) < 0 ? -errno : 0;
}

static int ff_rmdir(const char *path)
{
    char p[PATH_MAX];
    real(p, path);
    return rmdir(p) < 0 ? -errno : 0;
}

static int ff_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags)
        return -EINVAL;
    char a[PATH_MAX], b[PATH_MAX];
    real(a, from);
    real(b, to);
    return rename(a, b) < 0 ? -errno : 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    if (fi && fi->fh != (uint64_t)-1)
        return ftruncate((int)fi->fh, size) < 0 ? -errno : 0;
    char p[PATH_MAX];
    real(p, path);
    return truncate(p, size) < 0 ? -errno : 0;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi)
{
    (void)path;
    if (mode)
        return -EOPNOTSUPP;
    return -posix_fallocate((int)fi->fh, off, len);
}

static int ff_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    (void)fi;
    char p[PATH_MAX];
    real(p, path);
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int ff_statfs(const char *path, struct statvfs *st)
{
    char p[PATH_MAX];
    real(p, path);
    return statvfs(p, st) < 0 ? -errno : 0;
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    real(p, path);
    return chmod(p, mode) < 0 ? -errno : 0;
}

static int ff_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    real(p, path);
    return utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static const struct fuse_operations ops = {
    .init = ff_init, .getattr = ff_getattr, .readdir = ff_readdir, .open = ff_open,
    .create = ff_create, .read = ff_read, .write = ff_write, .fsync = ff_fsync,
    .release = ff_release, .mkdir = ff_mkdir, .unlink = ff_unlink, .rmdir = ff_rmdir,
    .rename = ff_rename, .truncate = ff_truncate, .fallocate = ff_fallocate,
    .fsyncdir = ff_fsyncdir, .statfs = ff_statfs, .chmod = ff_chmod, .utimens = ff_utimens,
};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: faultfs BACKING MOUNTPOINT READY_FD\n");
        return 2;
    }
    backing = argv[1];
    ready_fd = atoi(argv[3]);
    char *fargv[] = {argv[0], "-f", "-s", "-o", "auto_unmount", argv[2], NULL};
    return fuse_main(6, fargv, &ops, NULL);
}
