#include "shared/shared_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "config/options.h"
#include "shared/robust_mutex.h"

namespace uwsgi {

namespace {
constexpr char kMagic[8] = {'U', 'W', 'C', 'A', 'C', 'H', 'E', '2'};

uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t(7); }

bool parse_size(std::string_view key, std::string_view v, uint64_t* out, std::string* err) {
  long long n;
  if (!parse_number_value(v, &n) || n <= 0) {
    *err = "--cache2: " + std::string(key) + " wants a number > 0, not \"" + std::string(v) + "\"";
    return false;
  }
  *out = (uint64_t)n;
  return true;
}
}  // namespace

struct SharedCache::Header {
  char magic[8];
  uint64_t items, blocksize, keysize, hashsize;
  pthread_mutex_t mu;
  int64_t free_head;
  uint64_t lru_clock;
  uint64_t count;
  // For --stats (uWSGI's keys): lookups that found / missed, stores refused as full.
  uint64_t hits, miss, full, last_modified_at;
};

struct SharedCache::Slot {
  int64_t next;      // hash chain, or the free list
  uint64_t expires;  // unix seconds, 0: never
  uint64_t lru;
  uint32_t keylen, vallen;
  uint8_t used;
  char key[];        // keysize bytes
};

bool parse_cache2_spec(std::string_view spec, CacheSpec* out, std::string* err) {
  CacheSpec c;
  size_t i = 0;
  while (i <= spec.size()) {
    size_t comma = spec.find(',', i);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view kv = spec.substr(i, comma - i);
    i = comma + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string_view k = kv.substr(0, eq), v = eq == std::string_view::npos ? "1" : kv.substr(eq + 1);
    bool flag;
    if (k == "name") {
      c.name = std::string(v);
    } else if (k == "items" || k == "max_items" || k == "maxitems") {
      if (!parse_size(k, v, &c.items, err)) return false;
    } else if (k == "blocksize") {
      if (!parse_size(k, v, &c.blocksize, err)) return false;
    } else if (k == "keysize") {
      if (!parse_size(k, v, &c.keysize, err)) return false;
    } else if (k == "hashsize" || k == "hash_size") {
      if (!parse_size(k, v, &c.hashsize, err)) return false;
    } else if (k == "purge_lru" || k == "lru" || k == "clear_on_full" || k == "ignore_full" ||
               k == "lazy_expire" || k == "sweep_on_full" || k == "store_sync") {
      if (!parse_bool_value(v, &flag) && k != "store_sync") {
        *err = "--cache2: " + std::string(k) + " wants a boolean, not \"" + std::string(v) + "\"";
        return false;
      }
      // ignore_full, lazy_expire, sweep_on_full: what this cache always does; store_sync: the
      // store is a shared file mapping, the kernel writes it back.
      if (k == "purge_lru" || k == "lru") c.purge_lru = flag;
      if (k == "clear_on_full") c.clear_on_full = flag;
    } else if (k == "store") {
      c.store = std::string(v);
    } else if (k == "hash") {
      if (v != "djb33x") {
        *err = "--cache2: hash " + std::string(v) + " is not supported (only djb33x)";
        return false;
      }
    } else if (k == "bitmap" || k == "blocks" || k == "node" || k == "nodes" || k == "udp" || k == "sync" ||
               k == "store_delete" || k == "math_initial") {
      *err = "--cache2: key \"" + std::string(k) + "\" is not supported by this server";
      return false;
    } else {
      *err = "--cache2: unknown key \"" + std::string(k) + "\" in \"" + std::string(spec) + "\"";
      return false;
    }
  }
  if (c.name.empty()) {
    *err = "--cache2 needs name=NAME (\"" + std::string(spec) + "\")";
    return false;
  }
  if (c.items == 0) {
    *err = "--cache2 " + c.name + " needs items=N";
    return false;
  }
  if (c.keysize > 65535 || c.blocksize > (1ull << 31) || c.items > (1ull << 31)) {
    *err = "--cache2 " + c.name + ": keysize at most 65535, blocksize at most 2 GiB, items at most 2^31";
    return false;
  }
  if (c.hashsize == 0) c.hashsize = c.items < 16 ? 16 : (c.items > 65536 ? 65536 : c.items);
  *out = std::move(c);
  return true;
}

SharedCache::~SharedCache() {
  // The mapping outlives this object in children; nothing to do (the process is ending).
}

void SharedCache::init_layout() {
  slot_stride_ = align8(sizeof(Slot) + spec_.keysize);
  size_t buckets_off = align8(sizeof(Header));
  slots_off_ = buckets_off + sizeof(int64_t) * spec_.hashsize;
  blocks_off_ = align8(slots_off_ + slot_stride_ * spec_.items);
  size_ = blocks_off_ + spec_.blocksize * spec_.items;
}

