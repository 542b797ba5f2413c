#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace escrowless::testing {
namespace {

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

// The exec'd child reports an exec failure's errno through this close-on-exec pipe: a missing
// binary must fail the test at once, not later as "connection refused".
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log,
            const std::vector<int>& keep_fds, int stdout_fd, bool die_with_parent) {
  if (argv.empty()) throw std::runtime_error("spawn: empty command");
  if (die_with_parent && ::syscall(SYS_gettid) != ::getpid()) {
    throw std::runtime_error("test token helpers must be started from the main thread");
  }
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log.string());
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    ::close(log_fd);
    throw std::runtime_error("pipe2 failed");
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    ::dup2(stdout_fd >= 0 ? stdout_fd : log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    for (const int fd : keep_fds) ::fcntl(fd, F_SETFD, 0);  // inherited at the same number
    ::execvp(args[0], args.data());
    const int error = errno;
    (void)!::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    throw std::runtime_error("fork failed for " + argv[0]);
  }
  int error = 0;
  ssize_t got;
  do {
    got = ::read(report[0], &error, sizeof error);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got == sizeof error) {
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(error) +
                             " (a test token dependency is missing: install it)");
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
                           const std::vector<int>& keep_fds, int stdout_fd)
    : pid_(spawn(argv, log, keep_fds, stdout_fd, true)) {}

ChildProcess::~ChildProcess() { stop(); }

bool ChildProcess::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait_exit(pid_);
  pid_ = -1;
}

void run_checked(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  const int code = wait_exit(spawn(argv, log, {}, -1, false));
  if (code != 0) {
    throw std::runtime_error(joined(argv) + " failed (exit " + std::to_string(code) + "): " +
                             log_tail(log));
  }
}

std::string log_tail(const std::filesystem::path& log, std::size_t max_bytes) {
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace escrowless::testing
