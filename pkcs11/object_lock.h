// One lock over the token's set of objects, for every module this process loads, and, when
// configured, for every process on this machine that opens the same token.
//
// SoftHSM 2.6 races with itself when one thread makes or destroys objects while another searches
// (a search re-reads the token's objects from disk): the new object can be stored half made, and
// from then on every search finds an object whose CKA_CLASS reads CKR_ATTRIBUTE_VALUE_INVALID,
// so every inventory fails until the process restarts (seen with concurrent enrollments,
// revocations and inventories, tests/keyservice/reconciler_test.cc). Searches share this lock;
// making and destroying objects hold it alone. Both are rare and short next to signing, which
// takes no part. Never held across a call that takes it again.
//
// Several processes on one token (the nodes of one deployment on one machine) need the same
// rule between them, and local tokens do not give it (tests/pkcs11/multi_process_test.cc):
// tpm2-pkcs11 fails a key generation with CKR_GENERAL_ERROR when another process writes its
// SQLite store at the same moment ("database is locked"), and NSS softokn shows another
// process's half-made key pair (the private key before its public key) to a search. So the lock
// can be extended across processes with a lock file (share_token_objects_lock): an flock, shared
// by searches and held alone by changes, taken after this process's own lock. Network HSMs
// serve many clients by design and need no lock file.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace escrowless::pkcs11 {

// The lock file's side of TokenObjectsLock: flock(2) on an open file, whose locks belong to the
// open file description, so one process holds one shared lock however many threads search.
class LockFile {
 public:
  explicit LockFile(const std::string& path);  // Error(invalid_input) when it can't be opened
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  void lock(bool exclusive);
  void unlock();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Meets the standard's SharedMutex requirements for lock/unlock/lock_shared/unlock_shared, so
// callers use std::unique_lock and std::shared_lock as with a std::shared_mutex.
class TokenObjectsLock {
 public:
  void lock();
  void unlock();
  void lock_shared();
  void unlock_shared();

  // From now on, also lock `path` (created 0600 if missing). Called once at start-up, before any
  // token is used; every process that opens the token must name the same file.
  void share_with_processes(const std::string& path);

 private:
  std::shared_mutex local_;
  std::mutex shared_count_mutex_;
  int shared_count_ = 0;  // threads of this process sharing the lock file's shared lock
  std::unique_ptr<LockFile> file_;
};

inline TokenObjectsLock& token_objects_lock() {
  static TokenObjectsLock lock;
  return lock;
}

// token_objects_lock().share_with_processes(path).
inline void share_token_objects_lock(const std::string& path) { token_objects_lock().share_with_processes(path); }

}  // namespace escrowless::pkcs11
