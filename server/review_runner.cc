#include "server/review_runner.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <queue>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "rules/names.h"
#include "server/cooldowns.h"
#include "server/mutation.h"
#include "server/pool_desk.h"
#include "server/request_checks.h"
#include "server/review_checks.h"
#include "server/roster_registry.h"
#include "server/ruleset_simulator.h"
#include "storage/keys.h"

namespace custodian::server {
namespace {

using storage::KeyBuilder;
using storage::KeyReader;
using storage::Table;

constexpr int32_t kDefaultPageSize = 50;
constexpr int32_t kMaxPageSize = 1000;
constexpr size_t kMaxScopeItems = 100;
constexpr size_t kDismissChunk = 500;
constexpr int32_t kPhaseCustomers = 0;
constexpr int32_t kPhaseCapacity = 1;
constexpr int32_t kPhaseDone = 2;
constexpr absl::string_view kReviewPrefix = "reviews/";
constexpr size_t kReviewIdChars = 24;

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t us = absl::ToUnixMicros(t);
  ts.set_seconds(us / 1000000);
  ts.set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  if (ts.nanos() < 0) {
    ts.set_seconds(ts.seconds() - 1);
    ts.set_nanos(ts.nanos() + 1000000000);
  }
  return ts;
}

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  out.set_seconds(absl::IDivDuration(d, absl::Seconds(1), &d));
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

std::string ReviewKey(absl::string_view id) {
  return KeyBuilder().AddString("review").AddString(id).Build();
}
std::string ReviewListPrefix() {
  return KeyBuilder().AddString("review").Build();
}
std::string RunningKey(absl::string_view id) {
  return KeyBuilder().AddString("review_running").AddString(id).Build();
}
std::string RunningPrefix() {
  return KeyBuilder().AddString("review_running").Build();
}
std::string FindingPrefix(absl::string_view id) {
  return KeyBuilder().AddString("finding").AddString(id).Build();
}
std::string FindingKey(absl::string_view id, absl::string_view finding) {
  return KeyBuilder(FindingPrefix(id)).AddString(finding).Build();
}
std::string AppliedCounterKey(absl::string_view id) {
  return KeyBuilder().AddString("review_applied").AddString(id).Build();
}

std::string NameOf(absl::string_view id) {
  return absl::StrCat(kReviewPrefix, id);
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The id of "reviews/{id}", or a violation of `field`.
std::string CheckReviewName(absl::string_view field, absl::string_view name,
                            FieldErrors* errors) {
  if (name.empty()) {
    errors->Add(field, "is required");
    return "";
  }
  if (!absl::StartsWith(name, kReviewPrefix) ||
      name.size() != kReviewPrefix.size() + kReviewIdChars ||
      !IsHex(name.substr(kReviewPrefix.size()))) {
    errors->Add(field, "must be reviews/ followed by 24 lower-case hex digits");
    return "";
  }
  return std::string(name.substr(kReviewPrefix.size()));
}

void CheckIds(absl::string_view field,
              const google::protobuf::RepeatedPtrField<std::string>& ids,
              std::string (*check)(absl::string_view), FieldErrors* errors) {
  if (ids.size() > static_cast<int>(kMaxScopeItems)) {
    errors->Add(field, absl::StrCat("has ", ids.size(), " items; at most ",
                                    kMaxScopeItems));
    return;
  }
  std::set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    if (std::string bad = check(ids[i]); !bad.empty()) {
      errors->Add(item, bad);
    } else if (!seen.insert(ids[i]).second) {
      errors->Add(item, absl::StrCat("repeats \"", ids[i], "\""));
    }
  }
}

void CheckOptionalId(absl::string_view field, absl::string_view id,
                     std::string (*check)(absl::string_view),
                     FieldErrors* errors) {
  if (id.empty()) return;
  if (std::string bad = check(id); !bad.empty()) errors->Add(field, bad);
}

bool IsKnownKind(int kind) { return kind >= v1::DRIFT && kind <= v1::UNOWNED; }

CheckSet ChecksOf(const v1::StartReviewRequest& request) {
  if (request.checks().empty()) return AllChecks();
  CheckSet set = 0;
  for (int k : request.checks())
    set |= CheckBit(static_cast<v1::FindingKind>(k));
  return set;
}

absl::Duration PendingAfter(const v1::StartReviewRequest& request) {
  return request.has_pending_after() ? FromProto(request.pending_after())
                                     : absl::Hours(24 * 7);
}

absl::StatusOr<storage::v1::ReviewRecord> ParseRecord(
    absl::string_view id, const std::string& bytes) {
  storage::v1::ReviewRecord record;
  if (!record.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("the stored record of review ", id, " does not parse"));
  }
  return record;
}

absl::StatusOr<storage::v1::ReviewRecord> ReadRecordForUpdate(
    storage::Transaction& txn, absl::string_view id) {
  std::string bytes;
  absl::Status s = txn.GetForUpdate(Table::kOperations, ReviewKey(id), &bytes);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat("review ", NameOf(id), " not found"));
  }
  RETURN_IF_ERROR(s);
  return ParseRecord(id, bytes);
}

absl::StatusOr<v1::Finding> ParseFinding(const std::string& bytes) {
  v1::Finding f;
  if (!f.ParseFromString(bytes)) {
    return absl::DataLossError("a stored review finding does not parse");
  }
  return f;
}

void AddCount(v1::ReviewMetadata* m, v1::FindingKind kind, int64_t n) {
  for (v1::FindingCount& c : *m->mutable_findings()) {
    if (c.kind() == kind) {
      c.set_count(c.count() + n);
      return;
    }
  }
}

// The roster at a snapshot; empty when none was applied.
absl::StatusOr<RosterIndex> SnapshotRoster(storage::Snapshot& snapshot) {
  std::string bytes;
  absl::Status s = snapshot.Get(Table::kRoster, RosterRecordKey(), &bytes);
  if (absl::IsNotFound(s)) return RosterIndex(v1::Roster());
  RETURN_IF_ERROR(s);
  storage::v1::RosterRecord record;
  if (!record.ParseFromString(bytes)) {
    return absl::DataLossError("the stored roster record does not parse");
  }
  return RosterIndex(record.roster());
}

// The stored ownerships of a customer by department.
absl::Status ReadOwnerships(
    storage::Snapshot& snapshot, absl::string_view customer_id,
    absl::flat_hash_map<std::string, v1::Ownership>* out) {
  out->clear();
  std::unique_ptr<storage::ScanIterator> it =
      snapshot.Scan(Table::kOwnerships, OwnershipKeyPrefix(customer_id));
  for (; it->Valid(); it->Next()) {
    v1::Ownership o;
    if (!o.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("a stored ownership of customer ",
                                              customer_id, " does not parse"));
    }
    std::string department = o.department();
    (*out)[department] = std::move(o);
  }
  return it->status();
}

