#!/usr/bin/env bats
# Signing and verification end to end on loopback, against skopeo 1.9.3 with the same files.
#
# setup_file starts Debian's docker-registry and an nginx serving the lookaside directory, makes a
# trusted and an untrusted key, and writes one registries.d (lookaside: the nginx, lookaside-staging:
# the directory nginx serves) and the policies. Each test pushes to its own repository e2e/<case>,
# signs with `imgsign sign` (or `skopeo copy --sign-by`), and then `agree` runs, for the same
# reference, policy and registries.d,
#     skopeo copy --src-tls-verify=false --policy P --registries.d D docker://REF dir:OUT
#     imgverify   --tls-verify=false     --policy P --registries.d D docker://REF
# and asserts the verdict each gives, the one we expect, and the reason each states. The cases:
#
#   case                                                   policy identity rule   verdict
#   signed by the trusted key                              default                accept
#   unsigned                                               default                reject
#   signed by another key                                  default                reject
#   another image's signature copied into place (x2)       default                reject (digest)
#   second tag of a signed manifest (§10.55)               default                reject (identity)
#   second tag of a signed manifest                        matchRepository        accept
#   pull by digest, tag signature (§10.21)                 default                accept
#   pull by digest, tag signature                          matchExact             reject (identity)
#   bad-signature OpenPGP message, then a valid one        default                accept
#   the bad-signature message alone                        default                reject
#   unparseable OpenPGP-looking blob, then a valid one     default                accept
#   the unparseable blob alone                             default                reject
#   signature-2 without signature-1 (§10.46)               default                reject
#   other key's signature-1, trusted signature-2           default                accept
#   lookaside blob formats (§4.6, §10.8): armored, empty,
#     unknown tagged format, then a valid one              default                refuse (whole read)
#   '='-junk, sigstore-json, tagged armored, then valid    default                accept
#   tagged simple-signing alone                            default                accept
#   sigstore-json alone                                    default                reject
#   `skopeo copy --sign-by`                                default                accept
#   index, amd64 instance signed (§3.3, §10.57)            default                accept (tag, digest)
#   index, only the index signed                           default                reject
#   index, only the arm64 instance signed                  default                reject
#   lookaside answers 500 (§10.47)                         default                error
#
# and imgsign/imgverify specifics: several references in one call, --json, Basic auth with
# --creds (a wrong password fails with exit 3 and is never shown), signing twice appends
# signature-2, and no writable lookaside configured (an http lookaside only) is refused.
#
# One intended disagreement is asserted as such: a tagged simple-signing blob with an armored
# body, alone, which skopeo accepts and imgverify refuses (spec §2.1). Tests marked KNOWN BUG
# fail until imgverify is fixed.

load ../lib/common
load ../lib/services
load ../lib/gpg

TRUSTED_UID='Release Bot <release@e2e.test>'
OTHER_UID='Mallory <mallory@e2e.test>'

setup_file() {
	need_imgtrust
	need_cmd skopeo
	need_cmd docker-registry
	need_cmd nginx nginx-light
	need_cmd htpasswd apache2-utils
	need_cmd jq
	need_cmd gpg
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	gpg_home_init
	export IMGSIGN="$IMGTRUST_BUILD/imgsign" IMGVERIFY="$IMGTRUST_BUILD/imgverify"
	if [ ! -x "$IMGSIGN" ] || [ ! -x "$IMGVERIFY" ]; then
		fail "imgsign/imgverify not built in $IMGTRUST_BUILD"
		return 1
	fi

	export FPR_A FPR_B KEYID_B
	FPR_A=$(gpg_new_key "$TRUSTED_UID")
	FPR_B=$(gpg_new_key "$OTHER_UID")
	[[ "$FPR_A" =~ ^[0-9A-F]{40}$ && "$FPR_B" =~ ^[0-9A-F]{40}$ ]] || fail "keys: '$FPR_A' '$FPR_B'"
	KEYID_B=${FPR_B: -16}
	gpg --batch --export --armor "$FPR_A" >"$FT/trusted.asc"

	# nginx's workers must be able to read the lookaside tree.
	export SIG="$FT/sigstore"
	mkdir -p "$SIG"
	chmod 755 "$FT" "$SIG"
	start_registry >/dev/null
	start_nginx "$SIG" >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"

	export RD="$FT/registries.d"
	mkdir -p "$RD" "$FT/empty.d"
	cat >"$RD/e2e.yaml" <<-YAML
		docker:
		  $REGISTRY:
		    lookaside: $LOOKASIDE_URL
		    lookaside-staging: file://$SIG
		  $REGISTRY/e2e/broken:
		    lookaside: $LOOKASIDE_URL/status500
	YAML
	export POL="$FT/policy.json" POL_REPO="$FT/policy-repo.json" POL_EXACT="$FT/policy-exact.json"
	export POL_OPEN="$FT/policy-open.json"
	write_policy "$POL" "$REGISTRY"
	write_policy "$POL_REPO" "$REGISTRY" ',"signedIdentity":{"type":"matchRepository"}'
	write_policy "$POL_EXACT" "$REGISTRY" ',"signedIdentity":{"type":"matchExact"}'
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POL_OPEN"
}

teardown_file() {
	IT_SERVICES_DIR="${FILE_SERVICES_DIR:-}" stop_services
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	N=0
	# Files the test writes into the lookaside must be readable by nginx's workers.
	chmod 755 "$T"
}

