#include "server/event_feed.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/request_checks.h"

namespace custodian::server {

absl::StatusOr<EventBatch> EventFeed::ReadEvents(int64_t after_sequence,
                                                 int32_t max) const {
  FieldErrors errors;
  if (after_sequence < 0) errors.Add("after_sequence", "must not be negative");
  if (max < 1 || max > kMaxFeedBatch) {
    errors.Add("max", absl::StrCat("must be 1-", kMaxFeedBatch));
  }
  RETURN_IF_ERROR(errors.ToStatus());

  // The watermark first, then the snapshot: every commit at or below the
  // watermark returned before the snapshot was taken.
  const int64_t watermark = sequencer_->watermark();
  EventBatch batch;
  batch.resume_after = after_sequence;
  if (watermark <= after_sequence) return batch;

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store_->NewSnapshot());
  storage::ScanOptions options;
  options.start_after = EventKey(after_sequence);
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(storage::Table::kEvents, EventKeyPrefix(), options);
  for (; it->Valid() && batch.events.size() < static_cast<size_t>(max);
       it->Next()) {
    absl::StatusOr<int64_t> sequence = ParseEventKey(it->key());
    if (!sequence.ok()) {
      return absl::DataLossError(
          absl::StrCat("events: ", sequence.status().message()));
    }
    if (*sequence > watermark) break;
    v1::OwnershipEvent& event = batch.events.emplace_back();
    if (!event.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size())) ||
        event.sequence() != *sequence) {
      return absl::DataLossError(
          absl::StrCat("ownership event ", *sequence, " does not parse"));
    }
  }
  RETURN_IF_ERROR(it->status());
  batch.resume_after = batch.events.size() == static_cast<size_t>(max)
                           ? batch.events.back().sequence()
                           : watermark;
  return batch;
}

absl::StatusOr<EventBatch> EventFeed::Watch(
    int64_t after_sequence, int32_t max, absl::Time deadline,
    const WaitCancellation* cancel) const {
  int64_t after = after_sequence;
  while (true) {
    ASSIGN_OR_RETURN(EventBatch batch, ReadEvents(after, max));
    if (!batch.events.empty()) return batch;
    after = batch.resume_after;
    absl::StatusOr<int64_t> moved =
        sequencer_->WaitForWatermarkAbove(after, deadline, cancel);
    if (absl::IsDeadlineExceeded(moved.status())) return batch;
    RETURN_IF_ERROR(moved.status());
  }
}

}  // namespace custodian::server
