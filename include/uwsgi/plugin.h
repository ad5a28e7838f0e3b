// The whole third-party plugin API: a plugin includes this header and nothing else from the core.
//
// A plugin is a table (PluginInfo) exported under the C symbol `<name>_uwsgi_plugin`. The loader
// checks its ABI number and build fingerprint before touching anything else, so a plugin built
// against another core version or another C++ ABI is refused with a message instead of crashing.
//
// Engines are C++ interfaces: a suspend engine switches between async cores, an I/O engine waits
// for fds and timers, a loop engine runs a whole worker (and brings its own waiting primitives).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Bump on any change to a class layout or virtual table below.
#define UWSGI_PLUGIN_ABI_VERSION 1

#define UWSGI_STR2(x) #x
#define UWSGI_STR(x) UWSGI_STR2(x)
// Plugins and core must agree on compiler family/major and the libstdc++ string ABI, since
// std::string and std::function cross the boundary.
#define UWSGI_PLUGIN_BUILD_ID \
  "gcc" UWSGI_STR(__GNUC__) "-cxx11abi" UWSGI_STR(_GLIBCXX_USE_CXX11_ABI) "-abi" UWSGI_STR(UWSGI_PLUGIN_ABI_VERSION)

namespace uwsgi {

class Host;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------
enum class OptArg { None, Required, Optional };

struct OptionDef {
  std::string name;        // long name, without dashes: "http-socket"
  char short_name = 0;     // 's' for -s, 0 for none
  OptArg arg = OptArg::Required;
  std::string help;
  // Optional: called for each occurrence, in order; returning false stops start-up with *err.
  std::function<bool(std::string_view value, std::string* err)> on_set;
  // Shortcut options ("--ugreen") may imply other options: (name, value) pairs set when seen.
  std::vector<std::pair<std::string, std::string>> implies;
  bool numeric = false;              // the value must be a whole number >= 0, in digits (checked at start-up)
  std::vector<std::string> aliases;  // other long names for the same option
};

// Read-only view of the parsed configuration.
class Config {
 public:
  virtual ~Config() = default;
  virtual bool has(std::string_view name) const = 0;
  // Last value given (uWSGI: later wins for scalars), or def.
  virtual std::string get(std::string_view name, std::string_view def = {}) const = 0;
  virtual std::vector<std::string> all(std::string_view name) const = 0;
  virtual long long get_int(std::string_view name, long long def) const = 0;
  // A flag is true when present and its value is not false/0/no/off.
  virtual bool get_bool(std::string_view name) const = 0;
  // Every (name, value) in the order given: for uwsgi.opt.
  virtual std::vector<std::pair<std::string, std::string>> items() const = 0;
};

// ---------------------------------------------------------------------------------------------
// Requests: what an application plugin sees of one request.
// ---------------------------------------------------------------------------------------------
using HeaderList = std::vector<std::pair<std::string, std::string>>;

class Request {
 public:
  virtual ~Request() = default;
  // CGI/WSGI variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_*, CONTENT_TYPE, ...).
  // The views stay valid until the request ends.
  virtual size_t var_count() const = 0;
  virtual std::pair<std::string_view, std::string_view> var(size_t i) const = 0;
  virtual std::string_view find_var(std::string_view name) const = 0;  // empty if absent
  virtual const char* scheme() const = 0;  // "http"

  // Body. read() returns bytes read, 0 at end of body, -1 on error (client gone, timeout,
  // malformed chunk): error() tells why. May suspend the current async core.
  virtual long long content_length() const = 0;  // -1 when chunked
  virtual ssize_t read(char* buf, size_t n) = 0;

  // Response. write() after start_response(); the core frames it (Content-Length or chunked).
  virtual bool start_response(std::string_view status, const HeaderList& headers) = 0;
  virtual bool headers_sent() const = 0;
  virtual bool write(const void* data, size_t n) = 0;
  virtual bool sendfile(int fd, off_t offset, size_t len) = 0;
  virtual const char* error() const = 0;

  virtual int fd() const = 0;
  virtual int core_id() const = 0;
  virtual int modifier1() const = 0;
  // Flag the request as failed for the log and stats (e.g. the app raised).
  virtual void mark_exception() = 0;

