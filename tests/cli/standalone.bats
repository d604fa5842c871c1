#!/usr/bin/env bats
# imgsign standalone / imgverify standalone (spec §2, §8.1, §8.2, §10): byte-level interop with
# skopeo 1.9.3's standalone-sign / standalone-verify in both directions, for a Docker schema 2 and
# an OCI manifest, and every way a signature file is refused, each with its one-line reason.
#
# All keys live in one "user" keyring ($GNUPGHOME, made in setup_file under the file's temporary
# directory): that is where both skopeo and imgsign sign and what skopeo 1.9.3 (which has no
# --public-key-file) verifies against.

load ../lib/common
load ../lib/gpg

IMGSIGN="$IMGTRUST_BUILD/imgsign"
IMGVERIFY="$IMGTRUST_BUILD/imgverify"
DOCKER_M="$IMGTRUST_FIXTURES/manifests/docker-v2s2.json"
OCI_M="$IMGTRUST_FIXTURES/manifests/oci.json"
REF=docker.io/library/busybox:latest

setup_file() {
	it_isolate "$BATS_FILE_TMPDIR/env"
	gpg_home_init
	local k="$BATS_FILE_TMPDIR/keys" d
	mkdir -p "$k"
	d=$(manifest_digest "$DOCKER_M")
	payload_json "$REF" "$d" >"$k/payload"

	gpg_new_key 'Alice <alice@example.test>' >"$k/A"
	gpg_new_key 'Bob <bob@example.test>' >"$k/B"
	# Valid for two days from 2020-01-01, and it signed on the first day.
	gpg_new_key 'Expired <expired@example.test>' sign 2d --faked-system-time 20200101T000000 >"$k/E"
	gpg_batch --faked-system-time 20200101T120000 -u "$(cat "$k/E")!" --sign \
		-o "$k/expired.sig" "$k/payload" 2>/dev/null
	# Signs while valid, then is revoked.
	gpg_new_key 'Revoked <revoked@example.test>' >"$k/R"
	gpg_batch -u "$(cat "$k/R")!" --sign -o "$k/revoked.sig" "$k/payload"
	gpg_revoke "$(cat "$k/R")"
	# The primary key may only certify; a subkey signs.
	gpg_new_key 'Subkey <subkey@example.test>' cert >"$k/S"
	gpg_add_signing_subkey "$(cat "$k/S")" >"$k/SS"
	gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase 'open sesame' \
		--quick-gen-key 'Pass <pass@example.test>' ed25519 sign never 2>/dev/null
	gpg_fpr pass@example.test >"$k/P"
	local f
	for f in A B E R S SS P; do
		[ "$(wc -c <"$k/$f")" -eq 41 ] || fail "no fingerprint for key $f" || return 1
	done
	gpg --batch --export "$(cat "$k/A")" >"$k/A.gpg"
	gpg --batch --export "$(cat "$k/A")" "$(cat "$k/B")" >"$k/AB.gpg"
	gpg --batch --export --armor "$(cat "$k/B")" >"$k/B.asc"
}

teardown_file() {
	gpgconf --homedir "$BATS_FILE_TMPDIR/env/gnupg" --kill all 2>/dev/null || true
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	it_isolate "$BATS_FILE_TMPDIR/env"
	[ -x "$IMGSIGN" ] || fail "imgsign not built: $IMGSIGN (set IMGTRUST_BUILD)"
	[ -x "$IMGVERIFY" ] || fail "imgverify not built: $IMGVERIFY (set IMGTRUST_BUILD)"
	need_cmd skopeo
	need_cmd jq
	K="$BATS_FILE_TMPDIR/keys"
	A=$(cat "$K/A") B=$(cat "$K/B") E=$(cat "$K/E") R=$(cat "$K/R")
	S=$(cat "$K/S") SS=$(cat "$K/SS") P=$(cat "$K/P")
	T="$BATS_TEST_TMPDIR"
}

