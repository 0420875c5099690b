// EventSequencer: the global, strictly increasing sequence numbers of
// ownership events, and the watermark below which the event feed may read.
//
// Why in memory: a stored "last sequence" key would be written by every
// ownership change, so it would stay locked across each commit's fsync and cap
// the whole service at one change per fsync. Instead the next sequence lives
// in memory, seeded at start-up from the highest event key in Table::kEvents
// (a binary search of at most 64 point seeks, not a scan: the Store has no
// reverse iterator), and is handed out under a mutex held for a few
// instructions, never across a commit. custodiand is the only writer of its
// store, so the in-memory counter is exact. (Not a lone atomic: allocating
// a sequence and registering it as in flight must be one step, or the
// watermark could pass a sequence allocated but not yet registered.)
//
// The protocol of a change that appends events:
//   SequenceTicket ticket = sequencer.Allocate(1);       // no I/O
//   ... stage the event under EventKey(ticket.first()) in txn ...
//   absl::Status s = txn.Commit();                       // the fsync
//   if (s.ok()) sequencer.Committed(ticket);
//   // otherwise the ticket's destructor abandons it (a gap; allowed).
//
// The watermark is the highest sequence S such that every sequence <= S that
// was ever allocated is committed or abandoned (the ticket is finished). A
// feed reader that reads only up to the watermark, from a snapshot taken
// after reading it, can never see an event with a lower sequence appear
// after it passed that sequence: all commits at or below the watermark had
// returned before the snapshot. That makes resume-by-cursor exactly-once and
// in order. A ticket held for long (a transaction waiting on a lock after
// allocating) holds the watermark back for that long: allocate as late as
// possible in a transaction.
//
// When Commit() fails with UNAVAILABLE (outcome unknown), the ticket is
// abandoned all the same: the store is then failing, and an event that
// becomes durable anyway reappears after a restart, below the re-seeded
// sequence, where a watcher that had already passed it would not see it.
//
// Thread-safety: an EventSequencer is safe for concurrent use from many
// threads without external synchronization. A SequenceTicket is used by one
// thread at a time (it may move between threads).
#ifndef CUSTODIAN_SERVER_EVENT_SEQUENCER_H_
#define CUSTODIAN_SERVER_EVENT_SEQUENCER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace custodian::server {

class EventSequencer;

// ("ev", sequence: uint64) in storage/keys.h encoding: the key of the event
// with `sequence` in Table::kEvents. REQUIRES: sequence >= 0.
std::string EventKey(int64_t sequence);
// ("ev"): the prefix of every event key.
std::string EventKeyPrefix();
// Parses an EventKey. INVALID_ARGUMENT if `key` is not one.
absl::StatusOr<int64_t> ParseEventKey(absl::string_view key);

// Returns the highest sequence stored in Table::kEvents, 0 if there is none,
// with at most 64 seeks. Returns the snapshot's errors (UNAVAILABLE,
// DATA_LOSS), or DATA_LOSS for a malformed event key.
absl::StatusOr<int64_t> LastStoredEventSequence(storage::Snapshot& snapshot);

// The sequences [first(), first() + count()) allocated to one change. Move-
// only. Active until passed to EventSequencer::Committed or ::Abandoned;
// destroying (or move-assigning over) an active ticket abandons it.
// REQUIRES: it does not outlive the sequencer that made it.
class SequenceTicket {
 public:
  // An inactive ticket (count() == 0).
  SequenceTicket() = default;
  SequenceTicket(SequenceTicket&& other) noexcept;
  SequenceTicket& operator=(SequenceTicket&& other) noexcept;
  SequenceTicket(const SequenceTicket&) = delete;
  SequenceTicket& operator=(const SequenceTicket&) = delete;
  ~SequenceTicket();

  bool active() const { return sequencer_ != nullptr; }
  int64_t first() const { return first_; }
  int64_t count() const { return count_; }
  // The i-th sequence of the ticket. REQUIRES: 0 <= i < count().
  int64_t sequence(int64_t i) const { return first_ + i; }

 private:
  friend class EventSequencer;
  SequenceTicket(EventSequencer* sequencer, int64_t first, int64_t count)
      : sequencer_(sequencer), first_(first), count_(count) {}

