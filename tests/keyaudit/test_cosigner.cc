// A test witness for the shell tests (not the project's keywitness): cosigns checkpoints with
// C2SP cosignature/v1 using a fresh OpenSSL Ed25519 key per test run.
//   test_cosigner keygen NAME KEYFILE          writes the raw 32-byte secret (0600), prints the vkey
//   test_cosigner cosign NAME KEYFILE TIME     reads a signed checkpoint note on stdin, prints it
//                                              with this witness's cosignature line appended
//   test_cosigner cosign-text NAME KEYFILE TIME TEXTFILE   the same, but signs TEXTFILE's checkpoint text
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "audit/cosignature.h"
#include "audit/openssl_ptr.h"

namespace audit = escrowless::audit;

namespace {

std::string read_all(std::istream& in) { return {std::istreambuf_iterator<char>(in), {}}; }

audit::EvpPkeyPtr load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string secret = read_all(in);
  audit::EvpPkeyPtr key(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr,
                                                        reinterpret_cast<const unsigned char*>(secret.data()), secret.size()));
  if (!key) throw std::runtime_error("cannot load " + path);
  return key;
}

audit::CosignerKey public_of(const std::string& name, EVP_PKEY* key) {
  std::vector<uint8_t> raw(32);
  std::size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &size) != 1) throw std::runtime_error("public key");
  return audit::CosignerKey::create(name, raw);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 3 && args[0] == "keygen") {
      const audit::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      std::vector<unsigned char> secret(32);
      std::size_t size = secret.size();
      if (!key || EVP_PKEY_get_raw_private_key(key.get(), secret.data(), &size) != 1) throw std::runtime_error("keygen");
      {
        std::ofstream out(args[2], std::ios::binary);
        out.write(reinterpret_cast<const char*>(secret.data()), static_cast<std::streamsize>(size));
      }
      ::chmod(args[2].c_str(), 0600);
      std::cout << public_of(args[1], key.get()).to_string() << "\n";
      return 0;
    }
    if ((args.size() == 4 && args[0] == "cosign") || (args.size() == 5 && args[0] == "cosign-text")) {
      const audit::EvpPkeyPtr key = load(args[2]);
      const audit::CosignerKey cosigner = public_of(args[1], key.get());
      const std::string note = read_all(std::cin);
      std::string text = note.substr(0, note.find("\n\n") + 1);
      if (args.size() == 5) {
        std::ifstream in(args[4], std::ios::binary);
        text = read_all(in);
      }
      const std::string line =
          audit::cosignature_line(cosigner, text, std::stoull(args[3]), [&](std::span<const uint8_t> message) {
            const audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
            std::vector<uint8_t> signature(64);
            std::size_t size = signature.size();
            if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) != 1 ||
                EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) != 1)
              throw std::runtime_error("sign");
            return signature;
          });
      std::cout << note << line;
      return 0;
    }
    std::cerr << "usage: test_cosigner keygen NAME KEYFILE | cosign NAME KEYFILE TIME | cosign-text NAME KEYFILE TIME TEXTFILE\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "test_cosigner: " << e.what() << "\n";
    return 1;
  }
}
