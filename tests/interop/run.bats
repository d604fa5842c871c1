#!/usr/bin/env bats
# `imgrun` rootless, as the non-root test user with a subordinate range: the test image
# (busybox-static + the static probe, tests/lib/run.bash) pushed to docker-registry on loopback,
# pulled with imgpull into the user's store, and run with the probe reporting from inside.
#
#   situation                                   expected (probe keys, exit codes, host files)
#   default                                     CapInh 0, CapPrm/Eff/Bnd 00000000800405fb,
#                                               CapAmb 0, NoNewPrivs 1, Seccomp 2, 1 filter
#   no-new-privileges=false / cap-drop all /    NoNewPrivs 0 (filter still loaded) / all five 0
#   cap-add NET_RAW / --user 1000 [+cap-add]    / exactly bit 13 more / podman's non-root sets
#   classic block list, unlisted calls          EPERM for each, ENOSYS for io_uring_setup,
#                                               add_key, personality(0x40000); unconfined differs
#   socket families                             X25, APPLETALK, KEY, AX25, IPX: EAFNOSUPPORT;
#                                               INET, INET6, UNIX, NETLINK: OK; audit: EINVAL
#   the filter the container holds, read back   i386: socket(AF_X25) EAFNOSUPPORT,
#   (as root, seccomp_tool dump + eval)         socket(AF_INET) ALLOW, socketcall EPERM
#   seccomp:deny:getcwd / :allow:sysfs /        getcwd EPERM / sysfs OK / only what is allowed
#   :deny:all / =unconfined / =PROFILE.json     back runs / Seccomp 0 / the profile's answers
#   /proc/keys, /proc/sys, /sys, unmask, mask    /dev/null bind (c 1:3, empty), EROFS, EPERM;
#                                               unmask=/proc/keys: the real file; mask hides
#   uid_map, a file owned by 1000, --read-only  "0 UID 1, 1 START 65536"; 1000:1000 inside;
#                                               / EROFS, /tmp /run /var/tmp writable
#   /dev, fds, limits, umask, hostname, network exactly crun's nodes + links; 0 1 2; nofile =
#                                               imgrun's hard limit, nproc that at most 32768
#                                               (podman's); 0022; lo only
#   exit codes, signals, --init                 7, 139, 143 forwarded, 127/126 with a message
#   --secret                                    content inside, read-only, nowhere in the store
#   --rm / kept                                 container dir gone / container.json kept
#   image with /dev, /proc, /etc/hosts symlinks exit 125 naming the path; nothing outside
#   -t / -i                                     a pty on 0/1/2, /dev/console present / stdin
#                                               passed (else /dev/null)
#   --privileged                                every cap of the bounding set, Seccomp 0, no
#                                               masks, /sys rw; still NoNewPrivs 1, the userns,
#                                               the fresh /dev
#   -e, -w, --entrypoint, --user NAME:GROUP     as podman; unknown user, relative -w: 125
#   the compiled filter cached in the store     an entry per bounding set; a damaged or
#                                               truncated entry rebuilt, never loaded

load ../lib/common
load ../lib/services
load ../lib/users
load ../lib/push
load ../lib/run
load ../lib/pull

setup_file() {
	need_cmd script bsdutils || return 1
	run_suite_setup || return 1
	export TU_START=${TU_RANGE%%:*}
	export SECCOMP_TOOL="$IMGTRUST_BUILD/tests/seccomp_tool"
	pr_tools_init "$FT/tools"
	make_hostile || return 1
}

teardown_file() {
	stop_services
}

# Hostile images: one layer each, pulled like the test image. The command given on the command
# line is never reached.
make_hostile() {
	local n spec
	for n in dev proc hosts; do
		case $n in
		dev) spec='{"n": "dev", "t": "l", "l": "/tmp/outside"}' ;;
		proc) spec='{"n": "proc", "t": "l", "l": "/"}' ;;
		hosts) spec='{"n": "etc/", "t": "d"}, {"n": "etc/hosts", "t": "l", "l": "'"$FT"'/sentinel/hosts"}' ;;
		esac
		printf '{"layers": [{"entries": [{"n": "tmp/", "t": "d", "m": "1777"}, %s]}]}' "$spec" >"$FT/h-$n.json"
		pr_image "$FT/h-$n" v1 "$FT/h-$n.json" >/dev/null || return 1
		skopeo copy -q --dest-tls-verify=false "oci:$FT/h-$n:v1" "docker://$REGISTRY/run/hostile-$n:1" ||
			fail "skopeo copy hostile-$n" || return 1
		as_test_user "$U" "$IMGPULL" -q --policy "$POL_OPEN" --tls-verify=false \
			"docker://$REGISTRY/run/hostile-$n:1" >/dev/null 2>"$FT/h-$n.err" ||
			fail "imgpull hostile-$n" "$(cat "$FT/h-$n.err")" || return 1
	done
	mkdir -p "$FT/sentinel"
	chmod 777 "$FT/sentinel"
}

