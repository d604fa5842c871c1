# shellcheck shell=bash
# Shared helpers for the bench scripts (bench/*.sh); sourced, never run.
#
# Speed and memory are claimed only from these scripts: each one runs our program and the anchor
# tool (podman, skopeo, ...) side by side in one run, on the same files, and reports ratios
# (ours / anchor). A script does:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init trust                     # results in $BENCH_OUT/trust/
#   bench_imgtrust_bin                   # sets IMGTRUST_BIN (builds it when unset)
#   bench_measure set-ours -p "cp $base $w" -- "$IMGTRUST_BIN" --policy "$w" set ...
#   bench_measure set-podman -p "cp $base $p" -- podman image trust set --policypath "$p" ...
#   bench_table "imgtrust vs podman"
#   bench_row "set -t accept (podman)" set-ours set-podman
#   bench_note "what is and is not compared"
#
# Environment:
#   BENCH_RUNS      timed runs per command (default 20)
#   BENCH_WARMUP    untimed runs before them (default 2)
#   BENCH_RSS_RUNS  runs under /usr/bin/time for peak RSS; the median is reported (default 5)
#   BENCH_TIMER     hyperfine | loop (default: hyperfine when installed, else a bash loop)
#   BENCH_OUT       where results go (default: a new directory under ${TMPDIR:-/tmp})
#   BENCH_KEEP_WORK 1 keeps each script's scratch files ($BENCH_OUT/NAME/work)
#   IMGTRUST_BIN    the imgtrust program; when unset it is built in $IMGTRUST_BENCH_BUILD
#                   (default <repo>/build-bench, Release)

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SRC=$(cd "$BENCH_LIB_DIR/.." && pwd)

bench_die() {
	printf 'bench: %s\n' "$*" >&2
	exit 2
}

# bench_progress TEXT: one line on stderr, so a table on stdout stays clean.
bench_progress() {
	printf '[%s] %s\n' "${BENCH_NAME:-bench}" "$*" >&2
}

# bench_say TEXT...: a line of the report (stdout and $BENCH_DIR/report.txt).
bench_say() {
	printf '%s\n' "$*" | tee -a "$BENCH_REPORT"
}

_bench_posint() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "${3:-1}" ]; then
		bench_die "$1 must be an integer >= ${3:-1}, got '$2'"
	fi
}

# bench_default_out: BENCH_OUT, made when unset (run.sh calls this once so every script shares it).
bench_default_out() {
	if [ -z "${BENCH_OUT:-}" ]; then
		BENCH_OUT=$(mktemp -d "${TMPDIR:-/tmp}/imgtrust-bench.XXXXXX")
	fi
	mkdir -p "$BENCH_OUT"
	BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
	export BENCH_OUT
}

# bench_init NAME: settings, result dir $BENCH_DIR, scratch dir $BENCH_WORK (removed at exit).
bench_init() {
	BENCH_NAME="$1"
	: "${BENCH_RUNS:=20}" "${BENCH_WARMUP:=2}" "${BENCH_RSS_RUNS:=5}"
	_bench_posint BENCH_RUNS "$BENCH_RUNS" 1
	_bench_posint BENCH_WARMUP "$BENCH_WARMUP" 0
	_bench_posint BENCH_RSS_RUNS "$BENCH_RSS_RUNS" 1
	if [ -z "${BENCH_TIMER:-}" ]; then
		if command -v hyperfine >/dev/null; then BENCH_TIMER=hyperfine; else BENCH_TIMER=loop; fi
	fi
	case "$BENCH_TIMER" in
	hyperfine)
		command -v hyperfine >/dev/null || bench_die "BENCH_TIMER=hyperfine but hyperfine is not installed (apt-get install -y hyperfine)"
		command -v jq >/dev/null || bench_die "hyperfine results are read with jq (apt-get install -y jq)"
		;;
	loop) ;;
	*) bench_die "BENCH_TIMER must be hyperfine or loop, got '$BENCH_TIMER'" ;;
	esac
	[ -x /usr/bin/time ] || bench_die "peak RSS needs GNU time: apt-get install -y time"
	export BENCH_RUNS BENCH_WARMUP BENCH_RSS_RUNS BENCH_TIMER
	bench_default_out
	BENCH_DIR="$BENCH_OUT/$BENCH_NAME"
	rm -rf "$BENCH_DIR"
	mkdir -p "$BENCH_DIR/raw" "$BENCH_DIR/work"
	BENCH_WORK="$BENCH_DIR/work"
	BENCH_REPORT="$BENCH_DIR/report.txt"
	: >"$BENCH_REPORT"
	# Other work on the machine skews both sides; the report shows how busy it was.
	BENCH_LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	trap _bench_exit EXIT
}

