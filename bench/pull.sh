#!/usr/bin/env bash
# `imgpull` against `podman pull` (podman 4.3.1) and against `skopeo copy` + `umoci unpack
# --rootless` (skopeo 1.9.3, umoci 0.4.7): pull and unpack into fresh storage, all three rootless
# as the non-root test user (tests/lib/users.bash: imgtrust-test with a subordinate ID range),
# from Debian's docker-registry on 127.0.0.1, of three images made offline:
#   1. small: busybox-static's /bin/busybox and a hard link per applet, one layer (like the
#      official busybox image);
#   2. debian: one layer of ~120 MiB of this Debian 12 host's own files (/etc, /usr/sbin,
#      /usr/share/zoneinfo, then /usr/bin and /usr/lib/x86_64-linux-gnu files of at most 4 MiB,
#      in name order, until the budget is used), gzip -6, like debian:12;
#   3. wide: 8 layers of ~10 MiB, each mixed: random binaries, many small text files, a symlink,
#      a hard link, assorted modes.
# Storage is removed before every run (untimed), so every run fetches and unpacks everything.
# All three sides accept the images with an insecureAcceptAnything policy (no signatures).
# Needs root (to make the test user) or a user with a range in /etc/subuid.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init pull
bench_imgtrust_bin
IMGPULL=$(bench_program_bin imgpull) || exit 1
IS=$(bench_program_bin imgsign) || exit 1
for t in podman skopeo umoci docker-registry jq gzip tar sha256sum setpriv newuidmap python3; do
	command -v "$t" >/dev/null || bench_die "$t is not installed"
