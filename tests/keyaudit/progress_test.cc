// keyaudit's progress line: on a terminal it shows entries, rate and time left; with --json (or
// without a terminal) nothing is printed.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <string>

#include "audit/keyaudit/report.h"

namespace {

// Runs `body` with stderr on a fresh pseudo-terminal and returns what it printed there.
template <typename Body>
std::string on_terminal(Body body) {
  int master = -1, slave = -1;
  REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(::dup2(slave, STDERR_FILENO) == STDERR_FILENO);
  body();
  ::fflush(stderr);
  REQUIRE(::dup2(saved, STDERR_FILENO) == STDERR_FILENO);
  ::close(saved);
  ::close(slave);
  ::fcntl(master, F_SETFL, O_NONBLOCK);
  std::string printed;
  char buffer[512];
  for (ssize_t n; (n = ::read(master, buffer, sizeof buffer)) > 0;) printed.append(buffer, static_cast<std::size_t>(n));
  ::close(master);
  return printed;
}

}  // namespace

TEST_CASE("keyaudit progress: entries, rate and time left on a terminal", "[unit]") {
  const std::string printed = on_terminal([] {
    escrowless::keyaudit::Progress progress(true, 10);
    progress.update(100, 100);  // the last update is always shown
    progress.finish();
  });
  CHECK(printed.find("keyaudit: 100/100 entries (") != std::string::npos);
  CHECK(printed.find("/s, 0 s left)") != std::string::npos);
}

TEST_CASE("keyaudit progress: quiet with --json, and for short runs", "[unit]") {
  CHECK(on_terminal([] {
          escrowless::keyaudit::Progress progress(false, 10);
          progress.update(100, 100);
          progress.finish();
        }).empty());
  CHECK(on_terminal([] {
          escrowless::keyaudit::Progress progress(true, 1000);
          progress.update(100, 100);
          progress.finish();
        }).empty());
}
