// custodianctl's appeal commands (disputes):
// `appeal file|list|show|comment|vote|rule|withdraw|stats`.
//
// The conventions are remote_commands.h's and pool_commands.h's: each Run*
// function makes its call over `connection`, writes a table or text (or
// with OutputFormat::kJson one JSON document: the response message with
// proto field names) to `output.out` and problems to `output.err`, and
// returns the exit code (errors.h): 0 success; 1 the server refused (every
// bad field printed); 2 a bad flag value, before any call, or a ruling not
// confirmed; 3 the server is unreachable. Mutating commands send the given
// --request-id, else a fresh one, added to the JSON document as
// "request_id".
//
// Thread-safe: no shared state.
#ifndef CUSTODIAN_CLIENTS_APPEAL_COMMANDS_H_
#define CUSTODIAN_CLIENTS_APPEAL_COMMANDS_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/connection.h"
#include "clients/output.h"
#include "clients/remote_commands.h"
#include "custodian/v1/appeal.pb.h"

namespace custodian::clients {

struct AppealFileArgs {
  std::string customer_id;
  std::string department;
  std::string claimant;
  std::string reason;
  std::vector<std::string> evidence;
  std::string request_id;  // default: a fresh id
};
// `appeal file`: FileAppeal. Prints "filed appeal ID on C in D against
// OWNER: panel A, B, C (quorum N), deadline T" (or "routed to the managers
// of D").
int RunAppealFile(const Connection& connection, const AppealFileArgs& args,
                  const CommandOutput& output);

struct AppealListArgs {
  // open, escalated, upheld, overturned, withdrawn; empty: any.
  std::string state;
  std::string department;
  std::string claimant;
  std::string owner;
  // The caller's inbox: their panel seats and, for managers, escalations.
  bool mine = false;
  int32_t page_size = 0;
  std::string page_token;
  bool all = false;  // follow every page
};
// `appeal list`: ListAppeals. Table: ID STATE CUSTOMER DEPARTMENT CLAIMANT
// OWNER DEADLINE VOTES, then "next page: --page-token T" when there is one.
int RunAppealList(const Connection& connection, const AppealListArgs& args,
                  const CommandOutput& output);

// `appeal show`: GetAppeal. The appeal, its panel and votes, and its
// timeline, one line per entry: "TIME  ACTOR  KIND[ DECISION]: TEXT".
int RunAppealShow(const Connection& connection, const std::string& appeal_id,
                  const CommandOutput& output);

struct AppealCommentArgs {
  std::string appeal_id;
  std::string text;
  std::string request_id;
};
int RunAppealComment(const Connection& connection,
                     const AppealCommentArgs& args,
                     const CommandOutput& output);

struct AppealVoteArgs {
  std::string appeal_id;
  std::string decision;  // uphold | overturn
  std::string reason;
  std::string request_id;
};
// `appeal vote`: CastVote. Prints "appeal ID: STATE (votes: ...)".
int RunAppealVote(const Connection& connection, const AppealVoteArgs& args,
                  const CommandOutput& output);

struct AppealRuleArgs {
  std::string appeal_id;
  std::string decision;  // uphold | overturn
  std::string reason;
  bool override_capacity = false;
  std::string override_reason;
  std::string request_id;
  // Without it, asks "rule ...? [y/N]" on output.err and reads the answer
  // from *confirm (anything but y or yes: nothing is sent, exit 2).
  bool yes = false;
  std::istream* confirm = nullptr;
};
// `appeal rule`: RuleOnAppeal. Prints "appeal ID: STATE by WHO: REASON".
int RunAppealRule(const Connection& connection, const AppealRuleArgs& args,
                  const CommandOutput& output);

struct AppealWithdrawArgs {
  std::string appeal_id;
  std::string reason;
  std::string request_id;
};
int RunAppealWithdraw(const Connection& connection,
                      const AppealWithdrawArgs& args,
                      const CommandOutput& output);

// `appeal stats`: GetAppealStats (of `department`, "" for every one). Two
// tables: REP FILED WON LOST PENDING WITHDRAWN DEFENDED OVERTURNED, then
// ARBITER SEATS VOTES AWAITING MEAN-TIME-TO-VOTE.
int RunAppealStats(const Connection& connection, const std::string& department,
                   const CommandOutput& output);

// "uphold" / "overturn"; nullopt otherwise.
std::optional<v1::AppealVote::Decision> ParseAppealDecision(
    absl::string_view text);
// "open", "escalated", "upheld", "overturned", "withdrawn"; nullopt
// otherwise.
std::optional<v1::Appeal::State> ParseAppealState(absl::string_view text);

}  // namespace custodian::clients

#endif  // CUSTODIAN_CLIENTS_APPEAL_COMMANDS_H_
