#include "keyservice/cosign/cosignature_collector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <span>

#include "audit/checkpoint.h"
#include "audit/client/witness_client.h"
#include "audit/note.h"
#include "audit/proof_verify.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

// The checkpoints whose lines the gatherer keeps: a witness answering for an older checkpoint
// than the others still helps that one reach the quorum.
constexpr std::size_t kGathered = 8;
constexpr auto kFirstRetry = std::chrono::seconds(1);
// How often a witness thread on a node that does not sequence looks whether it leads now.
constexpr auto kLeadershipPoll = std::chrono::seconds(1);
// A stored note is checked for its quorum with no age limit: age is the clients' judgement.
constexpr std::uint64_t kNoAgeLimit = std::uint64_t{1} << 62;

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace

std::unique_ptr<CosignatureCollector> CosignatureCollector::start(TransparencyLog& log, Options options) {
  const audit::WitnessPolicy& policy = options.policy;
  if (policy.witnesses.empty()) throw Error(ErrorKind::invalid_input, "the witness policy names no witness");
  for (const audit::PolicyWitness& witness : policy.witnesses) {
    if (witness.url.empty()) {
      throw Error(ErrorKind::invalid_input, "witness " + witness.name + " has no URL in the witness policy");
    }
    try {
      audit::client::ServerUrl::parse(witness.url);
    } catch (const audit::client::FetchError& e) {
      throw Error(ErrorKind::invalid_input, "witness " + witness.name + "'s URL: " + e.what());
    }
  }
  if (!policy.logs.empty() &&
      std::none_of(policy.logs.begin(), policy.logs.end(), [&log](const audit::PolicyLog& entry) {
        return entry.key.to_string() == log.verifier().to_string();
      })) {
    throw Error(ErrorKind::invalid_input, "the witness policy's log lines do not name this log's key " +
                                              log.verifier().to_string());
  }
  std::unique_ptr<CosignatureCollector> collector(new CosignatureCollector(log, std::move(options)));
  log.require_cosignatures(collector->options_.bundle_wait);
  collector->load_stored();
  CosignatureCollector* self = collector.get();
  log.set_head_listener([self] {
    {
      const std::lock_guard lock(self->mutex_);
      ++self->generation_;
    }
    self->wake_.notify_all();
  });
  for (std::size_t i = 0; i < self->options_.policy.witnesses.size(); ++i) {
    self->threads_.emplace_back([self, i] { self->run_witness(i); });
  }
  self->threads_.emplace_back([self] { self->run_follower(); });
  return collector;
}

CosignatureCollector::CosignatureCollector(TransparencyLog& log, Options options)
    : log_(log), options_(std::move(options)) {
  for (const audit::PolicyWitness& witness : options_.policy.witnesses) {
    WitnessStatus status;
    status.name = witness.name;
    status_.push_back(std::move(status));
  }
}

CosignatureCollector::~CosignatureCollector() {
  log_.set_head_listener(nullptr);
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

std::vector<CosignatureCollector::WitnessStatus> CosignatureCollector::status() const {
  const std::lock_guard lock(mutex_);
  return status_;
}

std::uint64_t CosignatureCollector::fresh_seconds() const {
  const auto heartbeat = std::chrono::duration_cast<std::chrono::seconds>(options_.heartbeat).count();
  return static_cast<std::uint64_t>(3 * std::max<std::int64_t>(heartbeat, 1) + options_.timeout_seconds);
}

CosignatureCollector::Health CosignatureCollector::health(std::uint64_t now) const {
  Health health;
  const auto served = log_.served_head();
  if (!served) {
    health.problem = "no checkpoint has met the witness policy yet";
    return health;
  }
  health.served_size = served->size;
  try {
    const audit::QuorumResult result =
        audit::check_cosigned_checkpoint(options_.policy, served->note, now, fresh_seconds());
    health.fresh = result.met;
    if (!result.met) {
      health.problem = "the served checkpoint (size " + std::to_string(served->size) + ") lacks a quorum of cosignatures "
                       "from the last " + std::to_string(fresh_seconds()) + " s; not fresh: ";
      for (std::size_t i = 0; i < result.missing.size(); ++i) health.problem += (i ? ", " : "") + result.missing[i];
    }
  } catch (const std::exception& e) {
    health.problem = std::string("the served checkpoint does not check: ") + e.what();
  }
  return health;
}

void CosignatureCollector::run_witness(std::size_t index) {
  const audit::PolicyWitness& witness = options_.policy.witnesses[index];
  std::optional<audit::client::WitnessClient> client;
  std::uint64_t known_size = 0;  // what the witness holds, as far as we know; 0: ask it
  std::uint64_t seen = 0;        // the generation last acted on
  bool failing = false;
  std::string last_note;
  auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstRetry);
  Clock::time_point due = Clock::now();  // the next submission, new checkpoint or not
  while (true) {
    {
      std::unique_lock lock(mutex_);
      // After a failure only the backoff wakes it: a new checkpoint every few milliseconds must
      // not turn into a connection attempt each.
      wake_.wait_until(lock, due, [&] { return stopping_ || (!failing && generation_ != seen); });
      if (stopping_) return;
      seen = generation_;
    }
    if (!log_.sequencing()) {
      due = Clock::now() + kLeadershipPoll;
      known_size = 0;  // another node may have moved it meanwhile
      continue;
    }
    const auto head = log_.signed_head();
    if (!head) {
      due = Clock::now() + kLeadershipPoll;
      continue;
    }
    if (head->note == last_note && Clock::now() < due) continue;
    const Clock::time_point started = Clock::now();
    const auto submit = [&] {
      if (!client) {
        client.emplace(witness, audit::client::ClientOptions{options_.ca_file, "", options_.timeout_seconds});
      }
      return client->cosign(known_size, head->note, [this](std::uint64_t from, std::uint64_t to) {
        return log_.consistency_proof(from, to);
      });
    };
    try {
      std::string line;
      try {
        line = submit();
      } catch (const audit::client::FetchError&) {
        // A witness that answered last time may have closed the kept-alive connection while
        // idle: once more on a new one (add-checkpoint may be repeated: a 409 or a cosignature).
        if (failing) throw;
        client.reset();
        line = submit();
      }
      const double latency = std::chrono::duration<double>(Clock::now() - started).count();
      {
        const std::lock_guard lock(mutex_);
        WitnessStatus& status = status_[index];
        status.cosigned_size = head->size;
        status.last_success = unix_now();
        status.latency_seconds = latency;
        status.last_error.clear();
        ++status.successes;
      }
      if (failing) spdlog::info("witness {} cosigns again (size {})", witness.name, head->size);
      failing = false;
      last_note = head->note;
      backoff = kFirstRetry;
      due = Clock::now() + options_.heartbeat;
      gather(*head, index, line);
    } catch (const std::exception& e) {
      const double latency = std::chrono::duration<double>(Clock::now() - started).count();
      std::string previous;
      {
        const std::lock_guard lock(mutex_);
        WitnessStatus& status = status_[index];
        previous = status.last_error;
        status.latency_seconds = latency;
        status.last_error = e.what();
        ++status.failures;
      }
      if (previous != e.what()) spdlog::warn("witness {}: {}", witness.name, e.what());
      failing = true;
      known_size = 0;  // whatever it holds, its next answer says (a 409)
      due = Clock::now() + backoff;
      backoff = std::min(backoff * 2, options_.heartbeat);
    }
  }
}

