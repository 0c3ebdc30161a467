// Built-in consumers: collecting and JSON lines.
#include <blueprint/consumers.hpp>
#include <blueprint/faas/error.hpp>

#include <boost/json.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <condition_variable>
#include <fstream>
#include <iostream>

namespace blueprint {

namespace asio = boost::asio;
namespace json = boost::json;

// ---------------------------------------------------------------- CollectingConsumer

struct CollectingConsumer::State {
    mutable std::mutex mutex;
    mutable std::condition_variable arrived;
    std::vector<JobResult> results;
};

std::shared_ptr<CollectingConsumer::State> CollectingConsumer::make_state() { return std::make_shared<State>(); }

asio::awaitable<void> CollectingConsumer::send(JobResult result) {
    {
        std::lock_guard lock(state_->mutex);
        state_->results.push_back(std::move(result));
    }
    state_->arrived.notify_all();
    co_return;
}

std::vector<JobResult> CollectingConsumer::results() const {
    std::lock_guard lock(state_->mutex);
    return state_->results;
}

std::size_t CollectingConsumer::size() const {
    std::lock_guard lock(state_->mutex);
    return state_->results.size();
}

bool CollectingConsumer::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->arrived.wait_for(lock, timeout, [&] { return state_->results.size() >= n; });
}

// ---------------------------------------------------------------- JSON form

namespace {

std::string_view job_errc_name(int v) {
    switch (static_cast<job_errc>(v)) {
    case job_errc::handler_exception: return "handler_exception";
    case job_errc::handler_failed: return "handler_failed";
    case job_errc::no_route: return "no_route";
    case job_errc::cancelled: return "cancelled";
    case job_errc::timeout: return "timeout";
    }
    return {};
}

std::string_view job_id_errc_name(int v) {
    switch (static_cast<job_id_errc>(v)) {
    case job_id_errc::out_of_range: return "out_of_range";
    case job_id_errc::invalid_hex: return "invalid_hex";
    }
    return {};
}

std::string_view runner_errc_name(int v) {
    switch (static_cast<runner_errc>(v)) {
    case runner_errc::no_router: return "no_router";
    case runner_errc::no_producer: return "no_producer";
    case runner_errc::producer_failed: return "producer_failed";
    case runner_errc::job_failed: return "job_failed";
    case runner_errc::already_running: return "already_running";
    }
    return {};
}

// "<category>.<name>" with the "blueprint." prefix dropped, e.g.
// "faas.timeout", "job.cancelled". Codes of other categories use their
// category name and number, e.g. "system.111"; success is "ok".
std::string error_code_name(const error_code& ec) {
    if (!ec) return "ok";
    const auto& cat = ec.category();
    std::string_view name;
    std::string_view prefix;
    if (cat == faas::faas_category()) {
        prefix = "faas";
        name = faas::to_string(static_cast<faas::faas_errc>(ec.value()));
        if (name == "unknown") name = {};
    } else if (cat == job_category()) {
        prefix = "job";
        name = job_errc_name(ec.value());
    } else if (cat == job_id_category()) {
        prefix = "job_id";
        name = job_id_errc_name(ec.value());
    } else if (cat == runner_category()) {
        prefix = "runner";
        name = runner_errc_name(ec.value());
    } else {
        prefix = cat.name();
    }
    std::string out(prefix);
    out += '.';
    if (name.empty()) out += std::to_string(ec.value());
    else out += name;
    return out;
}

json::array bytes_to_json(const Bytes& bytes) {
    json::array arr;
    arr.reserve(bytes.size());
    for (auto b : bytes) arr.emplace_back(static_cast<std::uint64_t>(b));
    return arr;
}

}  // namespace

std::string job_result_to_json(const JobResult& result) {
    json::object obj;
    // A string, so full-width ids and ids above 2^53 survive JSON readers
    // that parse numbers as doubles.
    obj["job_id"] = result.job_id().to_string();
    obj["ok"] = result.is_ok();
    if (result.is_ok()) {
        obj["result"] = bytes_to_json(result.body());
    } else {
        const auto& err = result.error();
        json::object e;
        e["code"] = error_code_name(err.code);
        e["message"] = err.message;
        if (!err.type.empty()) e["type"] = err.type;
        obj["error"] = std::move(e);
    }
    json::object md;
    for (const auto& [key, value] : result.metadata()) {
        if (value.is_sensitive()) md[key] = "<redacted>";
        else md[key] = bytes_to_json(value.bytes());
    }
    obj["metadata"] = std::move(md);
    return json::serialize(obj);
}

// ---------------------------------------------------------------- JsonLinesConsumer

struct JsonLinesConsumer::Impl {
    std::unique_ptr<std::ofstream> file;
    std::ostream* out = nullptr;
    std::string target;
};

JsonLinesConsumer::JsonLinesConsumer(std::filesystem::path path) : impl_(std::make_unique<Impl>()) {
    if (path == "-") {
        impl_->out = &std::cout;
        impl_->target = "stdout";
        return;
    }
    impl_->target = path.string();
    impl_->file = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::app);
    if (!*impl_->file)
        throw boost::system::system_error(
            boost::system::errc::make_error_code(boost::system::errc::no_such_file_or_directory),
            "json-lines consumer: cannot open " + impl_->target);
    impl_->out = impl_->file.get();
}

JsonLinesConsumer::JsonLinesConsumer(std::ostream& out) : impl_(std::make_unique<Impl>()) {
    impl_->out = &out;
    impl_->target = "stream";
}

JsonLinesConsumer::~JsonLinesConsumer() = default;

// Calls are serialised by the runner, so the stream needs no lock. A failed
// write (disk full, closed pipe) throws, and the runner logs and counts it.
asio::awaitable<void> JsonLinesConsumer::send(JobResult result) {
    std::string line = job_result_to_json(result);
    line += '\n';
    impl_->out->write(line.data(), static_cast<std::streamsize>(line.size()));
    impl_->out->flush();
    if (!*impl_->out) {
        impl_->out->clear();
        throw boost::system::system_error(boost::system::errc::make_error_code(boost::system::errc::io_error),
                                          "json-lines consumer: write to " + impl_->target + " failed");
    }
    co_return;
}

}  // namespace blueprint
