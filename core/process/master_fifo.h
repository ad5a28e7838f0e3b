// --master-fifo PATH (repeatable): named pipes the master reads one-letter commands from (uWSGI's
// "Master FIFO"). The first is active; the commands '0'..'9' make that slot's fifo the active one.
// The master runs the other letters (master.cc): r R c q Q w W s l L p P + - f ...
#pragma once

#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

void register_master_fifo_options(HostImpl& host);

class MasterFifo {
 public:
  ~MasterFifo();
  // Creates every fifo (an existing fifo is replaced; any other file there is an error).
  bool open(const std::vector<std::string>& paths, std::string* err);
  // The active fifo's fd (-1: none).
  int fd() const { return active_ < fds_.size() ? fds_[active_] : -1; }
  // Reads what is pending on the active fifo. Slot digits switch the active fifo here; the other
  // bytes (newlines and spaces dropped) are returned for the master to run, in order.
  std::string read_commands();

 private:
  std::vector<std::string> paths_;
  std::vector<int> fds_;
  size_t active_ = 0;
};

}  // namespace uwsgi
