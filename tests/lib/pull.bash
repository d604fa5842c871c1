# shellcheck shell=bash
# Helpers of the rootless pull suite (tests/interop/pull_rootless.bats): OCI layouts made offline
# from a JSON description of tar entries (hostile ones included), the merged root filesystem of
# an image in an imgtrust store or of a `umoci unpack --rootless` bundle as one comparable
# listing, and a byte-for-byte listing of a store. Needs python3; load after common.bash.
#
#   pr_tools_init DIR              writes the python tools into DIR (call once, in setup_file)
#   pr_image LAYOUT TAG SPEC       an OCI layout at LAYOUT (tag TAG) from the JSON SPEC (below);
#                                  prints the manifest digest
#   pr_store_tree STORE ID START   the merged rootfs of image ID in STORE, one line an entry;
#                                  host owners turned into container IDs (START: subuid start)
#   pr_overlay_tree STORE ID START the same listing of the layers mounted by the kernel as overlay
#   pr_umoci_tree BUNDLE           the same listing of a `umoci unpack --rootless` bundle
#   pr_store_state STORE           every path below STORE with size, mode, owner, mtime, and the
#                                  sha256 of every regular file
#
# SPEC: {"layers": [LAYER...], "diff_ids": [...] (optional: the config's, as given)}; LAYER is
# {"entries": [ENTRY...]}, {"bomb_gib": N} (one file of N GiB of zeros, deflate blocks repeated;
# its diff ID and gzip trailer are not computed: a layer that is read to its end fails anyway) or
# {"many": N} (N empty files d<NN>/f<NNNN>). ENTRY: {"n": name, "t": f|d|l|h|c|b|p (file, dir,
# symlink, hardlink, char dev, block dev, fifo), "m": "0644", "u": uid, "g": gid, "d": data,
# "l": link target, "x": {xattr: value}}. Every entry has mtime 1700000000; layers are gzip.

pr_tools_init() {
	local dir=$1
	mkdir -p "$dir"
	PR_TOOLS=$dir
	export PR_TOOLS
	cat >"$dir/mkimg.py" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile, zlib

MTIME = 1700000000
layout, tag, spec_path = sys.argv[1:4]
spec = json.load(open(spec_path))
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

def put_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    size = os.path.getsize(path)
    os.replace(path, os.path.join(blobs, d))
    return "sha256:" + d, size

TYPES = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
         "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE,
         "p": tarfile.FIFOTYPE}

def entries_tar(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["n"])
            ti.type = TYPES[e.get("t", "f")]
            ti.mode = int(e.get("m", "0755" if e.get("t") == "d" else "0644"), 8)
            ti.uid, ti.gid = e.get("u", 0), e.get("g", 0)
            ti.uname = ti.gname = ""
            ti.mtime = MTIME
            ti.linkname = e.get("l", "")
            if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = e.get("maj", 1), e.get("min", 3)
            data = e.get("d", "").encode()
            if e.get("x"):
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["x"].items()}
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return raw.getvalue()

def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as g:
        g.write(data)
    return out.getvalue()

def bomb(gib, path):
    ti = tarfile.TarInfo("zeros")
    ti.size, ti.mtime, ti.mode = gib << 30, MTIME, 0o644
    head = ti.tobuf(tarfile.PAX_FORMAT)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        f.write(c.compress(head) + c.flush(zlib.Z_FULL_FLUSH))
        # After a full flush the compressor starts afresh: every 1 MiB block of zeros
        # compresses to the same bytes, which are then written gib * 1024 times.
        b1 = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        b2 = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        assert b1 == b2
        f.write(b1 * 2)
        rep = b1 * 1024
        for _ in range(gib - 1):
            f.write(rep)
        f.write(b1 * 1022)
        f.write(c.compress(bytes(1024)) + c.flush(zlib.Z_FINISH))
        f.write(b"\x00" * 8)  # CRC and size: never reached by a reader that stops in time

