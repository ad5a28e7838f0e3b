#include "process/worker_tuning.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

void register_worker_tuning_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("cpu-affinity", 0, R,
                              "pin each worker to this many CPUs: worker 1 gets the first ones, worker 2 the next "
                              "ones, wrapping around",
                              {}, true));
  host.add_option(make_option("thread-stacksize", 0, R,
                              "stack size of each --threads request thread, in KiB (default: the system's, "
                              "usually 8192)",
                              {"threads-stacksize", "thread-stack-size", "threads-stack-size"}, true));
}

bool check_worker_tuning(const Config& cfg, std::string* err) {
  long long v = 0;
  if (!get_bounded(cfg, "cpu-affinity", 0, 0, 4096, &v, err)) return false;
  // Below PTHREAD_STACK_MIN no thread starts; above 1 GiB is a typo (uWSGI takes KiB too).
  if (cfg.has("thread-stacksize") &&
      !get_bounded(cfg, "thread-stacksize", 0, (PTHREAD_STACK_MIN + 1023) / 1024, 1 << 20, &v, err))
    return false;
  return true;
}

void apply_cpu_affinity(const Config& cfg, int id) {
  long long per_worker = cfg.get_int("cpu-affinity", 0);
  long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (per_worker <= 0 || ncpus <= 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  long first = (long)(((long long)(id - 1) * per_worker) % ncpus);
  std::string list;
  for (long long i = 0; i < per_worker && i < ncpus; i++) {
    long cpu = (first + i) % ncpus;
    CPU_SET(cpu, &set);
    list += (list.empty() ? "" : ",") + std::to_string(cpu);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    log_line("worker %d: --cpu-affinity: sched_setaffinity: %s", id, strerror(errno));
    return;
  }
  log_line("worker %d pinned to cpu %s (--cpu-affinity)", id, list.c_str());
}

size_t thread_stack_bytes(const Config& cfg) {
  long long kib = cfg.get_int("thread-stacksize", 0);
  return kib > 0 ? (size_t)kib * 1024 : 0;
}

}  // namespace uwsgi
