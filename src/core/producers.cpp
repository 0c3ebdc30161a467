// Built-in producers: vector, in-memory channel, JSON lines, interval.
#include <blueprint/producers.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

namespace blueprint {

namespace asio = boost::asio;
namespace json = boost::json;

// ---------------------------------------------------------------- VectorProducer

VectorProducer::VectorProducer(std::vector<JobCall> calls) : calls_(std::move(calls)) {}

asio::awaitable<std::optional<JobCall>> VectorProducer::next() {
    if (next_ >= calls_.size()) co_return std::nullopt;
    co_return std::move(calls_[next_++]);
}

// ---------------------------------------------------------------- JobChannel

namespace {

// A parked `next()`: a completion handler of signature void(error_code),
// type-erased so the channel's state is not a template.
struct Waiter {
    virtual ~Waiter() = default;
    // Completes the wait on the handler's own executor, never inline: the
    // caller may be a foreign thread (send) or the io thread mid-cancellation.
    virtual void complete(error_code ec) = 0;
};

template <class Handler> struct WaiterImpl final : Waiter {
    explicit WaiterImpl(Handler&& h)
        : handler(std::move(h)),
          // Tracked work keeps run() from returning while a next() is parked
          // waiting for another thread to send.
          work(asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked)) {}

    void complete(error_code ec) override {
        auto ex = work;
        asio::post(ex, [h = std::move(handler), ec, w = std::move(work)]() mutable {
            auto slot = asio::get_associated_cancellation_slot(h);
            if (slot.is_connected()) slot.clear();
            std::move(h)(ec);
        });
    }

    Handler handler;
    decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>()),
                          asio::execution::outstanding_work.tracked)) work;
};

// The channel's shared state. A namespace-scope type so that the producer
// side can name it; JobChannel::State is just this.
struct ChannelCore : std::enable_shared_from_this<ChannelCore> {
    explicit ChannelCore(std::size_t cap) : capacity(cap == 0 ? 1 : cap) {}

    mutable std::mutex mutex;
    std::condition_variable not_full;
    std::deque<JobCall> queue;
    std::size_t capacity;
    bool closed = false;
    // At most one parked next() per waiter id; several producers of one
    // channel may each park one.
    std::uint64_t next_waiter_id = 1;
    std::vector<std::pair<std::uint64_t, std::unique_ptr<Waiter>>> waiters;

    // Takes every parked waiter; the caller completes them outside the lock.
    std::vector<std::unique_ptr<Waiter>> take_waiters_locked() {
        std::vector<std::unique_ptr<Waiter>> out;
        out.reserve(waiters.size());
        for (auto& [id, w] : waiters) out.push_back(std::move(w));
        waiters.clear();
        return out;
    }

    // Waits until the queue is non-empty or closed. Completes with
    // operation_aborted when the awaiting operation is cancelled.
    template <class Token> auto async_wait_ready(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [self = shared_from_this()](auto handler) {
                using H = std::decay_t<decltype(handler)>;
                auto slot = asio::get_associated_cancellation_slot(handler);
                std::unique_lock lock(self->mutex);
                if (!self->queue.empty() || self->closed) {
                    lock.unlock();
                    WaiterImpl<H>(std::move(handler)).complete({});
                    return;
                }
                auto id = self->next_waiter_id++;
                if (slot.is_connected()) {
                    slot.assign([weak = std::weak_ptr<ChannelCore>(self), id](asio::cancellation_type type) {
                        if (type == asio::cancellation_type::none) return;
                        auto st = weak.lock();
                        if (!st) return;
                        std::unique_ptr<Waiter> w;
                        {
                            std::lock_guard l(st->mutex);
                            for (auto it = st->waiters.begin(); it != st->waiters.end(); ++it) {
                                if (it->first == id) {
                                    w = std::move(it->second);
                                    st->waiters.erase(it);
                                    break;
                                }
                            }
                        }
                        if (w) w->complete(asio::error::operation_aborted);
                    });
                }
                self->waiters.emplace_back(id, std::make_unique<WaiterImpl<H>>(std::move(handler)));
            },
            token);
    }
};

