#!/usr/bin/env bats
# `imgtrust set` / `imgtrust show` against the real `podman image trust set|show` (podman 4.3.1 on
# Debian 12): the same commands on copies of the same file must leave equal files (as JSON and as
# bytes), refuse the same bad requests, and print the same show output for the same files.

load ../lib/common

DIGEST=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

setup_file() {
	need_imgtrust
	need_cmd podman
	need_cmd jq
	need_cmd gpg
	export KEYDIR="$BATS_FILE_TMPDIR/keys"
	mkdir -p "$KEYDIR"
	make_key "$KEYDIR/alice" 'Alice Ops <ops@acme.test>' 'Alice Two <alice2@acme.test>' >/dev/null
	make_key "$KEYDIR/bob" 'Bob Builder <bob@example.test>' >/dev/null
	make_key "$KEYDIR/carol" 'Carol <carol@example.test>' >/dev/null
	make_key "$KEYDIR/nomail" 'Nomail Person' >/dev/null
	printf 'cosign public key placeholder\n' >"$KEYDIR/cosign.pub"
	export SHIM="$BATS_FILE_TMPDIR/shim"
	make_gpg2_shim "$SHIM"
	# one podman state dir for the whole file (it is only storage/lock bookkeeping)
	export PODMAN_ENV="$BATS_FILE_TMPDIR/podman"
}

teardown_file() {
	kill_gpg_agents "$BATS_FILE_TMPDIR"
	local log="$BATS_FILE_TMPDIR/bytes.log"
	if [ -f "$log" ]; then
		echo "# set vs podman, byte comparison: $(grep -c 'bytes equal' "$log") equal," \
			"$(grep -c 'bytes DIFFER' "$log") differ" >&3
		grep 'bytes DIFFER' "$log" | sed 's/^/#   /' >&3 || true
	fi
}

setup() {
	need_imgtrust
	it_isolate
	T="$BATS_TEST_TMPDIR"
	mkdir -p "$T/podman-etc" "$T/ours-etc"
	PP="$T/podman-etc/policy.json"
	OP="$T/ours-etc/policy.json"
	BYTES_LOG="$BATS_FILE_TMPDIR/bytes.log"
}

