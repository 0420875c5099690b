#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace custodian {
namespace {

absl::string_view LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

}  // namespace

void Log(LogLevel level, absl::string_view message) {
  std::string line =
      absl::StrCat(LevelLetter(level), " ",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " ", message, "\n");
  // One write(2) per line: POSIX keeps it whole with respect to other writes
  // to the same pipe or terminal. Retry on short writes and EINTR.
  absl::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // stderr is gone; nothing sensible left to do
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace custodian
