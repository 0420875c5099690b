#include "server/event_sequencer.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

constexpr absl::string_view kEventTag = "ev";

// The first event key strictly greater than EventKey(after), as a sequence,
// or nullopt when there is none.
absl::StatusOr<std::optional<int64_t>> FirstEventAfter(
    storage::Snapshot& snapshot, const std::string& prefix, int64_t after) {
  storage::ScanOptions options;
  options.start_after = EventKey(after);
  std::unique_ptr<storage::ScanIterator> it =
      snapshot.Scan(storage::Table::kEvents, prefix, options);
  if (!it->Valid()) {
    RETURN_IF_ERROR(it->status());
    return std::optional<int64_t>();
  }
  absl::StatusOr<int64_t> sequence = ParseEventKey(it->key());
  if (!sequence.ok()) {
    return absl::DataLossError(
        absl::StrCat("events: ", sequence.status().message()));
  }
  return std::optional<int64_t>(*sequence);
}

}  // namespace

std::string EventKeyPrefix() {
  return storage::KeyBuilder().AddString(kEventTag).Build();
}

std::string EventKey(int64_t sequence) {
  return storage::KeyBuilder()
      .AddString(kEventTag)
      .AddUint64(static_cast<uint64_t>(sequence))
      .Build();
}

absl::StatusOr<int64_t> ParseEventKey(absl::string_view key) {
  storage::KeyReader reader(key);
  std::string tag;
  uint64_t sequence = 0;
  if (!reader.ReadString(&tag).ok() || tag != kEventTag ||
      !reader.ReadUint64(&sequence).ok() || !reader.done() ||
      sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError("malformed event key");
  }
  return static_cast<int64_t>(sequence);
}

absl::StatusOr<int64_t> LastStoredEventSequence(storage::Snapshot& snapshot) {
  const std::string prefix = EventKeyPrefix();
  // Invariant: `lo` is a stored sequence (or 0: none below), and no stored
  // sequence is above `hi`. Each probe finds the first key above `mid`: one
  // seek. At most 64 probes.
  ASSIGN_OR_RETURN(std::optional<int64_t> first,
                   FirstEventAfter(snapshot, prefix, 0));
  if (!first.has_value()) return 0;
  int64_t lo = *first;
  int64_t hi = std::numeric_limits<int64_t>::max();
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;  // lo <= mid < hi
    ASSIGN_OR_RETURN(std::optional<int64_t> above,
                     FirstEventAfter(snapshot, prefix, mid));
    if (above.has_value()) {
      lo = *above;  // > mid >= lo
    } else {
      hi = mid;  // < hi
    }
  }
  return lo;
}

SequenceTicket::SequenceTicket(SequenceTicket&& other) noexcept
    : sequencer_(std::exchange(other.sequencer_, nullptr)),
      first_(other.first_),
      count_(other.count_) {}

SequenceTicket& SequenceTicket::operator=(SequenceTicket&& other) noexcept {
  if (this != &other) {
    if (sequencer_ != nullptr) sequencer_->Abandoned(*this);
    sequencer_ = std::exchange(other.sequencer_, nullptr);
    first_ = other.first_;
    count_ = other.count_;
  }
  return *this;
}

SequenceTicket::~SequenceTicket() {
  if (sequencer_ != nullptr) sequencer_->Abandoned(*this);
}

void WaitCancellation::Cancel() {
  cancelled_.store(true, std::memory_order_release);
  sequencer_->Wake();
}

absl::StatusOr<std::unique_ptr<EventSequencer>> EventSequencer::Create(
    storage::Store* store) {
  if (store == nullptr) {
    return absl::InvalidArgumentError("EventSequencer: store is not set");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store->NewSnapshot());
  ASSIGN_OR_RETURN(int64_t last, LastStoredEventSequence(*snapshot));
  return std::make_unique<EventSequencer>(last);
}

EventSequencer::EventSequencer(int64_t last) : last_allocated_(last) {}

EventSequencer::~EventSequencer() = default;

SequenceTicket EventSequencer::Allocate(int64_t n) {
  absl::MutexLock lock(&mu_);
  const int64_t first = last_allocated_ + 1;
  last_allocated_ += n;
  in_flight_.emplace(first, n);
  return SequenceTicket(this, first, n);
}

void EventSequencer::Committed(SequenceTicket& ticket) {
  Finish(ticket, /*committed=*/true);
}

void EventSequencer::Abandoned(SequenceTicket& ticket) {
  Finish(ticket, /*committed=*/false);
}

void EventSequencer::Finish(SequenceTicket& ticket, bool committed) {
  if (ticket.sequencer_ == nullptr) return;
  ticket.sequencer_ = nullptr;
  // Unlocking re-evaluates the waiters' conditions.
  absl::MutexLock lock(&mu_);
  in_flight_.erase(ticket.first_);
  if (committed) {
    ++committed_tickets_;
  } else {
    ++abandoned_tickets_;
  }
}

int64_t EventSequencer::WatermarkLocked() const {
  if (in_flight_.empty()) return last_allocated_;
  return in_flight_.begin()->first - 1;
}

int64_t EventSequencer::watermark() const {
  absl::MutexLock lock(&mu_);
  return WatermarkLocked();
}

int64_t EventSequencer::last_allocated() const {
  absl::MutexLock lock(&mu_);
  return last_allocated_;
}

int64_t EventSequencer::in_flight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(in_flight_.size());
}

int64_t EventSequencer::committed_tickets() const {
  absl::MutexLock lock(&mu_);
  return committed_tickets_;
}

int64_t EventSequencer::abandoned_tickets() const {
  absl::MutexLock lock(&mu_);
  return abandoned_tickets_;
}

absl::StatusOr<int64_t> EventSequencer::WaitForWatermarkAbove(
    int64_t sequence, absl::Time deadline, const WaitCancellation* cancel) {
  absl::MutexLock lock(&mu_);
  struct Args {
    const EventSequencer* self;
    int64_t sequence;
    const WaitCancellation* cancel;
  } args{this, sequence, cancel};
  auto done = [](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return a->self->WatermarkLocked() > a->sequence || a->self->shutdown_ ||
           (a->cancel != nullptr && a->cancel->cancelled());
  };
  mu_.AwaitWithDeadline(absl::Condition(+done, &args), deadline);
  const int64_t watermark = WatermarkLocked();
  if (watermark > sequence) return watermark;
  if (shutdown_ || (cancel != nullptr && cancel->cancelled())) {
    return absl::CancelledError(
        "the wait for new ownership events was "
        "cancelled");
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no ownership event above sequence ", sequence,
                   " was committed before the deadline"));
}

void EventSequencer::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

void EventSequencer::Wake() {
  // An empty critical section: the unlock re-evaluates every waiter's
  // condition, which reads the cancellation flag.
  absl::MutexLock lock(&mu_);
}

}  // namespace custodian::server
