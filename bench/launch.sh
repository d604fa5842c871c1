#!/usr/bin/env bash
# Start-to-exit time of one container: `imgrun --rm IMAGE /bin/true` against `crun run` of an
# equivalent bundle (crun 1.8.1) and `podman run --rm` (podman 4.3.1), all rootless as the test
# user (tests/lib/users.bash: imgtrust-test with a subordinate ID range), on the same root
# filesystem: busybox-static's /bin/busybox and a symlink per applet (/bin/true among them), one
# layer, made offline.
#   imgrun: the layer pushed by `imgsign push` to Debian's docker-registry on 127.0.0.1 and pulled
#           once with `imgpull` into the test user's store, untimed; every run mounts an overlay of
#           it (a new upper directory per container).
#   crun:   the layer unpacked once into a bundle's rootfs directory; the bundle's config.json is
#           the one podman itself generated for the same image and options, with root.path, the
#           podman bind sources and the annotations adapted (see bench/README.md), plus podman's
#           user namespace mapping.
#   podman: the layer imported (`podman import`) into the test user's podman storage (overlay).
# The hardening is the same on the three sides (podman's 11 capabilities, its seccomp profile,
# masked and read-only paths, new namespaces) except NoNewPrivs (imgrun sets it, the others not);
# a probe run of each prints what it got, into the report.
#
# On a cgroup v1 host with a cgroup2 hierarchy beside it ("hybrid", as these machines) crun 1.8.1
# refuses to start any container, also with cgroups disabled ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"), and podman runs crun. This script therefore
# runs itself in a private mount namespace where /sys/fs/cgroup/unified is unmounted (needs root);
# all three sides run there. imgrun does not need it.
# Needs root (to make the test user and the mount namespace), or a user with a range in
# /etc/subuid on a host that is not hybrid.
set -euo pipefail

# ---- the mount namespace first (before bench_init: the whole script runs in it) ---------------

