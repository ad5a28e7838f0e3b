// The head of a worker's HTTP response, as far as the router needs it: status and framing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uwsgi {

struct ResponseHead {
  int status = 0;
  long long content_length = -1;  // -1: none
  bool chunked = false;           // Transfer-Encoding ends in chunked
  bool conn_close = false;        // Connection: close
  size_t head_len = 0;            // bytes up to and including the blank line
  std::vector<std::pair<size_t, size_t>> lines;  // (offset, length) of the status line and each field line
};

// 1: complete head in buf; 0: more bytes needed; -1: not an HTTP/1.x response head.
int parse_response_head(const std::string& buf, ResponseHead* out);
// The field line's name is `name` (case-insensitive).
bool header_named(std::string_view line, std::string_view name);

}  // namespace uwsgi
