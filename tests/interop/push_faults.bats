#!/usr/bin/env bats
# `imgsign push` against token authentication and injected faults, on loopback, with skopeo 1.9.3
# as the reference reader.
#
# setup_file starts three services used by every test: Debian's docker-registry with token
# authentication (tests/lib/token_issuer.py as its realm; $TOKEN_LOG records every token request
# and its scopes), a plain docker-registry, and tests/lib/fault_proxy.py in front of the plain one
# (rules set per test with fault_set; $FAULT_LOG one line per request:
# "METHOD TARGET STATUS REQ_BYTES RESP_BYTES FAULTS [NOTE]"), plus an nginx serving the signature
# lookaside. It makes a key, an OCI layout with two gzip layers (tests/lib/common.bash's
# make_oci_gzip_layout, so skopeo copies the layers as they are and its digests compare with
# ours) and skopeo's dir: and docker-archive: copies of it. The cases:
#
#   token registry, --creds, source oci: / dir:        digest = sha256 of what skopeo inspect --raw
#                                                       gets = skopeo copy's; skopeo reads it back;
#                                                       the issuer granted pull,push on the repository
#   token registry, docker-archive:                     served as pushed, read back
#   token registry, docker:// in another repository     blobs mounted; the mount's token asks for
#                                                       pull on the source repository
#   token registry as the docker:// source              fetched with --src-creds (pull asked, only)
#     of a push to the plain registry                   and uploaded; digest = skopeo copy's
#   token registry, credentials from --authfile         pushed; a missing --authfile: exit 2
#   token registry, wrong password                      exit 3, one line "authentication failed for
#                                                       REGISTRY", password never shown; the issuer
#                                                       logged the refusal; nothing tagged
#   500 twice on every /v2/ request                     pushed; the two 500s retried
#   500 twice on the blob upload PUT                    pushed; the upload restarted
#   500 twice on the manifest PUT                       pushed; the PUT retried
#   500 twice on the manifest GET (tag read-back)       pushed; the GET retried
#   docker:// source read through a corrupting proxy    exit 3, one line naming the blob's digest and
#                                                       the digest of the bytes received; nothing
#                                                       tagged, nothing signed (--sign-by given)
#   killed (SIGKILL) during the second layer's upload   rerun: the blobs finished before the kill are
#                                                       not uploaded again (HEAD 200), the others are;
#                                                       the repository's _layers holds exactly the
#                                                       manifest's blobs
#   --progress / no option / -q, stderr on a pipe       one line per blob with its digest prefix,
#                                                       sizes and final state (done, already there,
#                                                       mounted) / the summary alone / nothing
#

load ../lib/common
load ../lib/services
load ../lib/gpg
load ../lib/push

TOKEN_USER=alice
TOKEN_PW='tok-Pw-9c41e7'

setup_file() {
	need_imgtrust
	need_cmd skopeo
	need_cmd docker-registry
	need_cmd nginx nginx-light
	need_cmd jq
	need_cmd gpg
	need_cmd curl
	need_cmd gzip
	need_cmd python3
	need_cmd openssl
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	gpg_home_init
	export IMGSIGN="$IMGTRUST_BUILD/imgsign"
	[ -x "$IMGSIGN" ] || fail "imgsign not built in $IMGTRUST_BUILD" || return 1
	export FPR
	FPR=$(gpg_new_key 'Fault Signer <faults@push.test>')
	[[ "$FPR" =~ ^[0-9A-F]{40}$ ]] || fail "key: '$FPR'" || return 1

	export SIG="$FT/sigstore"
	mkdir -p "$SIG"
	chmod 755 "$FT" "$SIG"
	start_token_registry "$TOKEN_USER:$TOKEN_PW" >/dev/null || return 1
	export TREG="$REGISTRY" TCREDS="$TOKEN_USER:$TOKEN_PW"
	start_registry >/dev/null || return 1
	export PREG="$REGISTRY"
	start_fault_proxy "$PREG" >/dev/null || return 1
	export FREG="$FAULT_REGISTRY"
	start_nginx "$SIG" >/dev/null || return 1
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR"
	unset REGISTRY REGISTRY_CREDS
	# The plain registry's storage directory (start_registry keeps it in the services dir).
	local cfg
	cfg=$(grep -lx "  addr: $PREG" "$IT_SERVICES_DIR"/registry.*/config.yml) ||
		fail "no configuration of the registry at $PREG" || return 1
	export PSTORAGE="${cfg%/config.yml}/storage"
	[ -d "$PSTORAGE" ] || fail "no storage directory $PSTORAGE" || return 1

	# RD: signatures of the plain registry are staged in $SIG, read back through nginx.
	export RD="$FT/registries.d" EMPTY_RD="$FT/empty.d"
	mkdir -p "$RD" "$EMPTY_RD"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$PREG" "$LOOKASIDE_URL" "$SIG" >"$RD/faults.yaml"
	export POL_OPEN="$FT/policy-open.json"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POL_OPEN"
	printf '{"auths":{}}\n' >"$FT/auth.json"

	export OCI="$FT/oci" DIRIMG="$FT/dirimg" ARCHIVE="$FT/image.tar" OCI_DIGEST OCI_MANIFEST
	OCI_DIGEST=$(make_oci_gzip_layout "$OCI" v1 "the push fault test image")
	OCI_MANIFEST="$OCI/blobs/sha256/${OCI_DIGEST#sha256:}"
	[ -f "$OCI_MANIFEST" ] || fail "make_oci_gzip_layout made no manifest" || return 1
	skopeo --policy "$POL_OPEN" --registries.d "$EMPTY_RD" copy -q "oci:$OCI:v1" "dir:$DIRIMG" ||
		fail "skopeo could not make dir:$DIRIMG" || return 1
	skopeo --policy "$POL_OPEN" --registries.d "$EMPTY_RD" copy -q "oci:$OCI:v1" \
		"docker-archive:$ARCHIVE:example.test/archived:v1" ||
		fail "skopeo could not make docker-archive:$ARCHIVE" || return 1
}

