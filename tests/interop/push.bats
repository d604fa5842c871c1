#!/usr/bin/env bats
# `imgsign push` end to end on loopback, against skopeo 1.9.3 and podman 4.3.1 reading what it
# pushed and signed.
#
# setup_file starts Debian's docker-registry and an nginx serving the signature staging directory
# (PUT allowed), makes two keys (A and B) and one OCI layout whose two layers are gzip-compressed
# (tar, then gzip -n), so that skopeo copies them as they are and its digests can be compared
# with ours; a dir: and a docker-archive: image are made from that layout by skopeo. Each test
# pushes to its own repository push/<case>. Every successful push must print exactly one line,
# the digest, which must be the sha256 of what `skopeo inspect --raw` gets for the destination,
# and skopeo must copy the destination back into a dir: whose blobs hash to the manifest's
# digests. The cases:
#
#   source / situation                              expected
#   oci: (gzip layers)                              3 uploaded; digest = layout's = skopeo copy's
#   dir: (skopeo-made)                              3 uploaded; digest = skopeo copy's
#   docker-archive:                                 3 uploaded; read back (skopeo compresses)
#   docker:// other repository, same registry       3 mounted; digest = skopeo copy's
#   docker:// second registry                       3 fetched and uploaded; digest = skopeo copy's
#   two-platform OCI index                          pushed whole, children by digest; = copy --all
#   second push of the same image                   0 uploaded, 3 already there; --digestfile bytes
#   Basic auth: right / wrong / no credentials      0 / exit 3 "authentication failed", no password
#                                                   shown / exit 3 "authentication required"
#   --sign-by, file:// staging                      skopeo: key A's policy accepts, key B's rejects
#   --sign-by, podman pull (registries.d in $HOME)  the same with podman; host config untouched
#   index --sign-by                                 index and each instance signed; instance by
#                                                   digest accepted
#   --sign-by, http:// staging (PUT to nginx)       in nginx's root, curl reads it, skopeo accepts
#   ... with an --authfile that does not exist      as skopeo: no credentials, not an error
#   staging that consumers do not read              exit 1, names the missing URL; image pushed
#   destination not docker://                       exit 2, usage
#   unknown source transport                        exit 2, names it
#   --sign-by a key not in the keyring              exit 2, nothing pushed
#   oci: layout with a corrupted layer blob         exit 2, names the blob; nothing tagged/signed

load ../lib/common
load ../lib/services
load ../lib/gpg
load ../lib/push

setup_file() {
	need_imgtrust
	need_cmd skopeo
	need_cmd podman
	need_cmd docker-registry
	need_cmd nginx nginx-light
	need_cmd htpasswd apache2-utils
	need_cmd jq
	need_cmd gpg
	need_cmd curl
	need_cmd gzip
	if [ "$(id -u)" -eq 0 ]; then
		need_cmd unshare util-linux
	fi
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	gpg_home_init
	export IMGSIGN="$IMGTRUST_BUILD/imgsign"
	[ -x "$IMGSIGN" ] || fail "imgsign not built in $IMGTRUST_BUILD" || return 1

	export FPR_A FPR_B
	FPR_A=$(gpg_new_key 'Push Signer A <a@push.test>')
	FPR_B=$(gpg_new_key 'Push Signer B <b@push.test>')
	[[ "$FPR_A" =~ ^[0-9A-F]{40}$ && "$FPR_B" =~ ^[0-9A-F]{40}$ ]] || fail "keys: '$FPR_A' '$FPR_B'"
	gpg --batch --export "$FPR_A" >"$FT/a.gpg"
	gpg --batch --export "$FPR_B" >"$FT/b.gpg"

	export SIG="$FT/sigstore"
	mkdir -p "$SIG"
	chmod 755 "$FT" "$SIG"
	start_registry >/dev/null
	start_nginx "$SIG" >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"

	# RD: consumers read the nginx, imgsign writes the directory nginx serves.
	export RD="$FT/registries.d" EMPTY_RD="$FT/empty.d"
	mkdir -p "$RD" "$EMPTY_RD"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$SIG" >"$RD/push.yaml"
	export POL_A="$FT/policy-a.json" POL_B="$FT/policy-b.json" POL_OPEN="$FT/policy-open.json"
	write_policy "$POL_A" "$FT/a.gpg"
	write_policy "$POL_B" "$FT/b.gpg"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POL_OPEN"
	printf '{"auths":{}}\n' >"$FT/auth.json"

	# The shared source image, and skopeo's dir: and docker-archive: copies of it.
	export OCI="$FT/oci" DIRIMG="$FT/dirimg" ARCHIVE="$FT/image.tar" OCI_DIGEST OCI_MANIFEST
	OCI_DIGEST=$(make_oci_gzip_layout "$OCI" v1 "the shared push test image")
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
	PE="$T/podman"
	N=0
	chmod 755 "$T"
}

teardown() {
	# A test that started its own services (a second or an htpasswd registry) stops exactly those.
	if [ -n "${IT_SERVICES_DIR:-}" ] && [ "$IT_SERVICES_DIR" != "$FILE_SERVICES_DIR" ]; then
		stop_services
	fi
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# ---------------------------------------------------------------------------------------------
# Helpers

# write_policy FILE KEYRING: reject by default; the file's registry needs a signature by KEYRING.
write_policy() {
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}}}' \
		"$FILE_REGISTRY" "$2" >"$1"
}