teardown() {
	# A test that started its own services (the htpasswd registry) stops exactly those.
	if [ -n "${IT_SERVICES_DIR:-}" ] && [ "$IT_SERVICES_DIR" != "$FILE_SERVICES_DIR" ]; then
		stop_services
	fi
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# write_policy FILE SCOPE [EXTRA]: reject by default; SCOPE needs a signature by the trusted key.
# EXTRA is added inside the signedBy requirement (a signedIdentity).
write_policy() {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"%s}]}}}' \
		"$2" "$FT/trusted.asc" "${3:-}" >"$1"
}

# publish: make what was written to the staging directory readable over HTTP.
publish() {
	chmod -R a+rX "$SIG"
}

# sign REF [OPTION...]: imgsign sign docker://REF with the trusted key (--sign-by KEY first in
# the options to use another) into the staging directory; prints imgsign's output.
sign() {
	local ref="$1" by="$FPR_A"
	shift
	if [ "${1:-}" = --sign-by ]; then
		by="$2"
		shift 2
	fi
	"$IMGSIGN" sign --sign-by "$by" --registries.d "$RD" --tls-verify=false "$@" "docker://$ref" ||
		fail "imgsign sign docker://$ref failed" || return 1
	publish
}

# sigdir REPO DIGEST: the staging directory holding REPO's signatures for DIGEST.
sigdir() {
	printf '%s/%s@%s\n' "$SIG" "$1" "${2/:/=}"
}

# retag FROM TO: copy docker://FROM to docker://TO on the registry unchanged (same manifest
# bytes, so the same digest), without signatures.
retag() {
	skopeo copy -q --policy "$POL_OPEN" --registries.d "$FT/empty.d" --authfile "$FT/auth.json" \
		--src-tls-verify=false --dest-tls-verify=false "docker://$1" "docker://$2" ||
		fail "skopeo could not copy $1 to $2"
}

# agree NAME EXPECT REF [POLICY [IMGVERIFY-REASON [SKOPEO-REASON]]]: skopeo copy and imgverify
# on docker://REF give the verdict EXPECT (accept, reject, error, refuse). For accept, imgverify's first
# stdout line says accepted and its stdout contains IMGVERIFY-REASON, and skopeo wrote the image.
# For reject, imgverify exits 1 with nothing on stdout and a first stderr line
# "imgverify: docker://REF: rejected: ..."; stderr contains IMGVERIFY-REASON. For error,
# imgverify exits 3 and stderr contains IMGVERIFY-REASON; for refuse, 1 or 3. skopeo fails for both, its stderr
# containing SKOPEO-REASON. Sets IV_OUT/IV_ERR/SK_ERR for further checks. With E2E_LOG set,
# both tools' messages are appended to that file (to see their wording when adding a case).
agree() {
	local name="$1" expect="$2" ref="$3" policy="${4:-$POL}" ivr="${5-}" skr="${6-}"
	N=$((N + 1))
	local out="$T/copy-$N"
	run --separate-stderr "$IMGVERIFY" --policy "$policy" --registries.d "$RD" --tls-verify=false \
		"docker://$ref"
	local iv="$status"
	IV_OUT="$output" IV_ERR="$stderr"
	run --separate-stderr skopeo copy -q --src-tls-verify=false --policy "$policy" \
		--registries.d "$RD" --authfile "$FT/auth.json" "docker://$ref" "dir:$out"
	local sk="$status"
	SK_ERR="$stderr"
	[ -z "${E2E_LOG:-}" ] || printf '== %s\n%s\n%s\n%s\n' "$name" "$IV_OUT" "$IV_ERR" "$SK_ERR" >>"$E2E_LOG"
	local ctx=("--- imgverify exit $iv, stdout:" "$IV_OUT" "--- imgverify stderr:" "$IV_ERR"
		"--- skopeo exit $sk, stderr:" "$SK_ERR" "--- policy:" "$(cat "$policy")")

	case "$expect" in
	accept)
		[ "$iv" -eq 0 ] || fail "[$name] imgverify does not accept docker://$ref" "${ctx[@]}" ||
			return 1
		[ "$sk" -eq 0 ] || fail "[$name] skopeo does not accept docker://$ref" "${ctx[@]}" ||
			return 1
		[ -f "$out/manifest.json" ] || fail "[$name] skopeo wrote no manifest" || return 1
		assert_eq "${IV_OUT%%$'\n'*}" "docker://$ref: accepted" "[$name] imgverify first line" ||
			return 1
		[ -z "$IV_ERR" ] || fail "[$name] imgverify wrote to stderr" "${ctx[@]}" || return 1
		;;
	reject)
		[ "$sk" -ne 0 ] || fail "[$name] skopeo accepts docker://$ref" "${ctx[@]}" || return 1
		[ "$iv" -eq 1 ] || fail "[$name] imgverify: exit $iv, want 1 (rejected)" "${ctx[@]}" ||
			return 1
		[ -z "$IV_OUT" ] || fail "[$name] imgverify wrote to stdout" "${ctx[@]}" || return 1
		case "${IV_ERR%%$'\n'*}" in
		"imgverify: docker://$ref: rejected: "*) ;;
		*) fail "[$name] imgverify's first stderr line is not the rejection" "${ctx[@]}" || return 1 ;;
		esac
		assert_contains "$SK_ERR" "Source image rejected" "[$name] skopeo stderr" || return 1
		;;
	refuse)
		[ "$sk" -ne 0 ] || fail "[$name] skopeo accepts docker://$ref" "${ctx[@]}" || return 1
		[ "$iv" -eq 1 ] || [ "$iv" -eq 3 ] ||
			fail "[$name] imgverify: exit $iv, want 1 (rejected) or 3 (error)" "${ctx[@]}" ||
			return 1
		[ -z "$IV_OUT" ] || fail "[$name] imgverify wrote to stdout" "${ctx[@]}" || return 1
		;;
	error)
		[ "$sk" -ne 0 ] || fail "[$name] skopeo accepts docker://$ref" "${ctx[@]}" || return 1
		[ "$iv" -eq 3 ] || fail "[$name] imgverify: exit $iv, want 3 (error)" "${ctx[@]}" ||
			return 1
		[ -z "$IV_OUT" ] || fail "[$name] imgverify wrote to stdout" "${ctx[@]}" || return 1
		;;
	*)
		fail "agree: unknown verdict $expect"
		return 1
		;;
	esac
	if [ -n "$ivr" ]; then
		if [ "$expect" = accept ]; then
			assert_contains "$IV_OUT" "$ivr" "[$name] imgverify stdout" || return 1
		else
			assert_contains "$IV_ERR" "$ivr" "[$name] imgverify stderr" || return 1
		fi
	fi
	if [ -n "$skr" ]; then
		assert_contains "$SK_ERR" "$skr" "[$name] skopeo stderr" || return 1
	fi
}

