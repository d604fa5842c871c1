/* Local image sources: an OCI layout written by hand, and the dir: and docker-archive: copies
 * skopeo makes of it, read and compared with what `skopeo inspect --raw` says; hostile layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/manifest.h"
#include "imgtrust/source.h"
#include "imgtrust/xalloc.h"

struct fixture {
        char dir[64];
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *cmd = NULL;
        assert_true(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        int rc = system(cmd);
        if (rc != 0)
                fail_msg("command failed (%d): %s", rc, cmd);
        free(cmd);
}

/* A layout with one image tagged "tag": a layer (tar of one file), an OCI config and manifest.
 * The digests are left in files so tests can name them. */
static const char make_layout[] =
    "set -e; cd \"$T\"; mkdir -p L/blobs/sha256 work; cd work; echo hi > f; "
    "tar --owner=0 --group=0 --mtime=@0 -cf layer.tar f; "
    "L=$(sha256sum layer.tar | cut -d' ' -f1); LS=$(stat -c%s layer.tar); "
    "cp layer.tar ../L/blobs/sha256/$L; echo sha256:$L > ../layer.digest; "
    "printf '{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
    "\"diff_ids\":[\"sha256:%s\"]},\"config\":{}}' $L > cfg; "
    "C=$(sha256sum cfg | cut -d' ' -f1); CS=$(stat -c%s cfg); cp cfg ../L/blobs/sha256/$C; "
    "echo sha256:$C > ../config.digest; "
    "printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
    "\"sha256:%s\",\"size\":%s},\"layers\":[{\"mediaType\":"
    "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%s}]}' "
    "$C $CS $L $LS > man; "
    "M=$(sha256sum man | cut -d' ' -f1); MS=$(stat -c%s man); cp man ../L/blobs/sha256/$M; "
    "echo sha256:$M > ../manifest.digest; echo $MS > ../manifest.size; "
    "printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
    "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s,"
    "\"annotations\":{\"org.opencontainers.image.ref.name\":\"tag\"}}]}' $M $MS "
    "> ../L/index.json; "
    "echo '{\"imageLayoutVersion\": \"1.0.0\"}' > ../L/oci-layout; cd ..; "
    "skopeo copy -q oci:L:tag dir:D; "
    "skopeo copy -q oci:L:tag docker-archive:A.tar:name:tag; "
    "skopeo inspect --raw oci:L:tag > oci.raw; "
    "skopeo inspect --raw dir:D > dir.raw; "
    "skopeo inspect --raw docker-archive:A.tar > archive.raw; "
    "skopeo inspect docker-archive:A.tar | sed -n 's/^    \"Digest\": \"\\(.*\\)\",$/\\1/p' "
    "> archive.digest";

static int group_setup(void **state)
{
        struct fixture *f = xcalloc(1, sizeof *f);
        strcpy(f->dir, "/tmp/it-source-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        setenv("T", f->dir, 1);
        if (system(make_layout) != 0)
                return -1;
        *state = f;
        return 0;
}

static int group_teardown(void **state)
{
        struct fixture *f = *state;
        if (f) {
                _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", f->dir);
                if (system(cmd) != 0)
                        return -1;
                free(f);
        }
        return 0;
}

/* The first line of a fixture file. */
static char *fixture_line(const struct fixture *f, const char *name)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", f->dir, name);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *data;
        size_t len;
        if (it_file_read(p, 1 << 20, &data, &len, &err))
                fail_msg("%s: %s", p, err.msg);
        data[strcspn(data, "\n")] = '\0';
        return data;
}

static void assert_digest_str(const struct it_digest *d, const char *want)
{
        char s[IT_DIGEST_STR_MAX];
        digest_format(d, s);
        assert_string_equal(s, want);
}

