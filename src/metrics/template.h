// File: metrics/template.h
//
// Placeholder substitution in metric query templates, exactly as the original did with Python's
// string.Template (spec.md 2.3): `$name` or `${name}` where a name is [_a-zA-Z][_a-zA-Z0-9]*;
// `$$` is a literal `$`; in safe mode a placeholder without a value, and a `$` that starts no
// placeholder, are left unchanged. The strict mode (v2alpha1's `substitute`) fails on a missing
// value instead, naming it.
//
// Escaping rule: values are inserted verbatim. A value containing a quote ends the quoted string
// the user wrote around the placeholder (e.g. `revision_name='$revision'`); iter8 does not
// escape for the query language, exactly as the original, so only trusted values (the
// experiment's own version variables) reach templates.
//
// Pure; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/types.h"

namespace iter8::metrics {

using Variables = std::map<std::string, std::string>;

std::string SafeSubstitute(std::string_view text, const Variables& vars);
absl::StatusOr<std::string> Substitute(std::string_view text, const Variables& vars);

// The variables a query sees for one version (spec.md 2.2): `name` = the version's name, then
// its variables (a variable called `name` overrides it), then `elapsedTime` = whole seconds
// since `start`, at least 1 (overriding a variable of that name). v2alpha1 experiments get
// `interval` = "<N>s" instead of `elapsedTime` (not clamped, as in the original).
Variables QueryVariables(const api::VersionDetail& version, absl::Time start, absl::Time now,
                         bool v2alpha1 = false);

}  // namespace iter8::metrics
