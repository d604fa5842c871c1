#!/usr/bin/env bash
# imgtrust set / show / check against podman image trust set / show and skopeo copy, on the same
# files: a realistic policy.json (the default and 30 scopes in 5 transports; 3 signedBy
# requirements with real OpenPGP key files) and a registries.d of 4 files. Everything lives in a
# scratch directory; the host's ~/.config, ~/.gnupg and /etc/containers are not read (HOME, XDG_*
# and GNUPGHOME point there and every tool is given its files explicitly).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init trust
bench_imgtrust_bin
for t in podman skopeo gpg gpgconf jq tar sha256sum; do
	command -v "$t" >/dev/null || bench_die "$t is not installed"
done

W="$BENCH_WORK"
mkdir -p "$W/home" "$W/gnupg" "$W/xdg-config" "$W/xdg-data" "$W/xdg-cache" "$W/keys" \
	"$W/registries.d" "$W/shim" "$W/images" "$W/podman/net"
chmod 700 "$W/gnupg"
export HOME="$W/home" GNUPGHOME="$W/gnupg" XDG_CONFIG_HOME="$W/xdg-config"
export XDG_DATA_HOME="$W/xdg-data" XDG_CACHE_HOME="$W/xdg-cache" LC_ALL=C.UTF-8 TZ=UTC
unset CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_STORAGE_CONF CONTAINERS_POLICY_JSON
unset REGISTRIES_CONFIG_PATH IMGTRUST_POLICY IMGTRUST_REGISTRIES_D

# ------------------------------------------------------------------------------------- keys
# make_key NAME UID FORMAT: a real ed25519 key, exported binary (gpg) or armored (asc).
make_key() {
	local home="$W/keys/$1.gnupg"
	mkdir -p "$home"
	chmod 700 "$home"
	gpg --homedir "$home" --batch --quiet --passphrase '' --quick-gen-key "$2" ed25519 sign never \
		>/dev/null 2>&1 || bench_die "gpg could not make a key for $2"
	if [ "$3" = asc ]; then
		gpg --homedir "$home" --batch --export --armor >"$W/keys/$1.asc"
	else
		gpg --homedir "$home" --batch --export >"$W/keys/$1.gpg"
	fi
	gpgconf --homedir "$home" --kill all >/dev/null 2>&1 || true
	[ -s "$W/keys/$1.$3" ] || bench_die "key export failed for $2"
}
bench_progress "making keys, policy, registries.d and a dir: image in $W"
make_key release 'Release Signing <release@acme.test>' gpg
make_key build 'CI Builder <builder@acme.test>' asc
make_key vendor 'Vendor Images <images@vendor.test>' gpg
K="$W/keys"

# ----------------------------------------------------------------------------------- policy
POLICY="$W/policy.json"
cat >"$POLICY" <<EOF
{
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "docker.io/library/alpine": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/busybox": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/debian": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/ubuntu": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/nginx": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/postgres": [{"type": "insecureAcceptAnything"}],
            "docker.io/library/redis": [{"type": "insecureAcceptAnything"}],
            "docker.io/acme": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$K/release.gpg"}
            ],
            "docker.io/acme/legacy": [{"type": "reject"}],
            "quay.io/acme/app": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$K/build.asc",
                 "signedIdentity": {"type": "matchRepository"}}
            ],
            "quay.io/acme": [{"type": "insecureAcceptAnything"}],
            "quay.io/untrusted": [{"type": "reject"}],
            "registry.internal.example:5000/prod": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$K/vendor.gpg",
                 "signedIdentity": {"type": "remapIdentity", "prefix": "registry.internal.example:5000/prod",
                                    "signedPrefix": "registry.vendor.test/images"}}
            ],
            "registry.internal.example:5000/dev": [{"type": "insecureAcceptAnything"}],
            "registry.internal.example:5000": [{"type": "reject"}],
            "ghcr.io/acme": [{"type": "insecureAcceptAnything"}],
            "ghcr.io/actions": [{"type": "insecureAcceptAnything"}],
            "ghcr.io/fluxcd": [{"type": "insecureAcceptAnything"}],
            "gcr.io/distroless": [{"type": "insecureAcceptAnything"}],
            "registry.k8s.io": [{"type": "insecureAcceptAnything"}],
            "mcr.microsoft.com": [{"type": "reject"}],
            "public.ecr.aws/lambda": [{"type": "insecureAcceptAnything"}],
            "localhost:5000": [{"type": "insecureAcceptAnything"}],
            "*.untrusted.example": [{"type": "reject"}]
        },
        "atomic": {
            "registry.access.redhat.com/ubi9": [{"type": "insecureAcceptAnything"}],
            "registry.access.redhat.com": [{"type": "reject"}]
        },
        "docker-daemon": {
            "": [{"type": "insecureAcceptAnything"}]
        },
        "dir": {
            "/srv/images/trusted": [{"type": "insecureAcceptAnything"}],
            "/srv/images/quarantine": [{"type": "reject"}]
        },
        "oci": {
            "/srv/oci/base": [{"type": "insecureAcceptAnything"}]
        }
    }
}
EOF
nscopes=$(jq '[.transports[] | keys[]] | length + 1' "$POLICY")
ntransports=$(jq '.transports | length' "$POLICY")
nsigned=$(jq '[.. | objects | select(.type? == "signedBy")] | length' "$POLICY")