int64_t* SharedCache::buckets() const {
  return reinterpret_cast<int64_t*>(static_cast<char*>(base_) + align8(sizeof(Header)));
}
SharedCache::Slot* SharedCache::slot(int64_t i) const {
  return reinterpret_cast<Slot*>(static_cast<char*>(base_) + slots_off_ + slot_stride_ * i);
}
char* SharedCache::block(int64_t i) const { return static_cast<char*>(base_) + blocks_off_ + spec_.blocksize * i; }

bool SharedCache::create(const CacheSpec& spec, std::string* err) {
  spec_ = spec;
  init_layout();
  int fd = -1;
  bool keep = false;
  if (!spec_.store.empty()) {
    fd = open(spec_.store.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      *err = "--cache2 " + spec_.name + ": cannot open store " + spec_.store + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
    keep = (size_t)st.st_size == size_;
    if (!keep && ftruncate(fd, (off_t)size_) != 0) {
      *err = "--cache2 " + spec_.name + ": cannot size store " + spec_.store + ": " + strerror(errno);
      close(fd);
      return false;
    }
  }
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, fd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED, fd, 0);
  if (fd >= 0) close(fd);
  if (p == MAP_FAILED) {
    *err = "--cache2 " + spec_.name + ": cannot map " + std::to_string(size_) + " bytes: " + strerror(errno);
    return false;
  }
  base_ = p;
  h_ = static_cast<Header*>(p);
  keep = keep && memcmp(h_->magic, kMagic, sizeof kMagic) == 0 && h_->items == spec_.items &&
         h_->blocksize == spec_.blocksize && h_->keysize == spec_.keysize && h_->hashsize == spec_.hashsize;
  // Nobody else can hold the mutex yet (no fork happened): it is always made afresh.
  int r = robust_mutex_init(&h_->mu, false);
  if (r != 0) {
    *err = "--cache2 " + spec_.name + ": cannot make a shared mutex: " + strerror(r);
    return false;
  }
  if (!keep) {
    memcpy(h_->magic, kMagic, sizeof kMagic);
    h_->items = spec_.items;
    h_->blocksize = spec_.blocksize;
    h_->keysize = spec_.keysize;
    h_->hashsize = spec_.hashsize;
    h_->hits = h_->miss = h_->full = 0;
    clear();
    h_->last_modified_at = 0;  // as uWSGI: 0 until the first change
  }
  return true;
}

uint64_t SharedCache::bucket_of(std::string_view key) const {
  uint32_t h = 5381;
  for (unsigned char c : key) h = (h * 33) ^ c;
  return h % spec_.hashsize;
}

void SharedCache::clear() {
  RobustGuard g(&h_->mu);
  for (uint64_t b = 0; b < spec_.hashsize; b++) buckets()[b] = -1;
  for (uint64_t i = 0; i < spec_.items; i++) {
    Slot* s = slot((int64_t)i);
    s->used = 0;
    s->next = i + 1 < spec_.items ? (int64_t)i + 1 : -1;
  }
  h_->free_head = 0;
  h_->count = 0;
  h_->lru_clock = 0;
  h_->last_modified_at = (uint64_t)time(nullptr);
}

void SharedCache::unlink_locked(int64_t i) {
  Slot* s = slot(i);
  int64_t* link = &buckets()[bucket_of(std::string_view(s->key, s->keylen))];
  while (*link != -1 && *link != i) link = &slot(*link)->next;
  if (*link == i) *link = s->next;
  s->used = 0;
  s->next = h_->free_head;
  h_->free_head = i;
  h_->count--;
}

int64_t SharedCache::find_locked(std::string_view key, uint64_t now) {
  for (int64_t i = buckets()[bucket_of(key)]; i != -1; i = slot(i)->next) {
    Slot* s = slot(i);
    if (s->keylen != key.size() || memcmp(s->key, key.data(), key.size()) != 0) continue;
    if (s->expires && s->expires <= now) {
      unlink_locked(i);
      return -1;
    }
    s->lru = ++h_->lru_clock;
    return i;
  }
  return -1;
}

int64_t SharedCache::alloc_locked(uint64_t now) {
  if (h_->free_head == -1) {  // full: sweep the expired items first
    for (uint64_t i = 0; i < spec_.items; i++) {
      Slot* s = slot((int64_t)i);
      if (s->used && s->expires && s->expires <= now) unlink_locked((int64_t)i);
    }
  }
  if (h_->free_head == -1 && spec_.purge_lru) {
    int64_t oldest = -1;
    for (uint64_t i = 0; i < spec_.items; i++) {
      Slot* s = slot((int64_t)i);
      if (s->used && (oldest == -1 || s->lru < slot(oldest)->lru)) oldest = (int64_t)i;
    }
    if (oldest != -1) unlink_locked(oldest);
  }
  if (h_->free_head == -1 && spec_.clear_on_full) {
    for (uint64_t i = 0; i < spec_.items; i++)
      if (slot((int64_t)i)->used) unlink_locked((int64_t)i);
  }
  int64_t i = h_->free_head;
  if (i != -1) h_->free_head = slot(i)->next;
  return i;
}