teardown_file() {
	IT_SERVICES_DIR="${FILE_SERVICES_DIR:-}" stop_services
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	N=0
	BG_PID=""
	chmod 755 "$T"
	# Every test starts without fault rules and with empty logs.
	fault_set
	: >"$FAULT_LOG"
	: >"$FAULT_STARTED"
	: >"$TOKEN_LOG"
}

teardown() {
	# A push left running in the background (the kill test, failing early) is ended by its pid.
	if [ -n "${BG_PID:-}" ]; then
		kill -KILL "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	fault_set || true
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# ---------------------------------------------------------------------------------------------
# Helpers

# assert_summary DEST TEXT: stderr is exactly imgsign's summary of pushing $D to DEST.
assert_summary() {
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines" || return 1
	assert_eq "${stderr_lines[0]}" "imgsign: pushed $D as docker://$1: $2" "summary line"
}

# assert_one_error_line NEEDLE...: after a failed ipush, stdout is empty and stderr exactly one
# line starting with "imgsign: " that contains every NEEDLE.
assert_one_error_line() {
	assert_eq "$(cat "$OUT_FILE")" "" stdout || return 1
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines" || {
		printf '%s\n' "--- stderr:" "$stderr" >&2
		return 1
	}
	case "${stderr_lines[0]}" in
	"imgsign: "*) ;;
	*) fail "stderr does not start with 'imgsign: '" "$stderr" || return 1 ;;
	esac
	local n
	for n in "$@"; do
		assert_contains "${stderr_lines[0]}" "$n" stderr || return 1
	done
}

# sk CMD ARGS...: skopeo CMD with an empty registries.d and a private (empty) auth file.
sk() {
	local cmd="$1"
	shift
	skopeo --registries.d "$EMPTY_RD" "$cmd" --authfile "$FT/auth.json" "$@"
}

# served REF [SKOPEO-OPTION...]: the manifest the registry serves for docker://REF as skopeo
# inspect --raw reads it: bytes in $SERVED, their digest in $SERVED_DIGEST. Not in $(...).
served() {
	local ref="$1"
	shift
	N=$((N + 1))
	SERVED="$T/served-$N"
	sk inspect --raw --tls-verify=false "$@" "docker://$ref" >"$SERVED" ||
		fail "skopeo inspect --raw docker://$ref failed" || return 1
	SERVED_DIGEST=$(manifest_digest "$SERVED")
}

# assert_served REF DIGEST [SKOPEO-OPTION...]: the registry serves, for REF, bytes hashing to DIGEST.
assert_served() {
	local ref="$1" want="$2"
	shift 2
	served "$ref" "$@" || return 1
	assert_eq "$SERVED_DIGEST" "$want" "sha256 of what the registry serves for $ref"
}

# readback REF [SKOPEO-OPTION...]: skopeo copies docker://REF into a new dir: ($OUT); its manifest
# is $SERVED byte for byte and its blobs are exactly the manifest's, each hashing to its name.
readback() {
	local ref="$1" want got f
	shift
	N=$((N + 1))
	OUT="$T/readback-$N"
	sk copy -q --policy "$POL_OPEN" --src-tls-verify=false "$@" "docker://$ref" "dir:$OUT" ||
		fail "skopeo could not copy docker://$ref back" || return 1
	assert_same_file "$OUT/manifest.json" "$SERVED" || return 1
	want=$(jq -r '[.config.digest, .layers[].digest] | unique | .[] | ltrimstr("sha256:")' "$SERVED")
	got=$(for f in "$OUT"/*; do
		f=${f##*/}
		if [[ "$f" =~ ^[0-9a-f]{64}$ ]]; then
			printf '%s\n' "$f"
		fi
	done | LC_ALL=C sort)
	assert_eq "$got" "$want" "blobs in dir:$OUT" || return 1
	for f in $got; do
		assert_eq "$(sha256sum <"$OUT/$f" | cut -d' ' -f1)" "$f" "sha256 of blob $f" || return 1
	done
}