teardown() {
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# both_set STEP ARGS...: `podman image trust set ARGS` on $PP and `imgtrust set ARGS` on $OP;
# both succeed and the files are equal as JSON and byte for byte.
both_set() {
	local step="$1"
	shift
	run --separate-stderr podman_trust set --policypath "$PP" "$@"
	[ "$status" -eq 0 ] || fail "step $step: podman refused: set $*" "$stderr" || return 1
	run --separate-stderr imgtrust --policy "$OP" set "$@"
	[ "$status" -eq 0 ] || fail "step $step: imgtrust refused (exit $status): set $*" "$stderr" ||
		return 1
	assert_eq "$output$stderr" "" "imgtrust set output" || return 1
	assert_same_json "$PP" "$OP" || fail "step $step: set $*" || return 1
	if cmp -s "$PP" "$OP"; then
		echo "$BATS_TEST_NAME step $step: bytes equal" >>"$BYTES_LOG"
	else
		echo "$BATS_TEST_NAME step $step: bytes DIFFER" >>"$BYTES_LOG"
	fi
	assert_same_file "$PP" "$OP" || fail "step $step: set $* (JSON equal, bytes differ)"
}

# both_refuse ARGS...: both tools refuse `set ARGS` (imgtrust with exit 2 and one error line) and
# neither file changes (or appears).
both_refuse() {
	local pbefore obefore
	pbefore=$( [ -e "$PP" ] && sha256sum <"$PP" || echo absent)
	obefore=$( [ -e "$OP" ] && sha256sum <"$OP" || echo absent)
	run --separate-stderr podman_trust set --policypath "$PP" "$@"
	[ "$status" -ne 0 ] || fail "podman accepted: set $*" || return 1
	run -2 --separate-stderr imgtrust --policy "$OP" set "$@"
	assert_one_error_line || fail "for: set $*" || return 1
	assert_eq "$( [ -e "$PP" ] && sha256sum <"$PP" || echo absent)" "$pbefore" "podman's file after refused set $*" || return 1
	assert_eq "$( [ -e "$OP" ] && sha256sum <"$OP" || echo absent)" "$obefore" "our file after refused set $*" || return 1
	assert_eq "$(dir_listing "$T/ours-etc")" "$( [ "$obefore" = absent ] || echo policy.json)" \
		"files beside our policy.json" || return 1
}

@test "set: a sequence from no file gives podman's file after every step" {
	mkdir -p "$T/keys"
	cp "$KEYDIR/alice.gpg" "$T/keys/odd <&>.gpg"
	both_set 1 -t reject default
	both_set 2 -t accept quay.io
	both_set 3 -f "$KEYDIR/alice.gpg" registry.example.com/team
	both_set 4 -f "$KEYDIR/alice.gpg" -f "$KEYDIR/bob.asc" registry.example.com:5000/prod
	both_set 5 -t reject quay.io
	both_set 6 -t insecureAcceptAnything docker.io/library/busybox
	both_set 7 -f "$T/keys/odd <&>.gpg" 'ex.example.com/a<b>&c'
	both_set 8 -t sigstoreSigned -f "$KEYDIR/cosign.pub" quay.io/sig
	both_set 9 --type signedBy --pubkeysfile "$KEYDIR/carol.gpg" quay.io
	both_set 10 -t reject "quay.io/ns/app@$DIGEST"
	both_set 11 -t accept quay.io:5000/ns/app:1.0
	both_set 12 -f keys/relative.gpg quay.io/relative
	both_set 13 -t accept default
	both_set 14 -f "$KEYDIR/alice.gpg,$KEYDIR/bob.asc" quay.io/comma
	# what we ended with, to be sure the steps did something
	run -0 jq -r '.transports.docker | keys | join(" ")' "$OP"
	assert_eq "$output" "docker.io/library/busybox ex.example.com/a<b>&c quay.io quay.io/comma quay.io/ns/app@$DIGEST quay.io/relative quay.io/sig quay.io:5000/ns/app:1.0 registry.example.com/team registry.example.com:5000/prod"
	run -0 jq -c '.transports.docker["registry.example.com:5000/prod"] | map(.keyPath)' "$OP"
	assert_eq "$output" "[\"$KEYDIR/alice.gpg\",\"$KEYDIR/bob.asc\"]"
	run -0 jq -r '.transports.docker["quay.io/relative"][0].keyPath' "$OP"
	assert_eq "$output" keys/relative.gpg
}

@test "set: a sequence on a file with other transports replaces scopes where they are" {
	cp "$CLI_FIXTURES/set/start.json" "$PP"
	cp "$CLI_FIXTURES/set/start.json" "$OP"
	# the scope exists only under docker-daemon / atomic: replaced there, not added to docker
	both_set 1 -t accept registry.example.com/app
	run -0 jq -c '.transports["docker-daemon"]["registry.example.com/app"]' "$OP"
	assert_eq "$output" '[{"type":"insecureAcceptAnything"}]'
	run -0 jq -c '.transports.docker["registry.example.com/app"]' "$OP"
	assert_eq "$output" null
	both_set 2 -f "$KEYDIR/bob.gpg" reg.example.com/ns/stream
	run -0 jq -r '.transports.atomic["reg.example.com/ns/stream"][0].type' "$OP"
	assert_eq "$output" signedBy
	both_set 3 -f "$KEYDIR/alice.gpg" zz.example.com
	both_set 4 -t reject default
	both_set 5 -t accept new.example.com
	both_set 6 -t reject aa.example.com/x
	# the untouched dir "" entry survived every rewrite
	run -0 jq -c '.transports.dir' "$OP"
	assert_eq "$output" '{"":[{"type":"insecureAcceptAnything"}]}'
}

@test "set: both refuse the same bad requests and leave the files alone" {
	# every case is tried, then all failures are reported together
	local bad=0
	# no default yet
	both_refuse -t accept quay.io || bad=$((bad + 1))
	both_refuse -f "$KEYDIR/alice.gpg" quay.io || bad=$((bad + 1))
	[ ! -e "$PP" ] && [ ! -e "$OP" ]
	both_set 1 -t reject default
	both_refuse -t accept -f "$KEYDIR/alice.gpg" quay.io || bad=$((bad + 1))
	both_refuse -t reject -f "$KEYDIR/alice.gpg" default || bad=$((bad + 1))
	both_refuse -t signedBy quay.io || bad=$((bad + 1))
	both_refuse quay.io || bad=$((bad + 1))
	both_refuse -t sigstoreSigned quay.io || bad=$((bad + 1))
	both_refuse -t bogus quay.io || bad=$((bad + 1))
	both_refuse -t Accept quay.io || bad=$((bad + 1))
	both_refuse -t reject '*.example.com' || bad=$((bad + 1))
	both_refuse -t reject /tmp/x || bad=$((bad + 1))
	both_refuse -t reject 'a b' || bad=$((bad + 1))
	both_refuse -t reject quay.io docker.io || bad=$((bad + 1))
	both_refuse -t reject || bad=$((bad + 1))
	run -0 jq -c . "$OP"
	assert_eq "$output" '{"default":[{"type":"reject"}]}'
	[ "$bad" -eq 0 ] || fail "$bad refusal case(s) failed (see above)"
}

@test "set: unknown top-level members are kept by us and dropped by podman; the rest is equal" {
	cp "$CLI_FIXTURES/set/start-extra.json" "$PP"
	cp "$CLI_FIXTURES/set/start-extra.json" "$OP"
	run -0 podman_trust set --policypath "$PP" -t accept docker.io
	run -0 imgtrust --policy "$OP" set -t accept docker.io
	assert_eq "$(jq -c '."x-comment"' "$PP")" null "podman keeps x-comment?"
	assert_eq "$(jq -c '."x-comment"' "$OP")" '{"owner":"ops","ticket":42}'
	assert_eq "$(jq -S 'del(."x-comment")' "$OP")" "$(jq -S . "$PP")" "policy without x-comment"
}

@test "set: escapes in an existing file (\\/ and \\u00e9) give the same JSON as podman" {
	cp "$CLI_FIXTURES/set/start-escapes.json" "$PP"
	cp "$CLI_FIXTURES/set/start-escapes.json" "$OP"
	run -0 podman_trust set --policypath "$PP" -t accept docker.io
	run -0 imgtrust --policy "$OP" set -t accept docker.io
	assert_same_json "$PP" "$OP"
	# podman keeps raw requirement JSON as written (escapes included); report, do not require
	if cmp -s "$PP" "$OP"; then
		echo "$BATS_TEST_NAME: bytes equal" >>"$BYTES_LOG"
	else
		echo "$BATS_TEST_NAME: bytes DIFFER: $(diff "$PP" "$OP" | tr '\n' ' ')" >>"$BYTES_LOG"
		echo "# note: escapes: JSON equal, bytes differ from podman" >&3
	fi
}

@test "set: a new file gets the same mode as podman's (umask 022)" {
	umask 022
	run -0 podman_trust set --policypath "$PP" -t reject default
	run -0 imgtrust --policy "$OP" set -t reject default
	assert_eq "$(stat -c %a "$OP")" "$(stat -c %a "$PP")" "mode of a new policy.json"
	assert_same_file "$PP" "$OP"
}

# ------------------------------------------------------------------------------------------ show

# show_case NAME: the fixture pair tests/fixtures/cli/show/NAME with this file's keys, at
# $T/NAME/policy.json and the fixture's registries.d.
show_case() {
	mkdir -p "$T/$1"
	subst_template "$CLI_FIXTURES/show/$1/policy.json.in" "$T/$1/policy.json" "KEYDIR=$KEYDIR" \
		"ALICE_B64=$(base64 -w0 "$KEYDIR/alice.asc")"
	SP="$T/$1/policy.json"
	SR="$CLI_FIXTURES/show/$1/registries.d"
	# the file must be valid for containers/image, or the comparison says nothing
	run --separate-stderr imgtrust --policy "$SP" --registries.d "$SR" check docker://valid.check.test/x:1
	case "$status" in
	0 | 1 | 10) ;;
	*) fail "fixture show/$1 is not accepted by imgtrust check (exit $status)" "$stderr" ;;
	esac
}

