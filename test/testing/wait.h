// File: test/testing/wait.h
//
// Polls a condition until it holds or a deadline passes, for tests that wait on other threads
// or processes. Test-only; a pure helper (it only sleeps).
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace iter8::testing {

// True as soon as `done()` is; false if it still is not after `limit` (checked once more then).
inline bool WaitFor(const std::function<bool()>& done, absl::Duration limit,
                    absl::Duration poll = absl::Milliseconds(50)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(poll);
  }
  return done();
}

}  // namespace iter8::testing
