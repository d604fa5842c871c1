# Helpers shared by the imgsign push suites (tests/interop/push.bats, push_faults.bats). Load
# after ../lib/common; they use $IMGSIGN, $T (the test's directory), $N and $EMPTY_RD.

# human_bytes N: N as imgsign's summary writes it (progress_format_bytes).
human_bytes() {
	awk -v n="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); v = n; i = 1;
		while (v >= 1024 && i < 5) { v /= 1024; i++ }
		if (i == 1) printf "%d B", n; else printf "%.1f %s", v, u[i] }'
}

# blob_bytes MANIFEST...: total size of the distinct config and layer blobs of the manifests.
blob_bytes() {
	jq -s '[.[] | .config, .layers[]] | unique_by(.digest) | map(.size) | add' "$@"
}

# _stdout_to FILE CMD...: run CMD with its stdout in FILE (bytes kept) and on stdout.
_stdout_to() {
	local f="$1" rc=0
	shift
	"$@" >"$f" || rc=$?
	cat "$f"
	return "$rc"
}

# ipush ARGS...: `run --separate-stderr imgsign push ARGS`; its stdout, byte for byte, is in
# $OUT_FILE.
ipush() {
	N=$((N + 1))
	OUT_FILE="$T/stdout-$N"
	run --separate-stderr _stdout_to "$OUT_FILE" "$IMGSIGN" push "$@"
}

# push SRC DEST [OPTION...]: `imgsign push --registries.d ${PUSH_RD:-empty} --dest-tls-verify=false
# OPTIONS SRC docker://DEST` succeeds and its stdout is exactly one line, a digest, left in D.
push() {
	local src="$1" dest="$2" content re=$'^sha256:[0-9a-f]{64}\n$'
	shift 2
	ipush --registries.d "${PUSH_RD:-$EMPTY_RD}" --dest-tls-verify=false "$@" "$src" "docker://$dest"
	assert_status 0 || return 1
	content=$(cat "$OUT_FILE" && printf x)
	content=${content%x}
	[[ "$content" =~ $re ]] || fail "stdout is not exactly one digest line" \
		"--- stdout:" "$(od -c "$OUT_FILE" | head -20)" "--- stderr:" "$stderr" || return 1
	D=${content%$'\n'}
}
