// Status propagation macros, written once for the whole project (Debian's
// Abseil 20220623 has no ABSL_RETURN_IF_ERROR).
//
//   RETURN_IF_ERROR(DoThing());            // returns the status if not OK
//   ASSIGN_OR_RETURN(auto x, MakeThing());  // x = *statusor, or returns its
//   status
#ifndef CUSTODIAN_COMMON_STATUS_MACROS_H_
#define CUSTODIAN_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CUSTODIAN_CONCAT_INNER_(a, b) a##b
#define CUSTODIAN_CONCAT_(a, b) CUSTODIAN_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status custodian_status_ = (expr);             \
    if (!custodian_status_.ok()) return custodian_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  CUSTODIAN_ASSIGN_OR_RETURN_IMPL_( \
      CUSTODIAN_CONCAT_(custodian_statusor_, __LINE__), lhs, expr)

#define CUSTODIAN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // CUSTODIAN_COMMON_STATUS_MACROS_H_
