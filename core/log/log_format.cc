#include "log/log_format.h"

#include <charconv>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace uwsgi {

namespace {

struct VarName {
  const char* name;
  LogFormat::Var var;
};

// uWSGI's names (docs: "Formatting uWSGI requests logs").
const VarName kVars[] = {
    {"addr", LogFormat::Var::kAddr},         {"user", LogFormat::Var::kUser},
    {"ltime", LogFormat::Var::kLtime},       {"time", LogFormat::Var::kTime},
    {"epoch", LogFormat::Var::kEpoch},       {"ctime", LogFormat::Var::kCtime},
    {"ftime", LogFormat::Var::kFtime},       {"tmsecs", LogFormat::Var::kTmsecs},
    {"tmicros", LogFormat::Var::kTmicros},   {"method", LogFormat::Var::kMethod},
    {"uri", LogFormat::Var::kUri},           {"proto", LogFormat::Var::kProto},
    {"status", LogFormat::Var::kStatus},     {"size", LogFormat::Var::kSize},
    {"hsize", LogFormat::Var::kHsize},       {"rsize", LogFormat::Var::kRsize},
    {"cl", LogFormat::Var::kCl},             {"referer", LogFormat::Var::kReferer},
    {"uagent", LogFormat::Var::kUagent},     {"host", LogFormat::Var::kHost},
    {"msecs", LogFormat::Var::kMsecs},       {"micros", LogFormat::Var::kMicros},
    {"secs", LogFormat::Var::kSecs},         {"pid", LogFormat::Var::kPid},
    {"wid", LogFormat::Var::kWid},           {"core", LogFormat::Var::kCore},
    {"switches", LogFormat::Var::kSwitches}, {"vars", LogFormat::Var::kVars},
    {"headers", LogFormat::Var::kHeaders},   {"rss", LogFormat::Var::kRss},
    {"vsz", LogFormat::Var::kVsz},           {"rssM", LogFormat::Var::kRssM},
    {"vszM", LogFormat::Var::kVszM},         {"pktsize", LogFormat::Var::kPktsize},
    {"modifier1", LogFormat::Var::kModifier1}, {"modifier2", LogFormat::Var::kModifier2},
    {"ioerr", LogFormat::Var::kIoerr},       {"rerr", LogFormat::Var::kRerr},
    {"werr", LogFormat::Var::kWerr},
};

void append_num(std::string* out, long long v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);  // no locale, no format parsing: per request
  out->append(b, r.ptr - b);
}

// uWSGI prints "-" for an absent string variable.
void append_str(std::string* out, std::string_view v) {
  if (v.empty()) out->push_back('-');
  else out->append(v.data(), v.size());
}

// strftime of a whole second, cached per thread: most requests in a second share it.
struct TimeCache {
  time_t sec = -1;
  std::string text;
};

const std::string& format_time(TimeCache* c, time_t sec, const char* fmt) {
  if (c->sec != sec) {
    struct tm tm;
    localtime_r(&sec, &tm);
    char b[256];
    size_t n = strftime(b, sizeof b, fmt, &tm);
    c->text.assign(b, n);
    c->sec = sec;
  }
  return c->text;
}

const char kApacheTime[] = "%d/%b/%Y:%H:%M:%S %z";
const char kCtime[] = "%a %b %e %H:%M:%S %Y";

}  // namespace

void process_memory(long long* rss, long long* vsz) {
  *rss = *vsz = 0;
  static thread_local int fd = -1;
  if (fd < 0) fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char b[128];
  ssize_t n = pread(fd, b, sizeof b - 1, 0);
  if (n <= 0) return;
  b[n] = 0;
  long long size = 0, res = 0;
  if (sscanf(b, "%lld %lld", &size, &res) != 2) return;
  long page = sysconf(_SC_PAGESIZE);
  *vsz = size * page;
  *rss = res * page;
}

bool LogFormat::compile(std::string_view fmt, std::string* err, const std::vector<std::string>& user_vars) {
  pieces_.clear();
  uses_memory_ = false;
  auto literal = [&](std::string_view s) {
    if (s.empty()) return;
    if (!pieces_.empty() && pieces_.back().var == Var::kLiteral) pieces_.back().text.append(s);
    else pieces_.push_back({Var::kLiteral, std::string(s)});
  };
  size_t i = 0;
  while (i < fmt.size()) {
    size_t p = fmt.find("%(", i);
    if (p == std::string_view::npos) {
      literal(fmt.substr(i));
      break;
    }
    literal(fmt.substr(i, p - i));
    size_t close = fmt.find(')', p + 2);
    if (close == std::string_view::npos) {
      *err = "unterminated %( in the log format \"" + std::string(fmt) + "\"";
      return false;
    }
    std::string_view name = fmt.substr(p + 2, close - p - 2);
    i = close + 1;
    if (name.substr(0, 4) == "var." && name.size() > 4) {
      pieces_.push_back({Var::kEnv, std::string(name.substr(4))});
      continue;
    }
    bool found = false;
    for (auto& v : kVars)
      if (name == v.name) {
        pieces_.push_back({v.var, {}});
        if (v.var == Var::kRss || v.var == Var::kVsz || v.var == Var::kRssM || v.var == Var::kVszM)
          uses_memory_ = true;
        found = true;
        break;
      }
    for (auto& u : user_vars)
      if (!found && name == u) {
        pieces_.push_back({Var::kLogvar, std::string(name)});
        found = true;
      }
    if (!found) {
      // uWSGI prints "-" for a name it does not know: a typo would go unnoticed.
      *err = "unknown log variable %(" + std::string(name) + ") in the log format (and no logvar: routing action sets it)";
      return false;
    }
  }
  return true;
}