# compare_show PATH-PREFIX ARGS...: stdout of podman and imgtrust `show ARGS` are identical.
compare_show() {
	local path="$1"
	shift
	PATH="$path" podman_trust show --policypath "$SP" --registrypath "$SR" "$@" >"$T/podman.out" \
		2>"$T/podman.err" || fail "podman show $* failed" "$(cat "$T/podman.err")" || return 1
	PATH="$path" imgtrust --policy "$SP" --registries.d "$SR" show "$@" >"$T/ours.out" \
		2>"$T/ours.err" || fail "imgtrust show $* failed" "$(cat "$T/ours.err")" || return 1
	if ! cmp -s "$T/podman.out" "$T/ours.out"; then
		fail "show $* differs from podman ($SP)" "$(diff -u "$T/podman.out" "$T/ours.out" | cat -A)"
		return 1
	fi
}

shim_path() {
	printf '%s:%s' "$SHIM" "$PATH"
}

@test "show: basic case (keyPath, keyPaths, two signedBy, sigstoreSigned, dir) equals podman" {
	show_case basic
	local p
	p=$(shim_path)
	compare_show "$p"
	compare_show "$p" -n
	compare_show "$p" --noheading
	compare_show "$p" --json
	compare_show "$p" -j
	compare_show "$p" --raw
	compare_show "$p" quay.io
	# the e-mails really are there (the comparison is not between two empty columns)
	assert_contains "$(cat "$T/ours.out")" "ops@acme.test, alice2@acme.test"
	imgtrust --policy "$SP" --registries.d "$SR" show --json >"$T/j"
	assert_eq "$(jq -r '.[] | select(.name=="docker.io") | .gpg_id' "$T/j")" \
		"ops@acme.test, alice2@acme.test, bob@example.test"
	assert_eq "$(jq -r '.[] | select(.name=="quay.io/team/app") | .sigstore' "$T/j")" \
		"https://legacy.quay.test/sigs"
}

