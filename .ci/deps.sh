#!/usr/bin/env bash
# Installs what building and testing imgtrust needs on Debian 12. Safe to run again.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libjansson-dev libyaml-dev libssl-dev libgpgme-dev zlib1g-dev libbz2-dev libcurl4-openssl-dev libarchive-dev libisal-dev libseccomp-dev
  libcmocka-dev bats jq gnupg python3 openssl curl
  skopeo podman uidmap docker-registry nginx-light apache2-utils hyperfine umoci
  attr util-linux busybox-static crun bsdutils
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
