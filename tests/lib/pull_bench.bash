# shellcheck shell=bash
# Images for the pull crash tests (tests/interop/pull_crash.bats) and the pull bench
# (bench/pull.sh): OCI layouts made offline from directory trees, one gzip layer per tree.
# Needs only coreutils, tar, gzip and jq; load after common.bash (for fail).
#
#   pb_random_tree DIR MIB NFILES [TAG]  NFILES files of random bytes adding up to MIB MiB
#   pb_mixed_tree DIR MIB [TAG]          MIB MiB of mixed files: random, text, symlinks,
#                                        hardlinks, nested directories, assorted modes
#   pb_layout DIR TAG GZLEVEL TREE...    an OCI layout at DIR (index.json names TAG), one gzip
#                                        layer per TREE (base first); prints the manifest digest
#   pb_chain_ids LAYOUT MANIFEST         the layers' chain IDs, base first, one a line
#   pb_config_digest LAYOUT MANIFEST     the config digest (= the image ID)

# pb_random_tree DIR MIB NFILES [TAG]: DIR/TAG/f-N (default TAG: the dir's base name), NFILES
# files of random bytes together MIB MiB, so gzip finds nothing to compress.
pb_random_tree() {
	local dir="$1" mib="$2" n="$3" tag="${4:-$(basename "$1")}" i each
	each=$(((mib << 20) / n))
	mkdir -p "$dir/$tag"
	for ((i = 0; i < n; i++)); do
		head -c "$each" /dev/urandom >"$dir/$tag/f-$i" || return 1
	done
}

# pb_mixed_tree DIR MIB [TAG]: about MIB MiB under DIR/TAG: 40 % random binaries (incompressible)
# in bin/, 60 % base64 text in many small files under share/ (compresses to ~75 %), one
# symlink and one hardlink, directories 0755 and 0700, files 0644, 0600 and 0755.
pb_mixed_tree() {
	local dir="$1" mib="$2" tag="${3:-$(basename "$1")}" i nbin ntext t
	t="$dir/$tag"
	mkdir -p "$t/bin" "$t/share/doc" "$t/share/text" "$t/private"
	nbin=4
	for ((i = 0; i < nbin; i++)); do
		head -c "$(((mib << 20) * 4 / 10 / nbin))" /dev/urandom >"$t/bin/prog-$i" || return 1
		chmod 0755 "$t/bin/prog-$i"
	done
	# 16 KiB text files, 60 % of the size.
	ntext=$(((mib << 20) * 6 / 10 / 16384))
	# (base64 of a bounded input: a pipe cut short by head would fail under pipefail)
	head -c "$((ntext * 16384 * 3 / 4))" /dev/urandom | base64 -w 76 |
		split -b 16384 -a 4 -d - "$t/share/text/t-" || return 1
	for ((i = 0; i < 20; i++)); do
		printf 'document %s of %s\n' "$i" "$tag" >"$t/share/doc/README-$i"
	done
	chmod 0700 "$t/private"
	printf 'secret of %s\n' "$tag" >"$t/private/key"
	chmod 0600 "$t/private/key"
	ln -s ../bin/prog-0 "$t/share/prog-link"
	ln "$t/bin/prog-1" "$t/bin/prog-1-hardlink"
}

# _pb_blob LAYOUT FILE: move FILE into LAYOUT's blobs; prints "sha256:HEX SIZE".
_pb_blob() {
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mkdir -p "$1/blobs/sha256"
	mv -f "$2" "$1/blobs/sha256/$d"
	printf 'sha256:%s %s\n' "$d" "$s"
}

# pb_layout DIR TAG GZLEVEL TREE...: one layer per TREE (tar of the tree's contents, sorted,
# mtime 0 kept as is, owner 0:0, then gzip -n -GZLEVEL), a linux/amd64 config and an OCI
# manifest; index.json names it TAG. A TREE of the form @FILE is a ready tar file instead (taken
# as it is, then gzipped). Prints the manifest digest.
pb_layout() {
	local dir="$1" tag="$2" level="$3" tree l ls c cs m ms d layers="" diffs=""
	shift 3
	mkdir -p "$dir/blobs/sha256"
	for tree in "$@"; do
		if [ "${tree#@}" != "$tree" ]; then
			cp "${tree#@}" "$dir/layer.tar" || return 1
		else
			tar --sort=name --owner=0 --group=0 --numeric-owner -C "$tree" -cf "$dir/layer.tar" . ||
				return 1
		fi
		d=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
		gzip -n "-$level" -c "$dir/layer.tar" >"$dir/layer.tar.gz" || return 1
		rm -f "$dir/layer.tar"
		read -r l ls < <(_pb_blob "$dir" "$dir/layer.tar.gz")
		layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$l\",\"size\":$ls}"
		diffs+="${diffs:+,}\"sha256:$d\""
	done
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diffs" >"$dir/config.json"
	read -r c cs < <(_pb_blob "$dir" "$dir/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$c" "$cs" "$layers" >"$dir/manifest.json"
	read -r m ms < <(_pb_blob "$dir" "$dir/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$m" "$ms" "$tag" >"$dir/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	printf '%s\n' "$m"
}

# pb_config_digest LAYOUT MANIFEST-DIGEST
pb_config_digest() {
	jq -r .config.digest "$1/blobs/sha256/${2#sha256:}"
}

# pb_chain_ids LAYOUT MANIFEST-DIGEST: OCI chain IDs, base first.
pb_chain_ids() {
	local cfg prev="" d
	cfg="$1/blobs/sha256/$(pb_config_digest "$1" "$2" | cut -d: -f2)"
	for d in $(jq -r '.rootfs.diff_ids[]' "$cfg"); do
		if [ -z "$prev" ]; then
			prev=$d
		else
			prev="sha256:$(printf '%s %s' "$prev" "$d" | sha256sum | cut -d' ' -f1)"
		fi
		printf '%s\n' "$prev"
	done
}
