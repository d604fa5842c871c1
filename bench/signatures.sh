#!/usr/bin/env bash
# imgverify against skopeo 1.9.3 on the same signatures, made by imgsign in an untimed setup:
#   1. one verification: `imgverify standalone` vs `skopeo standalone-verify` (start-up, the
#      gpgme engine, gpg processes), with the processes each one spawns counted by strace;
#   2. 100 verifications of 100 different signed manifests, one process per verification;
#   3. 20 references in one imgverify process (policy mode, a private registry on 127.0.0.1 and
#      a file:// lookaside) vs 20 `skopeo copy` with the same policy; skopeo has no verify-only
#      mode, so the same copies with --insecure-policy are measured too (copy-only cost).
# Everything lives in a scratch directory; HOME, XDG_* and GNUPGHOME point there. The registry
# is stopped at exit.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init signatures
bench_imgtrust_bin
IV=$(bench_program_bin imgverify) || exit 1
IS=$(bench_program_bin imgsign) || exit 1
for t in skopeo gpg gpgconf jq sha256sum docker-registry curl python3; do
	command -v "$t" >/dev/null || bench_die "$t is not installed"
done
if ! command -v strace >/dev/null; then
	if [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null; then
		bench_progress "installing strace"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null 2>&1 || true
	fi
	command -v strace >/dev/null || bench_die "strace is not installed (apt-get install -y strace)"
fi

# How many images each part uses, and the timed runs of the long commands (each is many
# processes; the checked first run bench_measure makes before timing serves as their warm-up).
: "${BENCH_SIG_LOOP:=100}" "${BENCH_SIG_REFS:=20}"
: "${BENCH_SIG_LOOP_RUNS:=2}" "${BENCH_SIG_REFS_RUNS:=2}"
_bench_posint BENCH_SIG_LOOP "$BENCH_SIG_LOOP" 1
_bench_posint BENCH_SIG_REFS "$BENCH_SIG_REFS" 1
_bench_posint BENCH_SIG_LOOP_RUNS "$BENCH_SIG_LOOP_RUNS" 2
_bench_posint BENCH_SIG_REFS_RUNS "$BENCH_SIG_REFS_RUNS" 2
NLOOP=$BENCH_SIG_LOOP
NREFS=$BENCH_SIG_REFS

W="$BENCH_WORK"
RAW="$BENCH_DIR/raw"
mkdir -p "$W/home" "$W/gnupg" "$W/xdg-config" "$W/xdg-data" "$W/xdg-cache" "$W/xdg-run" \
	"$W/loop" "$W/registries.d" "$W/sigstore" "$W/copies" "$W/strace"
chmod 700 "$W/gnupg" "$W/xdg-run"
export HOME="$W/home" GNUPGHOME="$W/gnupg" XDG_CONFIG_HOME="$W/xdg-config"
export XDG_DATA_HOME="$W/xdg-data" XDG_CACHE_HOME="$W/xdg-cache" XDG_RUNTIME_DIR="$W/xdg-run"
export LC_ALL=C.UTF-8 TZ=UTC
# Credentials are looked up under XDG_RUNTIME_DIR and HOME, both empty here. REGISTRY_AUTH_FILE
# must stay unset: docker-registry reads REGISTRY_* variables as configuration overrides.
unset REGISTRY_AUTH_FILE
unset CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_STORAGE_CONF CONTAINERS_POLICY_JSON
unset REGISTRIES_CONFIG_PATH IMGTRUST_POLICY IMGTRUST_REGISTRIES_D DOCKER_CONFIG

# The registry helpers are shared with the bats suites.
export IT_SERVICES_DIR="$W/services" BATS_TEST_TMPDIR="$W"
mkdir -p "$IT_SERVICES_DIR"
bats_require_minimum_version() { :; }
# shellcheck source=tests/lib/common.bash
source "$BENCH_SRC/tests/lib/common.bash"
# shellcheck source=tests/lib/services.bash
source "$BENCH_SRC/tests/lib/services.bash"
bench_cleanup() {
	stop_services >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------------------- key
# One ed25519 key in GNUPGHOME (skopeo standalone-verify reads only the keyring), also exported
# for the policy's keyPath.
bench_progress "making a key, $NLOOP signed manifests and $NREFS signed images in $W"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench Signer <signer@bench.test>' ed25519 \
	sign never >/dev/null 2>&1 || bench_die "gpg could not make a key"
FPR=$(gpg --with-colons --list-keys signer@bench.test 2>/dev/null | awk -F: '/^fpr/ { print $10; exit }')
[[ "$FPR" =~ ^[0-9A-F]{40}$ ]] || bench_die "no fingerprint for the bench key: '$FPR'"
gpg --batch --export "$FPR" >"$W/signer.gpg"
[ -s "$W/signer.gpg" ] || bench_die "key export failed"
# Trust-db checks happen once here, not inside the first measured run.
gpg --batch --check-trustdb >/dev/null 2>&1 || true

# ------------------------------------------------------------ NLOOP manifests, each signed once
# Small OCI manifests that differ in their config digest; each signed for its own reference.
# $W/loop/list: "MANIFEST REFERENCE SIGNATURE" a line; $W/loop/expected: what a verifier prints.
: >"$W/loop/list"
: >"$W/loop/expected"
for ((i = 1; i <= NLOOP; i++)); do
	m="$W/loop/m$i.json"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":%d}]}' \
		"$i" "$((100 + i))" "$((1000 + i))" "$((2000 + i))" >"$m"
	ref="registry.bench.test/loop/app$i:1.0"
	"$IS" standalone -o "$W/loop/s$i" "$m" "$ref" "$FPR" >"$W/loop/sign.log" 2>&1 ||
		bench_die "imgsign standalone failed for $m: $(cat "$W/loop/sign.log")"
	printf '%s %s %s\n' "$m" "$ref" "$W/loop/s$i" >>"$W/loop/list"
	printf 'Signature verified, digest sha256:%s\n' "$(sha256sum <"$m" | cut -d' ' -f1)" >>"$W/loop/expected"
done
M1="$W/loop/m1.json"
REF1="registry.bench.test/loop/app1:1.0"
S1="$W/loop/s1"
head -n 1 "$W/loop/expected" >"$W/loop/expected1"

# One verifier per manifest, in a shell loop (one timed command); stops at the first failure.
cat >"$W/loop/verify-ours.sh" <<EOF
set -e
while read -r m r s; do '$IV' standalone "\$m" "\$r" '$FPR' "\$s"; done <'$W/loop/list'
EOF
cat >"$W/loop/verify-skopeo.sh" <<EOF
set -e
while read -r m r s; do skopeo standalone-verify "\$m" "\$r" '$FPR' "\$s"; done <'$W/loop/list'
EOF

# ------------------------------------------------------- NREFS images in a registry, signed
# shellcheck disable=SC2119 # no arguments: no htpasswd
start_registry >/dev/null # not in $(...): it exports REGISTRY
R="$REGISTRY"
cat >"$W/registries.d/bench.yaml" <<EOF
docker:
  $R:
    lookaside: file://$W/sigstore
    lookaside-staging: file://$W/sigstore
EOF
REGD="$W/registries.d"
POLICY="$W/policy.json"
cat >"$POLICY" <<EOF
{
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "$R/bench": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$W/signer.gpg"}]
        }
    }
}
EOF
REFS=()
: >"$W/refs.expected"
for ((i = 1; i <= NREFS; i++)); do
	d=$(push_test_image "bench/img$i:1.0" "image $i of the signatures bench") ||
		bench_die "could not push bench/img$i:1.0 to $R"
	"$IS" sign --sign-by "$FPR" --registries.d "$REGD" --tls-verify=false "docker://$R/bench/img$i:1.0" \
		>"$W/sign.log" 2>&1 || bench_die "imgsign sign failed for $R/bench/img$i:1.0: $(cat "$W/sign.log")"
	REFS+=("docker://$R/bench/img$i:1.0")
	printf '%s\n' "$d" >>"$W/refs.expected"
