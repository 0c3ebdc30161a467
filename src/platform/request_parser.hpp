// A Beast request parser that fills a plain request struct (method, target,
// headers as string pairs, body) directly. http::request_parser would first
// build Beast's own field container (an allocation and a tree insertion per
// field), which the platform then copied into its own request type: on the
// invocation path that was a sizeable share of the cost of a call.
//
// Private header, for the two .cpp files that already use Beast
// (local_platform.cpp, runtime.cpp). Framing, limits, chunked bodies and
// keep-alive stay Beast's (basic_parser).
#pragma once

#include <boost/beast/http/basic_parser.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace blueprint::platform {

/// `Request` has std::string method, target, body and a vector-like
/// `headers` of (name, value) std::string pairs.
template <class Request> class RequestParser final : public boost::beast::http::basic_parser<true> {
public:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;

    explicit RequestParser(Request& out) : out_(out) {}

    boost::beast::http::verb method() const noexcept { return method_; }
    /// 10 or 11.
    unsigned version() const noexcept { return version_; }

private:
    void on_request_impl(boost::beast::http::verb method, string_view method_str, string_view target, int version,
                         error_code&) override {
        method_ = method;
        version_ = static_cast<unsigned>(version);
        out_.method.assign(method_str.data(), method_str.size());
        out_.target.assign(target.data(), target.size());
    }
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
        out_.headers.emplace_back(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        // Within the body limit by now: basic_parser checks Content-Length first.
        if (length) out_.body.reserve(static_cast<std::size_t>(*length));
    }
    std::size_t on_body_impl(string_view body, error_code&) override {
        out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
        out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    Request& out_;
    boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
    unsigned version_ = 11;
};

}  // namespace blueprint::platform
