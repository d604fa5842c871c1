#!/usr/bin/env bats
# `cmake --install` gives a usable library: headers, pkg-config file, programs, man pages.

load ../lib/common

@test "install: a program built against the installed library through pkg-config runs" {
	prefix=$BATS_TEST_TMPDIR/prefix
	run -0 cmake --install "$IMGTRUST_BUILD" --prefix "$prefix"
	for p in imgtrust imgsign imgverify; do
		[ -x "$prefix/bin/$p" ] || fail "missing program $p"
		[ -f "$prefix/share/man/man1/$p.1" ] || fail "missing man page $p.1"
	done
	[ -f "$prefix/include/imgtrust/version.h" ] || fail "missing generated version.h"
	cat >"$BATS_TEST_TMPDIR/c.c" <<'C'
#include <imgtrust/ref.h>
#include <imgtrust/version.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
	struct it_ref r = IT_REF_INIT;
	it_error err = IT_ERROR_INIT;
	if (ref_parse_normalized("busybox", &r, &err) != 0)
		return 1;
	ref_tag_default(&r);
	char *s = ref_string(&r);
	printf("%s %s\n", IMGTRUST_VERSION, s);
	free(s);
	ref_free(&r);
	return 0;
}
C
	pc=$(find "$prefix" -name imgtrust.pc)
	[ -n "$pc" ] || fail "no imgtrust.pc installed"
	export PKG_CONFIG_PATH
	PKG_CONFIG_PATH=$(dirname "$pc")
	# shellcheck disable=SC2046
	run -0 cc "$BATS_TEST_TMPDIR/c.c" -o "$BATS_TEST_TMPDIR/c" $(pkg-config --cflags --libs imgtrust) \
		-Wl,-rpath,"$(pkg-config --variable=libdir imgtrust)"
	run -0 "$BATS_TEST_TMPDIR/c"
	assert_eq "$output" "$(pkg-config --modversion imgtrust) docker.io/library/busybox:latest"
	run -0 "$prefix/bin/imgtrust" --version
	assert_contains "$output" "imgtrust (imgtrust) $(pkg-config --modversion imgtrust)"
}
