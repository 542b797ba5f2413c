#include "keyservice/tls_cert.h"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "audit/openssl_ptr.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

void check(int ok, const char* call) {
  if (ok != 1) throw Error(ErrorKind::internal, std::string(call) + " failed");
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  audit::X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!extension) throw Error(ErrorKind::internal, "X509V3_EXT_conf_nid failed");
  check(X509_add_ext(cert, extension.get(), -1), "X509_add_ext");
}

// PEM to a new file of the given mode, never replacing one.
template <class Write>
void write_pem(const std::filesystem::path& path, mode_t mode, Write write) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw Error(errno == EEXIST ? ErrorKind::conflict : ErrorKind::invalid_input,
                "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  FILE* file = ::fdopen(fd, "w");
  if (file == nullptr) {
    ::close(fd);
    throw Error(ErrorKind::internal, "fdopen failed for " + path.string());
  }
  const bool ok = write(file) == 1;
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) throw Error(ErrorKind::internal, "cannot write " + path.string());
}

}  // namespace

void write_localhost_certificate(const std::filesystem::path& cert_path,
                                 const std::filesystem::path& key_path) {
  audit::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw Error(ErrorKind::internal, "EVP_PKEY_Q_keygen(P-256) failed");

  audit::X509Ptr cert(X509_new());
  if (!cert) throw Error(ErrorKind::internal, "X509_new failed");
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial), "RAND_bytes");
  serial[0] &= 0x7f;  // a positive INTEGER
  audit::BignumPtr serial_bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!serial_bn || !BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert.get()))) {
    throw Error(ErrorKind::internal, "BN_to_ASN1_INTEGER failed");
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600)) {
    throw Error(ErrorKind::internal, "X509_gmtime_adj failed");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0),
        "X509_NAME_add_entry_by_txt");
  check(X509_set_issuer_name(cert.get(), name), "X509_set_issuer_name");
  check(X509_set_pubkey(cert.get(), key.get()), "X509_set_pubkey");
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) throw Error(ErrorKind::internal, "X509_sign failed");

  write_pem(key_path, 0600, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  write_pem(cert_path, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
}

}  // namespace escrowless::keyservice
