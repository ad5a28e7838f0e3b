// --log-encoder / --log-req-encoder: a chain of transformations of each log line before a logger
// writes it, as uWSGI's: `prefix TEXT`, `suffix TEXT`, `nl`, `format TEMPLATE`, `json TEMPLATE`.
// `NAME:LOGGER ARGS` applies an encoder to the logger named LOGGER only. Templates know
// ${msg} (the line without its newline), ${msgnl}, ${unix}, ${micros}, ${millis} and
// ${strftime:FORMAT}; `json` escapes what it substitutes so the output is valid JSON.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace uwsgi {

class LogEncoder {
 public:
  // "json:mylogger {...}" -> kind json, logger "mylogger"; false with *err for an unknown kind or
  // template variable (uWSGI substitutes nothing for it: a typo would go unnoticed).
  bool parse(const std::string& spec, std::string* err);
  // Appends the encoding of `in` to *out; `now` feeds the time variables.
  void apply(std::string_view in, const timespec& now, std::string* out) const;
  const std::string& logger() const { return logger_; }  // "" = every logger
  const std::string& kind() const { return kind_; }

 private:
  enum class Piece { kText, kMsg, kMsgNl, kUnix, kMicros, kMillis, kStrftime };
  struct Part {
    Piece type;
    std::string text;  // kText: the text; kStrftime: the format
  };
  bool compile(const std::string& tmpl, std::string* err);
  std::string kind_, logger_, arg_;
  bool json_ = false;
  std::vector<Part> parts_;
};

// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped, bytes
// that are not UTF-8 written as \u00XX so every line parses.
void json_escape(std::string_view s, std::string* out);

// Runs the chain over `line`, using the encoders for `logger` (those without a logger name and
// those naming it); the result in *out.
void encode_line(const std::vector<const LogEncoder*>& chain, std::string_view line, std::string* out);

}  // namespace uwsgi
