#include "keyservice/log/transparency_log.h"

#include <spdlog/spdlog.h>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/error.h"
#include "keyservice/error.h"
#include "keyservice/log/log_proofs.h"
#include "keyservice/log/tree_check.h"
#include "pkcs11/keys.h"

namespace escrowless::keyservice {

void TransparencyLog::create(const LogDatabase& database, const std::string& origin,
                             const NoteSigner& signer, std::span<const std::uint8_t> log_key_id) {
  if (signer.verifier().name() != origin) {
    throw Error(ErrorKind::invalid_input, "the log key's note name must be the origin");
  }
  auto storage = create_log_storage(database);
  storage->set_meta(kMetaOrigin, origin);
  storage->set_meta(kMetaLogKeyId, audit::hex_encode(log_key_id));
  storage->set_meta(kMetaVerifierKey, signer.verifier().to_string());
}

std::unique_ptr<TransparencyLog> TransparencyLog::open(const LogDatabase& database,
                                                       pkcs11::SessionPool& pool,
                                                       const Options& options) {
  std::string origin;
  std::vector<std::uint8_t> key_id;
  {
    auto storage = open_log_storage(database);
    const auto stored_origin = storage->meta(kMetaOrigin);
    const auto stored_key_id = storage->meta(kMetaLogKeyId);
    if (!stored_origin || !stored_key_id) {
      throw Error(ErrorKind::integrity, database.name() + " is not a log database (no origin or log key)");
    }
    origin = *stored_origin;
    key_id = audit::hex_decode(*stored_key_id);
  }
  const auto key = pkcs11::find_key_pair_by_id(pool, key_id);
  if (!key) {
    throw Error(ErrorKind::unavailable, "the log key (CKA_ID " + audit::hex_encode(key_id) +
                                            ") is not on the token");
  }
  return open(database, std::make_unique<TokenNoteSigner>(pool, *key, origin), options);
}

std::unique_ptr<TransparencyLog> TransparencyLog::open(const LogDatabase& database,
                                                       std::unique_ptr<NoteSigner> signer,
                                                       const Options& options) {
  if (options.shared) return open_shared(database, std::move(signer), options);
  std::unique_ptr<TransparencyLog> log(new TransparencyLog());
  // Two writers would each extend their own idea of the tree: the writer's lock refuses the second.
  log->writer_ = open_log_writer(database);
  log->reader_ = open_log_storage(database);
  const auto origin = log->writer_->meta(kMetaOrigin);
  const auto verifier_key = log->writer_->meta(kMetaVerifierKey);
  if (!origin || !verifier_key) {
    throw Error(ErrorKind::integrity, database.name() + " is not a log database (no origin or verifier key)");
  }
  if (signer->verifier().to_string() != *verifier_key) {
    throw Error(ErrorKind::integrity, "the log key in the token is not the one this log was created with");
  }
  log->origin_ = *origin;
  log->signer_ = std::move(signer);
  log->entry_cache_limit_ = options.entry_cache_bytes;
  log->proof_cache_limit_ = options.proof_cache_bytes;

  CheckedTree checked = check_stored_tree(*log->writer_, *log->reader_, log->origin_,
                                          log->signer_->verifier(), options.verify_all_leaves);
  if (checked.unsigned_tail) {
    // Entries stored by a process that stopped before signing them: sign them now, so that they
    // are readable (and reconcilable) before anything is served. If the token can't sign yet,
    // the sequencer keeps trying.
    try {
      const std::uint64_t size = checked.tree.size();
      const std::string note =
          log->signer_->sign(audit::format_checkpoint(log->origin_, size, checked.tree.root()));
      log->writer_->sign_checkpoint(size, note);
      checked.unsigned_tail = false;
    } catch (const std::exception& e) {
      spdlog::warn("the log's entries up to size {} are stored but not signed yet: {}", checked.tree.size(), e.what());
    }
  }
  if (const auto latest = log->reader_->latest_signed_checkpoint()) log->publish(latest->size, latest->note);
  TransparencyLog* published_to = log.get();
  log->sequencer_ = std::make_unique<Sequencer>(
      *log->writer_, *log->signer_, log->origin_, std::move(checked.tree), checked.unsigned_tail,
      Sequencer::Options{options.max_batch, [published_to](std::uint64_t size, const std::string& note) {
                           published_to->publish(size, note);
                         }});
  return log;
}

std::unique_ptr<TransparencyLog> TransparencyLog::open_shared(const LogDatabase& database,
                                                              std::unique_ptr<NoteSigner> signer,
                                                              const Options& options) {
  if (database.kind != LogDatabase::Kind::postgresql) {
    throw Error(ErrorKind::invalid_input, "only a log in PostgreSQL can be shared by several nodes");
  }
  std::unique_ptr<TransparencyLog> log(new TransparencyLog());
  log->reader_ = open_log_storage(database);
  const auto origin = log->reader_->meta(kMetaOrigin);
  const auto verifier_key = log->reader_->meta(kMetaVerifierKey);
  if (!origin || !verifier_key) {
    throw Error(ErrorKind::integrity, database.name() + " is not a log database (no origin or verifier key)");
  }
  if (signer->verifier().to_string() != *verifier_key) {
    throw Error(ErrorKind::integrity, "the log key in the token is not the one this log was created with");
  }
  log->origin_ = *origin;
  log->signer_ = std::move(signer);
  log->entry_cache_limit_ = options.entry_cache_bytes;
  log->proof_cache_limit_ = options.proof_cache_bytes;
  // What is stored now must be what the log signed, as for a single writer; whichever node
  // leads checks the right edge again when it takes over.
  {
    auto nodes = open_log_storage(database);
    check_stored_tree(*log->reader_, *nodes, log->origin_, log->signer_->verifier(), options.verify_all_leaves);
  }
  if (const auto latest = log->reader_->latest_signed_checkpoint()) log->publish(latest->size, latest->note);
  TransparencyLog* published_to = log.get();
  log->shared_ = std::make_unique<SharedLog>(
      database.target, *log->signer_, log->origin_,
      SharedLog::Options{options.max_batch, options.election_interval, options.ack_timeout,
                         [published_to](std::uint64_t size, const std::string& note) {
                           published_to->publish(size, note);
                         }});
  return log;
}

TransparencyLog::~TransparencyLog() {
  stop();
  shared_.reset();
  sequencer_.reset();
  writer_.reset();  // releases the writer's lock
}

void TransparencyLog::stop() {
  if (shared_) shared_->stop();
  if (sequencer_) sequencer_->stop();
}

Sequencer::Stats TransparencyLog::stats() const { return shared_ ? shared_->stats() : sequencer_->stats(); }

bool TransparencyLog::sequencing() const { return shared_ ? shared_->leading() : true; }

std::future<Receipt> TransparencyLog::append(std::string entry) {
  return shared_ ? shared_->submit(std::move(entry)) : sequencer_->submit(std::move(entry));
}

void TransparencyLog::publish(std::uint64_t size, const std::string& note) {
  auto head = std::make_shared<const SignedHead>(SignedHead{size, note});
  {
    const std::lock_guard guard(head_mutex_);
    if (head_ && head_->size >= size) return;  // several nodes sign; the newest one wins
    head_ = std::move(head);
  }
  // Called under its own lock, so that set_head_listener() returns only once no call is running.
  const std::lock_guard guard(listener_mutex_);
  if (head_listener_) head_listener_();
}

std::shared_ptr<const TransparencyLog::SignedHead> TransparencyLog::signed_head() const {
  const std::lock_guard guard(head_mutex_);
  return head_;
}

void TransparencyLog::require_cosignatures(std::chrono::milliseconds bundle_wait) {
  const std::lock_guard guard(head_mutex_);
  cosigned_only_ = true;
  bundle_wait_ = bundle_wait;
}

bool TransparencyLog::requires_cosignatures() const {
  const std::lock_guard guard(head_mutex_);
  return cosigned_only_;
}

std::shared_ptr<const TransparencyLog::SignedHead> TransparencyLog::served_head() const {
  const std::lock_guard guard(head_mutex_);
  return cosigned_only_ ? cosigned_ : head_;
}

std::shared_ptr<const TransparencyLog::SignedHead> TransparencyLog::head_covering(std::uint64_t size) {
  std::unique_lock lock(head_mutex_);
  if (!cosigned_only_) return head_;
  const auto covers = [this, size] { return cosigned_ && cosigned_->size >= size; };
  if (cosigned_published_.wait_for(lock, bundle_wait_, covers)) return cosigned_;
  return head_;
}

void TransparencyLog::publish_cosigned(std::uint64_t size, const std::string& note) {
  auto head = std::make_shared<const SignedHead>(SignedHead{size, note});
  {
    const std::lock_guard guard(head_mutex_);
    if (!head_ || size > head_->size) {
      throw Error(ErrorKind::internal, "a cosigned checkpoint of size " + std::to_string(size) +
                                           " is beyond the newest signed one");
    }
    if (cosigned_ && cosigned_->size > size) return;
    cosigned_ = std::move(head);
  }
  cosigned_published_.notify_all();
}

std::optional<std::string> TransparencyLog::stored_cosigned() { return reader_->meta(kMetaCosignedCheckpoint); }

void TransparencyLog::store_cosigned(const std::string& note) { reader_->set_meta(kMetaCosignedCheckpoint, note); }

void TransparencyLog::set_head_listener(std::function<void()> listener) {
  const std::lock_guard guard(listener_mutex_);
  head_listener_ = std::move(listener);
}

std::string TransparencyLog::checkpoint() {
  const auto head = served_head();
  if (!head && requires_cosignatures()) {
    throw Error(ErrorKind::unavailable, "no checkpoint of the log has met its witness policy yet");
  }
  if (!head) throw Error(ErrorKind::not_found, "the log has no signed checkpoint yet");
  return head->note;
}

std::uint64_t TransparencyLog::size() {
  const auto head = signed_head();
  return head ? head->size : 0;
}

std::uint64_t TransparencyLog::signed_size_or_throw(std::uint64_t wanted) {
  const std::uint64_t signed_size = size();
  if (wanted > signed_size) {
    throw Error(ErrorKind::invalid_input, "tree size " + std::to_string(wanted) +
                                              " is beyond the newest checkpoint (" +
                                              std::to_string(signed_size) + ")");
  }
  return signed_size;
}

std::vector<std::string> TransparencyLog::entries(std::uint64_t start, std::uint64_t count) {
  if (start > UINT64_MAX - count) throw Error(ErrorKind::invalid_input, "entry range overflows");
  signed_size_or_throw(start + count);
  return reader_->leaves(start, count);
}

std::string TransparencyLog::entry(std::uint64_t index) {
  {
    const std::lock_guard guard(cache_mutex_);
    if (const auto found = entry_cache_.find(index); found != entry_cache_.end()) return found->second;
  }
  std::string data = entries(index, 1).front();
  const std::size_t cost = data.size() + kCacheOverhead;
  if (cost > entry_cache_limit_) return data;
  const std::lock_guard guard(cache_mutex_);
  if (entry_cache_.contains(index)) return data;  // another thread read it meanwhile
  if (entry_cache_bytes_ + cost > entry_cache_limit_) {
    entry_cache_.clear();
    entry_cache_bytes_ = 0;
  }
  entry_cache_.emplace(index, data);
  entry_cache_bytes_ += cost;
  return data;
}

std::vector<audit::Hash> TransparencyLog::inclusion_proof(std::uint64_t index, std::uint64_t size) {
  signed_size_or_throw(size);
  // Kept for the served checkpoint's size only: the one bundles carry.
  const auto served = served_head();
  if (!served || size != served->size) return keyservice::inclusion_proof(*reader_, index, size);
  {
    const std::lock_guard guard(cache_mutex_);
    if (proof_cache_size_ == size) {
      if (const auto found = proof_cache_.find(index); found != proof_cache_.end()) return found->second;
    }
  }
  std::vector<audit::Hash> proof = keyservice::inclusion_proof(*reader_, index, size);
  const std::size_t cost = proof.size() * sizeof(audit::Hash) + kCacheOverhead;
  if (cost > proof_cache_limit_) return proof;
  const std::lock_guard guard(cache_mutex_);
  if (proof_cache_size_ != size) {
    if (proof_cache_size_ > size) return proof;  // a newer checkpoint arrived meanwhile
    proof_cache_.clear();
    proof_cache_bytes_ = 0;
    proof_cache_size_ = size;
  }
  if (proof_cache_.contains(index)) return proof;  // another thread made it meanwhile
  if (proof_cache_bytes_ + cost > proof_cache_limit_) {
    proof_cache_.clear();
    proof_cache_bytes_ = 0;
  }
  proof_cache_.emplace(index, proof);
  proof_cache_bytes_ += cost;
  return proof;
}

TransparencyLog::CacheStats TransparencyLog::cache_stats() {
  const std::lock_guard guard(cache_mutex_);
  return {entry_cache_.size(), entry_cache_bytes_, proof_cache_.size(), proof_cache_bytes_};
}

std::vector<audit::Hash> TransparencyLog::consistency_proof(std::uint64_t from, std::uint64_t to) {
  signed_size_or_throw(to);
  return keyservice::consistency_proof(*reader_, from, to);
}

std::vector<audit::Hash> TransparencyLog::subtree_hashes(std::span<const audit::NodeId> nodes) {
  const std::uint64_t signed_size = size();
  for (const audit::NodeId& node : nodes) {
    if (node.level >= 64 || node.index >= (signed_size >> node.level)) {
      throw Error(ErrorKind::invalid_input, "subtree " + audit::to_string(node) +
                                                " is not complete in the newest checkpoint's tree (size " +
                                                std::to_string(signed_size) + ")");
    }
  }
  return reader_->node_hashes(nodes);
}

}  // namespace escrowless::keyservice
