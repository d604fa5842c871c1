#!/usr/bin/env bats
# `imgtrust check` against what skopeo 1.9.3 actually does with the same policy.json: for each
# policy, `skopeo copy --policy P dir:SRC dir:DST` must succeed exactly when `imgtrust check dir:SRC`
# says accept (exit 0), and fail when it says reject (1) or signatures-required (10) — the image
# carries no signatures — or when the policy is invalid (2). Each policy also has the decision we
# expect, so the two cannot agree by both being wrong. Offline: the image is made from a hand-built
# OCI layout by skopeo itself.

load ../lib/common

setup_file() {
	need_imgtrust
	need_cmd skopeo
	need_cmd jq
	need_cmd gpg
	export FT="$BATS_FILE_TMPDIR"
	mkdir -p "$FT/images" "$FT/keys" "$FT/regd"
	it_isolate "$FT/env"
	make_key "$FT/keys/alice" 'Alice Ops <ops@acme.test>' >/dev/null
	printf 'cosign public key placeholder\n' >"$FT/keys/cosign.pub"
	make_dir_image "$FT/images/src"
	make_oci_layout "$FT/images/layout"
	ln -s images "$FT/link"
	export SRC PARENT GRAND OCI
	SRC=$(realpath "$FT/images/src")
	PARENT=$(dirname "$SRC")
	GRAND=$(dirname "$PARENT")
	OCI=$(realpath "$FT/images/layout")
}

teardown_file() {
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	need_imgtrust
	it_isolate
	T="$BATS_TEST_TMPDIR"
	N=0
}

teardown() {
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# agree NAME EXPECT POLICY-JSON [SRC-REF] [SKOPEO-MESSAGE]: with POLICY, imgtrust check SRC-REF
# (default dir:$SRC) exits EXPECT, and skopeo copies SRC-REF exactly when EXPECT is 0; when it
# refuses, its error contains SKOPEO-MESSAGE (default: what skopeo says for that kind of refusal).
agree() {
	local name="$1" expect="$2" policy="$3" ref="${4:-dir:$SRC}" skmsg="${5-}"
	N=$((N + 1))
	local p="$T/policy-$N.json" dst="$T/dst-$N"
	printf '%s' "$policy" >"$p"

	run --separate-stderr imgtrust --policy "$p" --registries.d "$FT/regd" check "$ref"
	local ours="$status" ours_out="$output" ours_err="$stderr"
	run --separate-stderr skopeo_copy "$p" "$ref" "dir:$dst"
	local sk="$status" sk_err="$stderr"

	local decision=""
	case "$ours" in
	0) decision=accept ;;
	1) decision=reject ;;
	10) decision=signatures-required ;;
	esac
	[ "$ours" -eq "$expect" ] ||
		fail "[$name] imgtrust check $ref: exit $ours, want $expect" "$ours_out" "$ours_err" \
			"policy: $policy" || return 1
	if [ -n "$decision" ]; then
		[ "${ours_out%%$'\n'*}" = "decision: $decision" ] ||
			fail "[$name] first line is not 'decision: $decision'" "$ours_out" || return 1
	fi
	if [ "$ours" -eq 0 ]; then
		[ "$sk" -eq 0 ] || fail "[$name] imgtrust accepts, skopeo refuses" "$sk_err" "policy: $policy" ||
			return 1
		[ -f "$dst/manifest.json" ] || fail "[$name] skopeo wrote no manifest" || return 1
	else
		[ "$sk" -ne 0 ] ||
			fail "[$name] imgtrust says $ours (${decision:-error}), skopeo copied" "policy: $policy" ||
			return 1
		[ ! -e "$dst/manifest.json" ] || fail "[$name] skopeo refused but wrote a manifest" || return 1
	fi
	# skopeo's reason agrees with the kind of refusal
	if [ -z "$skmsg" ]; then
		case "$ours" in
		1) skmsg="rejected by policy" ;;
		10) skmsg="A signature was required" ;;
		2) skmsg="invalid policy" ;;
		esac
	fi
	if [ "$ours" -ne 0 ]; then
		assert_contains "$sk_err" "$skmsg" "[$name] skopeo stderr" || return 1
	fi
	echo "$name: imgtrust $ours, skopeo $sk" >>"$BATS_FILE_TMPDIR/agree.log"
}

A='{"type":"insecureAcceptAnything"}'
R='{"type":"reject"}'

@test "global defaults: reject and accept" {
	agree global-reject 1 "{\"default\":[$R]}"
	agree global-accept 0 "{\"default\":[$A]}"
	# the ANDed list: accept then reject is a reject
	agree global-accept-and-reject 1 "{\"default\":[$A,$R]}"
}

