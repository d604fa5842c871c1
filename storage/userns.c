/* Subordinate ID ranges and the user-namespace helper (imgtrust/userns.h). */
#include "imgtrust/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

extern char **environ;

#define SUBID_LINE_MAX 4096

/* Decimal only, as shadow writes it; no sign, no spaces, at most 10 digits, fits 32 bits. */
static bool parse_u32(const char *s, size_t n, uint32_t *out)
{
        if (n == 0 || n > 10)
                return false;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v > UINT32_MAX)
                return false;
        *out = (uint32_t)v;
        return true;
}

static bool owner_matches(const char *owner, size_t n, const char *user, uid_t uid)
{
        if (user && strlen(user) == n && memcmp(owner, user, n) == 0)
                return true;
        uint32_t v;
        return parse_u32(owner, n, &v) && v == (uint32_t)uid;
}

int userns_subid_parse(const char *path, const char *user, uid_t uid, struct it_subid_range *ranges,
                       size_t max, size_t *n, it_error *err)
{
        *n = 0;
        _cleanup_free_ char *data = NULL;
        size_t len;
        int rc = it_file_read(path, IT_SUBID_FILE_MAX, &data, &len, err);
        if (rc < 0) {
                if (err->sys_errno == ENOENT) {
                        it_error_clear(err);
                        return 0;
                }
                return rc;
        }
        size_t lineno = 0;
        const char *p = data, *end = data + len;
        while (p < end) {
                lineno++;
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                size_t ll = (size_t)(le - p);
                const char *line = p;
                p = nl ? nl + 1 : end;
                if (ll > SUBID_LINE_MAX)
                        return it_error_set(err, IT_EINPUT, "%s:%zu: line too long", path, lineno);
                if (ll == 0 || line[0] == '#')
                        continue;
                const char *c1 = memchr(line, ':', ll);
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
                const char *c3 = c2 ? memchr(c2 + 1, ':', (size_t)(le - c2 - 1)) : NULL;
                uint32_t start, count;
                bool ok = c1 && c2 && !c3 && c1 > line;
                for (const char *q = line; ok && q < c1; q++)
                        ok = (unsigned char)*q > 0x20 && (unsigned char)*q < 0x7f;
                ok = ok && parse_u32(c1 + 1, (size_t)(c2 - c1 - 1), &start) &&
                     parse_u32(c2 + 1, (size_t)(le - c2 - 1), &count);
                if (!ok) {
                        _cleanup_free_ char *q = it_quoten(line, ll, 80);
                        return it_error_set(err, IT_EINPUT,
                                            "%s:%zu: expected NAME:START:COUNT, got %s", path,
                                            lineno, q);
                }
                if (count == 0 || (uint64_t)start + count > (uint64_t)UINT32_MAX + 1)
                        return it_error_set(err, IT_EINPUT,
                                            "%s:%zu: range %u+%u is empty or past the 32-bit ID "
                                            "space",
                                            path, lineno, start, count);
                if (!owner_matches(line, (size_t)(c1 - line), user, uid))
                        continue;
                if (*n == max)
                        return it_error_set(err, IT_EINPUT,
                                            "%s:%zu: more than %zu ranges for one user", path,
                                            lineno, max);
                ranges[*n].start = start;
                ranges[*n].count = count;
                (*n)++;
        }
        return 0;
}

static size_t build_side(struct it_idmap_entry *e, uint32_t own, const struct it_subid_range *r,
                         size_t nr)
{
        size_t n = 0;
        e[n++] = (struct it_idmap_entry){0, own, 1};
        uint64_t next = 1;
        for (size_t i = 0; i < nr && n < IT_IDMAP_MAX; i++) {
                uint64_t size = r[i].count;
                if (next > UINT32_MAX)
                        break;
                if (next + size > (uint64_t)UINT32_MAX + 1)
                        size = (uint64_t)UINT32_MAX + 1 - next;
                e[n++] = (struct it_idmap_entry){(uint32_t)next, r[i].start, (uint32_t)size};
                next += size;
        }
        return n;
}

