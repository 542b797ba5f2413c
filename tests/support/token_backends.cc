#include "tests/support/token_backends.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <stdexcept>

#include "pkcs11/module.h"
#include "pkcs11/secret.h"
#include "pkcs11/softhsm.h"

namespace escrowless::testing {
namespace fs = std::filesystem;

namespace {

void make_private_dir(const fs::path& dir) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
}

void write_private_file(const fs::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

// A listening socket on 127.0.0.1:port (0: any free port); -1 when that port is taken.
int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int port_of(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  return ntohs(address.sin_port);
}

// Two listening sockets on ports P and P+1: the swtpm TCTI always finds the control channel at
// the port after the command port.
struct PortPair {
  int command_fd = -1;
  int control_fd = -1;
  int port = 0;
  ~PortPair() {
    if (command_fd >= 0) ::close(command_fd);
    if (control_fd >= 0) ::close(control_fd);
  }
};

void bind_port_pair(PortPair& pair) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int command = listen_on(0);
    if (command < 0) continue;
    const int control = port_of(command) < 65535 ? listen_on(port_of(command) + 1) : -1;
    if (control >= 0) {
      pair.command_fd = command;
      pair.control_fd = control;
      pair.port = port_of(command);
      return;
    }
    ::close(command);
  }
  throw std::runtime_error("no two consecutive free loopback ports for swtpm");
}

// The one initialized token of `module` labelled `label`, by our ordinary lookup.
pkcs11::TokenInfo find_by_label(const pkcs11::Module& module, std::string_view label) {
  pkcs11::Uri by_label;
  by_label.token = std::string(label);
  return pkcs11::find_token(module, by_label);
}

void finish_uri(MadeToken& made, const std::string& module_path, const fs::path& user_pin) {
  made.uri.token = made.info.label;
  made.uri.serial = made.info.serial;
  made.uri.module_path = fs::canonical(module_path).string();
  made.uri.pin_source = "file:" + user_pin.string();
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// Starts swtpm and returns its command port once it accepts connections. The control channel's
// socket is bound here and handed over open; the command port can't be (swtpm reads a given
// server fd as one connection), so it is freed just before swtpm binds it, and if another
// process takes it meanwhile swtpm exits and we try another pair.
int start_swtpm(const fs::path& dir, MadeToken& made) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    PortPair ports;
    bind_port_pair(ports);
    ::close(ports.command_fd);
    ports.command_fd = -1;
    auto swtpm = std::make_unique<ChildProcess>(
        std::vector<std::string>{"swtpm", "socket", "--tpm2", "--tpmstate",
                                 "dir=" + (dir / "tpm-state").string(), "--server",
                                 "type=tcp,port=" + std::to_string(ports.port), "--ctrl",
                                 "type=tcp,fd=" + std::to_string(ports.control_fd), "--flags",
                                 "not-need-init,startup-clear"},
        dir / "swtpm.log", std::vector<int>{ports.control_fd});
    // Waiting for the event "the port accepts", with a deadline; swtpm has no readiness signal.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!swtpm->exited() && std::chrono::steady_clock::now() < deadline) {
      if (accepts_connections(ports.port)) {
        made.processes.push_back(std::move(swtpm));
        return ports.port;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  throw std::runtime_error("swtpm did not start: " + log_tail(dir / "swtpm.log"));
}

}  // namespace

std::string_view to_string(TokenKind kind) {
  switch (kind) {
    case TokenKind::softhsm: return "softhsm";
    case TokenKind::tpm2: return "tpm2";
    case TokenKind::nss: return "nss";
  }
  return "softhsm";
}

MadeToken make_softhsm_token(const fs::path& dir, std::string_view label) {
  MadeToken made;
  made.kind = TokenKind::softhsm;
  const pkcs11::SoftHsmToken token =
      pkcs11::provision_softhsm_token(dir, label, ESCROWLESS_SOFTHSM2_MODULE);
  made.info = token.info;
  made.uri = token.uri;
  return made;
}

