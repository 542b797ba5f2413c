#include "pkcs11/session.h"

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {

Session Session::open(const Module& module, CK_SLOT_ID slot) {
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  check(module.fn()->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                   &handle),
        "C_OpenSession");
  return Session(module.fn(), handle);
}

Session::~Session() {
  if (handle_ != CK_INVALID_HANDLE) functions_->C_CloseSession(handle_);
}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    if (handle_ != CK_INVALID_HANDLE) functions_->C_CloseSession(handle_);
    functions_ = other.functions_;
    handle_ = std::exchange(other.handle_, CK_INVALID_HANDLE);
  }
  return *this;
}

void Session::login(CK_USER_TYPE user, const Secret& pin) {
  const auto bytes = pin.bytes();
  const CK_RV rv =
      functions_->C_Login(handle_, user, const_cast<CK_UTF8CHAR*>(bytes.data()), bytes.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return;
  check(rv, user == CKU_SO ? "C_Login (security officer)" : "C_Login");
}

void Session::logout() { check(functions_->C_Logout(handle_), "C_Logout"); }

bool Session::user_logged_in() const {
  CK_SESSION_INFO info{};
  check(functions_->C_GetSessionInfo(handle_, &info), "C_GetSessionInfo");
  return info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS;
}

}  // namespace escrowless::pkcs11
