#include "platform/http_head.hpp"

#include <boost/beast/http/status.hpp>

#include <charconv>
#include <cstring>

namespace blueprint::platform::http_head {

std::string_view reason(unsigned status) noexcept {
    auto r = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
    return {r.data(), r.size()};
}

bool bodiless(unsigned status) noexcept { return (status >= 100 && status < 200) || status == 204 || status == 304; }

ResponseHead::ResponseHead(unsigned status, unsigned version) : status_(status), version_(version) {
    out_.reserve(256);
    out_ += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    char buf[8];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, status);
    out_.append(buf, end);
    out_ += ' ';
    out_ += reason(status);
    out_ += "\r\n";
}

void ResponseHead::append_clean(std::string_view s) {
    const auto start = out_.size();
    out_ += s;
    // memchr is vectorised; the per-character loop runs only when needed.
    if (!std::memchr(s.data(), '\r', s.size()) && !std::memchr(s.data(), '\n', s.size())) return;
    for (auto i = start; i < out_.size(); ++i)
        if (out_[i] == '\r' || out_[i] == '\n') out_[i] = ' ';
}

ResponseHead& ResponseHead::field(std::string_view name, std::string_view value) {
    append_clean(name);
    out_ += ": ";
    append_clean(value);
    out_ += "\r\n";
    return *this;
}

const std::string& ResponseHead::finish(std::size_t content_length, bool keep_alive) {
    if (!bodiless(status_)) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, content_length);
        out_ += "Content-Length: ";
        out_.append(buf, end);
        out_ += "\r\n";
    }
    if (version_ >= 11 && !keep_alive) out_ += "Connection: close\r\n";
    if (version_ < 11 && keep_alive) out_ += "Connection: keep-alive\r\n";
    out_ += "\r\n";
    return out_;
}

}  // namespace blueprint::platform::http_head
