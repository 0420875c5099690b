#include "server/custodian_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <filesystem>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "custodian/v1/assignment_service.grpc.pb.h"
#include "custodian/v1/audit_service.grpc.pb.h"
#include "custodian/v1/ownership_service.grpc.pb.h"
#include "custodian/v1/pool_service.grpc.pb.h"
#include "custodian/v1/review_service.grpc.pb.h"
#include "custodian/v1/roster_service.pb.h"
#include "custodian/v1/ruleset_service.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "rules/check.h"
#include "rules/diagnostics.h"
#include "rules/loader.h"
#include "server/bootstrap.h"
#include "server/duplicate_index.h"
#include "server/request_checks.h"
#include "storage/rocksdb_store.h"

#ifndef CUSTODIAN_VERSION
#define CUSTODIAN_VERSION "unknown"
#endif

namespace custodian::server {
namespace {

// Expired request-id records deleted per transaction by a sweep.
constexpr size_t kSweepBatch = 1000;

// Prefixes the message of a non-OK `status` with the option it concerns.
absl::Status Annotate(absl::string_view option, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(option, ": ", status.message()));
}

absl::Status CreateDataDir(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir: cannot create ", data_dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data_dir: ", data_dir, " is not a directory"));
  }
  return absl::OkStatus();
}

// Logs every warning of `diagnostics`. When it has errors, returns
// INVALID_ARGUMENT naming `option` and holding every diagnostic, one per line.
absl::Status ReportDiagnostics(absl::string_view option,
                               const std::string& path,
                               const rules::Diagnostics& diagnostics) {
  std::vector<std::string> lines;
  for (const rules::Diagnostic& diagnostic : diagnostics.Sorted()) {
    if (diagnostics.has_errors()) {
      lines.push_back(diagnostic.ToString());
    } else {
      LogWarning(diagnostic.ToString());
    }
  }
  if (!diagnostics.has_errors()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      option, ": ", path, " does not validate (", diagnostics.error_count(),
      " error(s), ", diagnostics.warning_count(), " warning(s)):\n",
      absl::StrJoin(lines, "\n")));
}

// The file name stored with what the bootstrap writes: the path as given
// when it is short enough for a request's file_name, else its last
// component (cut to the limit).
std::string StoredFileName(const std::string& path) {
  if (path.size() <= kMaxFileNameCodePoints) return path;
  return std::filesystem::path(path).filename().string().substr(
      0, kMaxFileNameCodePoints);
}

// Whether BootstrapIfEmpty would write anything, by its contract
// (bootstrap.h): nothing is active and everything stored was written by the
// bootstrap itself. Only then are the files needed.
bool BootstrapWouldWrite(const v1::GetRosterResponse& roster,
                         const v1::ListRulesetVersionsResponse& versions) {
  if (versions.active_version() != 0) return false;
  if (roster.version() != 0 && roster.updated_by() != kBootstrapActor) {
    return false;
  }
  if (versions.versions_size() > 1) return false;
  if (versions.versions_size() == 1 &&
      (versions.versions(0).version() != 1 ||
       versions.versions(0).created_by() != kBootstrapActor)) {
    return false;
  }
  return true;
}

