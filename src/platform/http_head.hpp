// HTTP/1.1 response heads built by hand for the platform's two servers (the
// API port and each instance's Runtime API port). Beast's generic serializer
// walks nested buffer-sequence views per write, which made it the largest
// single cost of an invocation; a head is a short string, so we write it
// ourselves and send head and body with one gather write. Reading stays
// with Beast's parser. Pure: no sockets. Private header.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace blueprint::platform::http_head {

/// "200 OK", "404 Not Found", ...: Beast's reason phrases.
std::string_view reason(unsigned status) noexcept;

/// Whether a response with this status carries no body and no
/// Content-Length (1xx, 204, 304), as Beast's prepare_payload decides.
bool bodiless(unsigned status) noexcept;

/// Builds "HTTP/1.x status reason\r\n" + fields + framing + "\r\n".
/// CR and LF in names or values become spaces, so no value can split the
/// head. Framing matches Beast's prepare_payload + keep_alive: a
/// Content-Length (except for bodiless statuses), "Connection: close" for
/// HTTP/1.1 without keep-alive, "Connection: keep-alive" for HTTP/1.0 with it.
class ResponseHead {
public:
    explicit ResponseHead(unsigned status, unsigned version = 11);
    ResponseHead& field(std::string_view name, std::string_view value);
    /// Appends the framing and the blank line; the head is then complete.
    const std::string& finish(std::size_t content_length, bool keep_alive);
    const std::string& str() const noexcept { return out_; }

private:
    void append_clean(std::string_view s);
    std::string out_;
    unsigned status_;
    unsigned version_;
};

}  // namespace blueprint::platform::http_head
