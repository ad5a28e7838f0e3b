// Per-worker OS settings: --cpu-affinity N (each worker pinned to N CPUs, the workers spread over
// the machine's CPUs in turn, as uWSGI does) and --thread-stacksize KiB (the stack of each
// --threads request thread).
#pragma once

#include <cstddef>
#include <string>

#include "host.h"

namespace uwsgi {

void register_worker_tuning_options(HostImpl& host);
// Bad values stop start-up (*err names the option).
bool check_worker_tuning(const Config& cfg, std::string* err);
// In worker `id` (1-based) once it runs: pins it to its CPUs when --cpu-affinity asks.
void apply_cpu_affinity(const Config& cfg, int id);
// Stack size in bytes for a request thread, 0 for the default (--thread-stacksize not given).
size_t thread_stack_bytes(const Config& cfg);

}  // namespace uwsgi
