// The child process of the crash test: appends entries to a log as fast as it can and reports
// each acknowledged one on stdout ("ack <index> <entry>\n", one write() per line, so a line is
// never torn by the SIGKILL that ends this process).
//
//   log_crash_writer DB TOKEN-URI PREFIX [shared]
//
// DB is a SQLite file, or "postgresql:" followed by a libpq conninfo. With "shared", the process
// is one node of a shared log (TransparencyLog::Options::shared): it also reports "lead\n" when
// it starts sequencing, and an entry that is not acknowledged (the leader died) is not an error.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "keyservice/log/transparency_log.h"
#include "pkcs11/token.h"

int main(int argc, char** argv) {
  const bool shared = argc == 5 && std::string_view(argv[4]) == "shared";
  if (argc != 4 && !shared) {
    std::fprintf(stderr, "usage: log_crash_writer DB TOKEN-URI PREFIX [shared]\n");
    return 2;
  }
  using namespace escrowless;
  try {
    const auto token = pkcs11::Token::open(pkcs11::Uri::parse(argv[2]));
    keyservice::TransparencyLog::Options options;
    options.verify_all_leaves = false;  // the parent does the full check after each crash
    options.shared = shared;
    options.election_interval = std::chrono::milliseconds(100);
    options.ack_timeout = std::chrono::seconds(10);
    const std::string_view db = argv[1];
    const auto database = db.starts_with("postgresql:")
                              ? keyservice::LogDatabase::postgresql(std::string(db.substr(11)))
                              : keyservice::LogDatabase::sqlite(std::string(db));
    auto log = keyservice::TransparencyLog::open(database, token->pool(), options);
    // Logged in and open: from here on a SIGKILL hits the log, not SoftHSM rewriting its token
    // files during C_Login (which a kill can leave unreadable: a SoftHSM matter, not ours).
    if (::write(STDOUT_FILENO, "ready\n", 6) != 6) std::_Exit(3);
    const std::string prefix = argv[3];
    std::vector<std::thread> threads;
    if (shared) {
      threads.emplace_back([&] {
        while (!log->sequencing()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (::write(STDOUT_FILENO, "lead\n", 5) != 5) std::_Exit(3);
      });
    }
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0;; ++round) {
          std::vector<std::pair<std::string, std::future<keyservice::Receipt>>> window;
          for (int i = 0; i < 16; ++i) {
            std::string entry = "{\"crash\":\"" + prefix + "-" + std::to_string(t) + "-" +
                                std::to_string(round) + "-" + std::to_string(i) + "\"}";
            auto future = log->append(entry);
            window.emplace_back(std::move(entry), std::move(future));
          }
          for (auto& [entry, future] : window) {
            keyservice::Receipt receipt;
            try {
              receipt = future.get();
            } catch (const keyservice::Error&) {
              if (!shared) throw;
              continue;  // not acknowledged: the leader died under it
            }
            const std::string line = "ack " + std::to_string(receipt.index) + " " +
                                     std::to_string(receipt.tree_size) + " " + entry + "\n";
            if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
              std::_Exit(3);
            }
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "log_crash_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