# irun ARGS...: imgrun as the test user; sets status, output (stdout), stderr.
irun() {
	run --separate-stderr as_test_user "$U" timeout 60 "$IMGRUN" "$@"
}

# wait_started SECONDS: wait until the container of the (one) imgrun running `probe sleep
# SECONDS` runs its command (holds the seccomp filter and sleeps); prints the container's PID.
wait_started() {
	local i ip cp
	for i in $(seq 200); do
		ip=$(pgrep -n -f -x "$IMGRUN .* probe sleep $1")
		cp=${ip:+$(pgrep -P "$ip" | head -n 1)}
		if [ -n "$cp" ] && grep -q '^Seccomp:.*2' "/proc/$cp/status" 2>/dev/null &&
			grep -q '^State:.*S' "/proc/$cp/status" 2>/dev/null; then
			printf '%s\n' "$cp"
			return 0
		fi
		sleep 0.05
	done
	fail "no container running probe sleep $1" "$(ps -eo pid,ppid,stat,cmd | grep -E 'imgrun|probe' | grep -v grep)"
}

# want KEY VALUE...: each KEY has VALUE in $output (probe lines "KEY: VALUE").
want() {
	while [ $# -gt 0 ]; do
		assert_eq "$(printf '%s\n' "$output" | grep -F -- "$1: " | grep "^$1: " | head -n 1 | cut -d' ' -f2-)" "$2" "$1"
		shift 2
	done
}

@test "default: podman's 11 capabilities, no_new_privs, one seccomp filter" {
	irun --rm "$IMG" probe status
	assert_status 0
	want CapInh 0000000000000000 CapPrm 00000000800405fb CapEff 00000000800405fb \
		CapBnd 00000000800405fb CapAmb 0000000000000000 NoNewPrivs 1 Seccomp 2 Seccomp_filters 1
	assert_eq "$stderr" ""
}

@test "no-new-privileges=false: the filter is still loaded (before the capabilities drop)" {
	irun --rm --security-opt no-new-privileges=false "$IMG" probe status
	assert_status 0
	want NoNewPrivs 0 Seccomp 2 Seccomp_filters 1 CapEff 00000000800405fb
}

@test "--cap-drop all empties every set; --cap-add NET_RAW adds exactly bit 13" {
	irun --rm --cap-drop all "$IMG" probe status
	assert_status 0
	want CapInh 0000000000000000 CapPrm 0000000000000000 CapEff 0000000000000000 \
		CapBnd 0000000000000000 CapAmb 0000000000000000
	irun --rm --cap-add NET_RAW "$IMG" probe status
	assert_status 0
	want CapPrm 00000000800425fb CapEff 00000000800425fb CapBnd 00000000800425fb CapInh 0000000000000000
	irun --rm --cap-add net_raw "$IMG" probe sockets
	assert_status 0
	want socket.AF_PACKET_RAW OK
	irun --rm "$IMG" probe sockets
	want socket.AF_PACKET_RAW EAFNOSUPPORT
}

@test "--user 1000: podman's non-root sets; the image's groups; a setuid binary gains nothing" {
	irun --rm --user 1000 "$IMG" probe status
	assert_status 0
	want CapEff 0000000000000000 CapPrm 0000000000000000 CapBnd 00000000800405fb
	irun --rm --user 1000 --cap-add NET_BIND_SERVICE "$IMG" probe status
	want CapInh 0000000000000400 CapPrm 0000000000000400 CapEff 0000000000000400 CapAmb 0000000000000400
	irun --rm --user tuser "$IMG" probe ids
	want ids.uid 1000 ids.gid 1000 ids.groups "1000 2000"
	irun --rm --user 1000 "$IMG" probe-suid ids
	want ids.euid 1000
	irun --rm --user 1000 --security-opt no-new-privileges=false "$IMG" probe-suid ids
	want ids.euid 0
}

@test "seccomp: the classic block list gets EPERM, unlisted calls ENOSYS, unconfined differs" {
	irun --rm "$IMG" probe syscalls
	assert_status 0
	local d="$output"
	for s in kexec_load init_module finit_module delete_module open_by_handle_at iopl ioperm \
		swapon swapoff sysfs kcmp perf_event_open userfaultfd move_pages vmsplice bpf quotactl \
		acct settimeofday clock_settime lookup_dcookie fanotify_init; do
		want "syscall.$s" EPERM
	done
	want syscall.io_uring_setup ENOSYS syscall.add_key ENOSYS syscall.request_key ENOSYS \
		syscall.personality_0x40000 ENOSYS syscall.personality_0xffffffff OK syscall.setns EBADF
	irun --rm --security-opt seccomp=unconfined "$IMG" probe syscalls
	assert_status 0
	# unconfined, the kernel answers: these succeed or fail differently
	want syscall.sysfs OK syscall.kcmp OK syscall.io_uring_setup EFAULT syscall.add_key OK
	# exactly the calls the filter decides differ (the same list as podman's, run_tools.bats);
	# the others of the block list the kernel refuses alike (no CAP_SYS_TIME, SYS_ADMIN... in
	# the host's namespace) or allows alike
	local u=$output
	run run_diff_outputs "$d" "$u"
	assert_status 1
	assert_eq "$output" "$RUN_UNCONFINED_DIFF"
	irun --rm --security-opt seccomp=unconfined "$IMG" probe status
	want Seccomp 0 Seccomp_filters 0
	# the capability-gated rule switches with the capability
	irun --rm --cap-add SYS_PTRACE "$IMG" probe syscalls
	want syscall.kcmp OK
}

@test "socket families: only UNIX, INET, INET6, NETLINK (and PACKET with NET_RAW)" {
	irun --rm "$IMG" probe sockets
	assert_status 0
	want socket.AF_X25 EAFNOSUPPORT socket.AF_APPLETALK EAFNOSUPPORT socket.AF_KEY EAFNOSUPPORT \
		socket.AF_AX25 EAFNOSUPPORT socket.AF_IPX EAFNOSUPPORT socket.AF_ALG EAFNOSUPPORT \
		socket.AF_VSOCK EAFNOSUPPORT socket.AF_INET_STREAM OK socket.AF_INET_DGRAM OK \
		socket.AF_INET6 OK socket.AF_UNIX OK socket.AF_NETLINK_ROUTE OK \
		socket.AF_NETLINK_AUDIT EINVAL socket.AF_INET_DGRAM_ICMP OK socket.AF_INET_RAW_ICMP EPERM
}

@test "the filter the container holds, read back, refuses the families on i386 and socketcall" {
	[ "$(id -u)" -eq 0 ] || skip "reading another process's filter needs root"
	[ -x "$SECCOMP_TOOL" ] || fail "seccomp_tool not built"
	as_test_user "$U" "$IMGRUN" --rm "$IMG" probe sleep 31 >"$BATS_TEST_TMPDIR/sleep.out" 2>&1 &
	local ip=$! cp
	cp=$(wait_started 31) || return 1
	run "$SECCOMP_TOOL" dump "$cp" "$BATS_TEST_TMPDIR/f.bpf"
	kill -TERM "$(ps -o ppid= -p "$cp")"
	wait "$ip" || true
	assert_status 0
	ev() { "$SECCOMP_TOOL" eval "$BATS_TEST_TMPDIR/f.bpf" "$@"; }
	assert_eq "$(ev i386 359 9 1 0)" "ERRNO EAFNOSUPPORT" "i386 socket(AF_X25)"
	assert_eq "$(ev i386 359 5 2 0)" "ERRNO EAFNOSUPPORT" "i386 socket(AF_APPLETALK)"
	assert_eq "$(ev i386 359 2 1 0)" "ALLOW" "i386 socket(AF_INET)"
	assert_eq "$(ev i386 359 1 1 0)" "ALLOW" "i386 socket(AF_UNIX)"
	assert_eq "$(ev i386 102 1 0)" "ERRNO EPERM" "i386 socketcall(SYS_SOCKET)"
	assert_eq "$(ev x86_64 41 9 1 0)" "ERRNO EAFNOSUPPORT" "x86_64 socket(AF_X25)"
	assert_eq "$(ev x86_64 41 16 3 9)" "ERRNO EINVAL" "x86_64 socket(AF_NETLINK, NETLINK_AUDIT)"
	assert_eq "$(ev i386 283)" "ERRNO EPERM" "i386 kexec_load"
	assert_eq "$(ev x32 $((0x40000000 + 139)))" "ERRNO EPERM" "x32 sysfs"
}

@test "seccomp knobs: deny:NAME, allow:NAME, deny:all, a JSON profile" {
	irun --rm --security-opt seccomp:deny:getcwd "$IMG" probe syscalls
	assert_status 0
	want syscall.getcwd EPERM syscall.sysfs EPERM
	irun --rm --security-opt seccomp:allow:sysfs "$IMG" probe syscalls
	want syscall.sysfs OK syscall.getcwd OK syscall.kcmp EPERM
	# deny:all: only what is allowed back runs (execve and exit are kept to hand over and end)
	irun --rm --security-opt seccomp:deny:all "$IMG" probe exit 0
	[ "$status" -ne 0 ] || fail "a static binary ran without brk or arch_prctl"
	local a=()
	for s in brk arch_prctl mprotect readlink set_tid_address set_robust_list prlimit64 getrandom rseq; do
		a+=(--security-opt "seccomp:allow:$s")
	done
	irun --rm --security-opt seccomp:deny:all "${a[@]}" "$IMG" probe exit 0
	assert_status 0
	# podman's own JSON profile gives the same answers (no family filter: AF_X25 is the kernel's)
	[ -f /usr/share/containers/seccomp.json ] || skip "containers-common's seccomp.json missing"
	irun --rm --security-opt seccomp=/usr/share/containers/seccomp.json "$IMG" probe syscalls
	assert_status 0
	want syscall.kexec_load EPERM syscall.io_uring_setup ENOSYS syscall.sysfs EPERM
	printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_BOGUS"}]}' >"$BATS_TEST_TMPDIR/bad.json"
	chmod 644 "$BATS_TEST_TMPDIR/bad.json"
	chmod o+x "$BATS_TEST_TMPDIR"
	irun --rm --security-opt "seccomp=$BATS_TEST_TMPDIR/bad.json" "$IMG" probe exit 0
	assert_status 125
	assert_eq "$stderr" "imgrun: --security-opt seccomp=$BATS_TEST_TMPDIR/bad.json: seccomp profile: syscalls[0].action: unknown action \"SCMP_ACT_BOGUS\""
}

@test "masked and read-only paths; /sys read-only; unmask and mask" {
	irun --rm "$IMG" probe fs
	assert_status 0
	want fs.read./proc/keys "OK 0" fs.stat./proc/keys "c 1:3" fs.read./proc/timer_list "OK 0" \
		fs.write./proc/sys/kernel/hostname EACCES fs.write./proc/sys/kernel/domainname EACCES \
		fs.remount_sys_rw EPERM fs.mount_tmpfs_mnt EPERM fs.mknod_c_1_3 EPERM \
		fs.count./proc/acpi 0 fs.count./sys/firmware 0 \
		fs.mount./proc "proc rw,nosuid,nodev,noexec" fs.mount./sys "sysfs ro,nosuid,nodev,noexec" \
		fs.mount./dev "tmpfs rw,nosuid,noexec" fs.mount./dev/shm "tmpfs rw,nosuid,nodev,noexec" \
		fs.mount./dev/pts "devpts rw,nosuid,noexec" fs.mount./dev/mqueue "mqueue rw,nosuid,nodev,noexec" \
		fs.umask 0022
	# EACCES comes first (the files belong to the host's root); the mount is read-only too
	irun --rm "$IMG" grep -E ' /proc/sys | /sys ' /proc/self/mountinfo
	assert_line_match ' /proc/sys ro,'
	assert_line_match ' /sys ro,'
	irun --rm --security-opt unmask=/proc/keys "$IMG" probe fs
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep '^fs.stat./proc/keys: ')" != "fs.stat./proc/keys: c 1:3" ] ||
		fail "/proc/keys still masked" "$output"
	want fs.read./proc/timer_list "OK 0"
	irun --rm --security-opt unmask=ALL "$IMG" sh -c 'grep -c " /proc/sys " /proc/self/mountinfo; stat -c %F /proc/interrupts'
	assert_eq "$output" $'0\nregular empty file' "unmask=ALL: /proc/sys not bound, /proc/interrupts the real file"
	irun --rm --security-opt mask=/owned1000:/etc "$IMG" sh -c 'wc -c </owned1000; ls -A /etc | wc -l; stat -c %t:%T /owned1000'
	assert_status 0
	assert_eq "$output" $'0\n0\n1:3'
	irun --rm --security-opt mask=relative "$IMG" true
	assert_status 125
	assert_eq "$stderr" 'imgrun: --security-opt mask=relative: "relative" is not an absolute path'
}

