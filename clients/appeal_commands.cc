#include "clients/appeal_commands.h"

#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/errors.h"
#include "clients/rules_commands.h"
#include "clients/unary_call.h"
#include "custodian/v1/dispute_service.grpc.pb.h"

namespace custodian::clients {
namespace {

using Stub = v1::DisputeService::Stub;

std::string Lower(absl::string_view name) {
  return absl::AsciiStrToLower(name);
}

std::string StateName(v1::Appeal::State s) {
  return Lower(v1::Appeal::State_Name(s));
}

std::string Votes(const v1::Appeal& a) {
  std::vector<std::string> votes;
  for (const v1::AppealVote& v : a.votes()) {
    votes.push_back(absl::StrCat(
        v.arbiter(), "=", Lower(v1::AppealVote::Decision_Name(v.decision()))));
  }
  return votes.empty() ? std::string("-") : absl::StrJoin(votes, ",");
}

// Writes `a` as JSON or as the one line `line`.
int Answer(const v1::Appeal& a, const std::string& line, bool generated,
           const std::string& request_id, const CommandOutput& output) {
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(a, GeneratedId(generated, request_id));
  } else {
    output.out << line << "\n";
  }
  return kExitOk;
}

std::string Status(const v1::Appeal& a) {
  std::string line =
      absl::StrCat("appeal ", a.id(), ": ", StateName(a.state()));
  if (a.state() == v1::Appeal::UPHELD || a.state() == v1::Appeal::OVERTURNED) {
    absl::StrAppend(&line, " by ", a.ruled_by(), ": ", a.ruling_reason());
  } else if (a.state() == v1::Appeal::OPEN ||
             a.state() == v1::Appeal::ESCALATED) {
    absl::StrAppend(&line, " (votes: ", Votes(a), "; deadline ",
                    FormatTimestamp(a.deadline()), ")");
  }
  return line;
}

bool ParseDecisionFlag(const std::string& text, v1::AppealVote::Decision* out,
                       std::ostream& err) {
  std::optional<v1::AppealVote::Decision> d = ParseAppealDecision(text);
  if (!d.has_value()) {
    err << "custodianctl: --decision: \"" << text
        << "\" is not uphold or overturn\n";
    return false;
  }
  *out = *d;
  return true;
}

}  // namespace

std::optional<v1::AppealVote::Decision> ParseAppealDecision(
    absl::string_view text) {
  if (text == "uphold") return v1::AppealVote::UPHOLD;
  if (text == "overturn") return v1::AppealVote::OVERTURN;
  return std::nullopt;
}

std::optional<v1::Appeal::State> ParseAppealState(absl::string_view text) {
  for (v1::Appeal::State s :
       {v1::Appeal::OPEN, v1::Appeal::ESCALATED, v1::Appeal::UPHELD,
        v1::Appeal::OVERTURNED, v1::Appeal::WITHDRAWN}) {
    if (text == StateName(s)) return s;
  }
  return std::nullopt;
}

int RunAppealFile(const Connection& connection, const AppealFileArgs& args,
                  const CommandOutput& output) {
  v1::FileAppealRequest request;
  request.set_customer_id(args.customer_id);
  request.set_department(args.department);
  request.set_claimant(args.claimant);
  request.set_reason(args.reason);
  for (const std::string& e : args.evidence) request.add_evidence(e);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::FileAppeal, request, &a,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  std::vector<std::string> panel;
  for (const v1::PanelSeat& s : a.panel()) panel.push_back(s.arbiter());
  const std::string who =
      a.routed_to_managers()
          ? absl::StrCat("routed to the managers of ", a.department())
          : absl::StrCat("panel ", absl::StrJoin(panel, ", "), " (quorum ",
                         a.quorum(), ")");
  return Answer(
      a,
      absl::StrCat("filed appeal ", a.id(), " on ", a.customer_id(), " in ",
                   a.department(), " against ", a.owner(), ": ", who,
                   ", deadline ", FormatTimestamp(a.deadline())),
      generated, request.request_id(), output);
}