void CosignatureCollector::gather(const TransparencyLog::SignedHead& head, std::size_t witness,
                                  const std::string& line) {
  const std::lock_guard lock(gather_mutex_);
  auto found = std::find_if(gathered_.begin(), gathered_.end(),
                            [&head](const Gathered& g) { return g.head->note == head.note; });
  if (found == gathered_.end()) {
    gathered_.push_back({std::make_shared<const TransparencyLog::SignedHead>(head), {}});
    if (gathered_.size() > kGathered) gathered_.pop_front();
    found = std::prev(gathered_.end());
  }
  found->lines[witness] = line;
  std::set<std::string> names;
  for (const auto& [index, unused] : found->lines) names.insert(options_.policy.witnesses[index].name);
  if (!audit::evaluate_quorum(options_.policy, names).met || head.size < published_size_) return;
  std::string cosigned = head.note;  // ends with the log's signature line and its newline
  for (const auto& [index, text] : found->lines) cosigned += text;
  published_size_ = head.size;
  try {
    log_.store_cosigned(cosigned);
  } catch (const std::exception& e) {
    // Served from memory all the same; the next one is stored again.
    spdlog::warn("cannot store the cosigned checkpoint of size {}: {}", head.size, e.what());
  }
  log_.publish_cosigned(head.size, cosigned);
}

void CosignatureCollector::run_follower() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, options_.follower_poll, [this] { return stopping_; })) return;
    }
    if (log_.sequencing()) continue;  // the witness threads publish what they gather
    try {
      load_stored();
    } catch (const std::exception& e) {
      spdlog::warn("cannot read the stored cosigned checkpoint: {}", e.what());
    }
  }
}

void CosignatureCollector::load_stored() {
  const std::optional<std::string> stored = log_.stored_cosigned();
  if (!stored || *stored == loaded_) return;
  const auto head = log_.signed_head();
  try {
    const audit::VerifierKey verifier = log_.verifier();
    const audit::Checkpoint checkpoint = audit::open_checkpoint(*stored, log_.origin(), std::span(&verifier, 1));
    if (!head || checkpoint.size > head->size) return;  // this node has not seen that size yet: later
    const audit::Checkpoint newest =
        audit::parse_checkpoint(audit::parse_note(head->note).text);
    if (checkpoint.size == newest.size) {
      if (checkpoint.root != newest.root) throw Error(ErrorKind::integrity, "its root is not the log's at that size");
    } else if (checkpoint.size > 0) {
      audit::verify_consistency(checkpoint.size, newest.size, checkpoint.root, newest.root,
                                log_.consistency_proof(checkpoint.size, newest.size));
    }
    if (!audit::check_cosigned_checkpoint(options_.policy, *stored, unix_now(), kNoAgeLimit).met) {
      throw Error(ErrorKind::integrity, "it does not meet the witness policy now configured");
    }
    log_.publish_cosigned(checkpoint.size, *stored);
    loaded_ = *stored;
  } catch (const std::exception& e) {
    loaded_ = *stored;  // said once
    spdlog::warn("not serving the stored cosigned checkpoint: {}", e.what());
  }
}

}  // namespace escrowless::keyservice