@test "IDs: podman's mapping; a file of uid 1000 is 1000 inside; files written land in the range" {
	irun "$IMG" sh -c 'probe ids /owned1000 /; touch /made-by-root; mkdir /d; touch /d/f; chown 1000:1000 /d/f'
	assert_status 0
	want ids.uid_map "0 $TU_UID 1, 1 $TU_START 65536" ids.gid_map "0 $TU_GID 1, 1 $TU_START 65536" \
		ids.setgroups allow ids.uid 0 ids.gid 0 stat./owned1000 "1000:1000 0640"
	local c
	c=$(cd "$STORE/containers" && ls -d */upper/made-by-root | cut -d/ -f1)
	[ -n "$c" ] || fail "no container directory kept"
	assert_eq "$(stat -c %u:%g "$STORE/containers/$c/upper/made-by-root")" "$TU_UID:$TU_GID"
	assert_eq "$(stat -c %u:%g "$STORE/containers/$c/upper/d/f")" "$((TU_START + 999)):$((TU_START + 999))"
	jq -e --arg c "$c" '.id == $c and (.pid | type) == "number"' "$STORE/containers/$c/container.json" >/dev/null ||
		fail "container.json" "$(cat "$STORE/containers/$c/container.json")"
	# the stored layer is untouched by the container's writes
	run find "$STORE/layers" -name made-by-root
	assert_eq "$output" ""
}

