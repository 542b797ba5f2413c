#include "keyservice/migrate/config_switch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "keyservice/error.h"
#include "keyservice/service_config.h"

namespace escrowless::keyservice::migrate {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

// The setting a config line sets ("" for comments, sections and blank lines), and its value
// without quotes.
std::pair<std::string, std::string> setting_of(const std::string& line) {
  const std::string text = trim(line);
  if (text.empty() || text[0] == '#' || text[0] == ';' || text[0] == '[') return {};
  const auto equals = text.find('=');
  if (equals == std::string::npos) return {};
  std::string value = trim(std::string_view(text).substr(equals + 1));
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return {trim(std::string_view(text).substr(0, equals)), value};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::unavailable, "cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text, int extra_flags) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | extra_flags, 0600);
  if (fd < 0) {
    throw Error(errno == EEXIST ? ErrorKind::conflict : ErrorKind::unavailable,
                "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw Error(ErrorKind::unavailable, "cannot write " + path.string());
}

}  // namespace

std::optional<ConfigSwitch> plan_config_switch(const fs::path& dir) {
  ConfigSwitch plan{dir / "keyservice.conf", dir / "keyservice.conf.sqlite"};
  if (!fs::exists(plan.config)) return std::nullopt;
  std::istringstream lines(read_file(plan.config));
  for (std::string line; std::getline(lines, line);) {
    const auto [name, value] = setting_of(line);
    if (name == "storage" && value != "sqlite") {
      throw Error(ErrorKind::conflict, plan.config.string() + " says storage = " + value +
                                           ": this deployment does not run on SQLite; nothing to migrate");
    }
  }
  if (fs::exists(plan.backup)) {
    throw Error(ErrorKind::conflict, plan.backup.string() + " exists (from an earlier migration?): move it away "
                                                            "first, it is not overwritten");
  }
  return plan;
}

std::string switched_config_text(const std::string& text, const std::string& url) {
  const std::string settings = config_lines(url);
  std::istringstream lines(text);
  std::string out;
  bool placed = false;
  for (std::string line; std::getline(lines, line);) {
    const std::string name = setting_of(line).first;
    if (name == "storage" || name == "postgresql-url") continue;
    out += line + "\n";
    if (name == "data-dir" && !placed) {
      out += settings;
      placed = true;
    }
  }
  return placed ? out : settings + out;
}

void switch_config(const ConfigSwitch& plan, const std::string& url) {
  const std::string old_text = read_file(plan.config);
  write_file(plan.backup, old_text, O_EXCL);
  fs::path next = plan.config;
  next += ".new";
  write_file(next, switched_config_text(old_text, url), O_TRUNC);
  std::error_code ec;
  fs::rename(next, plan.config, ec);
  if (ec) throw Error(ErrorKind::unavailable, "cannot replace " + plan.config.string() + ": " + ec.message());
  const int dir = ::open(plan.config.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // the rename survives a power loss
    ::close(dir);
  }
}

std::string config_lines(const std::string& url) {
  return "storage = \"postgresql\"\npostgresql-url = " + config_quoted(url) + "\n";
}

}  // namespace escrowless::keyservice::migrate