done
# An unsigned image: both sides must reject it, or the policy would not be checking anything.
push_test_image bench/unsigned:1.0 "nobody signed me" >/dev/null || bench_die "could not push bench/unsigned:1.0"
nsigs=$(find "$W/sigstore" -type f -name 'signature-*' | wc -l)
[ "$nsigs" -eq "$NREFS" ] || bench_die "expected $NREFS signatures in $W/sigstore, found $nsigs"

cat >"$W/copy-skopeo.sh" <<EOF
set -e
i=0
for r in ${REFS[*]}; do
	i=\$((i + 1))
	skopeo --policy '$POLICY' --registries.d '$REGD' copy -q --src-tls-verify=false "\$r" "dir:$W/copies/\$i"
done
EOF
cat >"$W/copy-insecure.sh" <<EOF
set -e
i=0
for r in ${REFS[*]}; do
	i=\$((i + 1))
	skopeo --insecure-policy --registries.d '$REGD' copy -q --src-tls-verify=false "\$r" "dir:$W/copies/\$i"
done
EOF

# ------------------------------------------------------------------------------- measurements
# 1. one verification
bench_measure one-ours -- "$IV" standalone "$M1" "$REF1" "$FPR" "$S1"
bench_measure one-skopeo -- skopeo standalone-verify "$M1" "$REF1" "$FPR" "$S1"
bench_measure one-ours-keyfile -- "$IV" standalone --public-key-file "$W/signer.gpg" "$M1" "$REF1" any "$S1"
for id in one-ours one-skopeo one-ours-keyfile; do
	cmp -s "$RAW/$id.out" "$W/loop/expected1" ||
		bench_die "$id did not print '$(cat "$W/loop/expected1")': $(head -c 300 "$RAW/$id.out")"