@test "--rm removes the container's directory, even with files of other IDs in it" {
	local before
	before=$(ls "$STORE/containers" 2>/dev/null | wc -l)
	irun --rm "$IMG" sh -c 'mkdir /d && touch /d/f && chown -R 1000:1000 /d'
	assert_status 0
	assert_eq "$(ls "$STORE/containers" 2>/dev/null | wc -l)" "$before"
}

@test "--read-only: / refuses writes, /tmp /run /var/tmp are writable tmpfs" {
	irun --rm --read-only "$IMG" probe fs
	assert_status 0
	want fs.create./probe-x EROFS fs.create./tmp/probe-x OK fs.create./run/probe-x OK \
		fs.create./var/tmp/probe-x OK
	irun --rm --read-only "$IMG" grep -E ' /(tmp|run|var/tmp) ' /proc/self/mountinfo
	assert_eq "$(printf '%s\n' "$output" | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - \([^ ]*\) .*/\1 \2/' | sort | tr '\n' ' ')" "/run tmpfs /tmp tmpfs /var/tmp tmpfs "
}

@test "/dev, fds, limits, hostname, /etc/hosts, network" {
	irun --rm --hostname box1 "$IMG" probe all
	assert_status 0
	want fs.dev "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero" \
		fs.stat./dev/null "c 1:3" ids.hostname box1 \
		limits.nofile "$(as_test_user "$U" sh -c 'ulimit -Hn; ulimit -Hn' | tr '\n' ' ' | sed 's/ $//')" \
		limits.nproc "$(as_test_user "$U" bash -c 'h=$(ulimit -Hu); [ "$h" = unlimited ] || [ "$h" -gt 32768 ] && h=32768; echo "$h $h"')"
	irun --rm "$IMG" probe fds
	assert_eq "$output" "fds: 0 1 2"
	irun --rm "$IMG" sh -c 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts; ls /sys/class/net; cat /sys/class/net/lo/operstate; cat /proc/sys/net/ipv4/ping_group_range'
	assert_status 0
	local h=${output%%$'\n'*}
	[[ "$h" =~ ^[0-9a-f]{12}$ ]] || fail "hostname is not 12 hex digits: $h"
	assert_eq "$output" "$h"$'\n'"$h"$'\n2\nlo\nunknown\n0\t0'
	irun --rm --network host "$IMG" ls /sys/class/net
	assert_eq "$output" "$(ls /sys/class/net)"
}

