#include "server/status_mapping.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/request_checks.h"

namespace custodian::server {
namespace {

TEST(StatusMappingTest, OkIsOk) {
  grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_message(), "");
}

TEST(StatusMappingTest, KeepsEveryCanonicalCodeAndTheMessage) {
  // absl and gRPC number the canonical codes identically (1..16).
  for (int code = 1; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code), "what went wrong");
    grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.error_code()), code);
    EXPECT_EQ(out.error_message(), "what went wrong");
  }
}

TEST(StatusMappingTest, SpellsOutTheCodesHandlersUse) {
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("x")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("x")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::AbortedError("x")).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(StatusMappingTest, NonCanonicalCodeIsUnknown) {
  absl::Status in(static_cast<absl::StatusCode>(42), "odd");
  grpc::Status out = ToGrpcStatus(in);
  EXPECT_EQ(out.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(out.error_message(), "odd");
}

TEST(StatusMappingTest, WithoutDetailsSendsNoDetails) {
  grpc::Status out = ToGrpcStatus(absl::InvalidArgumentError("x: bad"));
  EXPECT_EQ(out.error_details(), "");
}

TEST(StatusMappingTest, BadRequestTravelsAsGoogleRpcStatusDetail) {
  FieldErrors errors;
  errors.Add("request_id", "is required");
  errors.Add("file_name", "is not valid UTF-8");
  absl::Status in = errors.ToStatus();
  grpc::Status out = ToGrpcStatus(in);
  EXPECT_EQ(out.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.error_message(), std::string(in.message()));

  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(out.error_details()));
  EXPECT_EQ(details.code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(details.message(), std::string(in.message()));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), kBadRequestTypeUrl);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(0).UnpackTo(&bad_request));
  ASSERT_EQ(bad_request.field_violations_size(), 2);
  EXPECT_EQ(bad_request.field_violations(0).field(), "request_id");
  EXPECT_EQ(bad_request.field_violations(0).description(), "is required");
  EXPECT_EQ(bad_request.field_violations(1).field(), "file_name");
}

TEST(StatusMappingTest, PreconditionFailureTravelsAsGoogleRpcStatusDetail) {
  google::rpc::PreconditionFailure failure;
  google::rpc::PreconditionFailure::Violation* v = failure.add_violations();
  v->set_type("RULESET");
  v->set_subject("departments.sales.rules[0]");
  v->set_description("team ka-east is gone");
  grpc::Status out =
      ToGrpcStatus(FailedPreconditionWithDetails("would break", failure));
  EXPECT_EQ(out.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(out.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), kPreconditionFailureTypeUrl);
  google::rpc::PreconditionFailure got;
  ASSERT_TRUE(details.details(0).UnpackTo(&got));
  ASSERT_EQ(got.violations_size(), 1);
  EXPECT_EQ(got.violations(0).subject(), "departments.sales.rules[0]");
}

TEST(StatusMappingTest, CarriesOnlyGoogleRpcPayloadsSortedByTypeUrl) {
  absl::Status in = absl::FailedPreconditionError("x");
  google::rpc::PreconditionFailure failure;
  failure.add_violations()->set_type("RULESET");
  google::rpc::BadRequest bad_request;
  bad_request.add_field_violations()->set_field("f");
  in.SetPayload(kPreconditionFailureTypeUrl,
                absl::Cord(failure.SerializeAsString()));
  in.SetPayload(kBadRequestTypeUrl,
                absl::Cord(bad_request.SerializeAsString()));
  in.SetPayload("custodian.internal/trace", absl::Cord("not for clients"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(ToGrpcStatus(in).error_details()));
  ASSERT_EQ(details.details_size(), 2);
  EXPECT_EQ(details.details(0).type_url(), kBadRequestTypeUrl);
  EXPECT_EQ(details.details(1).type_url(), kPreconditionFailureTypeUrl);
}

TEST(StatusMappingTest, DetailsTooLargeForATrailerKeepTheLeadingViolations) {
  FieldErrors errors;
  for (int i = 0; i < 1000; ++i) {
    errors.Add(absl::StrCat("source_text:", i + 1, ":1 departments.sales"),
               "unknown team \"no-such-team-with-a-rather-long-name\"");
  }
  absl::Status in = errors.ToStatus();
  grpc::Status out = ToGrpcStatus(in);
  EXPECT_EQ(out.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.error_message(), std::string(in.message()));
  EXPECT_LE(out.error_details().size() / 3 * 4 + out.error_message().size(),
            kMaxErrorTrailerBytes);

  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(out.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::BadRequest bad_request;
  ASSERT_TRUE(details.details(0).UnpackTo(&bad_request));
  const int n = bad_request.field_violations_size();
  ASSERT_GE(n, 10);
  ASSERT_LT(n, 1000);
  for (int i = 0; i + 1 < n; ++i) {
    EXPECT_EQ(bad_request.field_violations(i).field(),
              absl::StrCat("source_text:", i + 1, ":1 departments.sales"));
  }
  EXPECT_EQ(bad_request.field_violations(n - 1).field(), "(truncated)");
  EXPECT_THAT(bad_request.field_violations(n - 1).description(),
              ::testing::StartsWith(absl::StrCat(1000 - (n - 1), " more")));
}

}  // namespace
}  // namespace custodian::server
