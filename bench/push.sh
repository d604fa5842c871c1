#!/usr/bin/env bash
# `imgsign push --sign-by` against `skopeo copy --sign-by` (skopeo 1.9.3), same OCI layouts, same
# registry (Debian's docker-registry on 127.0.0.1), same key, both signing into a file://
# lookaside-staging:
#   1. a small image: one 1 MiB layer (start-up and round trips dominate);
#   2. a wide image: 8 layers of 64 MiB each (parallel uploads dominate).
# Every timed run pushes to a fresh repository (a counter in the repository name), so no blob is
# linked there yet and both sides upload everything. skopeo's blob-info cache is emptied before
# every run, so it cannot mount blobs it pushed in an earlier run: as root the cache lives in
# /var/lib/containers/cache, so skopeo runs in a private mount namespace with an empty tmpfs over
# /var/lib/containers (the host's directory is never touched; the unshare costs ~2 ms, counted
# against skopeo); otherwise XDG_DATA_HOME points into the scratch directory and is cleared.
# imgsign also reads each signature back and verifies it (skopeo does not); that is in its time.
# Layers are gzip-compressed random bytes, so skopeo has nothing to recompress and neither side
# changes the manifest.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init push
bench_imgtrust_bin
IS=$(bench_program_bin imgsign) || exit 1
for t in skopeo gpg jq sha256sum docker-registry gzip head python3; do
	command -v "$t" >/dev/null || bench_die "$t is not installed"
done
: "${BENCH_PUSH_SMALL_RUNS:=10}" "${BENCH_PUSH_WIDE_RUNS:=3}" "${BENCH_PUSH_WIDE_MIB:=64}"
: "${BENCH_PUSH_WIDE_LAYERS:=8}"
_bench_posint BENCH_PUSH_SMALL_RUNS "$BENCH_PUSH_SMALL_RUNS" 2
_bench_posint BENCH_PUSH_WIDE_RUNS "$BENCH_PUSH_WIDE_RUNS" 2
_bench_posint BENCH_PUSH_WIDE_MIB "$BENCH_PUSH_WIDE_MIB" 1
_bench_posint BENCH_PUSH_WIDE_LAYERS "$BENCH_PUSH_WIDE_LAYERS" 1

W="$BENCH_WORK"
mkdir -p "$W/home" "$W/gnupg" "$W/xdg-config" "$W/xdg-data" "$W/xdg-cache" "$W/xdg-run" \
	"$W/registries.d" "$W/sigstore" "$W/layouts"
chmod 700 "$W/gnupg" "$W/xdg-run"
export HOME="$W/home" GNUPGHOME="$W/gnupg" XDG_CONFIG_HOME="$W/xdg-config"
export XDG_DATA_HOME="$W/xdg-data" XDG_CACHE_HOME="$W/xdg-cache" XDG_RUNTIME_DIR="$W/xdg-run"
export LC_ALL=C.UTF-8 TZ=UTC
unset REGISTRY_AUTH_FILE CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_STORAGE_CONF
unset CONTAINERS_POLICY_JSON REGISTRIES_CONFIG_PATH IMGTRUST_POLICY IMGTRUST_REGISTRIES_D
unset DOCKER_CONFIG

export IT_SERVICES_DIR="$W/services" BATS_TEST_TMPDIR="$W"
mkdir -p "$IT_SERVICES_DIR"
bats_require_minimum_version() { :; }
# shellcheck source=tests/lib/common.bash
source "$BENCH_SRC/tests/lib/common.bash"
# shellcheck source=tests/lib/services.bash
source "$BENCH_SRC/tests/lib/services.bash"
bench_cleanup() {
	stop_services >/dev/null 2>&1 || true
	gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
}

bench_progress "making a key and two OCI layouts in $W"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench Signer <signer@bench.test>' ed25519 \
	sign never >/dev/null 2>&1 || bench_die "gpg could not make a key"
FPR=$(gpg --with-colons --list-keys signer@bench.test 2>/dev/null | awk -F: '/^fpr/ { print $10; exit }')
[[ "$FPR" =~ ^[0-9A-F]{40}$ ]] || bench_die "no fingerprint for the bench key: '$FPR'"
gpg --batch --check-trustdb >/dev/null 2>&1 || true

# gz_layout DIR NLAYERS MIB: an OCI layout tagged "latest" with NLAYERS gzip layers, each the
# gzip of MIB MiB of random bytes.
gz_layout() {
	local dir="$1" n="$2" mib="$3" i l ls c cs m ms layers="" diffs=""
	mkdir -p "$dir/blobs/sha256"
	for ((i = 0; i < n; i++)); do
		head -c "$((mib << 20))" /dev/urandom >"$dir/raw"
		diffs+="${diffs:+,}\"sha256:$(sha256sum <"$dir/raw" | cut -d' ' -f1)\""
		gzip -n -1 -c "$dir/raw" >"$dir/layer.gz"
		l=$(sha256sum <"$dir/layer.gz" | cut -d' ' -f1)
		ls=$(stat -c %s "$dir/layer.gz")
		mv "$dir/layer.gz" "$dir/blobs/sha256/$l"
		layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$l\",\"size\":$ls}"
	done
	rm -f "$dir/raw"
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diffs" >"$dir/config"
	c=$(sha256sum <"$dir/config" | cut -d' ' -f1)
	cs=$(stat -c %s "$dir/config")
	mv "$dir/config" "$dir/blobs/sha256/$c"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$c" "$cs" "$layers" >"$dir/manifest"
	m=$(sha256sum <"$dir/manifest" | cut -d' ' -f1)
	ms=$(stat -c %s "$dir/manifest")
	mv "$dir/manifest" "$dir/blobs/sha256/$m"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$m" "$ms" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	printf 'sha256:%s\n' "$m"
}
SMALL_DIGEST=$(gz_layout "$W/layouts/small" 1 1)
WIDE_DIGEST=$(gz_layout "$W/layouts/wide" "$BENCH_PUSH_WIDE_LAYERS" "$BENCH_PUSH_WIDE_MIB")