# Scripts may define bench_cleanup (stop what they started); it runs first at exit.
_bench_exit() {
	local rc=$?
	if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
	# gpg may leave an agent per GNUPGHOME made under the scratch dir; stop exactly those.
	local h
	while IFS= read -r h; do
		gpgconf --homedir "$(dirname "$h")" --kill all >/dev/null 2>&1 || true
	done < <(find "$BENCH_WORK" \( -name pubring.kbx -o -name pubring.gpg \) 2>/dev/null)
	if [ "${BENCH_KEEP_WORK:-0}" != 1 ]; then rm -rf "$BENCH_WORK"; fi
	exit "$rc"
}

# bench_imgtrust_bin: IMGTRUST_BIN, or build imgtrust (Release) in $IMGTRUST_BENCH_BUILD.
bench_imgtrust_bin() {
	if [ -n "${IMGTRUST_BIN:-}" ]; then
		[ -x "$IMGTRUST_BIN" ] || bench_die "IMGTRUST_BIN=$IMGTRUST_BIN is not an executable"
		export IMGTRUST_BIN
		return 0
	fi
	local b="${IMGTRUST_BENCH_BUILD:-$BENCH_SRC/build-bench}" log
	log=$(mktemp "${TMPDIR:-/tmp}/imgtrust-bench-build.XXXXXX")
	bench_progress "building imgtrust (Release) in $b"
	if ! { cmake -S "$BENCH_SRC" -B "$b" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
		cmake --build "$b" -j"$(nproc)" --target imgtrust; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$log"
		bench_die "building imgtrust failed (see above)"
	fi
	rm -f "$log"
	IMGTRUST_BIN="$b/imgtrust"
	# bench_program_bin rebuilds the other programs in this directory too (see there).
	IMGTRUST_BENCH_BUILT="$b"
	export IMGTRUST_BIN IMGTRUST_BENCH_BUILT
}

# bench_program_bin NAME: prints the path of another imgtrust program (imgverify, imgsign) next
# to IMGTRUST_BIN. When bench_imgtrust_bin built IMGTRUST_BIN (here or in run.sh), NAME is built
# in the same directory first, so it is never older than the sources; a given IMGTRUST_BIN is
# taken with the programs beside it as they are. Call as X=$(bench_program_bin NAME) || exit.
bench_program_bin() {
	local name="$1" dir log
	[ -n "${IMGTRUST_BIN:-}" ] || bench_die "bench_program_bin $name: call bench_imgtrust_bin first"
	dir=$(cd "$(dirname "$IMGTRUST_BIN")" && pwd)
	if [ -n "${IMGTRUST_BENCH_BUILT:-}" ] && [ "$(cd "$IMGTRUST_BENCH_BUILT" && pwd)" = "$dir" ]; then
		log=$(mktemp "${TMPDIR:-/tmp}/imgtrust-bench-build.XXXXXX")
		bench_progress "building $name (Release) in $dir"
		if ! cmake --build "$dir" -j"$(nproc)" --target "$name" >"$log" 2>&1; then
			tail -n 30 "$log" >&2
			rm -f "$log"
			bench_die "building $name failed (see above)"
		fi
		rm -f "$log"
	fi
	[ -x "$dir/$name" ] || bench_die "no $name next to IMGTRUST_BIN=$IMGTRUST_BIN (build the $name target there)"
	printf '%s\n' "$dir/$name"
}

# _bench_quote ARGS...: one string that hyperfine -N (POSIX word splitting, no shell) turns
# back into exactly ARGS.
_bench_quote() {
	local a out=""
	for a in "$@"; do
		out+=" '${a//\'/\'\\\'\'}'"
	done
	printf '%s' "${out# }"
}

# _bench_now: nanoseconds, without forking when bash has EPOCHREALTIME.
_bench_now() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		printf '%s' "$((10#$t * 1000))"
	else
		date +%s%N
	fi
}