launch_hybrid() { # the cgroup2 mount beside v1 that crun refuses, when it holds controllers
	[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
		[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
		[ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]
}
if [ -z "${BENCH_LAUNCH_IN_NS:-}" ] && launch_hybrid && [ "$(id -u)" = 0 ]; then
	command -v unshare >/dev/null || { echo "bench: launch: unshare (util-linux) is missing" >&2; exit 2; }
	BENCH_LAUNCH_IN_NS=1 exec unshare -m --propagation private bash "${BASH_SOURCE[0]}" "$@"
fi
if [ -n "${BENCH_LAUNCH_IN_NS:-}" ]; then
	umount /sys/fs/cgroup/unified || { echo "bench: launch: cannot unmount /sys/fs/cgroup/unified" >&2; exit 2; }
fi

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init launch
if launch_hybrid; then
	bench_say "launch: skipped: hybrid cgroup host (cgroup2 with controllers at /sys/fs/cgroup/unified);" \
		"crun 1.8.1 starts nothing here unless it is hidden in a private mount namespace, which needs root"
	exit 0
fi
bench_imgtrust_bin
IMGPULL=$(bench_program_bin imgpull) || exit 1
IS=$(bench_program_bin imgsign) || exit 1
for t in podman crun docker-registry jq gzip tar sha256sum setpriv newuidmap; do
	command -v "$t" >/dev/null || bench_die "$t is not installed"
done
BUSYBOX=/bin/busybox
if [ ! -x "$BUSYBOX" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null 2>&1 || true
fi
[ -x "$BUSYBOX" ] || bench_die "no $BUSYBOX (apt-get install -y busybox-static)"

# imgrun: next to IMGTRUST_BIN. When bench_imgtrust_bin built the tree, built there if its source
# exists; otherwise (a tree from before step 5, or a given IMGTRUST_BIN without it) its rows are
# skipped and said so, and crun and podman are still measured.
IMGRUN=""
imgtrust_dir=$(cd "$(dirname "$IMGTRUST_BIN")" && pwd)
if [ -n "${IMGTRUST_BENCH_BUILT:-}" ] && [ "$(cd "$IMGTRUST_BENCH_BUILT" && pwd)" = "$imgtrust_dir" ]; then
	if [ -f "$BENCH_SRC/run/cmd_imgrun.c" ]; then
		IMGRUN=$(bench_program_bin imgrun) || exit 1
	fi
elif [ -x "$imgtrust_dir/imgrun" ]; then
	IMGRUN="$imgtrust_dir/imgrun"
fi
[ -n "$IMGRUN" ] || bench_progress "no imgrun next to $IMGTRUST_BIN (run/cmd_imgrun.c not in the tree or not built): its rows are skipped"

bench_isolate_env launch
# shellcheck source=tests/lib/common.bash
source "$BENCH_SRC/tests/lib/common.bash"
# shellcheck source=tests/lib/services.bash
source "$BENCH_SRC/tests/lib/services.bash"
# shellcheck source=tests/lib/users.bash
source "$BENCH_SRC/tests/lib/users.bash"
# shellcheck source=tests/lib/pull_bench.bash
source "$BENCH_SRC/tests/lib/pull_bench.bash"

test_user_setup || bench_die "no test user (run as root, or as a user with a range in /etc/subuid)"
# the test user's HOME; everything it writes is below. Short and outside BENCH_OUT: conmon puts
# unix sockets below its runtime dir ($TU/run), and a path past 108 bytes makes podman run wait
# 20 s for an exit code that never comes.
TU=$(mktemp -d /tmp/itl.XXXXXX)
test_user_dir "$TU"
# rootless podman chmods every parent of its storage lacking an x bit (u, g or o) to a+x and
# fails on root's 0700 temporary directories (the test user also reads the images below $W):
# give them the bits first
for d in "$(dirname "$TU")" "$W"; do
	while [ "$d" != / ]; do
		chmod a+x "$d"
		d=$(dirname "$d")
	done
done
as_test_user "$TU" true || bench_die "cannot run commands as $TU_NAME"
SUBGID=$(awk -F: -v u="$TU_NAME" '$1 == u { print $2 ":" $3; exit }' /etc/subgid)
[ -n "$SUBGID" ] || bench_die "$TU_NAME has no range in /etc/subgid"

PODMAN_IMAGE=localhost/bench/launch-busybox:v1
CRUN_ID="imgtrust-bench-launch-$$"
bench_cleanup() {
	# What this script made in the test user's podman storage and crun state, then podman's pause
	# process (holder of its user namespace), by the pid it recorded.
	if [ -x "$W/bin/as-tu" ]; then
		"$W/bin/as-tu" crun --cgroup-manager=disabled delete -f "$CRUN_ID" >/dev/null 2>&1 || true
		"$W/bin/as-tu" podman rm -a -f >/dev/null 2>&1 || true
		"$W/bin/as-tu" podman rmi -f "$PODMAN_IMAGE" >/dev/null 2>&1 || true
		# The bundle's rootfs and the stores hold files of subordinate IDs: without root they go
		# from inside a user namespace (podman's, so before its pause process ends), before
		# lib.sh removes the scratch directory.
		if [ "$(id -u)" != 0 ] && [ "${BENCH_KEEP_WORK:-0}" != 1 ]; then
			"$W/bin/as-tu" podman unshare rm -rf "$TU/bundle" "$TU/data" >/dev/null 2>&1 || true
		fi
	fi
	local f="$TU/run/libpod/tmp/pause.pid" pid
	if [ -s "$f" ]; then
		pid=$(cat "$f")
		if [[ "$pid" =~ ^[0-9]+$ ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
	fi
	stop_services >/dev/null 2>&1 || true
	if [ "${BENCH_KEEP_WORK:-0}" != 1 ] && [[ "$TU" == /tmp/itl.* ]]; then
		rm -rf "$TU" 2>/dev/null || true
	fi
}

mkdir -p "$W/bin"
bench_as_tu_script "$W/bin/as-tu" "$TU"
chmod 755 "$W/bin/as-tu" "$W/bin" "$W"
as_test_user "$TU" mkdir -p "$TU/run" "$TU/config/containers"
TUX=("$W/bin/as-tu")

# ---- the image -------------------------------------------------------------------------------

bench_progress "making the busybox image"
cp "$BUSYBOX" "$W/src/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -s busybox "$W/src/bin/$a"
done
[ -L "$W/src/bin/true" ] || bench_die "$BUSYBOX has no true applet"
DIGEST=$(pb_layout "$W/layouts/busybox" v1 9 "$W/src")
LAYER=$(jq -r '.layers[0].digest' "$W/layouts/busybox/blobs/sha256/${DIGEST#sha256:}")
gzip -dc "$W/layouts/busybox/blobs/sha256/${LAYER#sha256:}" >"$W/rootfs.tar"
chmod 755 "$W/layouts" && chmod 644 "$W/rootfs.tar"

# podman: overlay storage (the default here would be vfs), the layer imported. The first podman
# command starts the pause process (and warns that / is not a shared mount); the runs reuse it.
printf '[storage]\ndriver = "overlay"\n' | as_test_user "$TU" tee "$TU/config/containers/storage.conf" >/dev/null
"${TUX[@]}" podman import -q "$W/rootfs.tar" "$PODMAN_IMAGE" >"$W/import.out" 2>"$W/import.err" ||
	bench_die "podman import failed: $(cat "$W/import.err")"
PODMAN_OPTS=(--network none --cgroups=disabled)

# crun: the config.json podman generates for a container of that image with those options
# (`podman init` writes it without starting the container).
bench_progress "making the crun bundle from podman's config.json"
cid=$("${TUX[@]}" podman create -q "${PODMAN_OPTS[@]}" "$PODMAN_IMAGE" /bin/true 2>"$W/create.err") ||
	bench_die "podman create failed: $(cat "$W/create.err")"
"${TUX[@]}" podman init "$cid" >/dev/null 2>"$W/create.err" || bench_die "podman init failed: $(cat "$W/create.err")"
PCONF="$TU/data/containers/storage/overlay-containers/$cid/userdata/config.json"
[ -s "$PCONF" ] || bench_die "podman wrote no $PCONF"
B="$TU/bundle"
as_test_user "$TU" mkdir -p "$B/rootfs" "$B/files"
cp "$PCONF" "$W/podman-config.json"
# podman's bind sources (hosts, hostname, .containerenv in its run directory; /dev/shm, a tmpfs it
# mounted in its own mount namespace): files are copied into the bundle, directories become a
# tmpfs as podman's was. Sources outside podman's directories stay as they are.
jq -r '.mounts[] | select(.type == "bind") | .source' "$PCONF" | while IFS= read -r src; do
	case "$src" in
	"$TU/data/containers/"* | "$TU/run/containers/"*)
		if [ -f "$src" ]; then
			as_test_user "$TU" cp "$src" "$B/files/$(basename "$src" | tr -d .)" ||
				bench_die "cannot copy $src"
		fi
		;;
	esac
done
"${TUX[@]}" podman rm -f "$cid" >/dev/null 2>&1 || bench_die "podman rm $cid failed"
as_test_user "$TU" tar -C "$B/rootfs" -xf "$W/rootfs.tar" || bench_die "unpacking the rootfs failed"
jq --arg tu "$TU" --arg b "$B" \
	--argjson uid "$TU_UID" --argjson gid "$TU_GID" \
	--argjson us "${TU_RANGE%%:*}" --argjson un "${TU_RANGE#*:}" \
	--argjson gs "${SUBGID%%:*}" --argjson gn "${SUBGID#*:}" '
	def ours: startswith("\($tu)/data/containers/") or startswith("\($tu)/run/containers/");
	.root = {path: "rootfs"} | del(.annotations) | del(.hooks)
	| .mounts |= map(
		if .type == "bind" and (.source | ours) then
			if .destination == "/dev/shm" then
				{destination: "/dev/shm", type: "tmpfs", source: "shm",
				 options: ["rprivate", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
			else .source = "\($b)/files/\(.source | split("/") | last | gsub("\\."; ""))" end
		else . end)
	| .linux.namespaces |= (map(select(.type != "user")) + [{type: "user"}])
	| .linux.uidMappings = [{containerID: 0, hostID: $uid, size: 1}, {containerID: 1, hostID: $us, size: $un}]
	| .linux.gidMappings = [{containerID: 0, hostID: $gid, size: 1}, {containerID: 1, hostID: $gs, size: $gn}]
	' "$W/podman-config.json" | as_test_user "$TU" tee "$B/config.json" >/dev/null
jq -e '[.mounts[] | select(.type == "bind") | .source | select(startswith("'"$TU"'/data/containers") or startswith("'"$TU"'/run/containers"))] | length == 0' \
	"$B/config.json" >/dev/null || bench_die "the bundle still binds podman's files: $B/config.json"
for f in $(jq -r '.mounts[] | select(.type == "bind") | .source' "$B/config.json"); do
	[ -e "$f" ] || bench_die "the bundle binds $f, which does not exist"
done

# imgrun: pushed to a local registry, pulled once into the test user's default store.
R=""
if [ -n "$IMGRUN" ]; then
	bench_progress "pushing to a local registry, pulling with imgpull"
	# shellcheck disable=SC2119
	start_registry >/dev/null # not in $(...): it exports REGISTRY
	R="$REGISTRY"
	mkdir -p "$W/registries.d"
	"$IS" push -q --registries.d "$W/registries.d" --dest-tls-verify=false "oci:$W/layouts/busybox:v1" \
		"docker://$R/bench/launch:v1" >/dev/null 2>"$W/push.err" || bench_die "push failed: $(cat "$W/push.err")"
	P="$W/policy.json"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$P"
	chmod 644 "$P"
	chmod 755 "$W/registries.d"
	"${TUX[@]}" "$IMGPULL" --policy "$P" --registries.d "$W/registries.d" --tls-verify=false \
		"docker://$R/bench/launch:v1" >"$W/pull.out" 2>"$W/pull.err" || bench_die "imgpull failed: $(cat "$W/pull.err")"
	IMAGE="$R/bench/launch:v1"
fi

# ---- a probe run of each side: what hardening it ran with (untimed) --------------------------

# shellcheck disable=SC2016 # expanded inside the container
PROBE='grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; echo "uid_map $(wc -l </proc/self/uid_map) lines"; echo "interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"'
probe_fail() { bench_die "$1 probe: $(cat "$W/probe.err")"; }
"${TUX[@]}" podman run --rm "${PODMAN_OPTS[@]}" "$PODMAN_IMAGE" /bin/sh -c "$PROBE" >"$W/probe-podman.txt" 2>"$W/probe.err" ||
	probe_fail podman
as_test_user "$TU" mkdir -p "$B/probe"
jq --arg r "$B/rootfs" --arg c "$PROBE" '.root.path = $r | .process.args = ["/bin/sh", "-c", $c]' "$B/config.json" |
	as_test_user "$TU" tee "$B/probe/config.json" >/dev/null
"${TUX[@]}" crun --cgroup-manager=disabled run --bundle "$B/probe" "$CRUN_ID" >"$W/probe-crun.txt" 2>"$W/probe.err" ||
	probe_fail crun
if [ -n "$IMGRUN" ]; then
	"${TUX[@]}" "$IMGRUN" --rm "$IMAGE" /bin/sh -c "$PROBE" >"$W/probe-imgrun.txt" 2>"$W/probe.err" ||
		probe_fail imgrun
fi
probe_field() { awk -v k="$2:" '$1 == k { print $2 }' "$W/probe-$1.txt"; }
sides=(crun podman)
[ -z "$IMGRUN" ] || sides=(imgrun crun podman)
want_cap=$(probe_field podman CapEff)
for s in "${sides[@]}"; do
	[ "$(probe_field "$s" CapEff)" = "$want_cap" ] ||
		bench_die "$s runs with CapEff $(probe_field "$s" CapEff), podman with $want_cap: $(cat "$W/probe-$s.txt")"
	[ "$(probe_field "$s" Seccomp)" = 2 ] || bench_die "$s runs without a seccomp filter: $(cat "$W/probe-$s.txt")"
	grep -qx 'uid_map 2 lines' "$W/probe-$s.txt" || bench_die "$s: not podman's two-line ID map: $(cat "$W/probe-$s.txt")"
done

# ---- the runs --------------------------------------------------------------------------------

# check_quiet ID: the checked first run printed nothing at all.
check_quiet() {
	[ ! -s "$BENCH_DIR/raw/$1.out" ] || bench_die "$1: unexpected output: $(head -c 500 "$BENCH_DIR/raw/$1.out")"
	[ ! -s "$BENCH_DIR/raw/$1.err" ] || bench_die "$1: unexpected stderr: $(head -c 500 "$BENCH_DIR/raw/$1.err")"
}

if [ -n "$IMGRUN" ]; then
	bench_measure imgrun-rm -- "${TUX[@]}" "$IMGRUN" --rm "$IMAGE" /bin/true
	check_quiet imgrun-rm
	bench_measure imgrun-keep -- "${TUX[@]}" "$IMGRUN" "$IMAGE" /bin/true
	check_quiet imgrun-keep
fi
bench_measure crun -- "${TUX[@]}" crun --cgroup-manager=disabled run --bundle "$B" "$CRUN_ID"
check_quiet crun
bench_measure podman -- "${TUX[@]}" podman run --rm "${PODMAN_OPTS[@]}" "$PODMAN_IMAGE" /bin/true
check_quiet podman
# podman run --rm removed every container it made; nothing else may be left.
left=$("${TUX[@]}" podman ps -a -q 2>/dev/null | wc -l)
[ "$left" = 0 ] || bench_die "podman left $left container(s)"

# ---- report ----------------------------------------------------------------------------------

bench_env "crun: $(crun --version | head -n 1)" "podman: $(podman --version)" \
	"imgrun: $([ -n "$IMGRUN" ] && "$IMGRUN" --version 2>&1 | head -n 1 || printf 'not built')" \
	"user: $TU_NAME (uid $TU_UID, subordinate range $TU_RANGE); cgroups: $([ -n "${BENCH_LAUNCH_IN_NS:-}" ] &&
		printf 'hybrid host, /sys/fs/cgroup/unified hidden in a private mount namespace' || printf 'as the host has them')"
bench_say "image: $(jq '.layers[0].size' "$W/layouts/busybox/blobs/sha256/${DIGEST#sha256:}" |
	awk '{ printf "%.1f MiB compressed", $1 / 1048576 }'), one layer: /bin/busybox ($("$BUSYBOX" 2>&1 | head -n 1 | cut -d' ' -f1-2)) and $(find "$W/src/bin" -type l | wc -l) applet symlinks"
for s in "${sides[@]}"; do
	bench_say "hardening seen inside ($s): $(tr '\n' ' ' <"$W/probe-$s.txt" | tr -s ' \t' ' ')"
done

if [ -n "$IMGRUN" ]; then
	bench_table "imgrun vs crun run (same rootfs, podman's config.json)"
	bench_row "imgrun --rm IMAGE /bin/true" imgrun-rm crun
	bench_row "imgrun IMAGE /bin/true (kept)" imgrun-keep crun
	bench_note "target (issue 7): imgrun no slower than crun (ratio <= 1)"
	bench_note "imgrun mounts an overlay of the stored layer with a fresh upper directory on every run (and removes it with --rm); crun gets a ready rootfs directory and writes straight into it"
	bench_table "imgrun vs podman run --rm ${PODMAN_OPTS[*]}"
	bench_row "imgrun --rm IMAGE /bin/true" imgrun-rm podman
	bench_note "podman's side includes its own overlay mount, container records in its database and storage, conmon, and crun"
else
	bench_table "crun run vs podman run --rm ${PODMAN_OPTS[*]} (imgrun not built)"
	bench_row "/bin/true" crun podman
	bench_note "imgrun rows skipped: no imgrun next to $IMGTRUST_BIN"
fi
bench_note "peak RSS is GNU time's %M: the largest single process that was waited for (imgrun or its children; crun or the container; podman or its re-exec in the user namespace); conmon, double-forked by podman, and podman's pause process are not counted"
bench_note "all sides as $TU_NAME through setpriv + env (exec, no shell in between); crun: --cgroup-manager=disabled, podman: --cgroups=disabled --network none (no cgroup delegation on this v1 host, no /dev/net/tun for slirp4netns)"

if [ "$BENCH_TIMER" = hyperfine ]; then
	cpu() { jq -r '.results[0] | .user + .system' "$BENCH_DIR/raw/$1.json"; }
	bench_say ""
	bench_say "## CPU time (user + system of the waited-for tree, mean of the timed runs)"
	if [ -n "$IMGRUN" ]; then
		bench_say "$(printf '%-46s | %11s | %11s | %11s | %7s | %7s' task imgrun crun podman /crun /podman)"
		for s in rm keep; do
			o=$(cpu "imgrun-$s")
			bench_say "$(printf '%-46s | %8.1f ms | %8.1f ms | %8.1f ms | %7s | %7s' "imgrun$([ $s = rm ] && printf ' --rm') IMAGE /bin/true" \
				"$(awk -v v="$o" 'BEGIN { print v * 1000 }')" "$(awk -v v="$(cpu crun)" 'BEGIN { print v * 1000 }')" \
				"$(awk -v v="$(cpu podman)" 'BEGIN { print v * 1000 }')" \
				"$(_bench_ratio "$o" "$(cpu crun)")" "$(_bench_ratio "$o" "$(cpu podman)")")"
		done
	else
		bench_say "$(printf '%-46s | %11s | %11s | %7s' task crun podman crun/podman)"
		bench_say "$(printf '%-46s | %8.1f ms | %8.1f ms | %7s' /bin/true \
			"$(awk -v v="$(cpu crun)" 'BEGIN { print v * 1000 }')" "$(awk -v v="$(cpu podman)" 'BEGIN { print v * 1000 }')" \
			"$(_bench_ratio "$(cpu crun)" "$(cpu podman)")")"
	fi
	bench_note "podman's count leaves out conmon and the cleanup it starts after the container exits (not waited for)"
fi
