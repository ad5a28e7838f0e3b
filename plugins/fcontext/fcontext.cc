// fcontext: a suspend engine on Boost.Context's low-level jump_fcontext/make_fcontext.
//
// A switch is a few register pushes and a stack-pointer swap in assembly, with no system call
// (unlike swapcontext, it leaves the signal mask alone), so a resume+suspend round trip costs
// nanoseconds. The detail API is stable across Boost releases that ship fcontext_t.
#include <boost/context/detail/fcontext.hpp>

#include <string>

#include <uwsgi/plugin.h>
#include <uwsgi/stack.h>

namespace {

namespace ctx = boost::context::detail;

// Same default as ugreen: 1024 pages (4 MiB with 4 KiB pages), committed only as used.
constexpr long long kDefaultStackPages = 1024;
constexpr long long kMinStackPages = 4;

class FcontextFiber final : public uwsgi::Fiber {
 public:
  FcontextFiber(std::shared_ptr<uwsgi::StackPool> pool, uwsgi::GuardedStack stack,
                void (*entry)(void*), void* arg)
      : pool_(std::move(pool)), stack_(std::move(stack)), entry_(entry), arg_(arg) {
    self_ = ctx::make_fcontext(stack_.top(), stack_.size(), &FcontextFiber::trampoline);
  }

  bool start(std::string*) { return true; }  // make_fcontext in the constructor cannot fail

  ~FcontextFiber() override {
    // A fiber dropped while suspended is abandoned: nothing on its stack is unwound.
    pool_->put(std::move(stack_));
  }

  void resume() override {
    if (finished_ || running_) return;
    running_ = true;
    switch_notes_.to_fiber(stack_);
    // The fiber learns who resumed it from the transfer; we learn where it stopped.
    ctx::transfer_t t = ctx::jump_fcontext(self_, this);
    switch_notes_.back_in_caller();
    self_ = t.fctx;
    running_ = false;
  }

  void suspend() override {
    if (!running_) return;  // not called from inside this fiber: nothing to return to
    switch_notes_.to_caller();
    ctx::transfer_t t = ctx::jump_fcontext(caller_, nullptr);
    switch_notes_.back_in_fiber();
    caller_ = t.fctx;
  }

  bool finished() const override { return finished_; }

 private:
  static void trampoline(ctx::transfer_t t) noexcept {
    auto* f = static_cast<FcontextFiber*>(t.data);
    f->caller_ = t.fctx;
    f->switch_notes_.fiber_started();
    f->entry_(f->arg_);
    f->finished_ = true;
    // This stack is never switched back to: tell ASan so it drops its fake frames.
    f->switch_notes_.fiber_leaving();
    ctx::jump_fcontext(f->caller_, nullptr);
    __builtin_unreachable();  // a finished fiber is never resumed
  }

  std::shared_ptr<uwsgi::StackPool> pool_;
  uwsgi::GuardedStack stack_;
  void (*entry_)(void*);
  void* arg_;
  ctx::fcontext_t self_ = nullptr;    // the fiber, while it is not running
  ctx::fcontext_t caller_ = nullptr;  // the resumer, while the fiber runs
  bool finished_ = false;
  bool running_ = false;
  uwsgi::FiberSwitchNotes switch_notes_;  // AddressSanitizer bookkeeping (read only in ASan builds)
};

class FcontextPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    uwsgi::register_stack_suspend_engine<FcontextFiber>(host, "fcontext", "Boost.Context", kDefaultStackPages,
                                                    kMinStackPages);
  }
};

}  // namespace

UWSGI_PLUGIN(fcontext, FcontextPlugin)
