// custodiand's server: opens the RocksDB store in the data directory, builds
// the roster and ruleset registries over it, gives an empty store the roster
// and ruleset files (first start), builds the ownership layer (event
// sequencer, ownership book, event feed, team allocator, assigner) and the
// worker pool, and serves custodian.v1.RulesetService,
// custodian.v1.RosterService, custodian.v1.AssignmentService,
// custodian.v1.OwnershipService, custodian.v1.PoolService (pool_desk.h),
// custodian.v1.DisputeService (appeal_desk.h),
// custodian.v1.IdentityService, custodian.v1.AuditService,
// custodian.v1.ReviewService (review_runner.h), grpc.health.v1.Health and
// server reflection; optionally (Options::health_listen_address)
// grpc.health.v1.Health alone on a second, plaintext port for probes that
// cannot do TLS. One background thread deletes expired request-id records;
// another runs the recycling sweeper (recycling_sweeper.h) every
// Options::recycling_sweep_interval, and one more the appeal expiry sweeper
// (appeal_expiry_sweeper.h) every Options::appeal_sweep_interval.
//
// Every custodian.v1 call is authenticated and authorized (authenticator.h,
// authorizer.h) by its handler before anything else; health and reflection
// are open to all, so that probes and tools work. With no authentication
// configured the server is in local development mode: loopback only, and
// every call is the principal "local-dev" with every role.
#ifndef CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_
#define CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/appeal_desk.h"
#include "server/appeal_expiry_sweeper.h"
#include "server/assigner.h"
#include "server/assignment_service.h"
#include "server/audit_service.h"
#include "server/authenticator.h"
#include "server/authorizer.h"
#include "server/dispute_service.h"
#include "server/event_feed.h"
#include "server/event_sequencer.h"
#include "server/idempotency.h"
#include "server/identity_service.h"
#include "server/ownership_book.h"
#include "server/ownership_service.h"
#include "server/pool_desk.h"
#include "server/pool_service.h"
#include "server/recycling_sweeper.h"
#include "server/review_runner.h"
#include "server/review_service.h"
#include "server/roster_registry.h"
#include "server/roster_service.h"
#include "server/ruleset_registry.h"
#include "server/ruleset_service.h"
#include "server/ruleset_simulator.h"
#include "server/server_options.h"
#include "server/team_allocator.h"
#include "server/worker_pool.h"
#include "storage/store.h"

namespace custodian::server {

// What the server found and did at start-up, for the start-up log and tests.
struct StartupReport {
  // true when this start gave the store its first roster and ruleset
  // (BootstrapIfEmpty ran and wrote); false when the store already had state
  // and the roster and ruleset files were not read.
  bool bootstrapped = false;
  // The stored roster's version (0: no roster).
  int64_t roster_version = 0;
  // The active ruleset version and its `ruleset:` name (0 and "": none).
  int64_t active_ruleset_version = 0;
  std::string active_ruleset_name;
  // The highest ownership event sequence stored (0: none): the event
  // sequencer's seed, where WatchOwnershipEvents' feed stands at start-up.
  int64_t event_sequence = 0;
};

// Thread-safe: every method may be called from any thread.
class CustodianServer {
 public:
  // Validates `options` (ValidateOptions), creates the data directory and
  // opens the store in it (sync_writes as the options say), and creates the
  // registries. Then, if the store holds nothing but what an earlier,
  // interrupted first start wrote (no active ruleset; bootstrap.h), reads
  // and checks the roster file and the ruleset file against it, and
  // BootstrapIfEmpty publishes and activates them. Otherwise the files are
  // not read at all (they may be absent or invalid): the stored state is the
  // truth, and the log says so. Finally binds the address and starts
  // serving, and starts the idempotency sweeper.
  //
  // Returns:
  //   INVALID_ARGUMENT naming the option when `options` is bad; on first
  //     start, when the roster or ruleset file does not validate: the
  //     message starts with "roster_file: " or "ruleset_file: " and holds
  //     every error as FILE:LINE:COL: field.path: message, one per line, and
  //     nothing is written. Warnings are logged and do not stop the start.
  //   NOT_FOUND / PERMISSION_DENIED naming the option when a file that is
  //     needed (first start) cannot be read.
  //   FAILED_PRECONDITION naming data_dir when it cannot be created or holds
  //     an incompatible or foreign store; UNAVAILABLE naming data_dir when
  //     it is locked by another process or on an I/O error; DATA_LOSS when
  //     the store is corrupt.
  //   UNAVAILABLE naming listen_address when it cannot be bound.
  // On failure the store, if opened, is closed again. On success the server
  // is serving and its health status is SERVING.
  static absl::StatusOr<std::unique_ptr<CustodianServer>> Create(
      Options options);

  // Calls Shutdown(absl::Now()) if Shutdown was not called.
  ~CustodianServer();

  CustodianServer(const CustodianServer&) = delete;
  CustodianServer& operator=(const CustodianServer&) = delete;

  // Stops gracefully: health turns NOT_SERVING; open WatchOwnershipEvents
  // streams end (UNAVAILABLE: reconnect with the last sequence) and new ones
  // are refused, so they do not hold the shutdown until `deadline`; the
  // server stops accepting calls, lets in-flight calls finish until
  // `deadline` and cancels those still running then (a call still queued
  // for a worker is then not run); once all have ended, drains and stops
  // the worker pool, stops the sweeper and closes the store (flushing it).
  // Returns the result of closing the store, which is also logged (an error as
  // an error). Idempotent: later calls return the first call's result at once.
  // The data directory can be opened again (e.g. by a new server) once this
  // returns.
  absl::Status Shutdown(absl::Time deadline);