@test "--pid host shares the host's processes; default: the command is PID 1 and alone" {
	# the shell's own glob: no other process is involved
	irun --rm "$IMG" sh -c 'echo $$; echo /proc/[0-9]*'
	assert_eq "$output" $'1\n/proc/1'
	irun --rm --pid host "$IMG" sh -c 'set -- /proc/[0-9]*; echo $#'
	[ "$output" -gt 5 ] || fail "--pid host: only $output processes visible"
	# imgrun itself (same user) is not dumpable: its descriptors and root stay out of reach
	irun --rm --pid host "$IMG" sh -c 'p=$(cat /proc/$$/stat | cut -d" " -f4); while [ "$p" -gt 1 ]; do
		case "$(tr "\0" " " </proc/$p/cmdline)" in *imgrun*) ls /proc/$p/fd /proc/$p/root/ 2>&1; exit;; esac
		p=$(cut -d" " -f4 /proc/$p/stat); done; echo "no imgrun above $$"'
	assert_line_match "^ls: can't open '/proc/[0-9]+/fd': Permission denied$"
	assert_line_match "^ls: /proc/[0-9]+/root/: Permission denied$"
}

@test "exit codes and signals" {
	irun --rm "$IMG" probe exit 7
	assert_status 7
	irun --rm "$IMG" probe kill SEGV
	assert_status 139
	irun --rm "$IMG" /no/such
	assert_status 127
	assert_eq "$stderr" "imgrun: /no/such: No such file or directory"
	irun --rm "$IMG" /etc/passwd
	assert_status 126
	assert_eq "$stderr" "imgrun: /etc/passwd: Permission denied"
	# a signal to imgrun reaches the command
	as_test_user "$U" "$IMGRUN" --rm "$IMG" probe sleep 32 >"$BATS_TEST_TMPDIR/s.out" 2>&1 &
	local p=$!
	local cp
	cp=$(wait_started 32) || fail "not started" "$cp"
	kill -TERM "$(ps -o ppid= -p "$cp")"
	local st=0
	wait "$p" || st=$?
	assert_eq "$st" 143 "exit status after SIGTERM"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/s.out")" "caught: SIGTERM"
	# --init: the command is not PID 1, so its own signal ends it; zombies are reaped
	irun --rm --init "$IMG" sh -c 'echo $$; (sleep 0.2 &); probe kill TERM'
	assert_status 143
	assert_eq "$output" "2"
	irun --rm --init "$IMG" sh -c 'sleep 0.1 & sleep 0.1 & wait; exit 3'
	assert_status 3
	# the init holds no descriptor the command could borrow through /proc/1
	irun --rm --init "$IMG" ls /proc/1/fd
	assert_eq "$stderr" "ls: can't open '/proc/1/fd': Permission denied"
}