void userns_idmap_build(uid_t uid, gid_t gid, const char *user,
                        const struct it_subid_range *uranges, size_t nu,
                        const struct it_subid_range *granges, size_t ng, struct it_idmap *map)
{
        memset(map, 0, sizeof *map);
        map->host_uid = uid;
        map->host_gid = gid;
        if (user)
                snprintf(map->user, sizeof map->user, "%s", user);
        nu = nu > IT_SUBID_RANGES_MAX ? IT_SUBID_RANGES_MAX : nu;
        ng = ng > IT_SUBID_RANGES_MAX ? IT_SUBID_RANGES_MAX : ng;
        if (nu)
                memcpy(map->subuid, uranges, nu * sizeof *uranges);
        if (ng)
                memcpy(map->subgid, granges, ng * sizeof *granges);
        map->nsubuid = nu;
        map->nsubgid = ng;
        /* Podman needs both; half a map would give files IDs the other side cannot represent. */
        map->single_id = nu == 0 || ng == 0;
        map->nuid = build_side(map->uid, (uint32_t)uid, uranges, map->single_id ? 0 : nu);
        map->ngid = build_side(map->gid, (uint32_t)gid, granges, map->single_id ? 0 : ng);
}

int userns_idmap_for_user(const char *subuid_path, const char *subgid_path, uid_t uid,
                          struct it_idmap *map, it_error *err)
{
        char pwbuf[4096];
        struct passwd pw, *res = NULL;
        getpwuid_r(uid, &pw, pwbuf, sizeof pwbuf, &res);
        const char *name = res ? res->pw_name : NULL;
        gid_t gid = res ? res->pw_gid : getgid();
        if (uid == 0) {
                memset(map, 0, sizeof *map);
                map->uid[0] = map->gid[0] = (struct it_idmap_entry){0, 0, UINT32_MAX};
                map->nuid = map->ngid = 1;
                snprintf(map->user, sizeof map->user, "%s", name ? name : "root");
                return 0;
        }
        struct it_subid_range ur[IT_SUBID_RANGES_MAX], gr[IT_SUBID_RANGES_MAX];
        size_t nu, ng;
        const char *up = subuid_path ? subuid_path : "/etc/subuid";
        const char *gp = subgid_path ? subgid_path : "/etc/subgid";
        int rc = userns_subid_parse(up, name, uid, ur, IT_SUBID_RANGES_MAX, &nu, err);
        if (rc < 0)
                return rc;
        if ((rc = userns_subid_parse(gp, name, uid, gr, IT_SUBID_RANGES_MAX, &ng, err)) < 0)
                return rc;
        userns_idmap_build(uid, gid, name, ur, nu, gr, ng, map);
        return 0;
}

uint64_t userns_idmap_span(const struct it_idmap *map, bool gid)
{
        const struct it_idmap_entry *e = gid ? map->gid : map->uid;
        size_t n = gid ? map->ngid : map->nuid;
        uint64_t next = 0;
        for (bool grew = true; grew;) {
                grew = false;
                for (size_t i = 0; i < n; i++)
                        if (e[i].container_id == next && e[i].size) {
                                next += e[i].size;
                                grew = true;
                        }
        }
        return next;
}

bool userns_idmap_to_host(const struct it_idmap *map, bool gid, uint32_t id, uint32_t *host)
{
        const struct it_idmap_entry *e = gid ? map->gid : map->uid;
        size_t n = gid ? map->ngid : map->nuid;
        for (size_t i = 0; i < n; i++)
                if (id >= e[i].container_id &&
                    (uint64_t)id < (uint64_t)e[i].container_id + e[i].size) {
                        *host = e[i].host_id + (id - e[i].container_id);
                        return true;
                }
        return false;
}

int userns_range_error(it_error *err, const struct it_idmap *map, bool gid, uint32_t id,
                       const char *entry)
{
        const char *kind = gid ? "gid" : "uid";
        const char *file = gid ? "/etc/subgid" : "/etc/subuid";
        uint64_t span = userns_idmap_span(map, gid);
        _cleanup_free_ char *owner =
            map->user[0] ? xstrdup(map->user) : xasprintf("%u", (unsigned)map->host_uid);
        _cleanup_free_ char *where = entry ? it_quote(entry, 200) : NULL;
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        if (where)
                it_buf_addf(&b, "layer entry %s: ", where);
        it_buf_addf(&b, "needs %s %u but the user namespace maps %ss 0-%llu (%llu IDs)", kind, id,
                    kind, (unsigned long long)(span ? span - 1 : 0), (unsigned long long)span);
        const struct it_subid_range *r = gid ? map->subgid : map->subuid;
        size_t nr = gid ? map->nsubgid : map->nsubuid;
        if (nr == 0) {
                uint64_t count = id > 65536 ? id : 65536;
                it_buf_addf(&b,
                            ": no subordinate %ss for %s: add the line \"%s:100000:%llu\" to %s",
                            kind, owner, owner, (unsigned long long)count, file);
        } else {
                /* Container IDs 1.. are the ranges in order: the last one grows by the shortfall.
                 */
                uint64_t total = 0;
                for (size_t i = 0; i < nr; i++)
                        total += r[i].count;
                uint64_t newcount = r[nr - 1].count + (id > total ? id - total : 0);
                it_buf_addf(&b, ": in %s, change \"%s:%u:%u\" to \"%s:%u:%llu\"", file, owner,
                            r[nr - 1].start, r[nr - 1].count, owner, r[nr - 1].start,
                            (unsigned long long)newcount);
        }
        return it_error_set(err, IT_EINPUT, "%s", it_buf_str(&b));
}

