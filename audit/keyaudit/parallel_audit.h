// keyaudit verify's auditor: audit::LogAuditor's rules on the calling thread (they need the
// entries in order), its prekey signature checks on a ParallelSignatures pool. The findings of
// both come back merged in entry order, exactly as a serial audit reports them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "audit/keyaudit/parallel_signatures.h"
#include "audit/log_auditor.h"

namespace escrowless::keyaudit {

class ParallelAudit {
 public:
  // `auditor` must defer its signatures (AuditorOptions::defer_signatures) and outlive this.
  ParallelAudit(audit::LogAuditor& auditor, unsigned threads);

  // The next entry, parsed, or one that failed to parse with `error` (LogAuditor::audit).
  void audit(const audit::LogEntry& entry);
  void audit_unparsable(const std::string& error);

  // Waits for every signature check; returns all the violations in entry order (for one entry,
  // the rules' findings first, then its signature finding, as LogAuditor reports them inline).
  // Rethrows a worker's unexpected error.
  std::vector<audit::Violation> finish();

 private:
  void queue_checks();

  audit::LogAuditor& auditor_;
  ParallelSignatures signatures_;
  std::vector<audit::SignatureCheck> batch_;
  std::vector<audit::Violation> found_;
};

}  // namespace escrowless::keyaudit
