// Who may call what: one place for the credential checks of every route.
#include "api/problem.h"
#include "api/request.h"
#include "api/service.h"
#include "keyservice/credentials.h"

namespace escrowless::api {

Caller Service::authenticate(const httplib::Request& request) const {
  const auto credential = bearer_credential(request);
  if (!credential) return {};
  if (keyservice::credential_matches(*credential, admin_credential_sha256)) return {true, std::nullopt};
  if (auto device = devices.authenticate(*credential)) return {false, std::move(device)};
  throw unauthorized("the credential is not valid");
}

Caller Service::require_admin(const httplib::Request& request) const {
  Caller caller = authenticate(request);
  if (caller.admin) return caller;
  if (caller.device) throw forbidden("this route needs the admin credential");
  throw unauthorized("this route needs the admin credential");
}

Caller Service::require_account(const httplib::Request& request, std::string_view account) const {
  Caller caller = authenticate(request);
  if (caller.admin || (caller.device && caller.device->account == account)) return caller;
  if (caller.device) throw forbidden("a device may act only for its own account");
  throw unauthorized("this route needs the admin credential or a device credential of this account");
}

namespace {
constexpr const char* kReaderNeeded = "this route needs a device or admin credential";
}

Caller Service::require_reader(const httplib::Request& request) const {
  Caller caller = authenticate(request);
  if (caller.admin || caller.device || config.anonymous_fetch) return caller;
  throw unauthorized(kReaderNeeded);
}

std::optional<audit::Hash> Service::reader_to_check(const httplib::Request& request) const {
  const auto credential = bearer_credential(request);
  if (!credential) {
    if (config.anonymous_fetch) return std::nullopt;
    throw unauthorized(kReaderNeeded);
  }
  if (keyservice::credential_matches(*credential, admin_credential_sha256)) return std::nullopt;
  return keyservice::credential_hash(*credential);
}

}  // namespace escrowless::api
