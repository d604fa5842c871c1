# shellcheck shell=bash
# Helpers of the imgrun suites: the probe program, a small test image (busybox + probe) as an OCI
# layout and as a plain rootfs tar, the same image under rootless podman, and a comparison of
# probe outputs. Load after common.bash, services.bash, users.bash and push.bash (as
# tests/interop/pull.bats does); needs cc (static glibc), python3, gzip, /bin/busybox
# (busybox-static) and, for the podman helpers, podman and test_user_setup having run.
#
#   run_probe_build DIR          compiles tests/probes/probe.c statically into DIR/probe (kept if
#                                already there) and exports RUN_PROBE=DIR/probe
#   run_image_rootfs_tar FILE    the test image's root filesystem as one uncompressed tar at FILE
#                                (reproducible: sorted, mtime 1700000000); builds the probe next
#                                to FILE when RUN_PROBE is not set
#   run_image_layout LAYOUT TAG  an OCI layout at LAYOUT holding that rootfs as one gzip layer,
#                                named TAG in index.json (other tags already there are kept);
#                                prints the manifest digest (sha256:HEX)
#   run_podman_import DIR NAME   imports the rootfs tar as localhost/NAME:latest into the test
#                                user's podman storage (HOME and XDG dirs under DIR, as
#                                as_test_user sets them); does nothing when the image is there
#   run_podman DIR [OPTS] -- CMD...
#                                podman run --rm --network none --cgroups=disabled OPTS
#                                localhost/NAME CMD as the test user (NAME: the last one
#                                run_podman_import DIR imported); podman's own exit status.
#                                On a hybrid cgroup host (v1 with a cgroup2 mount holding
#                                controllers, as these machines) crun 1.8.1 refuses to start
#                                anything, so podman runs in a private mount namespace with
#                                /sys/fs/cgroup/unified unmounted (needs root, else it fails)
#   run_podman_cleanup DIR       ends the pause process rootless podman left running for DIR
#                                (call in teardown_file: it outlives the suite otherwise)
#   run_suite_setup              setup_file of the imgrun suites: the probe, the test image pushed
#                                to a docker-registry started on loopback and pulled with imgpull
#                                as the test user; exports FT, U (the user's HOME), STORE, IMG
#                                (its name), POL_OPEN, IMGPULL, IMGRUN, REGISTRY. Needs
#                                services.bash and users.bash loaded
#   run_diff_outputs A B         compares two probe outputs (texts, or files when a path names
#                                one) key by key; prints one line per key whose value differs,
#                                `KEY: <A value> | <B value>` (`(absent)` for a missing key),
#                                sorted; status 0 when none differ, 1 otherwise
#
# The image (all entries root:root unless said; config: Env PATH=/usr/sbin:/usr/bin:/sbin:/bin,
# Cmd ["/bin/sh"], WorkingDir "/", linux/amd64):
#   /bin/busybox (Debian's busybox-static) and symlinks /bin/NAME -> busybox for RUN_APPLETS
#   /usr/bin/probe 0755, /usr/bin/probe-suid 4755 (root-owned setuid copy of the probe)
#   /etc/passwd: root(0:0, /root) and tuser(1000:1000, /home/tuser)
#   /etc/group: root(0), tgroup(1000), extra(2000, member tuser)
#   /owned1000 1000:1000 0640 ("owned by 1000\n")
#   /tmp and /var/tmp 1777; /home/tuser 1000:1000 0755; /root 0700; /run /mnt /proc /sys /dev
#   /etc /usr/sbin /sbin 0755, all empty except as listed (no /etc/hosts, no device nodes)

