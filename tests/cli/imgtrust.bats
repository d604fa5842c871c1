#!/usr/bin/env bats
# Command-line contract of `imgtrust` (set / show / check): options, exit codes, error lines,
# byte-exact `set` output, strict refusal of bad files without touching them, `check` decisions and
# lint findings. Comparisons against the real podman/skopeo are in tests/interop/.

load ../lib/common

DIGEST=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

setup_file() {
	need_imgtrust
	export KEYDIR="$BATS_FILE_TMPDIR/keys"
	mkdir -p "$KEYDIR"
	make_key "$KEYDIR/alice" 'Alice Ops <ops@acme.test>' 'Alice Two <alice2@acme.test>' >/dev/null
	make_key "$KEYDIR/bob" 'Bob Builder <bob@example.test>' >/dev/null
	printf 'not a key, just some bytes\n' >"$KEYDIR/garbage.gpg"
	printf 'cosign public key placeholder\n' >"$KEYDIR/cosign.pub"
	mkdir -p "$KEYDIR/a-directory"
}

teardown_file() {
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	need_imgtrust
	it_isolate
	T="$BATS_TEST_TMPDIR"
	mkdir -p "$T/etc" "$T/empty-registries.d"
	P="$T/etc/policy.json"
	R="$T/empty-registries.d"
}

