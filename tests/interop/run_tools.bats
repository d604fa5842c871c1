#!/usr/bin/env bats
# The test-side tools of the imgrun suites (tests/lib/run.bash, tests/probes/probe.c,
# tests/helpers/seccomp_tool) checked against rootless podman 4.3.1 + crun 1.8.1 and the kernel:
# the probe's answers are podman's documented defaults (spec runtime-storage.md §5, §8, §9), the
# test image holds what run.bash promises, and the filter podman loads can be read back.
#
#   situation                                     expected
#   probe outside any container                   exit 3 "refused: not inside a container" for
#                                                 syscalls/fs/all (also in a userns sharing the
#                                                 host's UTS namespace); status/ids work
#   the OCI layout / rootfs tar                   one gzip layer; config Env/Cmd/WorkingDir;
#                                                 owners, modes, links as listed in run.bash
#   probe status under podman                     CapEff/Prm/Bnd 00000000800405fb, Inh/Amb 0,
#                                                 NoNewPrivs 0, Seccomp 2, Seccomp_filters 1
#   probe syscalls, podman vs seccomp=unconfined  exactly the 23 calls the filter decides differ
#   sockets / fs / ids / fds / limits / exit      §8 values (EINVAL audit netlink, masked
#                                                 /proc/keys, /dev list, uid_map, 20000 nofile…)
#   podman's filter read back (seccomp_tool)      i386 socket(AF_X25) and socketcall ALLOWED:
#                                                 podman has no family rule (ours has)
#   run_diff_outputs                              changed, added and removed keys, status 1

load ../lib/common
load ../lib/services
load ../lib/users
load ../lib/push
load ../lib/run

setup_file() {
	need_cmd podman
	need_cmd skopeo
	need_cmd cc gcc
	need_cmd python3
	[ -x /bin/busybox ] || fail "busybox-static missing (apt-get install -y busybox-static)"
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	test_user_setup
	run_probe_build "$FT/bin"
	# short: podman puts sockets below the runroot
	export POD="$FT/pod"
	run_podman_import "$POD" runtools
	run_image_layout "$FT/layout" test >"$FT/layout.digest"
	run_image_rootfs_tar "$FT/rootfs.tar"
	run_podman "$POD" -- probe all >"$FT/default.out" 2>"$FT/default.err" ||
		fail "podman probe all:" "$(cat "$FT/default.err")"
	run_podman "$POD" --security-opt seccomp=unconfined -- probe syscalls \
		>"$FT/unconfined.out" 2>"$FT/unconfined.err" ||
		fail "podman unconfined probe:" "$(cat "$FT/unconfined.err")"
}

teardown_file() {
	run_podman_cleanup "$POD"
}

