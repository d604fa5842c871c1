/* Read-only overlay mounts of stored images and their holder processes (imgtrust/mount.h). */
#include "imgtrust/mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/proc.h"
#include "imgtrust/xalloc.h"

#define RECORD_MAX 8192
/* How long umount waits for the holder after SIGTERM, then after SIGKILL. */
#define TERM_WAIT_MS 10000
#define KILL_WAIT_MS 5000

static int st_openat(int dirfd, const char *path, int flags, mode_t mode)
{
        return it_openat_beneath(dirfd, path, flags, mode);
}

void mount_info_clear(struct it_mount_info *info)
{
        free(info->path);
        info->path = NULL;
}

/* The kernel's own explanation of a failed fsconfig (the fs context's message log), appended to
 * err as details. */
static void fs_log(int fsfd, it_error *err)
{
        char buf[512];
        for (int i = 0; i < 8; i++) {
                ssize_t n = read(fsfd, buf, sizeof buf - 1);
                if (n <= 0)
                        break;
                buf[n] = '\0';
                if (n > 2 && buf[1] == ' ')
                        it_error_detail(err, "kernel: %s", buf + 2);
        }
}

/* The store root's absolute path, from its fd. Allocated; NULL when unknown. */
static char *root_abs(struct it_store *st)
{
        char self[64], buf[PATH_MAX];
        snprintf(self, sizeof self, "/proc/self/fd/%d", store_root_fd(st));
        ssize_t n = readlink(self, buf, sizeof buf - 1);
        if (n <= 0 || buf[0] != '/')
                return NULL;
        buf[n] = '\0';
        return xstrdup(buf);
}

/* The store root opened again in the current mount namespace: an fd opened before
 * unshare(CLONE_NEWNS) still points into the old namespace's mounts, where overlay cannot take
 * lower layers from (clone_private_mount) nor move_mount() attach. Checked to be the same
 * directory as the store's own fd. */
static int reopen_root(struct it_store *st, int *fd, it_error *err)
{
        _cleanup_free_ char *abs = root_abs(st);
        if (!abs)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot find its path",
                                    store_root_path(st));
        *fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat a, b;
        if (*fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", abs);
        if (fstat(*fd, &a) != 0 || fstat(store_root_fd(st), &b) != 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino) {
                close(*fd);
                *fd = -1;
                return it_error_set(err, IT_EIO, "%s: the store root moved", abs);
        }
        return 0;
}

/* The layer's diff/ (rel, relative to the working directory layers/) as an idmapped detached
 * mount through userns_fd, for a "lowerdir+" given by fd. */
