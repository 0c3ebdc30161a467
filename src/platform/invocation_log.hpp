// An invocation's log as Lambda writes it: START, the function's output,
// END and REPORT, plus the messages the platform adds on a timeout or a
// crash. Pure functions. Private header.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::platform {

struct ReportFields {
    std::string request_id;
    std::chrono::microseconds duration{0};
    unsigned memory_size_mb = 128;
    unsigned max_memory_used_mb = 0;
    /// Set only on a cold start: the invocation waited for the instance's init.
    std::optional<std::chrono::microseconds> init_duration;
};

/// Billed duration: the duration rounded up to a whole millisecond, at least 1.
std::uint64_t billed_ms(std::chrono::microseconds duration) noexcept;

/// "START RequestId: {id} Version: $LATEST\n"
std::string start_line(std::string_view request_id);
/// "END RequestId: {id}\n"
std::string end_line(std::string_view request_id);
/// "REPORT RequestId: {id}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t"
/// then "Init Duration: 45.67 ms\t" on a cold start only, then "\n".
std::string report_line(const ReportFields& fields);

/// The whole log of one invocation.
std::string invocation_log(std::string_view init_output, std::string_view output, const ReportFields& fields);

/// The last `max` bytes of `log` (Lambda's X-Amz-Log-Result holds the last 4 KB).
std::string_view log_tail(std::string_view log, std::size_t max = 4096) noexcept;

/// "Task timed out after 3.00 seconds".
std::string timeout_message(std::chrono::milliseconds timeout);

/// What a Lambda-shaped function error body says: {"errorMessage","errorType","stackTrace":[]}.
std::string function_error_body(std::string_view message, std::string_view type);

/// "exit status 1" or "signal: killed", as Lambda words a runtime's exit.
std::string describe_exit(int status);

}  // namespace blueprint::platform
