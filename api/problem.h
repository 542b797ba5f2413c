// RFC 9457 problem details: every error response is application/problem+json with a stable
// `type` (urn:escrowless:problem:<slug>), a title, and a detail that names what is wrong. The
// mapping from the layers' error kinds to HTTP status lives in one table here (problem.cc).
#pragma once

#include <httplib.h>

#include <exception>
#include <stdexcept>
#include <string>

namespace escrowless::api {

struct Problem {
  int status = 500;
  std::string slug;    // the last part of the type URN, e.g. "invalid-request"
  std::string detail;  // what is wrong, for a person; never a secret
};

// Thrown by handlers for request problems they detect themselves (4xx).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string slug, const std::string& detail)
      : std::runtime_error(detail), problem_{status, std::move(slug), detail} {}
  const Problem& problem() const { return problem_; }

 private:
  Problem problem_;
};

// Convenience constructors for the common cases.
ApiError bad_request(const std::string& detail);   // 400 invalid-request
ApiError unauthorized(const std::string& detail);  // 401 unauthorized (adds WWW-Authenticate)
ApiError forbidden(const std::string& detail);     // 403 forbidden
ApiError not_found(const std::string& detail);     // 404 not-found

// The problem for any exception a handler let escape. `internal` is set for 5xx answers that
// come from a bug or a broken invariant, so the caller logs the real message and answers with a
// generic one.
Problem problem_for(const std::exception_ptr& error, std::string& internal);

// Writes the problem as the response (status, content type, JSON body, and the headers some
// statuses need: WWW-Authenticate for 401, Retry-After for 503).
void send_problem(httplib::Response& response, const Problem& problem, const std::string& request_id);

// The same problem as text/plain: its detail and a newline (protocols that speak plain text).
void send_problem_text(httplib::Response& response, const Problem& problem);

}  // namespace escrowless::api