# want FILE KEY VALUE...: each KEY has VALUE in FILE.
want() {
	local f=$1
	shift
	while [ $# -gt 0 ]; do
		assert_eq "$(grep -F -- "$1: " "$f" | grep "^$1: " | head -n 1 | cut -d' ' -f2-)" "$2" "$1"
		shift 2
	done
}

@test "probe: static, refuses the risky groups outside a container, usage errors" {
	run readelf -l "$RUN_PROBE"
	assert_status 0
	assert_not_contains "$output" "INTERP" "program headers (a static binary has no interpreter)"
	local g
	for g in syscalls fs all; do
		run --separate-stderr "$RUN_PROBE" "$g"
		assert_status 3
		assert_eq "$stderr" "refused: not inside a container"
		assert_eq "$output" ""
	done
	# a user namespace alone (host UTS namespace) is not enough
	run --separate-stderr unshare -Ur "$RUN_PROBE" syscalls
	assert_status 3
	run unshare -Urpfu --mount-proc "$RUN_PROBE" syscalls
	assert_status 0
	assert_line_match '^syscall\.sysfs: OK$'
	assert_line_match '^syscall\.sethostname: OK$'
	run "$RUN_PROBE" status
	assert_status 0
	assert_eq "${#lines[@]}" 8
	run --separate-stderr "$RUN_PROBE" nosuch
	assert_status 2
	assert_contains "$stderr" "usage: probe"
	run --separate-stderr "$RUN_PROBE" status extra
	assert_status 2
	run "$RUN_PROBE" exit 42
	assert_status 42
	run "$RUN_PROBE" cat /etc/hostname
	assert_eq "$output" "$(cat /etc/hostname)"
}

@test "image: layout config and layer, rootfs tar, as promised" {
	run skopeo inspect --config "oci:$FT/layout:test"
	assert_status 0
	assert_eq "$(jq -c .config <<<"$output")" \
		'{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"}'
	local diff_id
	diff_id=$(jq -r '.rootfs.diff_ids[0]' <<<"$output")
	run skopeo inspect "oci:$FT/layout:test"
	assert_status 0
	assert_eq "$(jq -r '.Layers | length' <<<"$output")" 1
	assert_eq "$(jq -r .Digest <<<"$output")" "$(cat "$FT/layout.digest")"
	local layer
	layer="$FT/layout/blobs/sha256/$(jq -r '.Layers[0]' <<<"$output" | cut -d: -f2)"
	assert_eq "sha256:$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)" "$diff_id" "diff ID"
	assert_eq "$(sha256sum <"$FT/rootfs.tar" | cut -d' ' -f1)" "${diff_id#sha256:}" "rootfs tar"

	local l
	l=$(tar --numeric-owner -tvzf "$layer" | awk '{ $4 = $5 = ""; print }' | tr -s ' ')
	assert_contains "$l" "-rw-r----- 1000/1000 14 owned1000"
	assert_contains "$l" "-rwsr-xr-x 0/0 $(stat -c %s "$RUN_PROBE") usr/bin/probe-suid"
	assert_contains "$l" "-rwxr-xr-x 0/0 $(stat -c %s "$RUN_PROBE") usr/bin/probe"
	assert_contains "$l" "drwxrwxrwt 0/0 0 tmp/"
	assert_contains "$l" "drwxrwxrwt 0/0 0 var/tmp/"
	assert_contains "$l" "drwxr-xr-x 1000/1000 0 home/tuser/"
	assert_contains "$l" "drwx------ 0/0 0 root/"
	assert_contains "$l" "lrwxrwxrwx 0/0 0 bin/sh -> busybox"
	local d
	for d in dev proc sys run mnt; do
		assert_contains "$l" "drwxr-xr-x 0/0 0 $d/"
		tar -tzf "$layer" | grep -q "^$d/." && fail "$d/ is not empty"
	done
	run tar -xOzf "$layer" etc/passwd
	assert_eq "$output" "root:x:0:0:root:/root:/bin/sh
tuser:x:1000:1000:tuser:/home/tuser:/bin/sh"
	run tar -xOzf "$layer" etc/group
	assert_eq "$output" "root:x:0:
tgroup:x:1000:
extra:x:2000:tuser"
	assert_eq "$(tar -xOzf "$layer" bin/busybox | sha256sum)" "$(sha256sum </bin/busybox)"
	# made twice, the same bytes
	run_image_rootfs_tar "$BATS_TEST_TMPDIR/again.tar"
	assert_same_file "$BATS_TEST_TMPDIR/again.tar" "$FT/rootfs.tar"
}

@test "podman: capabilities, no_new_privs and seccomp status" {
	want "$FT/default.out" CapEff 00000000800405fb CapPrm 00000000800405fb \
		CapBnd 00000000800405fb CapInh 0000000000000000 CapAmb 0000000000000000 \
		NoNewPrivs 0 Seccomp 2 Seccomp_filters 1
	run run_podman "$POD" --cap-drop all -- probe status
	assert_status 0
	assert_line_match '^CapBnd: 0000000000000000$'
	assert_line_match '^CapEff: 0000000000000000$'
	run run_podman "$POD" --cap-add NET_RAW --security-opt no-new-privileges \
		--security-opt seccomp=unconfined -- probe status
	assert_status 0
	assert_line_match '^CapEff: 00000000800425fb$'
	assert_line_match '^NoNewPrivs: 1$'
	assert_line_match '^Seccomp: 0$'
}

@test "podman: syscalls filtered, and exactly these differ unconfined" {
	want "$FT/default.out" syscall.kexec_load EPERM syscall.io_uring_setup ENOSYS \
		syscall.add_key ENOSYS syscall.request_key ENOSYS syscall.sysfs EPERM \
		syscall.personality_0x40000 ENOSYS syscall.personality_0xffffffff OK \
		syscall.setns EBADF syscall.getcwd OK syscall.clone3 EINVAL syscall.unshare_newuser OK
	want "$FT/unconfined.out" syscall.sysfs OK syscall.kcmp OK syscall.perf_event_open OK \
		syscall.move_pages OK syscall.kexec_load ENOSYS syscall.io_uring_setup EFAULT
	run run_diff_outputs "$(grep '^syscall\.' "$FT/default.out")" "$FT/unconfined.out"
	assert_status 1
	assert_eq "$output" "$RUN_UNCONFINED_DIFF"
	# the cap-gated rule switches with the cap
	run run_podman "$POD" --cap-add SYS_PTRACE -- probe syscalls
	assert_status 0
	assert_line_match '^syscall\.kcmp: OK$'
}

@test "podman: sockets, filesystem, ids, limits" {
	want "$FT/default.out" socket.AF_X25 EAFNOSUPPORT socket.AF_APPLETALK EAFNOSUPPORT \
		socket.AF_KEY EAFNOSUPPORT socket.AF_INET_STREAM OK socket.AF_UNIX OK \
		socket.AF_NETLINK_ROUTE OK socket.AF_NETLINK_AUDIT EINVAL socket.AF_PACKET_RAW EPERM \
		socket.AF_INET_DGRAM_ICMP OK socket.AF_INET_RAW_ICMP EPERM
	want "$FT/default.out" fs.stat./proc/keys "c 1:3" fs.read./proc/keys "OK 0" \
		fs.read./proc/timer_list "OK 0" fs.stat./dev/null "c 1:3" \
		fs.count./proc/acpi 0 fs.count./sys/firmware 0 \
		fs.write./proc/sys/kernel/hostname EACCES fs.remount_sys_rw EPERM \
		fs.mount_tmpfs_mnt EPERM fs.mknod_c_1_3 EPERM fs.create./probe-x OK fs.umask 0022 \
		fs.dev "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero" \
		fs.mount./proc "proc rw,nosuid,nodev,noexec" fs.mount./sys "sysfs ro,nosuid,nodev,noexec" \
		fs.mount./dev "tmpfs rw,nosuid,noexec" fs.mount./dev/pts "devpts rw,nosuid,noexec" \
		fs.mount./dev/shm "tmpfs rw,nosuid,nodev,noexec"
	want "$FT/default.out" ids.uid 0 ids.gid 0 ids.groups none \
		ids.uid_map "0 $TU_UID 1, 1 ${TU_RANGE/:/ }" ids.gid_map "0 $TU_GID 1, 1 ${TU_RANGE/:/ }" \
		limits.nofile "20000 20000" limits.nproc "32768 32768"
	run run_podman "$POD" --user 1000 -- probe ids /owned1000 /home/tuser /usr/bin/probe-suid
	assert_status 0
	assert_line_match '^ids\.uid: 1000$'
	assert_line_match '^ids\.gid: 1000$'
	assert_line_match '^ids\.groups: 1000 2000$'
	assert_line_match '^stat\./owned1000: 1000:1000 0640$'
	assert_line_match '^stat\./home/tuser: 1000:1000 0755$'
	assert_line_match '^stat\./usr/bin/probe-suid: 0:0 4755$'
	run run_podman "$POD" --user 1000 -- probe-suid ids
	assert_line_match '^ids\.euid: 0$'
	run run_podman "$POD" --user 1000 --security-opt no-new-privileges -- probe-suid ids
	assert_line_match '^ids\.euid: 1000$'
	run run_podman "$POD" -- probe fds
	assert_eq "$output" "fds: 0 1 2"
}

@test "podman: exit status and signals of the probe as PID 1" {
	run run_podman "$POD" -- probe exit 7
	assert_status 7
	run run_podman "$POD" -- probe kill SEGV
	assert_status 139
	# init of a PID namespace ignores its own default-action signals
	run --separate-stderr run_podman "$POD" -- probe kill TERM
	assert_status 99
	assert_contains "$stderr" "probe: still alive after signal 15 (pid 1)"
}

@test "seccomp_tool: podman's filter read back has no socket-family rule" {
	[ "$(id -u)" -eq 0 ] || skip "dump needs root"
	local tool="$IMGTRUST_BUILD/tests/seccomp_tool" tag="$RANDOM$RANDOM" pid="" i
	[ -x "$tool" ] || fail "seccomp_tool not built in $IMGTRUST_BUILD"
	run_podman "$POD" -- probe sleep "$tag" >"$BATS_TEST_TMPDIR/sleep.out" 2>&1 &
	for i in $(seq 100); do
		pid=$(pgrep -x -f "probe sleep $tag") && break
		sleep 0.2
	done
	[ -n "$pid" ] || fail "the container's probe did not start"
	run "$tool" dump "$pid" "$BATS_TEST_TMPDIR/podman.bpf"
	kill -TERM "$pid"
	wait
	assert_status 0
	assert_eq "${lines[1]}" "filters: 1"
	assert_eq "$(cat "$BATS_TEST_TMPDIR/sleep.out")" "caught: SIGTERM"
	local f="$BATS_TEST_TMPDIR/podman.bpf"
	ev() {
		run "$tool" eval "$f" "$@"
		assert_status 0
	}
	ev i386 socket 9
	assert_eq "$output" ALLOW "podman i386 socket(AF_X25)"
	ev x86_64 socket 9
	assert_eq "$output" ALLOW "podman x86_64 socket(AF_X25)"
	ev i386 102 1
	assert_eq "$output" ALLOW "podman i386 socketcall"
	ev i386 socket 16 3 9
	assert_eq "$output" "ERRNO EINVAL" "podman NETLINK_AUDIT"
	ev i386 kexec_load
	assert_eq "$output" "ERRNO EPERM"
	ev x32 io_uring_setup
	assert_eq "$output" "ERRNO ENOSYS"
	ev x86_64 personality 0x40000
	assert_eq "$output" "ERRNO ENOSYS"
}

@test "run_diff_outputs: changed, added and removed keys; status" {
	run run_diff_outputs "a: 1
b: x y
c: 3" "a: 1
b: x z
d: 4"
	assert_status 1
	assert_eq "$output" "b: x y | x z
c: 3 | (absent)
d: (absent) | 4"
	printf 'k: v\nj: w\n' >"$BATS_TEST_TMPDIR/f1"
	run run_diff_outputs "$BATS_TEST_TMPDIR/f1" "j: w
k: v"
	assert_status 0
	assert_eq "$output" ""
}