  // Deletes every request-id record that has expired by the clock's now, as
  // the background sweeper does every Options::idempotency_sweep_interval.
  // Returns how many were deleted; the store's errors; FAILED_PRECONDITION
  // after Shutdown.
  absl::StatusOr<size_t> SweepIdempotencyNow();

  // Runs one recycling pass (RecyclingSweeper::SweepNow, batch by batch) as
  // the background thread does every Options::recycling_sweep_interval.
  // Returns what it did; the store's errors; FAILED_PRECONDITION after
  // Shutdown. A shutdown in progress stops it between batches (the next
  // pass resumes there).
  absl::StatusOr<RecyclingSweeper::Stats> SweepRecyclingNow();

  // Runs one appeal expiry pass (AppealExpirySweeper::SweepNow) as the
  // background thread does every Options::appeal_sweep_interval.
  // FAILED_PRECONDITION after Shutdown; the store's errors.
  absl::StatusOr<AppealExpirySweeper::Stats> SweepAppealsNow();

  // The port the server is bound to (the chosen one when the option said 0).
  int port() const { return port_; }
  // Options::listen_address with the bound port, e.g. "127.0.0.1:41234".
  const std::string& address() const { return address_; }
  // The plaintext health port (Options::health_listen_address) and its
  // address with the bound port; 0 and "" when there is none.
  int health_port() const { return health_port_; }
  const std::string& health_address() const { return health_address_; }
  // What happened at start-up.
  const StartupReport& startup() const { return startup_; }

  // Re-reads the token file, the principals file and the JWT keys
  // (Authenticator::Reload; custodiand calls it on SIGHUP). On an error the
  // credentials in use stay as they were; the result is also logged.
  absl::Status ReloadCredentials();

  // The authorizer every handler calls (its refusal counts).
  const Authorizer& authorizer() const { return *authorizer_; }

 private:
  CustodianServer(Options options, std::unique_ptr<Authenticator> auth,
                  std::unique_ptr<storage::Store> store,
                  std::unique_ptr<RosterRegistry> roster,
                  std::unique_ptr<RulesetRegistry> rulesets,
                  std::unique_ptr<RulesetSimulator> simulator);

  // The departments of the teams `rep` is a member of (for the Authorizer).
  absl::StatusOr<std::set<std::string>> RepDepartments(
      absl::string_view rep) const;
  // Binds the address and starts serving.
  absl::Status Start();
  // The first-start path of Create: bootstraps when needed; fills startup_.
  absl::Status Bootstrap();
  // A background thread's loop: runs `pass` every `interval` until
  // StopSweeper (a pass in progress finishes first).
  void RunEvery(absl::Duration interval, absl::FunctionRef<void()> pass);
  // The passes of the background threads: run, then log what they did.
  void IdempotencySweepPass();
  void RecyclePass();
  void AppealExpiryPass();
  // Stops the sweeper threads and waits for them. Idempotent.
  void StopSweeper();
  // Closes the store (once) and returns the result.
  absl::Status CloseStore();
  // Builds the ownership layer and its services (after Bootstrap, before
  // Start); fills startup_.event_sequence.
  absl::Status BuildOwnership();

  const Options options_;
  const Idempotency idempotency_;

  // Guards the store against a sweep racing its closing: sweeps and Close
  // hold it, and no sweep starts once the store is closed.
  absl::Mutex store_mu_;
  bool store_closed_ ABSL_GUARDED_BY(store_mu_) = false;
  std::unique_ptr<storage::Store> store_;

  const std::unique_ptr<Authenticator> authenticator_;
  const std::unique_ptr<Authorizer> authorizer_;
  const std::unique_ptr<RosterRegistry> roster_;
  const std::unique_ptr<RulesetRegistry> rulesets_;
  const std::unique_ptr<RulesetSimulator> simulator_;
  RulesetServiceImpl ruleset_service_;
  RosterServiceImpl roster_service_;
  IdentityServiceImpl identity_service_;

  // The ownership layer (BuildOwnership), over store_. Declared before
  // server_, so destroyed after it; the services before what they use.
  std::unique_ptr<EventSequencer> sequencer_;
  std::unique_ptr<OwnershipBook> book_;
  std::unique_ptr<EventFeed> feed_;
  std::unique_ptr<TeamAllocator> allocator_;
  std::unique_ptr<Assigner> assigner_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<AssignmentServiceImpl> assignment_service_;
  std::unique_ptr<OwnershipServiceImpl> ownership_service_;
  std::unique_ptr<PoolDesk> desk_;
  std::unique_ptr<RecyclingSweeper> recycler_;
  std::unique_ptr<PoolServiceImpl> pool_service_;
  std::unique_ptr<AppealDesk> appeals_;
  std::unique_ptr<AppealExpirySweeper> appeal_sweeper_;
  std::unique_ptr<DisputeServiceImpl> dispute_service_;
  std::unique_ptr<AuditServiceImpl> audit_service_;
  // Periodic reviews (review_runner.h): threads of their own, stopped
  // before the store closes; RUNNING reviews resume at start.
  std::unique_ptr<ReviewRunner> review_runner_;
  std::unique_ptr<ReviewServiceImpl> review_service_;

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  // Only grpc.health.v1.Health, plaintext (Options::health_listen_address).
  std::unique_ptr<grpc::Server> health_server_;
  int health_port_ = 0;
  std::string health_address_;
  StartupReport startup_;

  absl::Mutex sweeper_mu_;
  bool stop_sweeper_ ABSL_GUARDED_BY(sweeper_mu_) = false;
  std::thread sweeper_;
  std::thread recycler_thread_;
  std::thread appeal_thread_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Status shutdown_status_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_
