// A thread-safe map of shared, immutable values with a bound on its size: when it holds
// `max_size` entries it is emptied before the next one goes in. Values are looked up by key and
// used only if what they were made from still matches what the caller read now (the caller's
// check), so nothing is ever invalidated and a miss costs only a rebuild.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace escrowless::keyservice {

template <class Key, class Value, class Hash = std::hash<Key>>
class BoundedCache {
 public:
  explicit BoundedCache(std::size_t max_size) : max_size_(max_size) {}

  std::shared_ptr<const Value> find(const Key& key) const {
    const std::lock_guard lock(mutex_);
    const auto found = map_.find(key);
    return found == map_.end() ? nullptr : found->second;
  }
  void put(Key key, std::shared_ptr<const Value> value) {
    const std::lock_guard lock(mutex_);
    if (map_.size() >= max_size_ && !map_.contains(key)) map_.clear();
    map_[std::move(key)] = std::move(value);
  }
  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return map_.size();
  }
  std::size_t max_size() const noexcept { return max_size_; }

 private:
  const std::size_t max_size_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, std::shared_ptr<const Value>, Hash> map_;
};

}  // namespace escrowless::keyservice