@test "--secret: readable inside, read-only, never in the store" {
	mkdir -p "$U/config/imgtrust/secrets"
	printf 's3cr3t-%s\n' "$RANDOM$RANDOM" >"$U/config/imgtrust/secrets/token"
	chown -R "$TU_UID" "$U/config"
	local want_s
	want_s=$(cat "$U/config/imgtrust/secrets/token")
	irun --secret token "$IMG" sh -c 'cat /run/secrets/token; echo x >/run/secrets/token || echo refused'
	assert_status 0
	assert_eq "$output" "$want_s"$'\nrefused'
	run grep -rl "$want_s" "$STORE"
	assert_eq "$output" ""
	irun --rm --secret nope "$IMG" true
	assert_status 125
	assert_eq "$stderr" "imgrun: --secret nope: $U/config/imgtrust/secrets/nope: No such file or directory"
	irun --rm --secret ../x "$IMG" true
	assert_status 125
	assert_eq "$stderr" 'imgrun: --secret "../x": not a valid name'
}

@test "an image's symlinks never redirect the runtime's mounts" {
	local n
	for n in dev proc; do
		irun --rm "$REGISTRY/run/hostile-$n:1" /bin/true
		assert_status 125
		assert_eq "$stderr" "imgrun: mounting $( [ $n = dev ] && echo tmpfs || echo proc) on /$n: /$n: \"$n\" is a symlink in the image; refusing to follow it for a mount"
	done
	irun --rm "$REGISTRY/run/hostile-hosts:1" /bin/true
	assert_status 125
	assert_eq "$stderr" 'imgrun: bind-mounting /etc/hosts: /etc/hosts: "hosts" is a symlink in the image; refusing to follow it for a mount'
	assert_eq "$(ls -A "$FT/sentinel")" ""
	[ ! -e /tmp/outside ] || fail "/tmp/outside exists"
}

