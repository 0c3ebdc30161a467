// Router: maps job ids to local handlers.
#pragma once

#include <blueprint/job.hpp>

#include <boost/asio/awaitable.hpp>

#include <any>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <vector>

namespace blueprint {

template <class T> using awaitable = boost::asio::awaitable<T>;

/// Shared state handed to handlers that ask for it (`Router::with_context`).
class RouterContext {
public:
    template <class T> void set(std::shared_ptr<T> value) { values_[typeid(T)] = std::move(value); }
    /// The value of type T given to `with_context`, or null.
    template <class T> std::shared_ptr<T> get() const {
        auto it = values_.find(typeid(T));
        if (it == values_.end()) return nullptr;
        return std::any_cast<std::shared_ptr<T>>(it->second);
    }

private:
    std::unordered_map<std::type_index, std::any> values_;
};

/// A handler after normalisation. Exactly one of the two is set.
///
/// `inline_fn` runs on the runner's loop and must not block. `async_fn` is a
/// coroutine (or a blocking function wrapped by `blocking(...)`, which the
/// runner moves onto its thread pool). A result of `std::nullopt` means the
/// handler yields nothing for this call.
struct Handler {
    using inline_type = std::function<std::optional<JobResult>(JobCall, const RouterContext&)>;
    using async_type = std::function<awaitable<std::optional<JobResult>>(JobCall, const RouterContext&)>;
    using blocking_type = inline_type;

    inline_type inline_fn;
    async_type async_fn;
    blocking_type blocking_fn;
};

namespace detail {
template <class R> struct is_awaitable : std::false_type {};
template <class T> struct is_awaitable<boost::asio::awaitable<T>> : std::true_type {};

// Turns what a handler returns into an optional result.
template <class R> std::optional<JobResult> to_result(R&& r) {
    using D = std::remove_cvref_t<R>;
    if constexpr (std::is_same_v<D, JobResult>) return std::optional<JobResult>(std::forward<R>(r));
    else if constexpr (std::is_same_v<D, std::optional<JobResult>>) return std::forward<R>(r);
    else if constexpr (std::is_same_v<D, Bytes>) return JobResult::ok(std::forward<R>(r));
    else static_assert(sizeof(D) == 0, "a handler returns JobResult, std::optional<JobResult>, Bytes or void");
}

template <class F> decltype(auto) call_handler(F& f, JobCall&& call, const RouterContext& ctx) {
    if constexpr (std::is_invocable_v<F&, JobCall, const RouterContext&>) return f(std::move(call), ctx);
    else return f(std::move(call));
}

template <class F>
using handler_return_t = decltype(call_handler(std::declval<F&>(), std::declval<JobCall&&>(),
                                               std::declval<const RouterContext&>()));

template <class F> Handler make_handler(F f);
}  // namespace detail

/// Marks a handler as blocking: the runner runs it on its thread pool so it
/// never stalls the event loop. Plain (non-coroutine) handlers that are not
/// marked run inline on the loop and must be quick.
template <class F> struct BlockingHandler {
    F fn;
};
template <class F> BlockingHandler<std::decay_t<F>> blocking(F&& f) { return {std::forward<F>(f)}; }

namespace detail {
template <class F> struct is_blocking_handler : std::false_type {};
template <class G> struct is_blocking_handler<BlockingHandler<G>> : std::true_type {
    using fn_type = G;
};
}  // namespace detail

/// Routes job calls to local handlers.
///
/// A handler is any callable taking `JobCall` (or `JobCall, const RouterContext&`)
/// and returning `JobResult`, `std::optional<JobResult>`, `Bytes`, `void`, or an
/// `awaitable` of one of these. One call can match several handlers: every
/// `route` for its id plus every `always`; `fallback` runs only when no route
/// matched. Each handler yields zero or one result.
class Router {
public:
    template <class F> Router& route(JobId id, F&& handler) {
        routes_[id].push_back(detail::make_handler(std::forward<F>(handler)));
        return *this;
    }
    template <class F> Router& always(F&& handler) {
        always_.push_back(detail::make_handler(std::forward<F>(handler)));
        return *this;
    }
    template <class F> Router& fallback(F&& handler) {
        fallback_ = detail::make_handler(std::forward<F>(handler));
        return *this;
    }
    /// Shares `value` with every handler that takes a `const RouterContext&`.
    template <class T> Router& with_context(std::shared_ptr<T> value) {
        context_->set(std::move(value));
        return *this;
    }

    /// The handlers that a call with this id runs, in order: routes, then
    /// `always` handlers; the fallback when no route exists. Empty when none.
    std::vector<const Handler*> handlers_for(const JobId& id) const;
    bool has_route(const JobId& id) const { return routes_.contains(id); }
    const RouterContext& context() const noexcept { return *context_; }

private:
    std::unordered_map<JobId, std::vector<Handler>> routes_;
    std::vector<Handler> always_;
    std::optional<Handler> fallback_;
    std::shared_ptr<RouterContext> context_ = std::make_shared<RouterContext>();
};

template <class F> Handler detail::make_handler(F f) {
    Handler h;
    if constexpr (is_blocking_handler<F>::value) {
        using G = typename is_blocking_handler<F>::fn_type;
        h.blocking_fn = [g = std::move(f.fn)](JobCall call, const RouterContext& ctx) mutable -> std::optional<JobResult> {
            using R = handler_return_t<G>;
            if constexpr (std::is_void_v<R>) {
                call_handler(g, std::move(call), ctx);
                return std::nullopt;
            } else {
                return to_result(call_handler(g, std::move(call), ctx));
            }
        };
    } else {
        using R = handler_return_t<F>;
        if constexpr (is_awaitable<R>::value) {
            h.async_fn = [f = std::move(f)](JobCall call, const RouterContext& ctx) mutable
                -> awaitable<std::optional<JobResult>> {
                using T = typename R::value_type;
                if constexpr (std::is_void_v<T>) {
                    co_await call_handler(f, std::move(call), ctx);
                    co_return std::nullopt;
                } else {
                    co_return to_result(co_await call_handler(f, std::move(call), ctx));
                }
            };
        } else {
            h.inline_fn = [f = std::move(f)](JobCall call, const RouterContext& ctx) mutable -> std::optional<JobResult> {
                if constexpr (std::is_void_v<R>) {
                    call_handler(f, std::move(call), ctx);
                    return std::nullopt;
                } else {
                    return to_result(call_handler(f, std::move(call), ctx));
                }
            };
        }
    }
    return h;
}

}  // namespace blueprint