int RunAppealList(const Connection& connection, const AppealListArgs& args,
                  const CommandOutput& output) {
  v1::ListAppealsRequest request;
  if (!args.state.empty()) {
    std::optional<v1::Appeal::State> s = ParseAppealState(args.state);
    if (!s.has_value()) {
      output.err << "custodianctl: --state: \"" << args.state
                 << "\" is not one of open, escalated, upheld, overturned, "
                    "withdrawn\n";
      return kExitUsage;
    }
    request.set_state(*s);
  }
  request.set_department(args.department);
  request.set_claimant(args.claimant);
  request.set_owner(args.owner);
  request.set_assigned_to_me(args.mine);
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::ListAppealsResponse all;
  while (true) {
    v1::ListAppealsResponse page;
    int code = Call(connection, stub.get(), &Stub::ListAppeals, request, &page,
                    "", output.err);
    if (code != kExitOk) return code;
    for (v1::Appeal& a : *page.mutable_appeals()) {
      *all.add_appeals() = std::move(a);
    }
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  Table table({"ID", "STATE", "CUSTOMER", "DEPARTMENT", "CLAIMANT", "OWNER",
               "DEADLINE", "VOTES"});
  for (const v1::Appeal& a : all.appeals()) {
    table.AddRow({a.id(), StateName(a.state()), a.customer_id(), a.department(),
                  a.claimant(), a.owner(), FormatTimestamp(a.deadline()),
                  Votes(a)});
  }
  table.Render(output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunAppealShow(const Connection& connection, const std::string& appeal_id,
                  const CommandOutput& output) {
  v1::GetAppealRequest request;
  request.set_appeal_id(appeal_id);
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::GetAppeal, request, &a, "",
                  output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(a);
    return kExitOk;
  }
  std::ostream& out = output.out;
  out << "appeal:     " << a.id() << "\n"
      << "state:      " << StateName(a.state()) << "\n"
      << "customer:   " << a.customer_id() << " in " << a.department() << "\n"
      << "claimant:   " << a.claimant() << "\n"
      << "owner:      " << a.owner() << "\n"
      << "reason:     " << a.reason() << "\n";
  for (const std::string& e : a.evidence()) out << "evidence:   " << e << "\n";
  if (a.routed_to_managers()) {
    out << "panel:      (none: routed to the managers of " << a.department()
        << ")\n";
  } else {
    std::vector<std::string> panel;
    for (const v1::PanelSeat& s : a.panel()) panel.push_back(s.arbiter());
    out << "panel:      " << absl::StrJoin(panel, ", ") << " (quorum "
        << a.quorum() << ")\n";
  }
  out << "votes:      " << Votes(a) << "\n"
      << "filed:      " << FormatTimestamp(a.create_time()) << "\n";
  if (a.state() == v1::Appeal::OPEN || a.state() == v1::Appeal::ESCALATED) {
    out << "deadline:   " << FormatTimestamp(a.deadline()) << "\n";
  } else {
    out << "ended:      " << FormatTimestamp(a.end_time()) << "\n";
  }
  if (!a.ruled_by().empty()) {
    out << "ruled by:   " << a.ruled_by() << " ("
        << Lower(v1::Appeal::RulingSource_Name(a.ruling_source())) << ")"
        << (a.capacity_override() ? ", capacity override" : "") << "\n";
  }
  out << "timeline:\n";
  for (const v1::AppealEntry& e : a.timeline()) {
    out << "  " << FormatTimestamp(e.time()) << "  " << e.actor() << "  "
        << Lower(v1::AppealEntry::Kind_Name(e.kind()));
    if (e.decision() != v1::AppealVote::DECISION_UNSPECIFIED) {
      out << " " << Lower(v1::AppealVote::Decision_Name(e.decision()));
    }
    if (!e.text().empty()) out << ": " << e.text();
    out << "\n";
  }
  return kExitOk;
}

int RunAppealComment(const Connection& connection,
                     const AppealCommentArgs& args,
                     const CommandOutput& output) {
  v1::CommentOnAppealRequest request;
  request.set_appeal_id(args.appeal_id);
  request.set_text(args.text);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::CommentOnAppeal, request, &a,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  return Answer(a, absl::StrCat("commented on appeal ", a.id()), generated,
                request.request_id(), output);
}

int RunAppealVote(const Connection& connection, const AppealVoteArgs& args,
                  const CommandOutput& output) {
  v1::CastVoteRequest request;
  v1::AppealVote::Decision decision;
  if (!ParseDecisionFlag(args.decision, &decision, output.err)) {
    return kExitUsage;
  }
  request.set_appeal_id(args.appeal_id);
  request.set_decision(decision);
  request.set_reason(args.reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::CastVote, request, &a,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  return Answer(a, Status(a), generated, request.request_id(), output);
}

int RunAppealRule(const Connection& connection, const AppealRuleArgs& args,
                  const CommandOutput& output) {
  v1::RuleOnAppealRequest request;
  v1::AppealVote::Decision decision;
  if (!ParseDecisionFlag(args.decision, &decision, output.err)) {
    return kExitUsage;
  }
  if (!args.yes) {
    output.err << "rule " << args.decision << " on appeal " << args.appeal_id
               << (args.override_capacity ? " (overriding capacity)" : "")
               << "? This moves or keeps the owner and cannot be undone "
                  "[y/N] ";
    output.err.flush();
    std::string answer;
    if (args.confirm == nullptr || !std::getline(*args.confirm, answer) ||
        (absl::AsciiStrToLower(answer) != "y" &&
         absl::AsciiStrToLower(answer) != "yes")) {
      output.err << "\ncustodianctl: not confirmed: nothing was sent (use "
                    "--yes to skip the question)\n";
      return kExitUsage;
    }
  }
  request.set_appeal_id(args.appeal_id);
  request.set_decision(decision);
  request.set_reason(args.reason);
  request.set_override_capacity(args.override_capacity);
  request.set_override_reason(args.override_reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::RuleOnAppeal, request, &a,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  return Answer(a, Status(a), generated, request.request_id(), output);
}

int RunAppealWithdraw(const Connection& connection,
                      const AppealWithdrawArgs& args,
                      const CommandOutput& output) {
  v1::WithdrawAppealRequest request;
  request.set_appeal_id(args.appeal_id);
  request.set_reason(args.reason);
  bool generated = false;
  request.set_request_id(RequestIdOr(args.request_id, &generated));
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::Appeal a;
  int code = Call(connection, stub.get(), &Stub::WithdrawAppeal, request, &a,
                  request.request_id(), output.err);
  if (code != kExitOk) return code;
  return Answer(a, Status(a), generated, request.request_id(), output);
}

int RunAppealStats(const Connection& connection, const std::string& department,
                   const CommandOutput& output) {
  v1::GetAppealStatsRequest request;
  request.set_department(department);
  auto stub = v1::DisputeService::NewStub(connection.channel());
  v1::GetAppealStatsResponse stats;
  int code = Call(connection, stub.get(), &Stub::GetAppealStats, request,
                  &stats, "", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(stats);
    return kExitOk;
  }
  Table reps({"REP", "FILED", "WON", "LOST", "PENDING", "WITHDRAWN", "DEFENDED",
              "OVERTURNED"});
  for (const v1::RepAppealStats& r : stats.reps()) {
    reps.AddRow({r.rep(), absl::StrCat(r.filed()), absl::StrCat(r.won()),
                 absl::StrCat(r.lost()), absl::StrCat(r.pending()),
                 absl::StrCat(r.withdrawn()), absl::StrCat(r.defended()),
                 absl::StrCat(r.overturned_against())});
  }
  reps.Render(output.out);
  output.out << "\n";
  Table arbiters(
      {"ARBITER", "SEATS", "VOTES", "AWAITING", "MEAN-TIME-TO-VOTE"});
  for (const v1::ArbiterAppealStats& a : stats.arbiters()) {
    arbiters.AddRow({a.arbiter(), absl::StrCat(a.seats()),
                     absl::StrCat(a.votes()), absl::StrCat(a.awaiting_vote()),
                     a.has_mean_time_to_vote()
                         ? FormatDuration(a.mean_time_to_vote())
                         : std::string("-")});
  }
  arbiters.Render(output.out);
  return kExitOk;
}

}  // namespace custodian::clients
