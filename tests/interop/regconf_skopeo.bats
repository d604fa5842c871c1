#!/usr/bin/env bats
# registries.conf, certs.d and auth files as imgtrust reads them (registry/regconf.c,
# registry/certsd.c, common/authfile.c, asked through the --query mode of their unit-test
# programs) against what skopeo 1.9.3 does with the same files:
#   - a name is refused as blocked by skopeo exactly when ours says blocked, by the same prefix;
#     invalid files fail in both with containers/image's message;
#   - a certs.d orphan .cert/.key fails both with the same message;
#   - the credentials skopeo sends to a fake registry (127.0.0.1, HTTP, Basic) are the ones ours
#     picks from the same auth files.
# Every case also states the expected outcome, so the two cannot agree by both being wrong.
# Offline: blocked names are refused before any connection, other names point at 127.0.0.1
# ports nobody listens on (or at reserved .test names).

load ../lib/common

setup_file() {
	need_cmd skopeo
	need_cmd python3
	export RQ="$IMGTRUST_BUILD/tests/test_regconf"
	export CQ="$IMGTRUST_BUILD/tests/test_certsd"
	export AQ="$IMGTRUST_BUILD/tests/test_authfile"
	local p
	for p in "$RQ" "$CQ" "$AQ"; do
		[ -x "$p" ] || fail "not built: $p (set IMGTRUST_BUILD)"
	done
	# A registry that only ever asks for Basic credentials and writes down what it got.
	cat >"$BATS_FILE_TMPDIR/srv.py" <<'EOF'
import base64, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        a = self.headers.get('Authorization') or ''
        if a.startswith('Basic '):
            with open(sys.argv[1], 'a') as f:
                f.write(base64.b64decode(a[6:]).decode('utf-8', 'replace') + '\n')
        self.send_response(401)
        self.send_header('WWW-Authenticate', 'Basic realm="test"')
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
with open(sys.argv[2] + '.tmp', 'w') as f:
    f.write(str(s.server_address[1]))
import os
os.rename(sys.argv[2] + '.tmp', sys.argv[2])
s.serve_forever()
EOF
	python3 "$BATS_FILE_TMPDIR/srv.py" "$BATS_FILE_TMPDIR/seen" "$BATS_FILE_TMPDIR/port" \
		</dev/null >/dev/null 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/srv.pid"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$BATS_FILE_TMPDIR/port" ] && break
		sleep 0.1
	done
	[ -s "$BATS_FILE_TMPDIR/port" ] || fail "the fake registry did not start"
}

teardown_file() {
	if [ -s "$BATS_FILE_TMPDIR/srv.pid" ]; then
		kill "$(cat "$BATS_FILE_TMPDIR/srv.pid")" 2>/dev/null || true
	fi
}

setup() {
	it_isolate
	T="$BATS_TEST_TMPDIR"
	unset DOCKER_CONFIG REGISTRY_AUTH_FILE
	export XDG_RUNTIME_DIR="$T/run"
	mkdir -p "$XDG_RUNTIME_DIR/containers" "$XDG_CONFIG_HOME/containers" "$HOME/.docker"
	USER_D="$HOME/.config/containers/registries.conf.d"
}

# skopeo_inspect [--registries-conf FILE] [INSPECT-OPTIONS...] NAME: skopeo inspect
# docker://NAME, bounded in time.
skopeo_inspect() {
	local global=()
	if [ "$1" = --registries-conf ]; then
		global=(--registries-conf "$2")
		shift 2
	fi
	local name="${*: -1}"
	timeout 120 skopeo --command-timeout 60s "${global[@]}" inspect "${@:1:$#-1}" "docker://$name"
}

