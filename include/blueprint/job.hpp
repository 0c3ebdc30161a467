// The values that flow through a runner: JobId, Metadata, JobCall, JobResult.
#pragma once

#include <blueprint/error.hpp>

#include <array>
#include <compare>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace blueprint {

using Bytes = std::vector<std::uint8_t>;

/// Bytes of a string, for tests and examples.
Bytes to_bytes(std::string_view text);
/// A string holding the given bytes unchanged.
std::string to_string(const Bytes& bytes);

/// A 256-bit job id, as in the Blueprint SDK. Stored big-endian.
///
/// Narrowing (`to_u32`, `to_u64`) fails with `job_id_errc::out_of_range`
/// rather than truncating: the Rust original silently truncates.
class JobId {
public:
    constexpr JobId() noexcept = default;
    constexpr JobId(std::uint32_t v) noexcept : JobId(static_cast<std::uint64_t>(v)) {}
    constexpr JobId(std::uint64_t v) noexcept {
        for (int i = 0; i < 8; ++i) bytes_[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
    // Plain integer literals (`route(0, ...)`) pick this overload; negatives are a bug.
    constexpr JobId(int v) noexcept : JobId(static_cast<std::uint64_t>(static_cast<std::uint32_t>(v))) {}

    /// From big-endian bytes.
    static constexpr JobId from_bytes(const std::array<std::uint8_t, 32>& be) noexcept {
        JobId id;
        id.bytes_ = be;
        return id;
    }
    /// From 1-64 hex digits, with or without a leading 0x.
    static std::expected<JobId, error_code> from_hex(std::string_view hex);
    /// From decimal text that fits in u64, or hex with a 0x prefix.
    static std::expected<JobId, error_code> parse(std::string_view text);

    const std::array<std::uint8_t, 32>& bytes() const noexcept { return bytes_; }

    std::expected<std::uint32_t, error_code> to_u32() const noexcept;
    std::expected<std::uint64_t, error_code> to_u64() const noexcept;
    bool fits_u64() const noexcept;

    /// "0x" and the shortest hex, e.g. "0x1f"; "0x0" for zero.
    std::string to_hex() const;
    /// Decimal when the id fits in u64, else `to_hex()`. Used in names such as
    /// `blueprint-job-7`.
    std::string to_string() const;

    friend constexpr auto operator<=>(const JobId&, const JobId&) noexcept = default;
    friend constexpr bool operator==(const JobId&, const JobId&) noexcept = default;

private:
    std::array<std::uint8_t, 32> bytes_{};
};

std::ostream& operator<<(std::ostream& os, const JobId& id);

/// A metadata value: bytes, plus whether it is a secret that logs must redact.
class MetadataValue {
public:
    MetadataValue() = default;
    explicit MetadataValue(Bytes bytes, bool sensitive = false)
        : bytes_(std::move(bytes)), sensitive_(sensitive) {}
    explicit MetadataValue(std::string_view text, bool sensitive = false)
        : bytes_(to_bytes(text)), sensitive_(sensitive) {}

    /// Numbers are big-endian, as in the Blueprint SDK.
    static MetadataValue from_u64(std::uint64_t v);
    static MetadataValue from_u32(std::uint32_t v);

    /// Big-endian number of 1-8 bytes; an error when longer or empty.
    std::expected<std::uint64_t, error_code> to_u64() const noexcept;

    const Bytes& bytes() const noexcept { return bytes_; }
    std::string_view as_string_view() const noexcept {
        return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
    }
    bool is_sensitive() const noexcept { return sensitive_; }
    void set_sensitive(bool s) noexcept { sensitive_ = s; }

    friend bool operator==(const MetadataValue&, const MetadataValue&) = default;

private:
    Bytes bytes_;
    bool sensitive_ = false;
};

/// Ordered string keys to byte values. Iteration is in key order.
class Metadata {
public:
    using map_type = std::map<std::string, MetadataValue, std::less<>>;
    using const_iterator = map_type::const_iterator;

    void insert(std::string key, MetadataValue value) { entries_.insert_or_assign(std::move(key), std::move(value)); }
    const MetadataValue* get(std::string_view key) const;
    bool contains(std::string_view key) const { return get(key) != nullptr; }
    bool erase(std::string_view key);
    /// Entries of `other` are added; on equal keys `other` wins.
    void merge_from(const Metadata& other);

    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    const_iterator begin() const noexcept { return entries_.begin(); }
    const_iterator end() const noexcept { return entries_.end(); }

    /// "{key=value, ...}" with sensitive values shown as "<redacted>".
    std::string to_log_string() const;

    friend bool operator==(const Metadata&, const Metadata&) = default;

private:
    map_type entries_;
};

/// Well-known metadata keys used by Tangle producers.
namespace metadata_keys {
inline constexpr std::string_view call_id = "X-TANGLE-CALL-ID";
inline constexpr std::string_view service_id = "X-TANGLE-SERVICE-ID";
}  // namespace metadata_keys

/// One call of a job: which job, the call's metadata, and its input bytes.
class JobCall {
public:
    JobCall() = default;
    JobCall(JobId job_id, Bytes body, Metadata metadata = {})
        : job_id_(job_id), metadata_(std::move(metadata)), body_(std::move(body)) {}

    const JobId& job_id() const noexcept { return job_id_; }
    const Metadata& metadata() const noexcept { return metadata_; }
    Metadata& metadata() noexcept { return metadata_; }
    const Bytes& body() const noexcept { return body_; }
    Bytes& body() noexcept { return body_; }

private:
    JobId job_id_;
    Metadata metadata_;
    Bytes body_;
};

/// What went wrong with a job: a typed code and a message for people.
/// `type` optionally carries the remote function's own error type
/// (Lambda's errorType, for example).
struct JobError {
    error_code code;
    std::string message;
    std::string type;

    friend bool operator==(const JobError& a, const JobError& b) {
        return a.code == b.code && a.message == b.message && a.type == b.type;
    }
};

/// The outcome of a job: metadata and either a body or a typed error.
///
/// The runner stamps the call's job id and metadata onto every result,
/// local or delegated, so consumers can correlate them.
class JobResult {
public:
    /// An ok result with an empty body. Exists so results (and
    /// `std::expected<JobResult, E>`) are default-constructible, which
    /// `co_spawn` of an awaitable returning them requires.
    JobResult() = default;

    static JobResult ok(Bytes body) { return JobResult(std::move(body)); }
    static JobResult ok(Metadata metadata, Bytes body) {
        JobResult r(std::move(body));
        r.metadata_ = std::move(metadata);
        return r;
    }
    static JobResult error(JobError error) { return JobResult(std::move(error)); }
    static JobResult error(error_code code, std::string message, std::string type = {}) {
        return JobResult(JobError{code, std::move(message), std::move(type)});
    }

    bool is_ok() const noexcept { return std::holds_alternative<Bytes>(outcome_); }
    bool is_error() const noexcept { return !is_ok(); }
    explicit operator bool() const noexcept { return is_ok(); }

    /// Precondition: `is_ok()`.
    const Bytes& body() const { return std::get<Bytes>(outcome_); }
    Bytes& body() { return std::get<Bytes>(outcome_); }
    /// Precondition: `is_error()`.
    const JobError& error() const { return std::get<JobError>(outcome_); }

    const JobId& job_id() const noexcept { return job_id_; }
    void set_job_id(JobId id) noexcept { job_id_ = id; }
    const Metadata& metadata() const noexcept { return metadata_; }
    Metadata& metadata() noexcept { return metadata_; }

    /// Sets the job id and puts the call's metadata under the result's own
    /// entries (the result's keys win).
    void stamp_from(const JobCall& call);

private:
    explicit JobResult(Bytes body) : outcome_(std::move(body)) {}
    explicit JobResult(JobError error) : outcome_(std::move(error)) {}

    JobId job_id_;
    Metadata metadata_;
    std::variant<Bytes, JobError> outcome_;
};

}  // namespace blueprint

template <> struct std::hash<blueprint::JobId> {
    std::size_t operator()(const blueprint::JobId& id) const noexcept;
};
