#include "process/mules.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"
#include "log/log_master.h"
#include "process/scoreboard.h"  // monotonic_ms()
#include "process/signal_framework.h"
#include "process/supervised_process.h"

namespace uwsgi {
namespace {

struct Queue {
  int reader = -1, writer = -1;
};

bool make_queue(Queue* q, size_t msg_size, std::string* err) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
    *err = std::string("mules: socketpair: ") + strerror(errno);
    return false;
  }
  // Room for several messages of the largest size in each queue.
  int buf = (int)(msg_size * 8 > 262144 ? msg_size * 8 : 262144);
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  q->reader = sv[0];
  q->writer = sv[1];
  return true;
}

struct MuleSlot {
  std::string arg;  // --mule value: "" or a script
  Queue q;
  SupervisedProcess proc;  // its process: pid, spawn time, respawns, back-off
  // uwsgi signals: the master sends numbers (one byte) for targets "muleN"/"mules" on writer, the
  // mule sends its requests (uwsgi.signal(), timers: the worker channel's format) on reader.
  Queue sig;
};

// What a mule counts for --stats, in memory shared with the master (mapped before any fork).
struct MuleCounters {
  std::atomic<uint64_t> signals{0};
};

struct Farm {
  std::string name;
  std::vector<int> ids;
  Queue q;
};

class MuleTable final : public Mules {
 public:
  std::vector<MuleSlot> slots;  // index = id - 1
  std::vector<Farm> farms;
  MuleCounters* counters = nullptr;  // one per mule
  Queue shared;
  Queue shared_sig;  // uwsgi signals for any one mule (target "mule")
  size_t msg_size = 65536;
  int me = 0;
  std::function<int(int, const std::string&)> runner;

  int count() const override { return (int)slots.size(); }
  int current() const override { return me; }

  bool send_to(int fd, std::string_view msg, const std::string& what, std::string* err) {
    if (msg.size() > msg_size) {
      *err = "message of " + std::to_string(msg.size()) + " bytes is larger than --mule-msg-size (" +
             std::to_string(msg_size) + ")";
      return false;
    }
    for (;;) {
      ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return true;
      if (errno == EINTR) continue;
      *err = errno == EAGAIN ? what + "'s queue is full" : what + ": " + strerror(errno);
      return false;
    }
  }

  bool send(int id, std::string_view msg, std::string* err) override {
    if (slots.empty()) {
      *err = "no mules are configured (--mules N)";
      return false;
    }
    if (id == 0) return send_to(shared.writer, msg, "the mules' shared queue", err);
    if (id < 0 || id > (int)slots.size()) {
      *err = "mule " + std::to_string(id) + " does not exist (1.." + std::to_string(slots.size()) + ")";
      return false;
    }
    return send_to(slots[id - 1].q.writer, msg, "mule " + std::to_string(id), err);
  }

  bool send_farm(std::string_view name, std::string_view msg, std::string* err) override {
    for (auto& f : farms)
      if (f.name == name) return send_to(f.q.writer, msg, "farm " + f.name, err);
    *err = "farm " + std::string(name) + " does not exist (--farm NAME:ID,...)";
    return false;
  }

  int get_msg(std::string* out, int timeout_ms, int from, std::string* err) override {
    if (me == 0) {
      *err = "mule_get_msg() is only for mules (uwsgi.mule_id() is 0 here)";
      return -1;
    }
    std::vector<pollfd> fds;
    // Signals first: a mule busy with messages still runs its handlers (as uWSGI's mules do).
    if (from & kSignals) {
      fds.push_back({slots[me - 1].sig.reader, POLLIN, 0});
      fds.push_back({shared_sig.reader, POLLIN, 0});
    }
    size_t nsig = fds.size();
    if (from & kFromMule) fds.push_back({slots[me - 1].q.reader, POLLIN, 0});
    if (from & kFromShared) fds.push_back({shared.reader, POLLIN, 0});
    if (from & kFromFarms)
      for (auto& f : farms)
        if (in_farm(f.name)) fds.push_back({f.q.reader, POLLIN, 0});
    uint64_t deadline = timeout_ms < 0 ? 0 : monotonic_ms() + (uint64_t)timeout_ms;
    out->resize(msg_size);
    for (;;) {
      int wait = -1;
      if (timeout_ms >= 0) {
        uint64_t now = monotonic_ms();
        wait = now >= deadline ? 0 : (int)(deadline - now);
      }
      int r = poll(fds.data(), fds.size(), wait);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        *err = std::string("mule_get_msg: poll: ") + strerror(errno);
        return -1;
      }
      if (r == 0) return 0;
      for (size_t k = 0; k < nsig; k++)
        if (fds[k].revents & POLLIN) run_signals(fds[k].fd);
      for (size_t k = nsig; k < fds.size(); k++) {
        pollfd& p = fds[k];
        if (!(p.revents & POLLIN)) continue;
        ssize_t n = recv(p.fd, out->data(), out->size(), MSG_DONTWAIT);
        if (n >= 0) {
          out->resize((size_t)n);
          return 1;
        }
        // EAGAIN: another mule of the shared queue or the farm took it first.
      }
    }
  }

  // Read the signal numbers waiting on fd and run their handlers here (the language plugin takes
  // its lock in run_signal: this thread holds none while it waits).
  void run_signals(int fd) {
    unsigned char num;
    while (recv(fd, &num, 1, MSG_DONTWAIT) == 1) {
      if (counters) counters[me - 1].signals.fetch_add(1);
      SignalFramework::get().deliver_locally(num);
    }
  }

  bool in_farm(std::string_view name) const override {
    for (auto& f : farms)
      if (f.name == name)
        for (int id : f.ids)
          if (id == me) return true;
    return false;
  }

  void set_runner(std::function<int(int, const std::string&)> r) override { runner = std::move(r); }
};

