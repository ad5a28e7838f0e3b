// Python thread states across async cores and --threads, and the GIL around blocking waits.
//
// Each async core runs on its own C stack in the worker's one OS thread, so each gets its own
// PyThreadState (its own frame chain, data stack, recursion depth, exception state, contextvars).
// enter_core/leave_core swap it in and out; the GIL stays held. CPython's PyGILState_* API maps
// an OS thread to one thread state through a pthread TSS key, so the key is re-pointed too:
// otherwise PyGILState_Ensure() inside a core (sqlite3/ctypes callbacks) would try to take the GIL
// this thread already holds. The key is found once at run time and verified before use.
//
// A suspend engine that saves the interpreter state itself (greenlet) runs every core on the
// worker's one thread state; greenlet keeps frames, exceptions and contextvars apart but not the
// thread state's dict, where threading.local keeps its per-thread values. So each core gets its
// own dict instead (swapped in and out of that one state): thread-locals are per core as under
// ugreen/fcontext, for the price of a dict, made only when a core first uses one.
#include <pthread.h>
#include <limits.h>

#include <utility>

#include "py_plugin.h"

namespace uwsgi::py {
namespace {

class Hooks : public SwitchHooks {
 public:
  void enter_core(int core_id) override {
    if (!g.initialized || core_id < 0) return;
    if (!swap_enabled()) {
      swap_dict(core_id);
      return;
    }
    if ((size_t)core_id >= states_.size()) states_.resize(core_id + 1, nullptr);
    PyThreadState*& ts = states_[core_id];
    if (!ts) {
      ts = PyThreadState_New(g.main_ts->interp);
      if (!ts) return;  // out of memory: run on the main state rather than crash
    }
    set_tss(ts);
    PyThreadState_Swap(ts);
  }

  void leave_core(int core_id) override {
    if (!g.initialized) return;
    if (!swap_enabled()) {
      swap_dict(core_id);
      return;
    }
    set_tss(g.main_ts);
    PyThreadState_Swap(g.main_ts);
  }

  // Let other threads run while this one waits in epoll/poll. Only a thread that holds the GIL
  // lets go of it: in 3.11 _PyThreadState_UncheckedGet() is whichever thread holds it, so its
  // owner is checked (an async core's state belongs to the worker's main thread too).
  void before_block() override {
    if (!g.initialized || saved_) return;
    PyThreadState* cur = _PyThreadState_UncheckedGet();
    if (!cur || cur->thread_id != PyThread_get_thread_ident()) return;
    saved_ = PyEval_SaveThread();
  }

  void after_block() override {
    if (saved_) {
      PyThreadState* ts = saved_;
      saved_ = nullptr;
      PyEval_RestoreThread(ts);
    } else if (g.initialized && !PyGILState_GetThisThreadState()) {
      // A loop thread's first call (--threads): give it a thread state and the GIL, for good;
      // the thread's last before_block() lets go of the GIL (plugin.h, SwitchHooks).
      PyGILState_Ensure();
    }
  }

  void after_fork() {
    // PyOS_AfterFork_Child() deleted every other thread state: start afresh.
    states_.clear();
    dicts_.clear();  // the parent's cores' dicts: dropped with the rest of its state
    swap_checked_ = false;
    key_checked_ = false;
    saved_ = nullptr;
  }

 private:
  bool swap_enabled() {
    if (!swap_checked_) {
      SuspendEngine* se = g.host->suspend_engine();
      swap_ = !(se && se->saves_interpreter_state());
      swap_checked_ = true;
    }
    return swap_;
  }

  // Exchanges the thread state's dict with core_id's slot: on enter the core's dict goes in and
  // the main one into the slot, on leave the reverse. CPython makes tstate->dict on first use
  // (PyThreadState_GetDict), so a core that never uses thread-locals costs nothing.
  void swap_dict(int core_id) {
    PyThreadState* ts = _PyThreadState_UncheckedGet();
    if (!ts || core_id < 0) return;
    if ((size_t)core_id >= dicts_.size()) dicts_.resize(core_id + 1, nullptr);
    std::swap(ts->dict, dicts_[core_id]);
  }

  // The pthread key behind PyGILState_GetThisThreadState(): the key whose value is the main
  // thread state and which, when changed, changes what CPython reports.
  void find_key() {
    key_checked_ = true;
    PyThreadState* mine = PyGILState_GetThisThreadState();
    if (!mine) return;
    for (pthread_key_t k = 0; k < PTHREAD_KEYS_MAX; k++) {
      if (pthread_getspecific(k) != mine) continue;
      int probe;
      if (pthread_setspecific(k, &probe) != 0) continue;
      bool ours = PyGILState_GetThisThreadState() == reinterpret_cast<PyThreadState*>(&probe);
      pthread_setspecific(k, mine);
      if (ours) {
        key_ = k;
        have_key_ = true;
        return;
      }
    }
    log_line("python: cannot locate the GIL-state key; PyGILState_Ensure() inside async cores may deadlock");
  }

  void set_tss(PyThreadState* ts) {
    if (!key_checked_) find_key();
    if (have_key_) pthread_setspecific(key_, ts);
  }

  std::vector<PyThreadState*> states_;
  std::vector<PyObject*> dicts_;  // per core: its dict while it is out, main's while it runs
  static thread_local PyThreadState* saved_;  // per OS thread: each loop thread blocks on its own
  bool swap_ = true, swap_checked_ = false;
  bool key_checked_ = false, have_key_ = false;
  pthread_key_t key_ = 0;
};

thread_local PyThreadState* Hooks::saved_ = nullptr;
Hooks hooks;

}  // namespace

SwitchHooks* switch_hooks() { return &hooks; }
void threads_after_fork() { hooks.after_fork(); }

}  // namespace uwsgi::py