# sigdir REPO DIGEST: the staging directory holding REPO's signatures for DIGEST.
sigdir() {
	printf '%s/%s@%s\n' "$SIG" "$1" "${2/:/=}"
}

# sigurl REPO DIGEST N: where consumers read signature-N of REPO's DIGEST.
sigurl() {
	printf '%s/%s@%s/signature-%s\n' "$LOOKASIDE_URL" "$1" "${2/:/=}" "$3"
}

# assert_summary DEST TEXT: stderr's first line is imgsign's summary of pushing $D to DEST.
assert_summary() {
	assert_eq "${stderr_lines[0]-}" "imgsign: pushed $D as docker://$1: $2" "summary line"
}

# served REF [SKOPEO-OPTION...]: the manifest the registry serves for docker://REF, as skopeo
# reads it: the bytes in $SERVED, their digest in $SERVED_DIGEST. Call directly, not in $(...).
served() {
	local ref="$1"
	shift
	N=$((N + 1))
	SERVED="$T/served-$N"
	skopeo --registries.d "$EMPTY_RD" inspect --raw --tls-verify=false --authfile "$FT/auth.json" \
		"$@" "docker://$ref" >"$SERVED" || fail "skopeo inspect --raw docker://$ref failed" ||
		return 1
	SERVED_DIGEST=$(manifest_digest "$SERVED")
}

# assert_served REF DIGEST [SKOPEO-OPTION...]: the registry serves, for REF, a manifest whose bytes
# hash to DIGEST (left in $SERVED).
assert_served() {
	local ref="$1" want="$2"
	shift 2
	served "$ref" "$@" || return 1
	assert_eq "$SERVED_DIGEST" "$want" "sha256 of what the registry serves for $ref"
}

# check_dir_blobs OUT MANIFEST...: the blobs of skopeo's dir:OUT are exactly the config and
# layers of the MANIFESTs and each hashes to its name.
check_dir_blobs() {
	local out="$1" want got f
	shift
	want=$(jq -r -s '[.[] | .config.digest, .layers[].digest] | unique | .[] | ltrimstr("sha256:")' "$@")
	got=$(for f in "$out"/*; do
		f=${f##*/}
		if [[ "$f" =~ ^[0-9a-f]{64}$ ]]; then
			printf '%s\n' "$f"
		fi
	done | LC_ALL=C sort)
	assert_eq "$got" "$want" "blobs in dir:$out" || return 1
	for f in $got; do
		assert_eq "$(sha256sum <"$out/$f" | cut -d' ' -f1)" "$f" "sha256 of blob $f in dir:$out" ||
			return 1
	done
}

# readback REF [SKOPEO-OPTION...]: skopeo copies docker://REF into a new dir: ($OUT); its
# manifest is the served one ($SERVED, from assert_served) byte for byte and its blobs hash to
# the manifest's digests.
readback() {
	local ref="$1"
	shift
	N=$((N + 1))
	OUT="$T/readback-$N"
	skopeo --policy "$POL_OPEN" --registries.d "$EMPTY_RD" copy -q --src-tls-verify=false \
		--authfile "$FT/auth.json" "$@" "docker://$ref" "dir:$OUT" ||
		fail "skopeo could not copy docker://$ref back" || return 1
	assert_same_file "$OUT/manifest.json" "$SERVED" || return 1
	check_dir_blobs "$OUT" "$OUT/manifest.json"
}

# sk_copy SRC DEST [SKOPEO-OPTION...]: skopeo copy, no signatures, any TLS.
sk_copy() {
	local src="$1" dst="$2"
	shift 2
	skopeo --policy "$POL_OPEN" --registries.d "$EMPTY_RD" copy -q --authfile "$FT/auth.json" \
		--src-tls-verify=false --dest-tls-verify=false "$@" "$src" "$dst" ||
		fail "skopeo copy $src $dst failed"
}

# skopeo_side SRC NAME [SKOPEO-OPTION...]: skopeo copies SRC to
# docker://$REGISTRY/skopeo-side/NAME:v1; the digest the registry serves for it is in SK_DIGEST.
skopeo_side() {
	sk_copy "$1" "docker://$REGISTRY/skopeo-side/$2:v1" "${@:3}" || return 1
	served "$REGISTRY/skopeo-side/$2:v1" || return 1
	SK_DIGEST="$SERVED_DIGEST"
}

# skopeo_pull POLICY REGISTRIES.D REF: `run --separate-stderr skopeo copy` of docker://REF into
# a new dir: ($OUT) under POLICY; $status and $stderr as run leaves them.
skopeo_pull() {
	N=$((N + 1))
	OUT="$T/pull-$N"
	run --separate-stderr skopeo copy -q --src-tls-verify=false --policy "$1" --registries.d "$2" \
		--authfile "$FT/auth.json" "docker://$3" "dir:$OUT"
}

# tags_of REPO [CURL-OPTION...]: "HTTP-STATUS BODY" of the registry's tags/list for REPO.
tags_of() {
	local repo="$1"
	shift
	curl -s --noproxy '*' "$@" -w ' %{http_code}' "http://$REGISTRY/v2/$repo/tags/list"
}