# verified MANIFEST: the exact stdout of a successful verification (skopeo 1.9.3's wording).
verified() {
	printf 'Signature verified, digest %s' "$(manifest_digest "$1")"
}

# assert_verified MANIFEST: after `run --separate-stderr`, exit 0, that stdout, nothing on stderr.
assert_verified() {
	assert_status 0 || return 1
	assert_eq "$output" "$(verified "$1")" "stdout" || return 1
	assert_eq "$stderr" "" "stderr"
}

# assert_rejected SIG REASON: exit 1, no stdout, stderr exactly "imgverify: SIG: REASON".
assert_rejected() {
	assert_status 1 || return 1
	assert_eq "$output" "" "stdout" || return 1
	assert_eq "${#stderr_lines[@]}" 1 "number of stderr lines" || return 1
	assert_eq "$stderr" "imgverify: $1: $2" "stderr"
}

# imgverify_std ARGS...: imgverify standalone with run's bookkeeping.
imgverify_std() {
	run --separate-stderr "$IMGVERIFY" standalone "$@"
}

# skopeo_verify MANIFEST REF FPR SIG: skopeo 1.9.3 standalone-verify (user keyring only).
skopeo_verify() {
	run --separate-stderr skopeo standalone-verify "$@"
}

# ---------------------------------------------------------------------------------------------
# Interop, both directions, both manifest types (§8.1, §8.2).

@test "imgsign signature of a Docker v2s2 manifest is verified by skopeo standalone-verify" {
	run --separate-stderr "$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	assert_status 0
	assert_eq "$output$stderr" "" "imgsign output"
	assert_eq "$(stat -c %a "$T/sig")" 644 "signature file mode"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
}

@test "imgsign signature of an OCI manifest is verified by skopeo standalone-verify" {
	run --separate-stderr "$IMGSIGN" standalone -o "$T/sig" "$OCI_M" quay.io/team/api:2.4.1 "$A"
	assert_status 0
	skopeo_verify "$OCI_M" quay.io/team/api:2.4.1 "$A" "$T/sig"
	assert_verified "$OCI_M"
	imgverify_std "$OCI_M" quay.io/team/api:2.4.1 "$A" "$T/sig"
	assert_verified "$OCI_M"
}

@test "skopeo standalone-sign signature of a Docker v2s2 manifest is verified by imgverify" {
	skopeo standalone-sign "$DOCKER_M" "$REF" "$A" -o "$T/sig"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
	assert_eq "$output" "Signature verified, digest sha256:$(sha256sum <"$DOCKER_M" | cut -d' ' -f1)"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
}

@test "skopeo standalone-sign signature of an OCI manifest is verified by imgverify" {
	skopeo standalone-sign "$OCI_M" quay.io/team/api:2.4.1 "$A" -o "$T/sig"
	imgverify_std "$OCI_M" quay.io/team/api:2.4.1 "$A" "$T/sig"
	assert_verified "$OCI_M"
	assert_eq "$output" "Signature verified, digest sha256:$(sha256sum <"$OCI_M" | cut -d' ' -f1)"
}

