# Test services for the bats suites: a private docker-registry and an nginx serving a lookaside
# directory (with PUT), both on 127.0.0.1 with free ports, plus a helper that pushes a tiny
# offline-built image. Load after common: `load ../lib/common` then `load ../lib/services`.
#
# Everything lives in a temporary directory of the test (or of the file, from setup_file);
# nothing under /etc or any system service is touched. Call stop_services from teardown (or
# teardown_file): it ends exactly the processes these helpers started.

# services_init: make the directory holding configurations, logs and pids ($IT_SERVICES_DIR) on
# first use. Called directly, never in $(...), so the export reaches the caller.
services_init() {
	if [ -z "${IT_SERVICES_DIR:-}" ] || [ ! -d "$IT_SERVICES_DIR" ]; then
		IT_SERVICES_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-${BATS_TEST_TMPDIR:-/tmp}}/services.XXXXXX")
		export IT_SERVICES_DIR
	fi
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	command -v python3 >/dev/null || fail "python3 not installed" || return 1
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: until URL answers with any HTTP status.
wait_http() {
	local url="$1" limit="${2:-15}" i code
	for ((i = 0; i < limit * 10; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' "$url" 2>/dev/null) || code=000
		if [ "$code" != 000 ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "no answer from $url after ${limit}s"
}

# _service_started NAME PID: remember a process to stop.
_service_started() {
	printf '%s %s\n' "$2" "$1" >>"$IT_SERVICES_DIR/pids"
}

# start_registry [--htpasswd USER:PASS]: Debian's docker-registry on 127.0.0.1:<free port>,
# storage in the services dir. Exports REGISTRY=127.0.0.1:PORT (and REGISTRY_CREDS with
# --htpasswd; the registry then wants Basic authentication) and prints REGISTRY. Do not call it
# through `run` or $(...): the exports and the pid record would stay in that subshell.
start_registry() {
	local creds="" dir port
	if [ "${1:-}" = --htpasswd ]; then
		creds="$2"
	fi
	command -v docker-registry >/dev/null || fail "docker-registry not installed" || return 1
	services_init
	dir="$IT_SERVICES_DIR/registry.$$.$RANDOM"
	mkdir -p "$dir/storage"
	port=$(free_port)
	{
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s/storage\n  delete:\n    enabled: true\n' "$dir"
		printf 'http:\n  addr: 127.0.0.1:%s\n  secret: imgtrust-test-secret\n' "$port"
		if [ -n "$creds" ]; then
			printf 'auth:\n  htpasswd:\n    realm: imgtrust-test\n    path: %s/htpasswd\n' "$dir"
		fi
	} >"$dir/config.yml"
	if [ -n "$creds" ]; then
		htpasswd -Bbn "${creds%%:*}" "${creds#*:}" >"$dir/htpasswd" 2>/dev/null ||
			fail "htpasswd failed" || return 1
		export REGISTRY_CREDS="$creds"
	else
		unset REGISTRY_CREDS
	fi
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 3>&- </dev/null &
	_service_started registry $!
	export REGISTRY="127.0.0.1:$port"
	wait_http "http://$REGISTRY/v2/" || {
		cat "$dir/log" >&2
		return 1
	}
	printf '%s\n' "$REGISTRY"
}

# start_nginx DIR [EXTRA]: nginx serving DIR on 127.0.0.1:<free port> as a non-daemon with its own
# prefix, pid and logs; PUT (creating parent directories) and DELETE allowed, so signatures can be
# uploaded. /status500/... answers 500 and /status403/... 403, for error tests. EXTRA is added
# to the server block verbatim. Exports LOOKASIDE_URL=http://127.0.0.1:PORT and prints it.
start_nginx() {
	local root="$1" extra="${2:-}" prefix port user=""
	command -v nginx >/dev/null || fail "nginx not installed" || return 1
	[ -d "$root" ] || fail "start_nginx: no directory $root" || return 1
	root=$(cd "$root" && pwd)
	services_init
	prefix="$IT_SERVICES_DIR/nginx.$$.$RANDOM"
	mkdir -p "$prefix/logs" "$prefix/tmp"
	port=$(free_port)
	# Workers of a root master would run as nobody and could not read a private temp dir.
	if [ "$(id -u)" -eq 0 ]; then
		user="user root root;"
	fi
	cat >"$prefix/nginx.conf" <<-CONF
		$user
		worker_processes 1;
		pid $prefix/nginx.pid;
		error_log $prefix/logs/error.log warn;
		events { worker_connections 64; }
		http {
		    access_log $prefix/logs/access.log;
		    client_body_temp_path $prefix/tmp/body;
		    proxy_temp_path $prefix/tmp/proxy;
		    fastcgi_temp_path $prefix/tmp/fastcgi;
		    uwsgi_temp_path $prefix/tmp/uwsgi;
		    scgi_temp_path $prefix/tmp/scgi;
		    default_type application/octet-stream;
		    client_max_body_size 16m;
		    server {
		        listen 127.0.0.1:$port;
		        root $root;
		        location ^~ /status500/ { return 500; }
		        location ^~ /status403/ { return 403; }
		        location / {
		            dav_methods PUT DELETE;
		            create_full_put_path on;
		            dav_access user:rw group:r all:r;
		        }
		        $extra
		    }
		}
	CONF
	nginx -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;' >"$prefix/logs/stdout" 2>&1 3>&- </dev/null &
	_service_started nginx $!
	export LOOKASIDE_URL="http://127.0.0.1:$port"
	wait_http "$LOOKASIDE_URL/" || {
		cat "$prefix/logs/error.log" "$prefix/logs/stdout" >&2
		return 1
	}
	printf '%s\n' "$LOOKASIDE_URL"
}

# stop_services: end every process started by these helpers (by pid) and wait for them.
stop_services() {
	local f pid name
	[ -n "${IT_SERVICES_DIR:-}" ] || return 0
	f="$IT_SERVICES_DIR/pids"
	[ -f "$f" ] || return 0
	while read -r pid name; do
		kill -TERM "$pid" 2>/dev/null || true
	done <"$f"
	while read -r pid name; do
		local i
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done <"$f"
	rm -f "$f"
	return 0
}

# push_test_image NAME:TAG [TEXT]: build a one-layer image offline (make_oci_layout, with TEXT in
# its file) and push it to $REGISTRY with skopeo (using $REGISTRY_CREDS when set). Prints the
# manifest digest as the registry serves it.
push_test_image() {
	local nt="$1" text="${2:-hello from $1}" work creds=() raw
	[ -n "${REGISTRY:-}" ] || fail "push_test_image: start_registry first" || return 1
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/push.XXXXXX")
	make_oci_layout "$work/oci" "$text"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
	mkdir -p "$work/registries.d"
	if [ -n "${REGISTRY_CREDS:-}" ]; then
		creds=(--creds "$REGISTRY_CREDS")
	fi
	# A private auth file: the default one under /run/containers/UID may be unreadable.
	skopeo --policy "$work/policy.json" --registries.d "$work/registries.d" copy -q \
		--authfile "$work/auth.json" \
		--dest-tls-verify=false ${creds[@]+--dest-creds "$REGISTRY_CREDS"} \
		"oci:$work/oci:latest" "docker://$REGISTRY/$nt" >"$work/copy.log" 2>&1 || {
		cat "$work/copy.log" >&2
		fail "skopeo copy to docker://$REGISTRY/$nt failed"
		return 1
	}
	skopeo --registries.d "$work/registries.d" inspect --tls-verify=false \
		--authfile "$work/auth.json" ${creds[@]+"${creds[@]}"} --raw "docker://$REGISTRY/$nt" \
		>"$work/manifest" || fail "skopeo inspect of docker://$REGISTRY/$nt failed" || return 1
	raw=$(sha256sum <"$work/manifest" | cut -d' ' -f1)
	rm -rf "$work"
	printf 'sha256:%s\n' "$raw"
}

# _oci_blob LAYOUT FILE: store FILE as a blob of LAYOUT; prints "sha256:HEX SIZE".
_oci_blob() {
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mkdir -p "$1/blobs/sha256"
	cp "$2" "$1/blobs/sha256/$d"
	printf 'sha256:%s %s\n' "$d" "$s"
}

# _oci_image LAYOUT ARCH TEXT: one single-layer linux/ARCH image in LAYOUT's blobs; prints the
# manifest's "sha256:HEX SIZE".
_oci_image() {
	local layout="$1" arch="$2" text="$3" work l c
	work=$(mktemp -d "$layout.work.XXXXXX")
	mkdir -p "$work/root"
	printf '%s\n' "$text" >"$work/root/hello.txt"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root" \
		-cf "$work/layer.tar" hello.txt
	read -r l ls < <(_oci_blob "$layout" "$work/layer.tar")
	printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"$arch" "$l" >"$work/config.json"
	read -r c cs < <(_oci_blob "$layout" "$work/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"$c" "$cs" "$l" "$ls" >"$work/manifest.json"
	_oci_blob "$layout" "$work/manifest.json"
	rm -rf "$work"
}

# push_test_index NAME:TAG: a two-platform OCI index (linux/amd64 and linux/arm64, each a tiny
# image) built offline and pushed with `skopeo copy --all`. Prints three lines, as the registry
# serves them: the index digest, the amd64 instance digest, the arm64 instance digest.
push_test_index() {
	local nt="$1" work a as b bs i is creds=()
	[ -n "${REGISTRY:-}" ] || fail "push_test_index: start_registry first" || return 1
	work=$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/pushidx.XXXXXX")
	read -r a as < <(_oci_image "$work/oci" amd64 "amd64 of $nt")
	read -r b bs < <(_oci_image "$work/oci" arm64 "arm64 of $nt")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}' \
		"$a" "$as" "$b" "$bs" >"$work/index-blob.json"
	read -r i is < <(_oci_blob "$work/oci" "$work/index-blob.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$i" "$is" >"$work/oci/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
	mkdir -p "$work/registries.d"
	if [ -n "${REGISTRY_CREDS:-}" ]; then
		creds=(--dest-creds "$REGISTRY_CREDS")
	fi
	skopeo --policy "$work/policy.json" --registries.d "$work/registries.d" copy -q --all \
		--authfile "$work/auth.json" --dest-tls-verify=false ${creds[@]+"${creds[@]}"} \
		"oci:$work/oci:latest" "docker://$REGISTRY/$nt" >"$work/copy.log" 2>&1 || {
		cat "$work/copy.log" >&2
		fail "skopeo copy --all to docker://$REGISTRY/$nt failed"
		return 1
	}
	# skopeo compresses the layers on the way, so the manifests change: report what is served.
	skopeo --registries.d "$work/registries.d" inspect --tls-verify=false \
		--authfile "$work/auth.json" ${REGISTRY_CREDS:+--creds "$REGISTRY_CREDS"} --raw \
		"docker://$REGISTRY/$nt" >"$work/served" ||
		fail "skopeo inspect of docker://$REGISTRY/$nt failed" || return 1
	i=sha256:$(sha256sum <"$work/served" | cut -d' ' -f1)
	a=$(jq -r '.manifests[] | select(.platform.architecture=="amd64") | .digest' "$work/served")
	b=$(jq -r '.manifests[] | select(.platform.architecture=="arm64") | .digest' "$work/served")
	rm -rf "$work"
	printf '%s\n%s\n%s\n' "$i" "$a" "$b"
}

# ---------------------------------------------------------------------------------------------
# Token authentication and fault injection, for the registry push tests. Both Python services
# (tests/lib/token_issuer.py, tests/lib/fault_proxy.py; standard library only) bind a port the
# kernel chooses and write it to a file once they listen, so no probe request lands in their logs.

_IT_SERVICES_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian's python3 when there is one (the target; a version-manager shim earlier in PATH costs
# most of a second per start), else whatever python3 PATH has. A variable, not a function, so
# that `$_IT_PYTHON ... &` leaves the pid of python itself in $!.
if [ -x /usr/bin/python3 ]; then
	_IT_PYTHON=/usr/bin/python3
else
	_IT_PYTHON=python3
fi

# _wait_port_file FILE PID NAME: until FILE (written by the service when it listens) exists;
# fails early if the process died. Prints the port.
_wait_port_file() {
	local f="$1" pid="$2" name="$3" i
	for ((i = 0; i < 150; i++)); do
		if [ -s "$f" ]; then
			cat "$f"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	fail "$name did not start (no $f)"
}

# start_token_registry USER:PASS [--user USER:PASS ACTIONS]... [--anonymous ACTIONS]
#     [--header kid|x5c|both] [--expires-in SECONDS]
# Debian's docker-registry with token authentication (auth.token: realm, service, issuer,
# rootcertbundle) and tests/lib/token_issuer.py as its realm, each on its own port. A fresh RSA
# key and self-signed certificate (the registry's root bundle) are made in the services dir.
# USER gets every action asked for; --user adds users limited to ACTIONS (comma list of
# pull,push,delete or *); --anonymous grants actions without credentials (default none: the
# issuer still answers, with an empty access list, and the registry refuses). --header names the
# key in the JWT: kid (libtrust key ID, default), x5c (the certificate), or both.
# Exports REGISTRY=127.0.0.1:PORT, REGISTRY_CREDS=USER:PASS, TOKEN_LOG (one line per token
# request: "METHOD /token STATUS user=U service=S scope=... granted=..." or reason=...),
# TOKEN_REALM (the issuer's URL), TOKEN_SERVICE, TOKEN_ISSUER_DIR (key.pem, cert.pem, logs); prints
# REGISTRY. Like start_registry, do not call it through `run` or $(...).
start_token_registry() {
	local userpass="$1" dir rport tport header=kid expires=300 anonymous="" pid
	shift
	case "$userpass" in
	?*:*) ;;
	*) fail "start_token_registry: want USER:PASS as the first argument" || return 1 ;;
	esac
	command -v docker-registry >/dev/null || fail "docker-registry not installed" || return 1
	command -v "$_IT_PYTHON" >/dev/null || fail "python3 not installed" || return 1
	command -v openssl >/dev/null || fail "openssl not installed" || return 1
	services_init
	dir="$IT_SERVICES_DIR/token-registry.$$.$RANDOM"
	mkdir -p "$dir/storage"
	printf '%s\t%s\t*\n' "${userpass%%:*}" "${userpass#*:}" >"$dir/users"
	while [ $# -gt 0 ]; do
		case "$1" in
		--user)
			[ $# -ge 3 ] || fail "start_token_registry: --user USER:PASS ACTIONS" || return 1
			printf '%s\t%s\t%s\n' "${2%%:*}" "${2#*:}" "$3" >>"$dir/users"
			shift 3
			;;
		--anonymous) anonymous="$2" && shift 2 ;;
		--header) header="$2" && shift 2 ;;
		--expires-in) expires="$2" && shift 2 ;;
		*) fail "start_token_registry: unknown option $1" || return 1 ;;
		esac
	done
	chmod 600 "$dir/users"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
		-days 7 -subj /CN=imgtrust-test-token-issuer >"$dir/openssl.log" 2>&1 || {
		cat "$dir/openssl.log" >&2
		fail "openssl could not make the token signing key"
		return 1
	}
	"$_IT_PYTHON" "$_IT_SERVICES_LIB/token_issuer.py" --key "$dir/key.pem" --cert "$dir/cert.pem" \
		--issuer imgtrust-test-issuer --service imgtrust-test-registry --users "$dir/users" \
		--log "$dir/token.log" --port 0 --port-file "$dir/issuer.port" --header "$header" \
		--expires-in "$expires" --anonymous "$anonymous" \
		>"$dir/issuer.out" 2>&1 3>&- </dev/null &
	pid=$!
	_service_started token-issuer "$pid"
	tport=$(_wait_port_file "$dir/issuer.port" "$pid" token_issuer.py) || {
		cat "$dir/issuer.out" >&2
		return 1
	}
	: >"$dir/token.log"
	rport=$(free_port) || return 1
	cat >"$dir/config.yml" <<-CONF
		version: 0.1
		log:
		  level: error
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $dir/storage
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$rport
		  secret: imgtrust-test-secret
		auth:
		  token:
		    realm: http://127.0.0.1:$tport/token
		    service: imgtrust-test-registry
		    issuer: imgtrust-test-issuer
		    rootcertbundle: $dir/cert.pem
	CONF
	docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 3>&- </dev/null &
	_service_started registry "$!"
	export REGISTRY="127.0.0.1:$rport" REGISTRY_CREDS="$userpass" TOKEN_LOG="$dir/token.log"
	export TOKEN_REALM="http://127.0.0.1:$tport/token" TOKEN_SERVICE=imgtrust-test-registry
	export TOKEN_ISSUER_DIR="$dir"
	wait_http "http://$REGISTRY/v2/" || {
		cat "$dir/registry.log" >&2
		return 1
	}
	printf '%s\n' "$REGISTRY"
}