# assert_no_tags REPO [CURL-OPTION...]: the registry has no tag in REPO (404 NAME_UNKNOWN, or an
# empty list).
assert_no_tags() {
	local r body code
	r=$(tags_of "$@")
	code=${r##* }
	body=${r% *}
	case "$code" in
	404) assert_eq "$(jq -r '.errors[0].code' <<<"$body")" NAME_UNKNOWN "tags/list of $1" ;;
	200) assert_eq "$(jq -c '.tags // []' <<<"$body")" '[]' "tags/list of $1" ;;
	*) fail "tags/list of $1: HTTP $code" "$body" ;;
	esac
}

# assert_blob_absent REPO DIGEST: HEAD of the blob in REPO answers 404.
assert_blob_absent() {
	assert_eq "$(curl -s --noproxy '*' -I -o /dev/null -w '%{http_code}' \
		"http://$REGISTRY/v2/$1/blobs/$2")" 404 "HEAD of blob $2 in $1"
}

# flip_byte FILE OFFSET: change the byte at OFFSET (xor 1), in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || fail "flip_byte: $1 has no byte $2" || return 1
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# start_second_registry [--htpasswd USER:PASS]: another registry, stopped by teardown; its
# address in R2 ($REGISTRY stays the file's registry).
start_second_registry() {
	export IT_SERVICES_DIR
	IT_SERVICES_DIR=$(mktemp -d "$T/svc.XXXXXX")
	start_registry "$@" >/dev/null || return 1
	R2="$REGISTRY"
	export REGISTRY="$FILE_REGISTRY"
	unset REGISTRY_CREDS
	[ "$R2" != "$REGISTRY" ] || fail "the second registry has the first one's address"
}

# podman_env: a private podman 4.3.1 setup under $T/podman: storage, run and tmp dirs, a
# containers.conf (as tests/lib/common.bash's podman_trust), storage.conf, registries.conf,
# XDG_RUNTIME_DIR, TMPDIR, and a HOME whose .config/containers/registries.d is a copy of $RD
# (podman has no --registries.d; containers/image reads $HOME/.config/containers/registries.d
# before /etc/containers/registries.d when it exists).
podman_env() {
	[ -d "$PE" ] && return 0
	mkdir -p "$PE/home/.config/containers" "$PE/run" "$PE/tmp" "$PE/xdg-run" "$PE/net" \
		"$PE/gpgtmp" "$PE/varlib" "$PE/nohome"
	chmod 700 "$PE/xdg-run"
	cp -r "$RD" "$PE/home/.config/containers/registries.d"
	printf '[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "%s/net"\n[engine]\nevents_logger = "none"\nimage_copy_tmp_dir = "%s/tmp"\n' \
		"$PE" "$PE" >"$PE/containers.conf"
	printf '[storage]\ndriver = "vfs"\nrunroot = "%s/run"\ngraphroot = "%s/storage"\n' \
		"$PE" "$PE" >"$PE/storage.conf"
	printf 'unqualified-search-registries = []\n' >"$PE/registries.conf"
	# Running as root, podman (containers/image) writes its blob-info cache to
	# /var/lib/containers/cache whatever its configuration says, so it runs in a mount namespace
	# where /var/lib/containers is $PE/varlib and /etc/containers a copy, both checked afterwards.
	if [ -d /etc/containers ]; then
		cp -a /etc/containers "$PE/etc-containers"
	fi
}

# podman_in HOME ARGS...: podman ARGS in the private setup with HOME as its home.
podman_in() {
	local home="$1"
	shift
	podman_env
	local cmd=(env HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_RUNTIME_DIR="$PE/xdg-run"
		TMPDIR="$PE/gpgtmp" CONTAINERS_CONF="$PE/containers.conf"
		CONTAINERS_STORAGE_CONF="$PE/storage.conf" CONTAINERS_REGISTRIES_CONF="$PE/registries.conf"
		podman --root "$PE/storage" --runroot "$PE/run" --tmpdir "$PE/tmp" --storage-driver vfs "$@")
	if [ "$(id -u)" -ne 0 ]; then
		"${cmd[@]}"
		return
	fi
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c '
		pe=$1
		shift
		if [ -d /var/lib/containers ]; then
			mount --bind "$pe/varlib" /var/lib/containers || exit 97
		fi
		if [ -d "$pe/etc-containers" ]; then
			mount --bind "$pe/etc-containers" /etc/containers || exit 97
		fi
		exec "$@"' sh "$PE" "${cmd[@]}"
}

# podman_pull POLICY REF: podman pull --tls-verify=false --signature-policy POLICY docker://REF
# with registries.d in its HOME ($PODMAN_HOME, default the one holding a copy of $RD).
podman_pull() {
	podman_env
	podman_in "${PODMAN_HOME:-$PE/home}" pull -q --tls-verify=false --signature-policy "$1" \
		"docker://$2"
}

# ---------------------------------------------------------------------------------------------
# Sources

