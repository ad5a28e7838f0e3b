#include "process/status_report.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "log/log.h"
#include "process/scoreboard.h"

namespace uwsgi {
namespace {

// A log line built in place: snprintf is not async-signal-safe.
class Line {
 public:
  Line& s(const char* t) {
    while (*t && n_ < sizeof buf_ - 1) buf_[n_++] = *t++;
    return *this;
  }
  Line& u(uint64_t v) {
    char d[24];
    int k = 0;
    do {
      d[k++] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    while (k && n_ < sizeof buf_ - 1) buf_[n_++] = d[--k];
    return *this;
  }
  void emit() {
    buf_[n_++] = '\n';
    ssize_t r = ::write(log_fd(), buf_, n_);
    (void)r;
  }

 private:
  char buf_[512];
  size_t n_ = 0;
};

// The workers to report on: one, or all of them.
bool range(int worker_id, int* first, int* last) {
  Scoreboard& sb = scoreboard();
  if (!sb.ready()) return false;
  *first = worker_id > 0 ? worker_id : 1;
  *last = worker_id > 0 ? worker_id : sb.workers();
  return *last <= sb.workers();
}

Line& worker_head(Line& l, int id) {
  return l.s("worker ").u(id).s(" (pid ").u((uint64_t)scoreboard().worker(id).pid.load()).s(")");
}

}  // namespace

void report_stats(int worker_id) {
  int first, last;
  if (!range(worker_id, &first, &last)) return;
  Scoreboard& sb = scoreboard();
  uint64_t total = 0;
  for (int id = first; id <= last; id++) total += sb.worker(id).requests.load();
  Line().s("SIGUSR1 stats: ").u(last - first + 1).s(" worker(s), ").u(total).s(" request(s) served").emit();
  for (int id = first; id <= last; id++) {
    WorkerBoard& w = sb.worker(id);
    uint64_t req = w.requests.load(), rt = w.running_time_us.load();
    Line l;
    worker_head(l, id)
        .s(": ")
        .u(req)
        .s(" requests, ")
        .u(w.exceptions.load())
        .s(" exceptions, ")
        .u((uint64_t)(w.busy_cores.load() > 0 ? w.busy_cores.load() : 0))
        .s(" of ")
        .u(sb.cores())
        .s(" cores busy, avg ")
        .u(req ? rt / req / 1000 : 0)
        .s(" ms, ")
        .u(w.respawn_count.load())
        .s(" respawns, ")
        .u(w.harakiri_count.load())
        .s(" harakiri")
        .emit();
  }
}

// One line per busy core of worker id; returns how many.
static int report_busy_cores(int id, const char* prefix) {
  Scoreboard& sb = scoreboard();
  uint64_t now = monotonic_ms();
  int n = 0;
  for (int c = 0; c < sb.cores(); c++) {
    CoreBoard& cb = sb.core(id, c);
    if (!cb.busy.load()) continue;
    char uri[kCoreUriMax];
    sb.read_core_uri(id, c, uri, sizeof uri);
    uint64_t started = cb.started_ms.load();
    Line l;
    l.s(prefix);
    worker_head(l, id)
        .s(" core ")
        .u(c)
        .s(": ")
        .s(uri[0] ? uri : "(unknown request)")
        .s(" running for ")
        .u(started && now > started ? (now - started) / 1000 : 0)
        .s(" s")
        .emit();
    n++;
  }
  return n;
}

void report_cores(int worker_id) {
  int first, last;
  if (!range(worker_id, &first, &last)) return;
  Line().s("SIGUSR2 status: what each core is running").emit();
  for (int id = first; id <= last; id++) {
    if (scoreboard().worker(id).pid.load() <= 0) {
      Line l;
      worker_head(l, id).s(": not running").emit();
    } else if (report_busy_cores(id, "") == 0) {
      Line l;
      worker_head(l, id).s(": idle").emit();
    }
  }
}

int report_in_flight(int worker_id, const char* prefix) {
  int first, last;
  if (!range(worker_id, &first, &last)) return 0;
  int n = 0;
  for (int id = first; id <= last; id++)
    if (scoreboard().worker(id).pid.load() > 0) n += report_busy_cores(id, prefix);
  return n;
}

}  // namespace uwsgi
