// The stderr log sink and level names.
#include <blueprint/log.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace blueprint {

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
    }
    return "unknown";
}

LogSink stderr_log_sink(LogLevel min) {
    // One mutex for every sink made here: they all share stderr, and a line
    // must never interleave with another.
    static std::mutex mutex;
    return [min](LogLevel level, std::string_view message) {
        if (level == LogLevel::off || min == LogLevel::off || level < min) return;
        std::string line;
        line.reserve(message.size() + 10);
        line += '[';
        line += to_string(level);
        line += "] ";
        line += message;
        line += '\n';
        std::lock_guard lock(mutex);
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
    };
}

}  // namespace blueprint
