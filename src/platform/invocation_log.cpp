#include "platform/invocation_log.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>

namespace blueprint::platform {

namespace {
std::string ms_2dp(std::chrono::microseconds d) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(d.count()) / 1000.0);
    return buf;
}
}  // namespace

std::uint64_t billed_ms(std::chrono::microseconds duration) noexcept {
    auto us = duration.count() < 0 ? 0 : static_cast<std::uint64_t>(duration.count());
    auto ms = (us + 999) / 1000;
    return ms == 0 ? 1 : ms;
}

std::string start_line(std::string_view request_id) {
    return "START RequestId: " + std::string(request_id) + " Version: $LATEST\n";
}

std::string end_line(std::string_view request_id) { return "END RequestId: " + std::string(request_id) + "\n"; }

std::string report_line(const ReportFields& f) {
    std::string out = "REPORT RequestId: " + f.request_id;
    out += "\tDuration: " + ms_2dp(f.duration) + " ms";
    out += "\tBilled Duration: " + std::to_string(billed_ms(f.duration)) + " ms";
    out += "\tMemory Size: " + std::to_string(f.memory_size_mb) + " MB";
    out += "\tMax Memory Used: " + std::to_string(f.max_memory_used_mb) + " MB\t";
    if (f.init_duration) out += "Init Duration: " + ms_2dp(*f.init_duration) + " ms\t";
    out += "\n";
    return out;
}

std::string invocation_log(std::string_view init_output, std::string_view output, const ReportFields& fields) {
    std::string log(init_output);
    if (!log.empty() && log.back() != '\n') log += '\n';
    log += start_line(fields.request_id);
    log += output;
    if (!output.empty() && output.back() != '\n') log += '\n';
    log += end_line(fields.request_id);
    log += report_line(fields);
    return log;
}

std::string_view log_tail(std::string_view log, std::size_t max) noexcept {
    return log.size() <= max ? log : log.substr(log.size() - max);
}

std::string timeout_message(std::chrono::milliseconds timeout) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "Task timed out after %.2f seconds", static_cast<double>(timeout.count()) / 1000.0);
    return buf;
}

std::string function_error_body(std::string_view message, std::string_view type) {
    boost::json::object o;
    o["errorMessage"] = message;
    o["errorType"] = type;
    o["stackTrace"] = boost::json::array();
    return boost::json::serialize(o);
}

std::string describe_exit(int status) {
    if (status > 128 && status < 128 + 65) {
        int sig = status - 128;
        const char* name = sig == SIGKILL ? "killed" : sig == SIGSEGV ? "segmentation fault" : sig == SIGABRT ? "aborted"
                                                                                                              : nullptr;
        if (name) return std::string("signal: ") + name;
        return "signal: " + std::to_string(sig);
    }
    return "exit status " + std::to_string(status);
}

}  // namespace blueprint::platform