@test "oci: source with gzip layers: one digest line, served as pushed, read back, digest = skopeo copy's" {
	dest="$REGISTRY/push/oci:v1"
	push "oci:$OCI:v1" "$dest"
	assert_eq "$D" "$OCI_DIGEST" "digest (the layout's manifest)"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_served "$dest" "$D"
	assert_same_file "$SERVED" "$OCI_MANIFEST"
	readback "$dest"
	skopeo_side "oci:$OCI:v1" oci
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "dir: source made by skopeo: one digest line, served as pushed, read back, digest = skopeo copy's" {
	dest="$REGISTRY/push/dir:v1"
	push "dir:$DIRIMG" "$dest"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$DIRIMG/manifest.json")")), 0 already there"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_served "$dest" "$D"
	assert_same_file "$SERVED" "$DIRIMG/manifest.json"
	readback "$dest"
	skopeo_side "dir:$DIRIMG" dir
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
	# skopeo kept the layout's manifest when it wrote the dir:, so the same digest again.
	assert_eq "$D" "$OCI_DIGEST" "digest (the layout's manifest)"
}

# An intended difference: skopeo, pushing a docker-archive:, gzip-compresses its (uncompressed)
# layers on the way, so its manifest has other layer digests than ours; imgsign pushes the layers
# as the archive holds them, under the ...diff.tar.gzip media type containers/image's archive
# source gives them (containers/image detects the real compression when it pulls). So the digest
# is not compared with skopeo's push; skopeo's read-back of ours is asserted.
@test "docker-archive: source: one digest line, served as pushed, read back (layers uncompressed, unlike skopeo)" {
	dest="$REGISTRY/push/archive:v1"
	push "docker-archive:$ARCHIVE" "$dest"
	assert_served "$dest" "$D"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$SERVED")")), 0 already there"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_eq "$(jq -r .mediaType "$SERVED")" application/vnd.docker.distribution.manifest.v2+json \
		"manifest type"
	# The config is the layout's; the layers are the uncompressed tars: their digests are the
	# config's diff_ids.
	assert_eq "$(jq -r .config.digest "$SERVED")" "$(jq -r .config.digest "$OCI_MANIFEST")" \
		"config digest"
	cfg="$OCI/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$OCI_MANIFEST")"
	assert_eq "$(jq -c '[.layers[].digest]' "$SERVED")" "$(jq -c .rootfs.diff_ids "$cfg")" \
		"layer digests (the diff_ids)"
	readback "$dest"
	# The NAME:TAG form picks the same (only) image.
	push "docker-archive:$ARCHIVE:example.test/archived:v1" "$REGISTRY/push/archive:v2"
	assert_summary "$REGISTRY/push/archive:v2" "0 blobs uploaded (0 B), 3 already there"
	assert_served "$REGISTRY/push/archive:v2" "$D"
}