  // WebSockets (RFC 6455). Added after ABI 1 shipped: appended, with defaults, so plugins built
  // before still work. Waits go through the loop engine: they suspend only the current core.
  enum class WsRecv { kMessage, kNone, kClosed, kError };
  // Answers 101 Switching Protocols (Sec-WebSocket-Accept from key; origin and protocol echoed
  // when not empty). From then on the connection carries frames and closes when the request
  // ends. false (error() says why) if the response already started or the write failed.
  virtual bool websocket_handshake(std::string_view key, std::string_view origin, std::string_view proto) {
    (void)key, (void)origin, (void)proto;
    return false;
  }
  // The next whole message into *msg (*binary for a binary one). Pings are answered, and a ping
  // goes out every --websocket-ping-freq seconds. nonblocking: kNone when no whole message is
  // here yet. kClosed: the peer closed (our close frame answered it); kError: error() says why
  // (a protocol error was answered with its close code first).
  virtual WsRecv websocket_recv(std::string* msg, bool* binary, bool nonblocking) {
    (void)msg, (void)binary, (void)nonblocking;
    return WsRecv::kError;
  }
  // One whole message. Safe to call from another core or thread than the request's (frames are
  // never interleaved). false once the connection failed or closed.
  virtual bool websocket_send(const void* data, size_t n, bool binary) {
    (void)data, (void)n, (void)binary;
    return false;
  }
  // Starts the close handshake: one close frame with code and reason (later calls do nothing).
  virtual bool websocket_close(unsigned code, std::string_view reason) {
    (void)code, (void)reason;
    return false;
  }