@test "dir transport scopes: \"\", the image path, its parents, the most specific wins" {
	agree dir-any-accept 0 "{\"default\":[$R],\"transports\":{\"dir\":{\"\":[$A]}}}"
	agree dir-any-reject 1 "{\"default\":[$A],\"transports\":{\"dir\":{\"\":[$R]}}}"
	agree dir-src-accept 0 "{\"default\":[$R],\"transports\":{\"dir\":{\"$SRC\":[$A]}}}"
	agree dir-src-reject 1 "{\"default\":[$A],\"transports\":{\"dir\":{\"$SRC\":[$R]}}}"
	agree dir-parent-accept 0 "{\"default\":[$R],\"transports\":{\"dir\":{\"$PARENT\":[$A]}}}"
	agree dir-grandparent-accept 0 "{\"default\":[$R],\"transports\":{\"dir\":{\"\":[$R],\"$GRAND\":[$A]}}}"
	agree more-specific-accept-under-reject 0 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"\":[$R],\"$PARENT\":[$R],\"$SRC\":[$A]}}}"
	agree more-specific-reject-under-accept 1 \
		"{\"default\":[$A],\"transports\":{\"dir\":{\"\":[$A],\"$GRAND\":[$A],\"$SRC\":[$R]}}}"
	agree parent-reject-under-accept-default 1 \
		"{\"default\":[$A],\"transports\":{\"dir\":{\"$PARENT\":[$R]}}}"
	agree dir-src-and-list 1 "{\"default\":[$A],\"transports\":{\"dir\":{\"$SRC\":[$A,$R]}}}"
}

@test "dir scopes that only look related do not match" {
	# a string prefix that is not a parent directory
	agree string-prefix 1 "{\"default\":[$R],\"transports\":{\"dir\":{\"${SRC%?}\":[$A]}}}"
	agree sibling 1 "{\"default\":[$R],\"transports\":{\"dir\":{\"$PARENT/other\":[$A]}}}"
	agree child 1 "{\"default\":[$R],\"transports\":{\"dir\":{\"$SRC/blobs\":[$A]}}}"
}

@test "symlinks: the policy matches the resolved path, not the one typed" {
	local viaLink="dir:$FT/link/src"
	agree resolved-scope-via-link 0 "{\"default\":[$R],\"transports\":{\"dir\":{\"$SRC\":[$A]}}}" "$viaLink"
	# a scope written through the symlink never matches
	agree link-scope-never-matches 1 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"$FT/link/src\":[$A]}}}" "$viaLink"
	agree link-scope-never-rejects 0 \
		"{\"default\":[$A],\"transports\":{\"dir\":{\"$FT/link/src\":[$R]}}}" "$viaLink"
}