# _bench_stats FILE: "median min" of the integers in FILE (one a line). %.0f, not %d: mawk's %d
# stops at 2^31 - 1, i.e. 2.1 s in nanoseconds.
_bench_stats() {
	sort -n "$1" | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.0f %.0f\n", m, v[1]
		}'
}

# bench_measure ID [-p PREPARE] [-s STATUS] -- CMD ARGS...
#   Runs CMD once and checks that it exits with STATUS (default 0); its output is kept in
#   $BENCH_DIR/raw/ID.out and .err. Then times BENCH_RUNS runs (after BENCH_WARMUP) and measures
#   peak RSS over BENCH_RSS_RUNS runs. PREPARE is a bash command run before every run, untimed
#   (e.g. restore a file CMD changes). Writes $BENCH_DIR/raw/ID.result:
#   "median_ns min_ns rss_median_kb runs timer". BENCH_RSS_RUNS=0 given for one call
#   (BENCH_RSS_RUNS=0 bench_measure ...) skips the RSS runs of a long command: its rss is "-"
#   and bench_row prints n/a.
bench_measure() {
	local id="$1" prepare="" want=0 raw="$BENCH_DIR/raw"
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		-p) prepare="$2"; shift 2 ;;
		-s) want="$2"; shift 2 ;;
		--) shift; break ;;
		*) bench_die "bench_measure $id: unknown option $1" ;;
		esac
	done
	[ $# -gt 0 ] || bench_die "bench_measure $id: no command"
	_bench_quote "$@" >"$raw/$id.cmd"
	printf '\n' >>"$raw/$id.cmd"
	[ -z "$prepare" ] || printf 'prepare: %s\n' "$prepare" >>"$raw/$id.cmd"

	local rc=0
	if [ -n "$prepare" ]; then bash -c "$prepare" || bench_die "$id: prepare failed: $prepare"; fi
	"$@" >"$raw/$id.out" 2>"$raw/$id.err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		{
			printf 'bench: %s: exit status %s, expected %s: %s\n' "$id" "$rc" "$want" "$(_bench_quote "$@")"
			tail -n 10 "$raw/$id.err"
		} >&2
		exit 1
	fi

	bench_progress "$id: $BENCH_RUNS runs ($BENCH_TIMER) + $BENCH_RSS_RUNS for RSS"
	local stats
	case "$BENCH_TIMER" in
	hyperfine) stats=$(_bench_hyperfine "$id" "$prepare" "$want" "$@") || exit 1 ;;
	loop) stats=$(_bench_loop "$id" "$prepare" "$want" "$@") || exit 1 ;;
	esac

	local i kb
	: >"$raw/$id.rss"
	for ((i = 0; i < BENCH_RSS_RUNS; i++)); do
		if [ -n "$prepare" ]; then bash -c "$prepare"; fi
		/usr/bin/time -f %M -o "$raw/$id.time" "$@" >/dev/null 2>&1 || true
		# GNU time puts "Command exited with non-zero status N" before the number.
		kb=$(tail -n 1 "$raw/$id.time")
		[[ "$kb" =~ ^[0-9]+$ ]] || bench_die "$id: /usr/bin/time gave no peak RSS: $(cat "$raw/$id.time")"
		printf '%s\n' "$kb" >>"$raw/$id.rss"
	done
	local rss=-
	if [ "$BENCH_RSS_RUNS" -gt 0 ]; then
		rss=$(_bench_stats "$raw/$id.rss" | cut -d' ' -f1) || exit 1
	fi
	printf '%s %s %s %s\n' "$stats" "$rss" "$BENCH_RUNS" "$BENCH_TIMER" >"$raw/$id.result"
}