/* ---- spawning ---- */

struct child_report {
        int step; /* 0 ok; else which step failed */
        int errnum;
};

enum { STEP_OK, STEP_PRCTL, STEP_UNSHARE, STEP_SETID, STEP_MOUNT };

static const char *step_name(int step)
{
        switch (step) {
        case STEP_PRCTL:
                return "prctl(PR_SET_PDEATHSIG)";
        case STEP_UNSHARE:
                return "unshare(CLONE_NEWUSER)";
        case STEP_SETID:
                return "setresuid/setresgid(0) in the new namespace";
        case STEP_MOUNT:
                return "making mounts private in the new mount namespace";
        default:
                return "setup";
        }
}

static void child_report(int fd, int step, int errnum)
{
        struct child_report r = {step, errnum};
        (void)it_write_all(fd, &r, sizeof r);
}

static int read_full(int fd, void *buf, size_t len)
{
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, (char *)buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                got += (size_t)n;
        }
        return 0;
}

static void map_text(const struct it_idmap_entry *e, size_t n, struct it_buf *b)
{
        for (size_t i = 0; i < n; i++)
                it_buf_addf(b, "%u %u %u\n", e[i].container_id, e[i].host_id, e[i].size);
}

static int write_proc(pid_t pid, const char *file, const char *text, it_error *err)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        /* The kernel takes a map in one write. */
        ssize_t w = write(fd, text, strlen(text));
        if (w < 0 || (size_t)w != strlen(text))
                return it_error_sys(err, IT_EIO, w < 0 ? errno : EIO, "cannot write %s", path);
        return 0;
}