bool IsWon(const v1::Customer& c) { return c.sales_stage() == "won"; }

// The ids of the RUNNING reviews at `snapshot`.
absl::StatusOr<std::vector<std::string>> RunningIds(
    storage::Snapshot& snapshot) {
  std::vector<std::string> ids;
  const std::string prefix = RunningPrefix();
  std::unique_ptr<storage::ScanIterator> it =
      snapshot.Scan(Table::kOperations, prefix);
  for (; it->Valid(); it->Next()) {
    KeyReader reader(it->key().substr(prefix.size()));
    std::string id;
    RETURN_IF_ERROR(reader.ReadString(&id));
    ids.push_back(std::move(id));
  }
  RETURN_IF_ERROR(it->status());
  return ids;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReviewRunner>> ReviewRunner::Create(
    Options options) {
  FieldErrors errors;
  if (options.store == nullptr) errors.Add("store", "is required");
  if (options.rulesets == nullptr) errors.Add("rulesets", "is required");
  if (options.book == nullptr) errors.Add("book", "is required");
  if (options.allocator == nullptr) errors.Add("allocator", "is required");
  if (options.clock == nullptr) errors.Add("clock", "is required");
  if (options.batch_size < 1) errors.Add("batch_size", "must be >= 1");
  if (options.max_attempts < 1) errors.Add("max_attempts", "must be >= 1");
  if (options.background_nice < 0 || options.background_nice > 19) {
    errors.Add("background_nice", "must be 0-19");
  }
  if (absl::Status s = ValidateIdempotencyOptions(options.idempotency);
      !s.ok()) {
    errors.Add("idempotency", s.message());
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReviewRunner options: ", errors.ToStatus().message()));
  }
  return std::unique_ptr<ReviewRunner>(new ReviewRunner(std::move(options)));
}

ReviewRunner::ReviewRunner(Options options)
    : options_(std::move(options)),
      planner_(options_.allocator),
      idempotency_(options_.idempotency) {}

ReviewRunner::~ReviewRunner() { Shutdown(); }

void ReviewRunner::Shutdown() {
  std::vector<Job*> jobs;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_ = true;
    for (auto& [id, job] : jobs_) jobs.push_back(job.get());
  }
  for (Job* job : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

bool ReviewRunner::Stopping(const Job& job) const {
  return stop_.load() || job.cancel.load();
}

void ReviewRunner::Launch(const std::string& id) {
  if (stopping_) return;
  // Reap the threads that finished (this review's former run among them).
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second->finished.load()) {
      it->second->thread.join();
      jobs_.erase(it++);
    } else if (it->first == id) {
      return;  // still running
    } else {
      ++it;
    }
  }
  auto job = std::make_unique<Job>();
  job->id = id;
  Job* raw = job.get();
  jobs_[id] = std::move(job);
  raw->thread = std::thread([this, raw] { Run(raw); });
}

absl::Status ReviewRunner::ResumeRunning() {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(const std::vector<std::string> ids, RunningIds(*snapshot));
  snapshot.reset();
  absl::MutexLock lock(&mu_);
  for (const std::string& id : ids) {
    LogInfo(absl::StrCat("resuming review ", NameOf(id)));
    Launch(id);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Review> ReviewRunner::Start(
    const v1::StartReviewRequest& request, const Actor& actor) {
  FieldErrors errors;
  CheckIds("scope.departments", request.scope().departments(),
           rules::CheckDepartmentId, &errors);
  CheckIds("scope.teams", request.scope().teams(), rules::CheckTeamId, &errors);
  CheckIds("scope.reps", request.scope().reps(), rules::CheckRepId, &errors);
  {
    std::set<int> seen;
    for (int i = 0; i < request.checks_size(); ++i) {
      const int k = request.checks(i);
      const std::string field = absl::StrCat("checks[", i, "]");
      if (k == v1::FINDING_KIND_UNSPECIFIED) {
        errors.Add(field, "must not be FINDING_KIND_UNSPECIFIED");
      } else if (!IsKnownKind(k)) {
        errors.Add(field, absl::StrCat("is not a known check (", k, ")"));
      } else if (!seen.insert(k).second) {
        errors.Add(field, absl::StrCat("repeats ", v1::FindingKind_Name(k)));
      }
    }
  }
  if (request.mode() == v1::REVIEW_MODE_UNSPECIFIED) {
    errors.Add("mode", "is required (REPORT, QUEUE or APPLY)");
  } else if (!v1::ReviewMode_IsValid(request.mode())) {
    errors.Add("mode",
               absl::StrCat("is not a known mode (", request.mode(), ")"));
  }
  if (request.has_pending_after()) {
    const auto& d = request.pending_after();
    if (d.nanos() < 0 || d.nanos() > 999999999 ||
        FromProto(d) < absl::Minutes(1) ||
        FromProto(d) > absl::Hours(24 * 365)) {
      errors.Add("pending_after", "must be between 1 minute and 365 days");
    }
  }
  CheckRequestId("request_id", request.request_id(), true, &errors);
  CheckActor(actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());

  const std::string fingerprint = RequestFingerprint(request);
  absl::MutexLock start_lock(&start_mu_);
  const absl::Time now = options_.clock->Now();
  // The running reviews, for the overlap check.
  std::vector<v1::Review> running;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     options_.store->NewSnapshot());
    ASSIGN_OR_RETURN(const std::vector<std::string> ids, RunningIds(*snapshot));
    for (const std::string& id : ids) {
      ASSIGN_OR_RETURN(v1::Review review, ReadReview(*snapshot, id));
      running.push_back(std::move(review));
    }
  }

  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  v1::Review response;
  std::string new_id;
  std::string overlapping;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store,
      [&](storage::Transaction& txn) -> absl::Status {
        response.Clear();
        new_id.clear();
        ASSIGN_OR_RETURN(
            std::optional<std::string> first,
            idempotency_.Lookup(txn, kStartReviewMethod, request.request_id(),
                                fingerprint, now));
        if (first.has_value()) {
          if (!response.ParseFromString(*first)) {
            return absl::DataLossError("a stored answer does not parse");
          }
          return absl::OkStatus();
        }
        // Not ABORTED from here: RunInTransaction would retry it.
        overlapping.clear();
        for (const v1::Review& r : running) {
          if (ScopesOverlap(r.metadata().scope(), request.scope())) {
            overlapping = r.name();
            return absl::OkStatus();  // nothing staged
          }
        }
        const uint64_t inverted =
            ~static_cast<uint64_t>(absl::ToUnixMicros(now));
        std::string id;
        static constexpr char kHex[] = "0123456789abcdef";
        for (int shift = 60; shift >= 0; shift -= 4) {
          id.push_back(kHex[(inverted >> shift) & 0xf]);
        }
        id += Sha256Hex(absl::StrCat(request.request_id(), "\n", actor.id), 4);
        storage::v1::ReviewRecord record;
        *record.mutable_request() = request;
        v1::Review& review = *record.mutable_review();
        review.set_name(NameOf(id));
        v1::ReviewMetadata& m = *review.mutable_metadata();
        m.set_state(v1::ReviewMetadata::RUNNING);
        *m.mutable_scope() = request.scope();
        for (v1::FindingKind k : KindsOf(ChecksOf(request))) {
          m.add_checks(k);
          v1::FindingCount* c = m.add_findings();
          c->set_kind(k);
        }
        m.set_mode(request.mode());
        m.set_created_by(actor.id);
        *m.mutable_create_time() = ToProto(now);
        m.set_ruleset_version(active.version);
        *m.mutable_pending_after() = ToProto(PendingAfter(request));
        record.set_phase(kPhaseCustomers);
        RETURN_IF_ERROR(txn.Put(Table::kOperations, ReviewKey(id),
                                SerializeDeterministic(record)));
        RETURN_IF_ERROR(txn.Put(Table::kOperations, RunningKey(id), ""));
        response = review;
        RETURN_IF_ERROR(StageAuditRecord(
            txn, actor, AuditRpcName(kStartReviewMethod), request.request_id(),
            {review.name()},
            absl::StrCat("OK: started (", v1::ReviewMode_Name(request.mode()),
                         ")"),
            now));
        new_id = id;
        return idempotency_.Record(txn, kStartReviewMethod,
                                   request.request_id(), fingerprint,
                                   SerializeDeterministic(response), now);
      },
      options_.max_attempts));
  if (!overlapping.empty()) {
    return absl::AbortedError(
        absl::StrCat("review ", overlapping,
                     " is running over an overlapping scope; cancel it or "
                     "wait for it to finish"));
  }
  if (!new_id.empty()) {
    absl::MutexLock lock(&mu_);
    Launch(new_id);
  }
  return response;
}