_bench_hyperfine() {
	local id="$1" prepare="$2" want="$3" raw="$BENCH_DIR/raw"
	shift 3
	local -a opts=(-N --style none --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS"
		--export-json "$raw/$id.json")
	# With -N the prepare command is not given to a shell either, so wrap it in one.
	[ -z "$prepare" ] || opts+=(--prepare "$(_bench_quote bash -c "$prepare")")
	[ "$want" -eq 0 ] || opts+=(-i)
	hyperfine "${opts[@]}" "$(_bench_quote "$@")" >"$raw/$id.hyperfine.log" 2>&1 || {
		tail -n 10 "$raw/$id.hyperfine.log" >&2
		bench_die "$id: hyperfine failed"
	}
	local codes
	codes=$(jq -r '.results[0].exit_codes | unique | map(tostring) | join(",")' "$raw/$id.json")
	[ "$codes" = "$want" ] || bench_die "$id: exit statuses during timing: $codes, expected $want"
	jq -r '.results[0].times[] | . * 1e9 | floor' "$raw/$id.json" >"$raw/$id.times"
	_bench_stats "$raw/$id.times"
}

_bench_loop() {
	local id="$1" prepare="$2" want="$3" raw="$BENCH_DIR/raw" i t0 t1 rc
	shift 3
	for ((i = 0; i < BENCH_WARMUP; i++)); do
		if [ -n "$prepare" ]; then bash -c "$prepare"; fi
		"$@" >/dev/null 2>&1 || true
	done
	: >"$raw/$id.times"
	for ((i = 0; i < BENCH_RUNS; i++)); do
		if [ -n "$prepare" ]; then bash -c "$prepare"; fi
		rc=0
		t0=$(_bench_now)
		"$@" >/dev/null 2>&1 || rc=$?
		t1=$(_bench_now)
		[ "$rc" -eq "$want" ] || bench_die "$id: run $i exited $rc, expected $want"
		printf '%s\n' "$((t1 - t0))" >>"$raw/$id.times"
	done
	_bench_stats "$raw/$id.times"
}

# bench_result ID FIELD: median | min | rss from ID's result.
bench_result() {
	local f="$BENCH_DIR/raw/$1.result"
	[ -f "$f" ] || bench_die "no result for $1"
	case "$2" in
	median) cut -d' ' -f1 "$f" ;;
	min) cut -d' ' -f2 "$f" ;;
	rss) cut -d' ' -f3 "$f" ;;
	*) bench_die "bench_result: unknown field $2" ;;
	esac
}

_bench_ms() { awk -v n="$1" 'BEGIN { v = n / 1e6; printf (v < 10 ? "%.2f ms" : "%.1f ms"), v }'; }
_bench_mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "n/a"; else printf "%.1f MiB", k / 1024 }'; }
_bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "n/a"; else printf "%.3g\n", a / b }'
}

_bench_line() {
	bench_say "$(printf '%-46s | %11s | %11s | %7s' "$1" "$2" "$3" "$4")"
}

# bench_table TITLE: a header for the rows that follow.
bench_table() {
	bench_say ""
	bench_say "## $1"
	bench_say "runs: $BENCH_RUNS timed ($BENCH_TIMER$([ "$BENCH_TIMER" = hyperfine ] &&
		printf ' %s' "$(hyperfine --version | cut -d' ' -f2)")) after $BENCH_WARMUP warm-up; peak RSS: $([ "$BENCH_RSS_RUNS" -gt 0 ] &&
		printf 'median of %s' "$BENCH_RSS_RUNS" || printf 'not measured')"
	_bench_line task ours anchor ratio
	bench_say "$(printf '%s-|-%s-|-%s-|-%s' "$(printf '%.0s-' {1..46})" "$(printf '%.0s-' {1..11})" \
		"$(printf '%.0s-' {1..11})" "$(printf '%.0s-' {1..7})")"
}