REGD="$W/registries.d"
cat >"$REGD/default.yaml" <<'EOF'
default-docker:
  lookaside: file:///var/lib/containers/sigstore
EOF
cat >"$REGD/acme.yaml" <<'EOF'
docker:
  docker.io/acme:
    lookaside: https://sigs.acme.test/docker
  quay.io/acme:
    lookaside: https://sigs.acme.test/quay
    lookaside-staging: file:///srv/sigstore-staging
EOF
cat >"$REGD/internal.yaml" <<'EOF'
docker:
  registry.internal.example:5000:
    sigstore: https://sigs.internal.example/store
  registry.internal.example:5000/prod:
    lookaside: https://sigs.internal.example/prod
EOF
cat >"$REGD/public.yaml" <<'EOF'
docker:
  ghcr.io:
    use-sigstore-attachments: true
  registry.k8s.io:
    lookaside: https://sigs.k8s.test
EOF

# ------------------------------------------------------------------------- a small dir: image
# A one-layer OCI layout written by hand (digests computed here), turned into a dir: image by
# skopeo itself so the layout is what skopeo writes.
make_dir_image() {
	local o="$W/images/oci" r="$W/images/root" l ls c cs m ms
	mkdir -p "$o/blobs/sha256" "$r"
	printf 'hello from the imgtrust bench\n' >"$r/hello.txt"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" -cf "$W/images/layer.tar" hello.txt
	l=$(sha256sum <"$W/images/layer.tar" | cut -d' ' -f1)
	ls=$(stat -c %s "$W/images/layer.tar")
	mv "$W/images/layer.tar" "$o/blobs/sha256/$l"
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$l" >"$W/images/config.json"
	c=$(sha256sum <"$W/images/config.json" | cut -d' ' -f1)
	cs=$(stat -c %s "$W/images/config.json")
	mv "$W/images/config.json" "$o/blobs/sha256/$c"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$c" "$cs" "$l" "$ls" >"$W/images/manifest.json"
	m=$(sha256sum <"$W/images/manifest.json" | cut -d' ' -f1)
	ms=$(stat -c %s "$W/images/manifest.json")
	mv "$W/images/manifest.json" "$o/blobs/sha256/$m"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$m" "$ms" >"$o/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$o/oci-layout"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/images/accept.json"
	skopeo --policy "$W/images/accept.json" --registries.d "$REGD" copy -q \
		"oci:$o:latest" "dir:$W/images/src" >/dev/null 2>"$W/images/skopeo.err" ||
		bench_die "skopeo could not make the dir: image: $(cat "$W/images/skopeo.err")"
	[ -f "$W/images/src/manifest.json" ] || bench_die "dir:$W/images/src has no manifest.json"
}
make_dir_image
SRC="$W/images/src"
DST="$W/images/dst"

# ---------------------------------------------------------------------------- the anchor tools
# podman keeps its storage, run and tmp dirs and network config in the scratch dir (vfs driver:
# `image trust` touches no image, but podman sets up its runtime on every command).
cat >"$W/podman/containers.conf" <<EOF
[network]
network_backend = "netavark"
network_config_dir = "$W/podman/net"
[engine]
events_logger = "none"
EOF
export CONTAINERS_CONF="$W/podman/containers.conf"
PODMAN=(podman --root "$W/podman/root" --runroot "$W/podman/run" --tmpdir "$W/podman/tmp"
	--storage-driver vfs)