RUN_APPLETS="sh ls cat id echo true false sleep touch mkdir stat hostname grep wc env mount
umount kill ps rm ln readlink head tail tr sed uname printf test mknod chmod chown cp mv dd whoami
find sort cut ip ping nproc cmp diff sync"
RUN_IMAGE_MTIME=1700000000
# probe syscalls: the answers podman's default filter changes (default | unconfined), for
# podman's and imgrun's filter alike, on this kernel (6.18) as a rootless container's root
# shellcheck disable=SC2034 # used by the suites that load this file
RUN_UNCONFINED_DIFF="syscall.add_key: ENOSYS | OK
syscall.bpf: EPERM | EINVAL
syscall.clock_settime: EPERM | EINVAL
syscall.delete_module: EPERM | ENOSYS
syscall.finit_module: EPERM | ENOSYS
syscall.init_module: EPERM | ENOSYS
syscall.io_uring_setup: ENOSYS | EFAULT
syscall.ioperm: EPERM | ENOSYS
syscall.iopl: EPERM | ENOSYS
syscall.kcmp: EPERM | OK
syscall.kexec_file_load: EPERM | ENOSYS
syscall.kexec_load: EPERM | ENOSYS
syscall.lookup_dcookie: EPERM | ENOSYS
syscall.migrate_pages: EPERM | EINVAL
syscall.move_pages: EPERM | OK
syscall.open_by_handle_at: EPERM | EFAULT
syscall.perf_event_open: EPERM | OK
syscall.personality_0x40000: ENOSYS | OK
syscall.process_madvise: EPERM | EBADF
syscall.quotactl: EPERM | ENODEV
syscall.request_key: ENOSYS | ENOKEY
syscall.sysfs: EPERM | OK
syscall.vmsplice: EPERM | EBADF"

run_probe_build() {
	local dir=$1
	mkdir -p "$dir"
	if [ ! -x "$dir/probe" ]; then
		cc -static -O2 -o "$dir/probe.tmp" "$IMGTRUST_SRC/tests/probes/probe.c" ||
			fail "cannot compile $IMGTRUST_SRC/tests/probes/probe.c" || return 1
		mv "$dir/probe.tmp" "$dir/probe"
	fi
	RUN_PROBE="$dir/probe"
	export RUN_PROBE
}

run_image_rootfs_tar() {
	local file=$1
	[ -n "${RUN_PROBE:-}" ] || run_probe_build "$(dirname "$file")" || return 1
	[ -x /bin/busybox ] || fail "/bin/busybox missing (apt-get install -y busybox-static)" ||
		return 1
	# shellcheck disable=SC2086 # RUN_APPLETS: one argument per applet
	python3 - "$file" "$RUN_PROBE" /bin/busybox "$RUN_IMAGE_MTIME" $RUN_APPLETS <<'EOF' ||
import io, sys, tarfile

out, probe, busybox, mtime = sys.argv[1:5]
applets = sys.argv[5:]
entries = []

def add(name, kind, mode, uid=0, gid=0, data=b"", link=""):
    entries.append((name, kind, mode, uid, gid, data, link))

for d, m in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("mnt", 0o755),
             ("proc", 0o755), ("root", 0o700), ("run", 0o755), ("sbin", 0o755),
             ("sys", 0o755), ("tmp", 0o1777), ("usr", 0o755), ("usr/bin", 0o755),
             ("usr/sbin", 0o755), ("var", 0o755), ("var/tmp", 0o1777)]:
    add(d, "d", m)
add("home/tuser", "d", 0o755, 1000, 1000)
add("bin/busybox", "f", 0o755, data=open(busybox, "rb").read())
for a in applets:
    add("bin/" + a, "l", 0o777, link="busybox")
p = open(probe, "rb").read()
add("usr/bin/probe", "f", 0o755, data=p)
add("usr/bin/probe-suid", "f", 0o4755, data=p)
add("etc/passwd", "f", 0o644,
    data=b"root:x:0:0:root:/root:/bin/sh\ntuser:x:1000:1000:tuser:/home/tuser:/bin/sh\n")
add("etc/group", "f", 0o644, data=b"root:x:0:\ntgroup:x:1000:\nextra:x:2000:tuser\n")
add("owned1000", "f", 0o640, 1000, 1000, data=b"owned by 1000\n")

