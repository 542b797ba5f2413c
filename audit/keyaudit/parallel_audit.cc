#include "audit/keyaudit/parallel_audit.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace escrowless::keyaudit {
namespace {

constexpr std::size_t kSignatureBatch = 256;  // checks handed to a worker at once

}  // namespace

ParallelAudit::ParallelAudit(audit::LogAuditor& auditor, unsigned threads)
    : auditor_(auditor), signatures_(threads) {}

void ParallelAudit::audit(const audit::LogEntry& entry) {
  for (audit::Violation& violation : auditor_.audit(entry)) found_.push_back(std::move(violation));
  queue_checks();
}

void ParallelAudit::audit_unparsable(const std::string& error) {
  for (audit::Violation& violation : auditor_.audit_unparsable(error)) found_.push_back(std::move(violation));
}

void ParallelAudit::queue_checks() {
  for (audit::SignatureCheck& check : auditor_.take_signature_checks()) batch_.push_back(std::move(check));
  if (batch_.size() >= kSignatureBatch) signatures_.submit(std::exchange(batch_, {}));
}

std::vector<audit::Violation> ParallelAudit::finish() {
  signatures_.submit(std::exchange(batch_, {}));
  for (audit::Violation& violation : signatures_.finish()) found_.push_back(std::move(violation));
  // Stable: the rules' findings of an entry were found before (and so stay before) its
  // signature finding, of which there is at most one per entry.
  std::stable_sort(found_.begin(), found_.end(),
                   [](const audit::Violation& a, const audit::Violation& b) { return a.index < b.index; });
  return std::exchange(found_, {});
}

}  // namespace escrowless::keyaudit
