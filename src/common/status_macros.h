// File: common/status_macros.h
//
// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr, which the packaged
// Abseil does not export. Header-only; usable from any thread.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ITER8_STATUS_CONCAT_INNER(a, b) a##b
#define ITER8_STATUS_CONCAT(a, b) ITER8_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)              \
  do {                                     \
    ::absl::Status _iter8_status = (expr); \
    if (!_iter8_status.ok()) {             \
      return _iter8_status;                \
    }                                      \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares/assigns x or returns the error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ITER8_ASSIGN_OR_RETURN_IMPL(ITER8_STATUS_CONCAT(_iter8_statusor_, __LINE__), lhs, rexpr)

#define ITER8_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = *std::move(statusor)