MuleTable g_mules;

void spawn(int id) {
  MuleSlot& m = g_mules.slots[id - 1];
  SupervisedProcess& p = m.proc;
  if (p.name.empty()) {
    p.kind = ProcessKind::kMule;
    p.id = id;
    p.name = "mule " + std::to_string(id);
    p.setup.title = "uWSGI mule " + std::to_string(id);
    p.setup.runs_app_code = true;
    p.start = [id] {
      g_mules.me = id;
      SignalFramework::get().set_upstream(g_mules.slots[id - 1].sig.reader);  // uwsgi.signal() goes to the master
      if (!g_mules.runner) {
        log_line("mule %d: no language plugin runs mules (load the python plugin)", id);
        return 1;
      }
      return g_mules.runner(id, g_mules.slots[id - 1].arg);
    };
  }
  if (p.spawn(monotonic_ms())) log_line("spawned uWSGI mule %d (pid: %d)", id, (int)p.pid);
}

// What mules asked the master (uwsgi.signal(), timers, ...) on their signal channels.
void read_mule_requests() {
  for (size_t i = 0; i < g_mules.slots.size(); i++)
    SignalFramework::get().read_messages(g_mules.slots[i].sig.writer, "mule " + std::to_string(i + 1));
}

}  // namespace

void register_mule_options(HostImpl& host) {
  host.add_option(make_option("mule", 0, OptArg::Optional,
                              "add a mule: a process the master runs beside the workers (a script to run, or none: "
                              "it serves uwsgi.mule_msg() messages)"));
  host.add_option(make_option("mules", 0, OptArg::Required, "add N plain mules", {}, true));
  host.add_option(make_option("farm", 0, OptArg::Required, "a farm of mules: NAME:ID,ID,... (messages to the farm go to one of them)"));
  host.add_option(make_option("mule-msg-size", 0, OptArg::Required, "largest mule message, bytes (default 65536)", {}, true));
}

bool configure_mules(const Config& cfg, bool check_only, std::string* err) {
  MuleTable& t = g_mules;
  long long n, size;
  if (!get_bounded(cfg, "mules", 0, 0, 1024, &n, err) || !get_bounded(cfg, "mule-msg-size", 65536, 1, 16 << 20, &size, err))
    return false;
  std::vector<std::string> args;
  for (auto& v : cfg.all("mule")) args.push_back(v == "1" || v == "true" ? "" : v);
  for (long long i = 0; i < n; i++) args.push_back("");
  std::vector<Farm> farms;
  for (auto& v : cfg.all("farm")) {
    size_t colon = v.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v.size()) {
      *err = "--farm wants NAME:ID,ID,... (mule ids), not \"" + v + "\"";
      return false;
    }
    Farm f;
    f.name = v.substr(0, colon);
    std::string ids = v.substr(colon + 1);
    size_t i = 0;
    while (i <= ids.size()) {
      size_t comma = ids.find(',', i);
      if (comma == std::string::npos) comma = ids.size();
      std::string w = ids.substr(i, comma - i);
      long long id;
      if (!parse_number_value(w, &id) || id < 1 || id > (long long)args.size()) {
        *err = "--farm " + v + ": \"" + w + "\" is not a mule id (1.." + std::to_string(args.size()) + ")";
        return false;
      }
      f.ids.push_back((int)id);
      i = comma + 1;
    }
    farms.push_back(std::move(f));
  }
  if (!args.empty() && !cfg.get_bool("master")) {
    *err = "mules need --master (the master spawns and watches them)";
    return false;
  }
  if (check_only || args.empty()) return true;
  t.msg_size = (size_t)size;
  if (!make_queue(&t.shared, t.msg_size, err) || !make_queue(&t.shared_sig, 1, err)) return false;
  void* c = mmap(nullptr, sizeof(MuleCounters) * args.size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED) {
    *err = std::string("mules: mmap: ") + strerror(errno);
    return false;
  }
  t.counters = new (c) MuleCounters[args.size()];
  for (auto& a : args) {
    MuleSlot m;
    m.arg = a;
    if (!make_queue(&m.q, t.msg_size, err) || !make_queue(&m.sig, 1, err)) return false;
    t.slots.push_back(std::move(m));
  }
  for (auto& f : farms) {
    if (!make_queue(&f.q, t.msg_size, err)) return false;
    t.farms.push_back(std::move(f));
  }
  return true;
}