# ---------------------------------------------------------------------------------------------
# The comparison table.

@test "signed by the trusted key: both accept" {
	d=$(push_test_image e2e/signed:1)
	run --separate-stderr sign "$REGISTRY/e2e/signed:1"
	assert_status 0
	assert_eq "${lines[0]}" "Signed $d for $REGISTRY/e2e/signed:1" "imgsign line 1"
	assert_eq "${lines[1]}" "Wrote $(sigdir e2e/signed "$d")/signature-1" "imgsign line 2"
	assert_eq "${lines[2]}" "Consumers read it from $LOOKASIDE_URL/e2e/signed@${d/:/=}/signature-1" \
		"imgsign line 3"
	agree trusted accept "$REGISTRY/e2e/signed:1" "$POL" \
		"$LOOKASIDE_URL/e2e/signed@${d/:/=}/signature-1: signed by $FPR_A for $REGISTRY/e2e/signed:1"
	# What nginx serves is what gpg (given the trusted key) verifies as this payload.
	curl -sf --noproxy '*' -o "$T/sig1" "$LOOKASIDE_URL/e2e/signed@${d/:/=}/signature-1"
	jq -e --arg r "$REGISTRY/e2e/signed:1" --arg d "$d" \
		'.critical.identity["docker-reference"] == $r and .critical.image["docker-manifest-digest"] == $d and .critical.type == "atomic container signature"' \
		< <(sig_payload "$T/sig1") >/dev/null || fail "payload: $(sig_payload "$T/sig1")"
}

@test "unsigned: both reject, no signature exists" {
	push_test_image e2e/unsigned:1 >/dev/null
	agree unsigned reject "$REGISTRY/e2e/unsigned:1" "$POL" \
		"a signature was required, but no signature exists" \
		"A signature was required, but no signature exists"
}

@test "signed by another key: both reject, no public key" {
	d=$(push_test_image e2e/otherkey:1)
	sign "$REGISTRY/e2e/otherkey:1" --sign-by "$FPR_B" >/dev/null
	[ -f "$(sigdir e2e/otherkey "$d")/signature-1" ]
	agree otherkey reject "$REGISTRY/e2e/otherkey:1" "$POL" \
		"signature-1: no public key for key ID $KEYID_B" "Invalid GPG signature"
	assert_contains "$IV_ERR" "no signature from a trusted key"
}

@test "another image's signature copied into place: both reject, digest mismatch" {
	src=$(push_test_image e2e/copysrc:1 "the signed one")
	dst=$(push_test_image e2e/copydst:1 "the other one")
	[ "$src" != "$dst" ] || fail "the two images have the same digest"
	# As signed: identity e2e/copysrc:1, so both the digest and the identity are wrong.
	sign "$REGISTRY/e2e/copysrc:1" >/dev/null
	mkdir -p "$(sigdir e2e/copydst "$dst")"
	cp "$(sigdir e2e/copysrc "$src")/signature-1" "$(sigdir e2e/copydst "$dst")/signature-1"
	publish
	agree copied reject "$REGISTRY/e2e/copydst:1" "$POL" \
		"signature is for manifest digest $src, not this image's $dst" \
		"Signature for digest $src does not match"

	# Signed for the victim's own identity: only the digest is wrong.
	src2=$(push_test_image e2e/copysrc2:1 "the signed one, second")
	dst2=$(push_test_image e2e/copydst2:1 "the other one, second")
	sign "$REGISTRY/e2e/copysrc2:1" --sign-identity "$REGISTRY/e2e/copydst2:1" >/dev/null
	mkdir -p "$(sigdir e2e/copydst2 "$dst2")"
	cp "$(sigdir e2e/copysrc2 "$src2")/signature-1" "$(sigdir e2e/copydst2 "$dst2")/signature-1"
	publish
	agree copied-same-identity reject "$REGISTRY/e2e/copydst2:1" "$POL" \
		"signature is for manifest digest $src2, not this image's $dst2" \
		"Signature for digest $src2 does not match"
}

@test "same manifest under a second tag, signature for the first tag: default rejects, matchRepository accepts" {
	d=$(push_test_image e2e/retag:1)
	retag "$REGISTRY/e2e/retag:1" "$REGISTRY/e2e/retag:2"
	sign "$REGISTRY/e2e/retag:1" >/dev/null
	# Both tags serve the one manifest, so :2 finds :1's signature under the same digest (§10.55).
	run "$IMGVERIFY" --json --policy "$POL_REPO" --registries.d "$RD" --tls-verify=false \
		"docker://$REGISTRY/e2e/retag:2"
	assert_eq "$(jq -r '.[0].digest' <<<"$output")" "$d" "digest of :2"

	agree retag-default reject "$REGISTRY/e2e/retag:2" "$POL" \
		"identity: signature is for \"$REGISTRY/e2e/retag:1\", not \"$REGISTRY/e2e/retag:2\"" \
		"Signature for identity $REGISTRY/e2e/retag:1 is not accepted"
	agree retag-matchRepository accept "$REGISTRY/e2e/retag:2" "$POL_REPO" \
		"signed by $FPR_A for $REGISTRY/e2e/retag:1"
	agree retag-first-tag accept "$REGISTRY/e2e/retag:1" "$POL" \
		"signed by $FPR_A for $REGISTRY/e2e/retag:1"
}

