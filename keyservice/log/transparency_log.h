// The transparency log as the rest of the service sees it: append entries, read checkpoints,
// entries and proofs. Opening it checks the stored tree against what the log signed and refuses
// to run on any difference, so the log never signs a checkpoint inconsistent with an earlier one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "audit/hash.h"
#include "audit/verifier_key.h"
#include "keyservice/log/log_database.h"
#include "keyservice/log/log_storage.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/sequencer.h"
#include "keyservice/log/shared_log.h"
#include "pkcs11/session_pool.h"

namespace escrowless::keyservice {

// Names in the log database's meta table.
inline constexpr const char* kMetaOrigin = "origin";
inline constexpr const char* kMetaLogKeyId = "log_key_id";       // CKA_ID, hex
inline constexpr const char* kMetaVerifierKey = "verifier_key";  // C2SP note verifier key
// The newest checkpoint that met the witness policy, with its cosignature lines (written by the
// node that collects cosignatures, read by a restart and by the other nodes).
inline constexpr const char* kMetaCosignedCheckpoint = "cosigned_checkpoint";

class TransparencyLog {
 public:
  struct Options {
    std::size_t max_batch = 8192;
    // Re-hash every stored leaf and check every stored subtree on open (O(n), about a second
    // per million entries). Off, only the stored subtrees on the right edge are checked.
    bool verify_all_leaves = true;
    // Memory for the entry and proof caches below, each (see Cache). Entries differ in size (a
    // few hundred bytes for most, an upload with a post-quantum last-resort key several KiB), so
    // the bounds are in bytes, not entries: about 7,000 typical entries, and 3,000 proofs at a
    // million leaves (20 hashes each), more than bundle responses reuse between checkpoints.
    std::size_t entry_cache_bytes = std::size_t{4} << 20;
    std::size_t proof_cache_bytes = std::size_t{2} << 20;
    // Several nodes write this log (PostgreSQL only): entries go through the database's queue
    // to whichever node sequences (shared_log.h), instead of this process holding the writer's
    // lock for as long as it runs.
    bool shared = false;
    std::chrono::milliseconds election_interval{500};  // shared: how often a follower tries to lead
    std::chrono::milliseconds ack_timeout{30000};      // shared: how long append() waits at most
  };

  // Creates a new log in `database` (where there must be none) for `origin`, whose checkpoints
  // `signer` signs; the key's CKA_ID is recorded so open() finds it again.
  static void create(const LogDatabase& database, const std::string& origin, const NoteSigner& signer,
                     std::span<const std::uint8_t> log_key_id);

  // Opens an existing log, finds its key in the token through `pool`, verifies the stored tree
  // (Error(integrity) naming the first difference) and starts the sequencer. Only one process may
  // write a log: a second open() while another writer lives fails with Error(conflict) (see
  // open_log_writer). With Options::shared, any number of processes open it, and one of them
  // at a time sequences (SharedLog).
  static std::unique_ptr<TransparencyLog> open(const LogDatabase& database, pkcs11::SessionPool& pool,
                                               const Options& options);
  // The same with a given signer (tests, tools); its verifier key must be the recorded one.
  static std::unique_ptr<TransparencyLog> open(const LogDatabase& database, std::unique_ptr<NoteSigner> signer,
                                               const Options& options);

  // The same for a SQLite file at `db_path`.
  static void create(const std::string& db_path, const std::string& origin, const NoteSigner& signer,
                     std::span<const std::uint8_t> log_key_id) {
    create(LogDatabase::sqlite(db_path), origin, signer, log_key_id);
  }
  static std::unique_ptr<TransparencyLog> open(const std::string& db_path, pkcs11::SessionPool& pool,
                                               const Options& options) {
    return open(LogDatabase::sqlite(db_path), pool, options);
  }
  static std::unique_ptr<TransparencyLog> open(const std::string& db_path, std::unique_ptr<NoteSigner> signer,
                                               const Options& options) {
    return open(LogDatabase::sqlite(db_path), std::move(signer), options);
  }

  ~TransparencyLog();

  std::future<Receipt> append(std::string entry);

  // The newest signed checkpoint, kept in memory: every bundle response carries it.
  struct SignedHead {
    std::uint64_t size = 0;
    std::string note;  // the signed checkpoint note
  };
  // nullptr before the first checkpoint is signed.
  std::shared_ptr<const SignedHead> signed_head() const;

  // The checkpoint served to clients (served_head(): note text; Error(not_found) before the
  // first), and the size of the newest signed checkpoint.
  std::string checkpoint();
  std::uint64_t size();