absl::StatusOr<v1::Review> ReviewRunner::ReadReview(
    storage::Snapshot& snapshot, absl::string_view id) const {
  std::string bytes;
  absl::Status s = snapshot.Get(Table::kOperations, ReviewKey(id), &bytes);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat("review ", NameOf(id), " not found"));
  }
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(storage::v1::ReviewRecord record, ParseRecord(id, bytes));
  ASSIGN_OR_RETURN(const int64_t applied,
                   snapshot.GetCounter(AppliedCounterKey(id)));
  record.mutable_review()->mutable_metadata()->set_applied(applied);
  return record.review();
}

absl::StatusOr<v1::Review> ReviewRunner::Get(
    const v1::GetReviewRequest& request) const {
  FieldErrors errors;
  const std::string id = CheckReviewName("name", request.name(), &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  return ReadReview(*snapshot, id);
}

absl::StatusOr<v1::ListReviewsResponse> ReviewRunner::List(
    const v1::ListReviewsRequest& request) const {
  FieldErrors errors;
  const int32_t size = CheckPageSize("page_size", request.page_size(),
                                     kDefaultPageSize, kMaxPageSize, &errors);
  std::optional<std::string> position;
  constexpr absl::string_view kScope = "ListReviews";
  if (!request.page_token().empty()) {
    position =
        DecodePageToken("page_token", kScope, request.page_token(), &errors);
  }
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  const std::string prefix = ReviewListPrefix();
  storage::ScanOptions scan;
  if (position.has_value()) scan.start_after = ReviewKey(*position);
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kOperations, prefix, scan);
  v1::ListReviewsResponse response;
  std::string last;
  for (; it->Valid(); it->Next()) {
    if (response.reviews_size() == size) {
      response.set_next_page_token(EncodePageToken(kScope, last));
      break;
    }
    KeyReader reader(it->key().substr(prefix.size()));
    std::string id;
    RETURN_IF_ERROR(reader.ReadString(&id));
    ASSIGN_OR_RETURN(v1::Review review, ReadReview(*snapshot, id));
    *response.add_reviews() = std::move(review);
    last = id;
  }
  RETURN_IF_ERROR(it->status());
  return response;
}

absl::StatusOr<v1::ListFindingsResponse> ReviewRunner::ListFindings(
    const v1::ListFindingsRequest& request) const {
  FieldErrors errors;
  const std::string id = CheckReviewName("review", request.review(), &errors);
  if (request.kind() != v1::FINDING_KIND_UNSPECIFIED &&
      !IsKnownKind(request.kind())) {
    errors.Add("kind",
               absl::StrCat("is not a known kind (", request.kind(), ")"));
  }
  CheckOptionalId("department", request.department(), rules::CheckDepartmentId,
                  &errors);
  CheckOptionalId("team", request.team(), rules::CheckTeamId, &errors);
  CheckOptionalId("rep", request.rep(), rules::CheckRepId, &errors);
  if (!v1::Finding::Status_IsValid(request.status())) {
    errors.Add("status",
               absl::StrCat("is not a known status (", request.status(), ")"));
  }
  const int32_t size = CheckPageSize("page_size", request.page_size(),
                                     kDefaultPageSize, kMaxPageSize, &errors);
  v1::ListFindingsRequest scope_request = request;
  scope_request.clear_page_size();
  scope_request.clear_page_token();
  const std::string scope = absl::StrCat(
      "ListFindings:", Sha256Hex(SerializeDeterministic(scope_request), 8));
  std::optional<std::string> position;
  if (!request.page_token().empty()) {
    position =
        DecodePageToken("page_token", scope, request.page_token(), &errors);
  }
  RETURN_IF_ERROR(errors.ToStatus());
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  RETURN_IF_ERROR(ReadReview(*snapshot, id).status());
  const std::string prefix = FindingPrefix(id);
  storage::ScanOptions scan;
  if (position.has_value()) scan.start_after = FindingKey(id, *position);
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kReviews, prefix, scan);
  v1::ListFindingsResponse response;
  constexpr int kMaxExamined = 10000;
  int examined = 0;
  std::string last;
  for (; it->Valid(); it->Next()) {
    if (response.findings_size() == size || examined == kMaxExamined) {
      response.set_next_page_token(EncodePageToken(scope, last));
      break;
    }
    ++examined;
    v1::Finding f;
    if (!f.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a stored review finding does not parse");
    }
    last = f.id();
    if (request.kind() != v1::FINDING_KIND_UNSPECIFIED &&
        f.kind() != request.kind())
      continue;
    if (!request.department().empty() && f.department() != request.department())
      continue;
    if (!request.team().empty() && f.team() != request.team()) continue;
    if (!request.rep().empty() && f.rep() != request.rep()) continue;
    if (request.status() != v1::Finding::STATUS_UNSPECIFIED &&
        f.status() != request.status())
      continue;
    *response.add_findings() = std::move(f);
  }
  RETURN_IF_ERROR(it->status());
  return response;
}