bool SharedCache::store_locked(std::string_view key, std::string_view value, uint64_t expires_s, bool overwrite,
                               uint64_t now, std::string* err) {
  int64_t i = find_locked(key, now);
  if (i != -1 && !overwrite) {
    *err = "key exists";
    return false;
  }
  if (i == -1) {
    i = alloc_locked(now);
    if (i == -1) {
      h_->full++;
      *err = "cache " + spec_.name + " is full (" + std::to_string(spec_.items) + " items; purge_lru=1 evicts)";
      return false;
    }
    Slot* s = slot(i);
    s->used = 1;
    s->keylen = (uint32_t)key.size();
    memcpy(s->key, key.data(), key.size());
    int64_t* head = &buckets()[bucket_of(key)];
    s->next = *head;
    *head = i;
    h_->count++;
  }
  Slot* s = slot(i);
  s->vallen = (uint32_t)value.size();
  memcpy(block(i), value.data(), value.size());
  s->expires = expires_s ? now + expires_s : 0;
  s->lru = ++h_->lru_clock;
  h_->last_modified_at = now;
  return true;
}

bool SharedCache::get(std::string_view key, std::string* value) {
  RobustGuard g(&h_->mu);
  int64_t i = find_locked(key, (uint64_t)time(nullptr));
  if (i == -1) {
    h_->miss++;
    return false;
  }
  h_->hits++;
  value->assign(block(i), slot(i)->vallen);
  return true;
}

bool SharedCache::exists(std::string_view key) {
  RobustGuard g(&h_->mu);
  bool found = find_locked(key, (uint64_t)time(nullptr)) != -1;
  (found ? h_->hits : h_->miss)++;
  return found;
}

bool SharedCache::set(std::string_view key, std::string_view value, uint64_t expires_s, bool overwrite,
                      std::string* err) {
  if (key.empty() || key.size() > spec_.keysize) {
    *err = "a key is 1 to " + std::to_string(spec_.keysize) + " bytes (keysize), not " + std::to_string(key.size());
    return false;
  }
  if (value.size() > spec_.blocksize) {
    *err = "the value (" + std::to_string(value.size()) + " bytes) is larger than the blocksize of cache " +
           spec_.name + " (" + std::to_string(spec_.blocksize) + " bytes)";
    return false;
  }
  RobustGuard g(&h_->mu);
  return store_locked(key, value, expires_s, overwrite, (uint64_t)time(nullptr), err);
}

bool SharedCache::del(std::string_view key) {
  RobustGuard g(&h_->mu);
  int64_t i = find_locked(key, (uint64_t)time(nullptr));
  if (i == -1) return false;
  unlink_locked(i);
  h_->last_modified_at = (uint64_t)time(nullptr);
  return true;
}

bool SharedCache::update_number(std::string_view key, char op, int64_t arg, uint64_t expires_s, int64_t* result,
                                std::string* err) {
  if (key.empty() || key.size() > spec_.keysize || spec_.blocksize < 8) {
    *err = "bad key size, or a blocksize under 8 bytes";
    return false;
  }
  RobustGuard g(&h_->mu);
  uint64_t now = (uint64_t)time(nullptr);
  int64_t n = 0;
  int64_t i = find_locked(key, now);
  if (i != -1) {
    if (slot(i)->vallen != 8) {
      *err = "the value of this key is not a 64-bit number";
      return false;
    }
    memcpy(&n, block(i), 8);
  }
  switch (op) {
    case '+': n = (int64_t)((uint64_t)n + (uint64_t)arg); break;
    case '-': n = (int64_t)((uint64_t)n - (uint64_t)arg); break;
    case '*': n = (int64_t)((uint64_t)n * (uint64_t)arg); break;
    case '/':
      if (arg == 0 || (n == INT64_MIN && arg == -1)) {
        *err = "division by zero";
        return false;
      }
      n /= arg;
      break;
    default:
      *err = "unknown operation";
      return false;
  }
  if (!store_locked(key, std::string_view(reinterpret_cast<const char*>(&n), 8), expires_s, true, now, err))
    return false;
  *result = n;
  return true;
}

std::vector<std::string> SharedCache::keys() {
  RobustGuard g(&h_->mu);
  uint64_t now = (uint64_t)time(nullptr);
  std::vector<std::string> out;
  for (uint64_t i = 0; i < spec_.items; i++) {
    Slot* s = slot((int64_t)i);
    if (s->used && !(s->expires && s->expires <= now)) out.emplace_back(s->key, s->keylen);
  }
  return out;
}

uint64_t SharedCache::item_count() {
  RobustGuard g(&h_->mu);
  return h_->count;
}

CacheStat SharedCache::stats() {
  RobustGuard g(&h_->mu);
  CacheStat st;
  st.name = spec_.name;
  st.hashsize = spec_.hashsize;
  st.keysize = spec_.keysize;
  st.max_items = spec_.items;
  st.blocksize = spec_.blocksize;
  st.items = h_->count;
  st.hits = h_->hits;
  st.miss = h_->miss;
  st.full = h_->full;
  st.last_modified_at = h_->last_modified_at;
  return st;
}

}  // namespace uwsgi
