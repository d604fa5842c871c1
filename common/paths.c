#include "imgtrust/paths.h"

#include <stdlib.h>

#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

/* The user's containers configuration directory, or NULL when neither variable is set. */
static char *user_config(const char *leaf)
{
        const char *xdg = getenv("XDG_CONFIG_HOME");
        if (xdg && *xdg)
                return xasprintf("%s/containers/%s", xdg, leaf);
        const char *home = getenv("HOME");
        if (home && *home)
                return xasprintf("%s/.config/containers/%s", home, leaf);
        return NULL;
}

static char *resolve(const char *explicit_path, const char *env, const char *leaf)
{
        if (explicit_path)
                return xstrdup(explicit_path);
        const char *e = getenv(env);
        if (e && *e)
                return xstrdup(e);
        char *user = user_config(leaf);
        if (user && it_path_exists(user))
                return user;
        free(user);
        return xasprintf("/etc/containers/%s", leaf);
}

char *it_path_policy(const char *explicit_path)
{
        return resolve(explicit_path, "IMGTRUST_POLICY", "policy.json");
}

char *it_path_registries_d(const char *explicit_path)
{
        return resolve(explicit_path, "IMGTRUST_REGISTRIES_D", "registries.d");
}