  // Witness cosignatures (keyservice/cosign/cosignature_collector.h). With a witness policy,
  // clients are served the newest checkpoint that met the policy, cosignature lines included,
  // which lags the newest signed one by a witness round trip; without one (the default), the
  // newest signed checkpoint. Writers are acknowledged with the signed checkpoint either way.
  //
  // Turns the policy on; call before serving. `bundle_wait`: how long head_covering() waits.
  void require_cosignatures(std::chrono::milliseconds bundle_wait);
  bool requires_cosignatures() const;
  // What clients get: the newest cosigned checkpoint that met the policy, or with no policy the
  // newest signed one. nullptr before the first.
  std::shared_ptr<const SignedHead> served_head() const;
  // For a bundle naming entries below `size`: the served head if it covers them; else, with a
  // policy, the first cosigned checkpoint that does, waiting up to the bundle wait for it; when
  // none comes in time, the newest signed checkpoint (which covers every acknowledged entry), so
  // the bundle still goes out and a client requiring the quorum refuses it, naming the witnesses
  // missing. nullptr before the first signed checkpoint.
  std::shared_ptr<const SignedHead> head_covering(std::uint64_t size);
  // Serves a cosigned checkpoint (a signed note of this log's with cosignature lines after the
  // log's signature) that met the policy. Requires size <= size(). An older one than the one
  // served is ignored; one of the same size replaces it (fresher cosignature timestamps).
  void publish_cosigned(std::uint64_t size, const std::string& note);
  // The cosigned checkpoint kept in the log database (kMetaCosignedCheckpoint), nullopt if none.
  std::optional<std::string> stored_cosigned();
  void store_cosigned(const std::string& note);
  // Called (on the thread that signed or learned of it) after each newer signed checkpoint is
  // published; it must not call back into the log. Clearing it waits for a call in progress.
  void set_head_listener(std::function<void()> listener);

  // Reads, valid up to the newest signed checkpoint's size.
  std::vector<std::string> entries(std::uint64_t start, std::uint64_t count);
  std::string entry(std::uint64_t index);  // one entry, served from memory when seen recently
  std::vector<audit::Hash> inclusion_proof(std::uint64_t index, std::uint64_t size);
  std::vector<audit::Hash> consistency_proof(std::uint64_t from, std::uint64_t to);
  // Hashes of perfect subtrees (level 0: leaf hashes), in the order asked: the tiles' read path.
  // Each must be complete in the tree of the newest signed checkpoint; Error(invalid_input)
  // otherwise.
  std::vector<audit::Hash> subtree_hashes(std::span<const audit::NodeId> nodes);

  // What the entry and proof caches hold now (tests check the bounds; the bench prints them).
  struct CacheStats {
    std::size_t entries = 0, entry_bytes = 0;
    std::size_t proofs = 0, proof_bytes = 0;
  };
  CacheStats cache_stats();

  const std::string& origin() const { return origin_; }
  const audit::VerifierKey& verifier() const { return signer_->verifier(); }

  // Finishes every submitted entry, then stops accepting new ones.
  void stop();
  Sequencer::Stats stats() const;
  // True while this process sequences the log (always, unless the log is shared).
  bool sequencing() const;

 private:
  TransparencyLog() = default;
  std::uint64_t signed_size_or_throw(std::uint64_t size);
  // Makes a newer signed checkpoint the one served; an older one is ignored.
  void publish(std::uint64_t size, const std::string& note);
  static std::unique_ptr<TransparencyLog> open_shared(const LogDatabase& database,
                                                      std::unique_ptr<NoteSigner> signer, const Options& options);

  std::string origin_;
  std::unique_ptr<NoteSigner> signer_;
  std::unique_ptr<LogStorage> writer_;  // the sequencer's connection, holding the writer lock
  std::unique_ptr<LogStorage> reader_;  // everyone else's
  std::unique_ptr<Sequencer> sequencer_;  // one writer
  std::unique_ptr<SharedLog> shared_;     // or several nodes
  mutable std::mutex head_mutex_;
  std::shared_ptr<const SignedHead> head_;
  bool cosigned_only_ = false;                 // under head_mutex_
  std::chrono::milliseconds bundle_wait_{0};   // under head_mutex_
  std::shared_ptr<const SignedHead> cosigned_;  // under head_mutex_
  std::condition_variable cosigned_published_;
  std::mutex listener_mutex_;
  std::function<void()> head_listener_;         // under listener_mutex_

  // Every bundle response carries the entries of its device and their inclusion proofs against
  // the newest checkpoint: both are kept for reuse. Entries never change; proofs are kept for the
  // newest size only (a new checkpoint empties them). Each cache counts its bytes (the values
  // plus kCacheOverhead a value) and is emptied when the next value would pass its bound: the
  // working set of bundle responses is small and refills at once, and emptying needs no
  // bookkeeping per lookup. A value larger than the whole bound is served but not kept.
  static constexpr std::size_t kCacheOverhead = 64;  // hash node, key, string or vector header
  std::size_t entry_cache_limit_ = 0;
  std::size_t proof_cache_limit_ = 0;
  std::mutex cache_mutex_;
  std::unordered_map<std::uint64_t, std::string> entry_cache_;
  std::size_t entry_cache_bytes_ = 0;
  std::uint64_t proof_cache_size_ = 0;
  std::unordered_map<std::uint64_t, std::vector<audit::Hash>> proof_cache_;  // by index
  std::size_t proof_cache_bytes_ = 0;
};

}  // namespace escrowless::keyservice