@test "imgsign writes the payload skopeo writes: same critical part, creator, integer timestamp" {
	local m before after version
	version=$("$IMGSIGN" --version | awk '{print $NF}')
	[ -n "$version" ]
	for m in "$DOCKER_M" "$OCI_M"; do
		before=$(date +%s)
		"$IMGSIGN" standalone -o "$T/i.sig" "$m" "$REF" "$A"
		skopeo standalone-sign "$m" "$REF" "$A" -o "$T/s.sig"
		after=$(date +%s)
		sig_payload "$T/i.sig" >"$T/i.json"
		sig_payload "$T/s.sig" >"$T/s.json"
		# critical: the same members with the same values (type, identity, digest).
		jq -S .critical "$T/i.json" >"$T/i.crit"
		jq -S .critical "$T/s.json" >"$T/s.crit"
		assert_same_json "$T/i.crit" "$T/s.crit"
		assert_eq "$(jq -c '[paths]' "$T/i.crit")" "$(jq -c '[paths]' "$T/s.crit")" "critical members"
		assert_eq "$(jq -r '.critical.image."docker-manifest-digest"' "$T/i.json")" \
			"$(manifest_digest "$m")" "digest"
		assert_eq "$(jq -r '.critical.identity."docker-reference"' "$T/i.json")" "$REF" "identity"
		assert_eq "$(jq -r .critical.type "$T/i.json")" "atomic container signature" "type"
		# optional: the same members; our creator, and an integral timestamp in seconds.
		assert_eq "$(jq -c '.optional|keys' "$T/i.json")" "$(jq -c '.optional|keys' "$T/s.json")" \
			"optional members"
		assert_eq "$(jq -c 'keys' "$T/i.json")" '["critical","optional"]' "top-level members"
		assert_eq "$(jq -r .optional.creator "$T/i.json")" "imgtrust $version" "creator"
		assert_contains "$(jq -r .optional.creator "$T/s.json")" "atomic " "skopeo's creator"
		assert_eq "$(jq '.optional.timestamp | type == "number" and . == floor' "$T/i.json")" true \
			"timestamp is an integer"
		local ts
		ts=$(jq .optional.timestamp "$T/i.json")
		[ "$ts" -ge "$before" ] && [ "$ts" -le "$after" ] ||
			fail "timestamp $ts not within [$before, $after]"
		# Same serialisation as upstream: sorted keys, no whitespace, no trailing newline.
		assert_eq "$(cat "$T/i.json")" "$(jq -cS . "$T/i.json")" "imgsign payload bytes"
		assert_eq "$(cat "$T/s.json")" "$(jq -cS . "$T/s.json")" "skopeo payload bytes"
		assert_eq "$(tail -c1 "$T/i.json" | od -An -c | tr -d ' ')" "}" "last payload byte"
	done
}

@test "imgsign embeds the reference verbatim: busybox:latest stays busybox:latest (§10.59)" {
	"$IMGSIGN" standalone -o "$T/i.sig" "$DOCKER_M" busybox:latest "$A"
	skopeo standalone-sign "$DOCKER_M" busybox:latest "$A" -o "$T/s.sig"
	assert_eq "$(sig_payload "$T/i.sig" | jq -r '.critical.identity."docker-reference"')" \
		busybox:latest "imgsign identity"
	assert_eq "$(sig_payload "$T/s.sig" | jq -r '.critical.identity."docker-reference"')" \
		busybox:latest "skopeo identity"
	# Both references are normalised when compared, with no default tag.
	imgverify_std "$DOCKER_M" docker.io/library/busybox:latest "$A" "$T/i.sig"
	assert_verified "$DOCKER_M"
	imgverify_std "$DOCKER_M" busybox:latest "$A" "$T/i.sig"
	assert_verified "$DOCKER_M"
	skopeo_verify "$DOCKER_M" docker.io/library/busybox:latest "$A" "$T/i.sig"
	assert_verified "$DOCKER_M"
}

@test "expected reference busybox does not match a busybox:latest signature (§10.58)" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" busybox:latest "$A"
	imgverify_std "$DOCKER_M" busybox "$A" "$T/sig"
	assert_rejected "$T/sig" 'signature is for "busybox:latest", not busybox'
	skopeo_verify "$DOCKER_M" busybox "$A" "$T/sig"
	assert_status 1
	assert_contains "$stderr" "Error verifying signature"
}

@test "a lowercase fingerprint is not the signer's (§10.58)" {
	local lower="${A,,}"
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	imgverify_std "$DOCKER_M" "$REF" "$lower" "$T/sig"
	assert_rejected "$T/sig" "signed by key $A, not one of $lower"
	skopeo_verify "$DOCKER_M" "$REF" "$lower" "$T/sig"
	assert_status 1
	assert_contains "$stderr" "does not match expected fingerprint $lower"
}