teardown() {
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# The check fixture policy with this file's keys, at $T/check/policy.json.
check_fixture() {
	mkdir -p "$T/check"
	subst_template "$CLI_FIXTURES/check/policy.json.in" "$T/check/policy.json" "KEYDIR=$KEYDIR"
	CP="$T/check/policy.json"
	CR="$CLI_FIXTURES/check/registries.d"
}

# expect_usage_error [NEEDLE] -- ARGS...: exit 2, nothing on stdout, one `imgtrust: ` line.
expect_usage_error() {
	local needle=()
	while [ "$1" != "--" ]; do
		needle+=("$1")
		shift
	done
	shift
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" "$@"
	assert_eq "$output" "" "stdout of: imgtrust $*" || return 1
	assert_one_error_line "${needle[@]}" || fail "for: imgtrust $*"
}

# ---------------------------------------------------------------------------------- help/version

@test "--version prints one line with the project version" {
	local ver
	ver=$(sed -n 's/^project(imgtrust VERSION \([0-9.]*\).*/\1/p' "$IMGTRUST_SRC/CMakeLists.txt")
	[ -n "$ver" ]
	run -0 --separate-stderr imgtrust --version
	assert_eq "$output" "imgtrust (imgtrust) $ver"
	assert_eq "$stderr" ""
}

@test "--help on stdout names the commands and global options" {
	run -0 --separate-stderr imgtrust --help
	assert_eq "$stderr" ""
	local w
	for w in set show check --policy --registries.d; do
		assert_contains "$output" "$w" "imgtrust --help"
	done
}

@test "each subcommand --help describes its options, exit 0" {
	run -0 --separate-stderr imgtrust set --help
	assert_eq "$stderr" ""
	assert_contains "$output" "--type"
	assert_contains "$output" "--pubkeysfile"
	assert_contains "$output" "SCOPE"
	run -0 --separate-stderr imgtrust show --help
	assert_eq "$stderr" ""
	assert_contains "$output" "--raw"
	assert_contains "$output" "--json"
	assert_contains "$output" "--noheading"
	run -0 --separate-stderr imgtrust check --help
	assert_eq "$stderr" ""
	assert_contains "$output" "--json"
	assert_contains "$output" "TRANSPORT:REF"
	# --help does not touch the policy file
	[ ! -e "$P" ]
}

# ---------------------------------------------------------------------------------- usage errors

@test "no command: exit 2, one 'imgtrust: ' line on stderr" {
	expect_usage_error --
}

@test "usage errors exit 2 with one 'imgtrust: ' line on stderr" {
	# every case is tried, then all failures are reported together
	local bad=0
	expect_usage_error frobnicate -- frobnicate || bad=$((bad + 1))
	expect_usage_error -- --no-such-option show || bad=$((bad + 1))
	expect_usage_error no-such-option -- show --no-such-option || bad=$((bad + 1))
	expect_usage_error -- show quay.io docker.io || bad=$((bad + 1))
	expect_usage_error -- set || bad=$((bad + 1))
	expect_usage_error -- set -t reject quay.io docker.io || bad=$((bad + 1))
	expect_usage_error -- check docker://busybox docker://alpine || bad=$((bad + 1))
	expect_usage_error no-such-option -- check --no-such-option || bad=$((bad + 1))
	expect_usage_error -- set -t || bad=$((bad + 1))
	expect_usage_error -- set --pubkeysfile || bad=$((bad + 1))
	# nothing was created by any of them
	[ ! -e "$P" ]
	[ "$bad" -eq 0 ] || fail "$bad usage error case(s) failed (see above)"
}

@test "a global option without its value is a usage error" {
	run -2 --separate-stderr "$IMGTRUST" show --policy
	assert_one_error_line policy
	run -2 --separate-stderr "$IMGTRUST" --registries.d
	assert_one_error_line registries.d
}

@test "set: bad type, keys with accept/reject, signedBy without keys are refused (exit 2)" {
	printf '{"default":[{"type":"reject"}]}' >"$P"
	cp "$P" "$T/saved.json"
	expect_usage_error bogus -- set -t bogus quay.io
	expect_usage_error -- set -t accept -f "$KEYDIR/alice.gpg" quay.io
	expect_usage_error -- set -t reject -f "$KEYDIR/alice.gpg" default
	expect_usage_error -- set -t signedBy quay.io
	expect_usage_error -- set quay.io
	expect_usage_error -- set -t sigstoreSigned quay.io
	assert_same_file "$P" "$T/saved.json"
	assert_eq "$(dir_listing "$T/etc")" "policy.json" "files in the policy directory"
}

@test "set: a non-default scope before any default is refused and creates nothing" {
	run -2 --separate-stderr imgtrust --policy "$P" set -t accept quay.io
	assert_one_error_line default
	[ ! -e "$P" ]
	assert_eq "$(dir_listing "$T/etc")" "" "files in the policy directory"
}

@test "set: scopes podman refuses are refused" {
	printf '{"default":[{"type":"reject"}]}' >"$P"
	cp "$P" "$T/saved.json"
	expect_usage_error -- set -t reject '/tmp/x'
	expect_usage_error -- set -t reject 'a b'
	expect_usage_error -- set -t reject '*.example.com'
	assert_same_file "$P" "$T/saved.json"
}

# ---------------------------------------------------------------------------------- set output

@test "set from no file writes podman's bytes (4-space indent, no trailing newline)" {
	run -0 --separate-stderr imgtrust --policy "$P" set -t reject default
	assert_eq "$output$stderr" ""
	printf '{\n    "default": [\n        {\n            "type": "reject"\n        }\n    ]\n}' >"$T/want1"
	assert_same_file "$P" "$T/want1"

	run -0 imgtrust --policy "$P" set -f /etc/pki/containers/acme.gpg registry.acme.test
	cat >"$T/want2" <<'EOF'
{
    "default": [
        {
            "type": "reject"
        }
    ],
    "transports": {
        "docker": {
            "registry.acme.test": [
                {
                    "type": "signedBy",
                    "keyType": "GPGKeys",
                    "keyPath": "/etc/pki/containers/acme.gpg"
                }
            ]
        }
    }
}
EOF
	truncate -s -1 "$T/want2" # no trailing newline
	assert_same_file "$P" "$T/want2"
	assert_eq "$(dir_listing "$T/etc")" "policy.json" "files in the policy directory"
}

@test "set: two -f files give two requirements; re-set replaces the list; <>& escaped" {
	imgtrust --policy "$P" set -t reject default
	imgtrust --policy "$P" set -f /k/a.gpg -f /k/b.gpg 'quay.io/a<b>&c'
	run -0 jq -c '.transports.docker["quay.io/a<b>&c"]' "$P"
	assert_eq "$output" '[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k/a.gpg"},{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k/b.gpg"}]'
	run -0 grep -c 'quay.io/a\\u003cb\\u003e\\u0026c' "$P"
	assert_eq "$output" 1
	imgtrust --policy "$P" set -t accept 'quay.io/a<b>&c'
	run -0 jq -c '.transports.docker' "$P"
	assert_eq "$output" '{"quay.io/a<b>&c":[{"type":"insecureAcceptAnything"}]}'
	imgtrust --policy "$P" set -t insecureAcceptAnything default
	run -0 jq -c '.default' "$P"
	assert_eq "$output" '[{"type":"insecureAcceptAnything"}]'
	imgtrust --policy "$P" set -t sigstoreSigned -f /k/cosign.pub quay.io/sig
	run -0 jq -c '.transports.docker["quay.io/sig"]' "$P"
	assert_eq "$output" '[{"type":"sigstoreSigned","keyPath":"/k/cosign.pub"}]'
}

@test "set keeps unknown top-level members (podman drops them)" {
	cp "$CLI_FIXTURES/set/start-extra.json" "$P"
	run -0 --separate-stderr imgtrust --policy "$P" set -t accept docker.io
	run -0 jq -c '."x-comment"' "$P"
	assert_eq "$output" '{"owner":"ops","ticket":42}'
	run -0 jq -c 'del(."x-comment")' "$P"
	assert_eq "$output" '{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"docker.io":[{"type":"insecureAcceptAnything"}],"quay.io":[{"type":"reject"}]}}}'
	# podman's layout first: default, transports, then the kept member
	run -0 jq -r 'keys_unsorted | join(",")' "$P"
	assert_eq "$output" "default,transports,x-comment"
}

@test "set replaces the file atomically and keeps its mode (600 stays 600)" {
	printf '{"default":[{"type":"reject"}]}' >"$P"
	chmod 600 "$P"
	local ino_before
	ino_before=$(stat -c %i "$P")
	run -0 imgtrust --policy "$P" set -t accept quay.io
	assert_eq "$(stat -c %a "$P")" 600 "mode after set"
	run -0 jq -c '.transports.docker["quay.io"]' "$P"
	assert_eq "$output" '[{"type":"insecureAcceptAnything"}]'
	assert_eq "$(dir_listing "$T/etc")" "policy.json" "files in the policy directory"
	# replaced by rename, not rewritten in place
	[ "$(stat -c %i "$P")" != "$ino_before" ] || fail "policy.json was rewritten in place (same inode)"
}

@test "set through a symlinked policy.json updates the target and keeps the link (as podman)" {
	printf '{"default":[{"type":"reject"}]}' >"$T/etc/real-policy.json"
	ln -s real-policy.json "$P"
	run -0 imgtrust --policy "$P" set -t accept quay.io
	[ -L "$P" ] || fail "policy.json is no longer a symlink"
	run -0 jq -c '.transports.docker["quay.io"]' "$T/etc/real-policy.json"
	assert_eq "$output" '[{"type":"insecureAcceptAnything"}]'
}

@test "global options may follow the command; --policypath/--registrypath are aliases" {
	cp "$CLI_FIXTURES/set/start-extra.json" "$P"
	imgtrust set --policypath "$P" -t reject docker.io
	run -0 jq -c '.transports.docker["docker.io"]' "$P"
	assert_eq "$output" '[{"type":"reject"}]'
	imgtrust set -t accept --policy="$P" ghcr.io
	run -0 jq -c '.transports.docker["ghcr.io"]' "$P"
	assert_eq "$output" '[{"type":"insecureAcceptAnything"}]'

	run -0 imgtrust --policy "$P" --registries.d "$R" show
	local want="$output"
	run -0 imgtrust show --policypath "$P" --registrypath "$R"
	assert_eq "$output" "$want" "show with --policypath/--registrypath"
	run -0 imgtrust show --registries.d="$R" --policy="$P"
	assert_eq "$output" "$want" "show with --opt=value after the command"
}

# ---------------------------------------------------------------------------------- show

@test "show: table, -n, --json and --raw for a small policy" {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io":[{"type":"insecureAcceptAnything"}]},"dir":{"":[{"type":"insecureAcceptAnything"}]}}}' >"$P"
	mkdir -p "$T/regd"
	printf 'docker:\n  quay.io:\n    lookaside: https://sigs.quay.test/store\n' >"$T/regd/q.yaml"
	run -0 --separate-stderr imgtrust --policy "$P" --registries.d "$T/regd" show
	assert_eq "$stderr" ""
	local want
	want=$(printf '%-12s%-12s%-12s%-12s%s\n' TRANSPORT NAME TYPE ID STORE \
		all default reject '' '' dir '' accept '' '' repository quay.io accept '' https://sigs.quay.test/store)
	assert_eq "$output" "$want" "table"
	run -0 imgtrust --policy "$P" --registries.d "$T/regd" show -n
	assert_eq "$output" "$(tail -n +2 <<<"$want")" "table -n"
	run -0 imgtrust --policy "$P" --registries.d "$T/regd" show --noheading quay.io
	assert_eq "$output" "$(tail -n +2 <<<"$want")" "table --noheading with an (ignored) SCOPE"
	run -0 imgtrust --policy "$P" --registries.d "$T/regd" show --json
	assert_eq "$(jq -c . <<<"$output")" '[{"transport":"all","name":"* (default)","repo_name":"default","type":"reject"},{"transport":"dir","type":"accept"},{"transport":"repository","name":"quay.io","repo_name":"quay.io","sigstore":"https://sigs.quay.test/store","type":"accept"}]'
	# podman's 2-space indent
	assert_eq "${lines[1]}" '  {'
	run -0 imgtrust --policy "$P" --registries.d "$T/regd" show -j
	assert_eq "$(jq -c 'length' <<<"$output")" 3
	imgtrust --policy "$P" --registries.d "$T/regd" show --raw >"$T/raw.out"
	{ cat "$P"; printf '\n'; } >"$T/raw.want"
	assert_same_file "$T/raw.out" "$T/raw.want"
}

@test "show: ID column lists the key files' e-mails" {
	printf '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":["%s","%s"]}]}' \
		"$KEYDIR/alice.gpg" "$KEYDIR/bob.asc" >"$P"
	run -0 imgtrust --policy "$P" --registries.d "$R" show --json
	assert_eq "$(jq -r '.[0].gpg_id' <<<"$output")" "ops@acme.test, alice2@acme.test, bob@example.test"
	assert_eq "$(jq -r '.[0].type' <<<"$output")" "signed"
}

@test "show: a missing policy file is an I/O error (exit 3) naming it" {
	run -3 --separate-stderr imgtrust --policy "$T/nope/policy.json" --registries.d "$R" show
	assert_one_error_line "$T/nope/policy.json"
	assert_eq "$output" ""
}

@test "set: a policy path in a missing directory is an I/O error (exit 3)" {
	run -3 --separate-stderr imgtrust --policy "$T/nope/policy.json" set -t reject default
	assert_one_error_line "$T/nope/policy.json"
	[ ! -e "$T/nope" ]
}

# ---------------------------------------------------------------------------------- bad input

# bad_policy FIXTURE-FILE NEEDLE...: the file is refused by set, show, check REF and check (lint)
# with exit 2 and one stderr line naming it (and NEEDLEs), and `set` leaves it byte-for-byte
# unchanged with no stray file beside it.
bad_policy() {
	local src="$1"
	shift
	cp "$src" "$P"
	cp "$P" "$T/saved.json"
	local before
	before=$(dir_listing "$T/etc")

	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" set -t reject quay.io
	assert_one_error_line "$P" "$@" || fail "set on $(basename "$src")" || return 1
	assert_eq "$output" "" "stdout of set" || return 1
	assert_same_file "$P" "$T/saved.json" || return 1
	assert_eq "$(dir_listing "$T/etc")" "$before" "files beside policy.json after set" || return 1

	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" set -t accept default
	assert_one_error_line "$P" "$@" || fail "set default on $(basename "$src")" || return 1
	assert_same_file "$P" "$T/saved.json" || return 1
	assert_eq "$(dir_listing "$T/etc")" "$before" "files beside policy.json after set" || return 1

	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" show
	assert_one_error_line "$P" "$@" || fail "show on $(basename "$src")" || return 1
	assert_eq "$output" "" "stdout of show" || return 1

	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check docker://quay.io/x:1
	assert_one_error_line "$P" "$@" || fail "check REF on $(basename "$src")" || return 1
	assert_eq "$output" "" "stdout of check REF" || return 1

	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check
	assert_one_error_line "$P" "$@" || fail "check (lint) on $(basename "$src")" || return 1
	assert_same_file "$P" "$T/saved.json"
}

@test "bad input: truncated JSON" {
	bad_policy "$CLI_FIXTURES/bad/truncated.json"
}

@test "bad input: wrong type (\"default\": {})" {
	bad_policy "$CLI_FIXTURES/bad/wrong-type.json" default
}

@test "bad input: unknown requirement type" {
	bad_policy "$CLI_FIXTURES/bad/unknown-type.json" 'transports.docker["quay.io"][0]'
}

@test "bad input: keyPath together with keyData" {
	bad_policy "$CLI_FIXTURES/bad/keypath-keydata.json" 'transports.docker["quay.io"][0]' keyPath keyData
}

@test "bad input: invalid UTF-8 in a string" {
	bad_policy "$CLI_FIXTURES/bad/invalid-utf8.json"
}

@test "bad input: a 50 MB policy file" {
	{
		printf '{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io":[{"type":"signedBy","keyType":"GPGKeys","keyData":"'
		head -c 37500000 /dev/zero | base64 -w0
		printf '"}]}}}'
	} >"$T/big.json"
	[ "$(stat -c %s "$T/big.json")" -gt 50000000 ]
	bad_policy "$T/big.json"
}

@test "policy size limit: exactly 4 MiB is read, one byte more is refused" {
	local head tail n
	head='{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io":[{"type":"signedBy","keyType":"GPGKeys","keyData":"'
	tail='"}]}}}'
	n=$((4194304 - ${#head} - ${#tail}))
	n=$((n / 4 * 4))
	{
		printf '%s' "$head"
		head -c $((n / 4 * 3)) /dev/zero | base64 -w0
		printf '%s' "$tail"
	} >"$P"
	# pad with JSON whitespace to exactly 4 MiB
	local size
	size=$(stat -c %s "$P")
	head -c $((4194304 - size)) /dev/zero | tr '\0' ' ' >>"$P"
	assert_eq "$(stat -c %s "$P")" 4194304 "size"
	run -1 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check docker://ghcr.io/x:1
	assert_eq "${lines[0]}" "decision: reject"
	printf ' ' >>"$P"
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check docker://ghcr.io/x:1
	assert_one_error_line "$P"
}

@test "bad input: a scope in two registries.d files (show, check REF, check) names both files" {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io/team":[{"type":"insecureAcceptAnything"}]}}}' >"$P"
	local D="$CLI_FIXTURES/regd-dup"
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" show
	assert_one_error_line "$D/a-team.yaml" "$D/b-team.yaml" quay.io/team
	assert_eq "$output" ""
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" check docker://quay.io/team/app:1
	assert_one_error_line "$D/a-team.yaml" "$D/b-team.yaml" quay.io/team
	assert_eq "$output" ""
	run --separate-stderr imgtrust --policy "$P" --registries.d "$D" check
	case "$status" in
	1) assert_contains "$output" "$D/a-team.yaml" && assert_contains "$output" "$D/b-team.yaml" ;;
	2) assert_one_error_line "$D/a-team.yaml" "$D/b-team.yaml" ;;
	*) fail "lint of duplicate registries.d scope: exit $status (want 1 or 2)" ;;
	esac
}

@test "bad input: default-docker in two registries.d files names both files" {
	printf '{"default":[{"type":"reject"}]}' >"$P"
	local D="$CLI_FIXTURES/regd-dup-default"
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" show
	assert_one_error_line "$D/one.yaml" "$D/two.yaml" default-docker
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" check docker://quay.io/x:1
	assert_one_error_line "$D/one.yaml" "$D/two.yaml" default-docker
}

@test "bad input: a registries.d value of the wrong type names the file" {
	printf '{"default":[{"type":"reject"}]}' >"$P"
	local D="$CLI_FIXTURES/regd-badtype"
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" show
	assert_one_error_line "$D/wrong.yaml" lookaside
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$D" check docker://quay.io/x:1
	assert_one_error_line "$D/wrong.yaml" lookaside
}

# ---------------------------------------------------------------------------------- check

# expect_decision REF DECISION EXIT SCOPE IDENTITY: human and JSON output agree with the policy.
# SCOPE is the scope string, or "-" for the global default.
expect_decision() {
	local ref="$1" decision="$2" code="$3" scope="$4" identity="$5"
	run --separate-stderr imgtrust --policy "$CP" --registries.d "$CR" check "$ref"
	[ "$status" -eq "$code" ] || fail "check $ref: exit $status, want $code" "$output" "$stderr" || return 1
	assert_eq "${lines[0]}" "decision: $decision" "first line for $ref" || return 1
	assert_line_match '^[[:space:]]+transport: docker( |$)' || return 1
	local qid="${identity//./\\.}"
	assert_line_match "^[[:space:]]+identity: ${qid}( |\$)" || return 1
	if [ "$scope" = - ]; then
		assert_line_match '^[[:space:]]+scope: global default' || return 1
	else
		assert_contains "$output" "scope: \"$scope\"" "check $ref" || return 1
	fi

	run --separate-stderr imgtrust --policy "$CP" --registries.d "$CR" check --json "$ref"
	[ "$status" -eq "$code" ] || fail "check --json $ref: exit $status, want $code" || return 1
	jq -e . >/dev/null <<<"$output" || fail "check --json $ref: not JSON" "$output" || return 1
	assert_eq "$(jq -r .decision <<<"$output")" "$decision" ".decision for $ref" || return 1
	assert_eq "$(jq -r .transport <<<"$output")" docker ".transport for $ref" || return 1
	assert_eq "$(jq -r .identity <<<"$output")" "$identity" ".identity for $ref" || return 1
	assert_eq "$(jq -r '.reference | type' <<<"$output")" string ".reference for $ref" || return 1
	if [ "$scope" = - ]; then
		assert_eq "$(jq -c .scope <<<"$output")" null ".scope for $ref" || return 1
	else
		assert_eq "$(jq -r .scope <<<"$output")" "$scope" ".scope for $ref" || return 1
	fi
	JSON="$output"
}

# expect_reqs TYPE...: .requirements[].type of the last expect_decision.
expect_reqs() {
	assert_eq "$(jq -r '[.requirements[].type] | join(" ")' <<<"$JSON")" "$*" "requirement types"
}

@test "check: accept (exit 0) for docker references" {
	check_fixture
	expect_decision docker://busybox accept 0 docker.io/library/busybox docker.io/library/busybox:latest
	expect_reqs insecureAcceptAnything
	assert_eq "$stderr" ""
	expect_decision docker://docker.io/library/busybox:1.36 accept 0 docker.io/library/busybox \
		docker.io/library/busybox:1.36
	expect_decision docker://quay.io/open/app:2.0 accept 0 quay.io/open quay.io/open/app:2.0
	expect_decision "docker://quay.io/open/app@$DIGEST" accept 0 quay.io/open "quay.io/open/app@$DIGEST"
	expect_decision docker://localhost:5000/app accept 0 localhost:5000 localhost:5000/app:latest
	# a port-qualified host is not the port-less scope, but its wildcard namespace matches
	expect_decision docker://registry.example.com:5000/other:1 accept 0 '*.example.com' \
		registry.example.com:5000/other:1
	expect_decision docker://sub.registry.example.com/x:1 accept 0 '*.example.com' \
		sub.registry.example.com/x:1
}

@test "check: reject (exit 1) for docker references" {
	check_fixture
	expect_decision docker://alpine:3 reject 1 docker.io docker.io/library/alpine:3
	expect_reqs reject
	# the exact identity beats its repository namespace; no merging with less specific scopes
	expect_decision docker://quay.io/open/app:1.0 reject 1 quay.io/open/app:1.0 quay.io/open/app:1.0
	# requirements are ANDed
	expect_decision docker://quay.io/mixed/x reject 1 quay.io/mixed quay.io/mixed/x:latest
	expect_reqs insecureAcceptAnything reject
	expect_decision docker://quay.io/mixed-sig:1 reject 1 quay.io/mixed-sig quay.io/mixed-sig:1
	expect_reqs signedBy reject
	# signedBaseLayer and non-GPG keyTypes are parsed but always reject (spec 6.6)
	expect_decision docker://quay.io/base:1 reject 1 quay.io/base quay.io/base:1
	expect_reqs signedBaseLayer
	expect_decision docker://quay.io/x509:1 reject 1 quay.io/x509 quay.io/x509:1
	expect_decision docker://registry.example.com/x:1 reject 1 registry.example.com registry.example.com/x:1
	# example.com itself is not under *.example.com
	expect_decision docker://example.com/x:1 reject 1 - example.com/x:1
	expect_decision docker://ghcr.io/x/y:1 reject 1 - ghcr.io/x/y:1
	expect_reqs reject
	expect_decision docker://quay.io/unlisted:1 reject 1 - quay.io/unlisted:1
}

@test "check: signatures-required (exit 10) shows key files and where signatures are read" {
	check_fixture
	expect_decision docker://quay.io/signed/app:1 signatures-required 10 quay.io/signed quay.io/signed/app:1
	expect_reqs signedBy
	# registries.d: quay.io/signed/app has only a staging key, so reading falls through to
	# quay.io/signed (containers/image code, spec 5.4); the .yml file is ignored.
	run -10 imgtrust --policy "$CP" --registries.d "$CR" check docker://quay.io/signed/app:1
	assert_contains "$output" "$KEYDIR/alice.gpg"
	assert_line_match '^[[:space:]]+signatures from: https://sigs\.quay\.test/signed'
	assert_not_contains "$output" "wrong.example.test"
	assert_not_contains "$output" "file:///srv/"
	assert_eq "$(jq -r '.requirements[0].lookaside | tostring | contains("https://sigs.quay.test/signed")' <<<"$JSON")" true

	expect_decision docker://quay.io/signed/two:1 signatures-required 10 quay.io/signed/two quay.io/signed/two:1
	expect_reqs signedBy signedBy
	assert_eq "$(jq -r '[.requirements[] | has("lookaside")] | all' <<<"$JSON")" true
	run -10 imgtrust --policy "$CP" --registries.d "$CR" check docker://quay.io/signed/two:1
	assert_contains "$output" "$KEYDIR/alice.gpg"
	assert_contains "$output" "$KEYDIR/bob.asc"
	assert_contains "$output" "$KEYDIR/bob.gpg"

	# the deprecated `sigstore` key is a read location too
	expect_decision docker://registry.example.com:5000/ns/app:1.0 signatures-required 10 \
		registry.example.com:5000/ns registry.example.com:5000/ns/app:1.0
	run -10 imgtrust --policy "$CP" --registries.d "$CR" check docker://registry.example.com:5000/ns/app:1.0
	assert_line_match '^[[:space:]]+signatures from: https://legacy\.example\.com/sigs'
	assert_contains "$output" "$KEYDIR/bob.gpg"

	expect_decision docker://quay.io/sigstore:1 signatures-required 10 quay.io/sigstore quay.io/sigstore:1
	expect_reqs sigstoreSigned

	# the default-docker section serves what no scope covers
	printf '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}' "$KEYDIR/bob.gpg" >"$P"
	run -10 imgtrust --policy "$P" --registries.d "$CR" check docker://ghcr.io/x/y:1
	assert_line_match '^[[:space:]]+signatures from: https://sigs\.default\.test/store'
}

@test "check: with no registries.d entry signatures are read from the built-in default" {
	printf '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}' "$KEYDIR/bob.gpg" >"$P"
	local want=file:///var/lib/containers/sigstore
	[ "$(id -u)" -eq 0 ] || want="file://$HOME/.local/share/containers/sigstore"
	run -10 imgtrust --policy "$P" --registries.d "$R" check docker://ghcr.io/x/y:1
	assert_eq "${lines[0]}" "decision: signatures-required"
	assert_line_match "^[[:space:]]+signatures from: ${want//./\\.}"
	run -10 imgtrust --policy "$P" --registries.d "$R" check --json docker://ghcr.io/x/y:1
	assert_eq "$(jq -r --arg w "$want" '.requirements[0].lookaside | tostring | contains($w)' <<<"$output")" true
}

@test "check: a transport's \"\" scope applies before the global default" {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"":[{"type":"insecureAcceptAnything"}],"quay.io":[{"type":"reject"}]}}}' >"$P"
	run -0 imgtrust --policy "$P" --registries.d "$R" check docker://ghcr.io/x:1
	assert_eq "${lines[0]}" "decision: accept"
	assert_line_match '^[[:space:]]+scope: ""'
	run -0 imgtrust --policy "$P" --registries.d "$R" check --json docker://ghcr.io/x:1
	assert_eq "$(jq -c .scope <<<"$output")" '""'
	run -1 imgtrust --policy "$P" --registries.d "$R" check --json docker://quay.io/x:1
	assert_eq "$(jq -r .decision <<<"$output")" reject
	assert_eq "$(jq -r .scope <<<"$output")" quay.io
}

