#include "server/appeal_expiry_sweeper.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/request_checks.h"
#include "storage/keys.h"

namespace custodian::server {

absl::StatusOr<std::unique_ptr<AppealExpirySweeper>>
AppealExpirySweeper::Create(Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.desk == nullptr) errors.Add("desk", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.max_per_pass < 1) errors.Add("max_per_pass", "must be >= 1");
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AppealExpirySweeper options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<AppealExpirySweeper>(new AppealExpirySweeper(options));
}

absl::StatusOr<AppealExpirySweeper::Stats> AppealExpirySweeper::SweepNow() {
  absl::MutexLock lock(&mu_);
  const int64_t now_us = absl::ToUnixMicros(options_.clock->Now());
  // The due ids first, at one snapshot; each is then ended under its lock.
  std::vector<std::string> due;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     options_.store->NewSnapshot());
    const std::string prefix = AppealDeadlinePrefix();
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(storage::Table::kAppeals, prefix);
    for (; it->Valid(); it->Next()) {
      if (static_cast<int64_t>(due.size()) >= options_.max_per_pass) break;
      storage::KeyReader reader(it->key().substr(prefix.size()));
      int64_t deadline_us = 0;
      std::string id;
      if (!reader.ReadInt64(&deadline_us).ok() ||
          !reader.ReadString(&id).ok()) {
        return absl::DataLossError("an appeal deadline key does not parse");
      }
      if (deadline_us > now_us) break;
      due.push_back(std::move(id));
    }
    RETURN_IF_ERROR(it->status());
  }
  Stats stats;
  for (const std::string& id : due) {
    ++stats.examined;
    ASSIGN_OR_RETURN(const AppealDesk::ExpiryOutcome outcome,
                     options_.desk->Expire(id));
    switch (outcome) {
      case AppealDesk::ExpiryOutcome::kUpheld:
        ++stats.upheld;
        break;
      case AppealDesk::ExpiryOutcome::kOverturned:
        ++stats.overturned;
        break;
      case AppealDesk::ExpiryOutcome::kEscalated:
        ++stats.escalated;
        break;
      case AppealDesk::ExpiryOutcome::kNotDue:
        break;
    }
  }
  return stats;
}

}  // namespace custodian::server
