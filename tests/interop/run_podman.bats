#!/usr/bin/env bats
# imgrun against rootless `podman run` (podman 4.3.1 + crun 1.8.1): the same test image, the same
# probes (`probe all /owned1000` and `probe fds`), the same knobs. For each configuration every
# key whose answer differs is printed in the test output (`#   KEY: podman | imgrun`), and the
# set of differing keys must be exactly the list the test names; any other difference, or one of
# these going away, fails. docs/compatibility.md ("imgrun and podman run") explains each one.
# The imgrun side runs the image pulled by imgpull into the test user's store from a registry on
# loopback; the podman side `podman import`s the same root filesystem (run_podman: --network
# none, --cgroups=disabled).
#
# Why a key differs (podman | imgrun):
#   fs.mount./               ext4 rw | overlay rw,nodev: podman's vfs storage (a directory of
#                            the host's ext4) vs our overlay of the stored layers, mounted nodev
#   fs.mount./sys/fs/cgroup  tmpfs rw | cgroup2 ro: crun mounts a tmpfs with the host's v1
#                            hierarchies bound read-only below it; we mount cgroup2 (our cgroup
#                            namespace's root) read-only
#   ids.hostname             random per container on both sides (12 hex digits of the ID)
#   NoNewPrivs               0 | 1: our default is on (no-new-privileges=false turns it off)
#   socket.AF_PACKET_RAW     EPERM | EAFNOSUPPORT without CAP_NET_RAW: the kernel refuses
#                            podman's, our family filter refuses ours first (allowed with the cap)
#   socket.AF_VSOCK          OK | EAFNOSUPPORT: our socket-family filter
#   socket.AF_XDP            EPERM (OK with NET_RAW) | EAFNOSUPPORT: our socket-family filter
#   fs.create./probe-x       EACCES | OK with --cap-drop all: the image's tar has no entry for
#                            /, containers/storage makes the layer root 0555, our store 0755;
#                            without CAP_DAC_OVERRIDE root cannot write podman's

load ../lib/common
load ../lib/services
load ../lib/users
load ../lib/push
load ../lib/run

setup_file() {
	need_cmd podman || return 1
	run_suite_setup || return 1
	# short: podman puts sockets below the runroot
	export POD="$FT/pod"
	run_podman_import "$POD" runpodman || return 1
}

teardown_file() {
	run_podman_cleanup "$POD"
	stop_services
}

# The probes each side runs: everything `probe all` reports, the owner of a file of uid 1000 in
# the image, and the open descriptors.
PROBES='probe all /owned1000 && probe fds'

# compare IMGRUN_OPTS... -- PODMAN_OPTS... -- KEY...: runs PROBES under both (outputs in
# $BATS_TEST_TMPDIR/imgrun.out and podman.out), prints every differing key to the test output
# and asserts that exactly KEY... differ.
compare() {
	local iopts=() popts=() d=$BATS_TEST_TMPDIR got want f k
	while [ "$1" != -- ]; do
		iopts+=("$1")
		shift
	done
	shift
	while [ "$1" != -- ]; do
		popts+=("$1")
		shift
	done
	shift
	as_test_user "$U" timeout 60 "$IMGRUN" --rm "${iopts[@]}" "$IMG" sh -c "$PROBES" \
		>"$d/imgrun.out" 2>"$d/imgrun.err" ||
		fail "imgrun ${iopts[*]} failed:" "$(cat "$d/imgrun.err")" || return 1
	run_podman "$POD" "${popts[@]}" -- sh -c "$PROBES" >"$d/podman.out" 2>"$d/podman.err" ||
		fail "podman run ${popts[*]} failed:" "$(cat "$d/podman.err")" || return 1
	assert_eq "$(cat "$d/imgrun.err")" "" "imgrun's stderr" || return 1
	# both complete: a group missing on both sides would compare equal
	for f in imgrun podman; do
		for k in CapEff syscall.kexec_load socket.AF_X25 fs.umask ids.uid stat./owned1000 \
			limits.nofile fds; do
			grep -q "^$k: " "$d/$f.out" || fail "$f: no $k in the probe output" "$(cat "$d/$f.out")" ||
				return 1
		done
	done
	run run_diff_outputs "$d/podman.out" "$d/imgrun.out"
	{
		printf '# podman %s | imgrun %s: %s keys differ (podman | imgrun)\n' \
			"${popts[*]:-(default)}" "${iopts[*]:-(default)}" "${#lines[@]}"
		[ "${#lines[@]}" -eq 0 ] || printf '#   %s\n' "${lines[@]}"
	} >&3
	got=$(printf '%s\n' "${lines[@]}" | sed 's/: .*//')
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	assert_eq "$got" "$want" "the keys that differ (podman | imgrun:$(printf '\n  %s' "${lines[@]}"))"
}