@test "pull by digest with a tag signature: default accepts, matchExact rejects" {
	d=$(push_test_image e2e/bydigest:1)
	sign "$REGISTRY/e2e/bydigest:1" >/dev/null
	agree bydigest-default accept "$REGISTRY/e2e/bydigest@$d" "$POL" \
		"signed by $FPR_A for $REGISTRY/e2e/bydigest:1"
	agree bydigest-matchExact reject "$REGISTRY/e2e/bydigest@$d" "$POL_EXACT" \
		"identity: signature is for \"$REGISTRY/e2e/bydigest:1\", not \"$REGISTRY/e2e/bydigest@$d\"" \
		"Signature for identity $REGISTRY/e2e/bydigest:1 is not accepted"
}

# hex_bytes HEX: the bytes HEX spells.
hex_bytes() {
	local i
	for ((i = 0; i < ${#1}; i += 2)); do
		printf '%b' "\\x${1:i:2}"
	done
}

# write_openpgp_junk FILE KEYID: an OpenPGP signed message in shape only: a one-pass-signature
# packet naming KEYID (EdDSA, SHA-256), a literal data packet holding "{}", and a version 4
# signature packet made now by KEYID (creation time and issuer subpackets) whose hash prefix and
# values are junk, so that gpg finds the key and reports a bad signature.
write_openpgp_junk() {
	local k="$2" t
	t=$(printf '%08x' "$(date +%s)")
	{
		printf '\x90\x0d\x03\x00\x08\x16'
		hex_bytes "$k"
		printf '\x01'
		printf '\xac\x08b\x00\x00\x00\x00\x00{}'
		printf '\x88\x20\x04\x00\x16\x08\x00\x10\x05\x02'
		hex_bytes "$t"
		printf '\x09\x10'
		hex_bytes "$k"
		printf '\x00\x00\xab\xcd\x00\x08\x01\x00\x08\x01'
	} >"$1"
}

@test "garbage OpenPGP-shaped signature-1, then a valid one: both accept; the garbage alone: both reject" {
	d=$(push_test_image e2e/garbage:1)
	dir=$(sigdir e2e/garbage "$d")
	mkdir -p "$dir"
	write_openpgp_junk "$dir/signature-1" "${FPR_A: -16}"
	publish
	agree junk-only reject "$REGISTRY/e2e/garbage:1" "$POL" "signature-1: bad signature" "Invalid GPG signature"
	assert_contains "$IV_ERR" "no signature from a trusted key"

	run --separate-stderr sign "$REGISTRY/e2e/garbage:1"
	assert_status 0
	assert_eq "${lines[1]}" "Wrote $dir/signature-2" "imgsign appends after the garbage"
	agree junk-then-valid accept "$REGISTRY/e2e/garbage:1" "$POL" \
		"$LOOKASIDE_URL/e2e/garbage@${d/:/=}/signature-2: signed by $FPR_A for $REGISTRY/e2e/garbage:1"
}

@test "unparseable OpenPGP-looking signature-1, then a valid one: both accept; alone: both reject" {
	d=$(push_test_image e2e/garbage2:1)
	dir=$(sigdir e2e/garbage2 "$d")
	mkdir -p "$dir"
	# A one-pass-signature packet header (0x90) and then text: passes format sniffing (§4.6) and
	# fails as OpenPGP.
	printf '\x90\x0d\x03\x00\x08\x16 this is not a signature at all\n' >"$dir/signature-1"
	publish
	agree garbage-only reject "$REGISTRY/e2e/garbage2:1" "$POL" \
		"signature-1: signature: OpenPGP data: byte 0x6e at offset 15 is not a packet header" "No data"
	assert_contains "$IV_ERR" "no signature from a trusted key"

	sign "$REGISTRY/e2e/garbage2:1" >/dev/null
	agree garbage-then-valid accept "$REGISTRY/e2e/garbage2:1" "$POL" \
		"$LOOKASIDE_URL/e2e/garbage2@${d/:/=}/signature-2: signed by $FPR_A for $REGISTRY/e2e/garbage2:1"
}

@test "signature-2 without signature-1 (a gap): both reject, no signature exists" {
	d=$(push_test_image e2e/gap:1)
	dir=$(sigdir e2e/gap "$d")
	sign "$REGISTRY/e2e/gap:1" >/dev/null
	mv "$dir/signature-1" "$dir/signature-2"
	agree gap reject "$REGISTRY/e2e/gap:1" "$POL" \
		"a signature was required, but no signature exists" \
		"A signature was required, but no signature exists"
}

# blob_case REPO KIND: push e2e/REPO:1, sign it twice with the trusted key, then replace
# signature-1 by a blob of KIND made from it (signature-2 stays valid; "tagged" also removes
# signature-2, so only the tagged blob can count):
#   armored        the signature ASCII-armored ("-----BEGIN PGP MESSAGE-----")
#   empty          an empty file
#   unknown-tag    "\0no-such-format\n" and the signature
#   equals         "=" and junk (upstream sniffs '=' as simple signing, §4.6)
#   tagged         "\0simple-signing\n" and the signature (the tagged form, §4.6)
#   tagged-armored "\0simple-signing\n" and the armored signature (-alone: signature-2 removed)
#   sigstore       "\0sigstore-json\n" and a sigstore signature's JSON (-alone: signature-2 removed)
blob_case() {
	local repo="$1" kind="$2" d dir
	d=$(push_test_image "e2e/$repo:1") || return 1
	dir=$(sigdir "e2e/$repo" "$d")
	sign "$REGISTRY/e2e/$repo:1" >/dev/null || return 1
	sign "$REGISTRY/e2e/$repo:1" >/dev/null || return 1
	cp "$dir/signature-1" "$T/sig"
	gpg --batch --enarmor <"$T/sig" 2>/dev/null | sed -e 's/ARMORED FILE/MESSAGE/' >"$T/sig.asc"
	grep -q '^-----BEGIN PGP MESSAGE-----$' "$T/sig.asc" || fail "cannot armor the signature" ||
		return 1
	case "$kind" in
	armored) cp "$T/sig.asc" "$dir/signature-1" ;;
	empty) : >"$dir/signature-1" ;;
	unknown-tag) { printf '\0no-such-format\n' && cat "$T/sig"; } >"$dir/signature-1" ;;
	equals) printf '=junk that is no OpenPGP\n' >"$dir/signature-1" ;;
	tagged)
		{ printf '\0simple-signing\n' && cat "$T/sig"; } >"$dir/signature-1"
		rm "$dir/signature-2"
		;;
	tagged-armored) { printf '\0simple-signing\n' && cat "$T/sig.asc"; } >"$dir/signature-1" ;;
	sigstore | sigstore-alone)
		printf '\0sigstore-json\n{"mimeType":"application/vnd.dev.cosign.simplesigning.v1+json","payload":"e30=","annotations":{"dev.cosignproject.cosign/signature":"AAAA"}}' >"$dir/signature-1"
		if [ "$kind" = sigstore-alone ]; then
			rm "$dir/signature-2"
		fi
		;;
	tagged-armored-alone)
		{ printf '\0simple-signing\n' && cat "$T/sig.asc"; } >"$dir/signature-1"
		rm "$dir/signature-2"
		;;
	*) fail "blob_case: unknown kind $kind" || return 1 ;;
	esac
	publish
	BLOB_DIGEST="$d"
}

