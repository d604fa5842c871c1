# Shared helpers for the bats suites (tests/cli, tests/interop). Load with `load ../lib/common`.
#
# Everything a test makes lives under $BATS_TEST_TMPDIR (or $BATS_FILE_TMPDIR for setup_file):
# HOME, XDG dirs and GNUPGHOME are pointed there so neither imgtrust nor podman/skopeo/gpg can read
# or write the host's ~/.config, ~/.gnupg or /etc/containers configuration behind our back.

bats_require_minimum_version 1.5.0

: "${IMGTRUST_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${IMGTRUST_BUILD:=/work/main/build-bats}"
: "${IMGTRUST_FIXTURES:=$IMGTRUST_SRC/tests/fixtures}"
export IMGTRUST_SRC IMGTRUST_BUILD IMGTRUST_FIXTURES
IMGTRUST="$IMGTRUST_BUILD/imgtrust"
CLI_FIXTURES="$IMGTRUST_FIXTURES/cli"

# ---------------------------------------------------------------------------------------------
# Assertions (no bats-assert on Debian 12). Each prints what it saw before failing.

fail() {
	printf '%s\n' "$@" >&2
	return 1
}

# assert_status N: $status of the last `run` is N.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		fail "exit status: want $1, got $status" "--- output:" "$output" \
			"--- stderr:" "${stderr-}"
	fi
}

# assert_eq GOT WANT [WHAT]
assert_eq() {
	if [ "$1" != "$2" ]; then
		fail "${3:-value} differs" "--- want:" "$2" "--- got:" "$1"
	fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	fail "${3:-text} does not contain: $2" "--- text:" "$1"
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-text} unexpectedly contains: $2" "--- text:" "$1" ;;
	esac
	return 0
}

# assert_line_match ERE: some line of $output matches the extended regular expression.
assert_line_match() {
	local l
	for l in "${lines[@]}"; do
		if [[ "$l" =~ $1 ]]; then
			return 0
		fi
	done
	fail "no output line matches /$1/" "--- output:" "$output"
}

# assert_no_line_match ERE
assert_no_line_match() {
	local l
	for l in "${lines[@]}"; do
		if [[ "$l" =~ $1 ]]; then
			fail "an output line matches /$1/: $l" "--- output:" "$output"
		fi
	done
	return 0
}

# assert_one_error_line [NEEDLE...]: after `run --separate-stderr`, stderr is exactly one line
# starting with "imgtrust: " and containing every NEEDLE.
assert_one_error_line() {
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		fail "stderr: want exactly one line, got ${#stderr_lines[@]}" "--- stderr:" "$stderr"
		return 1
	fi
	case "${stderr_lines[0]}" in
	"imgtrust: "*) ;;
	*) fail "stderr line does not start with 'imgtrust: '" "--- stderr:" "$stderr" || return 1 ;;
	esac
	local n
	for n in "$@"; do
		assert_contains "${stderr_lines[0]}" "$n" "stderr" || return 1
	done
}

# assert_same_file A B: byte-for-byte equal.
assert_same_file() {
	if ! cmp -s "$1" "$2"; then
		fail "files differ: $1 $2" "$(diff <(od -c "$1" | head -40) <(od -c "$2" | head -40))"
	fi
}

# assert_same_json A B: equal as JSON documents (key order ignored).
assert_same_json() {
	local d
	if ! d=$(diff <(jq -S . "$1") <(jq -S . "$2")); then
		fail "JSON differs: $1 vs $2" "$d"
	fi
}

# dir_listing DIR: names in DIR (hidden ones too), sorted, one a line — to spot stray temp files.
dir_listing() {
	(cd "$1" && LC_ALL=C ls -A1)
}

# ---------------------------------------------------------------------------------------------
# Environment

# it_isolate [DIR]: private HOME/XDG/GNUPGHOME under DIR (default $BATS_TEST_TMPDIR/env).
it_isolate() {
	local d="${1:-$BATS_TEST_TMPDIR/env}"
	mkdir -p "$d/home" "$d/gnupg" "$d/xdg-config" "$d/xdg-data" "$d/xdg-cache"
	chmod 700 "$d/gnupg"
	export HOME="$d/home" GNUPGHOME="$d/gnupg"
	export XDG_CONFIG_HOME="$d/xdg-config" XDG_DATA_HOME="$d/xdg-data" XDG_CACHE_HOME="$d/xdg-cache"
	unset CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_STORAGE_CONF CONTAINERS_POLICY_JSON
	unset REGISTRIES_CONFIG_PATH
	export LC_ALL=C.UTF-8 TZ=UTC
}

need_imgtrust() {
	[ -x "$IMGTRUST" ] || fail "imgtrust not built: $IMGTRUST (set IMGTRUST_BUILD)"
}

# need_cmd NAME [DEBIAN-PACKAGE]: the interop suites compare against the real tools; a missing
# tool is a failure, not a skip, so a machine without them cannot turn the suite green.
need_cmd() {
	command -v "$1" >/dev/null || fail "$1 not installed (apt-get install -y ${2:-$1})"
}