  // The next start_response() is the server's own answer (no app loaded, the app raised, no
  // such mountpoint), not the app's: uWSGI's "managed" responses, which --error-page-403/404/500
  // replace. Appended with a default after ABI 1, as the websocket calls were.
  virtual void managed_response() {}
};

// An application plugin (python) handles requests whose modifier1 it registered for.
class AppHandler {
 public:
  virtual ~AppHandler() = default;
  virtual void handle(Request& req) = 0;
};

// ---------------------------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------------------------
enum IoEvents : int { kIoRead = 1, kIoWrite = 2, kIoTimeout = 4, kIoError = 8 };

// One async core's execution context: a coroutine with its own stack.
class Fiber {
 public:
  virtual ~Fiber() = default;
  // From the scheduler: run the fiber until it calls suspend() or its entry returns.
  virtual void resume() = 0;
  // From inside the fiber: give control back to whoever called resume().
  virtual void suspend() = 0;
  virtual bool finished() const = 0;
};

class SuspendEngine {
 public:
  virtual ~SuspendEngine() = default;
  virtual const char* name() const = 0;
  // True when switching already saves the language's per-coroutine state (greenlet does), so a
  // language plugin must not swap its own on top.
  virtual bool saves_interpreter_state() const { return false; }
  // Called in the worker after fork, before any fiber is made.
  virtual bool init(std::string* err) { (void)err; return true; }
  virtual std::unique_ptr<Fiber> create(void (*entry)(void*), void* arg, std::string* err) = 0;
};

struct IoReady {
  void* data;   // what was passed to watch()/add_timer()
  int events;   // kIoRead | kIoWrite | kIoTimeout | kIoError
};

// Waits for fds and timers. Level-triggered; one interest set per fd.
class IoEngine {
 public:
  virtual ~IoEngine() = default;
  virtual const char* name() const = 0;
  virtual bool init(std::string* err) = 0;  // in the worker, after fork
  // Set the interest for fd (replacing any earlier one); events 0 removes it.
  virtual bool watch(int fd, int events, void* data) = 0;
  virtual void unwatch(int fd) = 0;
  // One-shot timer; returns an id > 0. Fires as {data, kIoTimeout}.
  virtual uint64_t add_timer(uint64_t ms, void* data) = 0;
  virtual void cancel_timer(uint64_t id) = 0;
  // Wait up to timeout_ms (-1 forever) for fds and timers; fills out, returns count (0 = none).
  virtual int wait(int timeout_ms, IoReady* out, int max) = 0;
  // Makes a pending or next wait() return early; async-signal-safe.
  virtual void wakeup() = 0;
};

// What the worker gives a loop engine to run.
class Worker {
 public:
  virtual ~Worker() = default;
  virtual int id() const = 0;                   // 1-based
  virtual const std::vector<int>& listen_fds() const = 0;  // non-blocking
  virtual bool stopping() const = 0;             // a stop or reload was asked for
  // Accept one connection from a listening fd (non-blocking); -1 when none is pending.
  virtual int accept_one(int listen_fd) = 0;
  // Serve requests on an accepted connection. Returns false once it is closed (fd closed), or
  // true when it went idle between requests with nothing buffered: the caller then parks fd
  // (watch for read) and calls serve_connection again when it is readable, or close()s it at
  // shutdown. Reads and writes go through the active loop engine's wait_fd(), so this may
  // suspend the current core.
  virtual bool serve_connection(int fd, int listen_fd, int core_id) = 0;
  // Let the loop engine know about signals arriving from the master (the fd to watch).
  virtual int signal_fd() const = 0;
  virtual void handle_signal_fd() = 0;
  // Called by a loop engine once per loop iteration / request boundary (harakiri, stats).
  virtual void tick() = 0;
  // Once stopping() is true, a loop engine stops accepting but still serves its parked
  // connections for kStopGraceMs (a busy client sends its next request as soon as a response is
  // complete: closing under it loses that request), then closes the ones still idle with
  // close_idle(): FIN first, then what they send meanwhile is read and dropped until they close
  // too or kStopLingerMs pass, so no request meets a reset. Blocks. Added after ABI 1 shipped,
  // as the last virtual of Worker (which the core implements), so older plugins keep working.
  static constexpr int kStopGraceMs = 500, kStopLingerMs = 1000;
  virtual void close_idle(const std::vector<int>& fds) = 0;
};

// Per-core waiting state, for language plugins' async APIs (uwsgi.wait_fd_read, async_sleep,
// suspend, ready_fd). Registrations are deferred until suspend(), as in uWSGI.
class CoreContext {
 public:
  virtual ~CoreContext() = default;
  virtual int id() const = 0;
  virtual bool register_fd(int fd, int events, int timeout_s, std::string* err) = 0;
  virtual bool register_timer(double seconds, std::string* err) = 0;
  // Suspend until a registered event fires (or just yield once if none was registered).
  virtual bool suspend(std::string* err) = 0;
  virtual int ready_fd() const = 0;      // -1 if woken by a timer or nothing
  virtual bool timed_out() const = 0;    // the last suspend ended by a timeout
};

// A loop engine runs a worker's serving loop and supplies the waiting primitives that request
// I/O uses. The core has "sync" and "async" (suspend engine + I/O engine); gevent brings its own.
class LoopEngine {
 public:
  virtual ~LoopEngine() = default;
  virtual const char* name() const = 0;
  virtual bool init(Worker& w, std::string* err) = 0;
  virtual int run(Worker& w) = 0;  // returns the worker's exit code
  // Wait until fd is ready for events or timeout_ms passes: 1 ready, 0 timeout, -1 error.
  virtual int wait_fd(int fd, int events, int timeout_ms) = 0;
  // The current core's context for the uWSGI async API; nullptr when that API is not offered
  // here (sync mode, or a loop engine that forbids it: error() says why).
  virtual CoreContext* current_core() = 0;
  virtual const char* async_api_error() const { return "no async mode is active (use --async N with a suspend engine)"; }
  virtual int async_cores() const { return 1; }
};

// Hooks a language plugin registers to switch its own per-core state around each resume.
class SwitchHooks {
 public:
  virtual ~SwitchHooks() = default;
  virtual void enter_core(int core_id) = 0;  // just before the scheduler resumes core_id
  virtual void leave_core(int core_id) = 0;  // just after core_id gave control back
  // Around every wait that may block the calling thread (epoll_wait, poll in sync mode), so a
  // language plugin can release its global lock (the GIL) while it waits. A loop engine that
  // serves requests on more OS threads than the worker's main one (sync with --threads) calls
  // after_block() first on each such thread, before any request (a plugin makes its per-thread
  // state there, e.g. a Python thread state), and before_block() last, as the thread ends.
  virtual void before_block() {}
  virtual void after_block() {}
};

// ---------------------------------------------------------------------------------------------
// uWSGI signals (numbers 0-255): registered in a worker (or in the master while it loads apps,
// inherited by every worker), raised anywhere, routed by the master to the target worker(s),
// and run there by the language plugin that registered them. Added after ABI 1 shipped: only
// new classes and one new virtual at the end of Host, so older plugins keep working.
// ---------------------------------------------------------------------------------------------
class SignalHandler {
 public:
  virtual ~SignalHandler() = default;
  // In the worker that received num, from the loop's main context (between requests in sync
  // mode, between core resumes in async mode, from the hub under gevent). `handler` is what the
  // plugin passed to Signals::register_signal (e.g. a Python callable it keeps a reference to).
  virtual void run_signal(int num, void* handler) = 0;
};

class Signals {
 public:
  virtual ~Signals() = default;
  // target: "" or "worker" (one worker), "workers" (all), "active-workers", "workerN".
  virtual bool register_signal(int num, std::string_view target, SignalHandler* h, void* handler,
                               std::string* err) = 0;
  virtual bool registered(int num) const = 0;
  // Raise num: from a worker it goes to the master, which routes it by the registered target.
  virtual bool raise(int num, std::string* err) = 0;
  // Raise num every `seconds` in the master; iterations 0 = forever (needs --master).
  virtual bool add_timer(int num, double seconds, int iterations, std::string* err) = 0;
  // Raise num when path (a file or a directory) changes (inotify in the master; needs --master).
  virtual bool add_file_monitor(int num, const std::string& path, std::string* err) = 0;
  // Block the caller (the current async core only, under async) until a signal arrives (num < 0:
  // any); returns its number, or -1 with *err. A signal taken by wait() does not run its handler.
  virtual int wait(int num, std::string* err) = 0;
  virtual int received() const = 0;  // the last signal this worker received, -1 if none
  // Raise num at each minute whose local time matches (uWSGI's add_cron; needs --master).
  // Each field: -1 any, -N every N (value % N == 0), else the value: minute 0-59, hour 0-23,
  // day 1-31, month 1-12, weekday 0-6 (0 = Sunday). Added after ABI 1 shipped, as the last virtual
  // of Signals (which the core implements): older plugins never call it.
  virtual bool add_cron(int num, int minute, int hour, int day, int month, int weekday, std::string* err) {
    (void)num, (void)minute, (void)hour, (void)day, (void)month, (void)weekday;
    *err = "this host has no cron";
    return false;
  }
};

// ---------------------------------------------------------------------------------------------
// Shared state across the master and every worker (uWSGI's --locks and --cache2): mapped by the
// core before apps load and before any fork, so every process sees the same memory. Added after
// ABI 1 shipped: new classes and new virtuals at the end of Host only.
// ---------------------------------------------------------------------------------------------
class Locks {
 public:
  virtual ~Locks() = default;
  // Lock numbers are 0..count()-1; lock 0 always exists (uWSGI's user lock, --locks N adds N).
  virtual int count() const = 0;
  // Blocks the calling thread (and so, under --async or --gevent, the whole worker, as in uWSGI)
  // until lock n is held. A holder that dies releases its lock. False (*err) for a bad n.
  virtual bool lock(int n, std::string* err) = 0;
  virtual bool unlock(int n, std::string* err) = 0;
  virtual bool is_locked(int n) const = 0;
};

// One cache (--cache2 name=NAME,items=N,blocksize=BYTES,...). Keys are at most keysize bytes,
// values at most blocksize bytes; expires is in seconds from now (0: never). Every call is atomic
// across processes.
class Cache {
 public:
  virtual ~Cache() = default;
  virtual const std::string& name() const = 0;
  virtual bool get(std::string_view key, std::string* value) = 0;  // false: absent or expired
  virtual bool exists(std::string_view key) = 0;
  // overwrite=false is uWSGI's cache_set (fails when the key exists), true its cache_update.
  // False (*err) when the key exists (set), the value is too big, or the cache is full and
  // purge_lru is off.
  virtual bool set(std::string_view key, std::string_view value, uint64_t expires_s, bool overwrite,
                   std::string* err) = 0;
  virtual bool del(std::string_view key) = 0;
  virtual void clear() = 0;
  // cache_inc/dec/mul/div: the value is a 64-bit integer (8 bytes, host order; absent = 0).
  // op is '+', '-', '*' or '/'. False (*err) for a value that is not 8 bytes or a division by 0.
  virtual bool update_number(std::string_view key, char op, int64_t arg, uint64_t expires_s, int64_t* result,
                             std::string* err) = 0;
  virtual std::vector<std::string> keys() = 0;
  virtual uint64_t max_items() const = 0;
  virtual uint64_t block_size() const = 0;  // bytes
};

class Caches {
 public:
  virtual ~Caches() = default;
  // "" is the first cache configured; nullptr when there is no such cache.
  virtual Cache* find(std::string_view name) = 0;
};

// Mules (uWSGI's --mule, --mules N, --farm NAME:1,2): extra processes the master forks after the
// apps are loaded and respawns when they die. Workers send them messages (datagrams of at most
// --mule-msg-size bytes); a mule's code comes from the language plugin's runner.
class Mules {
 public:
  virtual ~Mules() = default;
  virtual int count() const = 0;
  virtual int current() const = 0;  // this process's mule id (1-based), 0 when not a mule
  // mule_id 0: the shared queue, taken by whichever mule reads first. Never blocks: false (*err)
  // when the mule's queue is full, the message too big, or there is no such mule.
  virtual bool send(int mule_id, std::string_view msg, std::string* err) = 0;
  virtual bool send_farm(std::string_view farm, std::string_view msg, std::string* err) = 0;
  // In a mule: wait up to timeout_ms (-1 forever) for a message from the queues in `from` (a
  // mask of kFromMule, kFromShared, kFromFarms). 1 got one, 0 timeout, -1 error (*err).
  // kSignals: also run the uwsgi signals sent to this mule while waiting (the handlers run on
  // the calling thread, through SignalHandler::run_signal, which takes the plugin's own lock).
  enum From : int { kFromMule = 1, kFromShared = 2, kFromFarms = 4, kSignals = 8 };
  virtual int get_msg(std::string* out, int timeout_ms, int from, std::string* err) = 0;
  virtual bool in_farm(std::string_view farm) const = 0;
  // The language plugin's entry for a mule process: runner(mule_id, arg) returns its exit code.
  // arg is the --mule value ("" for a plain mule, or a script).
  virtual void set_runner(std::function<int(int, const std::string&)> runner) = 0;
};


// The spooler (uWSGI's --spooler DIR): tasks are files in a directory, written atomically by any
// process, run one at a time by spooler processes the master forks after the apps are loaded.
// A task is a list of key/value strings plus an optional body (uWSGI's spool file format).
struct SpoolTask {
  std::vector<std::pair<std::string, std::string>> vars;
  std::string body;
  std::string path;  // the spool file
};

class Spooler {
 public:
  virtual ~Spooler() = default;
  virtual int count() const = 0;  // spool directories configured
  // Write a task. The keys "spooler" (a configured dir; default the first), "priority" (a
  // subdirectory) and "at" (unix time, not before) steer it and stay in the task. *path: the file.
  virtual bool spool(const SpoolTask& task, std::string* path, std::string* err) = 0;
  // The language plugin's side in a spooler process: init() once after fork, then run(task) for
  // each task due: -2 (SPOOL_OK) deletes the file, -1 (SPOOL_RETRY) and 0 (SPOOL_IGNORE) keep it.
  virtual void set_runner(std::function<void()> init, std::function<int(const SpoolTask&)> run) = 0;
  virtual bool in_spooler() const = 0;  // this process is a spooler
};

// ---------------------------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------------------------
template <class T>
using Factory = std::function<std::unique_ptr<T>(Host&)>;

class Plugin {
 public:
  virtual ~Plugin() = default;
  // Before options are parsed: register options and engines.
  virtual void on_register(Host& host) { (void)host; }
  // After options are parsed, in the master (or the only process): validate, set up.
  virtual bool on_config(Host& host, std::string* err) { (void)host; (void)err; return true; }
  // Load apps: in the master before forking, or in each worker with --lazy-apps.
  virtual bool on_load_apps(Host& host, std::string* err) { (void)host; (void)err; return true; }
  // In each worker right after fork.
  virtual void on_post_fork(Host& host, int worker_id) { (void)host; (void)worker_id; }
  // In a worker that is about to exit.
  virtual void on_worker_exit(Host& host) { (void)host; }
};

class Host {
 public:
  virtual ~Host() = default;
  virtual const Config& config() const = 0;
  virtual void log(const char* fmt, ...) __attribute__((format(printf, 2, 3))) = 0;
  virtual void add_option(OptionDef def) = 0;

