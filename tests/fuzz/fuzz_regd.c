/* Fuzz target: registries.d YAML parsing (regd_parse), merging a file with itself, and the
 * lookups that walk the parsed configuration. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imgtrust/ref.h"
#include "imgtrust/regd.h"

static const char *const refs[] = {
    "registry.example.com/team/api:1",
    "localhost:5000/ns/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "busybox",
};

static const char *const scopes[] = {"", "registry.example.com/team/api", "/x", "a/b/c"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct it_regd r = IT_REGD_INIT;
        it_error err = IT_ERROR_INIT;
        if (regd_parse((const char *)data, size, "fuzz.yaml", &r, &err) == 0) {
                /* The same content again conflicts unless it defines nothing. */
                it_error_clear(&err);
                int again = regd_parse((const char *)data, size, "again.yaml", &r, &err);
                if (again == 0 && (r.has_default || r.nscopes))
                        abort();
                for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
                        struct it_ref ref = IT_REF_INIT;
                        it_error_clear(&err);
                        if (ref_parse_normalized(refs[i], &ref, &err) != 0)
                                abort();
                        for (int mode = IT_REGD_READ; mode <= IT_REGD_WRITE; mode++) {
                                struct it_regd_choice c;
                                it_error_clear(&err);
                                if (regd_lookaside(&r, &ref, (enum it_regd_mode)mode, &c, &err) ==
                                    0) {
                                        char *url = NULL;
                                        it_error_clear(&err);
                                        if (regd_signature_url(
                                                c.url, ref.path,
                                                "sha256:0123456789abcdef0123456789abcdef0123456789"
                                                "abcdef0123456789abcdef",
                                                1, &url, &err) != 0)
                                                abort();
                                        free(url);
                                        regd_choice_free(&c);
                                }
                        }
                        (void)regd_use_sigstore_attachments(&r, &ref);
                        ref_free(&ref);
                }
                for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++)
                        (void)regd_podman_store(&r, scopes[i]);
        }
        it_error_clear(&err);
        regd_free(&r);
        return 0;
}
