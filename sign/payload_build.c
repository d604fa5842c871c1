#include "imgtrust/payload.h"

#include <inttypes.h>
#include <string.h>

#include "imgtrust/json.h"

void payload_build(const char *docker_reference, const char *digest, const char *creator,
                   int64_t timestamp, struct it_buf *out)
{
        it_buf_adds(out, "{\"critical\":{\"identity\":{\"docker-reference\":");
        it_json_write_go_string(out, docker_reference, strlen(docker_reference));
        it_buf_adds(out, "},\"image\":{\"docker-manifest-digest\":");
        it_json_write_go_string(out, digest, strlen(digest));
        it_buf_adds(out, "},\"type\":\"" IT_PAYLOAD_TYPE "\"},\"optional\":{");
        if (creator) {
                it_buf_adds(out, "\"creator\":");
                it_json_write_go_string(out, creator, strlen(creator));
                it_buf_addch(out, ',');
        }
        it_buf_addf(out, "\"timestamp\":%" PRId64 "}}", timestamp);
}