@test "check: dir: references use the resolved directory as identity" {
	mkdir -p "$T/images/app" "$T/images/other"
	ln -s images "$T/link"
	local real
	real=$(realpath "$T/images/app")
	printf '{"default":[{"type":"reject"}],"transports":{"dir":{"%s":[{"type":"insecureAcceptAnything"}]}}}' \
		"$real" >"$P"
	run -0 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check --json "dir:$T/link/app"
	assert_eq "$(jq -r .decision <<<"$output")" accept
	assert_eq "$(jq -r .transport <<<"$output")" dir
	assert_eq "$(jq -r .identity <<<"$output")" "$real"
	assert_eq "$(jq -r .scope <<<"$output")" "$real"
	run -1 imgtrust --policy "$P" --registries.d "$R" check "dir:$T/images/other"
	assert_eq "${lines[0]}" "decision: reject"
	assert_line_match '^[[:space:]]+transport: dir( |$)'
	assert_line_match '^[[:space:]]+scope: global default'
}

@test "check: bad references exit 2 with one line naming the reference" {
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$P"
	local pair ref needle
	for pair in \
		'docker://quay.io/UPPER/x:1|quay.io/UPPER/x' \
		'docker://quay.io/x@sha256:abc|sha256:abc' \
		"docker://quay.io/x:1@$DIGEST|quay.io/x:1" \
		'docker://busybox:a:b|busybox:a:b' \
		'docker:busybox|busybox' \
		'nosuchtransport:busybox|nosuchtransport' \
		'busybox|busybox' \
		'docker://|docker://'; do
		ref=${pair%%|*}
		needle=${pair#*|}
		run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check "$ref"
		assert_one_error_line "$needle" || fail "for reference $ref"
		assert_eq "$output" "" "stdout for $ref"
	done
}

@test "check: a missing policy file is an I/O error (exit 3)" {
	run -3 --separate-stderr imgtrust --policy "$T/nope.json" --registries.d "$R" check docker://busybox
	assert_one_error_line "$T/nope.json"
}

# ---------------------------------------------------------------------------------- lint

@test "check (lint): a clean configuration prints nothing and exits 0" {
	subst_template "$CLI_FIXTURES/lint/clean-policy.json.in" "$P" "KEYDIR=$KEYDIR" \
		"ALICE_B64=$(base64 -w0 "$KEYDIR/alice.gpg")"
	run --separate-stderr imgtrust --policy "$P" --registries.d "$CLI_FIXTURES/lint/clean-registries.d" check
	assert_eq "$output" "" "lint findings"
	assert_eq "$stderr" "" "stderr"
	assert_status 0
}

@test "check (lint): missing, garbage and unreadable key files, a never-matching scope, an unused lookaside" {
	subst_template "$CLI_FIXTURES/lint/findings-policy.json.in" "$P" "KEYDIR=$KEYDIR"
	local D="$CLI_FIXTURES/lint/findings-registries.d"
	run -1 --separate-stderr imgtrust --policy "$P" --registries.d "$D" check
	local l found
	# every finding names a file
	for l in "${lines[@]}"; do
		[[ "$l" == *"$P"* || "$l" == *"$D/"* ]] || fail "finding names no file: $l" "$output"
	done
	finding() { # NEEDLE...: exactly one line holds all of them
		local n line hits=0
		for line in "${lines[@]}"; do
			local ok=1
			for n in "$@"; do [[ "$line" == *"$n"* ]] || ok=0; done
			[ $ok -eq 1 ] && hits=$((hits + 1))
		done
		[ $hits -ge 1 ] || fail "no finding with: $*" "--- findings:" "$output"
	}
	finding "$P" quay.io/missing "$KEYDIR/no-such-key.gpg"
	finding "$P" quay.io/garbage "$KEYDIR/garbage.gpg"
	finding "$P" quay.io/unreadable "$KEYDIR/a-directory"
	finding "$P" busybox
	finding "$D/sigs.yaml" ghcr.io/nobody-uses-this
	# the entries that are fine are not reported
	assert_no_line_match 'quay\.io/signed'
	assert_no_line_match 'alice\.gpg'
}

@test "check (lint): an invalid policy is exit 2, not a finding" {
	cp "$CLI_FIXTURES/bad/keypath-keydata.json" "$P"
	run -2 --separate-stderr imgtrust --policy "$P" --registries.d "$R" check
	assert_one_error_line "$P" keyPath
	assert_eq "$output" ""
}