done
BUSYBOX=/bin/busybox
if [ ! -x "$BUSYBOX" ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null 2>&1 || true
fi
[ -x "$BUSYBOX" ] || bench_die "no $BUSYBOX (apt-get install -y busybox-static)"
: "${BENCH_PULL_SMALL_RUNS:=10}" "${BENCH_PULL_BIG_RUNS:=3}" "${BENCH_PULL_DEBIAN_MIB:=120}"
: "${BENCH_PULL_WIDE_LAYERS:=8}" "${BENCH_PULL_WIDE_MIB:=10}"
_bench_posint BENCH_PULL_SMALL_RUNS "$BENCH_PULL_SMALL_RUNS" 2
_bench_posint BENCH_PULL_BIG_RUNS "$BENCH_PULL_BIG_RUNS" 1
_bench_posint BENCH_PULL_DEBIAN_MIB "$BENCH_PULL_DEBIAN_MIB" 1
_bench_posint BENCH_PULL_WIDE_LAYERS "$BENCH_PULL_WIDE_LAYERS" 1
_bench_posint BENCH_PULL_WIDE_MIB "$BENCH_PULL_WIDE_MIB" 1

bench_isolate_env pull
# shellcheck source=tests/lib/common.bash
source "$BENCH_SRC/tests/lib/common.bash"
# shellcheck source=tests/lib/services.bash
source "$BENCH_SRC/tests/lib/services.bash"
# shellcheck source=tests/lib/users.bash
source "$BENCH_SRC/tests/lib/users.bash"
# shellcheck source=tests/lib/pull_bench.bash
source "$BENCH_SRC/tests/lib/pull_bench.bash"

test_user_setup || bench_die "no test user (run as root, or as a user with a range in /etc/subuid)"
TU="$W/tu" # the test user's HOME; everything it writes is below
test_user_dir "$TU"
as_test_user "$TU" true || bench_die "cannot run commands as $TU_NAME"

bench_cleanup() {
	# Rootless podman leaves its pause process (holder of its user namespace) behind: end the one
	# this script's runs made, by the pid it recorded.
	local f="$TU/run/libpod/tmp/pause.pid" pid
	if [ -s "$f" ]; then
		pid=$(cat "$f")
		if [[ "$pid" =~ ^[0-9]+$ ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
	fi
	stop_services >/dev/null 2>&1 || true
}

# ---- images ----------------------------------------------------------------------------------

bench_progress "making three images in $W/layouts"
# small: busybox with a hard link per applet in bin/.
mkdir -p "$W/src/small/bin"
cp "$BUSYBOX" "$W/src/small/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln "$W/src/small/bin/busybox" "$W/src/small/bin/$a"
done
SMALL_DIGEST=$(pb_layout "$W/layouts/small" v1 9 "$W/src/small")
SMALL_FILES=$(find "$W/src/small" -type f | wc -l)

# debian: host files up to the budget. Only world-readable files (no secrets of this host go into
# the registry), with their real owners and modes.
budget=$((BENCH_PULL_DEBIAN_MIB << 20))
{
	for d in /etc /usr/sbin /usr/share/zoneinfo /usr/bin /usr/lib/x86_64-linux-gnu; do
		find "$d" -xdev \( -type d -o -type l -o \( -type f -perm -o+r -size -4097k \) \) -printf '%y %s %P\n' |
			LC_ALL=C sort -k3 | sed "s|^\\([a-z]\\) \\([0-9]*\\) |\\1 \\2 ${d#/}/|"
	done
} | awk -v budget="$budget" '
	$1 == "f" { if (used + $2 > budget) next; used += $2 }
	{ sub(/^[a-z] [0-9]+ /, ""); sub(/\/$/, ""); print }
	END { printf "%d\n", used > "/dev/stderr" }' >"$W/src/debian.list" 2>"$W/src/debian.bytes"
# The parents of the chosen directories, first.
printf '%s\n' usr usr/lib usr/share | cat - "$W/src/debian.list" >"$W/src/debian.list2"
tar --no-recursion --numeric-owner -C / -cf "$W/src/debian.tar" -T "$W/src/debian.list2" 2>"$W/src/debian.tar.err" ||
	bench_die "tar of the host's files failed: $(tail -n 3 "$W/src/debian.tar.err")"
DEBIAN_DIGEST=$(pb_layout "$W/layouts/debian" v1 6 "@$W/src/debian.tar")
# Regular files and hard links: both are files in a store's layer and in umoci's rootfs.
DEBIAN_FILES=$(tar -tvf "$W/src/debian.tar" | grep -cE '^[-h]') || true
rm -f "$W/src/debian.tar"

# wide: N mixed layers.
wide_trees=()
for ((i = 1; i <= BENCH_PULL_WIDE_LAYERS; i++)); do
	pb_mixed_tree "$W/src/wide$i" "$BENCH_PULL_WIDE_MIB" "layer$i"
	wide_trees+=("$W/src/wide$i")
done
WIDE_DIGEST=$(pb_layout "$W/layouts/wide" v1 6 "${wide_trees[@]}")
rm -rf "$W/src/wide"*

start_registry >/dev/null # not in $(...): it exports REGISTRY
R="$REGISTRY"
mkdir -p "$W/registries.d"
for n in small debian wide; do
	"$IS" push -q --registries.d "$W/registries.d" --dest-tls-verify=false "oci:$W/layouts/$n:v1" \
		"docker://$R/bench/$n:v1" >/dev/null 2>"$W/push.err" ||
		bench_die "pushing $n failed: $(cat "$W/push.err")"
done

# ---- the three sides -------------------------------------------------------------------------

P="$W/policy.json"
printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$P"
chmod 644 "$P"
chmod 755 "$W/registries.d" "$W"
# podman (and skopeo) read the user's policy.json; podman has no flag for it.
as_test_user "$TU" mkdir -p "$TU/config/containers"
as_test_user "$TU" cp "$P" "$TU/config/containers/policy.json"

mkdir -p "$W/bin"
bench_as_tu_script "$W/bin/as-tu" "$TU"
cat >"$W/bin/skopeo-umoci" <<'EOF'
#!/bin/bash
# skopeo-umoci REF OCI BUNDLE: what a user of these two tools runs to get a root filesystem.
set -e
mkdir -p "${2%/*}"
skopeo --policy "$POLICY" copy -q --src-tls-verify=false "docker://$1" "oci:$2:v1"
exec umoci --log error unpack --rootless --image "$2:v1" "$3"
EOF
chmod 755 "$W/bin/as-tu" "$W/bin/skopeo-umoci" "$W/bin"

# Fresh storage for each side before every run, untimed: the last run's is moved into a trash
# directory (one rename) and deleted only after the last run (a few GiB). Deleting it before a run
# would make every side pay for the deletes: on an ext4 without journal (as on these machines)
# the inode allocator skips inodes deleted in the last minute (recently_deleted), and a run
# creating thousands of files right after thousands were deleted spends its time scanning.
OURS="$TU/ours" PODMAN="$TU/podman" SU="$TU/su" TRASH="$TU/trash"
mkdir -p "$TRASH"
trash_cmd() { # DIR...: the shell command that moves each DIR into the trash
	local d c=""
	for d in "$@"; do
		c="$c${c:+; }if [ -e '$d' ]; then mv '$d' \"\$(mktemp -d '$TRASH/t.XXXXXX')/\"; fi"
	done
	printf '%s' "$c"
}
prep_ours=$(trash_cmd "$OURS")
prep_podman=$(trash_cmd "$PODMAN")
prep_su=$(trash_cmd "$SU" "$TU/data/containers/cache")
empty_trash() {
	if [ "$(id -u)" = 0 ]; then
		rm -rf "$TRASH"
	else
		# Without root, files of subordinate IDs go from inside a user namespace.
		podman unshare rm -rf "$TRASH"
	fi
	mkdir -p "$TRASH"
	sync
}

measure3() {
	local n="$1" runs="$2" warm="$3" rss="$4"
	local -x BENCH_RUNS="$runs" BENCH_WARMUP="$warm" BENCH_RSS_RUNS="$rss"
	bench_measure "$n-ours" -p "$prep_ours" -- "$W/bin/as-tu" "$IMGPULL" --policy "$P" \
		--registries.d "$W/registries.d" --tls-verify=false --root "$OURS" "docker://$R/bench/$n:v1"
	bench_measure "$n-podman" -p "$prep_podman" -- "$W/bin/as-tu" podman --root "$PODMAN/root" \
		--runroot "$PODMAN/run" --storage-driver overlay pull -q --tls-verify=false "$R/bench/$n:v1"
	bench_measure "$n-su" -p "$prep_su" -- "$W/bin/as-tu" env POLICY="$P" "$W/bin/skopeo-umoci" \
		"$R/bench/$n:v1" "$SU/oci" "$SU/bundle"
	# CPU time (user + system of the whole waited-for tree): one more run of each, untimed by
	# hyperfine. Less sensitive to other work on the machine than wall time.
	local side prep
	for side in ours podman su; do
		prep="prep_$side"
		bash -c "${!prep}"
		/usr/bin/time -f '%U %S' -o "$BENCH_DIR/raw/$n-$side.cpu" \
			bash -c "$(head -n 1 "$BENCH_DIR/raw/$n-$side.cmd")" >/dev/null 2>&1 ||
			bench_die "$n-$side: the CPU-time run failed"
	done
}

# cpu_row TASK N: user + system CPU seconds of each side, and the ratios.
cpu_row() {
	local n="$2" o p s
	o=$(awk '{ print $1 + $2 }' "$BENCH_DIR/raw/$n-ours.cpu")
	p=$(awk '{ print $1 + $2 }' "$BENCH_DIR/raw/$n-podman.cpu")
	s=$(awk '{ print $1 + $2 }' "$BENCH_DIR/raw/$n-su.cpu")
	bench_say "$(printf '%-46s | %9.2f s | %9.2f s | %9.2f s | %7s | %7s' "$1" "$o" "$p" "$s" \
		"$(_bench_ratio "$o" "$p")" "$(_bench_ratio "$o" "$s")")"
}

# check N LAYOUT MANIFEST FILES: the checked first runs did the same work: imgpull printed the
# image ID (the config digest) and so did podman; the regular files in imgpull's layers and in
# umoci's root filesystem number FILES (layers do not overlap here).
check() {
	local n="$1" layout="$2" m="$3" files="$4" id got
	id=$(pb_config_digest "$layout" "$m")
	got=$(tail -n 1 "$BENCH_DIR/raw/$n-ours.out")
	[ "$got" = "$id" ] || bench_die "$n: imgpull printed '$got', expected $id"
	got=$(tail -n 1 "$BENCH_DIR/raw/$n-podman.out")
	[ "$got" = "${id#sha256:}" ] || bench_die "$n: podman printed '$got', expected ${id#sha256:}"
	# The last (timed or RSS) runs left their storage behind: count there.
	got=$(find "$OURS/layers" -path '*/diff/*' -type f | wc -l)
	[ "$got" = "$files" ] || bench_die "$n: imgpull's layers hold $got files, expected $files"
	got=$(find "$SU/bundle/rootfs" -type f | wc -l)
	[ "$got" = "$files" ] || bench_die "$n: umoci's rootfs holds $got files, expected $files"
}

bench_progress "small"
measure3 small "$BENCH_PULL_SMALL_RUNS" 1 3
check small "$W/layouts/small" "$SMALL_DIGEST" "$SMALL_FILES"
bench_progress "debian"
measure3 debian "$BENCH_PULL_BIG_RUNS" 0 1
check debian "$W/layouts/debian" "$DEBIAN_DIGEST" "$DEBIAN_FILES"
bench_progress "wide"
measure3 wide "$BENCH_PULL_BIG_RUNS" 0 1
WIDE_FILES=$(find "$OURS/layers" -path '*/diff/*' -type f | wc -l)
check wide "$W/layouts/wide" "$WIDE_DIGEST" "$WIDE_FILES"
empty_trash

# ---- report ----------------------------------------------------------------------------------

size_of() { # LAYOUT MANIFEST: "compressed MiB / uncompressed MiB"
	local cfg
	cfg=$(pb_config_digest "$1" "$2")
	awk -v c="$(jq '[.layers[].size] | add' "$1/blobs/sha256/${2#sha256:}")" \
		-v n="$(jq '.rootfs.diff_ids | length' "$1/blobs/sha256/${cfg#sha256:}")" \
		'BEGIN { printf "%d layer(s), %.1f MiB compressed", n, c / 1048576 }'
}

bench_env "podman: $(podman --version)" "skopeo: $(skopeo --version)" \
	"umoci: $(umoci --version)" "imgpull: $("$IMGPULL" --version 2>&1 | head -n 1)" \
	"user: $TU_NAME (uid $TU_UID, subordinate range $TU_RANGE); jobs: imgpull default ($(nproc) cores)"
bench_say "images: small $(size_of "$W/layouts/small" "$SMALL_DIGEST") ($SMALL_FILES names for one busybox inode);" \
	"debian $(size_of "$W/layouts/debian" "$DEBIAN_DIGEST"), $DEBIAN_FILES files, $(($(cat "$W/src/debian.bytes") >> 20)) MiB of file data;" \
	"wide $(size_of "$W/layouts/wide" "$WIDE_DIGEST"), $WIDE_FILES files"

# For the table headers: the run counts differ per image (see the note).
BENCH_RUNS="$BENCH_PULL_SMALL_RUNS (small) / $BENCH_PULL_BIG_RUNS (debian, wide)"
BENCH_WARMUP="1 / 0" BENCH_RSS_RUNS=3
bench_table "imgpull vs podman pull (rootless, overlay, fresh storage every run)"
bench_row "small (busybox)" small-ours small-podman
bench_row "debian (~$BENCH_PULL_DEBIAN_MIB MiB rootfs)" debian-ours debian-podman
bench_row "wide ($BENCH_PULL_WIDE_LAYERS x $BENCH_PULL_WIDE_MIB MiB)" wide-ours wide-podman
bench_note "targets (issue 6): wall <= 0.5 of podman's, peak RSS <= 0.2 of podman's"

bench_table "imgpull vs skopeo copy + umoci unpack --rootless (fresh storage every run)"
bench_row "small (busybox)" small-ours small-su
bench_row "debian (~$BENCH_PULL_DEBIAN_MIB MiB rootfs)" debian-ours debian-su
bench_row "wide ($BENCH_PULL_WIDE_LAYERS x $BENCH_PULL_WIDE_MIB MiB)" wide-ours wide-su
bench_note "timed runs: small $BENCH_PULL_SMALL_RUNS after 1 warm-up (RSS: median of 3), debian and wide $BENCH_PULL_BIG_RUNS without warm-up (RSS: 1 run)"
bench_note "peak RSS is GNU time's %M: the largest single process of the tree that was waited for (imgpull and its namespace child; podman and its re-exec in the user namespace; the larger of skopeo and umoci), never a sum; podman's pause process (started by the first run, reused by the rest) is not counted"
bench_note "policy: insecureAcceptAnything on all three sides (no signature verification); all run as $TU_NAME through setpriv + env (exec, no shell in between)"
bench_note "podman stores layers (overlay diff dirs, like imgpull); skopeo + umoci write an OCI layout and then one merged rootfs"

bench_say ""
bench_say "## CPU time (user + system, whole waited-for tree; one run each)"
bench_say "$(printf '%-46s | %11s | %11s | %11s | %7s | %7s' task imgpull podman skopeo+umoci /podman /s+u)"
cpu_row "small (busybox)" small
cpu_row "debian (~$BENCH_PULL_DEBIAN_MIB MiB rootfs)" debian
cpu_row "wide ($BENCH_PULL_WIDE_LAYERS x $BENCH_PULL_WIDE_MIB MiB)" wide
bench_note "on a busy machine wall time stretches for every side; CPU time much less so"