Mules& shared_mules() { return g_mules; }

void mules_spawn_all() {
  for (int i = 1; i <= (int)g_mules.slots.size(); i++)
    if (g_mules.slots[i - 1].proc.pid == 0) spawn(i);
}

void mules_tick(uint64_t now) {
  read_mule_requests();
  for (int i = 1; i <= (int)g_mules.slots.size(); i++) {
    if (g_mules.slots[i - 1].proc.due(now)) spawn(i);
  }
}

bool mules_reaped(pid_t pid, int status, bool respawn) {
  for (int i = 1; i <= (int)g_mules.slots.size(); i++) {
    SupervisedProcess& m = g_mules.slots[i - 1].proc;
    if (m.pid != pid) continue;
    m.pid = 0;
    if (respawn) {
      uint64_t delay = m.exited(monotonic_ms());  // never a tight fork loop (counts the respawn)
      if (WIFSIGNALED(status))
        log_line("mule %d (pid %d) killed by signal %d: respawning%s", i, (int)pid, WTERMSIG(status),
                 delay ? " after a back-off" : "");
      else
        log_line("mule %d (pid %d) exited with status %d: respawning%s", i, (int)pid, WEXITSTATUS(status),
                 delay ? " after a back-off" : "");
    }
    return true;
  }
  return false;
}

void mules_signal_all(int sig) {
  for (auto& m : g_mules.slots) m.proc.signal(sig);
}

int mules_alive() {
  int n = 0;
  for (auto& m : g_mules.slots)
    if (m.proc.pid > 0) n++;
  return n;
}

void mules_stats(std::vector<SupervisedStat>* out) {
  for (auto& m : g_mules.slots) out->push_back(supervised_stat(m.proc));
}

std::vector<MuleStat> mules_stats() {
  std::vector<MuleStat> out;
  for (int i = 1; i <= (int)g_mules.slots.size(); i++) {
    MuleSlot& m = g_mules.slots[i - 1];
    MuleStat st;
    st.id = i;
    st.pid = (int)m.proc.pid;
    st.signals = g_mules.counters ? g_mules.counters[i - 1].signals.load() : 0;
    st.respawns = m.proc.respawns;
    st.last_spawn = m.proc.last_spawn;
    for (auto& f : g_mules.farms)
      for (int id : f.ids)
        if (id == i) st.farms.push_back(f.name);
    out.push_back(std::move(st));
  }
  return out;
}

bool mule_signal_target(std::string_view t) {
  if (t == "mule" || t == "mules") return true;
  if (t.size() <= 4 || t.substr(0, 4) != "mule") return false;
  for (char c : t.substr(4))
    if (c < '0' || c > '9') return false;
  return true;
}

bool mules_route_signal(std::string_view target, int num, std::string* err) {
  MuleTable& t = g_mules;
  if (t.slots.empty()) {
    *err = "no mules are configured";
    return false;
  }
  unsigned char b = (unsigned char)num;
  auto put = [&](int fd, const std::string& what) {
    if (::send(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) return true;
    *err = what + "'s signal queue is full (" + strerror(errno) + ")";
    return false;
  };
  if (target == "mule") return put(t.shared_sig.writer, "the mules");
  if (target == "mules") {
    bool ok = true;
    for (size_t i = 0; i < t.slots.size(); i++) ok = put(t.slots[i].sig.writer, "mule " + std::to_string(i + 1)) && ok;
    return ok;
  }
  long id = atol(std::string(target.substr(4)).c_str());
  if (id < 1 || id > (long)t.slots.size()) {
    *err = "mule " + std::to_string(id) + " does not exist (1.." + std::to_string(t.slots.size()) + ")";
    return false;
  }
  return put(t.slots[id - 1].sig.writer, "mule " + std::to_string(id));
}

}  // namespace uwsgi