# start_fault_proxy [UPSTREAM]: tests/lib/fault_proxy.py, a streaming HTTP/1.1 reverse proxy on
# 127.0.0.1:<free port> in front of UPSTREAM (host:port, default $REGISTRY) that injects the
# faults fault_set gives it (none at first). Exports FAULT_REGISTRY=127.0.0.1:PORT, FAULT_LOG (one
# line per finished request: "METHOD TARGET STATUS REQ_BYTES RESP_BYTES FAULTS [NOTE]"),
# FAULT_STARTED (one "METHOD TARGET" line as each request begins), FAULT_RULES (the rules file)
# and FAULT_DIR; prints FAULT_REGISTRY. Not through `run` or $(...). Targets are logged as the
# client sent them: skopeo, for one, sends "?_state=...&digest=sha256%3AHEX".
start_fault_proxy() {
	local upstream="${1:-${REGISTRY:-}}" dir pid port
	[ -n "$upstream" ] || fail "start_fault_proxy: no upstream (start a registry first)" || return 1
	command -v "$_IT_PYTHON" >/dev/null || fail "python3 not installed" || return 1
	services_init
	dir="$IT_SERVICES_DIR/fault-proxy.$$.$RANDOM"
	mkdir -p "$dir"
	: >"$dir/rules"
	: >"$dir/requests.log"
	: >"$dir/started.log"
	"$_IT_PYTHON" "$_IT_SERVICES_LIB/fault_proxy.py" --upstream "$upstream" --rules "$dir/rules" \
		--log "$dir/requests.log" --started-log "$dir/started.log" --port 0 \
		--port-file "$dir/port" >"$dir/proxy.out" 2>&1 3>&- </dev/null &
	pid=$!
	_service_started fault-proxy "$pid"
	port=$(_wait_port_file "$dir/port" "$pid" fault_proxy.py) || {
		cat "$dir/proxy.out" >&2
		return 1
	}
	export FAULT_REGISTRY="127.0.0.1:$port" FAULT_LOG="$dir/requests.log"
	export FAULT_STARTED="$dir/started.log" FAULT_RULES="$dir/rules" FAULT_DIR="$dir"
	printf '%s\n' "$FAULT_REGISTRY"
}