# agree CONF NAME WANT: with CONF as the main file (and the real /etc drop-ins, as skopeo reads
# them), WANT is the blocking prefix or "-" for not blocked, for us and for skopeo.
agree() {
	local conf="$1" name="$2" want="$3"
	run --separate-stderr "$RQ" --query "$conf" "" "$HOME" "$name"
	assert_status 0
	local ours="$output"
	run --separate-stderr skopeo_inspect --registries-conf "$conf" "$name"
	local sk="$stderr"
	if [ "$want" = - ]; then
		assert_not_contains "$ours" " blocked " "ours for $name" || return 1
		assert_not_contains "$sk" "is blocked in" "skopeo for $name" || return 1
	else
		assert_contains "$ours" "$name blocked $want " "ours for $name" || return 1
		assert_contains "$sk" "registry $want is blocked in" "skopeo for $name" || return 1
	fi
}

# both_refuse CONF MESSAGE: loading CONF fails for us and for skopeo, both saying MESSAGE (no
# double quotes in it: skopeo's log line escapes them).
both_refuse() {
	local conf="$1" msg="$2"
	run --separate-stderr "$RQ" --query "$conf" "" "$HOME" 127.0.0.1:1/x
	assert_status 1
	assert_contains "$stderr" "$msg" "our error" || return 1
	run --separate-stderr skopeo_inspect --registries-conf "$conf" 127.0.0.1:1/x
	assert_status 1
	assert_contains "$stderr" "$msg" "skopeo's error"
}

@test "blocked: V2 prefixes, longest match, wildcards, first of duplicates, the port quirk" {
	cat >"$T/r.conf" <<'EOF'
unqualified-search-registries = ["127.0.0.1:1"]

[[registry]]
location = "127.0.0.1:1/blocked"
blocked = true

[[registry]]
prefix = "127.0.0.2:1"
location = "127.0.0.2:1"
blocked = true

[[registry]]
prefix = "127.0.0.2:1/open"
location = "127.0.0.1:1/open"

[[registry]]
prefix = "*.blocked.test"
blocked = true

[[registry]]
location = "dup.test"
blocked = true

[[registry]]
prefix = "dup.test"
location = "127.0.0.1:1"

[[registry]]
location = "127.0.0.3"
blocked = true

[[registry]]
location = "127.0.0.1:1/insecure"
insecure = true
EOF
	agree "$T/r.conf" 127.0.0.1:1/blocked/app 127.0.0.1:1/blocked
	agree "$T/r.conf" 127.0.0.1:1/blocked 127.0.0.1:1/blocked
	agree "$T/r.conf" 127.0.0.1:1/blockedx/app -
	agree "$T/r.conf" 127.0.0.1:1/insecure/app -
	agree "$T/r.conf" 127.0.0.2:1/app 127.0.0.2:1
	agree "$T/r.conf" 127.0.0.2:1/open/app -
	agree "$T/r.conf" a.blocked.test/app '*.blocked.test'
	agree "$T/r.conf" deep.er.blocked.test:5000/ns/app '*.blocked.test'
	agree "$T/r.conf" blocked.test/app -
	agree "$T/r.conf" dup.test/app dup.test
	agree "$T/r.conf" 127.0.0.3:1/app 127.0.0.3
	run "$RQ" --query "$T/r.conf" "" "$HOME" 127.0.0.1:1/insecure/app
	assert_eq "$output" "127.0.0.1:1/insecure/app insecure 127.0.0.1:1/insecure $T/r.conf"
}

@test "blocked: V1 lists, and a user drop-in read even with an explicit file" {
	cat >"$T/v1.conf" <<'EOF'
[registries.search]
registries = ['127.0.0.1:1']

[registries.insecure]
registries = ['127.0.0.5:1']

[registries.block]
registries = ['127.0.0.4:1', 'v1.test/', '127.0.0.5:1']
EOF
	agree "$T/v1.conf" 127.0.0.4:1/app 127.0.0.4:1
	agree "$T/v1.conf" v1.test/app v1.test
	agree "$T/v1.conf" 127.0.0.5:1/app 127.0.0.5:1
	agree "$T/v1.conf" 127.0.0.1:1/app -

	: >"$T/empty.conf"
	mkdir -p "$USER_D"
	printf '[[registry]]\nlocation = "127.0.0.6:1"\nblocked = true\n' >"$USER_D/50-block.conf"
	printf '[[registry]]\nprefix = "127.0.0.6:1/ok"\nlocation = "127.0.0.1:1"\n' >"$USER_D/60-ok.conf"
	printf 'garbage [' >"$USER_D/70-ignored.conf.disabled"
	agree "$T/empty.conf" 127.0.0.6:1/app 127.0.0.6:1
	agree "$T/empty.conf" 127.0.0.6:1/ok/app -
	run "$RQ" --query "$T/empty.conf" "" "$HOME" 127.0.0.6:1/app
	assert_eq "$output" "127.0.0.6:1/app blocked 127.0.0.6:1 $USER_D/50-block.conf"
	# a later drop-in's entry for the same prefix replaces the earlier one
	printf '[[registry]]\nlocation = "127.0.0.6:1"\n' >"$USER_D/80-unblock.conf"
	agree "$T/empty.conf" 127.0.0.6:1/app -
}

