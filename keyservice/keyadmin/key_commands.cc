#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "audit/ecdsa.h"
#include "keyservice/keyadmin/commands.h"
#include "keyservice/token_json.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"

namespace escrowless::keyadmin {
namespace {

constexpr std::uintmax_t kMaxSignInput = 64 * 1024 * 1024;

struct KeyOptions {
  std::string uri;
  std::string label;
  std::string algorithm;
  std::string in;
  std::string out;
  std::string format = "raw";
};

std::vector<std::uint8_t> read_input(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read " + path + ": " + ec.message());
  if (size > kMaxSignInput) throw std::runtime_error(path + " is larger than 64 MiB");
  std::ifstream file(path, std::ios::binary);
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) throw std::runtime_error("cannot read " + path);
  return data;
}

// Writes next to `path` and renames over it, so a failure never leaves a partial signature.
void write_output(const std::string& path, const std::vector<std::uint8_t>& data) {
  const std::string temp = path + ".tmp-keyadmin";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + temp + ": " + std::strerror(errno));
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw std::runtime_error("cannot write " + path);
  }
}

pkcs11::KeyPair find_key(pkcs11::SessionPool& pool, const std::string& label) {
  auto key = pkcs11::find_key_pair_by_label(pool, label);
  if (!key) {
    throw pkcs11::Error(pkcs11::ErrorKind::not_found, "no key labelled '" + label + "' on the token");
  }
  return std::move(*key);
}

void generate(const KeyOptions& o) {
  const auto token = pkcs11::Token::open(pkcs11::Uri::parse(o.uri), token_options());
  const pkcs11::Algorithm algorithm = o.algorithm.empty()
                                          ? pkcs11::choose_algorithm(token->mechanisms())
                                          : pkcs11::parse_algorithm(o.algorithm);
  const pkcs11::KeyPair key =
      pkcs11::generate_key_pair(token->pool(), algorithm, pkcs11::random_key_id(), o.label);
  nlohmann::json out = keyservice::key_pair_json(key);
  const pkcs11::KeyPairAttributes read_back = pkcs11::read_key_pair_attributes(token->pool(), key);
  out["attributes"] = {
      {"private_key", keyservice::attributes_json(read_back.private_key)},
      {"public_key", keyservice::attributes_json(read_back.public_key)},
  };
  print_json(out);
}

void sign(const KeyOptions& o) {
  if (o.format != "raw" && o.format != "der") throw std::runtime_error("--format must be raw or der");
  const std::vector<std::uint8_t> message = read_input(o.in);
  const auto token = pkcs11::Token::open(pkcs11::Uri::parse(o.uri), token_options());
  const pkcs11::KeyPair key = find_key(token->pool(), o.label);
  std::vector<std::uint8_t> signature = pkcs11::sign(token->pool(), key, message);
  if (o.format == "der") {
    if (key.public_key.algorithm != pkcs11::Algorithm::ecdsa_p256) {
      throw std::runtime_error("--format der applies to ECDSA keys only; Ed25519 signatures are raw");
    }
    signature = audit::ecdsa_signature_raw_to_der(signature);
  }
  write_output(o.out, signature);
}

void inventory(const KeyOptions& o) {
  const auto token = pkcs11::Token::open(pkcs11::Uri::parse(o.uri), token_options());
  print_json(keyservice::inventory_json(pkcs11::take_inventory(token->pool())));
}

}  // namespace

void add_key_commands(CLI::App& app) {
  auto options = std::make_shared<KeyOptions>();
  CLI::App* key = app.add_subcommand("key", "Generate keys in the token and sign with them");
  key->require_subcommand(1);

  CLI::App* gen = key->add_subcommand("generate", "Generate a sign-only key pair in the token");
  gen->add_option("--token", options->uri, "PKCS#11 URI of the token, with pin-source")->required();
  gen->add_option("--label", options->label, "Label of the new key (1 to 128 bytes)")->required();
  gen->add_option("--algorithm", options->algorithm,
                  "ed25519 or ecdsa-p256 (default: ed25519 when the token has EdDSA)")
      ->check(CLI::IsMember({"ed25519", "ecdsa-p256"}));
  gen->callback([options] { generate(*options); });

  CLI::App* sign_cmd = key->add_subcommand("sign", "Sign a file with a key in the token");
  sign_cmd->add_option("--token", options->uri, "PKCS#11 URI of the token, with pin-source")->required();
  sign_cmd->add_option("--label", options->label, "Label of the key")->required();
  sign_cmd->add_option("--in", options->in, "File to sign (at most 64 MiB)")->required();
  sign_cmd->add_option("--out", options->out, "Where to write the signature")->required();
  sign_cmd->add_option("--format", options->format,
                       "raw (64 bytes; r||s for ECDSA) or der (ECDSA only, for openssl)")
      ->capture_default_str()
      ->check(CLI::IsMember({"raw", "der"}));
  sign_cmd->callback([options] { sign(*options); });

  CLI::App* inv = app.add_subcommand("inventory", "Print every object on the token as JSON");
  inv->add_option("--token", options->uri, "PKCS#11 URI of the token, with pin-source")->required();
  inv->callback([options] { inventory(*options); });
}

}  // namespace escrowless::keyadmin
