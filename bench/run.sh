#!/usr/bin/env bash
# Runs every bench script (bench/*.sh but lib.sh and run.sh) in one go and prints their tables.
# Results (tables, raw timings, each command's output) go to $BENCH_OUT, by default a new
# temporary directory; nothing is written into the source tree except the build directory.
#
#   bash bench/run.sh            # all scripts
#   bash bench/run.sh trust      # only bench/trust.sh
#
# See bench/README.md for the settings (BENCH_RUNS, BENCH_OUT, IMGTRUST_BIN, ...).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# hyperfine and GNU time come from Debian; install them when we can, else fall back (hyperfine)
# or stop (time).
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ] &&
	command -v apt-get >/dev/null; then
	printf '[run] installing %s\n' "${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
		printf '[run] could not install %s\n' "${missing[*]}" >&2
fi

bench_default_out
bench_imgtrust_bin

scripts=()
if [ $# -gt 0 ]; then
	for n in "$@"; do
		[ -f "$here/${n%.sh}.sh" ] || bench_die "no bench script $here/${n%.sh}.sh"
		scripts+=("$here/${n%.sh}.sh")
	done
else
	for s in "$here"/*.sh; do
		case "$(basename "$s")" in
		lib.sh | run.sh) ;;
		*) scripts+=("$s") ;;
		esac
	done
fi

failed=()
start=$SECONDS
for s in "${scripts[@]}"; do
	name=$(basename "$s" .sh)
	printf '[run] %s\n' "$name" >&2
	bash "$s" || failed+=("$name")
	echo
done

summary="$BENCH_OUT/summary.txt"
: >"$summary"
for s in "${scripts[@]}"; do
	r="$BENCH_OUT/$(basename "$s" .sh)/report.txt"
	if [ -s "$r" ]; then
		cat "$r" >>"$summary"
		echo >>"$summary"
	fi
done
printf '[run] %d script(s) in %ds; tables in %s, raw timings and outputs in %s/*/raw\n' \
	"${#scripts[@]}" "$((SECONDS - start))" "$summary" "$BENCH_OUT" >&2
if [ ${#failed[@]} -gt 0 ]; then
	printf '[run] FAILED: %s\n' "${failed[*]}" >&2
	exit 1
fi