done
# The verdict must depend on the signature: a signature of another manifest is refused by both.
rc=0
"$IV" standalone "$M1" "$REF1" "$FPR" "$W/loop/s2" >"$RAW/wrong-ours.out" 2>"$RAW/wrong-ours.err" || rc=$?
if [ "$rc" -eq 0 ] || ! grep -q 'signature is for manifest digest .*, not this image' "$RAW/wrong-ours.err"; then
	bench_die "imgverify standalone did not refuse the signature of another manifest (exit $rc): $(head -c 300 "$RAW/wrong-ours.err")"
fi
rc=0
skopeo standalone-verify "$M1" "$REF1" "$FPR" "$W/loop/s2" >"$RAW/wrong-skopeo.out" 2>"$RAW/wrong-skopeo.err" || rc=$?
if [ "$rc" -eq 0 ] || ! grep -q 'Signature for docker digest .* does not match' "$RAW/wrong-skopeo.err"; then
	bench_die "skopeo standalone-verify did not refuse the signature of another manifest (exit $rc): $(head -c 300 "$RAW/wrong-skopeo.err")"
fi

# 2. NLOOP verifications, one process each
# The peak RSS of a loop is that of one verification (measured above): not measured again.
BENCH_RUNS=$BENCH_SIG_LOOP_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=0 \
	bench_measure loop-ours -- bash "$W/loop/verify-ours.sh"
BENCH_RUNS=$BENCH_SIG_LOOP_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=0 \
	bench_measure loop-skopeo -- bash "$W/loop/verify-skopeo.sh"
for id in loop-ours loop-skopeo; do
	cmp -s "$RAW/$id.out" "$W/loop/expected" ||
		bench_die "$id did not print the $NLOOP expected 'Signature verified' lines (diff $RAW/$id.out $W/loop/expected)"
done

# 3. NREFS references: one imgverify process vs NREFS skopeo copies (with and without policy)
BENCH_RUNS=$BENCH_SIG_REFS_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=1 \
	bench_measure refs-ours -- "$IV" --policy "$POLICY" --registries.d "$REGD" --tls-verify=false "${REFS[@]}"
naccepted=$(grep -c '^docker://.*: accepted$' "$RAW/refs-ours.out" || true)
[ "$naccepted" -eq "$NREFS" ] ||
	bench_die "imgverify accepted $naccepted of $NREFS references: $(head -c 400 "$RAW/refs-ours.out" "$RAW/refs-ours.err")"