start_registry >/dev/null # not in $(...): it exports REGISTRY
R="$REGISTRY"
cat >"$W/registries.d/bench.yaml" <<EOF
docker:
  $R:
    lookaside: file://$W/sigstore
    lookaside-staging: file://$W/sigstore
EOF
printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/policy.json"

# A private, empty blob-info cache for every skopeo run (see the header).
mkdir -p "$W/bin"
if [ "$(id -u)" = 0 ]; then
	hide=/var/lib/containers
	[ -d "$hide" ] || hide=/var/lib
	command -v unshare >/dev/null || bench_die "unshare (util-linux) is needed as root"
	cat >"$W/bin/skopeo-fresh" <<EOF
#!/bin/bash
exec unshare -m bash -c 'mount -t tmpfs -o mode=0700 none $hide && exec skopeo "\$@"' skopeo "\$@"
EOF
else
	cat >"$W/bin/skopeo-fresh" <<EOF
#!/bin/bash
rm -rf '$W/xdg-data/containers/cache'
exec skopeo "\$@"
EOF
fi
chmod +x "$W/bin/skopeo-fresh"

# push-ours.sh / push-skopeo.sh NAME LAYOUT: one push of LAYOUT to a repository no run used.
for side in ours skopeo; do
	{
		printf '#!/bin/bash\nset -e\nn=$(cat "%s/count.%s.$1" 2>/dev/null || echo 0); n=$((n + 1))\n' "$W" "$side"
		printf 'echo $n >"%s/count.%s.$1"\n' "$W" "$side"
		if [ "$side" = ours ]; then
			printf 'exec "%s" push -q --sign-by %s --registries.d "%s/registries.d" --dest-tls-verify=false "oci:$2:latest" "docker://%s/%s-$1-$n/img:1"\n' \
				"$IS" "$FPR" "$W" "$R" "$side"
		else
			printf 'exec "%s/bin/skopeo-fresh" --policy "%s/policy.json" --registries.d "%s/registries.d" copy -q --sign-by %s --dest-tls-verify=false "oci:$2:latest" "docker://%s/%s-$1-$n/img:1"\n' \
				"$W" "$W" "$W" "$FPR" "$R" "$side"
		fi
	} >"$W/push-$side.sh"
done

# Both sides must push the same manifest (no conversion, no recompression).
check_same() {
	local name="$1" want="$2" side got
	for side in ours skopeo; do
		got=sha256:$(skopeo inspect --tls-verify=false --raw "docker://$R/$side-$name-1/img:1" | sha256sum | cut -d' ' -f1)
		[ "$got" = "$want" ] || bench_die "$side pushed $got for $name, expected $want"
	done
}

BENCH_RUNS=$BENCH_PUSH_SMALL_RUNS BENCH_RSS_RUNS=3 bench_measure small-ours -- bash "$W/push-ours.sh" small "$W/layouts/small"
BENCH_RUNS=$BENCH_PUSH_SMALL_RUNS BENCH_RSS_RUNS=3 bench_measure small-skopeo -- bash "$W/push-skopeo.sh" small "$W/layouts/small"
check_same small "$SMALL_DIGEST"
BENCH_WARMUP=0 BENCH_RUNS=$BENCH_PUSH_WIDE_RUNS BENCH_RSS_RUNS=1 bench_measure wide-ours -- bash "$W/push-ours.sh" wide "$W/layouts/wide"
BENCH_WARMUP=0 BENCH_RUNS=$BENCH_PUSH_WIDE_RUNS BENCH_RSS_RUNS=1 bench_measure wide-skopeo -- bash "$W/push-skopeo.sh" wide "$W/layouts/wide"
check_same wide "$WIDE_DIGEST"

bench_table "imgsign push vs skopeo copy (--sign-by, fresh repositories)"
bench_row "small: 1 layer of 1 MiB" small-ours small-skopeo
bench_row "wide: $BENCH_PUSH_WIDE_LAYERS layers of $BENCH_PUSH_WIDE_MIB MiB" wide-ours wide-skopeo
bench_note "timed runs: small $BENCH_PUSH_SMALL_RUNS after $BENCH_WARMUP warm-up (RSS: 3), wide $BENCH_PUSH_WIDE_RUNS without warm-up (RSS: 1); the header line above gives the defaults"
bench_note "targets: small <= 0.3, wide <= 0.8 (parallel plain uploads reach ~0.75 against this registry)"
bench_note "imgsign's time includes reading each signature back and verifying it; skopeo does not"