@test "imgverify --public-key-file with a fingerprint list and with any" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	imgverify_std --public-key-file "$K/A.gpg" "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
	imgverify_std --public-key-file "$K/AB.gpg" "$DOCKER_M" "$REF" "$B,$A" "$T/sig"
	assert_verified "$DOCKER_M"
	imgverify_std --public-key-file "$K/A.gpg" "$DOCKER_M" "$REF" any "$T/sig"
	assert_verified "$DOCKER_M"
	# Only the file's keys count, not the user's keyring (which holds A).
	imgverify_std --public-key-file "$K/B.asc" "$DOCKER_M" "$REF" any "$T/sig"
	assert_rejected "$T/sig" "no public key for key ID ${A:24} (not a trusted key)"
	# "any" means the keys of --public-key-file, so it needs one.
	imgverify_std "$DOCKER_M" "$REF" any "$T/sig"
	assert_status 2
	assert_eq "$output" ""
	assert_contains "$stderr" "--public-key-file"
}

# ---------------------------------------------------------------------------------------------
# Rejections, each with its reason.

@test "signed by a valid key that is not in the fingerprint list (§10.2)" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$B"
	# B is in the keyring the signature is checked against, but not accepted.
	imgverify_std --public-key-file "$K/AB.gpg" "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "signed by key $B, not one of $A"
	# From the user's keyring only the listed keys are taken: B is then unknown (§10.1).
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "no public key for key ID ${B:24} (not a trusted key)"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "FINGERPRINTS are fingerprints, not gpg search patterns" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	# A key that is not in the user's keyring at all.
	imgverify_std "$DOCKER_M" "$REF" 0123456789ABCDEF0123456789ABCDEF01234567 "$T/sig"
	assert_rejected "$T/sig" \
		"no public key 0123456789ABCDEF0123456789ABCDEF01234567 in your keyring"
	# gpg finds Alice's key by name, but the name is not her fingerprint.
	imgverify_std "$DOCKER_M" "$REF" alice@example.test "$T/sig"
	assert_rejected "$T/sig" "signed by key $A, not one of alice@example.test"
	skopeo_verify "$DOCKER_M" "$REF" alice@example.test "$T/sig"
	assert_status 1
}

@test "a tampered payload is a bad signature" {
	local d
	d=$(manifest_digest "$DOCKER_M")
	payload_json "$REF" "$d" >"$T/payload"
	# Uncompressed, so the payload bytes are in the file and one can be changed.
	gpg_batch -z 0 -u "$A!" --sign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
	flip_byte_at "$T/sig" "${d#sha256:}"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "bad signature (data was altered)"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a flipped byte in a compressed imgsign signature is rejected in one line" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	local n
	n=$(stat -c %s "$T/sig")
	printf '\377' | dd of="$T/sig" bs=1 seek=$((n - 20)) conv=notrunc 2>/dev/null
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
	assert_eq "$output" ""
	assert_eq "${#stderr_lines[@]}" 1 "number of stderr lines"
	assert_contains "$stderr" "imgverify: $T/sig: "
}

