// The crash test's processes: keyadmin and keyaudit run to completion with their output kept,
// keyserviced runs in the background until it is killed. Each child dies with the test (a
// parent-death signal), so a test killed by its ctest timeout leaves no server behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace escrowless::crashtest {

struct RunResult {
  int exit_code = -1;  // -1 if it died of a signal
  std::string output;  // stdout and stderr together
};

// Runs `argv` to completion. Call only while this process has no other threads (it forks).
RunResult run(const std::vector<std::string>& argv);

class Server {
 public:
  Server(std::string keyserviced, std::string config, std::string log_dir);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts keyserviced and waits for its "listening on https://127.0.0.1:PORT" line; returns
  // the port. Throws std::runtime_error (with the log's tail) if it exits or does not listen.
  int start();
  void kill_hard();        // SIGKILL, then reaps it
  int stop_cleanly();      // SIGTERM; its exit code (-1 for a signal)
  bool running() const { return pid_ > 0; }
  const std::string& log_path() const { return log_path_; }
  std::string log_tail(std::size_t lines = 30) const;

 private:
  std::string keyserviced_, config_, log_dir_, log_path_;
  int starts_ = 0;
  pid_t pid_ = -1;
};

}  // namespace escrowless::crashtest