# imgtrust ARGS...: the program under test.
imgtrust() {
	"$IMGTRUST" "$@"
}

# ---------------------------------------------------------------------------------------------
# OpenPGP keys: real ones, each made in its own throw-away GNUPGHOME.

# make_key OUTBASE UID [UID...]: new ed25519 signing key with the given user IDs; writes
# OUTBASE.gpg (binary export) and OUTBASE.asc (armored), prints the fingerprint. The agent that
# key generation starts is killed right away (kill_gpg_agents is the safety net).
make_key() {
	local out="$1" uid="$2" home fpr
	shift 2
	home="$out.gnupg"
	mkdir -p "$home"
	chmod 700 "$home"
	gpg --homedir "$home" --batch --quiet --passphrase '' --quick-gen-key "$uid" ed25519 sign never \
		>/dev/null 2>&1 || {
		gpgconf --homedir "$home" --kill all 2>/dev/null
		fail "gpg --quick-gen-key failed for $uid"
		return 1
	}
	fpr=$(gpg --homedir "$home" --batch --with-colons --list-keys "$uid" | awk -F: '$1=="fpr"{print $10; exit}')
	local u
	for u in "$@"; do
		gpg --homedir "$home" --batch --quiet --passphrase '' --quick-add-uid "$fpr" "$u" >/dev/null 2>&1 ||
			fail "gpg --quick-add-uid failed for $u" || return 1
	done
	gpg --homedir "$home" --batch --export "$fpr" >"$out.gpg"
	gpg --homedir "$home" --batch --export --armor "$fpr" >"$out.asc"
	gpgconf --homedir "$home" --kill all 2>/dev/null
	[ -s "$out.gpg" ] && [ -s "$out.asc" ] || fail "key export failed for $uid" || return 1
	printf '%s\n' "$fpr"
}

# kill_gpg_agents DIR...: stop any agent of a GNUPGHOME below DIR (call from teardown).
kill_gpg_agents() {
	local d h
	for d in "$@"; do
		[ -d "$d" ] || continue
		while IFS= read -r h; do
			gpgconf --homedir "$(dirname "$h")" --kill all 2>/dev/null || true
		done < <(find "$d" -name pubring.kbx 2>/dev/null)
	done
	return 0
}

# make_gpg2_shim DIR: podman runs `gpg2`, which Debian 12 does not ship; DIR/gpg2 runs gpg.
make_gpg2_shim() {
	mkdir -p "$1"
	printf '#!/bin/sh\nexec gpg "$@"\n' >"$1/gpg2"
	chmod 755 "$1/gpg2"
}

# ---------------------------------------------------------------------------------------------
# Images, made offline.

# make_oci_layout DIR [TEXT]: a one-layer OCI image layout at DIR, tagged "latest", whose layer
# holds hello.txt with TEXT. Digests are computed here, so the layout is valid for skopeo.
make_oci_layout() {
	local dir="$1" text="${2:-hello from imgtrust tests}" work l ls c cs m ms
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/oci-work.XXXXXX")
	mkdir -p "$work/root" "$dir/blobs/sha256"
	printf '%s\n' "$text" >"$work/root/hello.txt"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root" \
		-cf "$work/layer.tar" hello.txt
	l=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
	ls=$(stat -c %s "$work/layer.tar")
	cp "$work/layer.tar" "$dir/blobs/sha256/$l"
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$l" >"$work/config.json"
	c=$(sha256sum "$work/config.json" | cut -d' ' -f1)
	cs=$(stat -c %s "$work/config.json")
	cp "$work/config.json" "$dir/blobs/sha256/$c"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$c" "$cs" "$l" "$ls" >"$work/manifest.json"
	m=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
	ms=$(stat -c %s "$work/manifest.json")
	cp "$work/manifest.json" "$dir/blobs/sha256/$m"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$m" "$ms" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	rm -rf "$work"
}

# make_dir_image OUT: a `dir:` image at OUT, written by skopeo itself from a hand-made OCI layout.
make_dir_image() {
	local out="$1" work
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/dirimg-work.XXXXXX")
	make_oci_layout "$work/oci"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
	mkdir -p "$work/registries.d"
	skopeo --policy "$work/policy.json" --registries.d "$work/registries.d" copy -q \
		"oci:$work/oci:latest" "dir:$out" >/dev/null || fail "skopeo could not make dir:$out" || return 1
	rm -rf "$work"
	[ -f "$out/manifest.json" ] && [ -f "$out/version" ] || fail "dir:$out has no manifest"
}

# ---------------------------------------------------------------------------------------------
# The reference tools, kept off the host's state.

# podman_trust ARGS...: `podman image trust ARGS` with its storage, run dir, tmp dir, network
# config and events under $PODMAN_ENV (default $BATS_TEST_TMPDIR/podman).
podman_trust() {
	local e="${PODMAN_ENV:-$BATS_TEST_TMPDIR/podman}"
	if [ ! -f "$e/containers.conf" ]; then
		mkdir -p "$e/net"
		printf '[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "%s/net"\n[engine]\nevents_logger = "none"\n' \
			"$e" >"$e/containers.conf"
	fi
	CONTAINERS_CONF="$e/containers.conf" podman --root "$e/root" --runroot "$e/run" \
		--tmpdir "$e/tmp" --storage-driver vfs image trust "$@"
}