namespace {

// The ids a resolve request names (checked: each known and of the
// department), or, by kind, every unresolved finding of that kind and
// department.
template <typename Request>
absl::StatusOr<std::vector<std::string>> ResolveTargets(storage::Store& store,
                                                        const Request& request,
                                                        const std::string& id) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   store.NewSnapshot());
  std::string bytes;
  absl::Status s = snapshot->Get(Table::kOperations, ReviewKey(id), &bytes);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat("review: ", NameOf(id), " not found"));
  }
  RETURN_IF_ERROR(s);
  std::vector<std::string> out;
  if (!request.finding_ids().empty()) {
    FieldErrors errors;
    for (int i = 0; i < request.finding_ids_size(); ++i) {
      const std::string& fid = request.finding_ids(i);
      s = snapshot->Get(Table::kReviews, FindingKey(id, fid), &bytes);
      if (absl::IsNotFound(s)) {
        return absl::NotFoundError(
            absl::StrCat("finding_ids[", i, "]: finding ", fid, " of review ",
                         NameOf(id), " not found"));
      }
      RETURN_IF_ERROR(s);
      ASSIGN_OR_RETURN(v1::Finding f, ParseFinding(bytes));
      if (f.department() != request.department()) {
        errors.Add(absl::StrCat("finding_ids[", i, "]"),
                   absl::StrCat("is a finding of department ", f.department(),
                                ", not ", request.department()));
      }
      out.push_back(fid);
    }
    RETURN_IF_ERROR(errors.ToStatus());
    return out;
  }
  const std::string prefix = FindingPrefix(id);
  std::unique_ptr<storage::ScanIterator> it =
      snapshot->Scan(Table::kReviews, prefix);
  for (; it->Valid(); it->Next()) {
    v1::Finding f;
    if (!f.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a stored review finding does not parse");
    }
    if (f.kind() == request.kind() && f.department() == request.department() &&
        (f.status() == v1::Finding::OPEN ||
         f.status() == v1::Finding::QUEUED)) {
      out.push_back(f.id());
    }
  }
  RETURN_IF_ERROR(it->status());
  return out;
}

template <typename Request>
std::string CheckResolveRequest(const Request& request, const Actor& actor,
                                FieldErrors* errors) {
  const std::string id = CheckReviewName("review", request.review(), errors);
  if (request.department().empty()) {
    errors->Add("department", "is required");
  } else if (std::string bad = rules::CheckDepartmentId(request.department());
             !bad.empty()) {
    errors->Add("department", bad);
  }
  const bool by_ids = !request.finding_ids().empty();
  const bool by_kind = request.kind() != v1::FINDING_KIND_UNSPECIFIED;
  if (by_ids == by_kind) {
    errors->Add("finding_ids",
                "exactly one of finding_ids and kind must be given");
  }
  if (by_kind && !IsKnownKind(request.kind())) {
    errors->Add("kind",
                absl::StrCat("is not a known kind (", request.kind(), ")"));
  }
  if (request.finding_ids_size() > kMaxFindingIds) {
    errors->Add("finding_ids", absl::StrCat("has ", request.finding_ids_size(),
                                            " ids; at most ", kMaxFindingIds));
  } else {
    std::set<std::string> seen;
    for (int i = 0; i < request.finding_ids_size(); ++i) {
      const std::string& fid = request.finding_ids(i);
      const std::string field = absl::StrCat("finding_ids[", i, "]");
      if (fid.size() != 16 || !IsHex(fid)) {
        errors->Add(field, "must be 16 lower-case hex digits");
      } else if (!seen.insert(fid).second) {
        errors->Add(field, absl::StrCat("repeats ", fid));
      }
    }
  }
  CheckReason("reason", request.reason(), false, errors);
  CheckRequestId("request_id", request.request_id(), true, errors);
  CheckActor(actor.id, errors);
  return id;
}

}  // namespace

