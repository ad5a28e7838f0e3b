#include "shared/shared_state.h"

#include <memory>
#include <vector>

#include "config/options.h"
#include "config/values.h"
#include "host.h"
#include "shared/shared_cache.h"
#include "shared/shared_locks.h"

namespace uwsgi {
namespace {

SharedLocks g_locks;

class CacheTable final : public Caches {
 public:
  Cache* find(std::string_view name) override {
    if (name.empty()) return caches.empty() ? nullptr : caches.front().get();
    for (auto& c : caches)
      if (c->name() == name) return c.get();
    return nullptr;
  }
  std::vector<std::unique_ptr<SharedCache>> caches;
};
CacheTable g_caches;

}  // namespace

void register_shared_options(HostImpl& host) {
  host.add_option(make_option("locks", 0, OptArg::Required,
                              "make N more cross-process locks for uwsgi.lock(n) (lock 0 always exists)", {}, true));
  host.add_option(make_option("cache2", 0, OptArg::Required,
                              "make a shared cache: name=NAME,items=N[,blocksize=BYTES][,keysize=BYTES][,hashsize=N]"
                              "[,purge_lru=1][,clear_on_full=1][,store=FILE] (several allowed)"));
  host.add_option(make_option("cache", 0, OptArg::Required,
                              "make the shared cache \"default\" with N items (uWSGI's old form of --cache2)", {}, true));
  host.add_option(make_option("cache-blocksize", 0, OptArg::Required, "block (largest value) size of --cache, bytes (default 65536)",
                              {}, true));
  host.add_option(make_option("cache-store", 0, OptArg::Required, "keep --cache in FILE, across restarts"));
}

bool setup_shared_state(const Config& cfg, bool check_only, std::string* err) {
  long long nlocks;
  if (!get_bounded(cfg, "locks", 0, 0, 65535, &nlocks, err)) return false;
  std::vector<CacheSpec> specs;
  if (cfg.has("cache")) {
    CacheSpec c;
    long long items, bs;
    if (!get_bounded(cfg, "cache", 0, 1, 1 << 30, &items, err) ||
        !get_bounded(cfg, "cache-blocksize", 65536, 1, 1ll << 31, &bs, err))
      return false;
    std::string spec = "name=default,items=" + std::to_string(items) + ",blocksize=" + std::to_string(bs);
    if (cfg.has("cache-store")) spec += ",store=" + cfg.get("cache-store");
    if (!parse_cache2_spec(spec, &c, err)) return false;
    specs.push_back(c);
  }
  for (auto& v : cfg.all("cache2")) {
    CacheSpec c;
    if (!parse_cache2_spec(v, &c, err)) return false;
    for (auto& o : specs)
      if (o.name == c.name) {
        *err = "--cache2: cache \"" + c.name + "\" is defined twice";
        return false;
      }
    specs.push_back(c);
  }
  if (check_only) return true;
  if (!g_locks.create((int)nlocks + 1, err)) return false;
  for (auto& s : specs) {
    auto c = std::make_unique<SharedCache>();
    if (!c->create(s, err)) return false;
    g_caches.caches.push_back(std::move(c));
  }
  return true;
}

Locks& shared_locks() { return g_locks; }
Caches& shared_caches() { return g_caches; }

std::vector<CacheStat> caches_stats() {
  std::vector<CacheStat> out;
  for (auto& c : g_caches.caches) out.push_back(c->stats());
  return out;
}

}  // namespace uwsgi
