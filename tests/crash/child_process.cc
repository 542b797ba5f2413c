#include "tests/crash/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace escrowless::crashtest {
namespace {

// fork + exec with stdout and stderr on `out_fd`; the child gets SIGKILL when this thread dies.
pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

RunResult run(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = spawn(argv, pipe_fds[1]);
  ::close(pipe_fds[1]);
  RunResult result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  result.exit_code = wait_for(pid);
  return result;
}

Server::Server(std::string keyserviced, std::string config, std::string log_dir)
    : keyserviced_(std::move(keyserviced)), config_(std::move(config)), log_dir_(std::move(log_dir)) {}

Server::~Server() {
  if (pid_ > 0) kill_hard();
}

int Server::start() {
  if (pid_ > 0) throw std::logic_error("the server is running already");
  ++starts_;
  log_path_ = log_dir_ + "/server-" + std::to_string(starts_) + ".log";
  const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + log_path_);
  pid_ = spawn({keyserviced_, "--config", config_}, fd);
  ::close(fd);

  const std::string listening = "listening on https://127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    const std::string log = text.str();
    if (const auto at = log.find(listening); at != std::string::npos) {
      const auto digits = at + listening.size();
      const auto end = log.find_first_not_of("0123456789", digits);
      if (end != std::string::npos && end > digits) return std::stoi(log.substr(digits, end - digits));
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("keyserviced exited at start (start " + std::to_string(starts_) + "):\n" + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("keyserviced did not start listening:\n" + log_tail());
}

void Server::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for(pid_);
  pid_ = -1;
}

int Server::stop_cleanly() {
  if (pid_ <= 0) throw std::logic_error("the server is not running");
  ::kill(pid_, SIGTERM);
  const int code = wait_for(pid_);
  pid_ = -1;
  return code;
}

std::string Server::log_tail(std::size_t lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string text;
  for (const std::string& line : tail) text += line + "\n";
  return text;
}

}  // namespace escrowless::crashtest