@test "invalid registries.conf files fail in both with containers/image's message" {
	printf 'short-name-mode = "permissive"\n[registries.block]\nregistries = ["x.test"]\n' >"$T/a.conf"
	both_refuse "$T/a.conf" "mixing sysregistry v1/v2 is not supported"
	printf '[[registry]]\nprefix = "*.wild.test:5000"\n' >"$T/b.conf"
	both_refuse "$T/b.conf" 'Wildcarded prefix should be in the format: *.example.com. Current prefix '
	printf '[[registry]]\nprefix = "a.test"\nlocation = "same.test"\ninsecure = true\n[[registry]]\nlocation = "same.test"\n' >"$T/c.conf"
	both_refuse "$T/c.conf" "registry 'same.test' is defined multiple times with conflicting 'insecure' setting"
	printf '[[registry]]\nprefix = "np.test"\n' >"$T/d.conf"
	both_refuse "$T/d.conf" "invalid condition: location is unset and prefix is not in the format: *.example.com"
	printf '[[registry]]\nlocation = "m.test"\n[[registry.mirror]]\nlocation = "n.test"\npull-from-mirror = "bogus"\n' >"$T/e.conf"
	both_refuse "$T/e.conf" 'unsupported pull-from-mirror value '
	printf 'short-name-mode = "sometimes"\n' >"$T/f.conf"
	both_refuse "$T/f.conf" 'invalid short-name mode: '
	: >"$T/empty.conf"
	mkdir -p "$USER_D"
	printf '[registries.block]\nregistries = ["v1d.test"]\n' >"$USER_D/10-v1.conf"
	both_refuse "$T/empty.conf" "registry must be in v2 format but is in v1"
}

@test "certs.d: orphan client files fail both alike; \$XDG_CONFIG_HOME is not looked at" {
	local h=127.0.0.1:1 d="$HOME/.config/containers/certs.d/127.0.0.1:1"
	mkdir -p "$d"
	: >"$d/client.cert"
	run --separate-stderr "$CQ" --query "$h"
	assert_status 1
	assert_contains "$stderr" "missing key client.key for client certificate client.cert. Note that CA certificates should use the extension .crt"
	run --separate-stderr skopeo_inspect "$h/app"
	assert_contains "$stderr" "missing key client.key for client certificate client.cert. Note that CA certificates should use the extension .crt"
	rm "$d/client.cert"
	: >"$d/c.key"
	run --separate-stderr "$CQ" --query "$h"
	assert_contains "$stderr" "missing client certificate c.cert for key c.key"
	run --separate-stderr skopeo_inspect "$h/app"
	assert_contains "$stderr" "missing client certificate c.cert for key c.key"
	# the same directory under $XDG_CONFIG_HOME is not read by either
	mkdir -p "$XDG_CONFIG_HOME/containers/certs.d"
	mv "$d" "$XDG_CONFIG_HOME/containers/certs.d/"
	run --separate-stderr "$CQ" --query "$h"
	assert_status 0
	assert_eq "$output" ""
	run --separate-stderr skopeo_inspect "$h/app"
	assert_not_contains "$stderr" "missing client certificate"
	assert_contains "$stderr" "connection refused"
	# a complete pair and a CA: what ours returns
	mkdir -p "$d"
	: >"$d/ca.crt"
	: >"$d/client.cert"
	: >"$d/client.key"
	run "$CQ" --query "$h"
	assert_eq "$output" "dir $d
ca $d/ca.crt
cert $d/client.cert
key $d/client.key"
}