class ChannelProducer final : public Producer {
public:
    explicit ChannelProducer(std::shared_ptr<ChannelCore> st) : state_(std::move(st)) {}

    // Cancellation: a parked next() that is cancelled throws
    // boost::system::system_error(operation_aborted), like any Asio operation
    // awaited with use_awaitable; queued calls stay queued.
    asio::awaitable<std::optional<JobCall>> next() override {
        for (;;) {
            {
                std::unique_lock lock(state_->mutex);
                if (!state_->queue.empty()) {
                    JobCall call = std::move(state_->queue.front());
                    state_->queue.pop_front();
                    lock.unlock();
                    state_->not_full.notify_one();
                    co_return call;
                }
                if (state_->closed) co_return std::nullopt;
            }
            // The state is re-checked under the lock when the wait starts,
            // so a send between the check above and here is not lost.
            co_await state_->async_wait_ready(asio::use_awaitable);
        }
    }
    std::string name() const override { return "channel"; }

private:
    std::shared_ptr<ChannelCore> state_;
};

}  // namespace

// Lifetime: a parked next() holds its coroutine's handler and tracked work
// here, so the io_context must outlive any next() still parked. The runner
// cancels a pending next() at shutdown, which releases it.
struct JobChannel::State : ChannelCore {
    using ChannelCore::ChannelCore;
};

JobChannel::JobChannel(std::size_t capacity) : state_(std::make_shared<State>(capacity)) {}

// Closing on destruction releases any parked next(); queued calls can still
// be drained by a producer that outlives the channel.
JobChannel::~JobChannel() { close(); }

bool JobChannel::try_send(JobCall call) {
    std::vector<std::unique_ptr<Waiter>> wake;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->closed || state_->queue.size() >= state_->capacity) return false;
        state_->queue.push_back(std::move(call));
        wake = state_->take_waiters_locked();
    }
    for (auto& w : wake) w->complete({});
    return true;
}

bool JobChannel::send(JobCall call) {
    std::vector<std::unique_ptr<Waiter>> wake;
    {
        std::unique_lock lock(state_->mutex);
        state_->not_full.wait(lock, [&] { return state_->closed || state_->queue.size() < state_->capacity; });
        if (state_->closed) return false;
        state_->queue.push_back(std::move(call));
        wake = state_->take_waiters_locked();
    }
    for (auto& w : wake) w->complete({});
    return true;
}

void JobChannel::close() {
    std::vector<std::unique_ptr<Waiter>> wake;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->closed) return;
        state_->closed = true;
        wake = state_->take_waiters_locked();
    }
    state_->not_full.notify_all();
    for (auto& w : wake) w->complete({});
}

bool JobChannel::is_closed() const {
    std::lock_guard lock(state_->mutex);
    return state_->closed;
}

std::shared_ptr<Producer> JobChannel::producer() { return std::make_shared<ChannelProducer>(state_); }

// ---------------------------------------------------------------- JSON parsing

namespace {

Error invalid(std::string message) {
    return Error{boost::system::errc::make_error_code(boost::system::errc::invalid_argument), std::move(message)};
}

// Bytes are a JSON array of integers 0-255, or a string meaning its UTF-8 bytes.
std::expected<Bytes, Error> bytes_from_json(const json::value& v, std::string_view what) {
    if (v.is_string()) {
        const auto& s = v.get_string();
        return Bytes(s.begin(), s.end());
    }
    if (!v.is_array()) return std::unexpected(invalid(std::string(what) + " must be a byte array or a string"));
    const auto& arr = v.get_array();
    Bytes out;
    out.reserve(arr.size());
    for (const auto& e : arr) {
        std::int64_t n = -1;
        if (e.is_int64()) n = e.get_int64();
        else if (e.is_uint64() && e.get_uint64() <= 255) n = static_cast<std::int64_t>(e.get_uint64());
        if (n < 0 || n > 255) return std::unexpected(invalid(std::string(what) + " holds a value that is not a byte (0-255)"));
        out.push_back(static_cast<std::uint8_t>(n));
    }
    return out;
}

std::expected<JobId, Error> job_id_from_json(const json::value& v) {
    if (v.is_uint64()) return JobId(v.get_uint64());
    if (v.is_int64()) {
        auto n = v.get_int64();
        if (n < 0) return std::unexpected(invalid("job_id is negative"));
        return JobId(static_cast<std::uint64_t>(n));
    }
    if (v.is_string()) {
        auto parsed = JobId::parse(std::string_view(v.get_string()));
        if (!parsed) {
            // Quote at most a short prefix: the text is untrusted and may be huge.
            std::string_view text(v.get_string());
            std::string shown(text.substr(0, 80));
            if (text.size() > 80) shown += "...";
            return std::unexpected(Error{parsed.error(), "job_id \"" + shown + "\""});
        }
        return *parsed;
    }
    return std::unexpected(invalid("job_id must be an unsigned integer or a \"0x...\" string"));
}

}  // namespace

