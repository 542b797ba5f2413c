#include "api/problem.h"

#include <nlohmann/json.hpp>

#include "audit/error.h"
#include "keyservice/error.h"
#include "pkcs11/error.h"

namespace escrowless::api {
namespace {

const char* title_of(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 422: return "Unprocessable Content";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

}  // namespace

ApiError bad_request(const std::string& detail) { return ApiError(400, "invalid-request", detail); }
ApiError unauthorized(const std::string& detail) { return ApiError(401, "unauthorized", detail); }
ApiError forbidden(const std::string& detail) { return ApiError(403, "forbidden", detail); }
ApiError not_found(const std::string& detail) { return ApiError(404, "not-found", detail); }

// The one table from error kinds to HTTP answers.
Problem problem_for(const std::exception_ptr& error, std::string& internal) {
  try {
    std::rethrow_exception(error);
  } catch (const ApiError& e) {
    return e.problem();
  } catch (const keyservice::Error& e) {
    using K = keyservice::ErrorKind;
    switch (e.kind()) {
      case K::invalid_input: return {400, "invalid-request", e.what()};
      case K::not_found: return {404, "not-found", e.what()};
      case K::conflict: return {409, "conflict", e.what()};
      case K::unauthenticated: return {401, "unauthorized", e.what()};
      case K::unavailable: return {503, "unavailable", e.what()};
      case K::integrity:
      case K::internal: break;
    }
    internal = e.what();
  } catch (const pkcs11::Error& e) {
    using K = pkcs11::ErrorKind;
    if (e.kind() == K::template_refused) {  // a token configuration problem: retrying won't help
      internal = e.what();
      return {500, "token-refused-template",
              "the HSM token refused the key template or made a key that breaks the no-escrow "
              "rules; the server log names the attribute"};
    }
    if (e.kind() == K::ambiguous_key) {  // a planted twin, most likely: never sign with either
      internal = e.what();
      return {409, "device-key-ambiguous",
              "the HSM token holds more than one private key under this device's key id, so the "
              "service will not use either until an operator removes the one that is not the "
              "device's (keyaudit verify names it)"};
    }
    if (e.kind() == K::unavailable || e.kind() == K::authentication) {
      internal = e.what();  // logged; the client only learns the token is unavailable
      return {503, "token-unavailable", "the HSM token is unavailable; try again later"};
    }
    internal = e.what();
  } catch (const audit::Error& e) {
    if (e.kind() == audit::ErrorKind::invalid_input) return {400, "invalid-request", e.what()};
    internal = e.what();
  } catch (const std::exception& e) {
    internal = e.what();
  } catch (...) {
    internal = "unknown exception";
  }
  return {500, "internal", "internal error; the server log has the details"};
}

void send_problem(httplib::Response& response, const Problem& problem, const std::string& request_id) {
  nlohmann::json body = {
      {"type", "urn:escrowless:problem:" + problem.slug},
      {"title", title_of(problem.status)},
      {"status", problem.status},
      {"detail", problem.detail},
  };
  if (!request_id.empty()) body["request_id"] = request_id;
  response.status = problem.status;
  if (problem.status == 401) response.set_header("WWW-Authenticate", "Bearer");
  if (problem.status == 503) response.set_header("Retry-After", "5");
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/problem+json");
}

void send_problem_text(httplib::Response& response, const Problem& problem) {
  response.status = problem.status;
  if (problem.status == 503) response.set_header("Retry-After", "5");
  response.set_content(problem.detail + "\n", "text/plain; charset=utf-8");
}

}  // namespace escrowless::api