MadeToken make_tpm2_token(const fs::path& dir, std::string_view label) {
  MadeToken made;
  made.kind = TokenKind::tpm2;
  make_private_dir(dir);
  for (const char* sub : {"tpm-state", "store", "dbus-services"}) make_private_dir(dir / sub);

  const int port_number = start_swtpm(dir, made);
  const std::string port = std::to_string(port_number);

  // A bus of our own: abrmd's name is private to this test, nothing reaches the system bus.
  const std::string bus_name = "org.escrowless.Tabrmd.p" + std::to_string(::getpid());
  const std::string tcti = "swtpm:host=127.0.0.1,port=" + port;
  write_text(dir / "dbus-services" / (bus_name + ".service"),
             "[D-BUS Service]\nName=" + bus_name + "\nExec=/usr/sbin/tpm2-abrmd --session " +
                 "--allow-root --flush-all --dbus-name=" + bus_name + " --tcti=" + tcti + "\n");
  const std::string bus_address = "unix:path=" + (dir / "bus").string();
  write_text(dir / "bus.conf",
             "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
             "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
             "<busconfig><type>session</type><listen>" + bus_address + "</listen>"
             "<servicedir>" + (dir / "dbus-services").string() + "</servicedir>"
             "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
             "<allow eavesdrop=\"true\"/><allow own=\"*\"/>"
             "</policy></busconfig>\n");
  // dbus-daemon prints its address once it listens: reading it is the readiness signal.
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  made.processes.push_back(std::make_unique<ChildProcess>(
      std::vector<std::string>{"dbus-daemon", "--nofork", "--nopidfile",
                               "--config-file=" + (dir / "bus.conf").string(), "--print-address=1"},
      dir / "dbus.log", std::vector<int>{}, ready[1]));
  ::close(ready[1]);
  std::string address;
  char c = 0;
  while (::read(ready[0], &c, 1) == 1 && c != '\n') address += c;
  ::close(ready[0]);
  if (address.empty()) throw std::runtime_error("dbus-daemon did not start: " + log_tail(dir / "dbus.log"));

  ::setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
  ::setenv("TPM2_PKCS11_TCTI", ("tabrmd:bus_type=session,bus_name=" + bus_name).c_str(), 1);
  ::setenv("TPM2_PKCS11_STORE", (dir / "store").c_str(), 1);

  const pkcs11::Secret so_pin = pkcs11::random_hex_secret(16);
  const pkcs11::Secret user_pin = pkcs11::random_hex_secret(16);
  try {
    const auto module = pkcs11::Module::load(ESCROWLESS_TPM2_PKCS11_MODULE);
    made.info = pkcs11::init_token(*module, label, so_pin, user_pin);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("tpm2 test token: ") + e.what() + "\nswtpm: " +
                             log_tail(dir / "swtpm.log") + "\ndbus-daemon and tpm2-abrmd: " +
                             log_tail(dir / "dbus.log"));
  }
  write_private_file(dir / "so-pin", so_pin.bytes());
  write_private_file(dir / "user-pin", user_pin.bytes());
  finish_uri(made, ESCROWLESS_TPM2_PKCS11_MODULE, dir / "user-pin");
  return made;
}

MadeToken make_nss_token(const fs::path& dir, std::string_view label) {
  MadeToken made;
  made.kind = TokenKind::nss;
  make_private_dir(dir);
  make_private_dir(dir / "db");
  const pkcs11::Secret user_pin = pkcs11::random_hex_secret(16);
  write_private_file(dir / "user-pin", user_pin.bytes());
  // certutil reads the new database password from the file (its first line).
  run_checked({"certutil", "-N", "-d", "sql:" + (dir / "db").string(), "-f", (dir / "user-pin").string()},
              dir / "certutil.log");
  made.module_init_args = "configdir='sql:" + (dir / "db").string() +
                          "' certPrefix='' keyPrefix='' secmod='secmod.db' flags=noModDB "
                          "dbTokenDescription='" + std::string(label) + "'";
  {
    const auto module = pkcs11::Module::load(ESCROWLESS_NSS_SOFTOKN_MODULE, made.module_init_args);
    made.info = find_by_label(*module, label);
  }
  finish_uri(made, ESCROWLESS_NSS_SOFTOKN_MODULE, dir / "user-pin");
  return made;
}

}  // namespace escrowless::testing