@test "docker:// source in another repository of the same registry: blobs mounted, digest = skopeo copy's" {
	sk_copy "oci:$OCI:v1" "docker://$REGISTRY/push/mount-src:v1"
	dest="$REGISTRY/push/mounted:v1"
	push "docker://$REGISTRY/push/mount-src:v1" "$dest" --src-tls-verify=false
	assert_summary "$dest" "0 blobs uploaded (0 B), 0 already there, 3 mounted"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_served "$dest" "$D"
	assert_eq "$D" "$OCI_DIGEST" "digest (the source's manifest)"
	readback "$dest"
	skopeo_side "docker://$REGISTRY/push/mount-src:v1" mounted
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "docker:// source on a second registry: blobs fetched and uploaded, digest = skopeo copy's" {
	start_second_registry
	sk_copy "oci:$OCI:v1" "docker://$R2/elsewhere/src:v1"
	dest="$REGISTRY/push/fetched:v1"
	push "docker://$R2/elsewhere/src:v1" "$dest" --src-tls-verify=false
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_served "$dest" "$D"
	assert_eq "$D" "$OCI_DIGEST" "digest (the source's manifest)"
	readback "$dest"
	skopeo_side "docker://$R2/elsewhere/src:v1" fetched
	assert_eq "$SK_DIGEST" "$D" "skopeo copy's digest for the same source"
}

@test "two-platform OCI index: pushed whole, every instance served by digest, digest = skopeo copy --all's" {
	mapfile -t dg < <(make_oci_gzip_index "$T/idx" v1 "index push")
	[ "${#dg[@]}" -eq 3 ] || fail "make_oci_gzip_index: ${dg[*]}"
	blobs=("$T/idx/blobs/sha256/${dg[1]#sha256:}" "$T/idx/blobs/sha256/${dg[2]#sha256:}")
	dest="$REGISTRY/push/index:v1"
	push "oci:$T/idx:v1" "$dest"
	assert_eq "$D" "${dg[0]}" "digest (the layout's index)"
	assert_summary "$dest" "6 blobs uploaded ($(human_bytes "$(blob_bytes "${blobs[@]}")")), 0 already there, 2 instance manifests"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_served "$dest" "$D"
	assert_same_file "$SERVED" "$T/idx/blobs/sha256/${D#sha256:}"
	for c in "${dg[1]}" "${dg[2]}"; do
		assert_served "$REGISTRY/push/index@$c" "$c"
		assert_same_file "$SERVED" "$T/idx/blobs/sha256/${c#sha256:}"
	done
	# Everything, read back by skopeo: the index, each instance, every blob.
	served "$dest"
	sk_copy "docker://$dest" "dir:$T/all" --all
	assert_same_file "$T/all/manifest.json" "$SERVED"
	for c in "${dg[1]}" "${dg[2]}"; do
		assert_same_file "$T/all/${c#sha256:}.manifest.json" "$T/idx/blobs/sha256/${c#sha256:}"
	done
	check_dir_blobs "$T/all" "${blobs[@]}"
	skopeo_side "oci:$T/idx:v1" index --all
	assert_eq "$SK_DIGEST" "$D" "skopeo copy --all's digest for the same source"
}

@test "second push of the same image: 0 uploaded, 3 already there; --digestfile holds the digest without a newline, as skopeo's" {
	dest="$REGISTRY/push/again:v1"
	push "oci:$OCI:v1" "$dest"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	first="$D"
	printf 'an older, longer digest file\nwith two lines\n' >"$T/digest"
	push "oci:$OCI:v1" "$dest" --digestfile "$T/digest"
	assert_eq "$D" "$first" "digest of the second push"
	assert_summary "$dest" "0 blobs uploaded (0 B), 3 already there"
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	# The digest file is the digest alone, no newline (what skopeo copy --digestfile writes).
	printf '%s' "$D" >"$T/want"
	assert_same_file "$T/digest" "$T/want"
	assert_eq "$(stat -c %a "$T/digest")" 644 "mode of the digest file"
	skopeo_side "oci:$OCI:v1" again --digestfile "$T/skopeo-digest"
	assert_same_file "$T/digest" "$T/skopeo-digest"
	assert_served "$dest" "$D"
	assert_eq "$(curl -sf --noproxy '*' "http://$REGISTRY/v2/push/again/tags/list" | jq -c .tags)" \
		'["v1"]' "tags of push/again"
}

# ---------------------------------------------------------------------------------------------
# Registry authentication

@test "Basic auth: --creds works; a wrong password: exit 3, one line saying authentication failed, password never shown" {
	pw='Pa55-w0rd-push-only'
	bad='wr0ng-pw-push-only'
	start_second_registry --htpasswd "alice:$pw"
	push "oci:$OCI:v1" "$R2/push/auth:v1" --creds "alice:$pw"
	assert_eq "$D" "$OCI_DIGEST" digest
	assert_not_contains "$output$stderr" "$pw" "output"
	assert_served "$R2/push/auth:v1" "$D" --creds "alice:$pw"

	ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false --creds "alice:$bad" \
		"oci:$OCI:v1" "docker://$R2/push/auth-bad:v1"
	assert_status 3
	assert_eq "$(cat "$OUT_FILE")" "" stdout
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "imgsign: " stderr
	assert_contains "$stderr" "$R2" "stderr (names the registry)"
	assert_not_contains "$stderr" "$bad" stderr
	assert_not_contains "$stderr" "$pw" stderr
	REGISTRY="$R2" assert_no_tags push/auth-bad -u "alice:$pw"
	assert_contains "$stderr" "authentication failed for $R2" stderr
}

@test "Basic auth: every source kind (oci:, dir:, docker-archive:, docker:// on the same and on another registry) with --creds, read back" {
	pw='Pa55-w0rd-kinds'
	start_second_registry --htpasswd "alice:$pw"
	# The docker:// sources: an image in the htpasswd registry itself, and one in the open one.
	push "oci:$OCI:v1" "$REGISTRY/push/kinds-src:v1"
	push "oci:$OCI:v1" "$R2/push/kinds-src:v1" --creds "alice:$pw"
	declare -A want=()
	for kind in oci dir archive same-registry other-registry; do
		case $kind in
		oci) src="oci:$OCI:v1" extra=() ;;
		dir) src="dir:$DIRIMG" extra=() ;;
		archive) src="docker-archive:$ARCHIVE" extra=() ;;
		same-registry) src="docker://$R2/push/kinds-src:v1" extra=(--src-creds "alice:$pw" --src-tls-verify=false) ;;
		other-registry) src="docker://$REGISTRY/push/kinds-src:v1" extra=(--src-tls-verify=false) ;;
		esac
		push "$src" "$R2/push/kinds-$kind:v1" --creds "alice:$pw" "${extra[@]}"
		assert_not_contains "$output$stderr" "$pw" "output for $kind"
		REGISTRY="$R2" assert_served "$R2/push/kinds-$kind:v1" "$D" --creds "alice:$pw"
		REGISTRY="$R2" readback "$R2/push/kinds-$kind:v1" --src-creds "alice:$pw"
		want[$kind]=$D
	done
	# oci:, both docker:// sources: the layout's manifest; dir: skopeo's copy of it; the archive:
	# a synthesised schema 2 manifest.
	assert_eq "${want[oci]}" "$OCI_DIGEST" "oci: digest"
	assert_eq "${want[same-registry]}" "$OCI_DIGEST" "docker:// (same registry) digest"
	assert_eq "${want[other-registry]}" "$OCI_DIGEST" "docker:// (other registry) digest"
	assert_eq "${want[dir]}" "sha256:$(sha256sum <"$DIRIMG/manifest.json" | cut -d' ' -f1)" "dir: digest"
}

