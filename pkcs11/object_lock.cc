#include "pkcs11/object_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {

LockFile::LockFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw Error(ErrorKind::invalid_input, "cannot open the token lock file " + path + ": " + std::strerror(errno));
  }
}

LockFile::~LockFile() { ::close(fd_); }

void LockFile::lock(bool exclusive) {
  while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno != EINTR) {
      throw Error(ErrorKind::internal, "cannot lock the token lock file " + path_ + ": " + std::strerror(errno));
    }
  }
}

void LockFile::unlock() { ::flock(fd_, LOCK_UN); }

void TokenObjectsLock::lock() {
  local_.lock();
  if (!file_) return;
  try {
    file_->lock(true);
  } catch (...) {
    local_.unlock();
    throw;
  }
}

void TokenObjectsLock::unlock() {
  if (file_) file_->unlock();
  local_.unlock();
}

void TokenObjectsLock::lock_shared() {
  local_.lock_shared();
  if (!file_) return;
  try {
    const std::lock_guard count(shared_count_mutex_);
    if (shared_count_ == 0) file_->lock(false);
    ++shared_count_;
  } catch (...) {
    local_.unlock_shared();
    throw;
  }
}

void TokenObjectsLock::unlock_shared() {
  if (file_) {
    const std::lock_guard count(shared_count_mutex_);
    if (--shared_count_ == 0) file_->unlock();
  }
  local_.unlock_shared();
}

void TokenObjectsLock::share_with_processes(const std::string& path) {
  auto file = std::make_unique<LockFile>(path);
  const std::unique_lock alone(local_);  // nobody holds it while it changes
  file_ = std::move(file);
}

}  // namespace escrowless::pkcs11