# bench_row TASK OURS_ID ANCHOR_ID: wall-time median, wall-time min and peak RSS rows.
bench_row() {
	local task="$1" o="$2" a="$3" f
	for f in median min; do
		_bench_line "$task: wall $f" "$(_bench_ms "$(bench_result "$o" $f)")" \
			"$(_bench_ms "$(bench_result "$a" $f)")" \
			"$(_bench_ratio "$(bench_result "$o" $f)" "$(bench_result "$a" $f)")"
	done
	_bench_line "$task: peak RSS" "$(_bench_mib "$(bench_result "$o" rss)")" \
		"$(_bench_mib "$(bench_result "$a" rss)")" \
		"$(_bench_ratio "$(bench_result "$o" rss)" "$(bench_result "$a" rss)")"
}

# bench_note TEXT: an explanatory line under a table.
bench_note() {
	bench_say "  note: $*"
}

# bench_env: the machine and tool versions, once per script.
bench_env() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
	bench_say "machine: ${cpu:-unknown cpu}, $(nproc) cores, $(uname -sr); load average at start: $BENCH_LOAD0, now: $(cut -d' ' -f1-3 /proc/loadavg)"
	local t
	for t in "$@"; do
		bench_say "$t"
	done
}

# bench_isolate_env NAME: HOME and the XDG directories below $BENCH_WORK, no containers/imgtrust
# configuration from the caller's environment, services (tests/lib/services.bash) below
# $BENCH_WORK too, and skip() (test_user_setup's) reporting "NAME: skipped: ..." without failing
# run.sh. Sets W=$BENCH_WORK.
bench_isolate_env() {
	local name=$1
	W="$BENCH_WORK"
	mkdir -p "$W/home" "$W/xdg-config" "$W/xdg-data" "$W/xdg-cache" "$W/src/bin" "$W/layouts"
	export HOME="$W/home" XDG_CONFIG_HOME="$W/xdg-config" XDG_DATA_HOME="$W/xdg-data"
	export XDG_CACHE_HOME="$W/xdg-cache" LC_ALL=C.UTF-8 TZ=UTC
	unset REGISTRY_AUTH_FILE CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF CONTAINERS_STORAGE_CONF
	unset CONTAINERS_POLICY_JSON REGISTRIES_CONFIG_PATH IMGTRUST_POLICY IMGTRUST_REGISTRIES_D
	unset DOCKER_CONFIG
	export IT_SERVICES_DIR="$W/services" BATS_TEST_TMPDIR="$W"
	mkdir -p "$IT_SERVICES_DIR"
	# shellcheck disable=SC2317 # called by the tests/lib helpers the scripts source
	bats_require_minimum_version() { :; }
	BENCH_SKIP_NAME=$name
	# shellcheck disable=SC2317 # called by test_user_setup
	skip() {
		bench_say "$BENCH_SKIP_NAME: skipped: $*"
		exit 0
	}
}

# bench_as_tu_script FILE DIR: write FILE, a wrapper running its arguments as the test user
# (TU_UID/TU_GID from test_user_setup) with HOME, XDG_* and TMPDIR below DIR (as_test_user's
# environment), by exec: no shell stays between hyperfine or /usr/bin/time and the program.
bench_as_tu_script() {
	local file=$1 tu=$2
	{
		printf '#!/bin/bash\n'
		if [ "$(id -u)" = 0 ]; then
			printf 'exec setpriv --reuid=%s --regid=%s --init-groups --reset-env ' "$TU_UID" "$TU_GID"
		else
			printf 'exec '
		fi
		printf 'env PATH=%q HOME=%q XDG_DATA_HOME=%q XDG_CONFIG_HOME=%q XDG_CACHE_HOME=%q XDG_RUNTIME_DIR=%q TMPDIR=%q LC_ALL=C.UTF-8 TZ=UTC "$@"\n' \
			"$PATH" "$tu" "$tu/data" "$tu/config" "$tu/cache" "$tu/run" "$tu"
	} >"$file"
	chmod 755 "$file"
}
