#!/usr/bin/env bats
# tests/helpers/seccomp_tool: the filter our library builds (podman 4.3.1's default plus the
# socket-family rule), loaded into a process by `seccomp_tool exec-default`, read back from the
# kernel with `dump` and evaluated per architecture with `eval`.
#
#   situation                                         expected
#   dump of a process under our default filter        "instructions: N" (N > 100), "filters: 1";
#                                                     the file is N * 8 bytes
#   eval x86_64 / x32 / i386 socket(AF_X25)           ERRNO EAFNOSUPPORT; AF_INET, AF_UNIX ALLOW
#   eval i386 socket (359) by number, AF_NETLINK      NETLINK_AUDIT ERRNO EINVAL, ROUTE ALLOW
#   eval i386 socketcall (102)                        ERRNO EPERM, whatever the call
#   eval kexec_load, sysfs on all three ABIs          ERRNO EPERM; io_uring_setup ERRNO ENOSYS
#   eval personality 0x40000 / 0xffffffff             ERRNO ENOSYS / ALLOW
#   exec-default with NET_RAW in the caps             AF_PACKET ALLOW (without: EAFNOSUPPORT)
#   dump as a non-root user / of a process without a  exit 2 or 3 with the reason, no file
#   filter / bad PID; eval of a truncated file,
#   unknown arch or syscall name

load ../lib/common

setup_file() {
	export TOOL="$IMGTRUST_BUILD/tests/seccomp_tool"
	[ -x "$TOOL" ] || fail "seccomp_tool not built: $TOOL" || return 1
	[ "$(id -u)" -eq 0 ] || skip "dump needs root"
	export FT="$BATS_FILE_TMPDIR"
	_dump_default "" "$FT/default.bpf" >"$FT/default.out" || return 1
	_dump_default 0x00000000800425fb "$FT/netraw.bpf" >"$FT/netraw.out" || return 1
}

# _dump_default CAPS FILE: a sleeping process under our default filter for CAPS, dumped to FILE.
_dump_default() {
	local pid rc=0
	"$TOOL" exec-default $1 -- sleep 60 &
	pid=$!
	# wait until the exec happened (the filter is loaded before exec)
	for _ in $(seq 50); do
		[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$(command -v sleep)")" ] && break
		sleep 0.1
	done
	"$TOOL" dump "$pid" "$2" || rc=$?
	kill "$pid"
	wait "$pid" || true
	return $rc
}

ev() {
	run "$TOOL" eval "$FT/default.bpf" "$@"
	assert_status 0
}

@test "dump: one filter of the size the kernel reports, as raw sock_filter" {
	run cat "$FT/default.out"
	[[ "${lines[0]}" =~ ^instructions:\ ([0-9]+)$ ]] || fail "first line: ${lines[0]}"
	local n=${BASH_REMATCH[1]}
	((n > 100)) || fail "only $n instructions"
	assert_eq "${lines[1]}" "filters: 1"
	assert_eq "$(stat -c %s "$FT/default.bpf")" "$((n * 8))" "file size"
}

@test "eval: socket family rule on x86_64, x32 and the direct i386 socket call" {
	local arch
	for arch in x86_64 x32 i386; do
		ev "$arch" socket 9
		assert_eq "$output" "ERRNO EAFNOSUPPORT" "$arch AF_X25"
		ev "$arch" socket 5
		assert_eq "$output" "ERRNO EAFNOSUPPORT" "$arch AF_APPLETALK"
		ev "$arch" socket 15
		assert_eq "$output" "ERRNO EAFNOSUPPORT" "$arch AF_KEY"
		ev "$arch" socket 17
		assert_eq "$output" "ERRNO EAFNOSUPPORT" "$arch AF_PACKET without NET_RAW"
		ev "$arch" socket 2 1 0
		assert_eq "$output" "ALLOW" "$arch AF_INET"
		ev "$arch" socket 1
		assert_eq "$output" "ALLOW" "$arch AF_UNIX"
		ev "$arch" socket 10
		assert_eq "$output" "ALLOW" "$arch AF_INET6"
		ev "$arch" socket 16 3 0
		assert_eq "$output" "ALLOW" "$arch NETLINK_ROUTE"
		ev "$arch" socket 16 3 9
		assert_eq "$output" "ERRNO EINVAL" "$arch NETLINK_AUDIT"
	done
	# by number: i386's socket is 359, x86_64's 41
	ev i386 359 9
	assert_eq "$output" "ERRNO EAFNOSUPPORT"
	ev i386 359 2
	assert_eq "$output" "ALLOW"
	ev x86_64 41 9
	assert_eq "$output" "ERRNO EAFNOSUPPORT"
	# the upper half of a 64-bit family does not slip past the rule
	ev x86_64 socket 0x100000002
	assert_eq "$output" "ERRNO EAFNOSUPPORT" "AF_INET + 2^32"
}