absl::StatusOr<v1::ResolveFindingsResponse> ReviewRunner::Apply(
    const v1::ApplyFindingsRequest& request, const Actor& actor) {
  FieldErrors errors;
  const std::string id = CheckResolveRequest(request, actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  return ResolveOnce(
      kApplyFindingsMethod, request, request.request_id(),
      [&](v1::ResolveFindingsResponse* response) -> absl::Status {
        ASSIGN_OR_RETURN(std::vector<std::string> targets,
                         ResolveTargets(*options_.store, request, id));
        for (const std::string& fid : targets) {
          ASSIGN_OR_RETURN(
              v1::FindingResult result,
              ApplyOne(id, fid, actor, request.reason(), request.request_id(),
                       AuditRpcName(kApplyFindingsMethod)));
          *response->add_results() = std::move(result);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ResolveFindingsResponse> ReviewRunner::Dismiss(
    const v1::DismissFindingsRequest& request, const Actor& actor) {
  FieldErrors errors;
  const std::string id = CheckResolveRequest(request, actor, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  return ResolveOnce(
      kDismissFindingsMethod, request, request.request_id(),
      [&](v1::ResolveFindingsResponse* response) -> absl::Status {
        return DismissAll(request, id, actor, response);
      });
}

absl::Status ReviewRunner::DismissAll(const v1::DismissFindingsRequest& request,
                                      const std::string& id, const Actor& actor,
                                      v1::ResolveFindingsResponse* response) {
  ASSIGN_OR_RETURN(std::vector<std::string> targets,
                   ResolveTargets(*options_.store, request, id));
  for (size_t begin = 0; begin < targets.size(); begin += kDismissChunk) {
    const size_t end = std::min(targets.size(), begin + kDismissChunk);
    std::vector<v1::FindingResult> chunk;
    RETURN_IF_ERROR(storage::RunInTransaction(
        *options_.store,
        [&](storage::Transaction& txn) -> absl::Status {
          chunk.clear();
          const absl::Time now = options_.clock->Now();
          std::vector<std::string> resources;
          for (size_t i = begin; i < end; ++i) {
            std::string bytes;
            const std::string key = FindingKey(id, targets[i]);
            RETURN_IF_ERROR(txn.GetForUpdate(Table::kReviews, key, &bytes));
            ASSIGN_OR_RETURN(v1::Finding f, ParseFinding(bytes));
            v1::FindingResult r;
            r.set_finding_id(f.id());
            if (f.status() == v1::Finding::APPLIED ||
                f.status() == v1::Finding::DISMISSED) {
              r.set_status(f.status());
              r.set_skipped_reason(absl::StrCat(
                  "already ",
                  absl::AsciiStrToLower(v1::Finding::Status_Name(f.status()))));
            } else {
              f.set_status(v1::Finding::DISMISSED);
              *f.mutable_resolve_time() = ToProto(now);
              f.set_resolved_by(actor.id);
              f.set_resolution(request.reason());
              RETURN_IF_ERROR(
                  txn.Put(Table::kReviews, key, SerializeDeterministic(f)));
              r.set_status(v1::Finding::DISMISSED);
              r.set_changed(true);
              resources.push_back(
                  absl::StrCat(request.review(), "/findings/", f.id()));
            }
            chunk.push_back(std::move(r));
          }
          if (resources.empty()) return absl::OkStatus();
          return StageAuditRecord(
              txn, actor, AuditRpcName(kDismissFindingsMethod),
              request.request_id(), std::move(resources), "OK: dismissed", now);
        },
        options_.max_attempts));
    for (v1::FindingResult& r : chunk) *response->add_results() = std::move(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ResolveFindingsResponse> ReviewRunner::ResolveOnce(
    absl::string_view method, const google::protobuf::Message& request,
    absl::string_view request_id,
    absl::FunctionRef<absl::Status(v1::ResolveFindingsResponse*)> resolve) {
  const std::string fingerprint = RequestFingerprint(request);
  std::optional<std::string> first;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        ASSIGN_OR_RETURN(
            first, idempotency_.Lookup(txn, method, request_id, fingerprint,
                                       options_.clock->Now()));
        return absl::OkStatus();
      }));
  v1::ResolveFindingsResponse response;
  if (first.has_value()) {
    if (!response.ParseFromString(*first)) {
      return absl::DataLossError("a stored answer does not parse");
    }
    return response;
  }
  RETURN_IF_ERROR(resolve(&response));
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store, [&](storage::Transaction& txn) -> absl::Status {
        return idempotency_.Record(txn, method, request_id, fingerprint,
                                   SerializeDeterministic(response),
                                   options_.clock->Now());
      }));
  return response;
}

absl::StatusOr<v1::Review> ReviewRunner::Cancel(
    const v1::CancelReviewRequest& request, const Actor& actor) {
  FieldErrors errors;
  const std::string id = CheckReviewName("name", request.name(), &errors);
  CheckActor(actor.id, &errors);
  RETURN_IF_ERROR(errors.ToStatus());
  v1::Review response;
  RETURN_IF_ERROR(storage::RunInTransaction(
      *options_.store,
      [&](storage::Transaction& txn) -> absl::Status {
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(storage::v1::ReviewRecord record,
                         ReadRecordForUpdate(txn, id));
        v1::Review& review = *record.mutable_review();
        if (review.done()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "review ", review.name(), " is already ",
              v1::ReviewMetadata::State_Name(review.metadata().state())));
        }
        review.set_done(true);
        review.mutable_metadata()->set_state(v1::ReviewMetadata::CANCELLED);
        *review.mutable_metadata()->mutable_end_time() = ToProto(now);
        review.mutable_metadata()->clear_eta();
        review.set_error_code(static_cast<int>(absl::StatusCode::kCancelled));
        review.set_error_message(absl::StrCat("cancelled by ", actor.id));
        RETURN_IF_ERROR(txn.Put(Table::kOperations, ReviewKey(id),
                                SerializeDeterministic(record)));
        RETURN_IF_ERROR(txn.Delete(Table::kOperations, RunningKey(id)));
        ASSIGN_OR_RETURN(const int64_t applied,
                         txn.GetCounter(AppliedCounterKey(id)));
        response = review;
        response.mutable_metadata()->set_applied(applied);
        return StageAuditRecord(txn, actor, AuditRpcName(kCancelReviewMethod),
                                "", {review.name()}, "OK: cancelled", now);
      },
      options_.max_attempts));
  absl::MutexLock lock(&mu_);
  if (auto it = jobs_.find(id); it != jobs_.end()) it->second->cancel = true;
  return response;
}

void ReviewRunner::Run(Job* job) {
  // Best effort: a review is background work; under CPU contention the
  // scheduler favours the threads serving calls (Assign). Linux applies a
  // nice value to the calling thread only.
  if (options_.background_nice > 0) {
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                      options_.background_nice);
  }
  absl::Status status = RunReview(job);
  if (!status.ok() && !Stopping(*job)) {
    LogError(absl::StrCat("review ", NameOf(job->id),
                          " failed: ", status.ToString()));
    absl::Status s = Finish(job->id, status);
    if (!s.ok()) {
      LogError(absl::StrCat("review ", NameOf(job->id),
                            " could not be marked failed: ", s.ToString()));
    }
  }
  job->finished = true;
}

absl::Status ReviewRunner::Finish(const std::string& id,
                                  const absl::Status& error) {
  return storage::RunInTransaction(
      *options_.store,
      [&](storage::Transaction& txn) -> absl::Status {
        ASSIGN_OR_RETURN(storage::v1::ReviewRecord record,
                         ReadRecordForUpdate(txn, id));
        v1::Review& review = *record.mutable_review();
        if (review.done()) return absl::OkStatus();
        review.set_done(true);
        v1::ReviewMetadata& m = *review.mutable_metadata();
        m.set_state(error.ok() ? v1::ReviewMetadata::SUCCEEDED
                               : v1::ReviewMetadata::FAILED);
        m.clear_eta();
        *m.mutable_end_time() = ToProto(options_.clock->Now());
        if (!error.ok()) {
          review.set_error_code(static_cast<int>(error.code()));
          review.set_error_message(std::string(error.message()));
        }
        record.set_phase(kPhaseDone);
        record.clear_cursor();
        RETURN_IF_ERROR(txn.Put(Table::kOperations, ReviewKey(id),
                                SerializeDeterministic(record)));
        return txn.Delete(Table::kOperations, RunningKey(id));
      },
      options_.max_attempts);
}

absl::Status ReviewRunner::Checkpoint(const std::string& id,
                                      std::vector<v1::Finding> findings,
                                      int32_t phase, const std::string& cursor,
                                      int64_t scanned_delta, double rate,
                                      bool* stopped) {
  return storage::RunInTransaction(
      *options_.store,
      [&](storage::Transaction& txn) -> absl::Status {
        *stopped = false;
        const absl::Time now = options_.clock->Now();
        ASSIGN_OR_RETURN(storage::v1::ReviewRecord record,
                         ReadRecordForUpdate(txn, id));
        v1::ReviewMetadata& m = *record.mutable_review()->mutable_metadata();
        if (record.review().done() ||
            m.state() != v1::ReviewMetadata::RUNNING) {
          *stopped = true;
          return absl::OkStatus();
        }
        const v1::ReviewMode mode = record.request().mode();
        record.clear_pending_apply();
        for (v1::Finding& f : findings) {
          const std::string key = FindingKey(id, f.id());
          std::string bytes;
          absl::Status s = txn.GetForUpdate(Table::kReviews, key, &bytes);
          if (absl::IsNotFound(s)) {
            f.set_status(mode == v1::QUEUE && f.fixable() ? v1::Finding::QUEUED
                                                          : v1::Finding::OPEN);
            *f.mutable_create_time() = ToProto(now);
            RETURN_IF_ERROR(
                txn.Put(Table::kReviews, key, SerializeDeterministic(f)));
            AddCount(&m, f.kind(), 1);
            if (mode == v1::APPLY && f.fixable()) {
              record.add_pending_apply(f.id());
            }
            continue;
          }
          RETURN_IF_ERROR(s);
          // Found by the interrupted run of this batch: kept as it is.
          ASSIGN_OR_RETURN(v1::Finding stored, ParseFinding(bytes));
          if (mode == v1::APPLY && stored.fixable() &&
              stored.status() == v1::Finding::OPEN) {
            record.add_pending_apply(stored.id());
          }
        }
        record.set_phase(phase);
        record.set_cursor(cursor);
        m.set_scanned(m.scanned() + scanned_delta);
        m.set_rate(rate);
        if (rate > 0 && m.total() > m.scanned()) {
          *m.mutable_eta() = ToProto(absl::Seconds(
              static_cast<double>(m.total() - m.scanned()) / rate));
        } else {
          m.clear_eta();
        }
        return txn.Put(Table::kOperations, ReviewKey(id),
                       SerializeDeterministic(record));
      },
      options_.max_attempts);
}

absl::Status ReviewRunner::ApplyPending(const Job& job, const Actor& actor) {
  const std::string& id = job.id;
  storage::v1::ReviewRecord record;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     options_.store->NewSnapshot());
    std::string bytes;
    RETURN_IF_ERROR(snapshot->Get(Table::kOperations, ReviewKey(id), &bytes));
    ASSIGN_OR_RETURN(record, ParseRecord(id, bytes));
  }
  if (record.review().done() || record.pending_apply().empty()) {
    return absl::OkStatus();  // cancelled: its pending fixes stay undone
  }
  for (const std::string& fid : record.pending_apply()) {
    // Stopped or cancelled between two fixes: the rest stay pending (a
    // resume applies them; a cancelled review never does).
    if (Stopping(job)) return absl::OkStatus();
    ASSIGN_OR_RETURN(v1::FindingResult result,
                     ApplyOne(id, fid, actor, "", "", kReviewRunnerRpc));
    (void)result;
  }
  return storage::RunInTransaction(
      *options_.store,
      [&](storage::Transaction& txn) -> absl::Status {
        ASSIGN_OR_RETURN(storage::v1::ReviewRecord current,
                         ReadRecordForUpdate(txn, id));
        if (current.review().done()) return absl::OkStatus();
        current.clear_pending_apply();
        return txn.Put(Table::kOperations, ReviewKey(id),
                       SerializeDeterministic(current));
      },
      options_.max_attempts);
}

