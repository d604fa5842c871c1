/* Fuzz target: OCI/podman seccomp JSON profiles (seccomp_profile_parse_json); a profile that
 * parses is also compiled with libseccomp and its BPF evaluated, so every accepted profile
 * builds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imgtrust/seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct it_seccomp_profile p;
        it_error err = IT_ERROR_INIT;
        seccomp_profile_init(&p);
        int rc = seccomp_profile_parse_json((const char *)data, size, &p, &err);
        if (rc < 0) {
                /* A failure always says why and leaves no rules behind. */
                if (!err.msg || p.nrules != 0)
                        abort();
        } else {
                scmp_filter_ctx ctx;
                it_error_clear(&err);
                if (seccomp_filter_build(&p, &ctx, &err) == 0) {
                        struct sock_filter *prog;
                        size_t len;
                        if (seccomp_filter_export_bpf(ctx, &prog, &len, &err) == 0) {
                                struct seccomp_data d = {.nr = 41, .arch = 0xc000003e};
                                uint32_t ret;
                                if (seccomp_bpf_eval(prog, len, &d, &ret, &err) < 0)
                                        abort(); /* libseccomp's own output must evaluate */
                                free(prog);
                        }
                        seccomp_release(ctx);
                }
        }
        it_error_clear(&err);
        seccomp_profile_free(&p);
        return 0;
}