def many(n, path):
    ti = tarfile.TarInfo("d00/f0000")
    ti.mtime, ti.mode, ti.size = MTIME, 0o644, 0
    tmpl = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
    assert len(tmpl) == 512
    tmpl[148:156] = b" " * 8
    # Only the 9 name bytes differ between headers: the checksum is the rest's sum plus theirs.
    rest = sum(tmpl) - sum(tmpl[0:9])
    mid, tail = bytes(tmpl[9:148]), bytes(tmpl[156:512])
    h = hashlib.sha256()
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for start in range(0, n, 10000):
            batch = []
            for i in range(start, min(n, start + 10000)):
                name = b"d%02d/f%04d" % (i // 10000, i % 10000)
                batch += (name, mid, b"%06o\x00 " % (rest + sum(name)), tail)
            blk = b"".join(batch)
            h.update(blk)
            out.write(c.compress(blk))
        h.update(bytes(1024))
        out.write(c.compress(bytes(1024)) + c.flush())
    return "sha256:" + h.hexdigest()

layers, diffs = [], []
for i, l in enumerate(spec["layers"]):
    if "entries" in l:
        tar = entries_tar(l["entries"])
        diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layers.append(put(gz(tar)))
    elif "bomb_gib" in l:
        p = os.path.join(layout, "bomb.tmp")
        bomb(l["bomb_gib"], p)
        diffs.append("sha256:" + "0" * 64)
        layers.append(put_file(p))
    else:
        p = os.path.join(layout, "many.tmp")
        diffs.append(many(l["many"], p))
        layers.append(put_file(p))
config = {"architecture": "amd64", "os": "linux", "config": {},
          "rootfs": {"type": "layers", "diff_ids": spec.get("diff_ids", diffs)}}
cd, cs = put(json.dumps(config, separators=(",", ":")).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                       for d, s in layers]}
md, ms = put(json.dumps(manifest, separators=(",", ":")).encode())
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print(md)
EOF
	cat >"$dir/tree.py" <<'EOF'
# tree.py store STORE ID START | dir DIR START | umoci BUNDLE: the merged root filesystem (of an
# image in a store, of a directory such as an overlay mount, of a umoci bundle), one line an entry:
#   PATH TYPE MODE UID:GID SIZE SHA256|- LINK-TARGET|- XATTRS|- MTIME LINKGROUP|-
# Owners are container IDs. The store's layers are merged as overlay does with userxattr:
# walked from the top layer down, a 0/0 character device hides the path in lower layers, a
# directory with user.overlay.opaque=y hides the lower layers' contents under it, a non-directory
# hides the lower layers' path and everything below it; a directory's own attributes come from
# the topmost layer that has it. LINKGROUP: the first path (sorted) of the paths that share the
# inode, for regular files with more than one name in the merged tree.
import hashlib, json, os, stat, sys

HIDE_X = ("user.overlay.", "trusted.overlay.", "user.rootlesscontainers")

def attrs(full):
    st = os.lstat(full)
    m = st.st_mode
    t = ("d" if stat.S_ISDIR(m) else "f" if stat.S_ISREG(m) else "l" if stat.S_ISLNK(m)
         else "c" if stat.S_ISCHR(m) else "b" if stat.S_ISBLK(m) else "p" if stat.S_ISFIFO(m) else "?")
    xs = []
    try:
        names = os.listxattr(full, follow_symlinks=False)
    except OSError:
        names = []
    for n in sorted(names):
        if n.startswith(HIDE_X):
            continue
        v = os.getxattr(full, n, follow_symlinks=False)
        xs.append("%s=%s" % (n, v.hex()))
    return st, t, xs

