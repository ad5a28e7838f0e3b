#include "host.h"

#include <cstdarg>

#include "log/log.h"
#include "process/mules.h"
#include "process/spooler.h"
#include "shared/shared_state.h"
#include "version.h"

namespace uwsgi {

void HostImpl::log(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vline(fmt, ap);
  va_end(ap);
}

void HostImpl::add_option(OptionDef def) {
  std::string err;
  if (!registry_.add(std::move(def), group_, &err) && registration_error_.empty()) registration_error_ = err;
}

const char* HostImpl::version() const { return UWSGI_COMPAT_VERSION; }

Locks& HostImpl::locks() { return shared_locks(); }
Caches& HostImpl::caches() { return shared_caches(); }
Mules& HostImpl::mules() { return shared_mules(); }
Spooler& HostImpl::spooler() { return shared_spooler(); }

void HostImpl::request_stop() {
  if (stop_cb_) stop_cb_();
}

}  // namespace uwsgi