# A blob that fails format sniffing fails the whole signature read (§4.2, §4.6, §10.8): skopeo
# refuses the image even though signature-2 is valid. imgverify may call that a rejection (1) or
# an error (3), but must not accept.
#
# KNOWN BUG (imgverify, verify/sigcheck.c sig_check_signed_by): a blob failing sig_blob_sniff is
# only passed over as one bad signature, so signature-2 is then accepted. These three tests fail
# until the lookaside read (or the caller before sig_check_policy) fails as a whole on a blob
# that does not sniff. (A tagged simple-signing blob with an armored body does sniff: keep that
# one a per-signature refusal, see the tests below.)
@test "lookaside blob format: ASCII-armored signature-1, valid signature-2: both refuse" {
	blob_case fmt-armored armored
	agree fmt-armored refuse "$REGISTRY/e2e/fmt-armored:1" "$POL" "signature-1" \
		"signature-1: unrecognized signature format, starting with binary 0x2d"
}

@test "lookaside blob format: empty signature-1, valid signature-2: both refuse" {
	blob_case fmt-empty empty
	agree fmt-empty refuse "$REGISTRY/e2e/fmt-empty:1" "$POL" "signature-1" \
		"signature-1: empty signature blob"
}

@test "lookaside blob format: unknown tagged format in signature-1, valid signature-2: both refuse" {
	blob_case fmt-unknown unknown-tag
	agree fmt-unknown refuse "$REGISTRY/e2e/fmt-unknown:1" "$POL" "signature-1" \
		'signature-1: unrecognized signature format \"no-such-format\"' # skopeo's log escapes quotes
}

# The one intended disagreement: a tagged simple-signing blob whose body is armored passes
# upstream's sniffing, and gpgme de-armors it, so skopeo accepts; spec §2.1 says our verifier
# MUST refuse armored signatures everywhere, so imgverify rejects (spec §2.1's note that such
# blobs "never reach gpgme" from storage is wrong for the tagged form).
@test "lookaside blob format: tagged simple-signing with an armored body alone: skopeo accepts, imgverify rejects (spec 2.1)" {
	blob_case fmt-tagarm1 tagged-armored-alone
	ref="$REGISTRY/e2e/fmt-tagarm1:1"
	run --separate-stderr skopeo copy -q --src-tls-verify=false --policy "$POL" \
		--registries.d "$RD" --authfile "$FT/auth.json" "docker://$ref" "dir:$T/out"
	assert_status 0
	run --separate-stderr "$IMGVERIFY" --policy "$POL" --registries.d "$RD" --tls-verify=false \
		"docker://$ref"
	assert_status 1
	assert_eq "$output" "" stdout
	assert_contains "$stderr" "imgverify: docker://$ref: rejected: " stderr
	assert_contains "$stderr" \
		"signature-1: signature: armored (ASCII) OpenPGP data; a binary signed message is required" \
		stderr
}

# signedBy looks only at simple signing signatures; sigstore ones are passed over (spec §6.6).
@test "lookaside blob format: a sigstore-json signature-1, valid signature-2: both accept" {
	blob_case fmt-sigstore sigstore
	agree fmt-sigstore accept "$REGISTRY/e2e/fmt-sigstore:1" "$POL" \
		"$LOOKASIDE_URL/e2e/fmt-sigstore@${BLOB_DIGEST/:/=}/signature-2: signed by $FPR_A"
}

@test "lookaside blob format: a sigstore-json signature alone: both reject, no signature exists" {
	blob_case fmt-sigstore1 sigstore-alone
	agree fmt-sigstore1 reject "$REGISTRY/e2e/fmt-sigstore1:1" "$POL" \
		"a signature was required, but no signature exists" \
		"A signature was required, but no signature exists"
}

