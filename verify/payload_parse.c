#include "imgtrust/payload.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/envelope.h"
#include "imgtrust/json.h"
#include "imgtrust/xalloc.h"

/* The member path for messages: "critical.image" + key, as it_json_path_key writes it. */
static char *member_path(const char *parent, const char *key)
{
        struct it_buf path = IT_BUF_INIT;
        it_buf_adds(&path, parent);
        it_json_path_key(&path, key);
        return it_buf_detach(&path);
}

/* Require obj (at path, "" for the top level) to hold exactly the names in `want`. */
static int exact_members(const json_t *obj, const char *path, const char *const *want,
                         it_error *err)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v)
        {
                bool known = false;
                for (const char *const *w = want; *w; w++)
                        known = known || strcmp(key, *w) == 0;
                if (!known) {
                        _cleanup_free_ char *p = member_path(path, key);
                        return it_error_set(err, IT_EINPUT, "payload: %s: unknown member", p);
                }
        }
        for (const char *const *w = want; *w; w++) {
                if (!json_object_get(obj, *w)) {
                        _cleanup_free_ char *p = member_path(path, *w);
                        return it_error_set(err, IT_EINPUT, "payload: %s: missing", p);
                }
        }
        return 0;
}

static int want_type(const json_t *v, json_type type, const char *path, it_error *err)
{
        if (json_typeof(v) == type)
                return 0;
        return it_error_set(err, IT_EINPUT, "payload: %s: expected %s, got %s", path,
                            type == JSON_OBJECT ? "an object" : "a string", it_json_type_name(v));
}

static int parse_critical(const json_t *c, struct sig_payload *out, it_error *err)
{
        static const char *const crit[] = {"type", "image", "identity", NULL};
        static const char *const image[] = {"docker-manifest-digest", NULL};
        static const char *const ident[] = {"docker-reference", NULL};
        int rc;
        if ((rc = want_type(c, JSON_OBJECT, "critical", err)) ||
            (rc = exact_members(c, "critical", crit, err)))
                return rc;

        const json_t *type = json_object_get(c, "type");
        if ((rc = want_type(type, JSON_STRING, "critical.type", err)))
                return rc;
        if (json_string_length(type) != strlen(IT_PAYLOAD_TYPE) ||
            strcmp(json_string_value(type), IT_PAYLOAD_TYPE) != 0)
                return it_error_set(err, IT_EINPUT,
                                    "payload: critical.type: not \"" IT_PAYLOAD_TYPE "\"");

        const json_t *img = json_object_get(c, "image");
        if ((rc = want_type(img, JSON_OBJECT, "critical.image", err)) ||
            (rc = exact_members(img, "critical.image", image, err)))
                return rc;
        const json_t *dg = json_object_get(img, "docker-manifest-digest");
        if ((rc = want_type(dg, JSON_STRING, "critical.image.docker-manifest-digest", err)))
                return rc;
        const char *ds = json_string_value(dg);
        if ((rc = digest_parse(ds, &out->digest, err)))
                return it_error_wrap(err, "payload: critical.image.docker-manifest-digest");
        /* digest_parse accepted it, so it fits. */
        snprintf(out->digest_str, sizeof out->digest_str, "%s", ds);

        const json_t *id = json_object_get(c, "identity");
        if ((rc = want_type(id, JSON_OBJECT, "critical.identity", err)) ||
            (rc = exact_members(id, "critical.identity", ident, err)))
                return rc;
        const json_t *ref = json_object_get(id, "docker-reference");
        if ((rc = want_type(ref, JSON_STRING, "critical.identity.docker-reference", err)))
                return rc;
        out->docker_reference = xstrdup(json_string_value(ref));
        return 0;
}

static int parse_optional(const json_t *o, struct sig_payload *out, it_error *err)
{
        int rc;
        if ((rc = want_type(o, JSON_OBJECT, "optional", err)))
                return rc;
        /* Unknown members are ignored; null is upstream's empty value, so treat it as absent. */
        const json_t *cr = json_object_get(o, "creator");
        if (cr && !json_is_null(cr)) {
                if (!json_is_string(cr))
                        return it_error_set(err, IT_EINPUT,
                                            "payload: optional.creator: expected a string, got %s",
                                            it_json_type_name(cr));
                out->creator = xstrdup(json_string_value(cr));
        }
        const json_t *ts = json_object_get(o, "timestamp");
        if (!ts || json_is_null(ts))
                return 0;
        if (json_is_integer(ts)) {
                out->timestamp = (int64_t)json_integer_value(ts);
        } else if (json_is_real(ts)) {
                /* Upstream reads a float64 and wants it integral: 1.7e9 is fine, 0.5 is not. */
                double d = json_real_value(ts);
                if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                        return it_error_set(err, IT_EINPUT,
                                            "payload: optional.timestamp: %.17g is outside the "
                                            "int64 range",
                                            d);
                if ((double)(int64_t)d != d)
                        return it_error_set(err, IT_EINPUT,
                                            "payload: optional.timestamp: %.17g is not an integer",
                                            d);
                out->timestamp = (int64_t)d;
        } else {
                return it_error_set(err, IT_EINPUT,
                                    "payload: optional.timestamp: expected a number, got %s",
                                    it_json_type_name(ts));
        }
        out->has_timestamp = true;
        return 0;
}

int payload_parse(const void *data, size_t len, struct sig_payload *out, it_error *err)
{
        static const char *const top[] = {"critical", "optional", NULL};
        memset(out, 0, sizeof *out);
        _cleanup_json_ json_t *j = NULL;
        int rc = it_json_parse(data, len, IT_SIG_PAYLOAD_MAX, "payload", &j, err);
        if (rc)
                return rc;
        if (!json_is_object(j))
                return it_error_set(err, IT_EINPUT, "payload: expected an object, got %s",
                                    it_json_type_name(j));
        if ((rc = exact_members(j, "", top, err)) ||
            (rc = parse_critical(json_object_get(j, "critical"), out, err)) ||
            (rc = parse_optional(json_object_get(j, "optional"), out, err))) {
                sig_payload_free(out);
                return rc;
        }
        return 0;
}

void sig_payload_free(struct sig_payload *p)
{
        free(p->docker_reference);
        free(p->creator);
        memset(p, 0, sizeof *p);
}