# skopeo_side SRC DEST [SKOPEO-OPTION...]: skopeo copies SRC to docker://DEST; the digest the
# registry then serves is in SK_DIGEST.
skopeo_side() {
	local src="$1" dest="$2"
	shift 2
	sk copy -q --policy "$POL_OPEN" --src-tls-verify=false --dest-tls-verify=false "$@" \
		"$src" "docker://$dest" || fail "skopeo copy $src docker://$dest failed" || return 1
	served "$dest" ${TOKEN_SIDE:+--creds "$TCREDS"} || return 1
	SK_DIGEST="$SERVED_DIGEST"
}

# assert_token_grants REPO: every line of $TOKEN_LOG is a granted request of $TOKEN_USER that got
# all it asked for, and pull,push on REPO was among them.
assert_token_grants() {
	local repo="$1" l asked granted re
	local -a tl
	mapfile -t tl <"$TOKEN_LOG"
	[ "${#tl[@]}" -gt 0 ] || fail "no token request in $TOKEN_LOG" || return 1
	re="^GET /token 200 user=$TOKEN_USER service=$TOKEN_SERVICE ((scope=[^ ]+ ?)+) ((granted=[^ ]+ ?)+)$"
	for l in "${tl[@]}"; do
		[[ "$l" =~ $re ]] || fail "token request not granted as asked: $l" "--- log:" "${tl[@]}" ||
			return 1
		asked=${BASH_REMATCH[1]% }
		granted=${BASH_REMATCH[3]% }
		assert_eq "${granted//granted=/}" "${asked//scope=/}" "granted scopes of: $l" || return 1
	done
	printf '%s\n' "${tl[@]}" | grep -qx "GET /token 200 user=$TOKEN_USER service=$TOKEN_SERVICE scope=repository:$repo:pull,push granted=repository:$repo:pull,push" ||
		fail "no pull,push token for $repo" "--- log:" "${tl[@]}"
}

# assert_no_tags REGISTRY REPO [CURL-OPTION...]: the registry has no tag in REPO.
assert_no_tags() {
	local reg="$1" repo="$2" r body code
	shift 2
	r=$(curl -s --noproxy '*' "$@" -w ' %{http_code}' "http://$reg/v2/$repo/tags/list")
	code=${r##* }
	body=${r% *}
	case "$code" in
	404) assert_eq "$(jq -r '.errors[0].code' <<<"$body")" NAME_UNKNOWN "tags/list of $repo" ;;
	200) assert_eq "$(jq -c '.tags // []' <<<"$body")" '[]' "tags/list of $repo" ;;
	*) fail "tags/list of $repo: HTTP $code" "$body" ;;
	esac
}

# token_for SCOPE: a bearer token of $TOKEN_USER for SCOPE (for direct requests to the registry).
token_for() {
	curl -sf --noproxy '*' -u "$TCREDS" "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=$1" | jq -r .token
}

# _fault_key_awk: key(METHOD, TARGET), what identifies a request of a $FAULT_LOG line across retries: METHOD and
# path, and for an upload's PUT the digest it completes (a retry may use a new session).
_fault_key_awk='
function key(m, t,   d) {
	if (t ~ /\/blobs\/uploads\// && match(t, /digest=sha256%3A[0-9a-f]+/)) {
		d = substr(t, RSTART + 16, RLENGTH - 16)
		return m " upload " d
	}
	return m " " t
}'