absl::StatusOr<v1::FindingResult> ReviewRunner::ApplyOne(
    absl::string_view review_id, absl::string_view finding_id,
    const Actor& actor, absl::string_view reason, absl::string_view request_id,
    absl::string_view rpc) {
  const std::string key = FindingKey(review_id, finding_id);
  v1::FindingResult result;
  RETURN_IF_ERROR(RunMutation(
      *options_.store, *options_.allocator, options_.max_attempts,
      [&](storage::Transaction& txn, MutationEffects& effects) -> absl::Status {
        result.Clear();
        result.set_finding_id(std::string(finding_id));
        const absl::Time now = options_.clock->Now();
        std::string bytes;
        RETURN_IF_ERROR(txn.GetForUpdate(Table::kReviews, key, &bytes));
        ASSIGN_OR_RETURN(v1::Finding finding, ParseFinding(bytes));
        result.set_status(finding.status());
        auto skip = [&](std::string why) {
          result.set_skipped_reason(std::move(why));
          effects.replay = true;  // nothing to commit
          return absl::OkStatus();
        };
        if (finding.status() == v1::Finding::APPLIED ||
            finding.status() == v1::Finding::DISMISSED) {
          return skip(absl::StrCat(
              "already ", absl::AsciiStrToLower(
                              v1::Finding::Status_Name(finding.status()))));
        }
        if (!finding.fixable()) {
          return skip(absl::StrCat("not fixable automatically: ",
                                   finding.proposed_fix()));
        }
        ASSIGN_OR_RETURN(std::optional<v1::Ownership> current,
                         OwnershipBook::ReadForUpdate(
                             txn, finding.customer_id(), finding.department()));
        if (current.has_value() && current->state() == v1::Ownership::FROZEN) {
          return skip("the ownership is FROZEN (an appeal is open)");
        }
        if (OwnershipStateName(current ? &*current : nullptr) !=
                finding.ownership_state() ||
            (current.has_value() && current->rep() != finding.rep())) {
          return skip("the ownership changed since the review found it");
        }
        const RulesetRegistry::Active active =
            options_.rulesets->ActiveRuleset();
        if (active.ruleset == nullptr) return skip("no ruleset is active");
        // policies.protection.new_owner: a new owner is not re-routed (nor
        // trimmed) for that long; orphans and unowned customers have none.
        if (current.has_value() && (finding.kind() == v1::DRIFT ||
                                    finding.kind() == v1::OVER_CAPACITY)) {
          const v1::Policies& policies = active.ruleset->ruleset().policies();
          if (policies.has_protection() &&
              policies.protection().has_new_owner()) {
            const absl::Time until =
                FromProto(current->since()) +
                FromProto(policies.protection().new_owner());
            if (now < until) {
              return skip(absl::StrCat("the owner is protected until ",
                                       absl::FormatTime(until),
                                       " (policies.protection.new_owner)"));
            }
          }
        }
        ASSIGN_OR_RETURN(std::optional<storage::v1::CustomerRecord> record,
                         ReadCustomerForUpdate(txn, finding.customer_id()));
        if (!record.has_value()) return skip("the customer is not stored");
        ASSIGN_OR_RETURN(RosterIndex roster, ReadStoredRoster(txn));
        // The other departments as stored (unlocked: their plans are
        // dropped), this one left out: a fresh pick.
        absl::flat_hash_map<std::string, v1::Ownership> others;
        {
          std::unique_ptr<storage::ScanIterator> it = txn.Scan(
              Table::kOwnerships, OwnershipKeyPrefix(finding.customer_id()));
          for (; it->Valid(); it->Next()) {
            v1::Ownership o;
            if (!o.ParseFromArray(it->value().data(),
                                  static_cast<int>(it->value().size()))) {
              return absl::DataLossError("a stored ownership does not parse");
            }
            if (o.department() != finding.department()) {
              std::string d = o.department();
              others[d] = std::move(o);
            }
          }
          RETURN_IF_ERROR(it->status());
        }
        PlanInput input;
        input.customer = &record->customer();
        input.ruleset = active.ruleset.get();
        input.ruleset_version = active.version;
        input.roster = &roster;
        input.current = &others;
        input.now = now;
        if (options_.cooldowns) {
          input.in_cooldown = options_.cooldowns(finding.customer_id());
        }
        ASSIGN_OR_RETURN(AssignmentPlan full,
                         planner_.Plan(input, PickMode::kReserve));
        std::optional<DepartmentPlan> picked;
        for (DepartmentPlan& d : full.departments) {
          if (d.department == finding.department()) picked = std::move(d);
        }
        if (!picked.has_value()) {
          return skip("the active ruleset no longer has the department");
        }
        const v1::Ownership& after = picked->after;
        const bool drops = finding.kind() == v1::DRIFT &&
                           after.state() == v1::Ownership::UNOWNED &&
                           after.unowned_reason() == v1::Ownership::NO_MATCH;
        if (!drops && (after.state() == v1::Ownership::UNOWNED ||
                       (after.rep().empty() && after.pool().empty()))) {
          return skip("no eligible owner now");
        }
        if (current.has_value() && after.rep() == current->rep() &&
            after.pool() == current->pool() &&
            after.state() == current->state()) {
          return skip("a fresh pick keeps the same owner");
        }
        DepartmentPlan plan = *std::move(picked);
        plan.before = current;
        plan.changed = true;
        plan.cause = v1::OwnershipEvent::REVIEW;
        plan.owned_deltas = current.has_value()
                                ? OwnedDeltas(&*current, plan.after)
                                : OwnedDeltas(nullptr, plan.after);
        for (const OwnedDelta& a : plan.Adjustments()) {
          RETURN_IF_ERROR(options_.allocator->Preload(a.department, a.rep_id));
        }
        // A rep re-routed away or trimmed loses the customer; one who left
        // gets no cooldown (server/cooldowns.h).
        if (finding.kind() != v1::ORPHANED) {
          RETURN_IF_ERROR(StageLossCooldown(
              txn, roster, current.has_value() ? &*current : nullptr,
              plan.after, now));
        }
        ChangeSpec spec;
        spec.after = plan.after;
        spec.after.set_drifted(false);
        spec.cause = v1::OwnershipEvent::REVIEW;
        spec.actor = actor.id;
        spec.reason = reason.empty()
                          ? absl::StrCat("review ", NameOf(review_id), " ",
                                         v1::FindingKind_Name(finding.kind()),
                                         " finding ", finding_id)
                          : std::string(reason);
        spec.request_id = std::string(request_id);
        spec.before = &plan.before;
        ASSIGN_OR_RETURN(PendingEvents pending,
                         options_.book->Stage(txn, spec));
        if (auto add = plan.CursorAdd()) {
          RETURN_IF_ERROR(txn.AddToCounterWriteOnly(add->first, add->second));
        }
        const v1::OwnershipEvent& event = pending.events().back();
        finding.set_status(v1::Finding::APPLIED);
        *finding.mutable_resolve_time() = ToProto(now);
        finding.set_resolved_by(actor.id);
        finding.set_resolution(spec.reason);
        finding.set_applied_event_sequence(event.sequence());
        finding.set_applied_owner(!event.after().rep().empty()
                                      ? event.after().rep()
                                      : event.after().pool());
        RETURN_IF_ERROR(
            txn.Put(Table::kReviews, key, SerializeDeterministic(finding)));
        RETURN_IF_ERROR(txn.AddToCounter(AppliedCounterKey(review_id), 1));
        std::vector<std::string> resources = OwnershipResources(event.after());
        resources.push_back(
            absl::StrCat(NameOf(review_id), "/findings/", finding_id));
        RETURN_IF_ERROR(StageAuditRecord(txn, actor, rpc, request_id,
                                         std::move(resources), "OK: applied",
                                         now));
        effects.events.Append(std::move(pending));
        effects.plans.push_back(std::move(plan));
        result.set_status(v1::Finding::APPLIED);
        result.set_changed(true);
        return absl::OkStatus();
      }));
  return result;
}

