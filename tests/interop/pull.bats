#!/usr/bin/env bats
# `imgpull` end to end on loopback: images published with `imgsign push --sign-by` to Debian's
# docker-registry (signatures staged into a directory that nginx serves as the lookaside), pulled
# into a store under the test's temp dir.
#
#   situation                                       expected
#   signed by A, policy signedBy A                  exit 0; last line sha256:<config sha256>;
#                                                   layer dirs hold the files; --json record
#   the same again                                  "0 layers fetched", same ID
#   unsigned / signed by B / policy reject          exit 1 with the reason; store unchanged
#                                                   (find listing), a new root not even created
#   unsigned, policy insecureAcceptAnything         exit 0 (the manifest is fetched anyway)
#   as nobody (no subordinate range)                default root under XDG_DATA_HOME, files
#                                                   owned by nobody
#   two layers, whiteout and modes in layer 2       0/0 char device; contents and modes as tarred
#   index (amd64 + arm64/v8)                        host's instance; --platform the arm64 one
#   --platform malformed / for a missing arch       exit 2, store untouched
#   a layer blob corrupted in registry storage      exit 3 naming the digest; no layer committed
#   not docker://, no reference                     exit 2

load ../lib/common
load ../lib/services
load ../lib/gpg
load ../lib/push
load ../lib/users

setup_file() {
	need_imgtrust
	need_cmd docker-registry
	need_cmd nginx nginx-light
	need_cmd jq
	need_cmd gpg
	need_cmd gzip
	export FT="$BATS_FILE_TMPDIR"
	it_isolate "$FT/env"
	gpg_home_init
	export IMGSIGN="$IMGTRUST_BUILD/imgsign" IMGPULL="$IMGTRUST_BUILD/imgpull"
	[ -x "$IMGSIGN" ] || fail "imgsign not built in $IMGTRUST_BUILD" || return 1
	[ -x "$IMGPULL" ] || fail "imgpull not built in $IMGTRUST_BUILD" || return 1

	export FPR_A FPR_B
	FPR_A=$(gpg_new_key 'Pull Signer A <a@pull.test>')
	FPR_B=$(gpg_new_key 'Pull Signer B <b@pull.test>')
	[[ "$FPR_A" =~ ^[0-9A-F]{40}$ && "$FPR_B" =~ ^[0-9A-F]{40}$ ]] || fail "keys: '$FPR_A' '$FPR_B'"
	gpg --batch --export "$FPR_A" >"$FT/a.gpg"

	export SIG="$FT/sigstore"
	mkdir -p "$SIG"
	chmod 755 "$FT" "$SIG"
	start_registry >/dev/null
	start_nginx "$SIG" >/dev/null
	export FILE_SERVICES_DIR="$IT_SERVICES_DIR" FILE_REGISTRY="$REGISTRY"

	export RD="$FT/registries.d" EMPTY_RD="$FT/empty.d"
	mkdir -p "$RD" "$EMPTY_RD"
	printf 'docker:\n  %s:\n    lookaside: %s\n    lookaside-staging: file://%s\n' \
		"$REGISTRY" "$LOOKASIDE_URL" "$SIG" >"$RD/pull.yaml"
	export POL_A="$FT/policy-a.json" POL_REJECT="$FT/policy-reject.json"
	printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}}}' \
		"$REGISTRY" "$FT/a.gpg" >"$POL_A"
	printf '{"default":[{"type":"reject"}]}' >"$POL_REJECT"

	export OCI="$FT/oci" IDX="$FT/idx" BAD="$FT/bad" WH="$FT/wh"
	export OCI_DIGEST IDX_AMD IDX_ARM
	OCI_DIGEST=$(make_oci_gzip_layout "$OCI" v1 "the pull test image")
	{ read -r _ && read -r IDX_AMD && read -r IDX_ARM; } < <(make_oci_gzip_index "$IDX" v1 "pull index")
	make_oci_gzip_layout "$BAD" v1 "the image whose layer gets corrupted" >/dev/null
	make_whiteout_layout "$WH" || return 1
	make_owner_layout "$FT/own" 1000 || return 1
	make_owner_layout "$FT/own-big" 70000 || return 1

	PUSH_RD="$RD" publish "oci:$OCI:v1" pull/signed:v1 --sign-by "$FPR_A" || return 1
	PUSH_RD="$RD" publish "oci:$OCI:v1" pull/other:v1 --sign-by "$FPR_B" || return 1
	publish "oci:$OCI:v1" pull/unsigned:v1 || return 1
	PUSH_RD="$RD" publish "oci:$IDX:v1" pull/index:v1 --sign-by "$FPR_A" || return 1
	PUSH_RD="$RD" publish "oci:$WH:v1" pull/whiteout:v1 --sign-by "$FPR_A" || return 1
	PUSH_RD="$RD" publish "oci:$BAD:v1" pull/corrupt:v1 --sign-by "$FPR_A" || return 1
	PUSH_RD="$RD" publish "oci:$FT/own:v1" pull/owners:v1 --sign-by "$FPR_A" || return 1
	PUSH_RD="$RD" publish "oci:$FT/own-big:v1" pull/owners-big:v1 --sign-by "$FPR_A" || return 1
}

