// Guarded coroutine stacks for suspend engines (header-only, for in-tree and third-party engines).
//
// A stack is one anonymous mapping: guard pages (PROT_NONE) at the low end, then the usable
// stack. Stacks grow down, so running off the end hits the guard and dies with SIGSEGV instead of
// silently corrupting the heap. Pages are only committed when touched, so a generous size costs
// address space, not memory. A small per-engine pool reuses stacks of finished fibers, because
// mmap+mprotect+munmap per request would dominate a cheap context switch.
#pragma once

#include <uwsgi/plugin.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define UWSGI_STACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UWSGI_STACK_ASAN 1
#endif
#endif
#ifdef UWSGI_STACK_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace uwsgi {

inline size_t stack_page_size() {
  static const size_t ps = [] {
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t{4096};
  }();
  return ps;
}

// Guard below the stack: a few pages, so a function with a large frame is less likely to jump
// over it (address space only, never committed).
inline constexpr size_t kStackGuardBytes = 16 * 1024;

class GuardedStack {
 public:
  GuardedStack() = default;
  GuardedStack(const GuardedStack&) = delete;
  GuardedStack& operator=(const GuardedStack&) = delete;
  GuardedStack(GuardedStack&& o) noexcept { swap(o); }
  GuardedStack& operator=(GuardedStack&& o) noexcept {
    GuardedStack tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~GuardedStack() { release(); }

  // Maps `usable` bytes (rounded up to whole pages) above a PROT_NONE guard.
  bool allocate(size_t usable, std::string* err) {
    release();
    const size_t ps = stack_page_size();
    usable = (usable + ps - 1) / ps * ps;
    if (usable == 0) usable = ps;
    const size_t guard = (kStackGuardBytes + ps - 1) / ps * ps;
    void* p = mmap(nullptr, guard + usable, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      if (err) *err = std::string("cannot map a coroutine stack: ") + strerror(errno);
      return false;
    }
    if (mprotect(p, guard, PROT_NONE) != 0) {
      int e = errno;
      munmap(p, guard + usable);
      if (err) *err = std::string("cannot protect a coroutine stack guard: ") + strerror(e);
      return false;
    }
    map_ = p;
    map_size_ = guard + usable;
    guard_ = guard;
    return true;
  }

  void release() {
    if (map_) munmap(map_, map_size_);
    map_ = nullptr;
    map_size_ = guard_ = 0;
  }

  bool valid() const { return map_ != nullptr; }
  // Lowest usable address (just above the guard).
  void* bottom() const { return static_cast<char*>(map_) + guard_; }
  // One past the highest usable address: where a downward-growing stack starts.
  void* top() const { return static_cast<char*>(map_) + map_size_; }
  size_t size() const { return map_size_ - guard_; }

 private:
  void swap(GuardedStack& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(map_size_, o.map_size_);
    std::swap(guard_, o.guard_);
  }
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t guard_ = 0;
};

// Reuses stacks of one size. Shared (shared_ptr) by an engine and its fibers, so a fiber may
// outlive its engine. Thread-safe, though engines normally live in one thread.
class StackPool {
 public:
  explicit StackPool(size_t stack_bytes, size_t max_cached = 64)
      : bytes_(stack_bytes), max_cached_(max_cached) {}

  size_t stack_bytes() const { return bytes_; }

  bool get(GuardedStack* out, std::string* err) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!free_.empty()) {
        *out = std::move(free_.back());
        free_.pop_back();
        return true;
      }
    }
    return out->allocate(bytes_, err);
  }

  void put(GuardedStack&& s) {
    if (!s.valid()) return;
    std::lock_guard<std::mutex> lk(mu_);
    if (free_.size() < max_cached_) free_.push_back(std::move(s));
    // else: s is unmapped when it goes out of scope in the caller
  }

 private:
  size_t bytes_;
  size_t max_cached_;
  std::mutex mu_;
  std::vector<GuardedStack> free_;
};

// Stack-size options are given in pages (as in uWSGI); this turns them into bytes.
inline size_t stack_pages_to_bytes(long long pages) {
  if (pages < 1) pages = 1;
  return static_cast<size_t>(pages) * stack_page_size();
}

