#!/usr/bin/env bats
# `imgrun` run by root: container root is never host root. Each container gets a 65536-ID range
# of its own from the "containers" entry of /etc/subuid and /etc/subgid (as podman
# --userns=auto), held while it runs; the stored layers are shifted into it by idmapped mounts,
# never chowned or copied. --userns host opts out, with a warning.
#
#   situation                                   expected
#   default                                     uid_map "0 SLOT 65536" with SLOT in the entry;
#                                               a file of uid 1000 shows 1000:1000 inside;
#                                               writes land as SLOT and SLOT+1000 in upper/;
#                                               every layer file's owner/mode/mtime unchanged
#   two containers at once                      two different slots; records gone after exit
#   --userns host                               identity map, default caps, the warning line
#   hardening as for users                      caps, NoNewPrivs 1, Seccomp 2, masks

load ../lib/common
load ../lib/services
load ../lib/users
load ../lib/push
load ../lib/run

setup_file() {
	need_imgtrust
	for c in docker-registry skopeo python3; do
		need_cmd "$c" || return 1
	done
	need_cmd cc gcc || return 1
	[ "$(id -u)" -eq 0 ] || skip "root's containers need root"
	containers_range_setup || return 1
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	export IMGPULL="$IMGTRUST_BUILD/imgpull" IMGRUN="$IMGTRUST_BUILD/imgrun"
	run_probe_build "$FT/bin" || return 1
	run_image_layout "$FT/layout" test >/dev/null || return 1
	start_registry >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$FT/policy.json"
	skopeo copy -q --dest-tls-verify=false "oci:$FT/layout:test" "docker://$REGISTRY/run/probe:1" ||
		fail "skopeo copy of the test image failed" || return 1
	export STORE="$FT/store" IMG="$REGISTRY/run/probe:1"
	"$IMGPULL" -q --root "$STORE" --policy "$FT/policy.json" --tls-verify=false \
		"docker://$REGISTRY/run/probe:1" >"$FT/pull.out" 2>&1 ||
		fail "imgpull failed" "$(cat "$FT/pull.out")" || return 1
}

teardown_file() {
	stop_services
}

# held_by PID: the slot records (under /run/imgtrust/userns) that name PID.
held_by() {
	local f
	for f in /run/imgtrust/userns/*; do
		[ "${f##*/}" = lock ] && continue
		[ "$(cut -d' ' -f1 "$f" 2>/dev/null)" = "$1" ] && echo "${f##*/}"
	done
	return 0
}

layers_state() {
	(cd "$STORE/layers" && find . -printf '%p %y %U:%G %m %T@\n' | LC_ALL=C sort)
}

@test "root's container: a range of its own, layers idmapped, never chowned" {
	layers_state >"$BATS_TEST_TMPDIR/before"
	run --separate-stderr "$IMGRUN" --root "$STORE" "$IMG" sh -c \
		'probe ids /owned1000 /usr/bin/probe-suid; probe status; touch /by-root; touch /by-1000; chown 1000:1000 /by-1000'
	assert_status 0
	assert_eq "$stderr" ""
	local map slot
	map=$(printf '%s\n' "$output" | sed -n 's/^ids.uid_map: //p')
	[[ "$map" =~ ^0\ ([0-9]+)\ 65536$ ]] || fail "uid_map is not one 65536-ID range: $map"
	slot=${BASH_REMATCH[1]}
	[ "$slot" -ge "$CT_START" ] || fail "slot $slot is below the containers entry ($CT_START)"
	[ $(((slot - CT_START) % 65536)) -eq 0 ] || fail "slot $slot is not on a 65536 boundary"
	assert_eq "$(printf '%s\n' "$output" | sed -n 's/^ids.gid_map: //p')" "0 $slot 65536"
	assert_contains "$output" "stat./owned1000: 1000:1000 0640"
	assert_contains "$output" "stat./usr/bin/probe-suid: 0:0 4755"
	assert_contains "$output" "CapEff: 00000000800405fb"
	assert_contains "$output" "NoNewPrivs: 1"
	assert_contains "$output" "Seccomp: 2"
	local c
	c=$(cd "$STORE/containers" && ls -d */upper/by-root | cut -d/ -f1)
	assert_eq "$(stat -c %u:%g "$STORE/containers/$c/upper/by-root")" "$slot:$slot"
	assert_eq "$(stat -c %u:%g "$STORE/containers/$c/upper/by-1000")" "$((slot + 1000)):$((slot + 1000))"
	jq -e --argjson s "$slot" '."uid-start" == $s and ."uid-count" == 65536' \
		"$STORE/containers/$c/container.json" >/dev/null ||
		fail "container.json" "$(cat "$STORE/containers/$c/container.json")"
	layers_state >"$BATS_TEST_TMPDIR/after"
	assert_same_file "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/after")" " 1000:1000 640 "
}

@test "two containers at once get different ranges, released after" {
	"$IMGRUN" --root "$STORE" --rm "$IMG" sh -c 'cat /proc/self/uid_map; sleep 2' >"$BATS_TEST_TMPDIR/a" 2>&1 &
	local a=$!
	local i
	for i in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/a" ] && break
		sleep 0.05
	done
	local held
	held=$(held_by "$a")
	[ -n "$held" ] || fail "no slot record names the running imgrun $a" "$(head /run/imgtrust/userns/*)"
	run "$IMGRUN" --root "$STORE" --rm "$IMG" cat /proc/self/uid_map
	assert_status 0
	wait "$a"
	local ma mb
	ma=$(awk '{print $2}' "$BATS_TEST_TMPDIR/a")
	mb=$(printf '%s\n' "$output" | awk '{print $2}')
	[ -n "$ma" ] && [ -n "$mb" ] && [ "$ma" != "$mb" ] || fail "ranges: '$ma' and '$mb'"
	[ $((ma > mb ? ma - mb : mb - ma)) -ge 65536 ] || fail "ranges overlap: $ma $mb"
	assert_eq "$(held_by "$a")" "" "a slot record of $a after it exited"
}

@test "--userns host: no user namespace, and imgrun says what that gives up" {
	run --separate-stderr "$IMGRUN" --root "$STORE" --rm --userns host "$IMG" sh -c 'cat /proc/self/uid_map; probe status'
	assert_status 0
	assert_eq "$stderr" "imgrun: warning: --userns host: no user namespace; container root is host root, its capabilities are real, and files it writes are root's"
	assert_eq "$(printf '%s\n' "$output" | head -n 1 | tr -s ' ')" " 0 0 4294967295"
	assert_contains "$output" "CapEff: 00000000800405fb"
	assert_contains "$output" "Seccomp: 2"
}