/* Every blob opens and hashes to its digest. */
static void check_blobs(struct it_source *src)
{
        for (size_t i = 0; i < src->nblobs; i++) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                _cleanup_close_ int fd = -1;
                int64_t size;
                if (source_open_blob(src, &src->blobs[i].digest, &fd, &size, &err))
                        fail_msg("blob %zu: %s", i, err.msg);
                if (src->blobs[i].size >= 0)
                        assert_int_equal(size, src->blobs[i].size);
                _cleanup_free_ char *buf = xmalloc((size_t)size + 1);
                size_t n = 0;
                while (n < (size_t)size) {
                        ssize_t r = read(fd, buf + n, (size_t)size - n);
                        assert_true(r > 0);
                        n += (size_t)r;
                }
                struct it_digest got;
                digest_compute(src->blobs[i].digest.alg, buf, n, &got);
                assert_true(digest_equal(&got, &src->blobs[i].digest));
        }
}

static struct it_source *open_ok(const char *spec)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_source *src = NULL;
        if (source_open(spec, &src, &err)) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("%s: %s", spec, line);
        }
        return src;
}

static void expect_open_error(const char *spec, int code, const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_source *src = NULL;
        assert_int_equal(source_open(spec, &src, &err), code);
        assert_null(src);
        _cleanup_free_ char *line = it_error_format(&err);
        assert_string_equal(line, want);
}

/* Bytes as skopeo reads them, media type, digest and the two blobs. */
static void check_image(const struct fixture *f, const char *spec, const char *raw_file,
                        const char *mt, const char *layer_mt, const char *config_mt)
{
        _cleanup_source_ struct it_source *src = open_ok(spec);
        _cleanup_free_ char *rp = xasprintf("%s/%s", f->dir, raw_file);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *raw = NULL;
        size_t rlen;
        assert_int_equal(it_file_read(rp, 1 << 20, &raw, &rlen, &err), 0);
        assert_int_equal(src->manifest_len, rlen);
        assert_memory_equal(src->manifest, raw, src->manifest_len);
        assert_string_equal(src->media_type, mt);
        struct it_digest want;
        digest_compute(IT_DIGEST_SHA256, raw, src->manifest_len, &want);
        assert_true(digest_equal(&src->digest, &want));

        _cleanup_free_ char *cd = fixture_line(f, "config.digest");
        _cleanup_free_ char *ld = fixture_line(f, "layer.digest");
        assert_int_equal(src->nblobs, 2);
        assert_digest_str(&src->blobs[0].digest, cd);
        assert_string_equal(src->blobs[0].media_type, config_mt);
        assert_digest_str(&src->blobs[1].digest, ld);
        assert_string_equal(src->blobs[1].media_type, layer_mt);
        assert_int_equal(src->blobs[1].size, 10240);
        check_blobs(src);
}

static void test_oci(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *spec = xasprintf("oci:%s/L:tag", f->dir);
        check_image(f, spec, "oci.raw", IT_MT_OCI_MANIFEST,
                    "application/vnd.oci.image.layer.v1.tar",
                    "application/vnd.oci.image.config.v1+json");
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_source_ struct it_source *src = open_ok(spec);
        assert_digest_str(&src->digest, md);
        assert_string_equal(src->tag, "tag");
        /* The only image needs no tag. */
        _cleanup_free_ char *notag = xasprintf("oci:%s/L", f->dir);
        _cleanup_source_ struct it_source *s2 = open_ok(notag);
        assert_digest_str(&s2->digest, md);
        assert_null(s2->tag);
}

static void test_dir(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *spec = xasprintf("dir:%s/D", f->dir);
        check_image(f, spec, "dir.raw", IT_MT_OCI_MANIFEST,
                    "application/vnd.oci.image.layer.v1.tar",
                    "application/vnd.oci.image.config.v1+json");
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_source_ struct it_source *src = open_ok(spec);
        assert_digest_str(&src->digest, md);
}

