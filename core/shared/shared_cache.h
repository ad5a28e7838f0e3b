// uWSGI's --cache2: a fixed-size key/value table in shared memory (anonymous, or a file with
// store=, so it survives restarts), one robust mutex per cache. Each item owns one block of
// blocksize bytes; lookups hash the key (djb33x, as uWSGI) into hashsize chains. Expired items
// are dropped when met and swept when the table is full; purge_lru then evicts the least
// recently used item.
#pragma once

#include <uwsgi/plugin.h>

#include <pthread.h>

#include <memory>

#include "process/stats.h"

namespace uwsgi {

// One --cache2 value: name=NAME,items=N[,blocksize=BYTES][,keysize=BYTES][,hashsize=N]
// [,purge_lru=1][,store=PATH]. Unknown keys and uWSGI's network/bitmap keys are refused.
struct CacheSpec {
  std::string name;
  uint64_t items = 0;
  uint64_t blocksize = 65536;
  uint64_t keysize = 2048;
  uint64_t hashsize = 0;  // 0: derived from items
  bool purge_lru = false;
  bool clear_on_full = false;
  std::string store;
};
bool parse_cache2_spec(std::string_view spec, CacheSpec* out, std::string* err);

class SharedCache final : public Cache {
 public:
  ~SharedCache() override;
  // Maps the cache (or opens store= and keeps its items when the geometry matches).
  bool create(const CacheSpec& spec, std::string* err);

  const std::string& name() const override { return spec_.name; }
  bool get(std::string_view key, std::string* value) override;
  bool exists(std::string_view key) override;
  bool set(std::string_view key, std::string_view value, uint64_t expires_s, bool overwrite,
           std::string* err) override;
  bool del(std::string_view key) override;
  void clear() override;
  bool update_number(std::string_view key, char op, int64_t arg, uint64_t expires_s, int64_t* result,
                     std::string* err) override;
  std::vector<std::string> keys() override;
  uint64_t max_items() const override { return spec_.items; }
  uint64_t block_size() const override { return spec_.blocksize; }
  uint64_t item_count();  // items now stored (expired ones included until met)
  CacheStat stats();

 private:
  struct Header;
  struct Slot;
  Slot* slot(int64_t i) const;
  char* block(int64_t i) const;
  int64_t* buckets() const;
  uint64_t bucket_of(std::string_view key) const;
  int64_t find_locked(std::string_view key, uint64_t now);  // drops an expired match
  void unlink_locked(int64_t i);
  int64_t alloc_locked(uint64_t now);  // -1: full
  bool store_locked(std::string_view key, std::string_view value, uint64_t expires_s, bool overwrite,
                    uint64_t now, std::string* err);
  void init_layout();

  CacheSpec spec_;
  void* base_ = nullptr;
  size_t size_ = 0;
  size_t slot_stride_ = 0;
  size_t slots_off_ = 0, blocks_off_ = 0;
  Header* h_ = nullptr;
};

}  // namespace uwsgi
