#include "pkcs11/module.h"

#include <dlfcn.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {
namespace {

struct Loaded {
  std::weak_ptr<Module> live;
  CK_FUNCTION_LIST* functions = nullptr;
  bool we_initialized = false;  // C_Initialize succeeded here and C_Finalize has not run since
  bool ours = false;            // the first C_Initialize in this process was ours
  // The pReserved string of our first C_Initialize, used again by every re-initialization.
  std::optional<std::string> init_args;
};

CK_RV initialize(CK_FUNCTION_LIST* functions, const std::optional<std::string>& init_args) {
  // OS locking: the module must be safe for our session pool's threads.
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  // Cryptoki says pReserved must be NULL, but some modules (NSS softokn) read their configuration
  // from it; the string outlives the call (it lives in the registry).
  if (init_args) args.pReserved = const_cast<char*>(init_args->c_str());
  return functions->C_Initialize(&args);
}

void check_initialize(CK_RV rv, const std::string& shown, bool had_args) {
  if (rv == CKR_ARGUMENTS_BAD && !had_args) {
    throw Error(ErrorKind::unavailable,
                "C_Initialize of " + shown +
                    " failed: CKR_ARGUMENTS_BAD; this module may need initialization parameters "
                    "(module-init-args, see hsm-config/)",
                rv);
  }
  check(rv, "C_Initialize");
}

// Keyed by canonical path, so two spellings of one file share one initialization. Loading and the
// last release both happen under this lock, so a release never finalizes a module that a
// concurrent load() has just handed out again.
std::mutex registry_mutex;
std::map<std::string, Loaded>& registry() {
  static auto* modules = new std::map<std::string, Loaded>();
  return *modules;
}

CK_FUNCTION_LIST* open_function_list(const std::string& path, const std::string& shown) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    throw Error(ErrorKind::unavailable,
                "PKCS#11 module " + shown + " cannot be loaded: " + (why ? why : "dlopen failed"));
  }
  auto get_function_list =
      reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    throw Error(ErrorKind::unavailable,
                shown + " is not a PKCS#11 module: it has no C_GetFunctionList");
  }
  CK_FUNCTION_LIST* functions = nullptr;
  check(get_function_list(&functions), "C_GetFunctionList");
  if (functions == nullptr || functions->version.major < 2) {
    throw Error(ErrorKind::unavailable, shown + " returned no usable PKCS#11 function list");
  }
  return functions;
}

}  // namespace

std::shared_ptr<Module> Module::load(const std::string& path,
                                     const std::optional<std::string>& init_args) {
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    throw Error(ErrorKind::unavailable,
                "PKCS#11 module " + path + " cannot be found: " + ec.message());
  }
  const std::string key = canonical.string();

  std::lock_guard lock(registry_mutex);
  Loaded& loaded = registry()[key];
  // One module, one configuration per process: a second, different one would silently not apply.
  if (init_args && loaded.ours && loaded.init_args != init_args) {
    throw Error(ErrorKind::invalid_input, "PKCS#11 module " + path +
                                              " is already initialized in this process with "
                                              "other initialization parameters");
  }
  if (auto existing = loaded.live.lock()) return existing;

  if (loaded.functions == nullptr) loaded.functions = open_function_list(key, path);
  if (!loaded.we_initialized) {
    const std::optional<std::string> args = loaded.ours && !init_args ? loaded.init_args : init_args;
    const CK_RV rv = initialize(loaded.functions, args);
    // Already initialized by another library in this process: use it, leave finalizing to them.
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) check_initialize(rv, path, args.has_value());
    loaded.we_initialized = rv == CKR_OK;
    if (rv == CKR_OK) loaded.init_args = args;
    loaded.ours = loaded.ours || rv == CKR_OK;
  }

  std::shared_ptr<Module> module(new Module(loaded.functions, key), [](Module* released) {
    std::lock_guard release_lock(registry_mutex);
    Loaded& entry = registry()[released->path()];
    if (entry.live.expired() && entry.we_initialized) {
      entry.functions->C_Finalize(nullptr);
      entry.we_initialized = false;
    }
    delete released;
  });
  loaded.live = module;
  return module;
}

void Module::reinitialize() const {
  std::lock_guard lock(registry_mutex);
  Loaded& loaded = registry()[path_];
  if (!loaded.ours) {
    throw Error(ErrorKind::unavailable, "PKCS#11 module " + path_ +
                                            " was initialized by another library in this process; "
                                            "it cannot be re-initialized here");
  }
  if (loaded.we_initialized) functions_->C_Finalize(nullptr);  // its result changes nothing here
  loaded.we_initialized = false;
  check(initialize(functions_, loaded.init_args), "C_Initialize");
  loaded.we_initialized = true;
}

CK_INFO Module::info() const {
  CK_INFO info{};
  check(functions_->C_GetInfo(&info), "C_GetInfo");
  return info;
}

}  // namespace escrowless::pkcs11