@test "show: keyData, uid without e-mail, odd types, wildcard and non-ASCII scopes equal podman" {
	show_case keydata
	local p
	p=$(shim_path)
	compare_show "$p"
	compare_show "$p" -n
	compare_show "$p" --json
	compare_show "$p" --raw
	imgtrust --policy "$SP" --registries.d "$SR" show --json >"$T/j" 2>/dev/null
	assert_eq "$(jq -r '.[] | select(.name=="quay.io/inline") | .gpg_id' "$T/j")" "ops@acme.test, alice2@acme.test"
	assert_eq "$(jq -r '.[] | select(.name=="nomail.example.com") | .gpg_id' "$T/j")" "Nomail Person"
}

@test "show: default only with an empty registries.d equals podman" {
	show_case minimal
	local p
	p=$(shim_path)
	compare_show "$p"
	compare_show "$p" -n
	compare_show "$p" --json
	compare_show "$p" --raw
}

@test "show: without gpg2 podman's ID column is empty; every other column still equals podman" {
	local d
	d=$(mktemp -d "$T/nogpg2.XXXXXX")
	# a PATH without any gpg2 (Debian 12 ships none; the shim is left out)
	local p="$PATH"
	if PATH="$p" command -v gpg2 >/dev/null; then
		skip "this machine has a real gpg2; the no-gpg2 run cannot be made"
	fi
	local c
	for c in basic keydata; do
		show_case "$c"
		PATH="$p" podman_trust show --policypath "$SP" --registrypath "$SR" --json >"$T/podman.json" 2>/dev/null
		PATH="$p" imgtrust --policy "$SP" --registries.d "$SR" show --json >"$T/ours.json" 2>/dev/null
		# podman keeps N/A for sigstoreSigned; other IDs are gone
		assert_eq "$(jq -c 'map(select(.gpg_id != null and .gpg_id != "N/A")) | length' "$T/podman.json")" 0 \
			"podman IDs without gpg2 ($c)"
		assert_eq "$(jq -S 'map(del(.gpg_id))' "$T/ours.json")" "$(jq -S 'map(del(.gpg_id))' "$T/podman.json")" \
			"rows without ID ($c)"
		# ours does not depend on gpg2: same table with and without the shim
		PATH="$p" imgtrust --policy "$SP" --registries.d "$SR" show >"$T/ours-noshim.out" 2>/dev/null
		PATH="$(shim_path)" imgtrust --policy "$SP" --registries.d "$SR" show >"$T/ours-shim.out" 2>/dev/null
		assert_same_file "$T/ours-noshim.out" "$T/ours-shim.out"
		PATH="$p" podman_trust show --policypath "$SP" --registrypath "$SR" --raw >"$T/podman.raw" 2>/dev/null
		PATH="$p" imgtrust --policy "$SP" --registries.d "$SR" show --raw >"$T/ours.raw"
		assert_same_file "$T/podman.raw" "$T/ours.raw"
	done
}

@test "show: both refuse registries.d files that define the same scope" {
	printf '{"default":[{"type":"reject"}]}' >"$T/p.json"
	local D="$CLI_FIXTURES/regd-dup"
	run --separate-stderr podman_trust show --policypath "$T/p.json" --registrypath "$D"
	[ "$status" -ne 0 ] || fail "podman accepted duplicate registries.d scopes"
	run -2 --separate-stderr imgtrust --policy "$T/p.json" --registries.d "$D" show
	assert_one_error_line "$D/a-team.yaml" "$D/b-team.yaml"
}
