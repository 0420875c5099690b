// A minimal leveled logger writing one line per call to stderr:
//
//   I 2026-01-31T09:15:02.123456Z custodiand 0.1.0 starting
//
// Debian's Abseil 20220623 has no absl/log; this is the project's one logger
// until a structured one is needed. Each call writes its whole line with a
// single write, so lines from different threads never interleave.
//
// Thread-safe.
#ifndef CUSTODIAN_COMMON_LOG_H_
#define CUSTODIAN_COMMON_LOG_H_

#include "absl/strings/string_view.h"

namespace custodian {

enum class LogLevel { kInfo, kWarning, kError };

// Writes `message` at `level` ("I", "W" or "E"), prefixed with the current UTC
// time, followed by a newline. A message that spans several lines is written
// as is, with the prefix on its first line only.
void Log(LogLevel level, absl::string_view message);

inline void LogInfo(absl::string_view message) {
  Log(LogLevel::kInfo, message);
}
inline void LogWarning(absl::string_view message) {
  Log(LogLevel::kWarning, message);
}
inline void LogError(absl::string_view message) {
  Log(LogLevel::kError, message);
}

}  // namespace custodian

#endif  // CUSTODIAN_COMMON_LOG_H_