void LogFormat::render(const RequestLogData& d, std::string* out) const {
  static thread_local TimeCache ltime, ftime, ctime_cache;
  long long rss = 0, vsz = 0;
  if (uses_memory_) process_memory(&rss, &vsz);
  auto var = [&](std::string_view name) { return d.find_var(d.ctx, name); };
  time_t start_s = (time_t)(d.start_us / 1000000);
  for (auto& p : pieces_) {
    switch (p.var) {
      case Var::kLiteral: out->append(p.text); break;
      case Var::kEnv: append_str(out, var(p.text)); break;
      case Var::kLogvar: append_str(out, d.find_logvar ? d.find_logvar(d.logvar_ctx, p.text) : std::string_view()); break;
      case Var::kAddr: append_str(out, d.addr); break;
      case Var::kUser: append_str(out, var("REMOTE_USER")); break;
      case Var::kLtime: out->append(format_time(&ltime, start_s, kApacheTime)); break;
      case Var::kTime: append_num(out, start_s); break;
      case Var::kEpoch: append_num(out, (long long)time(nullptr)); break;
      case Var::kCtime: out->append(format_time(&ctime_cache, start_s, kCtime)); break;
      case Var::kFtime:
        out->append(format_time(&ftime, (time_t)(d.end_us / 1000000),
                                ftime_format_.empty() ? kApacheTime : ftime_format_.c_str()));
        break;
      case Var::kTmsecs: append_num(out, (long long)(d.start_us / 1000)); break;
      case Var::kTmicros: append_num(out, (long long)d.start_us); break;
      case Var::kMethod: append_str(out, var("REQUEST_METHOD")); break;
      case Var::kUri: append_str(out, var("REQUEST_URI")); break;
      case Var::kProto: append_str(out, d.proto); break;
      case Var::kStatus: append_num(out, d.status); break;
      case Var::kSize: append_num(out, d.body_bytes + d.head_bytes); break;
      case Var::kHsize: append_num(out, d.head_bytes); break;
      case Var::kRsize: append_num(out, d.body_bytes); break;
      case Var::kCl: append_num(out, d.content_length); break;
      case Var::kReferer: append_str(out, var("HTTP_REFERER")); break;
      case Var::kUagent: append_str(out, var("HTTP_USER_AGENT")); break;
      case Var::kHost: append_str(out, var("HTTP_HOST")); break;
      case Var::kMsecs: append_num(out, (long long)((d.end_us - d.start_us) / 1000)); break;
      case Var::kMicros: append_num(out, (long long)(d.end_us - d.start_us)); break;
      case Var::kSecs: {
        char b[32];
        int n = snprintf(b, sizeof b, "%.6f", (d.end_us - d.start_us) / 1e6);
        out->append(b, n);
        break;
      }
      case Var::kPid: append_num(out, d.pid); break;
      case Var::kWid: append_num(out, d.wid); break;
      case Var::kCore: append_num(out, d.core); break;
      case Var::kSwitches: append_num(out, d.switches); break;
      case Var::kVars: append_num(out, (long long)d.vars); break;
      case Var::kHeaders: append_num(out, d.headers); break;
      case Var::kRss: append_num(out, rss); break;
      case Var::kVsz: append_num(out, vsz); break;
      case Var::kRssM: append_num(out, rss / (1024 * 1024)); break;
      case Var::kVszM: append_num(out, vsz / (1024 * 1024)); break;
      case Var::kPktsize: append_num(out, (long long)d.pktsize); break;
      case Var::kModifier1: append_num(out, d.modifier1); break;
      case Var::kModifier2: append_num(out, d.modifier2); break;
      case Var::kIoerr: append_num(out, d.ioerr); break;
      case Var::kRerr: append_num(out, d.rerr); break;
      case Var::kWerr: append_num(out, d.werr); break;
    }
  }
}

}  // namespace uwsgi
