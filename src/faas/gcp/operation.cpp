// Long-running operations and the polling decision.
#include "faas/gcp/operation.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace blueprint::faas::gcp::detail {
namespace json = boost::json;

std::expected<Operation, FaasError> parse_operation(std::string_view body) {
    auto bad = [](std::string m) {
        return std::unexpected(FaasError::make(faas_errc::serialization, "operation: " + std::move(m)));
    };
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return bad("reply is not a JSON object");
    const auto& o = v.as_object();
    Operation op;
    auto* name = o.if_contains("name");
    if (!name || !name->is_string() || name->as_string().empty()) return bad("reply has no \"name\"");
    op.name = std::string(name->as_string());
    if (auto* done = o.if_contains("done")) {
        // Absent means false (proto3 JSON omits default values).
        if (!done->is_bool()) return bad("\"done\" is not a boolean");
        op.done = done->as_bool();
    }
    if (auto* err = o.if_contains("error")) {
        if (!err->is_object()) return bad("\"error\" is not an object");
        RpcStatus st;
        const auto& e = err->as_object();
        if (auto* c = e.if_contains("code"); c && c->is_number()) st.code = c->to_number<int>();
        if (auto* m = e.if_contains("message"); m && m->is_string()) st.message = std::string(m->as_string());
        // An error with code 0 (OK) is no error; UNKNOWN when the code is missing.
        if (st.code != 0 || !st.message.empty()) {
            if (st.code == 0) st.code = 2;
            op.error = std::move(st);
        }
    }
    return op;
}

faas_errc kind_for_rpc_code(int code) noexcept {
    switch (code) {
    case 4: return faas_errc::timeout;            // DEADLINE_EXCEEDED
    case 5: return faas_errc::not_found;          // NOT_FOUND
    case 7:                                       // PERMISSION_DENIED
    case 16: return faas_errc::unauthorized;      // UNAUTHENTICATED
    case 8: return faas_errc::throttled;          // RESOURCE_EXHAUSTED
    case 12: return faas_errc::unsupported;       // UNIMPLEMENTED
    case 2:                                       // UNKNOWN
    case 13:                                      // INTERNAL
    case 14:                                      // UNAVAILABLE
    case 15: return faas_errc::infrastructure;    // DATA_LOSS
    default: return faas_errc::invocation_failed; // INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, ...
    }
}

std::optional<faas_errc> kind_for_rpc_status(std::string_view s) noexcept {
    static constexpr std::pair<std::string_view, int> codes[] = {
        {"CANCELLED", 1},          {"UNKNOWN", 2},   {"INVALID_ARGUMENT", 3},   {"DEADLINE_EXCEEDED", 4},
        {"NOT_FOUND", 5},          {"ALREADY_EXISTS", 6}, {"PERMISSION_DENIED", 7}, {"RESOURCE_EXHAUSTED", 8},
        {"FAILED_PRECONDITION", 9}, {"ABORTED", 10}, {"OUT_OF_RANGE", 11},      {"UNIMPLEMENTED", 12},
        {"INTERNAL", 13},          {"UNAVAILABLE", 14}, {"DATA_LOSS", 15},      {"UNAUTHENTICATED", 16},
    };
    for (auto [name, code] : codes)
        if (name == s) return kind_for_rpc_code(code);
    return std::nullopt;
}

PollDecision decide_poll(const Operation& op, unsigned polls, std::chrono::milliseconds elapsed,
                         const PollPolicy& policy, std::string_view what) {
    using std::chrono::milliseconds;
    PollDecision d;
    if (op.done) {
        if (!op.error) {
            d.kind = PollDecision::succeeded;
            return d;
        }
        d.kind = PollDecision::failed;
        auto e = FaasError::make(kind_for_rpc_code(op.error->code),
                                 std::string(what) + ": operation " + op.name + " failed: " +
                                     (op.error->message.empty() ? "code " + std::to_string(op.error->code)
                                                                : op.error->message));
        d.error = std::move(e);
        return d;
    }
    const double grown = static_cast<double>(policy.initial.count()) * std::pow(1.5, std::min(polls, 40u) - (polls ? 1 : 0));
    auto delay = milliseconds(static_cast<std::int64_t>(std::min(grown, static_cast<double>(policy.max.count()))));
    delay = std::max(delay, milliseconds(1));
    if (elapsed + delay > policy.timeout) {
        d.kind = PollDecision::timed_out;
        d.error = FaasError::make(faas_errc::timeout, std::string(what) + ": operation " + op.name + " not done after " +
                                                          std::to_string(elapsed.count() / 1000) + " s (" +
                                                          std::to_string(polls) + " polls)");
        return d;
    }
    d.kind = PollDecision::wait;
    d.delay = delay;
    return d;
}

}  // namespace blueprint::faas::gcp::detail