# skopeo_copy POLICY SRC DST: skopeo copy under POLICY with an empty registries.d.
skopeo_copy() {
	local e="${BATS_TEST_TMPDIR}/skopeo-regd"
	mkdir -p "$e"
	skopeo --policy "$1" --registries.d "$e" copy -q "$2" "$3"
}

# subst_template IN OUT VAR=VALUE...: copy IN to OUT replacing each @VAR@ by VALUE.
subst_template() {
	local in="$1" out="$2" kv k v content
	shift 2
	content=$(cat "$in"; printf x)
	content=${content%x}
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		content=${content//@"$k"@/$v}
	done
	printf '%s' "$content" >"$out"
}

# ---------------------------------------------------------------------------------------------
# OCI layouts with gzip-compressed layers (tar, then gzip -n: reproducible bytes). skopeo copies
# compressed layers as they are, so its manifest and a push of the same layout have the same
# digest.

# _oci_gz_blob LAYOUT FILE: store FILE as a blob of LAYOUT; prints "sha256:HEX SIZE".
_oci_gz_blob() {
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mkdir -p "$1/blobs/sha256"
	cp "$2" "$1/blobs/sha256/$d"
	printf 'sha256:%s %s\n' "$d" "$s"
}

# make_oci_gzip_image LAYOUT ARCH TEXT: a linux/ARCH image of two gzip layers (two files each,
# their contents made from TEXT) and its config, stored as blobs of LAYOUT (no index.json
# written); prints the manifest's "sha256:HEX SIZE".
make_oci_gzip_image() {
	local layout="$1" arch="$2" text="$3" work i l ls dfd c cs layers="" diffs=""
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/ocigz-work.XXXXXX")
	for i in 1 2; do
		mkdir -p "$work/root$i/etc"
		printf '%s, layer %s\n' "$text" "$i" >"$work/root$i/hello-$i.txt"
		printf 'config %s of %s\n' "$i" "$arch" >"$work/root$i/etc/app-$i.conf"
		head -c 3000 /dev/zero | tr '\0' "$i" >"$work/root$i/padding-$i"
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root$i" \
			-cf "$work/layer$i.tar" "hello-$i.txt" etc "padding-$i" || return 1
		dfd=$(sha256sum "$work/layer$i.tar" | cut -d' ' -f1)
		gzip -n -9 -c "$work/layer$i.tar" >"$work/layer$i.tar.gz" || return 1
		read -r l ls < <(_oci_gz_blob "$layout" "$work/layer$i.tar.gz")
		layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$l\",\"size\":$ls}"
		diffs="$diffs${diffs:+,}\"sha256:$dfd\""
	done
	printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$arch" "$diffs" >"$work/config.json"
	read -r c cs < <(_oci_gz_blob "$layout" "$work/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$c" "$cs" "$layers" >"$work/manifest.json"
	_oci_gz_blob "$layout" "$work/manifest.json"
	rm -rf "$work"
}

# make_oci_gzip_layout DIR [TAG [TEXT]]: an OCI layout at DIR holding one linux/amd64 image of
# two gzip layers (make_oci_gzip_image), named TAG (default latest) in index.json; prints the
# manifest digest.
make_oci_gzip_layout() {
	local dir="$1" tag="${2:-latest}" text="${3:-gzip image at $1}" m ms
	mkdir -p "$dir"
	read -r m ms < <(make_oci_gzip_image "$dir" amd64 "$text")
	[ -n "$m" ] || fail "make_oci_gzip_layout: no manifest" || return 1
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$m" "$ms" "$tag" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	printf '%s\n' "$m"
}

# make_oci_gzip_index DIR [TAG [TEXT]]: an OCI layout at DIR whose TAG (default latest) is an
# image index of two platforms, linux/amd64 and linux/arm64/v8, each a make_oci_gzip_image;
# prints three lines: the index digest, the amd64 manifest digest, the arm64 manifest digest.
make_oci_gzip_index() {
	local dir="$1" tag="${2:-latest}" text="${3:-gzip index at $1}" a as b bs i is work
	mkdir -p "$dir"
	read -r a as < <(make_oci_gzip_image "$dir" amd64 "amd64: $text")
	read -r b bs < <(make_oci_gzip_image "$dir" arm64 "arm64: $text")
	[ -n "$a" ] && [ -n "$b" ] || fail "make_oci_gzip_index: no manifests" || return 1
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/ocigz-index.XXXXXX")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}' \
		"$a" "$as" "$b" "$bs" >"$work/index.json"
	read -r i is < <(_oci_gz_blob "$dir" "$work/index.json")
	rm -rf "$work"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$i" "$is" "$tag" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	printf '%s\n%s\n%s\n' "$i" "$a" "$b"
}
