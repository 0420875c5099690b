// Test helper: runs a program as a child process and collects what it
// prints. For tests of the shipped command lines (deploy/, scripts/), which
// must run the real binaries with the real flags.
#ifndef CUSTODIAN_TESTS_SUBPROCESS_TESTING_H_
#define CUSTODIAN_TESTS_SUBPROCESS_TESTING_H_

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

extern char** environ;

namespace custodian::server::testing {

struct ProcessResult {
  // The exit status; 128 + N when killed by signal N; -1 when it could not
  // be started.
  int exit_code = -1;
  // stdout and stderr, interleaved as written.
  std::string output;
};

// Runs argv[0] (a path, or a name looked up in PATH) with `argv` and the
// test's environment, waits for it and returns its exit code and output.
// REQUIRES: !argv.empty().
inline ProcessResult RunProcess(const std::vector<std::string>& argv) {
  ProcessResult result;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  int spawned =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawned != 0) {
    close(pipe_fds[0]);
    ADD_FAILURE() << "cannot run " << absl::StrJoin(argv, " ") << ": "
                  << std::strerror(spawned);
    return result;
  }
  char buffer[4096];
  while (true) {
    ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace custodian::server::testing

#endif  // CUSTODIAN_TESTS_SUBPROCESS_TESTING_H_
