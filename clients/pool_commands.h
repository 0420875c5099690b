// custodianctl's public-pool commands (公海) and duplicate check (查重):
// `pool list|claim|release`, `activity record`, `dupes check`.
//
// The conventions are remote_commands.h's and ownership_commands.h's: each
// Run* function makes its call over `connection`, writes a table (or with
// OutputFormat::kJson one JSON document: the response message with proto
// field names) to `output.out` and problems to `output.err`, and returns
// the exit code (errors.h): 0 success; 1 the server refused (every bad
// field printed); 2 a bad flag value, before any call; 3 the server is
// unreachable. Mutating commands send the given --request-id, else a fresh
// one, added to the JSON document as "request_id".
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_POOL_COMMANDS_H_
#define CUSTODIAN_CLIENTS_POOL_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/connection.h"
#include "clients/output.h"
#include "clients/remote_commands.h"
#include "custodian/v1/pool.pb.h"

namespace custodian::clients {

struct PoolListArgs {
  // Required.
  std::string department;
  // Filters; empty: none.
  std::string pool;
  std::string segment;
  std::string region_under;
  std::string industry_under;
  // A duration ("3d", "12h"); empty: none.
  std::string min_time_in_pool;
  // AIP-158; 0: the server's default.
  int32_t page_size = 0;
  std::string page_token;
  // Follow every page.
  bool all = false;
};
// `pool list`: ListPool. Table: CUSTOMER POOL SINCE NAME REGION INDUSTRY,
// then "next page: --page-token T" when there is one.
int RunPoolList(const Connection& connection, const PoolListArgs& args,
                const CommandOutput& output);

struct PoolClaimArgs {
  std::string customer_id;
  std::string department;
  std::string rep;
  std::string request_id;  // default: a fresh id
};
// `pool claim`: Claim. Prints "claimed C in D: now REP (team T), active
// (event N)".
int RunPoolClaim(const Connection& connection, const PoolClaimArgs& args,
                 const CommandOutput& output);

struct PoolReleaseArgs {
  std::string customer_id;
  std::string department;
  std::string pool;  // default: the department's only pool
  // A reason code, lower-case (no_demand, unreachable, invalid_contact,
  // lost_to_competitor, duplicate, over_capacity, other). Required.
  std::string reason;
  std::string text;        // required with `other`
  std::string request_id;  // default: a fresh id
};
// `pool release`: Release. Prints "released C in D: now pool P, pooled
// (event N)".
int RunPoolRelease(const Connection& connection, const PoolReleaseArgs& args,
                   const CommandOutput& output);

// The reason code of `text` (lower-case names above); nullopt otherwise.
std::optional<v1::ReleaseRequest::Reason> ParseReleaseReason(
    absl::string_view text);
// The activity kind of `text` (call, visit, order, email, meeting).
std::optional<v1::RecordActivityRequest::Kind> ParseActivityKind(
    absl::string_view text);

struct ActivityRecordArgs {
  std::string customer_id;
  std::string department;
  std::string kind;  // required: call, visit, order, email, meeting
  std::string at;    // RFC 3339; default: now (this machine's clock)
  std::string request_id;
};
// `activity record`: RecordActivity. Prints "customer C: last activity T"
// and "(unchanged: a later activity is recorded)" when it did not move.
int RunActivityRecord(const Connection& connection,
                      const ActivityRecordArgs& args,
                      const CommandOutput& output);

struct DupesCheckArgs {
  std::string id;  // optional: the prospect's own id is not a match
  std::string name;
  std::string tax_id;
  std::string email_domain;
};
// `dupes check`: CheckDuplicates. Table: CUSTOMER KEY VALUE CREATED
// DEPARTMENT STATE OWNER PROTECTED_UNTIL (one row per owner), or
// "no duplicates (checked: KEYS)".
int RunDupesCheck(const Connection& connection, const DupesCheckArgs& args,
                  const CommandOutput& output);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_POOL_COMMANDS_H_
