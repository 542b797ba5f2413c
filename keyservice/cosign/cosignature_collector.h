// Collects witness cosignatures for the log's checkpoints (C2SP tlog-witness add-checkpoint,
// cosignature/v1) and serves the newest checkpoint that meets the witness policy. Off the write
// path: writers are acknowledged as soon as the log signed, as without witnesses.
//
// One thread per witness of the policy, so a witness that is down or slow delays only itself:
// each takes the newest signed checkpoint, submits it with the consistency proof from the size
// that witness last cosigned (learned from a 409 when unknown), and hands the verified
// cosignature line to the gatherer. A checkpoint signed while a request is in flight supersedes
// the older one for the next request. With no new checkpoint, the current one is submitted again
// every heartbeat, so cosignature timestamps stay fresh (a witness cosigns the same tree again
// with a new timestamp). After a failure a witness is retried with a backoff of 1 s doubling up
// to the heartbeat, not on every new checkpoint.
//
// The gatherer keeps the lines collected for the last few checkpoints; once a checkpoint's lines
// meet the policy's quorum (evaluate_quorum, no age limit: clients judge age), the signed note
// with every line gathered for it is stored in the log database (kMetaCosignedCheckpoint) and
// served (TransparencyLog::publish_cosigned). Only the node that sequences submits; every node,
// and a restart, serves what is stored after checking it: the log's signature, the quorum, and
// that its root is the log's own tree at its size.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/witness_policy.h"
#include "keyservice/log/transparency_log.h"

namespace escrowless::keyservice {

class CosignatureCollector {
 public:
  struct Options {
    audit::WitnessPolicy policy;
    std::chrono::milliseconds heartbeat{60000};
    int timeout_seconds = 5;                      // one witness request, connecting included
    std::optional<std::string> ca_file;           // trusted for the witnesses' HTTPS
    std::chrono::milliseconds bundle_wait{2000};  // TransparencyLog::require_cosignatures
    std::chrono::milliseconds follower_poll{250}; // how often a node that does not sequence reads the store
  };

  // Checks the policy against the log (Error(invalid_input): a policy with `log` lines not naming
  // this log's key, no witness, or a witness without a URL), turns on cosigned serving in `log`,
  // serves the stored cosigned checkpoint if it checks, and starts the threads.
  static std::unique_ptr<CosignatureCollector> start(TransparencyLog& log, Options options);
  ~CosignatureCollector();  // stops the threads; a request in flight finishes or times out first
  CosignatureCollector(const CosignatureCollector&) = delete;
  CosignatureCollector& operator=(const CosignatureCollector&) = delete;

  // One witness as this node last saw it (all zero and empty on a node that does not sequence).
  struct WitnessStatus {
    std::string name;
    std::uint64_t cosigned_size = 0;  // the size of the newest checkpoint it cosigned for us
    std::uint64_t last_success = 0;   // POSIX seconds of its last cosignature; 0: none yet
    double latency_seconds = 0;       // of its last answer (or failure)
    std::string last_error;           // empty after a success
    std::uint64_t successes = 0, failures = 0;
  };
  std::vector<WitnessStatus> status() const;

  // Whether the checkpoint served now meets the quorum with cosignatures no older than
  // fresh_seconds() at `now` (POSIX seconds); `missing` names the witnesses that do not count.
  struct Health {
    bool fresh = false;
    std::uint64_t served_size = 0;
    std::string problem;  // why not fresh, for /readyz
  };
  Health health(std::uint64_t now) const;
  // Three heartbeats plus a request timeout: a witness that answered within its last heartbeat
  // and a retry keeps the served checkpoint fresh.
  std::uint64_t fresh_seconds() const;

  const audit::WitnessPolicy& policy() const { return options_.policy; }

 private:
  using Clock = std::chrono::steady_clock;
  CosignatureCollector(TransparencyLog& log, Options options);

  void run_witness(std::size_t witness);
  void run_follower();
  void gather(const TransparencyLog::SignedHead& head, std::size_t witness, const std::string& line);
  // Serves the stored cosigned checkpoint when it is new and checks; false when it can't yet.
  void load_stored();

  TransparencyLog& log_;
  const Options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t generation_ = 0;  // counts newer signed checkpoints
  std::vector<WitnessStatus> status_;

  // The gatherer: lines by witness index for the last few checkpoints (by note), newest last.
  struct Gathered {
    std::shared_ptr<const TransparencyLog::SignedHead> head;
    std::map<std::size_t, std::string> lines;
  };
  std::mutex gather_mutex_;
  std::deque<Gathered> gathered_;
  std::uint64_t published_size_ = 0;
  std::string loaded_;  // follower: the stored note last served

  std::vector<std::thread> threads_;
};

}  // namespace escrowless::keyservice