  EventSequencer* sequencer_ = nullptr;  // null when inactive
  int64_t first_ = 0;
  int64_t count_ = 0;
};

// Ends a wait of EventSequencer::WaitForWatermarkAbove (and so of
// EventFeed::Watch) early, e.g. when a watch stream shuts down. Thread-safe.
// REQUIRES: it does not outlive `sequencer`.
class WaitCancellation {
 public:
  explicit WaitCancellation(EventSequencer& sequencer)
      : sequencer_(&sequencer) {}
  WaitCancellation(const WaitCancellation&) = delete;
  WaitCancellation& operator=(const WaitCancellation&) = delete;

  // Makes every current and later wait using this object return CANCELLED.
  // Idempotent.
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  EventSequencer* sequencer_;
  std::atomic<bool> cancelled_{false};
};

class EventSequencer {
 public:
  // Seeds from the highest event key stored in `store` (see
  // LastStoredEventSequence): the watermark starts there and the first
  // allocation is one above it. Returns INVALID_ARGUMENT for a null store,
  // or the store's errors. REQUIRES: no event is being written to `store` by
  // anyone else while the sequencer lives.
  static absl::StatusOr<std::unique_ptr<EventSequencer>> Create(
      storage::Store* store);
  // A sequencer whose last used sequence is `last` (>= 0), for tests and
  // stores without events.
  explicit EventSequencer(int64_t last);
  ~EventSequencer();
  EventSequencer(const EventSequencer&) = delete;
  EventSequencer& operator=(const EventSequencer&) = delete;

  // Allocates `n` consecutive sequences, all above every sequence allocated
  // before, and registers them as in flight. Never blocks on I/O.
  // REQUIRES: n >= 1. (Sequences are int64: 2^63 allocations never run out
  // in practice.)
  SequenceTicket Allocate(int64_t n);
  // The ticket's commit returned OK: its events are visible to snapshots
  // taken from now on. Deactivates the ticket. Does nothing for an inactive
  // ticket. REQUIRES: the ticket came from this sequencer.
  void Committed(SequenceTicket& ticket);
  // The ticket's commit failed or never happened: its sequences are never
  // used (gaps). Deactivates the ticket. Does nothing for an inactive ticket.
  // REQUIRES: the ticket came from this sequencer.
  void Abandoned(SequenceTicket& ticket);

  // The highest sequence S such that every allocated sequence <= S is
  // committed or abandoned (see the top of this file). Never decreases.
  int64_t watermark() const;
  // The highest sequence allocated so far (the seed if none).
  int64_t last_allocated() const;
  // How many tickets are in flight.
  int64_t in_flight() const;
  // Tickets finished as committed / abandoned since start-up.
  int64_t committed_tickets() const;
  int64_t abandoned_tickets() const;

  // Blocks until watermark() > `sequence`, `deadline` passes, `cancel` (may
  // be null) is cancelled or Shutdown() is called, whichever comes first.
  // Returns the watermark (> sequence); DEADLINE_EXCEEDED when the deadline
  // passed first (at once if it is in the past); CANCELLED when cancelled or
  // shut down. The watermark is checked first: a satisfied wait returns OK
  // even if cancelled. Pass absl::InfiniteFuture() for no deadline.
  absl::StatusOr<int64_t> WaitForWatermarkAbove(int64_t sequence,
                                                absl::Time deadline,
                                                const WaitCancellation* cancel);

  // Makes every current and later WaitForWatermarkAbove return CANCELLED
  // (unless satisfied). Allocation and tickets keep working. Idempotent.
  void Shutdown();

 private:
  friend class WaitCancellation;
  void Finish(SequenceTicket& ticket, bool committed);
  // Re-evaluates the conditions of current waiters.
  void Wake();
  int64_t WatermarkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int64_t last_allocated_ ABSL_GUARDED_BY(mu_);
  // first sequence -> count of every ticket in flight. Allocation is in
  // increasing order, so the smallest in-flight sequence is begin()->first.
  std::map<int64_t, int64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t committed_tickets_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t abandoned_tickets_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_EVENT_SEQUENCER_H_
