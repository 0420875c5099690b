#include "clients/identity_commands.h"

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "clients/errors.h"
#include "clients/output.h"
#include "clients/rules_commands.h"
#include "clients/unary_call.h"
#include "custodian/v1/audit_service.grpc.pb.h"
#include "custodian/v1/identity_service.grpc.pb.h"

namespace custodian::clients {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  out.set_seconds(absl::ToUnixSeconds(t));
  out.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(out.seconds()))));
  return out;
}

}  // namespace

int RunWhoAmI(const Connection& connection, const std::string& context,
              const CommandOutput& output) {
  auto stub = v1::IdentityService::NewStub(connection.channel());
  v1::WhoAmIResponse response;
  int code =
      Call(connection, stub.get(), &v1::IdentityService::Stub::WhoAmI,
           v1::WhoAmIRequest(), &response, /*request_id=*/"", output.err);
  if (code != kExitOk) return code;
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(response);
    return kExitOk;
  }
  Table table({"FIELD", "VALUE"});
  table.AddRow({"principal", response.principal()});
  table.AddRow({"roles", response.roles().empty()
                             ? std::string("(none)")
                             : absl::StrJoin(response.roles(), ", ")});
  table.AddRow(
      {"departments", response.departments().empty()
                          ? std::string("(none)")
                          : absl::StrJoin(response.departments(), ", ")});
  table.AddRow({"authenticated by", response.authenticated_by()});
  table.AddRow({"server", connection.address()});
  table.AddRow({"context", context.empty() ? std::string("(none)") : context});
  table.Render(output.out);
  return kExitOk;
}

int RunAudit(const Connection& connection, const AuditArgs& args,
             const CommandOutput& output) {
  if (args.page_size < 0 || args.page_size > 1000) {
    output.err << "custodianctl: --page-size: " << args.page_size
               << " is not in 0-1000\n";
    return kExitUsage;
  }
  v1::ListAuditRecordsRequest request;
  request.set_principal(args.principal);
  request.set_resource(args.resource);
  if (args.since) *request.mutable_start_time() = ToProto(*args.since);
  if (args.until) *request.mutable_end_time() = ToProto(*args.until);
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  auto stub = v1::AuditService::NewStub(connection.channel());
  v1::ListAuditRecordsResponse all;
  while (true) {
    v1::ListAuditRecordsResponse page;
    int code =
        Call(connection, stub.get(), &v1::AuditService::Stub::ListAuditRecords,
             request, &page, /*request_id=*/"", output.err);
    if (code != kExitOk) return code;
    for (v1::AuditRecord& r : *page.mutable_records()) {
      *all.add_records() = std::move(r);
    }
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (output.format == OutputFormat::kJson) {
    output.out << ToJson(all);
    return kExitOk;
  }
  Table table({"TIME", "PRINCIPAL", "ROLES", "RPC", "REQUEST ID", "RESOURCES",
               "OUTCOME"});
  for (const v1::AuditRecord& r : all.records()) {
    absl::string_view rpc = r.rpc();
    absl::ConsumePrefix(&rpc, "custodian.v1.");
    table.AddRow({FormatTimestamp(r.time()), r.principal(),
                  absl::StrJoin(r.roles(), ","), std::string(rpc),
                  r.request_id(), absl::StrJoin(r.resources(), " "),
                  r.outcome()});
  }
  table.Render(output.out);
  if (!all.next_page_token().empty()) {
    output.out << "next page: --page-token " << all.next_page_token() << "\n";
  }
  return kExitOk;
}

}  // namespace custodian::clients