# Blobs that do sniff as simple signing are judged one by one.
@test "lookaside blob format: '='-prefixed junk signature-1, valid signature-2: both accept" {
	blob_case fmt-equals equals
	agree fmt-equals accept "$REGISTRY/e2e/fmt-equals:1" "$POL" \
		"$LOOKASIDE_URL/e2e/fmt-equals@${BLOB_DIGEST/:/=}/signature-2: signed by $FPR_A"
}

# KNOWN BUG (imgverify, verify/sigcheck.c sig_verify_blob): the envelope check looks at the
# sniffed body, but it_gpg_verify is given the whole blob, "\0simple-signing\n" included, so gpg
# finds no OpenPGP data. Fails until gpg gets the body.
@test "lookaside blob format: tagged simple-signing signature-1 alone: both accept" {
	blob_case fmt-tagged tagged
	agree fmt-tagged accept "$REGISTRY/e2e/fmt-tagged:1" "$POL" \
		"$LOOKASIDE_URL/e2e/fmt-tagged@${BLOB_DIGEST/:/=}/signature-1: signed by $FPR_A"
}

@test "lookaside blob format: tagged simple-signing with an armored body, valid signature-2: both accept" {
	blob_case fmt-tagarm tagged-armored
	agree fmt-tagarm accept "$REGISTRY/e2e/fmt-tagarm:1" "$POL" \
		"$LOOKASIDE_URL/e2e/fmt-tagarm@${BLOB_DIGEST/:/=}/signature-2: signed by $FPR_A"
}

@test "another key's signature-1, the trusted key's signature-2: both accept" {
	d=$(push_test_image e2e/twokeys:1)
	sign "$REGISTRY/e2e/twokeys:1" --sign-by "$FPR_B" >/dev/null
	sign "$REGISTRY/e2e/twokeys:1" >/dev/null
	agree twokeys accept "$REGISTRY/e2e/twokeys:1" "$POL" \
		"$LOOKASIDE_URL/e2e/twokeys@${d/:/=}/signature-2: signed by $FPR_A for $REGISTRY/e2e/twokeys:1"
}

@test "skopeo copy --sign-by into lookaside-staging: both accept" {
	push_test_image e2e/skosrc:1 >/dev/null
	run --separate-stderr skopeo copy -q --policy "$POL_OPEN" --registries.d "$RD" \
		--authfile "$FT/auth.json" --src-tls-verify=false --dest-tls-verify=false \
		--sign-by "$FPR_A" "docker://$REGISTRY/e2e/skosrc:1" "docker://$REGISTRY/e2e/skosigned:1"
	assert_status 0
	publish
	run "$IMGVERIFY" --json --policy "$POL" --registries.d "$RD" --tls-verify=false \
		"docker://$REGISTRY/e2e/skosigned:1"
	d=$(jq -r '.[0].digest' <<<"$output")
	[ -f "$(sigdir e2e/skosigned "$d")/signature-1" ] ||
		fail "skopeo did not write $(sigdir e2e/skosigned "$d")/signature-1" "$(find "$SIG" -path '*skosigned*')"
	agree skopeo-signed accept "$REGISTRY/e2e/skosigned:1" "$POL" \
		"$LOOKASIDE_URL/e2e/skosigned@${d/:/=}/signature-1: signed by $FPR_A for $REGISTRY/e2e/skosigned:1"
}

@test "index, amd64 instance signed by digest for the tag: both accept" {
	[ "$(uname -m)" = x86_64 ] || skip "the instance for this machine is not amd64"
	mapfile -t dg < <(push_test_index e2e/multi:1)
	[ "${#dg[@]}" -eq 3 ] || fail "push_test_index: ${dg[*]}"
	run --separate-stderr sign "$REGISTRY/e2e/multi@${dg[1]}" --sign-identity "$REGISTRY/e2e/multi:1"
	assert_status 0
	assert_eq "${lines[0]}" "Signed ${dg[1]} for $REGISTRY/e2e/multi:1"
	[ ! -e "$(sigdir e2e/multi "${dg[0]}")" ] || fail "the index was signed too"
	agree index-instance accept "$REGISTRY/e2e/multi:1" "$POL" \
		"$LOOKASIDE_URL/e2e/multi@${dg[1]/:/=}/signature-1: signed by $FPR_A for $REGISTRY/e2e/multi:1"
	# By the index's digest: the instance is still what is checked, the identity is repo@digest.
	agree index-instance-bydigest accept "$REGISTRY/e2e/multi@${dg[0]}" "$POL" \
		"$LOOKASIDE_URL/e2e/multi@${dg[1]/:/=}/signature-1: signed by $FPR_A for $REGISTRY/e2e/multi:1"
	run "$IMGVERIFY" --json --policy "$POL" --registries.d "$RD" --tls-verify=false \
		"docker://$REGISTRY/e2e/multi:1"
	assert_status 0
	assert_eq "$(jq -r '.[0].digest' <<<"$output")" "${dg[1]}" "--json digest (the amd64 instance)"
}

@test "index, only the index signed: both reject" {
	mapfile -t dg < <(push_test_index e2e/listonly:1)
	[ "${#dg[@]}" -eq 3 ] || fail "push_test_index: ${dg[*]}"
	run --separate-stderr sign "$REGISTRY/e2e/listonly:1"
	assert_status 0
	# imgsign signs what the registry serves for the tag: the index.
	assert_eq "${lines[0]}" "Signed ${dg[0]} for $REGISTRY/e2e/listonly:1"
	[ -f "$(sigdir e2e/listonly "${dg[0]}")/signature-1" ]
	agree index-only reject "$REGISTRY/e2e/listonly:1" "$POL" \
		"a signature was required, but no signature exists" \
		"A signature was required, but no signature exists"
}

