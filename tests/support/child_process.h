// Helper processes a test token needs (swtpm, a private D-Bus daemon): started by the harness,
// stopped by its destructor, and killed by the kernel if the test process dies first (a
// parent-death signal), so a crashed or timed-out test leaves nothing running.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace escrowless::testing {

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH) with stdout and stderr appended to `log`, keeping open only
  // `keep_fds` (passed at the same numbers) and, when `stdout_fd` >= 0, giving it that file
  // descriptor as stdout instead. Must be called from the process's main thread: the parent-death
  // signal follows the thread that forked. A program that cannot be started (missing binary)
  // throws std::runtime_error naming it: a setup error, never a skip.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::vector<int>& keep_fds = {}, int stdout_fd = -1);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // True once it has exited (reaps it).
  bool exited();
  // SIGTERM, then waits for it to exit. Idempotent.
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Runs argv to completion with output to `log`; throws std::runtime_error naming the command and
// the log's tail unless it exits 0.
void run_checked(const std::vector<std::string>& argv, const std::filesystem::path& log);

// The tail of a log file, for error messages.
std::string log_tail(const std::filesystem::path& log, std::size_t max_bytes = 2000);

}  // namespace escrowless::testing
