#include "clients/errors.h"

#include <sstream>

#include "clients/testing/fake_services.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace custodian::clients {
namespace {

using testing::StatusWithDetails;

google::rpc::BadRequest TwoBadFields() {
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("source_text:12:9 departments.sales.rules[1].when.region");
  v->set_description("operator gt does not fit a path field; use under");
  v = bad.add_field_violations();
  v->set_field("request_id");
  v->set_description("must be 1-128 characters of [A-Za-z0-9._:-]");
  return bad;
}

TEST(FormatRpcErrorTest, PrintsCodeMessageAndEveryBadField) {
  grpc::Status status = StatusWithDetails(
      grpc::StatusCode::INVALID_ARGUMENT,
      "the ruleset does not validate (2 errors)", TwoBadFields());
  EXPECT_EQ(FormatRpcError(status),
            "custodianctl: INVALID_ARGUMENT: the ruleset does not validate (2 "
            "errors)\n"
            "  source_text:12:9 departments.sales.rules[1].when.region: "
            "operator gt does not fit a path field; use under\n"
            "  request_id: must be 1-128 characters of [A-Za-z0-9._:-]\n");
}

TEST(FormatRpcErrorTest, PrintsPreconditionViolations) {
  google::rpc::PreconditionFailure failure;
  auto* v = failure.add_violations();
  v->set_type("RULESET");
  v->set_subject("departments.sales.rules[0]");
  v->set_description("assigns to team ka-east, which the roster lacks");
  v = failure.add_violations();
  v->set_description("no type or subject");
  grpc::Status status =
      StatusWithDetails(grpc::StatusCode::FAILED_PRECONDITION,
                        "the roster would break rules", failure);
  EXPECT_EQ(FormatRpcError(status),
            "custodianctl: FAILED_PRECONDITION: the roster would break rules\n"
            "  RULESET departments.sales.rules[0]: assigns to team ka-east, "
            "which the roster lacks\n"
            "  no type or subject\n");
}

TEST(FormatRpcErrorTest, PrintsBothDetailKindsInOrderAndSkipsOthers) {
  google::rpc::PreconditionFailure failure;
  failure.add_violations()->set_subject("etag");
  google::rpc::Status unrelated;  // not a detail type custodianctl prints
  grpc::Status status =
      StatusWithDetails(grpc::StatusCode::ABORTED, "etag mismatch", unrelated,
                        failure, TwoBadFields());
  EXPECT_EQ(FormatRpcError(status),
            "custodianctl: ABORTED: etag mismatch\n"
            "  etag\n"
            "  source_text:12:9 departments.sales.rules[1].when.region: "
            "operator gt does not fit a path field; use under\n"
            "  request_id: must be 1-128 characters of [A-Za-z0-9._:-]\n");
}

TEST(FormatRpcErrorTest, WithoutDetailsPrintsOneLine) {
  EXPECT_EQ(FormatRpcError(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                        "ruleset version 9 not found")),
            "custodianctl: NOT_FOUND: ruleset version 9 not found\n");
}

TEST(FormatRpcErrorTest, ReportsUnreadableDetails) {
  grpc::Status status(grpc::StatusCode::INTERNAL, "boom", "\xff\xff\xff");
  EXPECT_EQ(FormatRpcError(status),
            "custodianctl: INTERNAL: boom\n  (unreadable error details)\n");
}

TEST(ExitCodeTest, UnreachableIsThreeRefusedIsOne) {
  using grpc::StatusCode;
  EXPECT_EQ(ExitCodeForStatus(grpc::Status::OK, true), 0);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::UNAVAILABLE, ""), false),
            kExitUnreachable);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::UNAVAILABLE, ""), true),
            kExitUnreachable);
  EXPECT_EQ(
      ExitCodeForStatus(grpc::Status(StatusCode::DEADLINE_EXCEEDED, ""), false),
      kExitUnreachable);
  EXPECT_EQ(
      ExitCodeForStatus(grpc::Status(StatusCode::DEADLINE_EXCEEDED, ""), true),
      kExitServerRefused);
  for (StatusCode code : {StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND,
                          StatusCode::ABORTED, StatusCode::FAILED_PRECONDITION,
                          StatusCode::PERMISSION_DENIED,
                          StatusCode::UNAUTHENTICATED, StatusCode::INTERNAL}) {
    EXPECT_EQ(ExitCodeForStatus(grpc::Status(code, ""), false),
              kExitServerRefused)
        << StatusCodeName(code);
  }
}

TEST(ReportRpcErrorTest, NamesTheServerWhenUnreachable) {
  std::ostringstream err;
  RpcFailure failure{"10.0.0.9:50051", /*connected=*/false, ""};
  EXPECT_EQ(ReportRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "failed to connect"),
                           failure, err),
            kExitUnreachable);
  EXPECT_EQ(err.str(),
            "custodianctl: UNAVAILABLE: failed to connect\n"
            "  server: 10.0.0.9:50051 (set --server or CUSTODIAN_SERVER)\n");
}

TEST(ReportRpcErrorTest, ConnectedUnavailableExitsThreeWithoutAddressHint) {
  // The server answered UNAVAILABLE itself (e.g. its store): retry later,
  // but the address is right.
  std::ostringstream err;
  RpcFailure failure{"10.0.0.9:50051", /*connected=*/true, ""};
  EXPECT_EQ(ReportRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "store unavailable"),
                           failure, err),
            kExitUnreachable);
  EXPECT_EQ(err.str(), "custodianctl: UNAVAILABLE: store unavailable\n");
}

TEST(ReportRpcErrorTest, GivesTheRequestIdWhenTheOutcomeIsUnknown) {
  std::ostringstream err;
  RpcFailure failure{"s:1", /*connected=*/true, "req-1"};
  EXPECT_EQ(ReportRpcError(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                        "Deadline Exceeded"),
                           failure, err),
            kExitServerRefused);
  EXPECT_EQ(err.str(),
            "custodianctl: DEADLINE_EXCEEDED: Deadline Exceeded\n"
            "  the change may or may not have been made: retry with "
            "--request-id req-1 to get the first answer\n");

  // A refusal is a known outcome: no hint.
  err.str("");
  EXPECT_EQ(
      ReportRpcError(grpc::Status(grpc::StatusCode::ABORTED, "etag mismatch"),
                     failure, err),
      kExitServerRefused);
  EXPECT_EQ(err.str(), "custodianctl: ABORTED: etag mismatch\n");
}

TEST(StatusCodeNameTest, NamesCanonicalCodes) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION),
            "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(99)), "CODE_99");
}

}  // namespace
}  // namespace custodian::clients