@test "index, only the arm64 instance signed: both reject on amd64" {
	[ "$(uname -m)" = x86_64 ] || skip "the instance for this machine is not amd64"
	mapfile -t dg < <(push_test_index e2e/armonly:1)
	sign "$REGISTRY/e2e/armonly@${dg[2]}" --sign-identity "$REGISTRY/e2e/armonly:1" >/dev/null
	[ -f "$(sigdir e2e/armonly "${dg[2]}")/signature-1" ]
	agree arm-only reject "$REGISTRY/e2e/armonly:1" "$POL" \
		"a signature was required, but no signature exists" \
		"A signature was required, but no signature exists"
}

@test "lookaside answering 500: skopeo fails, imgverify says error (exit 3)" {
	d=$(push_test_image e2e/broken:1)
	agree lookaside-500 error "$REGISTRY/e2e/broken:1" "$POL" \
		"GET $LOOKASIDE_URL/status500/e2e/broken@${d/:/=}/signature-1: HTTP 500" \
		"reading signature from $LOOKASIDE_URL/status500/e2e/broken@${d/:/=}/signature-1: status 500"
	case "${IV_ERR%%$'\n'*}" in
	"imgverify: docker://$REGISTRY/e2e/broken:1: "*) ;;
	*) fail "imgverify's first stderr line does not name the reference" "$IV_ERR" ;;
	esac
}

# ---------------------------------------------------------------------------------------------
# imgverify and imgsign beyond the table.

@test "imgverify with several references: 1 if any is rejected, 0 if all are accepted; --json" {
	push_test_image e2e/multiref-a:1 >/dev/null
	push_test_image e2e/multiref-b:1 >/dev/null
	push_test_image e2e/multiref-u:1 >/dev/null
	sign "$REGISTRY/e2e/multiref-a:1" >/dev/null
	sign "$REGISTRY/e2e/multiref-b:1" >/dev/null
	a="docker://$REGISTRY/e2e/multiref-a:1" b="docker://$REGISTRY/e2e/multiref-b:1"
	u="docker://$REGISTRY/e2e/multiref-u:1"
	V=("$IMGVERIFY" --policy "$POL" --registries.d "$RD" --tls-verify=false)

	run --separate-stderr "${V[@]}" "$a" "$b"
	assert_status 0
	assert_line_match "^$a: accepted\$"
	assert_line_match "^$b: accepted\$"
	assert_eq "$stderr" "" "stderr"

	run --separate-stderr "${V[@]}" "$a" "$u" "$b"
	assert_status 1
	assert_line_match "^$a: accepted\$"
	assert_line_match "^$b: accepted\$"
	assert_no_line_match "multiref-u"
	assert_contains "$stderr" "imgverify: $u: rejected: " "stderr"
	assert_contains "$stderr" "a signature was required, but no signature exists" "stderr"
	assert_not_contains "$stderr" "multiref-a" "stderr"

	run --separate-stderr "${V[@]}" --json "$a" "$u" "$b"
	assert_status 1
	assert_eq "$(jq -c '[.[].decision]' <<<"$output")" '["accepted","rejected","accepted"]' decisions
	assert_eq "$(jq -c '[.[].reference]' <<<"$output")" "[\"$a\",\"$u\",\"$b\"]" references
	assert_contains "$(jq -r '.[1].reason' <<<"$output")" \
		"a signature was required, but no signature exists" reason
	assert_eq "$(jq -r '.[0].accepted_by | length' <<<"$output")" 1 "accepted_by of a"

	run --separate-stderr "${V[@]}" --json "$a" "$b"
	assert_status 0
	assert_eq "$(jq -c '[.[].decision]' <<<"$output")" '["accepted","accepted"]' decisions

	# A lookaside that cannot be read: error, which a rejection outranks.
	push_test_image e2e/broken:2 >/dev/null
	e="docker://$REGISTRY/e2e/broken:2"
	run --separate-stderr "${V[@]}" --json "$a" "$e"
	assert_status 3
	assert_eq "$(jq -c '[.[].decision]' <<<"$output")" '["accepted","error"]' decisions
	run --separate-stderr "${V[@]}" --json "$e" "$u"
	assert_status 1
	assert_eq "$(jq -c '[.[].decision]' <<<"$output")" '["error","rejected"]' decisions
}

