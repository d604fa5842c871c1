/* Where configuration lives by default, as podman and skopeo look for it.
 *
 * policy.json: explicit argument; $IMGTRUST_POLICY; the user's file
 * (${XDG_CONFIG_HOME:-$HOME/.config}/containers/policy.json) if it exists;
 * /etc/containers/policy.json. registries.d: explicit argument; $IMGTRUST_REGISTRIES_D; the user's
 * directory
 * (${XDG_CONFIG_HOME:-$HOME/.config}/containers/registries.d) if it exists;
 * /etc/containers/registries.d.
 */
#ifndef IMGTRUST_PATHS_H
#define IMGTRUST_PATHS_H

/* Both return an allocated path the caller frees; `explicit_path` may be NULL. */
char *it_path_policy(const char *explicit_path);
char *it_path_registries_d(const char *explicit_path);

#endif