@test "a signature for another manifest: digest mismatch (§10.17)" {
	"$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$A"
	imgverify_std "$OCI_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" \
		"signature is for manifest digest $(manifest_digest "$DOCKER_M"), not this image's $(manifest_digest "$OCI_M")"
	skopeo_verify "$OCI_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a signature for another reference: identity mismatch" {
	skopeo standalone-sign "$DOCKER_M" "$REF" "$A" -o "$T/sig"
	imgverify_std "$DOCKER_M" docker.io/library/alpine:latest "$A" "$T/sig"
	assert_rejected "$T/sig" \
		"signature is for \"$REF\", not docker.io/library/alpine:latest"
	imgverify_std "$DOCKER_M" docker.io/library/busybox:1.36 "$A" "$T/sig"
	assert_rejected "$T/sig" "signature is for \"$REF\", not docker.io/library/busybox:1.36"
}

@test "an unknown critical member is refused (§10.9)" {
	payload_json "$REF" "$(manifest_digest "$DOCKER_M")" ',"future":{"x":1}' >"$T/payload"
	gpg_batch -u "$A!" --sign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "payload: critical.future: unknown member"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a missing critical member is refused" {
	printf '{"critical":{"image":{"docker-manifest-digest":"%s"},"type":"atomic container signature"},"optional":{}}' \
		"$(manifest_digest "$DOCKER_M")" >"$T/payload"
	gpg_batch -u "$A!" --sign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "payload: critical.identity: missing"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a signature by an expired key is refused" {
	imgverify_std "$DOCKER_M" "$REF" "$E" "$K/expired.sig"
	assert_rejected "$K/expired.sig" "key $E has expired"
	skopeo_verify "$DOCKER_M" "$REF" "$E" "$K/expired.sig"
	assert_status 1
}

@test "a signature by a revoked key is refused" {
	imgverify_std "$DOCKER_M" "$REF" "$R" "$K/revoked.sig"
	assert_rejected "$K/revoked.sig" "key $R is revoked"
	skopeo_verify "$DOCKER_M" "$REF" "$R" "$K/revoked.sig"
	assert_status 1
}

@test "a detached signature is refused" {
	payload_json "$REF" "$(manifest_digest "$DOCKER_M")" >"$T/payload"
	gpg_batch -u "$A!" --detach-sign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "signature: detached signature; a signed message is required"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a clear-signed message is refused (skopeo 1.9.3 accepts it)" {
	payload_json "$REF" "$(manifest_digest "$DOCKER_M")" >"$T/payload"
	gpg_batch -u "$A!" --clearsign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" \
		"signature: clear-signed OpenPGP text; a binary signed message is required"
	# skopeo hands the file to gpgme as it is, and gpgme verifies clear-signed text: skopeo
	# accepts what we refuse (spec §2.1, §8.2).
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
}

@test "an armored signed message is refused (skopeo 1.9.3 accepts it)" {
	payload_json "$REF" "$(manifest_digest "$DOCKER_M")" >"$T/payload"
	gpg_batch -u "$A!" --armor --sign -o "$T/sig" "$T/payload"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" \
		"signature: armored (ASCII) OpenPGP data; a binary signed message is required"
	# gpgme dearmors by itself, so skopeo standalone-verify accepts this too.
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
}

@test "trailing bytes after a signed message are refused (skopeo 1.9.3 accepts them)" {
	skopeo standalone-sign "$DOCKER_M" "$REF" "$A" -o "$T/good.sig"
	{
		cat "$T/good.sig"
		printf 'trailing bytes'
	} >"$T/sig"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "signature: data after the end of the compressed stream"
	# gpg stops reading after the compressed packet: skopeo accepts the file.
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_verified "$DOCKER_M"
}

@test "garbage is refused" {
	printf 'this is not a signature\n' >"$T/sig"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "signature: unrecognized signature format (first byte 0x74)"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "an empty signature file is refused" {
	: >"$T/sig"
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_rejected "$T/sig" "signature: empty blob"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "an oversized signature is refused with its size, in bounded memory" {
	head -c 5242880 /dev/zero >"$T/sig"
	run --separate-stderr /usr/bin/time -f %M -o "$T/rss" "$IMGVERIFY" standalone \
		"$DOCKER_M" "$REF" "$A" "$T/sig"
	local kib
	kib=$(tail -1 "$T/rss")
	[ "$kib" -lt 65536 ] || fail "peak RSS ${kib} KiB, want < 64 MiB"
	# A signature that cannot be accepted is a rejection (exit 1), like an empty or garbage one;
	# gpg.h and envelope.h also count an oversized blob among the rejections.
	assert_rejected "$T/sig" "too large (5242880 bytes; at most 4194304 are read)"
	skopeo_verify "$DOCKER_M" "$REF" "$A" "$T/sig"
	assert_status 1
}

@test "a passphrase-protected key with --passphrase-file: wrong, then right" {
	# No agent may remember an earlier unlock (gpg_home_init also turns caching off).
	gpgconf --kill gpg-agent
	printf 'not it\n' >"$T/wrong"
	run --separate-stderr "$IMGSIGN" standalone --passphrase-file "$T/wrong" -o "$T/sig" \
		"$DOCKER_M" "$REF" "$P"
	assert_status 2
	assert_eq "$output" ""
	assert_eq "$stderr" "imgsign: wrong passphrase for key $P"
	[ ! -e "$T/sig" ] || fail "a signature was written with a wrong passphrase"
	# Only the first line is the passphrase.
	printf 'open sesame\nsecond line\n' >"$T/right"
	run --separate-stderr "$IMGSIGN" standalone --passphrase-file "$T/right" -o "$T/sig" \
		"$DOCKER_M" "$REF" "$P"
	assert_status 0
	assert_eq "$stderr" ""
	imgverify_std "$DOCKER_M" "$REF" "$P" "$T/sig"
	assert_verified "$DOCKER_M"
	skopeo_verify "$DOCKER_M" "$REF" "$P" "$T/sig"
	assert_verified "$DOCKER_M"
	# Unlocked once does not mean unlocked for the next call.
	run --separate-stderr "$IMGSIGN" standalone --passphrase-file "$T/wrong" -o "$T/sig2" \
		"$DOCKER_M" "$REF" "$P"
	assert_status 2
	assert_eq "$stderr" "imgsign: wrong passphrase for key $P"
}

@test "a certify-only primary key: imgsign warns and signs with the subkey; skopeo 1.9.3 refuses it" {
	run --separate-stderr "$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "$REF" "$S"
	assert_status 0
	assert_eq "$output" ""
	assert_eq "${#stderr_lines[@]}" 1 "number of stderr lines"
	assert_contains "$stderr" "imgsign: warning: key $S: "
	assert_contains "$stderr" "subkey $SS"
	assert_contains "$stderr" "skopeo 1.9.3"
	# The subkey's signature counts as its primary key's, and as its own (§8.2).
	imgverify_std "$DOCKER_M" "$REF" "$S" "$T/sig"
	assert_verified "$DOCKER_M"
	imgverify_std "$DOCKER_M" "$REF" "$SS" "$T/sig"
	assert_verified "$DOCKER_M"
	skopeo_verify "$DOCKER_M" "$REF" "$S" "$T/sig"
	assert_status 1
	assert_contains "$stderr" "Signature by $SS does not match expected fingerprint $S"
}

# ---------------------------------------------------------------------------------------------
# Usage and input errors.

@test "usage errors exit 2" {
	run --separate-stderr "$IMGVERIFY" standalone "$DOCKER_M" "$REF" "$A"
	assert_status 2
	assert_contains "$stderr" "exactly four arguments"
	run --separate-stderr "$IMGSIGN" standalone "$DOCKER_M" "$REF" "$A"
	assert_status 2
	assert_contains "$stderr" "--output"
	run --separate-stderr "$IMGSIGN" standalone -o "$T/sig" "$DOCKER_M" "" "$A"
	assert_status 2
	[ ! -e "$T/sig" ]
}

@test "a missing signature file is an I/O error (exit 3)" {
	imgverify_std "$DOCKER_M" "$REF" "$A" "$T/nosuch"
	assert_status 3
	assert_eq "$output" ""
	assert_eq "$stderr" "imgverify: $T/nosuch: No such file or directory"
}