while read -r d; do
	grep -q "@${d/:/=}/signature-1: signed by $FPR" "$RAW/refs-ours.out" ||
		bench_die "imgverify did not accept digest $d by $FPR: $(head -c 400 "$RAW/refs-ours.out")"
done <"$W/refs.expected"
BENCH_RUNS=$BENCH_SIG_REFS_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=1 \
	bench_measure refs-skopeo -p "rm -rf '$W/copies' && mkdir '$W/copies'" -- bash "$W/copy-skopeo.sh"
ncopied=$(find "$W/copies" -name manifest.json | wc -l)
ncopiedsigs=$(find "$W/copies" -name 'signature-*' | wc -l)
[ "$ncopied" -eq "$NREFS" ] || bench_die "skopeo copy with the policy copied $ncopied of $NREFS images"
BENCH_RUNS=$BENCH_SIG_REFS_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=1 \
	bench_measure refs-insecure -p "rm -rf '$W/copies' && mkdir '$W/copies'" -- bash "$W/copy-insecure.sh"
ncopied=$(find "$W/copies" -name manifest.json | wc -l)
[ "$ncopied" -eq "$NREFS" ] || bench_die "skopeo copy --insecure-policy copied $ncopied of $NREFS images"
# Both refuse the unsigned image with the same policy.
rc=0
"$IV" --policy "$POLICY" --registries.d "$REGD" --tls-verify=false "docker://$R/bench/unsigned:1.0" \
	>"$RAW/unsigned-ours.out" 2>"$RAW/unsigned-ours.err" || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q ': rejected: .*no signature exists' "$RAW/unsigned-ours.err"; then
	bench_die "imgverify did not reject the unsigned image (exit $rc): $(head -c 300 "$RAW/unsigned-ours.err")"
fi
rc=0
skopeo --policy "$POLICY" --registries.d "$REGD" copy -q --src-tls-verify=false \
	"docker://$R/bench/unsigned:1.0" "dir:$W/copies/unsigned" >"$RAW/unsigned-skopeo.out" 2>"$RAW/unsigned-skopeo.err" || rc=$?
if [ "$rc" -eq 0 ] || ! grep -q 'rejected: A signature was required, but no signature exists' "$RAW/unsigned-skopeo.err"; then
	bench_die "skopeo did not reject the unsigned image (exit $rc): $(head -c 300 "$RAW/unsigned-skopeo.err")"
fi

# -------------------------------------------------------------------- processes, from strace
# strace_count OUT CMD...: "N processes: a× prog, b× prog" for the programs CMD and its children
# executed (successful execve calls; one file per process with -ff).
strace_count() {
	local out="$1" dir
	shift
	dir="$W/strace/$out"
	mkdir -p "$dir"
	strace -f -ff -qq -e trace=execve -e signal=none -o "$dir/t" "$@" >/dev/null 2>&1 ||
		bench_die "under strace, $* failed"
	cat "$dir"/t.* | grep -E '^execve\(.*\) = 0$' | sed -E 's/^execve\("([^"]*)".*/\1/' |
		xargs -n 1 basename | sort | uniq -c | sort -k1,1nr -k2 >"$RAW/$out.execve"
	awk '{ n += $1; s = s (s == "" ? "" : ", ") $1 "x " $2 } END { printf "%d processes (%s)", n, s }' \
		"$RAW/$out.execve"
}
bench_progress "counting processes with strace"
pc_one_ours=$(strace_count strace-one-ours "$IV" standalone "$M1" "$REF1" "$FPR" "$S1")
pc_one_keyfile=$(strace_count strace-one-ours-keyfile "$IV" standalone --public-key-file "$W/signer.gpg" "$M1" "$REF1" any "$S1")
pc_one_skopeo=$(strace_count strace-one-skopeo skopeo standalone-verify "$M1" "$REF1" "$FPR" "$S1")
pc_refs_ours=$(strace_count strace-refs-ours "$IV" --policy "$POLICY" --registries.d "$REGD" --tls-verify=false "${REFS[@]}")
rm -rf "$W/copies/strace"
pc_copy_skopeo=$(strace_count strace-copy-skopeo skopeo --policy "$POLICY" --registries.d "$REGD" copy -q \
	--src-tls-verify=false "${REFS[0]}" "dir:$W/copies/strace")