# both KEY VALUE...: each KEY has VALUE in both outputs of the last compare (the knob took).
both() {
	local f v
	while [ $# -gt 0 ]; do
		for f in imgrun podman; do
			v=$(grep "^$1: " "$BATS_TEST_TMPDIR/$f.out" | head -n 1 | cut -d' ' -f2-)
			assert_eq "$v" "$2" "$f: $1" || return 1
		done
		shift 2
	done
}

# Differences of every configuration (reasons above).
ALWAYS="fs.mount./ fs.mount./sys/fs/cgroup ids.hostname"
# The socket families our filter refuses without CAP_NET_RAW.
FAMILIES="socket.AF_PACKET_RAW socket.AF_VSOCK socket.AF_XDP"

# shellcheck disable=SC2086 # ALWAYS, FAMILIES: one key a word
@test "default" {
	compare -- -- $ALWAYS NoNewPrivs $FAMILIES
	both CapEff 00000000800405fb Seccomp 2 socket.AF_X25 EAFNOSUPPORT fds "0 1 2" \
		stat./owned1000 "1000:1000 0640" fs.stat./proc/keys "c 1:3"
}

# shellcheck disable=SC2086
@test "--cap-drop all" {
	compare --cap-drop all -- --cap-drop all -- $ALWAYS NoNewPrivs $FAMILIES fs.create./probe-x
	both CapBnd 0000000000000000 CapEff 0000000000000000
}

# shellcheck disable=SC2086
@test "--cap-add NET_RAW" {
	# AF_PACKET works on both sides now; AF_XDP only under podman
	compare --cap-add NET_RAW -- --cap-add NET_RAW -- $ALWAYS NoNewPrivs socket.AF_VSOCK socket.AF_XDP
	both CapEff 00000000800425fb socket.AF_PACKET_RAW OK
}

# shellcheck disable=SC2086
@test "--user 1000" {
	compare --user 1000 -- --user 1000 -- $ALWAYS NoNewPrivs $FAMILIES
	both ids.uid 1000 ids.gid 1000 CapEff 0000000000000000 CapBnd 00000000800405fb
}

# shellcheck disable=SC2086
@test "seccomp=unconfined" {
	# no filter: the family rules go with it, and the kernel answers alike
	compare --security-opt seccomp=unconfined -- --security-opt seccomp=unconfined -- \
		$ALWAYS NoNewPrivs
	both Seccomp 0 syscall.sysfs OK socket.AF_VSOCK OK
}

# shellcheck disable=SC2086
@test "--read-only" {
	compare --read-only -- --read-only -- $ALWAYS NoNewPrivs $FAMILIES
	both fs.create./probe-x EROFS fs.create./tmp/probe-x OK fs.create./run/probe-x OK
}

# shellcheck disable=SC2086
@test "unmask=/proc/keys" {
	compare --security-opt unmask=/proc/keys -- --security-opt unmask=/proc/keys -- \
		$ALWAYS NoNewPrivs $FAMILIES
	both fs.stat./proc/keys f fs.stat./proc/timer_list "c 1:3"
}

# shellcheck disable=SC2086
@test "mask=/owned1000" {
	compare --security-opt mask=/owned1000 -- --security-opt mask=/owned1000 -- \
		$ALWAYS NoNewPrivs $FAMILIES
	both stat./owned1000 "65534:65534 0666" fs.stat./proc/keys "c 1:3"
}

# shellcheck disable=SC2086
@test "imgrun default vs podman no-new-privileges" {
	compare -- --security-opt no-new-privileges -- $ALWAYS $FAMILIES
	both NoNewPrivs 1
}

# shellcheck disable=SC2086
@test "imgrun no-new-privileges=false vs podman default" {
	compare --security-opt no-new-privileges=false -- -- $ALWAYS $FAMILIES
	both NoNewPrivs 0 Seccomp_filters 1
}

@test "stricter than podman where the probe does not look: /proc/interrupts, / nodev" {
	# the file type and device of /proc/interrupts; the mount options of /
	local c='stat -c "%F %t:%T" /proc/interrupts
		cut -d" " -f5,6 /proc/self/mountinfo | grep "^/ " | cut -d" " -f2'
	run --separate-stderr as_test_user "$U" timeout 60 "$IMGRUN" --rm "$IMG" sh -c "$c"
	assert_status 0
	assert_eq "$output" $'character special file 1:3\nrw,nodev,relatime' "imgrun"
	run --separate-stderr run_podman "$POD" -- sh -c "$c"
	assert_status 0
	assert_eq "$output" $'regular empty file 0:0\nrw,relatime' "podman"
}