# podman's show runs `gpg2` for the ID column; Debian 12 ships only gpg. With this shim first in
# PATH both tools read the key files (imgtrust through gpgme, podman through gpg2 -> gpg).
printf '#!/bin/sh\nexec gpg "$@"\n' >"$W/shim/gpg2"
chmod 755 "$W/shim/gpg2"
export PATH="$W/shim:$PATH"

IT="$IMGTRUST_BIN"
SCOPE=registry.internal.example:5000/staging

# ------------------------------------------------------------------------------- measurements
# 1. set: each tool edits its own copy, restored before every run.
bench_measure set-ours -p "cp '$POLICY' '$W/ours.json'" -- \
	"$IT" --policy "$W/ours.json" set -t accept "$SCOPE"
bench_measure set-podman -p "cp '$POLICY' '$W/podman.json'" -- \
	"${PODMAN[@]}" image trust set --policypath "$W/podman.json" -t accept "$SCOPE"
if diff <(jq -S . "$W/ours.json") <(jq -S . "$W/podman.json") >/dev/null; then
	set_same="the two edited files are equal as JSON"
else
	set_same="the two edited files DIFFER as JSON (see $BENCH_DIR/raw)"
	cp "$W/ours.json" "$W/podman.json" "$BENCH_DIR/raw/"
fi

# 2. show
bench_measure show-ours -- "$IT" --policy "$POLICY" --registries.d "$REGD" show
bench_measure show-podman -- "${PODMAN[@]}" image trust show --policypath "$POLICY" --registrypath "$REGD"
if cmp -s "$BENCH_DIR/raw/show-ours.out" "$BENCH_DIR/raw/show-podman.out"; then
	show_same="both printed the same table"
else
	show_same="the printed tables DIFFER (diff $BENCH_DIR/raw/show-{ours,podman}.out)"
fi
show_ids=$(grep -c '@' "$BENCH_DIR/raw/show-podman.out" || true)

# 3. check: a dir: image the policy rejects (global default), so skopeo stops at the policy.
bench_measure check-ours -s 1 -- "$IT" --policy "$POLICY" --registries.d "$REGD" check "dir:$SRC"
bench_measure check-skopeo -s 1 -p "rm -rf '$DST'" -- \
	skopeo --policy "$POLICY" --registries.d "$REGD" copy -q "dir:$SRC" "dir:$DST"
grep -q '^decision: reject' "$BENCH_DIR/raw/check-ours.out" ||
	bench_die "imgtrust check did not print 'decision: reject': $(head -3 "$BENCH_DIR/raw/check-ours.out")"
grep -q 'rejected by policy' "$BENCH_DIR/raw/check-skopeo.err" ||
	bench_die "skopeo did not fail on the policy: $(cat "$BENCH_DIR/raw/check-skopeo.err")"
copied=$(find "$DST" -type f ! -name version 2>/dev/null | wc -l)

# --------------------------------------------------------------------------------------- report
bench_say "# trust: imgtrust set/show/check vs podman image trust and skopeo copy"
bench_env "imgtrust: $("$IT" --version 2>&1 | head -n1) ($IT)" \
	"podman: $(podman --version)" "skopeo: $(skopeo --version)" "gpg: $(gpg --version | head -n1)" \
	"policy.json: $nscopes scopes (default + $((nscopes - 1)) in $ntransports transports), $nsigned signedBy with real key files; registries.d: $(find "$REGD" -type f | wc -l) files"
bench_table "trust: ratio = ours / anchor (below 1: ours is faster or smaller)"
bench_row "set -t accept (podman)" set-ours set-podman
bench_row "show (podman)" show-ours show-podman
bench_row "check dir: (skopeo copy)" check-ours check-skopeo
bench_note "set: each tool edits its own copy of policy.json, restored (untimed) before every run; $set_same. imgtrust replaces the file atomically (temporary file, fsync of file and directory, rename); podman rewrites it in place without fsync, so our side also pays for two disk flushes."
bench_note "set/show: podman sets up its runtime (a scratch vfs store, locks) on every command; that is part of what its users wait for, and is included."
bench_note "show: a gpg2 -> gpg shim is first in PATH, so podman reads the key files too ($show_ids rows with an ID); imgtrust reads their OpenPGP packets itself; $show_same."
bench_note "check: compares policy evaluation plus start-up, not copying: skopeo copy stops at 'rejected by policy' before reading the image (it only creates the destination directory, $copied files copied), while imgtrust check also prints its account of the decision."