std::expected<JobCall, Error> parse_job_call_json(std::string_view line) {
    error_code ec;
    json::value doc = json::parse(line, ec);
    if (ec) return std::unexpected(Error{ec, "not valid JSON"});
    if (!doc.is_object()) return std::unexpected(invalid("a job call must be a JSON object"));
    const auto& obj = doc.get_object();

    const auto* id_v = obj.if_contains("job_id");
    if (!id_v) return std::unexpected(invalid("missing job_id"));
    auto id = job_id_from_json(*id_v);
    if (!id) return std::unexpected(id.error());

    Bytes body;
    if (const auto* args = obj.if_contains("args"); args && !args->is_null()) {
        auto b = bytes_from_json(*args, "args");
        if (!b) return std::unexpected(b.error());
        body = std::move(*b);
    }

    Metadata metadata;
    if (const auto* md = obj.if_contains("metadata"); md && !md->is_null()) {
        if (!md->is_object()) return std::unexpected(invalid("metadata must be an object"));
        for (const auto& [key, value] : md->get_object()) {
            auto b = bytes_from_json(value, "metadata value \"" + std::string(key) + "\"");
            if (!b) return std::unexpected(b.error());
            metadata.insert(std::string(key), MetadataValue(std::move(*b)));
        }
    }
    return JobCall(*id, std::move(body), std::move(metadata));
}

// ---------------------------------------------------------------- JsonLinesProducer

namespace {

enum class LineStatus { ok, oversize, eof };

// Reads one '\n'-terminated line, keeping at most max+1 bytes so an endless
// line cannot exhaust memory; the rest of an oversize line is discarded.
LineStatus read_line(std::istream& in, std::string& line, std::size_t max) {
    line.clear();
    auto* sb = in.rdbuf();
    if (!sb) return LineStatus::eof;
    bool any = false;
    for (;;) {
        int c = sb->sbumpc();
        if (c == std::char_traits<char>::eof()) {
            in.setstate(std::ios::eofbit);
            if (!any) return LineStatus::eof;
            break;
        }
        any = true;
        if (c == '\n') break;
        if (line.size() <= max) line.push_back(static_cast<char>(c));
    }
    if (line.size() > max) {
        // A line of exactly max bytes followed by "\r\n" is still fine.
        if (line.size() == max + 1 && line.back() == '\r') {
            line.pop_back();
            return LineStatus::ok;
        }
        return LineStatus::oversize;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return LineStatus::ok;
}

bool is_skippable(std::string_view line) {
    auto pos = line.find_first_not_of(" \t");
    return pos == std::string_view::npos || line[pos] == '#';
}

}  // namespace

struct JsonLinesProducer::Impl {
    // Shared with the stdin reader thread, which may outlive the producer.
    struct Shared {
        LogSink log;
        std::size_t max_line_bytes = 0;
        std::string source;
        std::atomic<std::size_t> malformed{0};
        std::size_t line_no = 0;

        // Reads lines until a call, or nullopt at the end of the input.
        std::optional<JobCall> read_next(std::istream& in) {
            std::string line;
            for (;;) {
                auto status = read_line(in, line, max_line_bytes);
                if (status == LineStatus::eof) return std::nullopt;
                ++line_no;
                if (status == LineStatus::oversize) {
                    report("line longer than " + std::to_string(max_line_bytes) + " bytes");
                    continue;
                }
                if (is_skippable(line)) continue;
                auto call = parse_job_call_json(line);
                if (!call) {
                    report(call.error().to_string());
                    continue;
                }
                return std::move(*call);
            }
        }

