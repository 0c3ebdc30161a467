// Logging hook. The library never picks a logging backend; the application
// injects a sink (apps/bpfaas glues spdlog in here).
#pragma once

#include <functional>
#include <string_view>

namespace blueprint {

enum class LogLevel { trace, debug, info, warn, error, off };

/// Receives one formatted line. Called from any thread; must be thread-safe.
/// Messages never contain secrets: sensitive metadata is redacted before.
using LogSink = std::function<void(LogLevel, std::string_view)>;

/// A sink writing "[level] message" lines to stderr for `min` and above.
LogSink stderr_log_sink(LogLevel min = LogLevel::warn);

std::string_view to_string(LogLevel level) noexcept;

}  // namespace blueprint