@test "-t: a terminal on 0, 1 and 2, and /dev/console" {
	run script -qec "setpriv --reuid=$TU_UID --regid=$TU_GID --init-groups env HOME=$U XDG_DATA_HOME=$U/data $IMGRUN --rm -t $IMG sh -c 'tty; tty <&1; ls /dev/console; exit 4'" /dev/null
	assert_status 4
	assert_eq "$(printf '%s' "$output" | tr -d '\r')" $'/dev/pts/0\n/dev/pts/0\n/dev/console'
}

@test "usage errors exit 125 with one line" {
	irun --rm
	assert_status 125
	assert_eq "$stderr" "imgrun: an IMAGE is required (see 'imgrun --help')"
	irun --rm --security-opt bogus "$IMG"
	assert_status 125
	assert_eq "$stderr" "imgrun: --security-opt \"bogus\": unknown option (see 'imgrun --help')"
	irun --rm --cap-add CAP_BOGUS "$IMG" true
	assert_status 125
	assert_contains "$stderr" "CAP_BOGUS"
	irun --rm no/such:image true
	assert_status 125
	assert_contains "$stderr" "no/such:image"
	irun --rm --userns host "$IMG" true
	assert_status 125
	assert_eq "$stderr" "imgrun: --userns host: only root can run a container without a user namespace (see 'imgrun --help')"
}