        void report(const std::string& why) {
            malformed.fetch_add(1, std::memory_order_relaxed);
            if (log) log(LogLevel::warn, source + ":" + std::to_string(line_no) + ": skipped malformed line: " + why);
        }
    };

    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    std::unique_ptr<std::ifstream> file;
    std::istream* in = nullptr;
    bool open_failed = false;
    // stdin may block indefinitely (a terminal, a pipe), so it is read on a
    // detached thread that feeds a channel; the io thread never blocks on it.
    // The thread ends at EOF or at its next line after the producer is gone.
    bool use_stdin = false;
    std::shared_ptr<JobChannel> channel_owner;
    std::shared_ptr<Producer> stdin_producer;

    void start_stdin_reader() {
        channel_owner = std::make_shared<JobChannel>(256);
        stdin_producer = channel_owner->producer();
        std::thread([ch = channel_owner, sh = shared] {
            while (auto call = sh->read_next(std::cin)) {
                if (!ch->send(std::move(*call))) return;  // the producer is gone
            }
            ch->close();
        }).detach();
    }
};

JsonLinesProducer::JsonLinesProducer(std::filesystem::path path, LogSink log, std::size_t max_line_bytes)
    : impl_(std::make_unique<Impl>()) {
    impl_->shared->log = std::move(log);
    impl_->shared->max_line_bytes = max_line_bytes;
    if (path == "-") {
        impl_->shared->source = "stdin";
        impl_->use_stdin = true;
        return;
    }
    impl_->shared->source = path.string();
    impl_->file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*impl_->file) {
        impl_->open_failed = true;
    } else {
        impl_->in = impl_->file.get();
    }
}

JsonLinesProducer::JsonLinesProducer(std::istream& in, LogSink log, std::size_t max_line_bytes)
    : impl_(std::make_unique<Impl>()) {
    impl_->shared->log = std::move(log);
    impl_->shared->max_line_bytes = max_line_bytes;
    impl_->shared->source = "stream";
    impl_->in = &in;
}

JsonLinesProducer::~JsonLinesProducer() {
    // Lets the stdin thread stop at its next send instead of filling the queue.
    if (impl_ && impl_->channel_owner) impl_->channel_owner->close();
}

asio::awaitable<std::optional<JobCall>> JsonLinesProducer::next() {
    if (impl_->use_stdin) {
        // Started on first use, so a producer that is never run never reads.
        if (!impl_->stdin_producer) impl_->start_stdin_reader();
        co_return co_await impl_->stdin_producer->next();
    }
    if (impl_->open_failed) {
        // A missing input file is a producer error, not an empty stream.
        throw boost::system::system_error(boost::system::errc::make_error_code(boost::system::errc::no_such_file_or_directory),
                                          "json-lines: cannot open " + impl_->shared->source);
    }
    co_return impl_->shared->read_next(*impl_->in);
}

std::string JsonLinesProducer::name() const { return "json-lines:" + impl_->shared->source; }

std::size_t JsonLinesProducer::malformed_lines() const noexcept {
    return impl_->shared->malformed.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------- IntervalProducer

IntervalProducer::IntervalProducer(std::chrono::milliseconds period, JobId job_id, Bytes body, std::size_t count)
    : period_(period), job_id_(job_id), body_(std::move(body)), count_(count) {}

// Fixed rate without bursts: ticks are `period` apart, but a consumer that
// fell behind gets one immediate call rather than all the missed ones.
// Cancellation: the timer wait throws system_error(operation_aborted).
asio::awaitable<std::optional<JobCall>> IntervalProducer::next() {
    if (count_ != 0 && produced_ >= count_) co_return std::nullopt;
    auto now = std::chrono::steady_clock::now();
    auto target = next_at_ ? *next_at_ + period_ : now + period_;
    if (target < now) target = now;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_at(target);
    co_await timer.async_wait(asio::use_awaitable);
    next_at_ = target;
    ++produced_;
    co_return JobCall(job_id_, body_);
}

}  // namespace blueprint