static int idmapped_lower(const char *rel, int userns_fd, int *out, it_error *err)
{
        *out = -1;
        _cleanup_close_ int t = open_tree(AT_FDCWD, rel, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (t < 0)
                return it_error_sys(err, IT_EIO, errno, "overlayfs: lower layer %s", rel);
        struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
        if (mount_setattr(t, "", AT_EMPTY_PATH, &a, sizeof a) != 0)
                return it_error_sys(err, IT_EIO, errno,
                                    "lower layer %s: idmapped mount (Linux 5.12 or later)", rel);
        *out = IT_STEAL_FD(t);
        return 0;
}

static int overlay_config(int fsfd, const struct it_store_image *img,
                          const struct it_overlay_spec *spec, it_error *err)
{
        if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) != 0) {
                int rc = it_error_sys(err, IT_EIO, errno,
                                      "overlayfs: option userxattr (Linux 5.11 or later)");
                fs_log(fsfd, err);
                return rc;
        }
        if (!spec->upper && fsconfig(fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) != 0)
                return it_error_sys(err, IT_EIO, errno, "overlayfs: option ro");
        /* Top layer first, as overlay stacks lower directories. */
        for (size_t i = img->layers.n; i-- > 0;) {
                const char *chain = img->layers.v[i];
                if (strncmp(chain, "sha256:", 7) != 0 || strlen(chain) != 71)
                        return it_error_set(err, IT_EINPUT, "image %s: bad layer ID %s", img->id,
                                            chain);
                char rel[96];
                snprintf(rel, sizeof rel, "%s/diff", chain + 7);
                if (spec->idmap_userns_fd >= 0) {
                        /* overlay clones its lower layers and takes them only from mounts of
                         * the caller's namespace: attach the idmapped one in the stage. */
                        _cleanup_close_ int lfd = -1;
                        int rc = idmapped_lower(rel, spec->idmap_userns_fd, &lfd, err);
                        if (rc < 0)
                                return rc;
                        snprintf(rel, sizeof rel, "../%s/l%zu", spec->stage, i);
                        if ((mkdir(rel, 0700) != 0 && errno != EEXIST) ||
                            move_mount(lfd, "", AT_FDCWD, rel, MOVE_MOUNT_F_EMPTY_PATH) != 0)
                                return it_error_sys(err, IT_EIO, errno,
                                                    "idmapped layer %s: cannot stage it at %s",
                                                    chain, rel + 3);
                }
                if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", rel, 0) != 0) {
                        int e = errno;
                        int rc;
                        if (e == EINVAL && i + 1 == img->layers.n)
                                rc = it_error_sys(err, IT_EIO, e,
                                                  "overlayfs: option lowerdir+ refused (Linux "
                                                  "6.8 or later is needed)");
                        else
                                rc = it_error_sys(err, IT_EIO, e, "overlayfs: lower layer %s", rel);
                        fs_log(fsfd, err);
                        return rc;
                }
        }
        if (spec->upper) {
                /* The working directory is layers/; upper and work are given from the root. */
                _cleanup_free_ char *up = xasprintf("../%s", spec->upper);
                _cleanup_free_ char *wk = xasprintf("../%s", spec->work);
                if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", up, 0) != 0 ||
                    fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", wk, 0) != 0) {
                        int rc = it_error_sys(err, IT_EIO, errno, "overlayfs: upper directory %s",
                                              spec->upper);
                        fs_log(fsfd, err);
                        return rc;
                }
        }
        int rc = 0;
        if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
                rc = it_error_sys(err, IT_EIO, errno, "overlayfs: cannot create the mount");
                fs_log(fsfd, err);
        }
        /* The overlay holds its own clones of the staged layers. */
        for (size_t i = 0; spec->idmap_userns_fd >= 0 && i < img->layers.n; i++) {
                char rel[96];
                snprintf(rel, sizeof rel, "../%s/l%zu", spec->stage, i);
                (void)umount2(rel, MNT_DETACH);
                (void)rmdir(rel);
        }
        return rc;
}

int mount_overlay(struct it_store *st, const struct it_store_image *img, int *root_fd,
                  it_error *err)
{
        const struct it_overlay_spec ro = {.idmap_userns_fd = -1, .stage = NULL};
        return mount_overlay_spec(st, img, &ro, root_fd, err);
}