# creds_agree WANT [--authfile FILE]: skopeo sends WANT ("user:password") to the fake registry
# for 127.0.0.1:PORT/ns/repo, and ours picks the same from the same files.
creds_agree() {
	local want="$1" port authfile=""
	shift
	[ "${1:-}" = --authfile ] && authfile="$2"
	port=$(cat "$BATS_FILE_TMPDIR/port")
	: >"$BATS_FILE_TMPDIR/seen"
	run --separate-stderr skopeo_inspect --tls-verify=false ${authfile:+--authfile "$authfile"} \
		"127.0.0.1:$port/ns/repo"
	local seen
	seen=$(sort -u "$BATS_FILE_TMPDIR/seen")
	assert_eq "$seen" "$want" "credentials skopeo sent (its stderr: $stderr)" || return 1
	run --separate-stderr "$AQ" --query "127.0.0.1:$port" ns/repo ${authfile:+"$authfile"}
	assert_status 0
	assert_eq "${output%% *}" "$want" "credentials ours picked"
}

b64() {
	printf '%s' "$1" | base64 -w0
}

# auth FILE KEY USER:PASS: an auth.json with that one entry.
auth() {
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$2" "$(b64 "$3")" >"$1"
}

@test "auth files: the order of the files, key specificity and what is skipped, as skopeo" {
	local port R
	port=$(cat "$BATS_FILE_TMPDIR/port")
	R="127.0.0.1:$port"
	printf '{"https://%s/v1/":{"auth":"%s","email":"e"}}' "$R" "$(b64 legacy:x)" >"$HOME/.dockercfg"
	creds_agree legacy:x
	auth "$HOME/.docker/config.json" "https://$R" docker:x
	creds_agree docker:x
	auth "$XDG_CONFIG_HOME/containers/auth.json" "$R" xdg:x
	creds_agree xdg:x
	printf '{"auths":{"%s":{"auth":"%s"},"%s/ns":{"auth":"%s"},"%s/ns/repo":{"auth":"%s"}}}' \
		"$R" "$(b64 host:x)" "$R" "$(b64 ns:x)" "$R" "$(b64 repo:x)" \
		>"$XDG_RUNTIME_DIR/containers/auth.json"
	creds_agree repo:x
	# the most specific key decides its file alone: no ':' there sends the search on
	printf '{"auths":{"%s/ns":{"auth":"%s"},"%s":{"auth":"%s"}}}' \
		"$R" "$(b64 nocolon)" "$R" "$(b64 host:x)" >"$XDG_RUNTIME_DIR/containers/auth.json"
	creds_agree xdg:x
	# an identity token alone is passed over too
	printf '{"auths":{"%s":{"identitytoken":"tok"}}}' "$R" >"$XDG_RUNTIME_DIR/containers/auth.json"
	creds_agree xdg:x
	# Go's base64: line breaks and non-canonical last bits are fine
	printf '{"auths":{"%s":{"auth":"YWI6\\nYx=="}}}' "$R" >"$XDG_RUNTIME_DIR/containers/auth.json"
	creds_agree ab:c
	rm "$XDG_RUNTIME_DIR/containers/auth.json" "$XDG_CONFIG_HOME/containers/auth.json"
	# DOCKER_CONFIG replaces ~/.docker
	mkdir -p "$T/dc"
	auth "$T/dc/config.json" "$R" dockerconfig:x
	export DOCKER_CONFIG="$T/dc"
	creds_agree dockerconfig:x
	unset DOCKER_CONFIG
	# an explicit file without an entry does not end the search
	printf '{"auths":{}}' >"$T/explicit.json"
	creds_agree docker:x --authfile "$T/explicit.json"
	auth "$T/explicit.json" "$R/ns" explicit:x
	creds_agree explicit:x --authfile "$T/explicit.json"
}
