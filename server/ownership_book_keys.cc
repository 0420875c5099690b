// See server/ownership_keys.h for why this is a translation unit of its own.
#include <string>

#include "server/ownership_keys.h"
#include "server/team_allocator.h"

namespace custodian::server {

std::string OwnedCounterKeyOf(absl::string_view department,
                              absl::string_view rep) {
  return TeamAllocator::OwnedCounterKey(department, rep);
}

std::string WonCounterKeyOf(absl::string_view department,
                            absl::string_view rep) {
  return TeamAllocator::WonCounterKey(department, rep);
}

}  // namespace custodian::server
