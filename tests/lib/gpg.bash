# OpenPGP helpers for the bats suites that sign in "the user's keyring" ($GNUPGHOME), as
# skopeo standalone-sign and imgsign standalone do. Load after ../lib/common (which isolates
# GNUPGHOME under the test's temporary directory).

# gpg_batch ARGS...: gpg without prompts; keys made with it have no passphrase.
gpg_batch() {
	gpg --batch --no-tty --quiet --pinentry-mode loopback --passphrase '' "$@"
}

# gpg_home_init: make $GNUPGHOME private and keep its agent from caching passphrases, so a test
# with a wrong passphrase cannot pass on what an earlier test unlocked.
gpg_home_init() {
	mkdir -p "$GNUPGHOME"
	chmod 700 "$GNUPGHOME"
	printf 'default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\n' \
		>"$GNUPGHOME/gpg-agent.conf"
}

# gpg_fpr KEY: primary key fingerprint (uppercase hex) of KEY in $GNUPGHOME.
gpg_fpr() {
	gpg --batch --with-colons --list-keys "$1" 2>/dev/null | awk -F: '$1=="fpr"{print $10; exit}'
}

# gpg_subfpr KEY: fingerprint of KEY's first subkey.
gpg_subfpr() {
	gpg --batch --with-colons --list-keys "$1" 2>/dev/null |
		awk -F: '$1=="fpr"{n++; if (n==2) {print $10; exit}}'
}

# gpg_new_key UID [USAGE [EXPIRE [GPG-OPTION...]]]: a new ed25519 key in $GNUPGHOME (default
# usage "sign", never expiring); prints its fingerprint. Extra options go to gpg before the
# command (--faked-system-time ...).
gpg_new_key() {
	local uid="$1" usage="${2:-sign}" expire="${3:-never}"
	shift $(($# < 3 ? $# : 3))
	gpg_batch "$@" --quick-gen-key "$uid" ed25519 "$usage" "$expire" 2>/dev/null ||
		fail "gpg --quick-gen-key failed for $uid" || return 1
	gpg_fpr "$uid"
}

# gpg_add_signing_subkey FPR: add an ed25519 signing subkey to FPR; prints the subkey's fingerprint.
gpg_add_signing_subkey() {
	gpg_batch --quick-add-key "$1" ed25519 sign never 2>/dev/null ||
		fail "gpg --quick-add-key failed for $1" || return 1
	gpg_subfpr "$1"
}

# gpg_revoke FPR: import the revocation certificate gpg wrote when FPR was generated.
gpg_revoke() {
	sed 's/^:-----BEGIN/-----BEGIN/' "$GNUPGHOME/openpgp-revocs.d/$1.rev" |
		gpg_batch --import 2>/dev/null || fail "cannot revoke $1"
}

# manifest_digest FILE: sha256:<hex of the file's bytes>.
manifest_digest() {
	printf 'sha256:%s\n' "$(sha256sum <"$1" | cut -d' ' -f1)"
}

# payload_json REF DIGEST [EXTRA-CRITICAL]: a payload as upstream writes it (sorted keys, no
# whitespace, no trailing newline). EXTRA-CRITICAL (e.g. `,"future":true`) is appended inside
# "critical", to make payloads a verifier must refuse.
payload_json() {
	printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"atomic container signature"%s},"optional":{"creator":"imgtrust tests","timestamp":%s}}' \
		"$1" "$2" "${3:-}" "$(date +%s)"
}

# sig_payload SIG: the signed payload, extracted by gpg (which also checks the signature against
# $GNUPGHOME, so this fails for a signature gpg cannot verify).
sig_payload() {
	gpg --batch --no-tty --quiet --decrypt "$1" 2>/dev/null
}

# flip_byte_at FILE STRING: change the byte 10 into the first occurrence of STRING (which must be
# at least 11 bytes of hex) to another hex digit, in place.
flip_byte_at() {
	local off c
	off=$(grep -obUaF -- "$2" "$1" | head -1 | cut -d: -f1)
	[ -n "$off" ] || fail "$2 not found in $1" || return 1
	off=$((off + 10))
	c=$(dd if="$1" bs=1 skip="$off" count=1 2>/dev/null)
	if [ "$c" = 0 ]; then c=1; else c=0; fi
	printf '%s' "$c" | dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
