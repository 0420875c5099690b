// The keys of the owned and won counters, shared by the ownership book
// (which keeps them) and the team allocator (which reads them for capacity).
//
// It lives in its own header and translation unit because
// custodian/v1/ownership.pb.h and custodian/v1/roster.pb.h cannot be
// included in one translation unit today: both files declare the
// package-level enum values ACTIVE, AWAY and LEFT (OwnershipState /
// SkipReason vs RepStatus), which clash in C++. ownership_book_keys.cc
// includes server/team_allocator.h (roster) and nothing of ownership.
//
// Thread-safe: a pure function.
#ifndef CUSTODIAN_SERVER_OWNERSHIP_KEYS_H_
#define CUSTODIAN_SERVER_OWNERSHIP_KEYS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace custodian::server {

// Returns TeamAllocator::OwnedCounterKey(department, rep):
// ("owned", department, rep) in Table::kCounters, the number of ownerships
// of `rep` in `department` (storage/README.md "Domain keys").
std::string OwnedCounterKeyOf(absl::string_view department,
                              absl::string_view rep);
// Returns TeamAllocator::WonCounterKey(department, rep):
// ("owned_won", department, rep), how many of those ownerships are of a won
// customer (sales_stage "won"), for policies.capacity.count_won.
std::string WonCounterKeyOf(absl::string_view department,
                            absl::string_view rep);

}  // namespace custodian::server

#endif  // CUSTODIAN_SERVER_OWNERSHIP_KEYS_H_