# --------------------------------------------------------------------------------------- report
ms() { _bench_ms "$1"; }
per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.0f", t / n }'; }
lo=$(bench_result loop-ours median)
ls_=$(bench_result loop-skopeo median)
rs=$(bench_result refs-skopeo median)
ri=$(bench_result refs-insecure median)
sigcost=$((rs - ri))

bench_say "# signatures: imgverify vs skopeo standalone-verify and skopeo copy, same signatures"
bench_env "imgverify: $("$IV" --version 2>&1 | head -n1) ($IV)" "skopeo: $(skopeo --version)" \
	"gpg: $(gpg --version | head -n1); gpgme: $(dpkg-query -W -f '${Version}' libgpgme11 2>/dev/null || echo '?')" \
	"signatures: made by imgsign with one ed25519 key; $NLOOP small OCI manifests signed standalone; $NREFS one-layer images in Debian's docker-registry on $R, signed into a file:// lookaside"

bench_table "one verification: ratio = ours / skopeo (below 1: ours is faster or smaller)"
bench_row "standalone, keyring (skopeo)" one-ours one-skopeo
bench_row "standalone, key file (skopeo)" one-ours-keyfile one-skopeo
bench_note "both print 'Signature verified, digest sha256:...' for the same signature and refuse the signature of another manifest; skopeo 1.9.3 standalone-verify has no key-file option and reads GNUPGHOME, so the second row compares imgverify reading the key from a file (a temporary keyring) with skopeo reading the keyring."
bench_note "processes per verification (strace -f, successful execve, the program itself included): imgverify standalone: $pc_one_ours; imgverify --public-key-file: $pc_one_keyfile; skopeo standalone-verify: $pc_one_skopeo."
bench_note "peak RSS is the largest single process of the tree, which may be a gpg child rather than the verifier itself."

BENCH_RUNS=$BENCH_SIG_LOOP_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=0 \
	bench_table "$NLOOP verifications, one process each: ratio = ours / skopeo"
bench_row "$NLOOP x standalone (skopeo)" loop-ours loop-skopeo
bench_note "one timed command per side: a bash loop over $NLOOP different manifests and their signatures, stopping at the first failure; both printed the $NLOOP expected lines. Per verification (median): ours $(ms "$(per "$lo" "$NLOOP")"), skopeo $(ms "$(per "$ls_" "$NLOOP")") (the loop's own bash start-up is included once)."

BENCH_RUNS=$BENCH_SIG_REFS_RUNS BENCH_WARMUP=0 BENCH_RSS_RUNS=1 \
	bench_table "$NREFS references from a registry: ratio = ours / skopeo"
bench_row "$NREFS refs (skopeo copy x$NREFS)" refs-ours refs-skopeo
bench_row "$NREFS refs (copy, --insecure-policy)" refs-ours refs-insecure
bench_note "ours: one 'imgverify --policy P --registries.d D --tls-verify=false' with $NREFS docker:// references: for each it fetches the manifest from the registry, reads signature-1.. from the file:// lookaside and verifies against the policy's keyPath; all $NREFS accepted with the digests the registry serves."
bench_note "anchor: $NREFS 'skopeo copy --policy P' into dir: (a bash loop): skopeo has no verify-only mode, so it also copies each tiny image (one 1-layer image: config, layer, manifest, $ncopiedsigs signatures copied in all). The second row times the same copies with --insecure-policy (no signature work): subtract it to estimate skopeo's signature cost, $(ms "$rs") - $(ms "$ri") = $(ms "$sigcost") for $NREFS references (noisy: a difference of two medians)."
bench_note "both reject an unsigned image in the same registry with the same policy. Processes: imgverify with $NREFS references: $pc_refs_ours; one skopeo copy with the policy: $pc_copy_skopeo."
