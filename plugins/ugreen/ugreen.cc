// ugreen: a suspend engine on ucontext (getcontext/makecontext/swapcontext).
//
// Simple and portable within glibc, but swapcontext saves and restores the signal mask, which is a
// system call per switch: prefer fcontext where raw switch speed matters.
#include <ucontext.h>

#include <cstdint>
#include <string>

#include <uwsgi/plugin.h>
#include <uwsgi/stack.h>

namespace {

// 1024 pages = 4 MiB with 4 KiB pages. Only touched pages are committed, so this is address space
// rather than memory; it leaves room for deep C recursion (CPython calls through C, regex, json).
constexpr long long kDefaultStackPages = 1024;
constexpr long long kMinStackPages = 4;

class UgreenFiber final : public uwsgi::Fiber {
 public:
  UgreenFiber(std::shared_ptr<uwsgi::StackPool> pool, uwsgi::GuardedStack stack,
              void (*entry)(void*), void* arg)
      : pool_(std::move(pool)), stack_(std::move(stack)), entry_(entry), arg_(arg) {}

  ~UgreenFiber() override {
    // A fiber dropped while suspended is abandoned: nothing on its stack is unwound.
    pool_->put(std::move(stack_));
  }

  bool start(std::string* err) {
    if (getcontext(&ctx_) != 0) {
      if (err) *err = "ugreen: getcontext failed";
      return false;
    }
    ctx_.uc_stack.ss_sp = stack_.bottom();
    ctx_.uc_stack.ss_size = stack_.size();
    ctx_.uc_stack.ss_flags = 0;
    ctx_.uc_link = &caller_;  // where control goes when trampoline() returns
    // makecontext passes int arguments only: split the pointer in two halves.
    const uintptr_t self = reinterpret_cast<uintptr_t>(this);
    makecontext(&ctx_, reinterpret_cast<void (*)()>(&UgreenFiber::trampoline), 2,
                static_cast<unsigned>(self >> 32), static_cast<unsigned>(self & 0xffffffffu));
    return true;
  }

  void resume() override {
    if (finished_ || running_) return;
    running_ = true;
    switch_notes_.to_fiber(stack_);
    swapcontext(&caller_, &ctx_);
    switch_notes_.back_in_caller();
    running_ = false;
  }

  void suspend() override {
    if (!running_) return;  // not called from inside this fiber: nothing to return to
    switch_notes_.to_caller();
    swapcontext(&ctx_, &caller_);
    switch_notes_.back_in_fiber();
  }

  bool finished() const override { return finished_; }

 private:
  static void trampoline(unsigned hi, unsigned lo) noexcept {
    auto* f = reinterpret_cast<UgreenFiber*>((static_cast<uintptr_t>(hi) << 32) | lo);
    f->switch_notes_.fiber_started();
    f->entry_(f->arg_);
    f->finished_ = true;
    // This stack is never switched back to: tell ASan so it drops its fake frames.
    f->switch_notes_.fiber_leaving();
    // Returning follows uc_link to caller_, i.e. back into the last resume().
  }

  std::shared_ptr<uwsgi::StackPool> pool_;
  uwsgi::GuardedStack stack_;
  void (*entry_)(void*);
  void* arg_;
  ucontext_t ctx_{};     // the fiber, while it is not running
  ucontext_t caller_{};  // the resumer, while the fiber runs
  bool finished_ = false;
  bool running_ = false;
  uwsgi::FiberSwitchNotes switch_notes_;  // AddressSanitizer bookkeeping (read only in ASan builds)
};

class UgreenPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    uwsgi::register_stack_suspend_engine<UgreenFiber>(host, "ugreen", "ucontext", kDefaultStackPages,
                                                    kMinStackPages);
  }
};

}  // namespace

UWSGI_PLUGIN(ugreen, UgreenPlugin)