// Validates a stack-size option value (pages): for OptionDef::on_set.
inline bool check_stack_pages(std::string_view value, const char* option, long long min_pages,
                              std::string* err) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || n < min_pages || n > (1LL << 20)) {
    if (err) {
      *err = std::string("--") + option + ": expected a number of pages from " +
             std::to_string(min_pages) + " to 1048576, got \"" + s + "\"";
    }
    return false;
  }
  return true;
}

// AddressSanitizer must be told about every stack switch, or it reports false errors (and
// mis-tracks fake stacks) once code on a coroutine stack throws or calls a noreturn function.
// A fiber keeps one of these and calls it around each switch; in normal builds every call
// compiles to nothing.
class FiberSwitchNotes {
 public:
  // resume(), around the jump onto the fiber's stack.
  void to_fiber(const GuardedStack& stack) { start(&caller_fake_, stack.bottom(), stack.size()); }
  void back_in_caller() { finish(caller_fake_, nullptr, nullptr); }
  // suspend(), around the jump back to the resumer.
  void to_caller() { start(&fiber_fake_, caller_bottom_, caller_size_); }
  void back_in_fiber() { finish(fiber_fake_, &caller_bottom_, &caller_size_); }
  // The fiber's first instruction, and its last before leaving a stack never switched back to.
  void fiber_started() { finish(nullptr, &caller_bottom_, &caller_size_); }
  void fiber_leaving() { start(nullptr, caller_bottom_, caller_size_); }

 private:
  static void start(void** fake_save, const void* bottom, size_t size) {
#ifdef UWSGI_STACK_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save; (void)bottom; (void)size;
#endif
  }
  static void finish(void* fake_save, const void** old_bottom, size_t* old_size) {
#ifdef UWSGI_STACK_ASAN
    __sanitizer_finish_switch_fiber(fake_save, old_bottom, old_size);
#else
    (void)fake_save; (void)old_bottom; (void)old_size;
#endif
  }

  void* caller_fake_ = nullptr;
  void* fiber_fake_ = nullptr;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
};

// A suspend engine whose fibers each run on a stack from a shared pool. FiberT is constructed as
// FiberT(std::shared_ptr<StackPool>, GuardedStack, void (*entry)(void*), void* arg) and is then
// asked bool start(std::string* err) (set up its context; false refuses the fiber).
template <class FiberT>
class PooledStackEngine final : public SuspendEngine {
 public:
  PooledStackEngine(std::string name, size_t stack_bytes)
      : name_(std::move(name)), pool_(std::make_shared<StackPool>(stack_bytes)) {}

  const char* name() const override { return name_.c_str(); }

  std::unique_ptr<Fiber> create(void (*entry)(void*), void* arg, std::string* err) override {
    GuardedStack stack;
    if (!pool_->get(&stack, err)) return nullptr;
    auto f = std::make_unique<FiberT>(pool_, std::move(stack), entry, arg);
    if (!f->start(err)) return nullptr;
    return f;
  }

 private:
  std::string name_;
  std::shared_ptr<StackPool> pool_;
};

// Registers a PooledStackEngine<FiberT> the way uWSGI users expect: the shortcut flag `--NAME`
// (implies --suspend-engine NAME), `--NAME-stacksize` in pages, and the engine factory.
template <class FiberT>
void register_stack_suspend_engine(Host& host, const std::string& name, const std::string& what,
                                   long long default_pages, long long min_pages) {
  OptionDef on;
  on.name = name;
  on.arg = OptArg::None;
  on.help = "switch async cores with " + what + " (same as --suspend-engine " + name + ")";
  on.implies = {{"suspend-engine", name}};
  host.add_option(std::move(on));

  const std::string size_opt = name + "-stacksize";
  OptionDef ss;
  ss.name = size_opt;
  ss.arg = OptArg::Required;
  ss.help = "stack size of each " + name + " async core, in pages (default " +
            std::to_string(default_pages) + ", committed only as used)";
  ss.on_set = [size_opt, min_pages](std::string_view v, std::string* err) {
    return check_stack_pages(v, size_opt.c_str(), min_pages, err);
  };
  host.add_option(std::move(ss));

  host.add_suspend_engine(name, [name, size_opt, default_pages, min_pages](Host& h) -> std::unique_ptr<SuspendEngine> {
    long long pages = h.config().get_int(size_opt, default_pages);
    if (pages < min_pages) pages = min_pages;
    return std::make_unique<PooledStackEngine<FiberT>>(name, stack_pages_to_bytes(pages));
  });
}

}  // namespace uwsgi
