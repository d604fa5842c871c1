/* Lint of a host's trust configuration: policy.json and registries.d read together, key files
 * opened, scopes that can never match and lookaside entries nothing uses pointed out. */
#ifndef IMGTRUST_LINT_H
#define IMGTRUST_LINT_H

#include "imgtrust/policy.h"
#include "imgtrust/regd.h"
#include "imgtrust/strv.h"

/* Append one line per finding to *findings ("FILE: WHERE: what is wrong"). Reads key files. */
void trust_lint(const struct it_policy *p, const struct it_regd *r, struct it_strv *findings);

/* Would a docker scope string ever match an image? (a canonical name, host, host:port, or a
 * `*.domain` wildcard). On false, *why (allocated) says why and suggests the right form. */
bool trust_docker_scope_valid(const char *scope, char **why);

#endif
