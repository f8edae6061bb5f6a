// File: metrics/jq.h
//
// Extracting a metric value from a backend's JSON reply with the user's `jqExpression`, using
// libjq (the real jq, so expressions behave exactly as the `jq` command does).
//
// Compiling a jq program costs tens of milliseconds (jq compiles its builtins each time), so
// compiled programs are cached per thread, keyed by expression. libjq's states and values are
// not thread-safe, so nothing jq-related is ever shared between threads: every thread has its
// own cache (thread_local), created on first use and torn down when the thread exits.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace iter8::metrics {

// Runs `expression` on the JSON text `input` and returns its first output, which must be a
// finite number. Errors say what went wrong: the expression does not compile, the input is not
// JSON, jq raised an error (e.g. `tonumber` of a non-number, indexing null), there was no output
// (e.g. an empty Prometheus result), or the first output is not a finite number.
absl::StatusOr<double> JqFirstNumber(std::string_view expression, std::string_view input);

// Number of compiled programs cached by the calling thread (for tests).
size_t JqCachedProgramsForTest();

}  // namespace iter8::metrics