  virtual void add_app_handler(int modifier1, AppHandler* handler) = 0;
  virtual void add_suspend_engine(std::string name, Factory<SuspendEngine> f) = 0;
  virtual void add_io_engine(std::string name, Factory<IoEngine> f) = 0;
  virtual void add_loop_engine(std::string name, Factory<LoopEngine> f) = 0;
  virtual void add_switch_hooks(SwitchHooks* hooks) = 0;

  // Only valid inside a worker.
  virtual int worker_id() const = 0;        // 0 in the master
  virtual int num_workers() const = 0;
  virtual LoopEngine* loop_engine() = 0;    // nullptr outside a worker
  virtual SuspendEngine* suspend_engine() = 0;  // nullptr in sync mode / non-async loop engines
  virtual const char* version() const = 0;
  // Ask the worker to stop (graceful) or the master to reload.
  virtual void request_stop() = 0;
  // The uWSGI signal framework (added at the end of the table: see Signals above). Not pure, so
  // hosts written before it (test doubles) still compile: the default refuses everything.
  virtual Signals& signals();
  // Shared locks and caches (see Locks/Caches above); the defaults offer none.
  virtual Locks& locks();
  virtual Caches& caches();
  virtual Mules& mules();
  virtual Spooler& spooler();
};

// What a Host without a signal framework offers: nothing, with a reason.
class NoSignals final : public Signals {
 public:
  bool register_signal(int, std::string_view, SignalHandler*, void*, std::string* err) override { return no(err); }
  bool registered(int) const override { return false; }
  bool raise(int, std::string* err) override { return no(err); }
  bool add_timer(int, double, int, std::string* err) override { return no(err); }
  bool add_file_monitor(int, const std::string&, std::string* err) override { return no(err); }
  int wait(int, std::string* err) override { return no(err) ? 0 : -1; }
  int received() const override { return -1; }