with tarfile.open(out + ".tmp", "w", format=tarfile.GNU_FORMAT) as t:
    for name, kind, mode, uid, gid, data, link in sorted(entries):
        i = tarfile.TarInfo(name)
        i.mode, i.uid, i.gid, i.mtime = mode, uid, gid, int(mtime)
        i.uname = i.gname = ""
        if kind == "d":
            i.type = tarfile.DIRTYPE
            t.addfile(i)
        elif kind == "l":
            i.type, i.linkname = tarfile.SYMTYPE, link
            t.addfile(i)
        else:
            i.size = len(data)
            t.addfile(i, io.BytesIO(data))
import os
os.replace(out + ".tmp", out)
EOF
		fail "cannot write the rootfs tar $file"
}

run_image_layout() {
	local layout=$1 tag=$2 work d c cs l ls m ms
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/runimg.XXXXXX")
	run_image_rootfs_tar "$work/rootfs.tar" || return 1
	d=$(sha256sum "$work/rootfs.tar" | cut -d' ' -f1)
	gzip -n -9 -c "$work/rootfs.tar" >"$work/layer.tar.gz" || return 1
	read -r l ls < <(_oci_gz_blob "$layout" "$work/layer.tar.gz")
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$d" >"$work/config.json"
	read -r c cs < <(_oci_gz_blob "$layout" "$work/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
		"$c" "$cs" "$l" "$ls" >"$work/manifest.json"
	read -r m ms < <(_oci_gz_blob "$layout" "$work/manifest.json")
	rm -rf "$work"
	[ -n "$m" ] || fail "run_image_layout: no manifest written to $layout" || return 1
	python3 - "$layout/index.json" "$m" "$ms" "$tag" <<'EOF' || return 1
import json, os, sys
path, digest, size, tag = sys.argv[1:5]
try:
    index = json.load(open(path))
except FileNotFoundError:
    index = {"schemaVersion": 2, "manifests": []}
index["manifests"] = [x for x in index["manifests"]
                      if x.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": digest, "size": int(size),
                           "annotations": {"org.opencontainers.image.ref.name": tag}})
json.dump(index, open(path + ".tmp", "w"), separators=(",", ":"))
os.replace(path + ".tmp", path)
EOF
	printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
	printf '%s\n' "$m"
}

run_podman_import() {
	local dir=$1 name=$2 d
	test_user_dir "$dir"
	# rootless podman chmods every parent of its storage that lacks any x bit to a+x (for the
	# subordinate IDs) and fails on root's 0700 temp dirs: give them the bits first
	if [ "$(id -u)" -eq 0 ]; then
		d=$(dirname "$dir")
		while [ "$d" != / ]; do
			chmod a+x "$d"
			d=$(dirname "$d")
		done
	fi
	printf '%s\n' "$name" >"$dir/.run-podman-image"
	if _run_as_podman_user "$dir" podman image exists "localhost/$name:latest" 2>/dev/null; then
		return 0
	fi
	run_image_rootfs_tar "$dir/$name-rootfs.tar" || return 1
	chmod 644 "$dir/$name-rootfs.tar"
	_run_as_podman_user "$dir" podman import --quiet "$dir/$name-rootfs.tar" "localhost/$name:latest" \
		>"$dir/$name-import.log" 2>&1 ||
		fail "podman import of $dir/$name-rootfs.tar failed:" "$(cat "$dir/$name-import.log")"
}

run_podman() {
	local dir=$1 name opts=()
	shift
	name=$(cat "$dir/.run-podman-image" 2>/dev/null) ||
		fail "run_podman: no image imported into $dir (run_podman_import first)" || return 1
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ "${1:-}" = -- ] || fail "run_podman: no -- before the command" || return 1
	shift
	_run_as_podman_user "$dir" timeout 120 podman run --rm --network none --cgroups=disabled \
		"${opts[@]}" "localhost/$name:latest" "$@"
}

