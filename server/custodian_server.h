// custodiand's server: loads and checks the roster and ruleset files, then
// serves custodian.v1.RulesetService, grpc.health.v1.Health and server
// reflection on a loopback address.
//
// Local development mode only: there is no authentication yet, so Options
// accepts loopback addresses only. Storage arrives in a later issue; the data
// directory is created but nothing is written to it.
#ifndef CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_
#define CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/ruleset_service.h"
#include "server/server_options.h"

namespace custodian::server {

// Thread-safe: every method may be called from any thread.
class CustodianServer {
 public:
  // Validates `options`, creates the data directory, loads and checks the
  // roster file and then the ruleset file against it, and starts serving.
  //
  // Returns:
  //   INVALID_ARGUMENT naming the option when `options` is bad
  //     (ValidateOptions), or when the roster or ruleset file does not
  //     validate; the message then holds every error as
  //     FILE:LINE:COL: field.path: message, one per line. Warnings are
  //     logged to stderr and do not stop the start.
  //   NOT_FOUND / PERMISSION_DENIED naming the file when a file cannot be
  //     read; FAILED_PRECONDITION when the data directory cannot be created.
  //   UNAVAILABLE when the address cannot be bound (e.g. in use).
  // On success the server is serving and its health status is SERVING.
  static absl::StatusOr<std::unique_ptr<CustodianServer>> Create(
      Options options);

  // Calls Shutdown(absl::Now()) if Shutdown was not called.
  ~CustodianServer();

  CustodianServer(const CustodianServer&) = delete;
  CustodianServer& operator=(const CustodianServer&) = delete;

  // Stops accepting calls, lets in-flight calls finish until `deadline`,
  // cancels those still running then, and returns once all have ended.
  // Health turns NOT_SERVING. Idempotent: later calls return at once.
  void Shutdown(absl::Time deadline);

  // The port the server is bound to (the chosen one when the option said 0).
  int port() const { return port_; }
  // Options::listen_address with the bound port, e.g. "127.0.0.1:41234".
  const std::string& address() const { return address_; }
  // The name of the ruleset loaded at start-up (`ruleset:` in its file).
  const std::string& ruleset_name() const { return ruleset_name_; }

 private:
  CustodianServer(Options options, std::unique_ptr<RulesetValidator> validator,
                  std::string ruleset_name);

  absl::Status Start();

  const Options options_;
  const std::unique_ptr<RulesetValidator> validator_;
  RulesetServiceImpl ruleset_service_;
  const std::string ruleset_name_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_CUSTODIAN_SERVER_H_