@test "eval: i386 socketcall (102) is refused whatever it multiplexes" {
	local call
	for call in 1 2 3 8 17; do
		ev i386 102 "$call" 0
		assert_eq "$output" "ERRNO EPERM" "socketcall($call)"
	done
	ev i386 socketcall 1
	assert_eq "$output" "ERRNO EPERM"
}

@test "eval: podman's explicit EPERM, ENOSYS default and arg-filtered personality" {
	local arch
	for arch in x86_64 x32 i386; do
		ev "$arch" kexec_load
		assert_eq "$output" "ERRNO EPERM" "$arch kexec_load"
		ev "$arch" sysfs 3
		assert_eq "$output" "ERRNO EPERM" "$arch sysfs"
		ev "$arch" io_uring_setup 1 0
		assert_eq "$output" "ERRNO ENOSYS" "$arch io_uring_setup"
		ev "$arch" add_key
		assert_eq "$output" "ERRNO ENOSYS" "$arch add_key"
		ev "$arch" getpid
		assert_eq "$output" "ALLOW" "$arch getpid"
		ev "$arch" personality 0xffffffff
		assert_eq "$output" "ALLOW" "$arch personality query"
		ev "$arch" personality 0x40000
		assert_eq "$output" "ERRNO ENOSYS" "$arch personality ADDR_NO_RANDOMIZE"
	done
	ev x86_64 kcmp
	assert_eq "$output" "ERRNO EPERM" "kcmp without SYS_PTRACE"
	ev x86_64 setns 0 0
	assert_eq "$output" "ALLOW" "setns (allowed despite the SYS_ADMIN EPERM rule)"
	ev i386 vm86
	assert_eq "$output" "ERRNO EPERM" "i386 vm86"
	ev x86_64 arch_prctl
	assert_eq "$output" "ALLOW" "arch_prctl"
	ev i386 arch_prctl
	assert_eq "$output" "ALLOW" "i386 arch_prctl (podman matches includes.arches against the host only)"
}

@test "eval: with CAP_NET_RAW in the caps, AF_PACKET is allowed on every ABI" {
	local arch
	run cat "$FT/netraw.out"
	assert_eq "${lines[1]}" "filters: 1"
	for arch in x86_64 x32 i386; do
		run "$TOOL" eval "$FT/netraw.bpf" "$arch" socket 17 3 0
		assert_status 0
		assert_eq "$output" "ALLOW" "$arch AF_PACKET"
		run "$TOOL" eval "$FT/netraw.bpf" "$arch" socket 9
		assert_eq "$output" "ERRNO EAFNOSUPPORT" "$arch AF_X25"
	done
	run "$TOOL" eval "$FT/netraw.bpf" i386 102 1
	assert_eq "$output" "ERRNO EPERM"
}

@test "dump: refusals name the reason and write nothing" {
	run --separate-stderr "$TOOL" dump $$ "$BATS_TEST_TMPDIR/none.bpf"
	assert_status 2
	assert_contains "$stderr" "process $$ has no seccomp filter"
	[ ! -e "$BATS_TEST_TMPDIR/none.bpf" ] || fail "file written"

	run --separate-stderr "$TOOL" dump 0 "$BATS_TEST_TMPDIR/x.bpf"
	assert_status 2
	assert_contains "$stderr" "PID out of range: 0"
	run --separate-stderr "$TOOL" dump 12x "$BATS_TEST_TMPDIR/x.bpf"
	assert_status 2
	assert_contains "$stderr" 'PID: not a number: "12x"'

	chmod 755 "$BATS_TEST_TMPDIR"
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$TOOL" dump $$ "$BATS_TEST_TMPDIR/x.bpf"
	assert_status 2
	assert_contains "$stderr" "dump: must run as root"
	[ ! -e "$BATS_TEST_TMPDIR/x.bpf" ] || fail "file written"
}

@test "eval: bad input is exit 2 with the reason" {
	head -c 12 "$FT/default.bpf" >"$BATS_TEST_TMPDIR/short.bpf"
	run --separate-stderr "$TOOL" eval "$BATS_TEST_TMPDIR/short.bpf" x86_64 1
	assert_status 2
	assert_contains "$stderr" "12 bytes is not a sock_filter array"
	run --separate-stderr "$TOOL" eval "$FT/default.bpf" arm 1
	assert_status 2
	assert_contains "$stderr" 'unknown architecture "arm"'
	run --separate-stderr "$TOOL" eval "$FT/default.bpf" i386 nosuchcall
	assert_status 2
	assert_contains "$stderr" 'unknown syscall "nosuchcall" on i386'
	run --separate-stderr "$TOOL" eval "$FT/default.bpf" x86_64 1 2 3 4 5 6 7 8
	assert_status 2
	assert_contains "$stderr" "usage:"
	# a jump out of the program is refused, not followed
	printf '\x05\x00\x00\x00\x10\x00\x00\x00' >"$BATS_TEST_TMPDIR/jump.bpf"
	run --separate-stderr "$TOOL" eval "$BATS_TEST_TMPDIR/jump.bpf" x86_64 1
	assert_status 2
	assert_contains "$stderr" "bpf: 0: jump out of range"
}