@test "Basic auth: no credentials: exit 3, one line saying credentials are required" {
	start_second_registry --htpasswd 'alice:Pa55-w0rd-push-only'
	ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false "oci:$OCI:v1" \
		"docker://$R2/push/auth-none:v1"
	assert_status 3
	assert_eq "$(cat "$OUT_FILE")" "" stdout
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "$R2" "stderr (names the registry)"
	REGISTRY="$R2" assert_no_tags push/auth-none -u 'alice:Pa55-w0rd-push-only'
	assert_contains "$stderr" "authentication required for $R2" stderr
	assert_contains "$stderr" "--creds" stderr
}

# ---------------------------------------------------------------------------------------------
# Signing

@test "--sign-by, file:// staging: skopeo accepts with key A's policy, rejects with key B's" {
	dest="$REGISTRY/push/signed:v1"
	PUSH_RD="$RD" push "oci:$OCI:v1" "$dest" --sign-by "$FPR_A"
	assert_eq "$D" "$OCI_DIGEST" digest
	assert_eq "${#stderr_lines[@]}" 2 "stderr lines"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_eq "${stderr_lines[1]}" \
		"imgsign: signed $D for $dest with $FPR_A: wrote $(sigdir push/signed "$D")/signature-1, verified at $(sigurl push/signed "$D" 1)" \
		"signature line"
	assert_eq "$(dir_listing "$(sigdir push/signed "$D")")" signature-1 "staged signatures"
	payload=$(sig_payload "$(sigdir push/signed "$D")/signature-1")
	assert_eq "$(jq -r '.critical.identity["docker-reference"]' <<<"$payload")" "$dest" identity
	assert_eq "$(jq -r '.critical.image["docker-manifest-digest"]' <<<"$payload")" "$D" "signed digest"

	skopeo_pull "$POL_A" "$RD" "$dest"
	assert_status 0
	assert_served "$dest" "$D"
	assert_same_file "$OUT/manifest.json" "$SERVED"
	check_dir_blobs "$OUT" "$SERVED"
	skopeo_pull "$POL_B" "$RD" "$dest"
	[ "$status" -ne 0 ] || fail "skopeo accepted the image under key B's policy"
	assert_contains "$stderr" "Source image rejected: Invalid GPG signature" "skopeo stderr"
	assert_contains "$stderr" "$FPR_A" "skopeo stderr (the signer it does not trust)"
}

@test "--sign-by, podman 4.3.1 pull (registries.d in HOME): key A's policy accepts, key B's rejects; host config untouched" {
	dest="$REGISTRY/push/podman:v1"
	PUSH_RD="$RD" push "oci:$OCI:v1" "$dest" --sign-by "$FPR_A"
	[ -f "$(sigdir push/podman "$D")/signature-1" ] || fail "no signature staged"
	podman_env
	varlib_existed=$([ -d /var/lib/containers ] && echo yes || echo no)
	cfg=$(jq -r '.config.digest | ltrimstr("sha256:")' "$OCI_MANIFEST")

	run --separate-stderr podman_pull "$POL_A" "$dest"
	assert_status 0
	assert_eq "$output" "$cfg" "podman pull stdout (the image ID: the config digest)"
	run --separate-stderr podman_in "$PE/home" image inspect --format '{{.Digest}}' "$dest"
	assert_status 0
	assert_eq "$output" "$D" "podman's digest of the pulled image"

	run --separate-stderr podman_pull "$POL_B" "$dest"
	assert_status 125
	assert_contains "$stderr" "Source image rejected: Invalid GPG signature" "podman stderr"
	# A HOME without registries.d: podman finds no signature at all, so it was $HOME's
	# registries.d that showed it the lookaside above.
	PODMAN_HOME="$PE/nohome" run --separate-stderr podman_pull "$POL_A" "$dest"
	assert_status 125
	assert_contains "$stderr" "A signature was required, but no signature exists" "podman stderr"

	# What podman would have written to the host's /var/lib/containers: only its blob-info cache
	# (its storage went to --root); /etc/containers (a copy, in its namespace) unchanged.
	if [ "$(id -u)" -eq 0 ] && [ "$varlib_existed" = no ]; then
		[ ! -e /var/lib/containers ] || fail "podman created /var/lib/containers on the host"
	elif [ "$(id -u)" -eq 0 ]; then
		assert_eq "$(cd "$PE/varlib" && find . -mindepth 1 | LC_ALL=C sort)" \
			$'./cache\n./cache/blob-info-cache-v1.boltdb' "podman's writes to /var/lib/containers"
		if [ -d /etc/containers ]; then
			run diff -r /etc/containers "$PE/etc-containers"
			assert_status 0
		fi
	fi
}