def sha(full):
    h = hashlib.sha256()
    with open(full, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

def walk(root):
    out = []
    def rec(rel):
        full = os.path.join(root, rel) if rel else root
        for n in sorted(os.listdir(full)):
            r = os.path.join(rel, n) if rel else n
            out.append(r)
            if os.path.isdir(os.path.join(root, r)) and not os.path.islink(os.path.join(root, r)):
                rec(r)
    rec("")
    return out

def is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0

def opaque(full):
    try:
        return os.getxattr(full, "user.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False

def ancestors(p):
    parts = p.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]

def emit(entries, owner):
    # entries: path -> full host path
    groups = {}
    rows = {}
    for p, full in entries.items():
        st, t, xs = attrs(full)
        u, g = owner(st, full)
        size = st.st_size if t == "f" else 0
        digest = sha(full) if t == "f" else "-"
        link = os.readlink(full) if t == "l" else "-"
        mt = int(st.st_mtime)
        rows[p] = [p, t, "%04o" % stat.S_IMODE(st.st_mode), "%s:%s" % (u, g), str(size), digest,
                   link, ",".join(xs) or "-", str(mt)]
        if t == "f":
            groups.setdefault((st.st_dev, st.st_ino), []).append(p)
    lg = {}
    for ps in groups.values():
        if len(ps) > 1:
            for p in ps:
                lg[p] = sorted(ps)[0]
    for p in sorted(rows):
        print(" ".join(rows[p] + [lg.get(p, "-")]))

def host_owner(start):
    tu = int(os.environ["TU_UID"]); tg = int(os.environ["TU_GID"]); start = int(start)
    def conv(h, me):
        if h == me:
            return "0"
        if start <= h < start + 65536:
            return str(h - start + 1)
        return "host%d" % h
    return lambda st, full: (conv(st.st_uid, tu), conv(st.st_gid, tg))

def plain(root, start):
    emit({p: os.path.join(root, p) for p in walk(root)}, host_owner(start))

def store(s, image_id, start):
    rec = json.load(open(os.path.join(s, "images", image_id.split(":")[1], "image.json")))
    dirs = [os.path.join(s, "layers", c.split(":")[1], "diff") for c in rec["layers"]]
    merged, blocked = {}, set()
    for d in reversed(dirs):
        new_blocks = set()
        for p in walk(d):
            if p in blocked or any(a in blocked for a in ancestors(p)):
                continue
            full = os.path.join(d, p)
            st = os.lstat(full)
            if is_whiteout(st):
                new_blocks.add(p)
                continue
            if p not in merged:
                merged[p] = full
            if not stat.S_ISDIR(st.st_mode) or opaque(full):
                new_blocks.add(p)
        blocked |= new_blocks
    emit(merged, host_owner(start))

def umoci(bundle):
    root = os.path.join(bundle, "rootfs")
    def owner(st, full):
        # umoci --rootless keeps the image's owners in user.rootlesscontainers (a protobuf
        # Resource{uint32 uid = 1; uint32 gid = 2}, as rootlesscontainers-proto defines it;
        # umoci's mtree manifest records the same xattr); absent means 0:0.
        try:
            v = os.getxattr(full, "user.rootlesscontainers", follow_symlinks=False)
        except OSError:
            return "0", "0"
        ids, i = {1: 0, 2: 0}, 0
        while i < len(v):
            key = v[i]; i += 1
            n = shift = 0
            while True:
                b = v[i]; i += 1
                n |= (b & 0x7f) << shift; shift += 7
                if not b & 0x80:
                    break
            ids[key >> 3] = n
        # NoopID (2^32-1) means "not changed": the unpacking user's own ID, container 0.
        return tuple("0" if ids[k] == 0xFFFFFFFF else str(ids[k]) for k in (1, 2))
    emit({p: os.path.join(root, p) for p in walk(root)}, owner)

if sys.argv[1] == "store":
    store(*sys.argv[2:5])
elif sys.argv[1] == "dir":
    plain(*sys.argv[2:4])
else:
    umoci(sys.argv[2])
EOF
}

pr_image() {
	python3 "$PR_TOOLS/mkimg.py" "$1" "$2" "$3" || fail "cannot make the image $1:$2 from $3"
}

pr_store_tree() {
	python3 "$PR_TOOLS/tree.py" store "$1" "$2" "$3"
}

# pr_overlay_tree STORE ID START: the listing of the image's layers mounted by the kernel as a
# read-only overlay (lowerdir top first, userxattr, as a rootless mount reads them), in a private
# mount namespace. Needs root and at least two layers.
pr_overlay_tree() {
	local lower="" c m
	m=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/ovl.XXXXXX")
	for c in $(jq -r '.layers[]' "$1/images/${2#sha256:}/image.json"); do
		lower="$1/layers/${c#sha256:}/diff${lower:+:}$lower"
	done
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare -m sh -c 'mount -t overlay overlay -o "ro,userxattr,lowerdir=$1" "$2" &&
		python3 "$3/tree.py" dir "$2" "$4"' sh "$lower" "$m" "$PR_TOOLS" "$3"
}

pr_umoci_tree() {
	python3 "$PR_TOOLS/tree.py" umoci "$1"
}

pr_store_state() {
	[ -e "$1" ] || {
		echo "(no store)"
		return 0
	}
	(
		cd "$1" && find . -printf '%p %y %s %m %U %G %T@\n' | LC_ALL=C sort &&
			find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
	)
}