/* newuidmap/newgidmap PID triples...; their stderr goes into the message. */
static int run_helper(const char *prog, pid_t pid, const struct it_idmap_entry *e, size_t n,
                      it_error *err)
{
        _cleanup_strv_ struct it_strv argv = IT_STRV_INIT;
        it_strv_push(&argv, prog);
        it_strv_pushf(&argv, "%d", (int)pid);
        for (size_t i = 0; i < n; i++) {
                it_strv_pushf(&argv, "%u", e[i].container_id);
                it_strv_pushf(&argv, "%u", e[i].host_id);
                it_strv_pushf(&argv, "%u", e[i].size);
        }
        int ep[2];
        if (pipe2(ep, O_CLOEXEC) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: pipe", prog);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, ep[1], 1);
        posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
        pid_t hp;
        int e2 = posix_spawnp(&hp, prog, &fa, NULL, argv.v, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(ep[1]);
        if (e2 != 0) {
                close(ep[0]);
                if (e2 == ENOENT)
                        return it_error_set(err, IT_EIO, "%s not found: install the uidmap package",
                                            prog);
                return it_error_sys(err, IT_EIO, e2, "cannot run %s", prog);
        }
        char out[512];
        size_t olen = 0;
        for (;;) {
                ssize_t r = read(ep[0], out + olen, sizeof out - 1 - olen);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                olen += (size_t)r;
                if (olen == sizeof out - 1) {
                        char sink[256];
                        while (read(ep[0], sink, sizeof sink) > 0)
                                ;
                        break;
                }
        }
        close(ep[0]);
        out[olen] = '\0';
        int st;
        while (waitpid(hp, &st, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
        char *nl = strchr(out, '\n');
        if (nl)
                *nl = '\0';
        _cleanup_buf_ struct it_buf cmd = IT_BUF_INIT;
        for (size_t i = 0; i < argv.n; i++)
                it_buf_addf(&cmd, "%s%s", i ? " " : "", argv.v[i]);
        _cleanup_free_ char *q = it_quote(out, 300);
        return it_error_set(err, IT_EIO, "%s failed (status %d): %s", it_buf_str(&cmd),
                            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), q);
}

static int write_maps(const struct it_idmap *map, pid_t pid, it_error *err)
{
        _cleanup_buf_ struct it_buf u = IT_BUF_INIT;
        _cleanup_buf_ struct it_buf g = IT_BUF_INIT;
        map_text(map->uid, map->nuid, &u);
        map_text(map->gid, map->ngid, &g);
        int rc;
        if (geteuid() == 0) {
                /* CAP_SETUID/CAP_SETGID in the parent namespace: any map, no helper. */
                if ((rc = write_proc(pid, "gid_map", it_buf_str(&g), err)) < 0)
                        return rc;
                return write_proc(pid, "uid_map", it_buf_str(&u), err);
        }
        if (map->single_id) {
                /* An unprivileged gid_map needs setgroups denied first (user_namespaces(7)). */
                if ((rc = write_proc(pid, "setgroups", "deny", err)) < 0 ||
                    (rc = write_proc(pid, "gid_map", it_buf_str(&g), err)) < 0)
                        return rc;
                return write_proc(pid, "uid_map", it_buf_str(&u), err);
        }
        /* gid first, as crun does. */
        if ((rc = run_helper("newgidmap", pid, map->gid, map->ngid, err)) < 0)
                return rc;
        return run_helper("newuidmap", pid, map->uid, map->nuid, err);
}

int userns_write_maps(const struct it_idmap *map, pid_t pid, it_error *err)
{
        return write_maps(map, pid, err);
}

static _Noreturn void child_main(const struct it_idmap *map, unsigned flags, int (*fn)(void *),
                                 void *arg, pid_t parent, int go_fd, int rep_fd)
{
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
                child_report(rep_fd, STEP_PRCTL, errno);
                _exit(127);
        }
        /* The parent may have died before prctl took effect. */
        if (getppid() != parent)
                _exit(127);
        int cf = CLONE_NEWUSER | ((flags & USERNS_NEWNS) ? CLONE_NEWNS : 0);
        if (unshare(cf) != 0) {
                child_report(rep_fd, STEP_UNSHARE, errno);
                _exit(127);
        }
        child_report(rep_fd, STEP_OK, 0);
        char b;
        if (read_full(go_fd, &b, 1) != 0 || b != 'g')
                _exit(127);
        if (getppid() != parent)
                _exit(127);
        if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
                child_report(rep_fd, STEP_SETID, errno);
                _exit(127);
        }
        /* Supplementary groups of the host show as nobody; drop them when allowed. */
        if (!map->single_id)
                (void)setgroups(0, NULL);
        if ((flags & USERNS_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
                child_report(rep_fd, STEP_MOUNT, errno);
                _exit(127);
        }
        child_report(rep_fd, STEP_OK, 0);
        close(rep_fd);
        close(go_fd);
        _exit(fn(arg) & 0xff);
}

static int read_report(int fd, pid_t pid, it_error *err)
{
        struct child_report r;
        if (read_full(fd, &r, sizeof r) != 0)
                return it_error_set(err, IT_EIO, "user namespace helper %d died during setup",
                                    (int)pid);
        if (r.step != STEP_OK)
                return it_error_sys(err, IT_EIO, r.errnum, "user namespace helper: %s",
                                    step_name(r.step));
        return 0;
}

int userns_spawn_flags(const struct it_idmap *map, unsigned flags, int (*fn)(void *), void *arg,
                       pid_t *pid, it_error *err)
{
        *pid = -1;
        int go[2], rep[2];
        if (pipe2(go, O_CLOEXEC) != 0)
                return it_error_sys(err, IT_EIO, errno, "user namespace helper: pipe");
        if (pipe2(rep, O_CLOEXEC) != 0) {
                int e = errno;
                close(go[0]);
                close(go[1]);
                return it_error_sys(err, IT_EIO, e, "user namespace helper: pipe");
        }
        pid_t parent = getpid();
        pid_t c = fork();
        if (c < 0) {
                int e = errno;
                close(go[0]);
                close(go[1]);
                close(rep[0]);
                close(rep[1]);
                return it_error_sys(err, IT_EIO, e, "user namespace helper: fork");
        }
        if (c == 0) {
                close(go[1]);
                close(rep[0]);
                child_main(map, flags, fn, arg, parent, go[0], rep[1]);
        }
        close(go[0]);
        close(rep[1]);
        int rc = read_report(rep[0], c, err);
        if (rc == 0)
                rc = write_maps(map, c, err);
        if (rc == 0 && it_write_all(go[1], "g", 1) != 0)
                rc = it_error_sys(err, IT_EIO, errno, "user namespace helper %d", (int)c);
        close(go[1]);
        if (rc == 0)
                rc = read_report(rep[0], c, err);
        close(rep[0]);
        if (rc < 0) {
                kill(c, SIGKILL);
                while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
                        ;
                return rc;
        }
        *pid = c;
        return 0;
}

int userns_spawn(const struct it_idmap *map, int (*fn)(void *), void *arg, pid_t *pid,
                 it_error *err)
{
        return userns_spawn_flags(map, 0, fn, arg, pid, err);
}

int userns_wait(pid_t pid, int *status, it_error *err)
{
        int st;
        pid_t r;
        do
                r = waitpid(pid, &st, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return it_error_sys(err, IT_EIO, errno, "waiting for process %d", (int)pid);
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return 0;
}

void *userns_shared_alloc(size_t len)
{
        void *p =
            mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                abort();
        return p;
}

void userns_shared_free(void *p, size_t len)
{
        if (p)
                munmap(p, len ? len : 1);
}

/* What the child leaves for the parent: the error flattened into text. */
#define RUN_TEXT_MAX 16384
struct run_shared {
        int done; /* the child got as far as writing this */
        int rc;
        int sys_errno;
        size_t ndetails;
        char text[RUN_TEXT_MAX]; /* main line, then each detail, NUL-separated */
};

struct run_ctx {
        int (*fn)(void *, it_error *);
        void *arg;
        struct run_shared *sh;
};

static int run_child(void *p)
{
        struct run_ctx *c = p;
        it_error e = IT_ERROR_INIT;
        int rc = c->fn(c->arg, &e);
        struct run_shared *sh = c->sh;
        sh->rc = rc;
        if (rc != 0) {
                _cleanup_free_ char *line = it_error_format(&e);
                size_t off = 0;
                const char *parts[1 + 64];
                size_t np = 0;
                parts[np++] = line ? line : "(no message)";
                for (size_t i = 0; i < e.ndetails && np < 65; i++)
                        parts[np++] = e.details[i];
                for (size_t i = 0; i < np; i++) {
                        size_t l = strlen(parts[i]);
                        if (off + l + 1 > sizeof sh->text)
                                break;
                        memcpy(sh->text + off, parts[i], l + 1);
                        off += l + 1;
                        if (i > 0)
                                sh->ndetails++;
                }
                sh->sys_errno = e.sys_errno;
        }
        it_error_clear(&e);
        sh->done = 1;
        return 0;
}

int userns_run(const struct it_idmap *map, unsigned flags, int (*fn)(void *arg, it_error *err),
               void *arg, it_error *err)
{
        struct run_shared *sh = userns_shared_alloc(sizeof *sh);
        struct run_ctx c = {fn, arg, sh};
        pid_t pid;
        int rc = userns_spawn_flags(map, flags, run_child, &c, &pid, err);
        int status = 0;
        if (rc == 0)
                rc = userns_wait(pid, &status, err);
        if (rc == 0 && !sh->done) {
                if (status > 128)
                        rc = it_error_set(err, IT_EIO,
                                          "user namespace helper %d was killed (signal %d, %s)",
                                          (int)pid, status - 128, strsignal(status - 128));
                else
                        rc = it_error_set(err, IT_EIO,
                                          "user namespace helper %d exited with status %d "
                                          "without a result",
                                          (int)pid, status);
        } else if (rc == 0 && sh->rc != 0) {
                rc = sh->rc;
                sh->text[sizeof sh->text - 1] = '\0';
                it_error_set(err, rc, "%s", sh->text);
                err->sys_errno = sh->sys_errno;
                const char *p = sh->text + strlen(sh->text) + 1;
                for (size_t i = 0; i < sh->ndetails && p < sh->text + sizeof sh->text; i++) {
                        it_error_detail(err, "%s", p);
                        p += strlen(p) + 1;
                }
        }
        userns_shared_free(sh, sizeof *sh);
        return rc;
}
