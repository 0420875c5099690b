// AppealExpirySweeper: ends appeals past their deadline
// (policies.disputes.sla) as policies.disputes.on_expiry says, through
// AppealDesk::Expire (appeal_desk.h): uphold, overturn, or escalate to the
// department's managers with a new deadline. Independent of gRPC and of
// threads: the server calls SweepNow() on its own timer; tests call it after
// moving a manual clock.
//
// A pass walks the deadline index (Table::kAppeals ("deadline", Unix us,
// id), OPEN and ESCALATED appeals only) in deadline order and stops at the
// first deadline after the clock's now; each due appeal is ended in its own
// transaction (Expire re-checks it under its lock, so a ruling or a
// withdrawal that commits first wins and the sweep does nothing). An
// escalation moves the appeal's deadline later in the index, so one pass
// never expires an appeal twice unless its new deadline is already due.
// Idempotent: sweeping twice at the same time ends nothing the second time.
// No cursor is needed: the index holds only what is still open.
//
// Thread-safety: thread-safe; concurrent SweepNow calls run one at a time.
#ifndef CUSTODIAN_SERVER_APPEAL_EXPIRY_SWEEPER_H_
#define CUSTODIAN_SERVER_APPEAL_EXPIRY_SWEEPER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "server/appeal_desk.h"
#include "storage/store.h"

namespace custodian::server {

class AppealExpirySweeper {
 public:
  struct Options {
    // Where the appeals live. Required; must outlive the sweeper.
    storage::Store* store = nullptr;
    // Ends each appeal. Required; must outlive the sweeper.
    AppealDesk* desk = nullptr;
    // "Now". Default: the real clock. Must be the desk's.
    Clock* clock = Clock::Real();
    // Appeals ended per pass at most, >= 1 (the next pass goes on).
    // Default: 1000.
    int64_t max_per_pass = 1000;
  };

  // What a pass did.
  struct Stats {
    // Due appeals examined.
    int64_t examined = 0;
    int64_t upheld = 0;
    int64_t overturned = 0;
    int64_t escalated = 0;
  };

  // Returns INVALID_ARGUMENT naming a bad option.
  static absl::StatusOr<std::unique_ptr<AppealExpirySweeper>> Create(
      Options options);

  // One pass (see the top of this file). Returns what it did, or the first
  // error (what was ended so far stays ended).
  absl::StatusOr<Stats> SweepNow();

 private:
  explicit AppealExpirySweeper(Options options) : options_(options) {}

  Options options_;
  absl::Mutex mu_;  // one pass at a time
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_APPEAL_EXPIRY_SWEEPER_H_
