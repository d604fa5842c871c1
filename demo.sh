#!/usr/bin/env bash
# The main job, end to end, on this machine: builds imgtrust, then in a scratch directory makes a
# signing key, writes a policy with `imgtrust set`, shows it, and explains decisions for images.
# Nothing outside the scratch directory (printed at the end) is changed.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
BIN=$PWD/build
W=$(mktemp -d /tmp/imgtrust-demo.XXXXXX)
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
trap 'gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true' EXIT
gpg --batch --quiet --passphrase '' --quick-gen-key 'Release Bot <release@example.test>' ed25519 sign never
gpg --export --armor release@example.test >"$W/release.asc"
mkdir -p "$W/registries.d"
cat >"$W/registries.d/local.yaml" <<YAML
docker:
  localhost:5000:
    lookaside: http://127.0.0.1:8080/sigstore
    lookaside-staging: file://$W/sigstore
YAML
P=(--policy "$W/policy.json" --registries.d "$W/registries.d")
run() { printf '\n$ %s\n' "$*"; "$@" || printf '(exit %d)\n' "$?"; }
run "$BIN/imgtrust" "${P[@]}" set -t reject default
run "$BIN/imgtrust" "${P[@]}" set -t accept docker.io/library
run "$BIN/imgtrust" "${P[@]}" set -t signedBy -f "$W/release.asc" localhost:5000/apps
run "$BIN/imgtrust" "${P[@]}" show
run "$BIN/imgtrust" "${P[@]}" check docker://busybox
run "$BIN/imgtrust" "${P[@]}" check docker://localhost:5000/apps/web:1.0
run "$BIN/imgtrust" "${P[@]}" check docker://quay.io/evil/app
run "$BIN/imgtrust" "${P[@]}" check
printf '\nscratch directory: %s\n' "$W"