# assert_retried: every request of $FAULT_LOG that a fail rule answered was made again later and
# then succeeded (2xx); prints nothing on success.
assert_retried() {
	local bad
	bad=$(awk "$_fault_key_awk"'
		{ k = key($1, $2) }
		$6 == "fail" { pending[k]++; order[++n] = k; next }
		$3 ~ /^2/ && pending[k] > 0 { pending[k] = 0 }
		END { for (i = 1; i <= n; i++) if (pending[order[i]] > 0) { print order[i]; pending[order[i]] = 0 } }
	' "$FAULT_LOG")
	[ -z "$bad" ] || fail "not retried to success after an injected failure:" "$bad" \
		"--- fault log:" "$(cut -c1-220 "$FAULT_LOG")"
}

# faulted_push CASE RULE METHOD-ERE PATH-ERE: push $OCI through the proxy with RULE, then assert:
# exit 0, the layout's digest, exactly two requests answered 500 by the rule (matching METHOD-ERE
# and PATH-ERE), each retried to success; the registry itself serves the digest.
faulted_push() {
	local name="$1" rule="$2" mre="$3" pre="$4" dest fails l
	dest="$FREG/faults/$name:v1"
	fault_set "$rule"
	push "oci:$OCI:v1" "$dest" || {
		printf '%s\n' "--- fault log:" >&2
		cut -c1-220 "$FAULT_LOG" >&2
		return 1
	}
	assert_eq "$D" "$OCI_DIGEST" "digest" || return 1
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there" ||
		return 1
	fails=$(awk '$6 == "fail"' "$FAULT_LOG")
	assert_eq "$(grep -c . <<<"$fails")" 2 "requests answered by the fail rule" || return 1
	while read -r l; do
		[[ "$l" =~ ^($mre)\ ($pre)[^\ ]*\ 500\ [0-9]+\ [0-9]+\ fail$ ]] ||
			fail "an injected failure on an unexpected request: $l" || return 1
	done <<<"$fails"
	assert_retried || return 1
	assert_eq "$(fault_count ' 5[0-9][0-9] [0-9]+ [0-9]+ -')" 0 "500s not injected by the rule" ||
		return 1
	assert_served "$PREG/faults/$name:v1" "$D"
}

# make_big_layout DIR: an OCI layout (tag v1) of three layers, each a tar of 20 MB from
# /dev/urandom, gzip-compressed (so about as large); prints "CONFIG L1 L2 L3" digests.
make_big_layout() {
	local dir="$1" work i l ls dfd c cs layers="" diffs="" m ms all=""
	work=$(mktemp -d "$T/big.XXXXXX")
	mkdir -p "$dir/blobs/sha256"
	for i in 1 2 3; do
		mkdir -p "$work/root$i"
		head -c 20000000 /dev/urandom >"$work/root$i/random-$i"
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root$i" \
			-cf "$work/layer$i.tar" "random-$i" || return 1
		dfd=$(sha256sum "$work/layer$i.tar" | cut -d' ' -f1)
		gzip -n -1 -c "$work/layer$i.tar" >"$work/layer$i.tar.gz" || return 1
		l=$(sha256sum "$work/layer$i.tar.gz" | cut -d' ' -f1)
		ls=$(stat -c %s "$work/layer$i.tar.gz")
		mv "$work/layer$i.tar.gz" "$dir/blobs/sha256/$l"
		layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$l\",\"size\":$ls}"
		diffs="$diffs${diffs:+,}\"sha256:$dfd\""
		all="$all sha256:$l"
		rm -rf "$work/root$i" "$work/layer$i.tar"
	done
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diffs" >"$work/config.json"
	c=$(sha256sum "$work/config.json" | cut -d' ' -f1)
	cs=$(stat -c %s "$work/config.json")
	cp "$work/config.json" "$dir/blobs/sha256/$c"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$c" "$cs" "$layers" >"$work/manifest.json"
	m=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
	ms=$(stat -c %s "$work/manifest.json")
	cp "$work/manifest.json" "$dir/blobs/sha256/$m"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
		"$m" "$ms" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	rm -rf "$work"
	printf 'sha256:%s%s\n' "$c" "$all"
}

# pipe_push OPTION... SRC DEST: imgsign push with stderr on a pipe (not a terminal, not a file);
# $status, stdout in $OUT_FILE, stderr lines in ${stderr_lines[@]} and $stderr.
pipe_push() {
	N=$((N + 1))
	OUT_FILE="$T/stdout-$N"
	local errf="$T/stderr-$N"
	"$IMGSIGN" push "$@" 2>&1 >"$OUT_FILE" | cat >"$errf"
	status=${PIPESTATUS[0]}
	stderr=$(cat "$errf")
	mapfile -t stderr_lines <"$errf"
}

# assert_progress_lines STATE MANIFEST: stderr is one progress line per blob of MANIFEST (config
# and layers, each once, any order), all in the final STATE, then the summary line.
assert_progress_lines() {
	local state="$1" manifest="$2" d s hex done_b re n i found l
	local -a blobs
	mapfile -t blobs < <(jq -r '(.config, .layers[]) | "\(.digest) \(.size)"' "$manifest")
	n=${#blobs[@]}
	assert_eq "${#stderr_lines[@]}" $((n + 1)) "stderr lines (a line per blob, then the summary)" || {
		printf '%s\n' "--- stderr:" "$stderr" >&2
		return 1
	}
	for i in "${!blobs[@]}"; do
		read -r d s <<<"${blobs[$i]}"
		hex=${d#sha256:}
		if [ "$state" = "done" ]; then
			done_b=$(human_bytes "$s")
		else
			done_b="0 B"
		fi
		# "blob <19 hex>  <done> / <size> <rate>  <state>"
		re="^blob ${hex:0:19} +${done_b} / $(human_bytes "$s") +([0-9.]+ (B|KiB|MiB|GiB)/s)? +${state}\$"
		found=0
		for l in "${stderr_lines[@]:0:n}"; do
			if [[ "$l" =~ $re ]]; then
				found=$((found + 1))
			fi
		done
		assert_eq "$found" 1 "progress lines for blob $d ($state)" || {
			printf '%s\n' "--- want a line matching: $re" "--- stderr:" "$stderr" >&2
			return 1
		}
	done
	[[ "${stderr_lines[n]}" =~ ^imgsign:\ pushed\ sha256:[0-9a-f]{64}\ as\ docker:// ]] ||
		fail "last stderr line is not the summary" "$stderr"
}

# ---------------------------------------------------------------------------------------------
# Token authentication

@test "token auth, oci: source with --creds: digest = skopeo inspect --raw's = skopeo copy's; read back; pull,push granted" {
	dest="$TREG/tok/oci:v1"
	push "oci:$OCI:v1" "$dest" --creds "$TCREDS"
	assert_eq "$D" "$OCI_DIGEST" "digest (the layout's manifest)"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	assert_token_grants tok/oci
	assert_not_contains "$(cat "$TOKEN_LOG")" "$TOKEN_PW" "token log"
	assert_served "$dest" "$D" --creds "$TCREDS"
	assert_same_file "$SERVED" "$OCI_MANIFEST"
	readback "$dest" --src-creds "$TCREDS"
	TOKEN_SIDE=1 skopeo_side "oci:$OCI:v1" "$TREG/skopeo-side/oci:v1" --dest-creds "$TCREDS"
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "token auth, dir: source with --creds: digest = skopeo inspect --raw's = skopeo copy's; read back; pull,push granted" {
	dest="$TREG/tok/dir:v1"
	push "dir:$DIRIMG" "$dest" --creds "$TCREDS"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$DIRIMG/manifest.json")")), 0 already there"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	assert_token_grants tok/dir
	assert_served "$dest" "$D" --creds "$TCREDS"
	assert_same_file "$SERVED" "$DIRIMG/manifest.json"
	readback "$dest" --src-creds "$TCREDS"
	TOKEN_SIDE=1 skopeo_side "dir:$DIRIMG" "$TREG/skopeo-side/dir:v1" --dest-creds "$TCREDS"
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

# skopeo gzip-compresses an archive's uncompressed layers on the way, imgsign pushes them as they
# are (tests/interop/push.bats says more): the digest is not compared with skopeo's push.
@test "token auth, docker-archive: source with --creds: digest = skopeo inspect --raw's; read back; pull,push granted" {
	dest="$TREG/tok/archive:v1"
	push "docker-archive:$ARCHIVE" "$dest" --creds "$TCREDS"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	assert_token_grants tok/archive
	assert_served "$dest" "$D" --creds "$TCREDS"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$SERVED")")), 0 already there"
	assert_eq "$(jq -r .config.digest "$SERVED")" "$(jq -r .config.digest "$OCI_MANIFEST")" \
		"config digest"
	readback "$dest" --src-creds "$TCREDS"
}

@test "token auth, docker:// source in another repository: blobs mounted; the mount's token asks for pull on the source" {
	sk copy -q --policy "$POL_OPEN" --dest-tls-verify=false --dest-creds "$TCREDS" \
		"oci:$OCI:v1" "docker://$TREG/tok/mount-src:v1"
	: >"$TOKEN_LOG"
	dest="$TREG/tok/mounted:v1"
	push "docker://$TREG/tok/mount-src:v1" "$dest" --creds "$TCREDS" --src-creds "$TCREDS" \
		--src-tls-verify=false
	assert_eq "$D" "$OCI_DIGEST" "digest (the source's manifest)"
	assert_summary "$dest" "0 blobs uploaded (0 B), 0 already there, 3 mounted"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	run cat "$TOKEN_LOG"
	assert_no_line_match ' 40[0-9] '
	# One token covers both repositories (either order), and both were granted.
	assert_line_match "^GET /token 200 user=$TOKEN_USER service=$TOKEN_SERVICE (scope=repository:tok/mounted:pull,push scope=repository:tok/mount-src:pull|scope=repository:tok/mount-src:pull scope=repository:tok/mounted:pull,push) .*granted=repository:tok/mount-src:pull"
	assert_served "$dest" "$D" --creds "$TCREDS"
	readback "$dest" --src-creds "$TCREDS"
	TOKEN_SIDE=1 skopeo_side "docker://$TREG/tok/mount-src:v1" "$TREG/skopeo-side/mounted:v1" \
		--src-creds "$TCREDS" --dest-creds "$TCREDS"
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "token auth, docker:// source read with --src-creds, pushed to another registry: fetched and uploaded, digest = skopeo copy's" {
	sk copy -q --policy "$POL_OPEN" --dest-tls-verify=false --dest-creds "$TCREDS" \
		"oci:$OCI:v1" "docker://$TREG/tok/fetch-src:v1"
	: >"$TOKEN_LOG"
	dest="$PREG/tok-fetched/app:v1"
	push "docker://$TREG/tok/fetch-src:v1" "$dest" --src-creds "$TCREDS" --src-tls-verify=false
	assert_eq "$D" "$OCI_DIGEST" "digest (the source's manifest)"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	# Only reads of the source repository, each granted.
	run cat "$TOKEN_LOG"
	[ "${#lines[@]}" -ge 1 ] || fail "no token request"
	for l in "${lines[@]}"; do
		assert_eq "$l" "GET /token 200 user=$TOKEN_USER service=$TOKEN_SERVICE scope=repository:tok/fetch-src:pull granted=repository:tok/fetch-src:pull" \
			"token request"
	done
	assert_served "$dest" "$D"
	readback "$dest"
	skopeo_side "docker://$TREG/tok/fetch-src:v1" "$PREG/skopeo-side/fetched:v1" --src-creds "$TCREDS"
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "token auth, credentials from --authfile (no --creds): pushed, the issuer saw the user; a missing --authfile is refused before pushing" {
	af="$T/auth.json"
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$TREG" "$(printf '%s' "$TCREDS" | base64 -w0)" >"$af"
	# The file is good: skopeo pushes with it.
	sk copy -q --policy "$POL_OPEN" --dest-tls-verify=false --dest-authfile "$af" \
		"oci:$OCI:v1" "docker://$TREG/skopeo-side/authfile:v1"
	: >"$TOKEN_LOG"
	dest="$TREG/tok/authfile:v1"
	push "oci:$OCI:v1" "$dest" --authfile "$af"
	assert_eq "$D" "$OCI_DIGEST" "digest (the layout's manifest)"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	assert_token_grants tok/authfile
	assert_served "$dest" "$D" --creds "$TCREDS"
	# podman refuses an --authfile that is not there ("credential file is not accessible");
	# imgsign too, with exit 2 and nothing pushed.
	ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false --authfile "$T/none.json" \
		"oci:$OCI:v1" "docker://$TREG/tok/authfile-missing:v1"
	assert_status 2
	assert_one_error_line "imgsign: docker://$TREG/tok/authfile-missing:v1: " "$T/none.json"
	assert_no_tags "$TREG" tok/authfile-missing -H "Authorization: Bearer $(token_for repository:tok/authfile-missing:pull)"
}

@test "token auth, wrong password: exit 3, one line 'authentication failed for REGISTRY', password never shown; the issuer refused" {
	bad='wrong-Pw-77d2'
	ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false --creds "$TOKEN_USER:$bad" \
		"oci:$OCI:v1" "docker://$TREG/tok/badpw:v1"
	assert_status 3
	assert_one_error_line "imgsign: pushing oci:$OCI:v1 to docker://$TREG/tok/badpw:v1: " \
		"authentication failed for $TREG"
	assert_not_contains "$output$stderr" "$bad" "imgsign's output"
	assert_not_contains "$output$stderr" "$TOKEN_PW" "imgsign's output"
	# The issuer refused every request (one per client: imgsign's workers each get a token), and
	# granted nothing.
	run cat "$TOKEN_LOG"
	[ "${#lines[@]}" -ge 1 ] || fail "no token request"
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^GET\ /token\ 401\ user=$TOKEN_USER\ service=$TOKEN_SERVICE\ scope=repository:tok/badpw:pull(,push)?\ reason=bad-credentials$ ]] ||
			fail "token log line is not a refusal: $l" "$output"
	done
	assert_not_contains "$output" "$bad" "token log"
	assert_no_tags "$TREG" tok/badpw -H "Authorization: Bearer $(token_for repository:tok/badpw:pull)"
}

# ---------------------------------------------------------------------------------------------
# Transient server errors (the proxy answers 500 twice, then lets requests through)

@test "500 twice on every /v2/ request, then success: pushed, both 500s retried" {
	faulted_push all 'fail 500 2 * /v2/' '[A-Z]+' '/v2/'
}

@test "500 twice on the blob upload PUT, then success: pushed, both retried" {
	faulted_push upload-put 'fail 500 2 PUT /v2/.*/blobs/uploads/' PUT '/v2/faults/upload-put/blobs/uploads/'
}

@test "500 twice on the manifest PUT, then success: pushed, the PUT retried" {
	faulted_push manifest-put 'fail 500 2 PUT /v2/.*/manifests/' PUT '/v2/faults/manifest-put/manifests/v1'
	assert_eq "$(fault_count '^PUT /v2/faults/manifest-put/manifests/v1 ')" 3 "manifest PUTs"
	assert_eq "$(fault_count '^PUT /v2/faults/manifest-put/manifests/v1 201 ')" 1 "manifest PUTs answered 201"
}

@test "500 twice on the manifest GET (tag read-back), then success: pushed" {
	faulted_push manifest-get 'fail 500 2 GET /v2/.*/manifests/' GET '/v2/faults/manifest-get/manifests/v1'
}

# ---------------------------------------------------------------------------------------------
# Corrupted and interrupted transfers

@test "docker:// source whose blobs arrive corrupted: exit 3, one line naming both digests; nothing tagged, nothing signed" {
	sk copy -q --policy "$POL_OPEN" --dest-tls-verify=false "oci:$OCI:v1" \
		"docker://$PREG/corrupt/src:v1"
	fault_set 'corrupt GET /v2/.*/blobs/'
	ipush --registries.d "$RD" --dest-tls-verify=false --src-tls-verify=false --sign-by "$FPR" \
		"docker://$FREG/corrupt/src:v1" "docker://$PREG/corrupt/dst:v1"
	assert_status 3
	re="GET http://$FREG/v2/corrupt/src/blobs/(sha256:[0-9a-f]{64}): blob content hashes to (sha256:[0-9a-f]{64}), not the requested (sha256:[0-9a-f]{64})$"
	assert_one_error_line "imgsign: pushing docker://$FREG/corrupt/src:v1 to docker://$PREG/corrupt/dst:v1: "
	[[ "${stderr_lines[0]}" =~ $re ]] || fail "error line does not match /$re/" "$stderr"
	url_d=${BASH_REMATCH[1]} got=${BASH_REMATCH[2]} want=${BASH_REMATCH[3]}
	assert_eq "$url_d" "$want" "digest in the URL"
	jq -e --arg d "$want" '[.config.digest, .layers[].digest] | index($d) != null' "$OCI_MANIFEST" \
		>/dev/null || fail "$want is not a blob of the image"
	# What the proxy sent: the blob with its middle byte inverted.
	blob="$OCI/blobs/sha256/${want#sha256:}"
	flipped=$(python3 -c 'import hashlib,sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0xff; print("sha256:"+hashlib.sha256(b).hexdigest())' "$blob")
	assert_eq "$got" "$flipped" "digest of the bytes received"
	# The proxy did corrupt that GET, and nothing was written at the destination.
	[ "$(fault_count "^GET /v2/corrupt/src/blobs/$want 200 0 $(stat -c %s "$blob") corrupt$")" -ge 1 ] ||
		fail "the proxy did not corrupt $want" "$(cat "$FAULT_LOG")"
	assert_no_tags "$PREG" corrupt/dst
	run sk inspect --raw --tls-verify=false "docker://$PREG/corrupt/dst:v1"
	[ "$status" -ne 0 ] || fail "skopeo inspect of the destination succeeded" "$output"
	assert_eq "$(curl -s --noproxy '*' -I -o /dev/null -w '%{http_code}' \
		"http://$PREG/v2/corrupt/dst/blobs/$want")" 404 "HEAD of $want at the destination"
	assert_eq "$(dir_listing "$SIG")" "" "lookaside staging directory"
}

@test "killed (SIGKILL) during the second layer's upload: the rerun uploads only what was missing; _layers holds exactly the manifest's blobs" {
	read -r cfg l1 l2 l3 < <(make_big_layout "$T/big")
	[[ "$l3" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "make_big_layout: '$cfg $l1 $l2 $l3'"
	manifest="$T/big/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$T/big/index.json")"
	size() { stat -c %s "$T/big/blobs/sha256/${1#sha256:}"; }
	[ "$(size "$l2")" -gt 16000000 ] || fail "layer 2 has only $(size "$l2") bytes"
	repo=faults/killed
	dest="$FREG/$repo:v1"
	fault_set 'throttle PATCH|PUT /v2/.*/blobs/uploads/ 4000000'
	"$IMGSIGN" push --registries.d "$EMPTY_RD" --dest-tls-verify=false --jobs 1 \
		"oci:$T/big:v1" "docker://$dest" >"$T/killed.out" 2>"$T/killed.err" 3>&- </dev/null &
	BG_PID=$!
	# --jobs 1 takes the blobs in the manifest's order: config, layer 1, layer 2, layer 3.
	fault_wait_started "^PUT /v2/$repo/blobs/uploads/[^ ]*digest=sha256%3A${l2#sha256:}\$" 30
	kill -KILL "$BG_PID"
	rc=0
	wait "$BG_PID" || rc=$?
	BG_PID=""
	assert_eq "$rc" 137 "exit status of the killed push (128 + SIGKILL)"
	assert_eq "$(cat "$T/killed.out")" "" "stdout of the killed push"
	fault_set
	# The proxy logs the cut-off upload once the killed client's buffered bytes have gone through.
	for ((i = 0; i < 150; i++)); do
		grep -qE "^PUT /v2/$repo/blobs/uploads/[^ ]*digest=sha256%3A${l2#sha256:} " "$FAULT_LOG" && break
		sleep 0.1
	done
	run grep -E "^PUT /v2/$repo/blobs/uploads/[^ ]*digest=sha256%3A${l2#sha256:} " "$FAULT_LOG"
	assert_eq "${#lines[@]}" 1 "logged uploads of layer 2 in the killed run"
	[[ "${lines[0]}" =~ \ 000\ ([0-9]+)\ 0\ throttle\ client-aborted$ ]] ||
		fail "layer 2's upload did not end as aborted by the client" "${lines[0]}"
	[ "${BASH_REMATCH[1]}" -lt "$(size "$l2")" ] || fail "all of layer 2 arrived: ${lines[0]}"
	# Finished before the kill: the config and layer 1, and nothing else.
	run awk '$1 == "PUT" && $3 == "201" && match($2, /digest=sha256%3A[0-9a-f]+/) { print "sha256:" substr($2, RSTART + 16, RLENGTH - 16) }' "$FAULT_LOG"
	assert_eq "$output" "$cfg"$'\n'"$l1" "uploads completed before the kill"
	before=$(wc -l <"$FAULT_LOG")

	push "oci:$T/big:v1" "$dest" --jobs 1
	assert_summary "$dest" "2 blobs uploaded ($(human_bytes $(($(size "$l2") + $(size "$l3"))))), 2 already there"
	assert_eq "$D" "$(manifest_digest "$manifest")" "digest"
	tail -n +$((before + 1)) "$FAULT_LOG" >"$T/rerun.log"
	# The finished blobs were found (HEAD 200) and not sent again; the others were uploaded whole.
	for d in "$cfg" "$l1"; do
		assert_eq "$(grep -cE "^HEAD /v2/$repo/blobs/$d 200 " "$T/rerun.log")" 1 "HEAD 200 of $d"
		assert_eq "$(grep -cE "digest=sha256%3A${d#sha256:}" "$T/rerun.log")" 0 "uploads of $d in the rerun"
	done
	for d in "$l2" "$l3"; do
		assert_eq "$(grep -cE "^HEAD /v2/$repo/blobs/$d 404 " "$T/rerun.log")" 1 "HEAD 404 of $d"
		assert_eq "$(grep -cE "^PUT /v2/$repo/blobs/uploads/[^ ]*digest=sha256%3A${d#sha256:} 201 $(size "$d") 0 -$" "$T/rerun.log")" 1 \
			"whole upload of $d in the rerun"
	done
	assert_eq "$(grep -c "^POST /v2/$repo/blobs/uploads/ " "$T/rerun.log")" 2 "upload sessions in the rerun"
	assert_eq "$(grep -cE '^(PUT|PATCH) ' "$T/rerun.log")" 3 "PUT/PATCH requests in the rerun (2 blobs, 1 manifest)"
	assert_served "$PREG/$repo:v1" "$D"
	# The registry links exactly the manifest's blobs into the repository.
	layers="$PSTORAGE/docker/registry/v2/repositories/$repo/_layers/sha256"
	[ -d "$layers" ] || fail "no $layers"
	assert_eq "$(dir_listing "$layers")" \
		"$(printf '%s\n' "$cfg" "$l1" "$l2" "$l3" | sed 's/^sha256://' | LC_ALL=C sort)" \
		"blobs linked in $repo"
}

# ---------------------------------------------------------------------------------------------
# Progress display

@test "--progress with stderr on a pipe: a line per blob with digest prefix, sizes and final state (done, already there, mounted)" {
	dest="$PREG/progress/a:v1"
	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false --progress "oci:$OCI:v1" "docker://$dest"
	assert_eq "$status" 0 "exit status"
	assert_eq "$(cat "$OUT_FILE")" "$OCI_DIGEST" stdout
	assert_progress_lines "done" "$OCI_MANIFEST"
	assert_eq "${stderr_lines[3]}" \
		"imgsign: pushed $OCI_DIGEST as docker://$dest: 3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there" \
		"summary"
	assert_not_contains "$stderr" $'\033' "stderr (no terminal escapes on a pipe)"

	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false --progress "oci:$OCI:v1" "docker://$dest"
	assert_eq "$status" 0 "exit status"
	assert_progress_lines "already there" "$OCI_MANIFEST"
	assert_eq "${stderr_lines[3]}" "imgsign: pushed $OCI_DIGEST as docker://$dest: 0 blobs uploaded (0 B), 3 already there" "summary"

	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false --src-tls-verify=false --progress \
		"docker://$dest" "docker://$PREG/progress/b:v1"
	assert_eq "$status" 0 "exit status"
	assert_progress_lines mounted "$OCI_MANIFEST"
	assert_eq "${stderr_lines[3]}" "imgsign: pushed $OCI_DIGEST as docker://$PREG/progress/b:v1: 0 blobs uploaded (0 B), 0 already there, 3 mounted" "summary"
	assert_not_contains "$stderr" $'\033' "stderr (no terminal escapes on a pipe)"
}

@test "stderr on a pipe: without --progress only the summary; -q nothing on stderr, the digest on stdout" {
	dest="$PREG/progress/quiet:v1"
	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false "oci:$OCI:v1" "docker://$dest"
	assert_eq "$status" 0 "exit status"
	assert_eq "$(cat "$OUT_FILE")" "$OCI_DIGEST" stdout
	assert_eq "$stderr" \
		"imgsign: pushed $OCI_DIGEST as docker://$dest: 3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there" \
		"stderr"

	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false -q "oci:$OCI:v1" "docker://$PREG/progress/quiet2:v1"
	assert_eq "$status" 0 "exit status"
	printf '%s\n' "$OCI_DIGEST" >"$T/want"
	assert_same_file "$OUT_FILE" "$T/want"
	assert_eq "$(stat -c %s "$T/stderr-$N")" 0 "bytes on stderr with -q"
	# -q with --progress: still nothing.
	pipe_push --registries.d "$EMPTY_RD" --dest-tls-verify=false -q --progress "oci:$OCI:v1" \
		"docker://$PREG/progress/quiet3:v1"
	assert_eq "$status" 0 "exit status"
	assert_same_file "$OUT_FILE" "$T/want"
	assert_eq "$(stat -c %s "$T/stderr-$N")" 0 "bytes on stderr with -q --progress"
	assert_served "$PREG/progress/quiet3:v1" "$OCI_DIGEST"
}