teardown_file() {
	IT_SERVICES_DIR="${FILE_SERVICES_DIR:-}" stop_services
	kill_gpg_agents "$BATS_FILE_TMPDIR"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	S="$T/store"
	N=0
}

teardown() {
	kill_gpg_agents "$BATS_TEST_TMPDIR"
}

# ---------------------------------------------------------------------------------------------
# Helpers

# publish SRC REPO:TAG [OPTION...]: imgsign push to the file's registry, quietly.
publish() {
	local src="$1" dest="$2"
	shift 2
	"$IMGSIGN" push --registries.d "${PUSH_RD:-$EMPTY_RD}" --dest-tls-verify=false "$@" "$src" \
		"docker://$REGISTRY/$dest" >/dev/null 2>"$FT/publish.err" ||
		fail "publishing $dest failed" "$(cat "$FT/publish.err")"
}

# make_whiteout_layout DIR: an OCI layout (tag v1) of two gzip layers. Layer 1: etc/ (0750),
# etc/conf (0640), bin/run (0755), gone.txt; layer 2: .wh.gone.txt (a whiteout), new.txt (0600).
make_whiteout_layout() {
	local dir="$1" w="$FT/wh-work" i l ls d c cs layers="" diffs="" m ms
	mkdir -p "$w/r1/etc" "$w/r1/bin" "$w/r2"
	printf 'conf of layer 1\n' >"$w/r1/etc/conf"
	printf '#!/bin/sh\necho run\n' >"$w/r1/bin/run"
	printf 'will be deleted\n' >"$w/r1/gone.txt"
	chmod 0750 "$w/r1/etc"
	chmod 0640 "$w/r1/etc/conf"
	chmod 0755 "$w/r1/bin/run"
	: >"$w/r2/.wh.gone.txt"
	printf 'new in layer 2\n' >"$w/r2/new.txt"
	chmod 0600 "$w/r2/new.txt"
	for i in 1 2; do
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w/r$i" \
			-cf "$w/l$i.tar" . || return 1
		d=$(sha256sum "$w/l$i.tar" | cut -d' ' -f1)
		gzip -n -9 -c "$w/l$i.tar" >"$w/l$i.tar.gz"
		read -r l ls < <(_oci_gz_blob "$dir" "$w/l$i.tar.gz")
		layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$l\",\"size\":$ls}"
		diffs="$diffs${diffs:+,}\"sha256:$d\""
	done
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diffs" >"$w/config.json"
	read -r c cs < <(_oci_gz_blob "$dir" "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$c" "$cs" "$layers" >"$w/manifest.json"
	read -r m ms < <(_oci_gz_blob "$dir" "$w/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
		"$m" "$ms" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

# ipull ARGS...: `run --separate-stderr imgpull --registries.d $RD --tls-verify=false --root $S ARGS`.
# make_owner_layout DIR ID: an OCI layout (tag v1) of one gzip layer: root.txt (0:0), id.txt and
# dir/ (ID:ID), www.txt (33:33), a whiteout .wh.none.
make_owner_layout() {
	local dir="$1" id="$2" w="$FT/own-work-$2" l ls d c cs m ms
	mkdir -p "$w/r" "$dir/blobs/sha256"
	printf 'root\n' >"$w/r/root.txt"
	printf 'id\n' >"$w/r/id.txt"
	printf 'www\n' >"$w/r/www.txt"
	(
		cd "$w/r" || exit 1
		tar --mtime=@0 --numeric-owner --owner=0 --group=0 -cf ../l.tar root.txt
		tar --mtime=@0 --numeric-owner --owner="$id" --group="$id" -rf ../l.tar id.txt
		tar --mtime=@0 --numeric-owner --owner=33 --group=33 -rf ../l.tar www.txt
	) || return 1
	d=$(sha256sum "$w/l.tar" | cut -d' ' -f1)
	gzip -n -c "$w/l.tar" >"$w/l.tar.gz"
	read -r l ls < <(_oci_gz_blob "$dir" "$w/l.tar.gz")
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$d" >"$w/config.json"
	read -r c cs < <(_oci_gz_blob "$dir" "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
		"$c" "$cs" "$l" "$ls" >"$w/manifest.json"
	read -r m ms < <(_oci_gz_blob "$dir" "$w/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
		"$m" "$ms" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

ipull() {
	run --separate-stderr "$IMGPULL" --registries.d "$RD" --tls-verify=false --root "$S" "$@"
}

# blob LAYOUT DIGEST: the path of a blob of an OCI layout.
blob() {
	printf '%s/blobs/sha256/%s\n' "$1" "${2#sha256:}"
}

# config_of LAYOUT MANIFEST-DIGEST: the config digest.
config_of() {
	jq -r .config.digest "$(blob "$1" "$2")"
}

# chain_ids LAYOUT MANIFEST-DIGEST: the chain IDs of the image's layers, one a line.
chain_ids() {
	local cfg prev="" d
	cfg=$(blob "$1" "$(config_of "$1" "$2")")
	for d in $(jq -r '.rootfs.diff_ids[]' "$cfg"); do
		if [ -z "$prev" ]; then
			prev=$d
		else
			prev="sha256:$(printf '%s %s' "$prev" "$d" | sha256sum | cut -d' ' -f1)"
		fi
		printf '%s\n' "$prev"
	done
}

# store_listing: every path under $S with type, mode, size and mtime.
store_listing() {
	find "$S" -printf '%P %y %m %s %T@\n' | LC_ALL=C sort
}

# diff_dir CHAIN-ID
diff_dir() {
	printf '%s/layers/%s/diff\n' "$S" "${1#sha256:}"
}

# ---------------------------------------------------------------------------------------------

@test "signed image under a signedBy policy: pulled, ID = config digest, layer files in the store" {
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/signed:v1"
	assert_status 0
	cfg=$(config_of "$OCI" "$OCI_DIGEST")
	assert_eq "${lines[-1]}" "sha256:$(sha256sum "$(blob "$OCI" "$cfg")" | cut -d' ' -f1)" "image ID"
	assert_eq "$cfg" "${lines[-1]}" "ID is the config digest"
	assert_eq "$stderr" "imgpull: $REGISTRY/pull/signed:v1: 2 layers fetched ($(($(jq '[.layers[].size]|add' "$(blob "$OCI" "$OCI_DIGEST")"))) bytes), 0 already present" summary
	mapfile -t chain < <(chain_ids "$OCI" "$OCI_DIGEST")
	assert_eq "${#chain[@]}" 2 layers
	assert_eq "$(cat "$(diff_dir "${chain[0]}")/hello-1.txt")" "the pull test image, layer 1" "layer 1 file"
	assert_eq "$(cat "$(diff_dir "${chain[1]}")/hello-2.txt")" "the pull test image, layer 2" "layer 2 file"
	assert_eq "$(cat "$(diff_dir "${chain[1]}")/etc/app-2.conf")" "config 2 of amd64" "layer 2 conf"
	assert_eq "$(head -c 3000 /dev/zero | tr '\0' 1 | cmp - "$(diff_dir "${chain[0]}")/padding-1" && echo same)" same padding
	[ ! -e "$(diff_dir "${chain[1]}")/hello-1.txt" ] || fail "layer 2 holds layer 1's file"
	assert_eq "$(jq -r '."chain-id"' "$S/layers/${chain[1]#sha256:}/layer.json")" "${chain[1]}" "layer.json chain-id"
	assert_eq "$(jq -r '.parent' "$S/layers/${chain[1]#sha256:}/layer.json")" "${chain[0]}" "layer.json parent"
	rec="$S/images/${cfg#sha256:}"
	assert_eq "$(jq -c . "$rec/image.json" | jq -c '[.digest,.names,.layers]')" \
		"$(jq -nc --arg d "$OCI_DIGEST" --arg n "$REGISTRY/pull/signed:v1" --arg a "${chain[0]}" --arg b "${chain[1]}" '[$d,[$n],[$a,$b]]')" \
		"image record"
	cmp "$rec/manifest" "$(blob "$OCI" "$OCI_DIGEST")" || fail "stored manifest differs"
	cmp "$rec/config" "$(blob "$OCI" "$cfg")" || fail "stored config differs"

	# Again: nothing fetched, same ID; the --json form.
	ipull --policy "$POL_A" --json "docker://$REGISTRY/pull/signed:v1"
	assert_status 0
	assert_eq "$stderr" "imgpull: $REGISTRY/pull/signed:v1: 0 layers fetched (0 bytes), 2 already present" "second summary"
	assert_eq "$(jq -c . <<<"$output")" \
		"$(jq -nc --arg i "$cfg" --arg d "$OCI_DIGEST" --arg n "$REGISTRY/pull/signed:v1" --arg a "${chain[0]}" --arg b "${chain[1]}" '{id:$i,digest:$d,name:$n,layers:[$a,$b]}')" \
		"--json object"
}

@test "unsigned image, image signed by another key, policy reject: exit 1 with the reason, store unchanged" {
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/signed:v1"
	assert_status 0
	before=$(store_listing)
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/unsigned:v1"
	assert_status 1
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/pull/unsigned:v1: rejected: requirement 1 (signedBy, transports.docker[\"$REGISTRY\"][0]): a signature was required, but no signature exists" reason
	assert_eq "$output" "" stdout
	assert_eq "$(store_listing)" "$before" "store listing after the unsigned pull"

	ipull --policy "$POL_A" "docker://$REGISTRY/pull/other:v1"
	assert_status 1
	assert_contains "$stderr" "imgpull: docker://$REGISTRY/pull/other:v1: rejected: " reason
	assert_contains "$stderr" "rejected: requirement 1 (signedBy, transports.docker[\"$REGISTRY\"][0]): no signature from a trusted key" reason
	assert_contains "$stderr" "signature-1: no public key for key ID ${FPR_B: -16} (not a trusted key)" "why the signature did not count"
	assert_eq "$(store_listing)" "$before" "store listing after the other key's pull"

	# The reason is imgverify's, word for word.
	run --separate-stderr "$IMGTRUST_BUILD/imgverify" --policy "$POL_A" --registries.d "$RD" \
		--tls-verify=false "docker://$REGISTRY/pull/other:v1"
	assert_status 1
	want=${stderr#imgverify: }
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/other:v1"
	assert_status 1
	assert_eq "$stderr" "imgpull: $want" "imgpull's reason vs imgverify's"

	S="$T/fresh"
	ipull --policy "$POL_REJECT" "docker://$REGISTRY/pull/signed:v1"
	assert_status 1
	assert_contains "$stderr" "rejected: " reason
	[ ! -e "$S" ] || fail "a rejected pull created the store"
}

@test "insecureAcceptAnything: an unsigned image is pulled (manifest fetched without signatures), --jobs 1" {
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$T/open.json"
	ipull --policy "$T/open.json" --jobs 1 --json "docker://$REGISTRY/pull/unsigned:v1"
	assert_status 0
	assert_eq "$(jq -r .digest <<<"$output")" "$OCI_DIGEST" digest
	assert_eq "$(jq -r .id <<<"$output")" "$(config_of "$OCI" "$OCI_DIGEST")" id
	assert_eq "$(jq -r .name <<<"$output")" "$REGISTRY/pull/unsigned:v1" name
	assert_eq "$(jq -r '.layers|join(" ")' <<<"$output")" "$(chain_ids "$OCI" "$OCI_DIGEST" | paste -sd' ')" layers
}

@test "as a user without a subordinate range (nobody): default root under XDG_DATA_HOME, files owned by the caller" {
	[ "$(id -u)" -eq 0 ] || skip "switching to nobody needs root"
	need_cmd setpriv util-linux
	# nobody must reach the policy, its keyring and registries.d below the bats temp dirs.
	d=$FT
	while [ "$d" != / ]; do
		[ "$(stat -c %a "$d" | cut -c3)" -ge 5 ] || chmod o+rx "$d"
		d=$(dirname "$d")
	done
	u="$T/nobody"
	mkdir -p "$u"
	chown 65534:65534 "$u"
	chmod o+rx "$T"
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME="$u" XDG_DATA_HOME="$u/data" XDG_RUNTIME_DIR="$u/run" TMPDIR="$u" \
		"$IMGPULL" --registries.d "$RD" --tls-verify=false --policy "$POL_A" \
		"docker://$REGISTRY/pull/signed:v1"
	assert_status 0
	assert_eq "${lines[-1]}" "$(config_of "$OCI" "$OCI_DIGEST")" "image ID"
	assert_contains "$stderr" "imgpull: warning: no subordinate uid/gid range for nobody in /etc/subuid and /etc/subgid: every file is stored as owned by nobody" warning
	S="$u/data/imgtrust/storage"
	l1=$(diff_dir "$(chain_ids "$OCI" "$OCI_DIGEST" | head -1)")
	assert_eq "$(cat "$l1/hello-1.txt")" "the pull test image, layer 1" "layer 1 file"
	assert_eq "$(stat -c '%u:%g %a' "$l1/hello-1.txt" "$l1/etc")" "$(printf '65534:65534 644\n65534:65534 755')" "owners and modes"

	# Whiteouts are 0/0 character devices, which Linux >= 5.8 lets anyone mknod; older kernels
	# refuse, and then nothing may be committed.
	before=$(store_listing)
	run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME="$u" XDG_DATA_HOME="$u/data" XDG_RUNTIME_DIR="$u/run" TMPDIR="$u" \
		"$IMGPULL" --registries.d "$RD" --tls-verify=false --policy "$POL_A" \
		"docker://$REGISTRY/pull/whiteout:v1"
	IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
	if [ "$kmaj" -gt 5 ] || { [ "$kmaj" -eq 5 ] && [ "$kmin" -ge 8 ]; }; then
		assert_status 0
		m=$(jq -r '.manifests[0].digest' "$WH/index.json")
		l2=$(diff_dir "$(chain_ids "$WH" "$m" | tail -1)")
		assert_eq "$(stat -c '%F %t:%T %u:%g' "$l2/gone.txt")" "character special file 0:0 65534:65534" whiteout
	else
		assert_status 2
		assert_eq "$(store_listing)" "$before" "store after the refused whiteout layer"
	fi
}

@test "two layers: whiteout in layer 2 is a 0/0 character device; contents and modes as tarred" {
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/whiteout:v1"
	assert_status 0
	m=$(jq -r '.manifests[0].digest' "$WH/index.json")
	mapfile -t chain < <(chain_ids "$WH" "$m")
	l1=$(diff_dir "${chain[0]}") l2=$(diff_dir "${chain[1]}")
	assert_eq "$(cat "$l1/etc/conf")" "conf of layer 1" "etc/conf"
	assert_eq "$(stat -c '%a %u:%g' "$l1/etc" "$l1/etc/conf" "$l1/bin/run" "$l1/gone.txt")" \
		"$(printf '750 0:0\n640 0:0\n755 0:0\n644 0:0')" "layer 1 modes"
	assert_eq "$(stat -c '%F %t:%T %u:%g' "$l2/gone.txt")" "character special file 0:0 0:0" whiteout
	[ ! -e "$l2/.wh.gone.txt" ] || fail "the whiteout marker file was unpacked as is"
	assert_eq "$(cat "$l2/new.txt")" "new in layer 2" new.txt
	assert_eq "$(stat -c %a "$l2/new.txt")" 600 "new.txt mode"
	assert_eq "${lines[-1]}" "$(config_of "$WH" "$m")" "image ID"
}

@test "index: the host's instance by default, --platform linux/arm64/v8 the arm64 one" {
	ipull --policy "$POL_A" --json "docker://$REGISTRY/pull/index:v1"
	assert_status 0
	assert_eq "$(jq -r .digest <<<"$output")" "$IDX_AMD" "amd64 instance"
	assert_eq "$(jq -r .id <<<"$output")" "$(config_of "$IDX" "$IDX_AMD")" "amd64 config"
	assert_eq "$(cat "$(diff_dir "$(chain_ids "$IDX" "$IDX_AMD" | head -1)")/hello-1.txt")" \
		"amd64: pull index, layer 1" "amd64 file"

	ipull --policy "$POL_A" --json --platform linux/arm64/v8 "docker://$REGISTRY/pull/index:v1"
	assert_status 0
	assert_eq "$(jq -r .digest <<<"$output")" "$IDX_ARM" "arm64 instance"
	assert_eq "$(jq -r .id <<<"$output")" "$(config_of "$IDX" "$IDX_ARM")" "arm64 config"
	assert_eq "$(cat "$(diff_dir "$(chain_ids "$IDX" "$IDX_ARM" | head -1)")/hello-1.txt")" \
		"arm64: pull index, layer 1" "arm64 file"
	assert_eq "$(ls "$S/images" | wc -l)" 2 "image records"
}

@test "--platform: malformed is a usage error; an architecture the index lacks exits 2, store untouched" {
	for bad in linux linux/ /amd64 linux/amd64/v8/x LINUX/amd64; do
		ipull --policy "$POL_A" --platform "$bad" "docker://$REGISTRY/pull/index:v1"
		assert_status 2
		assert_eq "$stderr" "imgpull: --platform $bad: $([ "$bad" = linux ] || [ "$bad" = linux/amd64/v8/x ] && echo 'expected OS/ARCH[/VARIANT]' || echo "component $([ "$bad" = /amd64 ] || [ "$bad" = LINUX/amd64 ] && echo 1 || echo 2) is empty or not [a-z0-9_.-]")" "message for $bad"
	done
	ipull --policy "$POL_A" --platform linux/s390x "docker://$REGISTRY/pull/index:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/pull/index:v1: no image found in image index for architecture \"s390x\", variant \"\", OS \"linux\"" reason
	[ ! -e "$S" ] || fail "store created"
}

@test "a layer blob corrupted in the registry's storage: exit 3 naming the digest, no layer committed" {
	m=$(jq -r '.manifests[0].digest' "$BAD/index.json")
	l2=$(jq -r '.layers[1].digest' "$(blob "$BAD" "$m")")
	f=$(find "$FILE_SERVICES_DIR" -path "*/blobs/sha256/${l2:7:2}/${l2#sha256:}/data")
	[ -f "$f" ] || fail "no registry blob file for $l2"
	size=$(stat -c %s "$f")
	head -c "$size" /dev/urandom >"$f"
	ipull --policy "$POL_A" --jobs 2 "docker://$REGISTRY/pull/corrupt:v1"
	assert_status 3
	assert_eq "${#stderr_lines[@]}" 1 "stderr lines"
	assert_eq "$stderr" "imgpull: docker://$REGISTRY/pull/corrupt:v1: layer $l2: GET http://$REGISTRY/v2/pull/corrupt/blobs/$l2: blob content hashes to sha256:$(sha256sum "$f" | cut -d' ' -f1), not the requested $l2" reason
	assert_eq "$(ls -A "$S/layers")" "" "committed layers"
	assert_eq "$(ls -A "$S/images")" "" "image records"
	assert_eq "$(ls -A "$S/tmp")" "" "leftover tmp entries"
	assert_eq "$output" "" stdout
}

@test "usage: no reference, not docker://, bad --jobs" {
	ipull
	assert_status 2
	assert_eq "$stderr" "imgpull: exactly one docker://REF is required (see 'imgpull --help')" usage
	ipull --policy "$POL_A" "oci:$OCI:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: oci:$OCI:v1: only docker:// references can be pulled" transport
	ipull --jobs 0 "docker://$REGISTRY/pull/signed:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: --jobs takes a number from 1 to 64 (see 'imgpull --help')" jobs
	ipull --max-layer-entries 0 "docker://$REGISTRY/pull/signed:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: --max-layer-entries takes a positive number (see 'imgpull --help')" entries
	ipull --max-layer-ratio x "docker://$REGISTRY/pull/signed:v1"
	assert_status 2
	assert_eq "$stderr" "imgpull: --max-layer-ratio takes a number (0: no check) (see 'imgpull --help')" ratio
	run "$IMGPULL" --help
	assert_status 0
	assert_contains "$output" "unpacked in a user" help
	assert_contains "$output" "--max-layer-entries N" help
	[ ! -e "$S" ] || fail "store created"
}

@test "as a user with a subordinate range: unpacked in a user namespace, owners mapped as podman maps them" {
	test_user_setup
	u="$T/tu"
	test_user_dir "$u"
	for f in "$FT" "$RD" "$FT/a.gpg" "$POL_A"; do chmod o+rX "$f"; done
	run --separate-stderr as_test_user "$u" "$IMGPULL" --registries.d "$RD" --tls-verify=false \
		--policy "$POL_A" "docker://$REGISTRY/pull/owners:v1"
	assert_status 0
	assert_not_contains "$stderr" "warning" stderr
	start=${TU_RANGE%%:*}
	S="$u/data/imgtrust/storage"
	l=$(diff_dir "$(chain_ids "$FT/own" "$(jq -r '.manifests[0].digest' "$FT/own/index.json")")")
	# container 0 -> the user; container N >= 1 -> START + N - 1.
	assert_eq "$(stat -c '%n %u:%g' "$l/root.txt" "$l/id.txt" "$l/www.txt" | sed "s|$l/||")" \
		"$(printf 'root.txt %s:%s\nid.txt %s:%s\nwww.txt %s:%s' "$TU_UID" "$TU_GID" \
			$((start + 999)) $((start + 999)) $((start + 32)) $((start + 32)))" owners
	# No helper left behind (other suites may run as the same user: match this pull).
	run pgrep -u "$TU_UID" -f "$REGISTRY/pull/owners:v1"
	assert_status 1

	# An ID beyond the range: refused at its entry, with the line that fixes it; nothing kept.
	before=$(store_listing | grep -v '^tmp ')
	run --separate-stderr as_test_user "$u" "$IMGPULL" --registries.d "$RD" --tls-verify=false \
		--policy "$POL_A" "docker://$REGISTRY/pull/owners-big:v1"
	assert_status 2
	cnt=${TU_RANGE##*:}
	assert_contains "$stderr" "layer entry \"id.txt\": needs uid 70000 but the user namespace maps uids 0-$cnt ($((cnt + 1)) IDs): in /etc/subuid, change \"$TU_NAME:$start:$cnt\" to \"$TU_NAME:$start:70000\"" range
	# tmp/ itself changes mtime (the entry came and went); everything else is as it was.
	assert_eq "$(store_listing | grep -v '^tmp ')" "$before" "store after the refused layer"
	assert_eq "$(ls -A "$S/tmp")" "" "tmp entries"
}

@test "--progress: one line per layer with its digest prefix, size and state; -q: nothing but the ID" {
	ipull --policy "$POL_A" --progress "docker://$REGISTRY/pull/whiteout:v1"
	assert_status 0
	m=$(jq -r '.manifests[0].digest' "$WH/index.json")
	for l in $(jq -r '.layers[].digest' "$(blob "$WH" "$m")"); do
		h=${l#sha256:}
		n=$(grep -c "^blob ${h:0:19} .* done$" <<<"$stderr" || true)
		assert_eq "$n" 1 "progress line of $l"
	done
	[[ "$(tail -1 <<<"$stderr")" =~ ^imgpull:\ $REGISTRY/pull/whiteout:v1:\ 2\ layers\ fetched\ \([0-9]+\ bytes\),\ 0\ already\ present$ ]] ||
		fail "summary line: $stderr"
	ipull --policy "$POL_A" --progress "docker://$REGISTRY/pull/whiteout:v1"
	assert_status 0
	assert_eq "$(grep -c 'already there' <<<"$stderr")" 2 "already-there lines"
	ipull --policy "$POL_A" -q "docker://$REGISTRY/pull/whiteout:v1"
	assert_status 0
	assert_eq "$stderr" "" "stderr with -q"
	assert_eq "$output" "$(config_of "$WH" "$m")" "stdout with -q"
}

@test "every pulled layer keeps a tar-split record (what fsck re-hashes), none in tmp/ afterwards" {
	ipull --policy "$POL_A" "docker://$REGISTRY/pull/whiteout:v1"
	assert_status 0
	m=$(jq -r '.manifests[0].digest' "$WH/index.json")
	for c in $(chain_ids "$WH" "$m"); do
		f="$S/layers/${c#sha256:}/tar-split"
		[ -s "$f" ] || fail "no tar-split for $c"
		assert_eq "$(head -c 8 <(gzip -dc "$f"))" "ITSPLIT1" "tar-split magic of $c"
	done
	assert_eq "$(ls -A "$S/tmp")" "" "tmp entries"
}