# fault_set [RULE...]: replace the proxy's rules, one argument a line; none clears them. Counts
# start afresh even when the same rules are set again. Rules (METHODS is * or A|B, REGEX a Python
# regular expression matched at the start of the path, COUNT a number or *):
#   fail STATUS COUNT METHODS REGEX       STATUS for the next COUNT matching requests, then pass
#   status STATUS METHODS REGEX           STATUS for every matching request
#   drop COUNT METHODS REGEX              close the connection without an answer
#   corrupt METHODS REGEX [COUNT]         flip the middle byte of 2xx response bodies
#   throttle METHODS REGEX BYTES_PER_SEC  send matching request bodies at most this fast
#   cut COUNT METHODS REGEX BYTES         after BYTES of a matching request body, close both
#                                         connections (registry: short body; client: reset)
# A malformed rule fails here, before the proxy sees it. To kill a client mid-upload, throttle
# and use a body well above 4 MiB: what the killed client's kernel had buffered still arrives.
fault_set() {
	[ -n "${FAULT_RULES:-}" ] || fail "fault_set: start_fault_proxy first" || return 1
	local gen tmp="$FAULT_RULES.new"
	gen=$(($(cat "$FAULT_DIR/generation" 2>/dev/null || echo 0) + 1))
	printf '%s\n' "$gen" >"$FAULT_DIR/generation"
	{
		printf '# generation %s\n' "$gen"
		if [ $# -gt 0 ]; then
			printf '%s\n' "$@"
		fi
	} >"$tmp"
	"$_IT_PYTHON" "$_IT_SERVICES_LIB/fault_proxy.py" --check "$tmp" || {
		rm -f "$tmp"
		return 1
	}
	mv -f "$tmp" "$FAULT_RULES"
}

# fault_count ERE: how many lines of $FAULT_LOG match ERE (prints 0 for none).
fault_count() {
	grep -cE -- "$1" "$FAULT_LOG" || true
}

# fault_wait_started ERE [SECONDS]: until a request whose "METHOD TARGET" matches ERE has begun
# (to kill a client mid-upload, say).
fault_wait_started() {
	local ere="$1" limit="${2:-15}" i
	for ((i = 0; i < limit * 10; i++)); do
		if grep -qE -- "$ere" "$FAULT_STARTED"; then
			return 0
		fi
		sleep 0.1
	done
	fail "no request matching /$ere/ began within ${limit}s" "--- started:" "$(cat "$FAULT_STARTED")"
}