@test "signature requirements on dir: skopeo finds no signatures and refuses" {
	local K="$FT/keys/alice.gpg" NOSIG="A signature was required"
	local SB="{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"$K\""
	# identity rules that compare with the image's Docker reference can never match a dir: image,
	# which has none (spec 6.7): the decision is known without signatures
	agree dir-signedBy-default-identity 1 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"$SRC\":[$SB}]}}}" "" "$NOSIG"
	agree dir-signedBy-matchRepository 1 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"$SRC\":[$SB,\"signedIdentity\":{\"type\":\"matchRepository\"}}]}}}" "" "$NOSIG"
	agree global-signedBy-keyData 1 \
		"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":\"$(base64 -w0 "$K")\"}]}" "" "$NOSIG"
	agree accept-and-signedBy 1 "{\"default\":[$A,$SB}]}" "" "$NOSIG"
	# identity rules that ignore the image's reference: it all depends on signatures
	agree dir-signedBy-exactReference 10 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[\"$K\"],\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":\"docker.io/library/busybox:latest\"}}]}}}"
	agree dir-signedBy-exactRepository 10 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"$PARENT\":[$SB,\"signedIdentity\":{\"type\":\"exactRepository\",\"dockerRepository\":\"quay.io/acme/app\"}}]}}}"
	agree dir-sigstoreSigned-exactRepository 10 \
		"{\"default\":[$R],\"transports\":{\"dir\":{\"$PARENT\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"$FT/keys/cosign.pub\",\"signedIdentity\":{\"type\":\"exactRepository\",\"dockerRepository\":\"quay.io/acme/app\"}}]}}}"
	agree accept-and-signedBy-exactReference 10 \
		"{\"default\":[$A,$SB,\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":\"quay.io/acme/app:1\"}}]}"
}

@test "requirements that always reject: signedBaseLayer, non-GPG keyType" {
	local K="$FT/keys/alice.gpg"
	# skopeo reports these as "rejected"/"not implemented"; only success vs failure is compared
	local p1="{\"default\":[$A],\"transports\":{\"dir\":{\"$SRC\":[{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":\"matchRepository\"}}]}}}"
	local p2="{\"default\":[$A],\"transports\":{\"dir\":{\"$SRC\":[{\"type\":\"signedBy\",\"keyType\":\"X509Certificates\",\"keyPath\":\"$K\"}]}}}"
	local p name
	for name in signedBaseLayer x509; do
		[ $name = signedBaseLayer ] && p="$p1" || p="$p2"
		N=$((N + 1))
		printf '%s' "$p" >"$T/p$N.json"
		run --separate-stderr imgtrust --policy "$T/p$N.json" --registries.d "$FT/regd" check "dir:$SRC"
		assert_status 1 || fail "[$name]"
		assert_eq "${lines[0]}" "decision: reject" "[$name]"
		run --separate-stderr skopeo_copy "$T/p$N.json" "dir:$SRC" "dir:$T/d$N"
		[ "$status" -ne 0 ] || fail "[$name] skopeo copied"
	done
}

@test "other transports' rules do not apply to dir:" {
	agree unknown-transport-ignored 0 "{\"default\":[$A],\"transports\":{\"bogus-transport\":{\"\":[$R]}}}"
	agree docker-only-rules 0 "{\"default\":[$A],\"transports\":{\"docker\":{\"\":[$R],\"quay.io\":[$R]}}}"
	agree docker-accept-default-reject 1 "{\"default\":[$R],\"transports\":{\"docker\":{\"\":[$A]}}}"
	agree oci-scope-is-not-dir 1 "{\"default\":[$R],\"transports\":{\"oci\":{\"$SRC\":[$A],\"\":[$A]}}}"
	agree docker-daemon-and-atomic-ignored 0 \
		"{\"default\":[$A],\"transports\":{\"docker-daemon\":{\"\":[$R]},\"atomic\":{\"\":[$R]}}}"
}

@test "oci: layouts: the layout directory and its parents are the scopes" {
	local ref="oci:$OCI:latest"
	agree oci-layout-accept 0 "{\"default\":[$R],\"transports\":{\"oci\":{\"$OCI\":[$A]}}}" "$ref"
	agree oci-parent-accept 0 "{\"default\":[$R],\"transports\":{\"oci\":{\"$(dirname "$OCI")\":[$A]}}}" "$ref"
	agree oci-layout-reject 1 "{\"default\":[$A],\"transports\":{\"oci\":{\"\":[$A],\"$OCI\":[$R]}}}" "$ref"
	agree oci-dir-rules-ignored 1 "{\"default\":[$R],\"transports\":{\"dir\":{\"\":[$A]}}}" "$ref"
}

@test "invalid policies: imgtrust exits 2 and skopeo refuses too" {
	agree relative-dir-scope 2 "{\"default\":[$A],\"transports\":{\"dir\":{\"relative/path\":[$A]}}}"
	agree unclean-dir-scope 2 "{\"default\":[$A],\"transports\":{\"dir\":{\"$PARENT/./src\":[$A]}}}"
	agree trailing-slash-dir-scope 2 "{\"default\":[$A],\"transports\":{\"dir\":{\"$SRC/\":[$A]}}}"
	agree root-dir-scope 2 "{\"default\":[$A],\"transports\":{\"dir\":{\"/\":[$A]}}}"
	agree empty-default 2 "{\"default\":[],\"transports\":{\"dir\":{\"\":[$A]}}}"
	agree unknown-member 2 "{\"default\":[$A],\"transports\":{\"dir\":{\"\":[{\"type\":\"insecureAcceptAnything\",\"why\":\"x\"}]}}}"
	agree docker-archive-scope 2 "{\"default\":[$A],\"transports\":{\"docker-archive\":{\"/x.tar\":[$A]}}}"
	agree no-default 2 "{\"transports\":{\"dir\":{\"\":[$A]}}}"
}

@test "check docker:// reference: JSON decision agrees with the policy (no registry needed)" {
	printf '{"default":[%s],"transports":{"docker":{"docker.io/library":[%s]},"dir":{"":[%s]}}}' \
		"$R" "$A" "$R" >"$T/p.json"
	run -0 imgtrust --policy "$T/p.json" --registries.d "$FT/regd" check --json docker://busybox
	assert_eq "$(jq -r .decision <<<"$output")" accept
	assert_eq "$(jq -r .scope <<<"$output")" docker.io/library
	run -1 imgtrust --policy "$T/p.json" --registries.d "$FT/regd" check --json docker://quay.io/busybox
	assert_eq "$(jq -r .decision <<<"$output")" reject
	assert_eq "$(jq -c .scope <<<"$output")" null
	# and the same policy refuses the dir: image for skopeo too
	agree dir-reject-with-docker-rules 1 "$(cat "$T/p.json")"
}
