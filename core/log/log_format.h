// --log-format / --logformat: uWSGI's request log variables (%(addr), %(status), %(var.NAME)...).
// The format is compiled once at start-up into literal and variable pieces; each request only
// walks the pieces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace uwsgi {

// What a finished request tells the request log (filled by the connection).
struct RequestLogData {
  // Looks a request variable up (REQUEST_URI, HTTP_REFERER...); empty when absent.
  std::string_view (*find_var)(const void* ctx, std::string_view name) = nullptr;
  const void* ctx = nullptr;
  std::string_view addr;     // REMOTE_ADDR, or X-Forwarded-For with --log-x-forwarded-for
  std::string_view proto;    // SERVER_PROTOCOL
  int status = 0;
  long long body_bytes = 0;    // rsize
  long long head_bytes = 0;    // hsize: status line, headers and the blank line
  int headers = 0;             // response headers the app gave
  uint64_t start_us = 0, end_us = 0;  // wall clock (gettimeofday) microseconds
  int pid = 0, wid = 0, core = 0;
  int switches = 1;           // times the request was resumed (1 for a request served in one go)
  size_t vars = 0;            // CGI variables of the request
  size_t pktsize = 0;         // size of the request as a uwsgi packet
  int modifier1 = 0, modifier2 = 0;
  long long content_length = 0;  // cl
  int ioerr = 0;                 // 1 when reading the request or writing the response failed
  int rerr = 0, werr = 0;        // ... split: reading / writing
  // A user log variable (set by the logvar: routing action); empty when this request set none.
  std::string_view (*find_logvar)(const void* ctx, std::string_view name) = nullptr;
  const void* logvar_ctx = nullptr;
};

class LogFormat {
 public:
  // false with *err naming the unknown variable or the unterminated %(. user_vars: the names
  // that logvar: routing actions set, accepted as %(NAME).
  bool compile(std::string_view fmt, std::string* err, const std::vector<std::string>& user_vars = {});
  // Appends the line (without a newline) to *out.
  void render(const RequestLogData& d, std::string* out) const;
  bool empty() const { return pieces_.empty(); }
  // --logformat-strftime: %(ftime) uses this strftime format instead of the Apache style one.
  void set_ftime_format(std::string f) { ftime_format_ = std::move(f); }
  bool uses_memory() const { return uses_memory_; }

  enum class Var {
    kLiteral, kEnv, kAddr, kUser, kLtime, kTime, kEpoch, kCtime, kFtime, kTmsecs, kTmicros, kMethod,
    kUri, kProto, kStatus, kSize, kHsize, kRsize, kCl, kReferer, kUagent, kHost, kMsecs, kMicros,
    kSecs, kPid, kWid, kCore, kSwitches, kVars, kHeaders, kRss, kVsz, kRssM, kVszM, kPktsize,
    kModifier1, kModifier2, kIoerr, kRerr, kWerr, kLogvar,
  };

 private:
  struct Piece {
    Var var;
    std::string text;  // the literal, or the variable's name for kEnv and kLogvar
  };
  std::vector<Piece> pieces_;
  std::string ftime_format_;
  bool uses_memory_ = false;
};

// This process's resident and virtual size in bytes (/proc/self/statm).
void process_memory(long long* rss, long long* vsz);

}  // namespace uwsgi
