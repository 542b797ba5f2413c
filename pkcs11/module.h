// A loaded PKCS#11 module: dlopen + C_GetFunctionList + C_Initialize(CKF_OS_LOCKING_OK).
//
// Cryptoki allows one initialization per module per process, so load() hands out one shared
// instance per module file; the last owner's release calls C_Finalize. The library itself stays
// mapped until the process exits: modules (SoftHSM among them) register OpenSSL and atexit
// state that is not safe to unmap.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

// Debian's SoftHSM 2 module, used when a URI names no module-path.
inline constexpr const char* kDefaultModulePath = "/usr/lib/softhsm/libsofthsm2.so";

class Module {
 public:
  // Throws Error(unavailable) when the file is missing, is not a PKCS#11 module or fails to
  // initialize; the message carries dlerror() or the CKR_* name.
  //
  // `init_args` goes to C_Initialize as CK_C_INITIALIZE_ARGS.pReserved, for the modules that read
  // their configuration from there (NSS softokn: "configdir='sql:DIR' certPrefix='' ..."; see
  // hsm-config/). It is configuration, not a secret. Every re-initialization uses the same
  // string. Error(invalid_input) when this process already initialized the module with another
  // string; without `init_args`, a module already initialized here is reused as it is.
  static std::shared_ptr<Module> load(const std::string& path,
                                      const std::optional<std::string>& init_args = std::nullopt);

  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* fn() const { return functions_; }
  const std::string& path() const { return path_; }

  // C_GetInfo: the library's manufacturer, description and version.
  CK_INFO info() const;

  // C_Finalize then C_Initialize: the only way to make some modules see a token again after it
  // went away (SoftHSM marks a token whose folder vanished invalid for good, even once the folder
  // is back). Every session of this module in the process is gone afterwards, and every object
  // handle is void (new handles may name other objects). The caller must make sure no other
  // thread is inside a call of this module meanwhile (SessionPool::run does, for its sessions).
  // Error(unavailable) when the module was initialized by another library in this process.
  void reinitialize() const;

 private:
  Module(CK_FUNCTION_LIST* functions, std::string path)
      : functions_(functions), path_(std::move(path)) {}
  ~Module() = default;

  CK_FUNCTION_LIST* functions_;
  std::string path_;
};

}  // namespace escrowless::pkcs11