// "127.0.0.1:0" and 41234 -> "127.0.0.1:41234".
std::string WithPort(const std::string& listen_address, int port) {
  size_t colon = listen_address.rfind(':');
  return absl::StrCat(listen_address.substr(0, colon), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CustodianServer>> CustodianServer::Create(
    Options options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  ASSIGN_OR_RETURN(std::unique_ptr<Authenticator> auth,
                   Authenticator::Create(options.auth, options.clock));
  RETURN_IF_ERROR(CreateDataDir(options.data_dir));

  storage::RocksDbStoreOptions store_options;
  store_options.data_dir = options.data_dir;
  store_options.create_if_missing = true;
  store_options.sync_writes = options.sync_writes;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::RocksDbStore::Open(store_options);
  if (!store.ok()) return Annotate("data_dir", store.status());

  IdempotencyOptions idempotency;
  idempotency.window = options.idempotency_window;
  absl::StatusOr<std::unique_ptr<RosterRegistry>> roster =
      RosterRegistry::Create({store->get(), options.clock, idempotency});
  if (!roster.ok()) return roster.status();
  absl::StatusOr<std::unique_ptr<RulesetRegistry>> rulesets =
      RulesetRegistry::Create({store->get(), options.clock, idempotency});
  if (!rulesets.ok()) return Annotate("data_dir", rulesets.status());
  absl::StatusOr<std::unique_ptr<RulesetSimulator>> simulator =
      RulesetSimulator::Create({store->get(), rulesets->get(), options.clock});
  if (!simulator.ok()) return simulator.status();

  // From here on the server object owns the store: on an error, its
  // destructor closes it.
  std::unique_ptr<CustodianServer> server(new CustodianServer(
      std::move(options), std::move(auth), *std::move(store),
      *std::move(roster), *std::move(rulesets), *std::move(simulator)));
  RETURN_IF_ERROR(server->Bootstrap());
  RETURN_IF_ERROR(server->BuildOwnership());
  RETURN_IF_ERROR(server->Start());
  CustodianServer* self = server.get();
  self->sweeper_ = std::thread([self] {
    self->RunEvery(self->options_.idempotency_sweep_interval,
                   [self] { self->IdempotencySweepPass(); });
  });
  self->recycler_thread_ = std::thread([self] {
    self->RunEvery(self->options_.recycling_sweep_interval,
                   [self] { self->RecyclePass(); });
  });
  self->appeal_thread_ = std::thread([self] {
    self->RunEvery(self->options_.appeal_sweep_interval,
                   [self] { self->AppealExpiryPass(); });
  });
  RETURN_IF_ERROR(server->review_runner_->ResumeRunning());

  const Options& o = server->options_;
  const StartupReport& r = server->startup_;
  if (!o.sync_writes) {
    LogWarning(
        "UNSAFE: writes are not synced (--unsafe-disable-sync): a crash of "
        "custodiand loses nothing acknowledged, but an operating-system crash "
        "or a power loss may lose the changes acknowledged in roughly the "
        "last 30 seconds (each change lost whole, never half-written)");
  }
  const AuthOptions& auth_options = o.auth;
  if (!auth_options.configured()) {
    LogWarning(
        "local development mode: no authentication; listening on loopback "
        "only; every caller has every role and every change is recorded as "
        "actor \"local-dev\". Configure token_file, jwt_* or "
        "tls_client_ca_file to serve anyone else");
  } else {
    std::vector<std::string> methods;
    if (!auth_options.token_file.empty()) {
      methods.push_back(
          absl::StrCat("static tokens (", auth_options.token_file, ")"));
    }
    if (auth_options.jwt_enabled()) {
      methods.push_back(absl::StrCat("JWTs from issuer ",
                                     auth_options.jwt_issuer, " for audience ",
                                     auth_options.jwt_audience));
    }
    if (!auth_options.tls_client_ca_file.empty()) {
      methods.push_back(absl::StrCat("client certificates (CA ",
                                     auth_options.tls_client_ca_file, ")"));
    }
    LogInfo(absl::StrCat("authentication: ", absl::StrJoin(methods, ", "), "; ",
                         auth_options.tls() ? "TLS" : "plaintext",
                         " (loopback)"));
  }
  LogInfo(absl::StrCat(
      "custodiand ", CUSTODIAN_VERSION,
      " serving custodian.v1.RulesetService, custodian.v1.RosterService, "
      "custodian.v1.AssignmentService, custodian.v1.OwnershipService, "
      "custodian.v1.PoolService, custodian.v1.DisputeService, "
      "custodian.v1.IdentityService, custodian.v1.AuditService, "
      "custodian.v1.ReviewService, grpc.health.v1.Health and server "
      "reflection on ",
      server->address_,
      server->health_address_.empty()
          ? std::string()
          : absl::StrCat("; grpc.health.v1.Health alone (plaintext) on ",
                         server->health_address_),
      "; data dir ", o.data_dir, " (",
      o.sync_writes ? "synced writes" : "UNSAFE: unsynced writes",
      "); roster version ", r.roster_version, "; active ruleset ",
      r.active_ruleset_version == 0
          ? std::string("none")
          : absl::StrCat("version ", r.active_ruleset_version, " \"",
                         r.active_ruleset_name, "\""),
      "; event sequence high-water mark ", r.event_sequence, "; ", o.workers,
      " workers; first-start bootstrap ",
      r.bootstrapped ? "ran" : "did not run (stored state used)"));
  return server;
}

CustodianServer::CustodianServer(Options options,
                                 std::unique_ptr<Authenticator> auth,
                                 std::unique_ptr<storage::Store> store,
                                 std::unique_ptr<RosterRegistry> roster,
                                 std::unique_ptr<RulesetRegistry> rulesets,
                                 std::unique_ptr<RulesetSimulator> simulator)
    : options_(std::move(options)),
      idempotency_(IdempotencyOptions{options_.idempotency_window}),
      store_(std::move(store)),
      authenticator_(std::move(auth)),
      authorizer_(std::make_unique<Authorizer>(
          authenticator_.get(),
          [this](absl::string_view rep) { return RepDepartments(rep); })),
      roster_(std::move(roster)),
      rulesets_(std::move(rulesets)),
      simulator_(std::move(simulator)),
      ruleset_service_(rulesets_.get(), simulator_.get(), authorizer_.get()),
      roster_service_(roster_.get(), authorizer_.get()),
      identity_service_(authorizer_.get()) {}

absl::StatusOr<std::set<std::string>> CustodianServer::RepDepartments(
    absl::string_view rep) const {
  ASSIGN_OR_RETURN(v1::GetRosterResponse roster, roster_->Get());
  std::set<std::string> departments;
  for (const v1::Team& team : roster.roster().teams()) {
    for (const v1::TeamMember& member : team.members()) {
      if (member.rep() == rep) departments.insert(team.department());
    }
  }
  return departments;
}

absl::Status CustodianServer::ReloadCredentials() {
  absl::Status status = authenticator_->Reload();
  if (status.ok()) {
    LogInfo("credentials reloaded (token file, principals file, JWT keys)");
  } else {
    LogError(
        absl::StrCat("credentials not reloaded, the previous ones stay "
                     "in use: ",
                     status.message()));
  }
  return status;
}

CustodianServer::~CustodianServer() { (void)Shutdown(absl::Now()); }

absl::Status CustodianServer::Bootstrap() {
  ASSIGN_OR_RETURN(v1::GetRosterResponse roster, roster_->Get());
  v1::ListRulesetVersionsRequest list;
  list.set_page_size(2);
  ASSIGN_OR_RETURN(v1::ListRulesetVersionsResponse versions,
                   rulesets_->List(list));

  if (!BootstrapWouldWrite(roster, versions)) {
    LogInfo(absl::StrCat(
        "data dir ", options_.data_dir, " holds state (roster version ",
        roster.version(), ", active ruleset version ",
        versions.active_version(), "): ", options_.roster_file, " and ",
        options_.ruleset_file,
        " are not read; the stored state is the truth (change it with "
        "ApplyRoster, CreateRulesetVersion and ActivateRuleset)"));
  } else {
    LogInfo(absl::StrCat("data dir ", options_.data_dir,
                         " holds no active ruleset: first start, loading ",
                         options_.roster_file, " and ", options_.ruleset_file));
    BootstrapFiles files;
    {
      absl::StatusOr<std::string> text =
          rules::ReadTextFile(options_.roster_file);
      if (!text.ok()) return Annotate("roster_file", text.status());
      files.roster_text = *std::move(text);
    }
    std::unique_ptr<rules::RosterCheck> roster_check =
        rules::CheckRosterText(files.roster_text, options_.roster_file);
    RETURN_IF_ERROR(ReportDiagnostics("roster_file", options_.roster_file,
                                      roster_check->diagnostics));
    {
      absl::StatusOr<std::string> text =
          rules::ReadTextFile(options_.ruleset_file);
      if (!text.ok()) return Annotate("ruleset_file", text.status());
      files.ruleset_text = *std::move(text);
    }
    std::unique_ptr<rules::RulesetCheck> ruleset_check =
        rules::CheckRulesetText(files.ruleset_text, options_.ruleset_file,
                                &roster_check->roster);
    RETURN_IF_ERROR(ReportDiagnostics("ruleset_file", options_.ruleset_file,
                                      ruleset_check->diagnostics));
    files.roster_file_name = StoredFileName(options_.roster_file);
    files.ruleset_file_name = StoredFileName(options_.ruleset_file);
    absl::StatusOr<BootstrapResult> result =
        BootstrapIfEmpty(*roster_, *rulesets_, files);
    if (!result.ok()) return Annotate("first-start bootstrap", result.status());
    startup_.bootstrapped = *result == BootstrapResult::kBootstrapped;
    ASSIGN_OR_RETURN(roster, roster_->Get());
    ASSIGN_OR_RETURN(versions, rulesets_->List(list));
  }

  startup_.roster_version = roster.version();
  startup_.active_ruleset_version = versions.active_version();
  if (versions.active_version() != 0) {
    v1::GetRulesetRequest get;
    get.set_version(versions.active_version());
    get.set_omit_source(true);
    ASSIGN_OR_RETURN(v1::RulesetVersion active, rulesets_->Get(get));
    startup_.active_ruleset_name = active.name();
  }
  return absl::OkStatus();
}

absl::Status CustodianServer::BuildOwnership() {
  storage::Store* store = store_.get();
  absl::StatusOr<std::unique_ptr<EventSequencer>> sequencer =
      EventSequencer::Create(store);
  if (!sequencer.ok()) return Annotate("data_dir", sequencer.status());
  sequencer_ = *std::move(sequencer);
  startup_.event_sequence = sequencer_->last_allocated();
  // Stores from before the duplicate-key markers get them now, once.
  if (absl::StatusOr<int64_t> markers = BackfillDuplicateMarkers(*store);
      !markers.ok()) {
    return Annotate("data_dir", markers.status());
  }
  // Stores from before ListOwnerships scanned ownership records for a
  // department lose their department index now, once.
  if (absl::StatusOr<int64_t> dropped = DropDepartmentIndex(*store);
      !dropped.ok()) {
    return Annotate("data_dir", dropped.status());
  }
  // Stores from before ListOwnerships joined its filters' ranges lose the
  // counters of those ranges' sizes now, once, and get department markers.
  if (absl::StatusOr<int64_t> dropped = DropIndexSizeCounters(*store);
      !dropped.ok()) {
    return Annotate("data_dir", dropped.status());
  }

  OwnershipBook::Options book;
  book.store = store;
  book.sequencer = sequencer_.get();
  book.clock = options_.clock;
  ASSIGN_OR_RETURN(book_, OwnershipBook::Create(book));
  feed_ = std::make_unique<EventFeed>(store, sequencer_.get());
  allocator_ = std::make_unique<TeamAllocator>(StoreCounterLoader(store));

  PoolDesk::Options desk;
  desk.store = store;
  desk.rulesets = rulesets_.get();
  desk.book = book_.get();
  desk.allocator = allocator_.get();
  desk.clock = options_.clock;
  desk.idempotency.window = options_.idempotency_window;
  ASSIGN_OR_RETURN(desk_, PoolDesk::Create(std::move(desk)));
  RecyclingSweeper::Options recycler;
  recycler.store = store;
  recycler.rulesets = rulesets_.get();
  recycler.book = book_.get();
  recycler.allocator = allocator_.get();
  recycler.clock = options_.clock;
  ASSIGN_OR_RETURN(recycler_, RecyclingSweeper::Create(recycler));

  Assigner::Options assigner;
  assigner.store = store;
  assigner.rulesets = rulesets_.get();
  assigner.book = book_.get();
  assigner.allocator = allocator_.get();
  assigner.clock = options_.clock;
  assigner.idempotency.window = options_.idempotency_window;
  assigner.cooldowns = desk_->CooldownLookup();
  ASSIGN_OR_RETURN(assigner_, Assigner::Create(std::move(assigner)));

  WorkerPool::Options pool;
  pool.threads = options_.workers;
  pool.queue_capacity =
      static_cast<int64_t>(options_.workers) * kQueuedCallsPerWorker;
  pool.name = "workers";
  ASSIGN_OR_RETURN(workers_, WorkerPool::Create(std::move(pool)));

  assignment_service_ = std::make_unique<AssignmentServiceImpl>(
      assigner_.get(), workers_.get(), authorizer_.get());
  OwnershipServiceImpl::Options ownership;
  ownership.book = book_.get();
  ownership.assigner = assigner_.get();
  ownership.feed = feed_.get();
  ownership.sequencer = sequencer_.get();
  ownership.pool = workers_.get();
  ownership.authorizer = authorizer_.get();
  ASSIGN_OR_RETURN(ownership_service_, OwnershipServiceImpl::Create(ownership));
  pool_service_ = std::make_unique<PoolServiceImpl>(desk_.get(), workers_.get(),
                                                    authorizer_.get());
  AppealDesk::Options appeals;
  appeals.store = store;
  appeals.rulesets = rulesets_.get();
  appeals.book = book_.get();
  appeals.allocator = allocator_.get();
  appeals.clock = options_.clock;
  appeals.idempotency.window = options_.idempotency_window;
  ASSIGN_OR_RETURN(appeals_, AppealDesk::Create(std::move(appeals)));
  AppealExpirySweeper::Options appeal_sweeper;
  appeal_sweeper.store = store;
  appeal_sweeper.desk = appeals_.get();
  appeal_sweeper.clock = options_.clock;
  ASSIGN_OR_RETURN(appeal_sweeper_,
                   AppealExpirySweeper::Create(appeal_sweeper));
  dispute_service_ = std::make_unique<DisputeServiceImpl>(
      appeals_.get(), workers_.get(), authorizer_.get());
  audit_service_ = std::make_unique<AuditServiceImpl>(store, workers_.get(),
                                                      authorizer_.get());
  ReviewRunner::Options review;
  review.store = store;
  review.rulesets = rulesets_.get();
  review.book = book_.get();
  review.allocator = allocator_.get();
  review.clock = options_.clock;
  review.idempotency.window = options_.idempotency_window;
  review.cooldowns = desk_->CooldownLookup();
  review.batch_size = options_.review_batch_size;
  ASSIGN_OR_RETURN(review_runner_, ReviewRunner::Create(std::move(review)));
  review_service_ = std::make_unique<ReviewServiceImpl>(
      review_runner_.get(), workers_.get(), authorizer_.get());
  return absl::OkStatus();
}

absl::Status CustodianServer::Start() {
  // gRPC's built-in health service is implemented without protobuf, so its
  // messages are not in the generated descriptor pool. Linking our copy of
  // grpc/health/v1/health.proto puts them there, so that reflection can
  // describe grpc.health.v1.Health to tools such as grpcurl.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default; without this a second custodiand on
  // the same port would start and silently share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options_.listen_address,
                           authenticator_->ServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options_.max_request_bytes));
  builder.RegisterService(&ruleset_service_);
  builder.RegisterService(&roster_service_);
  builder.RegisterService(assignment_service_.get());
  builder.RegisterService(ownership_service_.get());
  builder.RegisterService(pool_service_.get());
  builder.RegisterService(dispute_service_.get());
  builder.RegisterService(&identity_service_);
  builder.RegisterService(audit_service_.get());
  builder.RegisterService(review_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
    return absl::UnavailableError(
        absl::StrCat("listen_address: cannot listen on ",
                     options_.listen_address, " (is the port in use?)"));
  }
  address_ = WithPort(options_.listen_address, port_);
  if (!options_.health_listen_address.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Nothing but the serving status is served here, so no credentials
    // cross this port.
    health_builder.AddListeningPort(options_.health_listen_address,
                                    grpc::InsecureServerCredentials(),
                                    &health_port_);
    health_server_ = health_builder.BuildAndStart();
    if (health_server_ == nullptr || health_port_ == 0) {
      if (health_server_ != nullptr) {
        health_server_->Shutdown();
        health_server_->Wait();
        health_server_.reset();
      }
      server_->Shutdown();
      server_->Wait();
      server_.reset();
      return absl::UnavailableError(absl::StrCat(
          "health_listen_address: cannot listen on ",
          options_.health_listen_address, " (is the port in use?)"));
    }
    health_address_ = WithPort(options_.health_listen_address, health_port_);
  }
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    for (const char* service : {v1::RulesetService::service_full_name(),
                                v1::RosterService::service_full_name(),
                                v1::AssignmentService::service_full_name(),
                                v1::OwnershipService::service_full_name(),
                                v1::PoolService::service_full_name(),
                                v1::DisputeService::service_full_name(),
                                v1::IdentityService::service_full_name(),
                                v1::AuditService::service_full_name(),
                                v1::ReviewService::service_full_name()}) {
      health->SetServingStatus(service, true);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> CustodianServer::SweepIdempotencyNow() {
  absl::MutexLock lock(&store_mu_);
  if (store_closed_) {
    return absl::FailedPreconditionError("the server is shut down");
  }
  const absl::Time now = options_.clock->Now();
  size_t total = 0;
  while (true) {
    ASSIGN_OR_RETURN(size_t swept,
                     idempotency_.SweepExpired(*store_, now, kSweepBatch));
    total += swept;
    if (swept < kSweepBatch) break;
    // A long backlog: let a shutdown in progress stop it between batches.
    absl::MutexLock sweeper_lock(&sweeper_mu_);
    if (stop_sweeper_) break;
  }
  return total;
}

void CustodianServer::RunEvery(absl::Duration interval,
                               absl::FunctionRef<void()> pass) {
  sweeper_mu_.Lock();
  while (true) {
    sweeper_mu_.AwaitWithTimeout(absl::Condition(&stop_sweeper_), interval);
    if (stop_sweeper_) break;
    sweeper_mu_.Unlock();
    pass();
    sweeper_mu_.Lock();
  }
  sweeper_mu_.Unlock();
}

void CustodianServer::IdempotencySweepPass() {
  absl::StatusOr<size_t> swept = SweepIdempotencyNow();
  if (!swept.ok()) {
    LogError(
        absl::StrCat("idempotency sweep failed (retried in ",
                     absl::FormatDuration(options_.idempotency_sweep_interval),
                     "): ", swept.status().ToString()));
  } else if (*swept > 0) {
    LogInfo(absl::StrCat("idempotency sweep: deleted ", *swept,
                         " expired request-id record(s)"));
  }
}

absl::StatusOr<RecyclingSweeper::Stats> CustodianServer::SweepRecyclingNow() {
  RecyclingSweeper::Stats stats;
  while (true) {
    {
      absl::MutexLock lock(&store_mu_);
      if (store_closed_) {
        return absl::FailedPreconditionError("the server is shut down");
      }
      ASSIGN_OR_RETURN(const bool done, recycler_->SweepBatch(&stats));
      if (done) break;
    }
    absl::MutexLock sweeper_lock(&sweeper_mu_);
    if (stop_sweeper_) break;
  }
  return stats;
}

void CustodianServer::RecyclePass() {
  absl::StatusOr<RecyclingSweeper::Stats> stats = SweepRecyclingNow();
  if (!stats.ok()) {
    LogError(
        absl::StrCat("recycling sweep failed (resumed in ",
                     absl::FormatDuration(options_.recycling_sweep_interval),
                     "): ", stats.status().ToString()));
  } else if (stats->recycled > 0 || stats->skipped_no_pool > 0) {
    LogInfo(absl::StrCat("recycling sweep: examined ", stats->examined,
                         ", recycled ", stats->recycled, ", protected ",
                         stats->protected_owner, ", pool missing ",
                         stats->skipped_no_pool));
  }
}

absl::StatusOr<AppealExpirySweeper::Stats> CustodianServer::SweepAppealsNow() {
  absl::MutexLock lock(&store_mu_);
  if (store_closed_) {
    return absl::FailedPreconditionError("the server is shut down");
  }
  return appeal_sweeper_->SweepNow();
}

void CustodianServer::AppealExpiryPass() {
  absl::StatusOr<AppealExpirySweeper::Stats> stats = SweepAppealsNow();
  if (!stats.ok()) {
    LogError(absl::StrCat("appeal expiry sweep failed (retried in ",
                          absl::FormatDuration(options_.appeal_sweep_interval),
                          "): ", stats.status().ToString()));
  } else if (stats->examined > 0) {
    LogInfo(absl::StrCat("appeal expiry sweep: ", stats->examined,
                         " due, upheld ", stats->upheld, ", overturned ",
                         stats->overturned, ", escalated ", stats->escalated));
  }
}

void CustodianServer::StopSweeper() {
  {
    absl::MutexLock lock(&sweeper_mu_);
    stop_sweeper_ = true;
  }
  if (sweeper_.joinable()) sweeper_.join();
  if (recycler_thread_.joinable()) recycler_thread_.join();
  if (appeal_thread_.joinable()) appeal_thread_.join();
}

absl::Status CustodianServer::CloseStore() {
  absl::MutexLock lock(&store_mu_);
  if (store_closed_) return absl::OkStatus();
  store_closed_ = true;
  absl::Status status = store_->Close();
  if (status.ok()) {
    LogInfo(absl::StrCat("store in ", options_.data_dir, " closed cleanly"));
  } else {
    LogError(absl::StrCat("closing the store in ", options_.data_dir,
                          " failed: ", status.ToString()));
  }
  return status;
}

absl::Status CustodianServer::Shutdown(absl::Time deadline) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return shutdown_status_;
  shut_down_ = true;
  if (server_ != nullptr) {
    // Health first, so that load balancers and probes stop sending new calls
    // while the in-flight ones drain.
    server_->GetHealthCheckService()->Shutdown();
  }
  if (health_server_ != nullptr) {
    health_server_->GetHealthCheckService()->Shutdown();
  }
  // Watches never end by themselves: end them now, or the gRPC server's
  // Shutdown would wait for them until the deadline.
  if (ownership_service_ != nullptr) ownership_service_->EndWatches();
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(deadline));
    server_->Wait();
  }
  // Every call has finished, so the pool holds no more work of theirs: this
  // only joins its threads. Then nothing uses the store but the sweeper.
  if (health_server_ != nullptr) {
    health_server_->Shutdown(absl::ToChronoTime(deadline));
    health_server_->Wait();
  }
  if (workers_ != nullptr) workers_->Shutdown();
  if (review_runner_ != nullptr) review_runner_->Shutdown();
  if (sequencer_ != nullptr) sequencer_->Shutdown();
  StopSweeper();
  shutdown_status_ = CloseStore();
  return shutdown_status_;
}

}  // namespace custodian::server