@test "resource limits that cannot be enforced are refused, never skipped" {
	for o in "--memory 64m" "--pids-limit 10" "--cpus 1" "--memory-swap=1g"; do
		# shellcheck disable=SC2086 # the option and its value are two words
		irun --rm $o "$IMG" true
		assert_status 125
		local name=${o%%[ =]*} value=${o#*[ =]}
		assert_eq "$stderr" "imgrun: $name $value: cannot be enforced: imgrun sets up no cgroups, so it has no way to apply resource limits; refusing to run without it"
	done
}

@test "imgstore ps lists containers; gc removes exited ones and waits for running ones" {
	as_test_user "$U" "$IMGTRUST_BUILD/imgstore" gc >/dev/null
	irun "$IMG" true
	assert_status 0
	as_test_user "$U" "$IMGRUN" --rm "$IMG" probe sleep 33 >/dev/null 2>&1 &
	local p=$! cp
	cp=$(wait_started 33) || fail "not started" "$cp"
	run as_test_user "$U" "$IMGTRUST_BUILD/imgstore" ps
	assert_status 0
	local img
	img=$(as_test_user "$U" "$IMGTRUST_BUILD/imgstore" inspect --json "$IMG" | jq -r '.[0].id // .id' | sed 's/^sha256://')
	assert_eq "${lines[0]}" "CONTAINER ID   IMAGE ID       STATUS"
	assert_eq "$(printf '%s\n' "${lines[@]:1}" | awk '{print $2, $3}' | sort | tr '\n' ' ')" "${img:0:12} exited ${img:0:12} running "
	# gc needs the exclusive store lock, which the running container's imgrun shares
	as_test_user "$U" "$IMGTRUST_BUILD/imgstore" gc >"$BATS_TEST_TMPDIR/gc.out" 2>&1 &
	local g=$!
	sleep 0.5
	kill -0 "$g" 2>/dev/null || fail "gc did not wait for the running container" "$(cat "$BATS_TEST_TMPDIR/gc.out")"
	kill -TERM "$(ps -o ppid= -p "$cp")"
	wait "$p" || true
	wait "$g"
	assert_eq "$(grep -c '^container [0-9a-f]\{64\}$' "$BATS_TEST_TMPDIR/gc.out")" 1 "gc output: $(cat "$BATS_TEST_TMPDIR/gc.out")"
	assert_eq "$(ls -A "$STORE/containers")" ""
}

@test "--privileged relaxes what its help says, and keeps the rest" {
	irun --rm --privileged "$IMG" sh -c 'grep " /sys " /proc/self/mountinfo; probe status; probe fs'
	assert_status 0
	# every capability up to cap_last_cap within the bounding set imgrun got (podman's rule;
	# a sandbox may hold fewer than all)
	local all
	all=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
	want CapEff "$all" CapPrm "$all" CapBnd "$all" Seccomp 0 NoNewPrivs 1
	[ "$(printf '%s\n' "$output" | grep '^fs.stat./proc/keys: ')" != "fs.stat./proc/keys: c 1:3" ] ||
		fail "/proc/keys still masked under --privileged"
	assert_line_match ' /sys rw,'
	# still in its user namespace, with a fresh /dev
	want fs.dev "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"
	irun --rm --privileged "$IMG" cat /proc/self/uid_map
	assert_eq "$(printf '%s\n' "$output" | tr -s ' ' | sed 's/^ //' | tr '\n' ',')" "0 $TU_UID 1,1 $TU_START 65536,"
}

@test "the image config and -e, -w, --entrypoint, --user name:group" {
	irun --rm -e FOO=bar -e PATH=/bin -w /tmp "$IMG" sh -c 'echo "$FOO $PATH $container"; pwd; echo $HOSTNAME | wc -c'
	assert_status 0
	assert_eq "$output" $'bar /bin imgtrust\n/tmp\n13'
	irun --rm --entrypoint '["/bin/echo","from-entrypoint"]' "$IMG" arg1
	assert_eq "$output" "from-entrypoint arg1"
	irun --rm --user tuser:extra "$IMG" sh -c 'id -u; id -g; echo $HOME'
	assert_eq "$output" $'1000\n2000\n/home/tuser'
	irun --rm --user nobody-here "$IMG" true
	assert_status 125
	assert_eq "$stderr" "imgrun: user \"nobody-here\": no such user in the image's /etc/passwd"
	irun --rm -w relative "$IMG" true
	assert_status 125
	assert_contains "$stderr" "relative"
}

@test "the compiled seccomp filter is cached in the store; a damaged entry is rebuilt, never loaded" {
	rm -rf "$STORE/cache/seccomp"
	irun --rm "$IMG" probe syscalls
	assert_status 0
	want syscall.kexec_load EPERM syscall.io_uring_setup ENOSYS
	local f
	f=$(ls "$STORE/cache/seccomp"/*.bpf)
	[ "$(printf '%s\n' "$f" | wc -l)" -eq 1 ] || fail "cache entries: $f"
	local good
	good=$(sha256sum <"$f")
	# turn one instruction's errno (EPERM, 1) into 0 and keep the length: an ALLOW in disguise
	python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.find(bytes([1,0,5,0])); assert i >= 0; b[i]=0; open(p,"wb").write(b)' "$f"
	irun --rm "$IMG" probe syscalls
	assert_status 0
	want syscall.kexec_load EPERM syscall.sysfs EPERM
	assert_eq "$(sha256sum <"$f")" "$good" "the damaged entry was not rebuilt"
	head -c 100 "$f" >"$f.t" && mv "$f.t" "$f"
	chown "$TU_UID:$TU_GID" "$f"
	irun --rm "$IMG" probe status
	want Seccomp 2 Seccomp_filters 1
	assert_eq "$(sha256sum <"$f")" "$good" "the truncated entry was not rebuilt"
	# another bounding set, another entry
	irun --rm --cap-add NET_RAW "$IMG" true
	assert_eq "$(ls "$STORE/cache/seccomp" | wc -l)" 2
}

@test "stdin reaches the command only with -i" {
	run bash -c "printf 'piped\n' | setpriv --reuid=$TU_UID --regid=$TU_GID --init-groups env HOME=$U XDG_DATA_HOME=$U/data $IMGRUN --rm -i $IMG cat"
	assert_status 0
	assert_eq "$output" "piped"
	run bash -c "printf 'piped\n' | setpriv --reuid=$TU_UID --regid=$TU_GID --init-groups env HOME=$U XDG_DATA_HOME=$U/data $IMGRUN --rm $IMG sh -c 'cat; readlink /proc/self/fd/0'"
	assert_status 0
	assert_eq "$output" "/dev/null"
}