 private:
  static bool no(std::string* err) {
    *err = "this host has no uwsgi signal framework";
    return false;
  }
};

inline Signals& Host::signals() {
  static NoSignals none;
  return none;
}

class NoLocks final : public Locks {
 public:
  int count() const override { return 0; }
  bool lock(int, std::string* err) override { return no(err); }
  bool unlock(int, std::string* err) override { return no(err); }
  bool is_locked(int) const override { return false; }

 private:
  static bool no(std::string* err) {
    *err = "this host has no shared locks";
    return false;
  }
};

class NoCaches final : public Caches {
 public:
  Cache* find(std::string_view) override { return nullptr; }
};

class NoMules final : public Mules {
 public:
  int count() const override { return 0; }
  int current() const override { return 0; }
  bool send(int, std::string_view, std::string* err) override { return no(err); }
  bool send_farm(std::string_view, std::string_view, std::string* err) override { return no(err); }
  int get_msg(std::string*, int, int, std::string* err) override { return no(err) ? 0 : -1; }
  bool in_farm(std::string_view) const override { return false; }
  void set_runner(std::function<int(int, const std::string&)>) override {}

 private:
  static bool no(std::string* err) {
    *err = "this host has no mules";
    return false;
  }
};

inline Mules& Host::mules() {
  static NoMules none;
  return none;
}

class NoSpooler final : public Spooler {
 public:
  int count() const override { return 0; }
  bool spool(const SpoolTask&, std::string*, std::string* err) override {
    *err = "no spooler is configured (--spooler DIR)";
    return false;
  }
  void set_runner(std::function<void()>, std::function<int(const SpoolTask&)>) override {}
  bool in_spooler() const override { return false; }
};

inline Spooler& Host::spooler() {
  static NoSpooler none;
  return none;
}

inline Locks& Host::locks() {
  static NoLocks none;
  return none;
}

inline Caches& Host::caches() {
  static NoCaches none;
  return none;
}

struct PluginInfo {
  uint32_t abi_version;
  const char* build_id;
  const char* name;
  Plugin* (*create)();
};

}  // namespace uwsgi

// Export a plugin: UWSGI_PLUGIN(ugreen, UgreenPlugin) defines the symbol `ugreen_uwsgi_plugin`.
#define UWSGI_PLUGIN(NAME, CLASS)                                                       \
  static uwsgi::Plugin* NAME##_create_plugin() { return new CLASS(); }                  \
  extern "C" __attribute__((visibility("default"))) const uwsgi::PluginInfo             \
      NAME##_uwsgi_plugin = {UWSGI_PLUGIN_ABI_VERSION, UWSGI_PLUGIN_BUILD_ID, #NAME,     \
                             NAME##_create_plugin};