absl::Status ReviewRunner::RunReview(Job* job) {
  const std::string& id = job->id;
  storage::v1::ReviewRecord record;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                     options_.store->NewSnapshot());
    std::string bytes;
    RETURN_IF_ERROR(snapshot->Get(Table::kOperations, ReviewKey(id), &bytes));
    ASSIGN_OR_RETURN(record, ParseRecord(id, bytes));
  }
  if (record.review().done()) return absl::OkStatus();
  const v1::StartReviewRequest& request = record.request();
  const Actor actor(record.review().metadata().created_by());
  // A batch checkpointed before a crash may have fixes still to apply.
  RETURN_IF_ERROR(ApplyPending(*job, actor));

  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot,
                   options_.store->NewSnapshot());
  ASSIGN_OR_RETURN(RosterIndex roster, SnapshotRoster(*snapshot));
  const RulesetRegistry::Active active = options_.rulesets->ActiveRuleset();
  const v1::Policies& policies = active.ruleset != nullptr
                                     ? active.ruleset->ruleset().policies()
                                     : DefaultPolicies();
  const CheckSet checks = ChecksOf(request);
  const absl::Time run_start = options_.clock->Now();
  int64_t run_scanned = 0;
  auto rate = [&]() -> double {
    const double secs =
        absl::ToDoubleSeconds(options_.clock->Now() - run_start);
    return secs > 0 ? static_cast<double>(run_scanned) / secs : 0.0;
  };

  if (record.phase() == kPhaseCustomers && record.cursor().empty() &&
      record.review().metadata().total() == 0) {
    // The total, counted once (keys only) at the start of the first run.
    int64_t total = 0;
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kCustomers, CustomerKeyPrefix());
    for (; it->Valid(); it->Next()) ++total;
    RETURN_IF_ERROR(it->status());
    RETURN_IF_ERROR(storage::RunInTransaction(
        *options_.store,
        [&](storage::Transaction& txn) -> absl::Status {
          ASSIGN_OR_RETURN(storage::v1::ReviewRecord current,
                           ReadRecordForUpdate(txn, id));
          if (current.review().done()) return absl::OkStatus();
          current.mutable_review()->mutable_metadata()->set_total(total);
          return txn.Put(Table::kOperations, ReviewKey(id),
                         SerializeDeterministic(current));
        },
        options_.max_attempts));
  }

  int32_t phase = record.phase();
  std::string cursor = record.cursor();
  const std::string customer_prefix = CustomerKeyPrefix();
  absl::flat_hash_map<std::string, v1::Ownership> current;
  storage::v1::CustomerRecord customer;
  while (phase == kPhaseCustomers) {
    if (Stopping(*job)) return absl::OkStatus();
    storage::ScanOptions scan;
    if (!cursor.empty()) scan.start_after = CustomerKey(cursor);
    std::unique_ptr<storage::ScanIterator> it =
        snapshot->Scan(Table::kCustomers, customer_prefix, scan);
    std::vector<v1::Finding> findings;
    int64_t n = 0;
    std::string last = cursor;
    for (; it->Valid() && n < options_.batch_size; it->Next()) {
      if (Stopping(*job)) return absl::OkStatus();
      if (!customer.ParseFromArray(it->value().data(),
                                   static_cast<int>(it->value().size()))) {
        return absl::DataLossError("a stored customer record does not parse");
      }
      ++n;
      last = customer.customer().id();
      RETURN_IF_ERROR(ReadOwnerships(*snapshot, last, &current));
      std::optional<AssignmentPlan> plan;
      if (active.ruleset != nullptr) {
        PlanInput input;
        input.customer = &customer.customer();
        input.ruleset = active.ruleset.get();
        input.ruleset_version = active.version;
        input.roster = &roster;
        input.current = &current;
        input.now = run_start;
        if (options_.cooldowns) input.in_cooldown = options_.cooldowns(last);
        ASSIGN_OR_RETURN(plan, planner_.Plan(input, PickMode::kDryRun));
      }
      CheckInput in;
      in.review_name = NameOf(id);
      in.review_id = id;
      in.record = &customer;
      in.current = &current;
      in.plan = plan.has_value() ? &*plan : nullptr;
      in.roster = &roster;
      in.policies = &policies;
      in.scope = &request.scope();
      in.checks = checks;
      in.now = run_start;
      in.pending_after = PendingAfter(request);
      for (v1::Finding& f : CheckCustomer(in)) findings.push_back(std::move(f));
    }
    RETURN_IF_ERROR(it->status());
    const bool end = n < options_.batch_size;
    run_scanned += n;
    const int32_t next_phase = end ? kPhaseCapacity : kPhaseCustomers;
    bool stopped = false;
    RETURN_IF_ERROR(Checkpoint(id, std::move(findings), next_phase,
                               end ? std::string() : last, n, rate(),
                               &stopped));
    if (stopped) return absl::OkStatus();
    if (options_.after_checkpoint &&
        !options_.after_checkpoint(NameOf(id), run_scanned)) {
      job->cancel = true;  // abandoned: Run must not mark it failed
      return absl::OkStatus();
    }
    if (request.mode() == v1::APPLY) RETURN_IF_ERROR(ApplyPending(*job, actor));
    if (options_.after_batch) options_.after_batch(NameOf(id), run_scanned);
    phase = next_phase;
    cursor = end ? std::string() : last;
    std::this_thread::yield();
  }

  if (phase == kPhaseCapacity && (checks & CheckBit(v1::OVER_CAPACITY)) &&
      active.ruleset != nullptr) {
    // Every (department, rep) seated in a team in scope, in order.
    std::set<std::pair<std::string, std::string>> seats;
    for (const v1::Team& team : roster.roster().teams()) {
      if (team.has_pool()) continue;
      for (const v1::TeamMember& member : team.members()) {
        seats.emplace(team.department(), member.rep());
      }
    }
    const bool count_won = policies.capacity().count_won();
    for (const auto& [department, rep] : seats) {
      const std::string here =
          absl::StrCat(department, std::string(1, '\0'), rep);
      if (!cursor.empty() && here <= cursor) continue;
      if (Stopping(*job)) return absl::OkStatus();
      std::vector<v1::Finding> findings;
      std::optional<RosterIndex::Seat> seat = roster.FindSeat(department, rep);
      const v1::ReviewScope& scope = request.scope();
      const bool dept_in =
          scope.departments().empty() ||
          std::find(scope.departments().begin(), scope.departments().end(),
                    department) != scope.departments().end();
      if (seat.has_value() && dept_in) {
        const int64_t capacity = MemberCapacity(*seat->member, policies);
        ASSIGN_OR_RETURN(int64_t owned, snapshot->GetCounter(OwnedCounterKeyOf(
                                            department, rep)));
        if (!count_won) {
          ASSIGN_OR_RETURN(
              const int64_t won,
              snapshot->GetCounter(WonCounterKeyOf(department, rep)));
          owned -= won;
        }
        if (owned > capacity) {
          const int64_t excess = owned - capacity;
          // Max-heap on (last activity, customer): the `excess` least
          // recent stay.
          using Entry = std::pair<int64_t, std::string>;
          std::priority_queue<Entry> heap;
          absl::flat_hash_map<std::string, v1::Ownership> kept;
          const std::string prefix = KeyBuilder()
                                         .AddString("by_rep")
                                         .AddString(department)
                                         .AddString(rep)
                                         .Build();
          std::unique_ptr<storage::ScanIterator> it =
              snapshot->Scan(Table::kIndexes, prefix);
          for (; it->Valid(); it->Next()) {
            if (Stopping(*job)) return absl::OkStatus();
            KeyReader reader(it->key().substr(prefix.size()));
            std::string customer_id;
            RETURN_IF_ERROR(reader.ReadString(&customer_id));
            std::string bytes;
            RETURN_IF_ERROR(snapshot->Get(Table::kOwnerships,
                                          OwnershipKey(customer_id, department),
                                          &bytes));
            v1::Ownership o;
            if (!o.ParseFromString(bytes)) {
              return absl::DataLossError("a stored ownership does not parse");
            }
            if (o.state() == v1::Ownership::FROZEN ||
                o.state() == v1::Ownership::ORPHANED ||
                !InScope(scope, department, o.team(), o.rep())) {
              continue;
            }
            RETURN_IF_ERROR(snapshot->Get(Table::kCustomers,
                                          CustomerKey(customer_id), &bytes));
            if (!customer.ParseFromString(bytes)) {
              return absl::DataLossError(
                  "a stored customer record does not parse");
            }
            if (!count_won && IsWon(customer.customer())) continue;
            const absl::Time last =
                customer.customer().has_last_activity_time()
                    ? FromProto(customer.customer().last_activity_time())
                    : FromProto(o.since());
            Entry entry{absl::ToUnixMicros(last), customer_id};
            if (static_cast<int64_t>(heap.size()) < excess) {
              kept[customer_id] = std::move(o);
              heap.push(std::move(entry));
            } else if (entry < heap.top()) {
              kept.erase(heap.top().second);
              heap.pop();
              kept[customer_id] = std::move(o);
              heap.push(std::move(entry));
            }
          }
          RETURN_IF_ERROR(it->status());
          std::vector<std::string> ids;
          for (const auto& [cid, o] : kept) ids.push_back(cid);
          std::sort(ids.begin(), ids.end());
          for (const std::string& cid : ids) {
            findings.push_back(OverCapacityFinding(NameOf(id), id, kept[cid],
                                                   owned, capacity));
          }
        }
      }
      bool stopped = false;
      RETURN_IF_ERROR(Checkpoint(id, std::move(findings), kPhaseCapacity, here,
                                 0, rate(), &stopped));
      if (stopped) return absl::OkStatus();
      if (request.mode() == v1::APPLY)
        RETURN_IF_ERROR(ApplyPending(*job, actor));
      cursor = here;
      std::this_thread::yield();
    }
  }
  if (Stopping(*job)) return absl::OkStatus();
  return Finish(id, absl::OkStatus());
}

}  // namespace custodian::server
