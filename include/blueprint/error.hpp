// Error codes of the core: job ids, job results and the runner.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>
#include <type_traits>

namespace blueprint {

using error_code = boost::system::error_code;

/// Why a job produced an error result instead of a body.
enum class job_errc {
    /// The handler threw; the message holds what() of the exception.
    handler_exception = 1,
    /// The handler returned an error result itself.
    handler_failed,
    /// No route, `always` or `fallback` handler took the job.
    no_route,
    /// The job was still running when shutdown's grace period ended.
    cancelled,
    /// The job ran past `RunnerConfig::job_timeout`.
    timeout,
};

/// Errors of `JobId` parsing and narrowing.
enum class job_id_errc {
    /// The id does not fit in the requested width; it is never truncated.
    out_of_range = 1,
    /// The text is not 1-64 hexadecimal digits with an optional 0x.
    invalid_hex,
};

/// Why `BlueprintRunner::run` could not start or stopped early.
enum class runner_errc {
    /// The builder was given no router.
    no_router = 1,
    /// The builder was given no producer.
    no_producer,
    /// A producer threw and `RunnerConfig::on_producer_error` is `stop`.
    producer_failed,
    /// A job failed and `RunnerConfig::on_job_failure` is `stop`.
    job_failed,
    /// `run` was called on a runner that is already running or has run.
    already_running,
};

const boost::system::error_category& job_category() noexcept;
const boost::system::error_category& job_id_category() noexcept;
const boost::system::error_category& runner_category() noexcept;

inline error_code make_error_code(job_errc e) noexcept { return {static_cast<int>(e), job_category()}; }
inline error_code make_error_code(job_id_errc e) noexcept { return {static_cast<int>(e), job_id_category()}; }
inline error_code make_error_code(runner_errc e) noexcept { return {static_cast<int>(e), runner_category()}; }

/// An error code with a human-readable explanation of this occurrence.
struct Error {
    error_code code;
    std::string message;

    /// "category: code message: detail", for logs and CLI output.
    std::string to_string() const;
};

}  // namespace blueprint

template <> struct boost::system::is_error_code_enum<blueprint::job_errc> : std::true_type {};
template <> struct boost::system::is_error_code_enum<blueprint::job_id_errc> : std::true_type {};
template <> struct boost::system::is_error_code_enum<blueprint::runner_errc> : std::true_type {};
