// File: cli/describe.h
//
// The report of `iter8ctl describe`: byte for byte what iter8ctl printed, in its v0.1.4 format
// for v2alpha2 experiments and its v0.1.0-alpha format for v2alpha1 experiments (spec.md 6).
// Takes an Experiment from anywhere (a file, the local store, the cluster), so the source of the
// experiment is the caller's business.
//
// Pure; thread-safe.
#pragma once

#include <string>

#include "api/types.h"

namespace iter8::cli {

enum class DescribeFormat {
  kV2alpha2,  // iter8ctl v0.1.4
  kV2alpha1,  // iter8ctl v0.1.0-alpha
};

// The format iter8ctl would have used for this experiment (by the API version it was read as).
DescribeFormat DescribeFormatFor(const api::Experiment& experiment);

// The complete report, including the final empty line iter8ctl printed.
std::string Describe(const api::Experiment& experiment, DescribeFormat format);

}  // namespace iter8::cli
