#include "platform/metrics.hpp"

#include <cstdio>

namespace blueprint::platform {

std::string escape_label(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

Metrics::PerFunction& Metrics::at(std::string_view function) {
    auto it = functions_.find(function);
    if (it == functions_.end()) it = functions_.emplace(std::string(function), PerFunction{}).first;
    return it->second;
}

void Metrics::invocation(std::string_view function, std::chrono::microseconds duration, bool error, bool cold_start,
                         bool timed_out) {
    auto& f = at(function);
    ++f.invocations;
    if (error) ++f.errors;
    if (cold_start) ++f.cold_starts;
    if (timed_out) ++f.timeouts;
    const double seconds = static_cast<double>(duration.count()) / 1e6;
    f.duration_sum += seconds;
    for (std::size_t i = 0; i < buckets.size(); ++i)
        if (seconds <= buckets[i]) ++f.bucket_counts[i];
}

void Metrics::throttle(std::string_view function) { ++at(function).throttles; }

void Metrics::api_request(std::string_view api, unsigned status) { ++api_requests_[{std::string(api), status}]; }

void Metrics::set_instances(std::string_view function, std::string_view state, std::uint64_t count) {
    auto& m = at(function).instances;
    auto it = m.find(state);
    if (it == m.end()) m.emplace(std::string(state), count);
    else it->second = count;
}

void Metrics::forget(std::string_view function) {
    if (auto it = functions_.find(function); it != functions_.end()) functions_.erase(it);
}

std::string Metrics::render() const {
    std::string out;
    auto counter = [&](const char* name, const char* help, auto get) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += " counter\n";
        for (const auto& [fn, f] : functions_)
            out += std::string(name) + "{function=\"" + escape_label(fn) + "\"} " + std::to_string(get(f)) + "\n";
    };
    counter("bpfaas_invocations_total", "Invocations that ran (successful or not).",
            [](const PerFunction& f) { return f.invocations; });
    counter("bpfaas_invocation_errors_total", "Invocations that ended in a function error, timeout or crash.",
            [](const PerFunction& f) { return f.errors; });
    counter("bpfaas_cold_starts_total", "Invocations that waited for an instance to initialise.",
            [](const PerFunction& f) { return f.cold_starts; });
    counter("bpfaas_timeouts_total", "Invocations killed at the function's timeout.",
            [](const PerFunction& f) { return f.timeouts; });
    counter("bpfaas_throttles_total", "Invocations refused for lack of concurrency (429).",
            [](const PerFunction& f) { return f.throttles; });

    out += "# HELP bpfaas_instances Instances by state.\n# TYPE bpfaas_instances gauge\n";
    for (const auto& [fn, f] : functions_)
        for (const auto& [state, n] : f.instances)
            out += "bpfaas_instances{function=\"" + escape_label(fn) + "\",state=\"" + escape_label(state) + "\"} " +
                   std::to_string(n) + "\n";

    out += "# HELP bpfaas_invocation_duration_seconds Invocation duration.\n"
           "# TYPE bpfaas_invocation_duration_seconds histogram\n";
    for (const auto& [fn, f] : functions_) {
        const std::string label = "function=\"" + escape_label(fn) + "\"";
        for (std::size_t i = 0; i < buckets.size(); ++i) {
            char le[32];
            std::snprintf(le, sizeof le, "%g", buckets[i]);
            out += "bpfaas_invocation_duration_seconds_bucket{" + label + ",le=\"" + le + "\"} " +
                   std::to_string(f.bucket_counts[i]) + "\n";
        }
        out += "bpfaas_invocation_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(f.invocations) + "\n";
        char sum[48];
        std::snprintf(sum, sizeof sum, "%.6f", f.duration_sum);
        out += "bpfaas_invocation_duration_seconds_sum{" + label + "} " + sum + "\n";
        out += "bpfaas_invocation_duration_seconds_count{" + label + "} " + std::to_string(f.invocations) + "\n";
    }

    out += "# HELP bpfaas_api_requests_total API requests by API and status.\n"
           "# TYPE bpfaas_api_requests_total counter\n";
    for (const auto& [key, n] : api_requests_)
        out += "bpfaas_api_requests_total{api=\"" + escape_label(key.first) + "\",status=\"" + std::to_string(key.second) +
               "\"} " + std::to_string(n) + "\n";
    return out;
}

}  // namespace blueprint::platform