@test "index with --sign-by: the index and each instance signed; an instance by digest accepted by skopeo" {
	mapfile -t dg < <(make_oci_gzip_index "$T/idx" v1 "signed index")
	[ "${#dg[@]}" -eq 3 ] || fail "make_oci_gzip_index: ${dg[*]}"
	dest="$REGISTRY/push/signed-index:v1"
	PUSH_RD="$RD" push "oci:$T/idx:v1" "$dest" --sign-by "$FPR_A"
	assert_eq "$D" "${dg[0]}" "digest (the index)"
	assert_eq "${#stderr_lines[@]}" 4 "stderr lines"
	for i in 0 1 2; do
		assert_eq "${stderr_lines[$((i + 1))]}" \
			"imgsign: signed ${dg[$i]} for $dest with $FPR_A: wrote $(sigdir push/signed-index "${dg[$i]}")/signature-1, verified at $(sigurl push/signed-index "${dg[$i]}" 1)" \
			"signature line $((i + 1))"
		payload=$(sig_payload "$(sigdir push/signed-index "${dg[$i]}")/signature-1")
		assert_eq "$(jq -r '.critical.image["docker-manifest-digest"]' <<<"$payload")" "${dg[$i]}" \
			"signed digest $i"
		assert_eq "$(jq -r '.critical.identity["docker-reference"]' <<<"$payload")" "$dest" \
			"identity $i"
	done
	assert_eq "$(dir_listing "$SIG/push" | grep -c '^signed-index@')" 3 "signature directories"

	skopeo_pull "$POL_A" "$RD" "$REGISTRY/push/signed-index@${dg[1]}"
	assert_status 0
	assert_eq "$(manifest_digest "$OUT/manifest.json")" "${dg[1]}" "manifest skopeo copied"
	check_dir_blobs "$OUT" "$OUT/manifest.json"
	skopeo_pull "$POL_B" "$RD" "$REGISTRY/push/signed-index@${dg[2]}"
	[ "$status" -ne 0 ] || fail "skopeo accepted the arm64 instance under key B's policy"
	assert_contains "$stderr" "Source image rejected: Invalid GPG signature" "skopeo stderr"
	if [ "$(uname -m)" = x86_64 ]; then
		# By the tag, skopeo picks the amd64 instance and needs its signature.
		skopeo_pull "$POL_A" "$RD" "$dest"
		assert_status 0
		assert_eq "$(manifest_digest "$OUT/manifest.json")" "${dg[1]}" "instance skopeo picked"
	fi
}

@test "--sign-by, http:// staging (PUT to nginx): the signature is in nginx's root, curl reads it, skopeo accepts" {
	rd="$T/registries.d"
	mkdir -p "$rd"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: %s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$LOOKASIDE_URL" >"$rd/put.yaml"
	dest="$REGISTRY/push/put:v1"
	PUSH_RD="$rd" push "oci:$OCI:v1" "$dest" --sign-by "$FPR_A" --authfile "$FT/auth.json"
	url=$(sigurl push/put "$D" 1)
	assert_eq "${#stderr_lines[@]}" 2 "stderr lines"
	assert_eq "${stderr_lines[1]}" \
		"imgsign: signed $D for $dest with $FPR_A: wrote $url, verified at $url" "signature line"
	file="$(sigdir push/put "$D")/signature-1"
	[ -f "$file" ] || fail "no $file in nginx's root" "$(find "$SIG" -path '*put*')"
	grep -qF "\"PUT /push/put@${D/:/=}/signature-1 HTTP/1.1\" 201" \
		"$FILE_SERVICES_DIR"/nginx.*/logs/access.log || fail "nginx logged no PUT of the signature" \
		"$(cat "$FILE_SERVICES_DIR"/nginx.*/logs/access.log)"
	curl -sf --noproxy '*' -o "$T/got" "$url" || fail "curl GET $url failed"
	assert_same_file "$T/got" "$file"
	assert_eq "$(sig_payload "$T/got" | jq -r '.critical.image["docker-manifest-digest"]')" "$D" \
		"signed digest"
	skopeo_pull "$POL_A" "$rd" "$dest"
	assert_status 0
	skopeo_pull "$POL_B" "$rd" "$dest"
	[ "$status" -ne 0 ] || fail "skopeo accepted the image under key B's policy"
	assert_contains "$stderr" "Source image rejected: Invalid GPG signature" "skopeo stderr"
}

@test "--sign-by, http:// staging, --authfile that does not exist: refused before anything is pushed, as podman" {
	rd="$T/registries.d"
	mkdir -p "$rd"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: %s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$LOOKASIDE_URL" >"$rd/put.yaml"
	# skopeo ignores a missing --authfile; podman push refuses it ("credential file is not
	# accessible"): imgsign follows podman, and says so before pushing anything.
	ipush --registries.d "$rd" --dest-tls-verify=false --sign-by "$FPR_A" \
		--authfile "$T/missing.json" "oci:$OCI:v1" "docker://$REGISTRY/push/noauthfile:v1"
	assert_status 2
	assert_eq "$(cat "$OUT_FILE")" "" stdout
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "imgsign: docker://$REGISTRY/push/noauthfile:v1: " stderr
	assert_contains "$stderr" "$T/missing.json" stderr
	assert_no_tags push/noauthfile
	for b in $(jq -r '.config.digest, .layers[].digest' "$OCI_MANIFEST"); do
		assert_blob_absent push/noauthfile "$b"
	done
}

