// The one source of time for Custodian. Code that needs "now" takes a Clock*;
// tests inject a ManualClock instead of sleeping.
//
// Thread-safe: every implementation may be called from any thread.
#ifndef CUSTODIAN_COMMON_CLOCK_H_
#define CUSTODIAN_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace custodian {

class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current time.
  virtual absl::Time Now() const = 0;
  // Returns a process-wide clock reading the system's real time. Never null.
  static Clock* Real();
};

// A clock that only moves when told to. Starts at the time it was given.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Moves the clock forward by `d` (or backward if negative).
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  // Sets the clock to `t`.
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custodian

#endif  // CUSTODIAN_COMMON_CLOCK_H_
