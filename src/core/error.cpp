// Error categories of the core (job, job id, runner) and Error::to_string.
#include <blueprint/error.hpp>

namespace blueprint {
namespace {

class job_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.job"; }
    std::string message(int ev) const override {
        switch (static_cast<job_errc>(ev)) {
        case job_errc::handler_exception: return "the job handler threw an exception";
        case job_errc::handler_failed: return "the job handler returned an error";
        case job_errc::no_route: return "no handler is routed for this job id";
        case job_errc::cancelled: return "the job was cancelled at shutdown";
        case job_errc::timeout: return "the job ran past its timeout";
        }
        return "unknown job error";
    }
};

class job_id_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.job_id"; }
    std::string message(int ev) const override {
        switch (static_cast<job_id_errc>(ev)) {
        case job_id_errc::out_of_range: return "the job id does not fit in the requested width";
        case job_id_errc::invalid_hex: return "the job id is not 1-64 hexadecimal digits";
        }
        return "unknown job id error";
    }
};

class runner_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.runner"; }
    std::string message(int ev) const override {
        switch (static_cast<runner_errc>(ev)) {
        case runner_errc::no_router: return "the runner has no router";
        case runner_errc::no_producer: return "the runner has no producer";
        case runner_errc::producer_failed: return "a producer failed";
        case runner_errc::job_failed: return "a job failed and the runner stops on failure";
        case runner_errc::already_running: return "the runner is already running or has run";
        }
        return "unknown runner error";
    }
};

}  // namespace

const boost::system::error_category& job_category() noexcept {
    static const job_category_impl cat;
    return cat;
}
const boost::system::error_category& job_id_category() noexcept {
    static const job_id_category_impl cat;
    return cat;
}
const boost::system::error_category& runner_category() noexcept {
    static const runner_category_impl cat;
    return cat;
}

std::string Error::to_string() const {
    std::string out = code.category().name();
    out += ": ";
    out += code.message();
    if (!message.empty()) {
        out += ": ";
        out += message;
    }
    return out;
}

}  // namespace blueprint