@test "registry with Basic auth: --creds works for imgsign and imgverify; wrong ones exit 3 without the password" {
	pw='Pa55-w0rd-e2e-only'
	bad='wr0ng-pw-e2e-only'
	lookaside="$LOOKASIDE_URL"
	export IT_SERVICES_DIR
	IT_SERVICES_DIR=$(mktemp -d "$T/svc.XXXXXX")
	start_registry --htpasswd "alice:$pw" >/dev/null
	[ "$REGISTRY" != "$FILE_REGISTRY" ]
	d=$(push_test_image e2e/auth:1)
	rd="$T/registries.d"
	mkdir -p "$rd"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$lookaside" "$SIG" >"$rd/auth.yaml"
	write_policy "$T/policy.json" "$REGISTRY"
	ref="docker://$REGISTRY/e2e/auth:1"
	S=("$IMGSIGN" sign --sign-by "$FPR_A" --registries.d "$rd" --tls-verify=false)
	V=("$IMGVERIFY" --policy "$T/policy.json" --registries.d "$rd" --tls-verify=false)

	run --separate-stderr "${S[@]}" --creds "alice:$bad" "$ref"
	assert_status 3
	assert_eq "$output" "" "imgsign stdout"
	assert_contains "$stderr" "imgsign: $ref: authentication failed for $REGISTRY" "imgsign stderr"
	assert_contains "$stderr" "HTTP 401" "imgsign stderr"
	assert_not_contains "$stderr$output" "$bad" "imgsign output"
	assert_not_contains "$stderr$output" "$pw" "imgsign output"
	run --separate-stderr "${S[@]}" "$ref"
	assert_status 3
	assert_contains "$stderr" "imgsign: $ref: authentication required for $REGISTRY" "imgsign stderr"
	assert_contains "$stderr" "--creds" "imgsign stderr"
	[ ! -e "$(sigdir e2e/auth "$d")" ] || fail "a signature was written without access"

	run --separate-stderr "${S[@]}" --creds "alice:$pw" "$ref"
	assert_status 0
	assert_eq "${lines[0]}" "Signed $d for $REGISTRY/e2e/auth:1"
	assert_not_contains "$stderr$output" "$pw" "imgsign output"
	publish

	run --separate-stderr "${V[@]}" --creds "alice:$pw" "$ref"
	assert_status 0
	assert_eq "${lines[0]}" "$ref: accepted"
	run --separate-stderr skopeo copy -q --src-tls-verify=false --src-creds "alice:$pw" \
		--policy "$T/policy.json" --registries.d "$rd" --authfile "$FT/auth.json" "$ref" "dir:$T/out"
	assert_status 0

	run --separate-stderr "${V[@]}" --creds "alice:$bad" "$ref"
	assert_status 3
	assert_eq "$output" "" "imgverify stdout"
	assert_contains "$stderr" "imgverify: $ref: authentication failed for $REGISTRY" "imgverify stderr"
	assert_not_contains "$stderr$output" "$bad" "imgverify output"
	assert_not_contains "$stderr$output" "$pw" "imgverify output"
	run --separate-stderr "${V[@]}" --json --creds "alice:$bad" "$ref"
	assert_status 3
	assert_eq "$(jq -r '.[0].decision' <<<"$output")" error decision
	assert_not_contains "$stderr$output" "$bad" "imgverify --json output"
	run --separate-stderr skopeo copy -q --src-tls-verify=false --src-creds "alice:$bad" \
		--policy "$T/policy.json" --registries.d "$rd" --authfile "$FT/auth.json" "$ref" "dir:$T/out2"
	[ "$status" -ne 0 ] || fail "skopeo accepted wrong credentials"
}

@test "imgsign sign appends: signing twice gives signature-1 and signature-2, the first unchanged" {
	d=$(push_test_image e2e/twice:1)
	dir=$(sigdir e2e/twice "$d")
	run --separate-stderr sign "$REGISTRY/e2e/twice:1"
	assert_status 0
	assert_eq "${lines[1]}" "Wrote $dir/signature-1"
	cp "$dir/signature-1" "$T/first"
	sleep 1 # a different timestamp, so the second signature cannot equal the first
	run --separate-stderr sign "$REGISTRY/e2e/twice:1"
	assert_status 0
	assert_eq "${lines[1]}" "Wrote $dir/signature-2"
	assert_eq "${lines[2]}" "Consumers read it from $LOOKASIDE_URL/e2e/twice@${d/:/=}/signature-2"
	assert_eq "$(dir_listing "$dir")" $'signature-1\nsignature-2' "signatures"
	assert_same_file "$dir/signature-1" "$T/first"
	! cmp -s "$dir/signature-1" "$dir/signature-2" || fail "the two signatures are identical"
	assert_eq "$(stat -c %a "$dir/signature-2")" 644 "mode of signature-2"
	for n in 1 2; do
		assert_eq "$(sig_payload "$dir/signature-$n" | jq -r '.critical.identity["docker-reference"]')" \
			"$REGISTRY/e2e/twice:1" "identity of signature-$n"
		assert_eq "$(sig_payload "$dir/signature-$n" | jq -r '.critical.image["docker-manifest-digest"]')" \
			"$d" "digest of signature-$n"
	done
	agree twice accept "$REGISTRY/e2e/twice:1" "$POL" \
		"$LOOKASIDE_URL/e2e/twice@${d/:/=}/signature-1: signed by $FPR_A"
}

@test "imgsign refuses an http-only lookaside, naming lookaside-staging" {
	d=$(push_test_image e2e/nostaging:1)
	export HOME="$T/home"
	mkdir -p "$HOME"
	rd="$T/registries.d"
	mkdir -p "$rd"
	printf 'docker:\n  %s:\n    lookaside: %s\n' "$REGISTRY" "$LOOKASIDE_URL" >"$rd/only-http.yaml"
	run --separate-stderr "$IMGSIGN" sign --sign-by "$FPR_A" --registries.d "$rd" --tls-verify=false \
		"docker://$REGISTRY/e2e/nostaging:1"
	# A configuration problem, not an I/O failure: exit 2.
	assert_status 2
	assert_eq "$output" "" stdout
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "imgsign: docker://$REGISTRY/e2e/nostaging:1: " stderr
	assert_contains "$stderr" "\"$LOOKASIDE_URL\" is not supported" stderr
	assert_contains "$stderr" "configure lookaside-staging: file://" stderr
	[ ! -e "$(sigdir e2e/nostaging "$d")" ] || fail "a signature appeared in the staging directory"
	[ -z "$(find "$HOME" -mindepth 1 -print -quit)" ] || fail "imgsign wrote under HOME" \
		"$(find "$HOME")"
	# The same registries.d makes skopeo refuse too.
	run --separate-stderr skopeo copy -q --policy "$POL_OPEN" --registries.d "$rd" \
		--authfile "$FT/auth.json" --src-tls-verify=false --dest-tls-verify=false \
		--sign-by "$FPR_A" "docker://$REGISTRY/e2e/nostaging:1" "docker://$REGISTRY/e2e/nostaging:2"
	[ "$status" -ne 0 ] || fail "skopeo wrote to an http lookaside"
	assert_contains "$stderr" "lookaside-staging" "skopeo stderr"
}
