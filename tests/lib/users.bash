# The non-root user the rootless tests run as.
#
# Run as root (as in CI), test_user_setup creates the system user "imgtrust-test" with a
# subordinate uid and gid range of 65536 IDs in /etc/subuid and /etc/subgid, or reuses them when
# an earlier run made them: never a second user or a second range (a lock serialises parallel
# suites). The range starts after every range already in the files, so it overlaps nobody's.
# Run as a user who has a range already, that user is the test user. Anyone else: skip.
#
#   test_user_setup                 exports TU_NAME TU_UID TU_GID TU_RANGE (START:COUNT)
#   test_user_dir DIR               DIR (created) owned by the test user, parents traversable
#   as_test_user DIR CMD [ARG...]   CMD as the test user with HOME, XDG_* and TMPDIR below DIR

TU_DEFAULT_NAME=imgtrust-test
TU_COUNT=65536

_tu_next_start() {
	# First ID after every range in both files, at least 300000, rounded up to 65536.
	awk -F: 'NF==3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { e = $2 + $3; if (e > m) m = e }
		END { if (m < 300000) m = 300000; print int((m + 65535) / 65536) * 65536 }' \
		/etc/subuid /etc/subgid 2>/dev/null
}

_tu_create_locked() {
	local name=$1
	if ! getent passwd "$name" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--user-group "$name" || return 1
	fi
	touch /etc/subuid /etc/subgid
	if ! grep -q "^$name:" /etc/subuid || ! grep -q "^$name:" /etc/subgid; then
		local start
		start=$(_tu_next_start)
		grep -q "^$name:" /etc/subuid || echo "$name:$start:$TU_COUNT" >>/etc/subuid
		grep -q "^$name:" /etc/subgid || echo "$name:$start:$TU_COUNT" >>/etc/subgid
	fi
}

test_user_setup() {
	command -v newuidmap >/dev/null || fail "newuidmap not installed (apt-get install -y uidmap)" || return 1
	command -v setpriv >/dev/null || fail "setpriv not installed (apt-get install -y util-linux)" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		TU_NAME=${IMGTRUST_TEST_USER:-$TU_DEFAULT_NAME}
		(
			flock 9
			_tu_create_locked "$TU_NAME"
		) 9>/run/lock/imgtrust-test-user.lock || fail "cannot create the test user $TU_NAME" || return 1
	else
		TU_NAME=$(id -un)
		grep -q "^$TU_NAME:" /etc/subuid 2>/dev/null ||
			skip "run as root, or as a user with a range in /etc/subuid"
	fi
	TU_UID=$(id -u "$TU_NAME")
	TU_GID=$(id -g "$TU_NAME")
	TU_RANGE=$(awk -F: -v u="$TU_NAME" '$1 == u { print $2 ":" $3; exit }' /etc/subuid)
	export TU_NAME TU_UID TU_GID TU_RANGE
}

test_user_dir() {
	local dir=$1 d
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] || return 0
	chown "$TU_UID:$TU_GID" "$dir"
	d=$(dirname "$dir")
	while [ "$d" != / ]; do
		(($(stat -c 0%a "$d") & 1)) || chmod o+x "$d"
		d=$(dirname "$d")
	done
}

as_test_user() {
	local dir=$1
	shift
	test_user_dir "$dir"
	local envs=(HOME="$dir" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config"
		XDG_CACHE_HOME="$dir/cache" XDG_RUNTIME_DIR="$dir/run" TMPDIR="$dir"
		LC_ALL=C.UTF-8 TZ=UTC)
	if [ "$(id -u)" -eq 0 ]; then
		[ -d "$dir/run" ] || install -d -m 700 -o "$TU_UID" -g "$TU_GID" "$dir/run"
		setpriv --reuid="$TU_UID" --regid="$TU_GID" --init-groups --reset-env \
			env PATH="$PATH" "${envs[@]}" "$@"
	else
		mkdir -p -m 700 "$dir/run"
		env "${envs[@]}" "$@"
	fi
}

# containers_range_setup: (root only) make sure /etc/subuid and /etc/subgid hold a "containers"
# entry, from which root's imgrun containers take their ranges (as podman --userns=auto); adds
# podman's suggested "containers:2147483647:2147483648" when there is none, reuses it otherwise.
# Exports CT_START (the subuid entry's start).
containers_range_setup() {
	[ "$(id -u)" -eq 0 ] || skip "root's containers need root"
	(
		flock 9
		touch /etc/subuid /etc/subgid
		grep -q '^containers:' /etc/subuid || echo 'containers:2147483647:2147483648' >>/etc/subuid
		grep -q '^containers:' /etc/subgid || echo 'containers:2147483647:2147483648' >>/etc/subgid
	) 9>/run/lock/imgtrust-test-user.lock || fail "cannot add the containers range" || return 1
	CT_START=$(awk -F: '$1 == "containers" { print $2; exit }' /etc/subuid)
	export CT_START
}
