// The FaaS error category and FaasError helpers.
#include <blueprint/faas/error.hpp>

namespace blueprint::faas {
namespace {

class faas_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.faas"; }
    std::string message(int ev) const override {
        switch (static_cast<faas_errc>(ev)) {
        case faas_errc::invocation_failed: return "the FaaS invocation failed";
        case faas_errc::timeout: return "the FaaS call ran past its deadline";
        case faas_errc::function_error: return "the function ran and failed";
        case faas_errc::serialization: return "a FaaS request or reply could not be encoded or decoded";
        case faas_errc::infrastructure: return "the FaaS provider or network failed";
        case faas_errc::throttled: return "the FaaS provider throttled the request";
        case faas_errc::not_found: return "the function or deployment does not exist";
        case faas_errc::unauthorized: return "the FaaS credentials are missing, wrong or lack permission";
        case faas_errc::unsupported: return "the FaaS provider does not support this operation";
        }
        return "unknown FaaS error";
    }
};

}  // namespace

const boost::system::error_category& faas_category() noexcept {
    static const faas_category_impl cat;
    return cat;
}

std::string_view to_string(faas_errc kind) noexcept {
    switch (kind) {
    case faas_errc::invocation_failed: return "invocation_failed";
    case faas_errc::timeout: return "timeout";
    case faas_errc::function_error: return "function_error";
    case faas_errc::serialization: return "serialization";
    case faas_errc::infrastructure: return "infrastructure";
    case faas_errc::throttled: return "throttled";
    case faas_errc::not_found: return "not_found";
    case faas_errc::unauthorized: return "unauthorized";
    case faas_errc::unsupported: return "unsupported";
    }
    return "unknown";
}

std::string FaasError::to_string() const {
    std::string out = "faas.";
    out += faas::to_string(kind);
    out += ": ";
    out += message.empty() ? code().message() : message;
    if (!function_error_type.empty()) {
        out += " [";
        out += function_error_type;
        out += ']';
    }
    if (http_status != 0 || !request_id.empty()) {
        out += " (";
        if (http_status != 0) out += "HTTP " + std::to_string(http_status);
        if (!request_id.empty()) {
            if (http_status != 0) out += ", ";
            out += "request id " + request_id;
        }
        out += ')';
    }
    return out;
}

bool FaasError::is_transient() const noexcept {
    return kind == faas_errc::throttled || kind == faas_errc::infrastructure || kind == faas_errc::timeout;
}

}  // namespace blueprint::faas