# _run_as_podman_user DIR CMD...: as_test_user, in a private mount namespace without
# /sys/fs/cgroup/unified on a hybrid host. Every podman call of DIR goes through here: rootless
# podman keeps a pause process and later calls join its mount namespace, so the first call
# decides which one all of them see.
_run_as_podman_user() {
	local dir=$1
	shift
	if ! _run_hybrid; then
		as_test_user "$dir" "$@"
	elif [ "$(id -u)" -eq 0 ]; then
		export -f as_test_user test_user_dir
		unshare -m --propagation slave bash -c \
			'umount /sys/fs/cgroup/unified && mount --make-shared / && as_test_user "$@"' run_podman "$dir" "$@"
	else
		fail "run_podman: crun 1.8.1 starts nothing on this hybrid cgroup host unless" \
			"/sys/fs/cgroup/unified is hidden in a private mount namespace, which needs root"
	fi
}

# A cgroup v1 host with a cgroup2 hierarchy holding controllers beside it: crun 1.8.1 refuses
# every container there ("cgroups in hybrid mode not supported"), even with cgroups disabled.
_run_hybrid() {
	[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
		[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
		[ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]
}

run_podman_cleanup() {
	local dir=$1 pid
	pid=$(cat "$dir/run/libpod/tmp/pause.pid" 2>/dev/null) || return 0
	# only the pause process of DIR's podman, never another user's or suite's
	if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$dir/run"; then
		kill "$pid" 2>/dev/null || true
	fi
	return 0
}

run_diff_outputs() {
	local a=$1 b=$2
	[ -f "$a" ] && a=$(cat "$a")
	[ -f "$b" ] && b=$(cat "$b")
	python3 - "$a" "$b" <<'EOF'
import sys

def parse(text):
    d = {}
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if not sep:
            k, v = line.rstrip(":"), ""
        d[k] = v
    return d

a, b = parse(sys.argv[1]), parse(sys.argv[2])
diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k in diff:
    print("%s: %s | %s" % (k, a.get(k, "(absent)"), b.get(k, "(absent)")))
sys.exit(1 if diff else 0)
EOF
}

run_suite_setup() {
	need_imgtrust
	local c d
	for c in docker-registry skopeo python3 jq; do
		need_cmd "$c" || return 1
	done
	need_cmd cc gcc || return 1
	[ -x /bin/busybox ] || fail "busybox-static missing (apt-get install -y busybox-static)" || return 1
	test_user_setup || return 1
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	export IMGPULL="$IMGTRUST_BUILD/imgpull" IMGRUN="$IMGTRUST_BUILD/imgrun"
	[ -x "$IMGRUN" ] || fail "imgrun not built in $IMGTRUST_BUILD" || return 1
	# the test user reads the policy and runs the probe below the bats temp dirs
	d=$FT
	while [ "$d" != / ]; do
		[ "$(stat -c %a "$d" | cut -c3)" -ge 5 ] || chmod o+rx "$d"
		d=$(dirname "$d")
	done
	run_probe_build "$FT/bin" || return 1
	run_image_layout "$FT/layout" test >/dev/null || return 1
	start_registry >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"
	export POL_OPEN="$FT/policy-open.json"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POL_OPEN"
	skopeo copy -q --dest-tls-verify=false "oci:$FT/layout:test" "docker://$REGISTRY/run/probe:1" ||
		fail "skopeo copy of the test image failed" || return 1
	export U="$FT/u"
	test_user_dir "$U"
	as_test_user "$U" "$IMGPULL" -q --policy "$POL_OPEN" --tls-verify=false \
		"docker://$REGISTRY/run/probe:1" >"$FT/pull.out" 2>&1 ||
		fail "imgpull of the test image failed" "$(cat "$FT/pull.out")" || return 1
	export IMG="$REGISTRY/run/probe:1" STORE="$U/data/imgtrust/storage"
}