@test "signature staged where consumers do not read: exit 1 naming the missing URL; the image is pushed" {
	rd="$T/registries.d"
	mkdir -p "$rd" "$T/elsewhere"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$T/elsewhere" >"$rd/elsewhere.yaml"
	dest="$REGISTRY/push/unread:v1"
	ipush --registries.d "$rd" --dest-tls-verify=false --sign-by "$FPR_A" "oci:$OCI:v1" "docker://$dest"
	assert_status 1
	# The image is pushed: its digest is still printed, so a pipeline knows what is unsigned.
	assert_eq "$(cat "$OUT_FILE")" "$OCI_DIGEST" stdout
	D="$OCI_DIGEST"
	written="$T/elsewhere/push/unread@${D/:/=}/signature-1"
	url=$(sigurl push/unread "$D" 1)
	assert_eq "${#stderr_lines[@]}" 2 "stderr lines"
	assert_summary "$dest" "3 blobs uploaded ($(human_bytes "$(blob_bytes "$OCI_MANIFEST")")), 0 already there"
	assert_eq "${stderr_lines[1]}" \
		"imgsign: docker://$dest: $written was written but consumers will not find it: $url is missing (lookaside $LOOKASIDE_URL from $rd/elsewhere.yaml)" \
		"error line"
	[ -f "$written" ] || fail "the signature was not written to the staging directory"
	[ ! -e "$(sigdir push/unread "$D")" ] || fail "a signature appeared where consumers read"
	# The image is pushed all the same (PUSH_HELP: exit 1, "the image is pushed").
	assert_served "$dest" "$D"
	readback "$dest"
}

# ---------------------------------------------------------------------------------------------
# Bad input

@test "destination not docker://: exit 2, usage, nothing written" {
	for d in "$REGISTRY/push/notdocker:v1" "oci:$T/out:v1" "docker:$REGISTRY/push/notdocker:v1" \
		"dir:$T/out"; do
		ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false "oci:$OCI:v1" "$d"
		assert_status 2
		assert_eq "$(cat "$OUT_FILE")" "" "stdout for $d"
		assert_eq "$stderr" \
			"imgsign: push: the destination must be docker://REF (see 'imgsign push --help')" \
			"stderr for $d"
	done
	[ ! -e "$T/out" ] || fail "something was written to $T/out"
	assert_no_tags push/notdocker
}

@test "unknown source transport: exit 2, one line naming it" {
	for s in "nope:$OCI" "docker-daemon:example.test/x:v1" "$OCI"; do
		ipush --registries.d "$EMPTY_RD" --dest-tls-verify=false "$s" \
			"docker://$REGISTRY/push/badsource:v1"
		assert_status 2
		assert_eq "$(cat "$OUT_FILE")" "" "stdout for $s"
		assert_eq "${#stderr_lines[@]}" 1 "stderr lines for $s"
		assert_contains "$stderr" "imgsign: \"$s\": unknown source transport" "stderr for $s"
	done
	assert_no_tags push/badsource
	assert_contains "$stderr" "docker://" "the transports listed"
}

@test "--sign-by a key not in the keyring: exit 2 before anything is pushed" {
	missing=0123456789ABCDEF0123456789ABCDEF01234567
	for keys in "$missing" "$FPR_A nobody@nowhere.test"; do
		args=()
		for k in $keys; do
			args+=(--sign-by "$k")
		done
		ipush --registries.d "$RD" --dest-tls-verify=false "${args[@]}" "oci:$OCI:v1" \
			"docker://$REGISTRY/push/nokey:v1"
		assert_status 2
		assert_eq "$(cat "$OUT_FILE")" "" stdout
		assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
		assert_contains "$stderr" "imgsign: --sign-by: no secret key \"${k}\" in the GnuPG keyring" \
			stderr
	done
	assert_no_tags push/nokey
	for b in $(jq -r '.config.digest, .layers[].digest' "$OCI_MANIFEST"); do
		assert_blob_absent push/nokey "$b"
	done
	[ -z "$(find "$SIG" -name 'nokey@*' -print -quit)" ] || fail "a signature was staged"
}

@test "oci: layout with a corrupted layer blob: exit 2 naming the blob, nothing tagged, nothing signed" {
	cp -a "$OCI" "$T/bad"
	layer=$(jq -r '.layers[1].digest' "$OCI_MANIFEST")
	f="$T/bad/blobs/sha256/${layer#sha256:}"
	size=$(stat -c %s "$f")
	flip_byte "$f" $((size / 2))
	[ "$(stat -c %s "$f")" -eq "$size" ] || fail "flip_byte changed the size"
	[ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" != "$layer" ] || fail "the blob is unchanged"
	rd="$T/registries.d"
	mkdir -p "$rd" "$T/staging"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$T/staging" >"$rd/corrupt.yaml"
	ipush --registries.d "$rd" --dest-tls-verify=false --sign-by "$FPR_A" "oci:$T/bad:v1" \
		"docker://$REGISTRY/push/corrupt:v1"
	assert_status 2
	assert_eq "$(cat "$OUT_FILE")" "" stdout
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_contains "$stderr" "imgsign: pushing oci:$T/bad:v1 to docker://$REGISTRY/push/corrupt:v1: " stderr
	assert_contains "$stderr" "blob for push/corrupt/$layer does not match" stderr
	assert_no_tags push/corrupt
	assert_blob_absent push/corrupt "$layer"
	assert_eq "$(dir_listing "$T/staging")" "" "staging directory"
}