static void test_archive(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *spec = xasprintf("docker-archive:%s/A.tar", f->dir);
        /* The synthesised manifest is byte for byte containers/image's. */
        check_image(f, spec, "archive.raw", IT_MT_DOCKER_V2S2,
                    "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "application/vnd.docker.container.image.v1+json");
        _cleanup_free_ char *ad = fixture_line(f, "archive.digest");
        assert_int_equal(strlen(ad), 71);
        _cleanup_source_ struct it_source *src = open_ok(spec);
        assert_digest_str(&src->digest, ad);
        /* Chosen by name, short or as stored. */
        _cleanup_free_ char *s2 = xasprintf("docker-archive:%s/A.tar:name:tag", f->dir);
        _cleanup_source_ struct it_source *src2 = open_ok(s2);
        assert_digest_str(&src2->digest, ad);
        _cleanup_free_ char *s3 =
            xasprintf("docker-archive:%s/A.tar:docker.io/library/name:tag", f->dir);
        _cleanup_source_ struct it_source *src3 = open_ok(s3);
        assert_digest_str(&src3->digest, ad);
        _cleanup_free_ char *s4 = xasprintf("docker-archive:%s/A.tar:other:tag", f->dir);
        _cleanup_free_ char *want =
            xasprintf("%s: manifest.json: no image tagged \"other:tag\" (tags: "
                      "\"docker.io/library/name:tag\")",
                      s4);
        expect_open_error(s4, IT_EINPUT, want);
}

/* Archives made with tar(1) in the shape docker save writes, with one thing wrong each. */
static void test_archive_hostile(void **state)
{
        struct fixture *f = *state;
        /* layer.tar links out of the archive. */
        sh("set -e; cd '%s'; rm -rf AX; mkdir AX; cd AX; tar xf ../A.tar; "
           "l=$(ls -d */ | head -1); l=${l%%/}; c=$(ls *.json | grep -v manifest); "
           "t=$(ls *.tar); "
           "printf '[{\"Config\":\"%%s\",\"RepoTags\":[],\"Layers\":[\"%%s/layer.tar\"]}]' "
           "$c $l > manifest.json; "
           "rm $l/layer.tar; ln -s ../../../etc/passwd $l/layer.tar; "
           "tar --format=posix -cf ../AX1.tar *; "
           "rm $l/layer.tar; ln -s /etc/passwd $l/layer.tar; tar -cf ../AX2.tar *; "
           "rm $l/layer.tar; ln -s layer.tar $l/layer.tar; tar -cf ../AX3.tar *; "
           "rm $l/layer.tar; gzip -n $t; "
           "printf '[{\"Config\":\"%%s\",\"RepoTags\":[],\"Layers\":[\"%%s.gz\"]}]' "
           "$c $t > manifest.json; tar -cf ../AX4.tar *",
           f->dir);
        struct {
                const char *file;
                int code;
                const char *tail;
        } cases[] = {
            {"AX1.tar", IT_EINPUT, "symlink leads out of the archive"},
            {"AX2.tar", IT_EINPUT, "symlink with an absolute target"},
            {"AX3.tar", IT_EINPUT, "more than 8 symlinks"},
            {"AX4.tar", IT_EUNSUPPORTED, "compressed layers are not supported"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                _cleanup_free_ char *spec =
                    xasprintf("docker-archive:%s/%s", f->dir, cases[i].file);
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                struct it_source *src = NULL;
                assert_int_equal(source_open(spec, &src, &err), cases[i].code);
                _cleanup_free_ char *line = it_error_format(&err);
                size_t n = strlen(line), t = strlen(cases[i].tail);
                if (strncmp(line, spec, strlen(spec)) || n < t ||
                    strcmp(line + n - t, cases[i].tail))
                        fail_msg("%s: unexpected error %s", cases[i].file, line);
        }
        /* docker save's shape: Layers name <id>/layer.tar, a symlink to the layer saved first;
         * names longer than ustar holds, as pax and as GNU long names. */
        _cleanup_free_ char *ad = fixture_line(f, "archive.digest");
        sh("set -e; cd '%s'; rm -rf AV; mkdir AV; cd AV; tar xf ../A.tar; "
           "l=$(ls -d */ | head -1); l=${l%%/}; c=$(ls *.json | grep -v manifest); "
           "t=$(ls *.tar); d=$l/$(printf 'x%%.0s' $(seq 1 120)); mkdir $d; "
           "mv $t $d/$t; ln -sf ../$d/$t $l/layer.tar; "
           "printf '[{\"Config\":\"%%s\",\"RepoTags\":[],\"Layers\":[\"./%%s/layer.tar\"]}]' "
           "$c $l > manifest.json; tar --format=posix -cf ../AV1.tar *; "
           "tar --format=gnu -cf ../AV2.tar *; tar -cf ../AV3.tar .",
           f->dir);
        for (int i = 1; i <= 3; i++) {
                _cleanup_free_ char *spec = xasprintf("docker-archive:%s/AV%d.tar", f->dir, i);
                _cleanup_source_ struct it_source *src = open_ok(spec);
                assert_digest_str(&src->digest, ad);
                check_blobs(src);
        }

        /* A truncated archive and one with a corrupted header. */
        sh("set -e; cd '%s'; head -c 1000 A.tar > AT.tar; cp A.tar AC.tar; "
           "printf 'Z' | dd of=AC.tar bs=1 seek=0 conv=notrunc status=none",
           f->dir);
        _cleanup_free_ char *t = xasprintf("docker-archive:%s/AT.tar", f->dir);
        _cleanup_free_ char *tw = xasprintf("%s: tar header at offset 0: entry runs past the end "
                                            "of the archive",
                                            t);
        expect_open_error(t, IT_EINPUT, tw);
        _cleanup_free_ char *c = xasprintf("docker-archive:%s/AC.tar", f->dir);
        _cleanup_free_ char *cw = xasprintf("%s: tar header at offset 0: bad checksum", c);
        expect_open_error(c, IT_EINPUT, cw);
}

static void test_oci_nested_index(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf N; cp -r L N; M=$(cat manifest.digest); MS=$(cat "
           "manifest.size); printf '{\"schemaVersion\":2,\"mediaType\":"
           "\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":"
           "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%%s\",\"size\":%%s,"
           "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}' $M $MS > idx; "
           "I=$(sha256sum idx | cut -d' ' -f1); IS=$(stat -c%%s idx); cp idx N/blobs/sha256/$I; "
           "echo sha256:$I > index.digest; "
           "printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
           "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:%%s\",\"size\":%%s,"
           "\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}}]}' $I $IS "
           "> N/index.json",
           f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/N:multi", f->dir);
        _cleanup_source_ struct it_source *src = open_ok(spec);
        assert_string_equal(src->media_type, IT_MT_OCI_INDEX);
        _cleanup_free_ char *id = fixture_line(f, "index.digest");
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_free_ char *cd = fixture_line(f, "config.digest");
        _cleanup_free_ char *ld = fixture_line(f, "layer.digest");
        assert_digest_str(&src->digest, id);
        assert_int_equal(src->nblobs, 3);
        assert_digest_str(&src->blobs[0].digest, md);
        assert_string_equal(src->blobs[0].media_type, IT_MT_OCI_MANIFEST);
        assert_digest_str(&src->blobs[1].digest, cd);
        assert_digest_str(&src->blobs[2].digest, ld);
        check_blobs(src);

        /* skopeo's dir: copy keeps the index and stores the child as <hex>.manifest.json. */
        sh("set -e; cd '%s'; rm -rf DN; skopeo copy -q --all oci:N:multi dir:DN; "
           "skopeo inspect --raw dir:DN > dn.raw; ls DN/$(cut -d: -f2 "
           "manifest.digest).manifest.json",
           f->dir);
        _cleanup_free_ char *dspec = xasprintf("dir:%s/DN", f->dir);
        _cleanup_source_ struct it_source *dsrc = open_ok(dspec);
        _cleanup_free_ char *raw = NULL;
        _cleanup_free_ char *rp = xasprintf("%s/dn.raw", f->dir);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        size_t rlen;
        assert_int_equal(it_file_read(rp, 1 << 20, &raw, &rlen, &err), 0);
        assert_int_equal(dsrc->manifest_len, rlen);
        assert_memory_equal(dsrc->manifest, raw, rlen);
        assert_digest_str(&dsrc->digest, id);
        assert_int_equal(dsrc->nblobs, 3);
        assert_digest_str(&dsrc->blobs[0].digest, md);
        check_blobs(dsrc);
}

static void test_oci_tag_not_found(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *spec = xasprintf("oci:%s/L:nope", f->dir);
        _cleanup_free_ char *want =
            xasprintf("%s: index.json: no image tagged \"nope\" (tags: \"tag\")", spec);
        expect_open_error(spec, IT_EINPUT, want);
}

static void test_oci_bad_digest_before_open(void **state)
{
        struct fixture *f = *state;
        /* A file the traversal would reach if the digest were used as a name. */
        sh("set -e; cd '%s'; rm -rf H; mkdir -p H/blobs/sha256; echo x > secret; "
           "printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
           "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
           "\"sha256:../../secret\",\"size\":2}]}' > H/index.json",
           f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/H", f->dir);
        _cleanup_free_ char *want =
            xasprintf("%s: index.json: manifests[0].digest: invalid digest "
                      "\"sha256:../../secret\": sha256 digest must be 64 lowercase hex "
                      "characters",
                      spec);
        expect_open_error(spec, IT_EINPUT, want);
}

static void test_oci_symlinks_refused(void **state)
{
        struct fixture *f = *state;
        /* The layer blob points out of the layout; the config blob to a file inside it. */
        sh("set -e; cd '%s'; rm -rf S; cp -r L S; echo outside > outside; "
           "L=$(cut -d: -f2 layer.digest); C=$(cut -d: -f2 config.digest); "
           "rm S/blobs/sha256/$L; ln -s '%s/outside' S/blobs/sha256/$L; "
           "mv S/blobs/sha256/$C S/cfg; ln -s ../../cfg S/blobs/sha256/$C",
           f->dir, f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/S:tag", f->dir);
        _cleanup_source_ struct it_source *src = open_ok(spec);
        for (size_t i = 0; i < 2; i++) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                _cleanup_close_ int fd = -1;
                int64_t size;
                assert_int_equal(source_open_blob(src, &src->blobs[i].digest, &fd, &size, &err),
                                 IT_EINPUT);
                assert_int_equal(fd, -1);
                _cleanup_free_ char *line = it_error_format(&err);
                _cleanup_free_ char *want =
                    xasprintf("%s: blobs/sha256/%s: is or passes through a symlink", spec,
                              src->blobs[i].digest.hex);
                assert_string_equal(line, want);
        }
        /* A symlinked manifest blob fails the open itself. */
        sh("set -e; cd '%s'; M=$(cut -d: -f2 manifest.digest); mv S/blobs/sha256/$M S/man; "
           "ln -s ../../man S/blobs/sha256/$M",
           f->dir);
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_free_ char *want = xasprintf(
            "%s: index.json: manifests[0]: blobs/sha256/%s: is or passes through a symlink", spec,
            md + 7);
        expect_open_error(spec, IT_EINPUT, want);
}

static void test_oci_missing_blob(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf M; cp -r L M; rm M/blobs/sha256/$(cut -d: -f2 layer.digest)",
           f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/M:tag", f->dir);
        _cleanup_source_ struct it_source *src = open_ok(spec);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_close_ int fd = -1;
        int64_t size;
        assert_int_equal(source_open_blob(src, &src->blobs[1].digest, &fd, &size, &err), IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *want = xasprintf("%s: blobs/sha256/%s: No such file or directory",
                                              spec, src->blobs[1].digest.hex);
        assert_string_equal(line, want);

        /* A missing manifest blob fails the open. */
        sh("set -e; cd '%s'; rm M/blobs/sha256/$(cut -d: -f2 manifest.digest)", f->dir);
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_free_ char *want2 =
            xasprintf("%s: index.json: manifests[0]: blobs/sha256/%s: No such file or directory",
                      spec, md + 7);
        expect_open_error(spec, IT_EINPUT, want2);
}

static void test_oci_tampered_manifest(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf X; cp -r L X; M=$(cut -d: -f2 manifest.digest); "
           "chmod u+w X/blobs/sha256/$M; sed -i 's/layers/Layers/' X/blobs/sha256/$M",
           f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/X:tag", f->dir);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_source *src = NULL;
        assert_int_equal(source_open(spec, &src, &err), IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *md = fixture_line(f, "manifest.digest");
        _cleanup_free_ char *prefix = xasprintf(
            "%s: index.json: manifests[0]: blob %s: content has digest sha256:", spec, md);
        if (strncmp(line, prefix, strlen(prefix)) != 0)
                fail_msg("unexpected error %s", line);
}

static void test_oci_index_too_large(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf B; mkdir B; head -c %u /dev/zero | tr '\\0' ' ' > "
           "B/index.json",
           f->dir, IT_SOURCE_JSON_MAX + 1);
        _cleanup_free_ char *spec = xasprintf("oci:%s/B", f->dir);
        _cleanup_free_ char *want =
            xasprintf("%s: index.json: too large (%u bytes; at most %u are read)", spec,
                      IT_SOURCE_JSON_MAX + 1, IT_SOURCE_JSON_MAX);
        expect_open_error(spec, IT_EINPUT, want);
}

static void test_oci_several_untagged(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf U; cp -r L U; M=$(cat manifest.digest); MS=$(cat "
           "manifest.size); printf '{\"schemaVersion\":2,\"manifests\":["
           "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%%s\","
           "\"size\":%%s},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
           "\"digest\":\"%%s\",\"size\":%%s}]}' $M $MS $M $MS > U/index.json",
           f->dir);
        _cleanup_free_ char *spec = xasprintf("oci:%s/U", f->dir);
        _cleanup_free_ char *want = xasprintf(
            "%s: index.json: 2 images and no tag given (choose one with oci:PATH:TAG)", spec);
        expect_open_error(spec, IT_EINPUT, want);
}

static void test_bad_specs(void **state)
{
        struct fixture *f = *state;
        expect_open_error("docker://x/y", IT_EINPUT,
                          "\"docker://x/y\": unknown source transport (expected oci:, dir: or "
                          "docker-archive:)");
        expect_open_error("oci:", IT_EINPUT, "oci:: empty path");
        _cleanup_free_ char *spec = xasprintf("oci:%s/none:tag", f->dir);
        _cleanup_free_ char *want =
            xasprintf("%s: %s/none: No such file or directory", spec, f->dir);
        expect_open_error(spec, IT_EINPUT, want);
        /* dir: takes the whole rest as the path. */
        _cleanup_free_ char *dspec = xasprintf("dir:%s/D:x", f->dir);
        _cleanup_free_ char *dwant =
            xasprintf("%s: %s/D:x: No such file or directory", dspec, f->dir);
        expect_open_error(dspec, IT_EINPUT, dwant);
}

static void test_dir_missing_blob(void **state)
{
        struct fixture *f = *state;
        sh("set -e; cd '%s'; rm -rf DM; cp -r D DM; rm DM/$(cut -d: -f2 config.digest)", f->dir);
        _cleanup_free_ char *spec = xasprintf("dir:%s/DM", f->dir);
        _cleanup_source_ struct it_source *src = open_ok(spec);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_close_ int fd = -1;
        int64_t size;
        assert_int_equal(source_open_blob(src, &src->blobs[0].digest, &fd, &size, &err), IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *want =
            xasprintf("%s: %s: No such file or directory", spec, src->blobs[0].digest.hex);
        assert_string_equal(line, want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_oci),
            cmocka_unit_test(test_dir),
            cmocka_unit_test(test_archive),
            cmocka_unit_test(test_archive_hostile),
            cmocka_unit_test(test_oci_nested_index),
            cmocka_unit_test(test_oci_tag_not_found),
            cmocka_unit_test(test_oci_bad_digest_before_open),
            cmocka_unit_test(test_oci_symlinks_refused),
            cmocka_unit_test(test_oci_missing_blob),
            cmocka_unit_test(test_oci_tampered_manifest),
            cmocka_unit_test(test_oci_index_too_large),
            cmocka_unit_test(test_oci_several_untagged),
            cmocka_unit_test(test_bad_specs),
            cmocka_unit_test(test_dir_missing_blob),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
