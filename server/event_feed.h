// EventFeed: the global, ordered feed of ownership events behind
// WatchOwnershipEvents, read from Table::kEvents.
//
// A reader never reads beyond the EventSequencer's watermark, and reads from
// a snapshot taken after reading it, so every event at or below the
// watermark that will ever exist is already visible (see
// event_sequencer.h). Hence a client that resumes after the sequence of the
// last event it received gets every later event exactly once, in sequence
// order, also across restarts of custodiand: events are re-read from the
// store, and the sequencer re-seeds above the last stored event.
//
// Driving a server stream:
//   int64_t after = request.after_sequence();
//   WaitCancellation cancel(sequencer);       // Cancel() on stream shutdown
//   while (true) {
//     ASSIGN_OR_RETURN(EventBatch batch,
//                      feed.Watch(after, 100, absl::InfiniteFuture(),
//                      &cancel));
//     for (const auto& e : batch.events) Send(e);
//     after = batch.resume_after;
//   }
//
// Thread-safety: an EventFeed is safe for concurrent use from many threads
// without external synchronization.
#ifndef CUSTODIAN_SERVER_EVENT_FEED_H_
#define CUSTODIAN_SERVER_EVENT_FEED_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "custodian/v1/ownership.pb.h"
#include "server/event_sequencer.h"
#include "storage/store.h"

namespace custodian::server {

// Most events one read returns.
inline constexpr int32_t kMaxFeedBatch = 1000;

struct EventBatch {
  // Events with sequence > the requested cursor, ascending, each at or below
  // the watermark the read saw.
  std::vector<v1::OwnershipEvent> events;
  // Where the next read of this process should start: the last event's
  // sequence when the batch is full, else the watermark the read saw (which
  // skips gaps left by abandoned sequences), and never below the requested
  // cursor. Only valid within this process's lifetime: abandoned sequences
  // may be allocated again after a restart, so a client's resume cursor must
  // be the sequence of the last event it received.
  int64_t resume_after = 0;
};

class EventFeed {
 public:
  // REQUIRES: store and sequencer are not null and outlive the feed, and
  // `sequencer` allocates the sequences of every event written to `store`.
  EventFeed(storage::Store* store, EventSequencer* sequencer)
      : store_(store), sequencer_(sequencer) {}

  // Reads up to `max` committed events with sequence > `after_sequence` and
  // <= the watermark, from one snapshot. Returns INVALID_ARGUMENT naming
  // after_sequence (negative) or max (not in 1..kMaxFeedBatch); DATA_LOSS
  // for a malformed key or an event that does not parse; the store's
  // errors.
  absl::StatusOr<EventBatch> ReadEvents(int64_t after_sequence,
                                        int32_t max) const;

  // Like ReadEvents, but when there is nothing to read, waits for the
  // watermark to move and reads again, until at least one event is read,
  // `deadline` passes (then returns an empty batch, OK) or `cancel` (may be
  // null) is cancelled or the sequencer shut down (CANCELLED). Never busy-
  // waits: each wait is for the watermark to pass what was read.
  absl::StatusOr<EventBatch> Watch(int64_t after_sequence, int32_t max,
                                   absl::Time deadline,
                                   const WaitCancellation* cancel) const;

 private:
  storage::Store* store_;
  EventSequencer* sequencer_;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_EVENT_FEED_H_