int mount_overlay_spec(struct it_store *st, const struct it_store_image *img,
                       const struct it_overlay_spec *spec, int *root_fd, it_error *err)
{
        *root_fd = -1;
        if (img->layers.n == 0)
                return it_error_set(err, IT_EINPUT, "image %s has no layers", img->id);
        for (size_t i = 0; i < img->layers.n; i++)
                if (!store_layer_exists(st, img->layers.v[i]))
                        return it_error_set(err, IT_EINPUT,
                                            "image %s: layer %s is missing (imgstore fsck)",
                                            img->id, img->layers.v[i]);
        _cleanup_close_ int rfd = -1;
        int rc = reopen_root(st, &rfd, err);
        if (rc < 0)
                return rc;
        _cleanup_close_ int lfd = st_openat(rfd, "layers", O_RDONLY | O_DIRECTORY, 0);
        if (lfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/layers", store_root_path(st));
        /* lowerdir+ paths are resolved against the working directory: relative to layers/,
         * through the directory fd we opened, not a path string. */
        if (fchdir(lfd) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/layers", store_root_path(st));
        _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                rc = it_error_sys(err, IT_EIO, errno, "overlayfs not available");
        if (rc == 0)
                rc = overlay_config(fsfd, img, spec, err);
        if (rc == 0) {
                int m = fsmount(fsfd, FSMOUNT_CLOEXEC,
                                (spec->upper ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NODEV |
                                    (spec->upper ? 0 : MOUNT_ATTR_NOSUID));
                if (m < 0)
                        rc = it_error_sys(err, IT_EIO, errno, "overlayfs: fsmount");
                else
                        *root_fd = m;
        }
        if (chdir("/") != 0 && rc == 0) {
                rc = it_error_sys(err, IT_EIO, errno, "chdir /");
                close(*root_fd);
                *root_fd = -1;
        }
        if (rc < 0)
                return it_error_wrap(err, "mounting image %s", img->id);
        return 0;
}

/* ---- records ---- */

static int open_mounts(struct it_store *st, int *fd, it_error *err)
{
        if (mkdirat(store_root_fd(st), "mounts", 0700) != 0 && errno != EEXIST)
                return it_error_sys(err, IT_EIO, errno, "%s/mounts: cannot create",
                                    store_root_path(st));
        *fd = st_openat(store_root_fd(st), "mounts", O_RDONLY | O_DIRECTORY, 0);
        if (*fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/mounts", store_root_path(st));
        return 0;
}

static bool holder_alive(pid_t pid, unsigned long long start)
{
        unsigned long long now;
        return pid > 0 && it_proc_start_time(pid, &now) && now == start;
}

/* The host path of the merged view of image id held by pid. Allocated. */
static char *host_path(struct it_store *st, pid_t pid, const char *id)
{
        _cleanup_free_ char *abs = root_abs(st);
        const char *r = abs ? abs : store_root_path(st);
        return xasprintf("/proc/%d/root%s/mounts/%s/merged", (int)pid, strcmp(r, "/") ? r : "", id);
}

static void remove_record(int mfd, const char *id)
{
        char name[192];
        snprintf(name, sizeof name, "%s.json", id);
        (void)unlinkat(mfd, name, 0);
        snprintf(name, sizeof name, "%s/merged", id);
        (void)unlinkat(mfd, name, AT_REMOVEDIR);
        (void)unlinkat(mfd, id, AT_REMOVEDIR);
}

/* Read mounts/<id>.json: 1 and the fields when it exists and parses, 0 when it does not exist or
 * is damaged (then it is stale by definition). */
static int read_record(int mfd, const char *id, pid_t *pid, unsigned long long *start)
{
        char name[192];
        snprintf(name, sizeof name, "%s.json", id);
        _cleanup_close_ int fd = st_openat(mfd, name, O_RDONLY, 0);
        if (fd < 0)
                return 0;
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (it_fd_read(fd, name, RECORD_MAX, &data, &len, &e) < 0)
                return 0;
        _cleanup_json_ json_t *j = NULL;
        if (it_json_parse(data, len, RECORD_MAX, name, &j, &e) < 0 || !json_is_object(j))
                return 0;
        json_t *p = json_object_get(j, "pid");
        const char *s = json_string_value(json_object_get(j, "start-time"));
        const char *rid = json_string_value(json_object_get(j, "id"));
        if (!json_is_integer(p) || json_integer_value(p) <= 0 || json_integer_value(p) > INT_MAX ||
            !s || !rid || strcmp(rid, id) != 0)
                return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end)
                return 0;
        *pid = (pid_t)json_integer_value(p);
        *start = v;
        return 1;
}

static int write_record(struct it_store *st, int mfd, const char *id, pid_t pid,
                        unsigned long long start, const char *path, it_error *err)
{
        _cleanup_json_ json_t *j = json_object();
        json_object_set_new(j, "id", json_string(id));
        json_object_set_new(j, "pid", json_integer(pid));
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%llu", start);
        json_object_set_new(j, "start-time", json_string(sbuf));
        json_object_set_new(j, "path", json_string(path));
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        it_json_write_go(&b, j, 0);
        it_buf_addf(&b, "\n");
        char tmp[192], name[192];
        snprintf(tmp, sizeof tmp, ".%s.json.%d", id, (int)getpid());
        snprintf(name, sizeof name, "%s.json", id);
        (void)unlinkat(mfd, tmp, 0);
        _cleanup_close_ int fd = st_openat(mfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/mounts/%s", store_root_path(st), tmp);
        if (it_write_all(fd, it_buf_str(&b), strlen(it_buf_str(&b))) != 0 || fsync(fd) != 0 ||
            renameat(mfd, tmp, mfd, name) != 0) {
                int e = errno;
                (void)unlinkat(mfd, tmp, 0);
                return it_error_sys(err, IT_EIO, e, "%s/mounts/%s", store_root_path(st), name);
        }
        (void)fsync(mfd);
        return 0;
}

int mount_status(struct it_store *st, const char *id, bool *mounted, struct it_mount_info *info,
                 it_error *err)
{
        *mounted = false;
        _cleanup_close_ int mfd = -1;
        int rc = open_mounts(st, &mfd, err);
        if (rc < 0)
                return rc;
        pid_t pid = 0;
        unsigned long long start = 0;
        if (read_record(mfd, id, &pid, &start) && holder_alive(pid, start)) {
                *mounted = true;
                if (info) {
                        info->pid = pid;
                        info->start_time = start;
                        info->path = host_path(st, pid, id);
                }
                return 0;
        }
        char name[192];
        snprintf(name, sizeof name, "%s.json", id);
        if (faccessat(mfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
            faccessat(mfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                remove_record(mfd, id);
        return 0;
}

static bool is_hex64(const char *s, size_t n)
{
        if (n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

int mount_clean_stale(struct it_store *st, it_error *err)
{
        _cleanup_close_ int mfd = -1;
        int rc = open_mounts(st, &mfd, err);
        if (rc < 0)
                return rc;
        int dfd = st_openat(mfd, ".", O_RDONLY | O_DIRECTORY, 0);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/mounts", store_root_path(st));
                if (dfd >= 0)
                        close(dfd);
                return rc;
        }
        _cleanup_strv_ struct it_strv ids = IT_STRV_INIT;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l == 69 && !strcmp(de->d_name + 64, ".json") && is_hex64(de->d_name, 64))
                        it_strv_take(&ids, xstrndup(de->d_name, 64));
                else if (is_hex64(de->d_name, l) && !it_strv_contains(&ids, de->d_name))
                        it_strv_push(&ids, de->d_name);
        }
        closedir(d);
        for (size_t i = 0; i < ids.n; i++) {
                bool m;
                if ((rc = mount_status(st, ids.v[i], &m, NULL, err)) < 0)
                        return rc;
        }
        return 0;
}

/* ---- the holder ---- */

struct holder_ctx {
        struct it_store *st;
        const struct it_store_image *img;
        int go_r, go_w; /* the caller keeps go_w; EOF on go_r means it died */
        pid_t *holder;  /* shared memory: the holder's pid */
};

static _Noreturn void holder_main(int go_r)
{
        /* Our stdio may be the caller's pipes: whoever reads them must not wait for us. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
        }
        /* Nothing of the caller's stays open here: not the store lock, not its pipes. */
        if (go_r > 3)
                close_range(3, (unsigned)go_r - 1, 0);
        close_range((unsigned)go_r + 1, ~0U, 0);
        (void)setsid();
        char b = 0;
        ssize_t n;
        do
                n = read(go_r, &b, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1 || b != 'd')
                _exit(0);
        close(go_r);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        for (;;)
                pause();
}

/* Runs as root of the new user + mount namespace: mount, fork the holder, hand its pid back. */
static int holder_setup(void *arg, it_error *err)
{
        struct holder_ctx *c = arg;
        close(c->go_w);
        _cleanup_close_ int root = -1;
        int rc = mount_overlay(c->st, c->img, &root, err);
        if (rc < 0)
                return rc;
        char rel[192];
        snprintf(rel, sizeof rel, "mounts/%s/merged", c->img->id);
        _cleanup_close_ int rfd = -1;
        if ((rc = reopen_root(c->st, &rfd, err)) < 0)
                return rc;
        _cleanup_close_ int target = st_openat(rfd, rel, O_RDONLY | O_DIRECTORY, 0);
        if (target < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s", store_root_path(c->st), rel);
        if (move_mount(root, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
            0)
                return it_error_sys(err, IT_EIO, errno, "cannot mount image %s on %s/%s",
                                    c->img->id, store_root_path(c->st), rel);
        pid_t h = fork();
        if (h < 0)
                return it_error_sys(err, IT_EIO, errno, "mount holder: fork");
        if (h == 0)
                holder_main(c->go_r);
        *c->holder = h;
        return 0;
}

int mount_image(struct it_store *st, const struct it_idmap *map, const struct it_store_image *img,
                char **path, bool *already, it_error *err)
{
        *path = NULL;
        *already = false;
        struct it_mount_info info = {0};
        bool mounted;
        int rc = mount_status(st, img->id, &mounted, &info, err);
        if (rc < 0)
                return rc;
        if (mounted) {
                *already = true;
                *path = info.path;
                return 0;
        }
        _cleanup_close_ int mfd = -1;
        if ((rc = open_mounts(st, &mfd, err)) < 0)
                return rc;
        char merged[192];
        snprintf(merged, sizeof merged, "%s/merged", img->id);
        if ((mkdirat(mfd, img->id, 0700) != 0 && errno != EEXIST) ||
            (mkdirat(mfd, merged, 0700) != 0 && errno != EEXIST))
                return it_error_sys(err, IT_EIO, errno, "%s/mounts/%s: cannot create",
                                    store_root_path(st), merged);
        int go[2];
        if (pipe2(go, O_CLOEXEC) != 0)
                return it_error_sys(err, IT_EIO, errno, "mount holder: pipe");
        pid_t *holder = userns_shared_alloc(sizeof *holder);
        struct holder_ctx c = {st, img, go[0], go[1], holder};
        fflush(NULL);
        rc = userns_run(map, USERNS_NEWNS, holder_setup, &c, err);
        close(go[0]);
        pid_t h = *holder;
        userns_shared_free(holder, sizeof *holder);
        unsigned long long start = 0;
        if (rc == 0 && (h <= 0 || !it_proc_start_time(h, &start)))
                rc = it_error_set(err, IT_EIO, "mount holder %d of image %s died during setup",
                                  (int)h, img->id);
        _cleanup_free_ char *p = NULL;
        if (rc == 0) {
                p = host_path(st, h, img->id);
                rc = write_record(st, mfd, img->id, h, start, p, err);
        }
        if (rc == 0 && it_write_all(go[1], "d", 1) != 0)
                rc = it_error_sys(err, IT_EIO, errno, "mount holder %d", (int)h);
        /* On failure the holder reads EOF and exits, taking the mount with it. */
        close(go[1]);
        if (rc < 0) {
                remove_record(mfd, img->id);
                return rc;
        }
        *path = IT_STEAL(p);
        return 0;
}

int mount_release(struct it_store *st, const char *id, it_error *err)
{
        struct it_mount_info info = {0};
        bool mounted;
        int rc = mount_status(st, id, &mounted, &info, err);
        if (rc < 0)
                return rc;
        if (!mounted)
                return it_error_set(err, IT_EINPUT, "image %s is not mounted", id);
        mount_info_clear(&info);
        if (kill(info.pid, SIGTERM) != 0 && errno != ESRCH)
                return it_error_sys(err, IT_EIO, errno, "cannot end mount holder %d",
                                    (int)info.pid);
        int waited = 0;
        bool killed = false;
        while (holder_alive(info.pid, info.start_time)) {
                if (!killed && waited >= TERM_WAIT_MS) {
                        /* Still the same process (start time checked above). */
                        kill(info.pid, SIGKILL);
                        killed = true;
                        waited = 0;
                } else if (killed && waited >= KILL_WAIT_MS) {
                        return it_error_set(err, IT_EIO, "mount holder %d of image %s does not end",
                                            (int)info.pid, id);
                }
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                waited += 10;
        }
        _cleanup_close_ int mfd = -1;
        if ((rc = open_mounts(st, &mfd, err)) < 0)
                return rc;
        remove_record(mfd, id);
        return 0;
}
