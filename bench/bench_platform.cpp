// The local platform's invocation path (`bpfaas local`), measured against a
// direct HTTP call to the same handler, all in one run:
//
//   direct      custom::HttpFaasExecutor -> tests/test_function in HTTP mode
//   custom API  HttpFaasExecutor::platform -> bpfaas local -> Runtime API instance
//   lambda      aws::LambdaExecutor (SigV4-signed) -> bpfaas local (no verification)
//   lambda+v4   the same, the platform started with --aws-credentials (verifies)
//
// Each is a closed loop of Blueprint JSON echo calls (job 0, `--payload`
// bytes of args) at c=1 and c=16, warm (16 instances started first).
// Then cold starts: a platform with --keep-alive 0 runs examples/square, and
// each sequential call waits for a new instance (checked: cold_start is set).
//
//   build/bench/bench_platform --bpfaas build/apps/bpfaas/bpfaas
//       --function build/tests/test_function --square build/examples/square
//       [--seconds 3] [--rounds 1] [--payload 64] [--cold 30] [--concurrency 1,16]
//       [--only direct,custom,lambda,lambda+v4,cold]
//       [--wrap "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out"]
//   (one command line)
//
// --wrap prefixes the platform command of the warm runs (for profiling).
// c=1 interleaves the paths call by call (same moment, same load for all);
// other levels run each path in turn. With --rounds N everything is
// measured N times, alternating the order, and each path's best round is
// kept (by p50 at c=1, by calls/s otherwise).
// At each c>1 level a second table splits the CPU cost per call: client
// (this process), platform (`bpfaas local`) and its instances (or, for
// direct, the test_function server); each is whole-process user+sys CPU
// from /proc/PID/stat over the measured window, divided by the calls
// completed in it. Direct's total over a path's total bounds how fast
// that path could go relative to direct once CPU is the limit.
// Not a Google Benchmark: it drives real processes, so it has its own main.
#include "bench_child.hpp"

#include <blueprint/faas/aws.hpp>
#include <blueprint/faas/custom.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>


namespace {

using bench::Child;
using namespace blueprint;
using namespace std::chrono;
namespace asio = boost::asio;
namespace fs = std::filesystem;


/// CPU time in clock ticks (sysconf(_SC_CLK_TCK)).
struct Ticks {
    long user = 0, sys = 0;
    Ticks& operator+=(const Ticks& o) {
        user += o.user;
        sys += o.sys;
        return *this;
    }
    Ticks operator-(const Ticks& o) const { return {user - o.user, sys - o.sys}; }
};

/// Fields 4 (ppid), 14 (utime) and 15 (stime) of /proc/PID/stat.
struct ProcStat {
    pid_t ppid = 0;
    Ticks cpu;
};
std::optional<ProcStat> read_stat(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    // comm (field 2) is in parentheses and may hold spaces or ')': parse after the last ')'.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(paren + 1));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string w; f.size() < 13 && rest >> w;) f.push_back(w);
    if (f.size() < 13) return std::nullopt;
    try {
        return ProcStat{static_cast<pid_t>(std::stol(f[1])), {std::stol(f[11]), std::stol(f[12])}};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

/// Whose CPU a closed loop samples: the server it talks to and, for the
/// platform, the processes below it (its instances).
struct CpuTarget {
    pid_t server = -1;
    bool descendants = false;
};

/// One reading of the CPU clocks of client, server and the server's descendants.
struct CpuSample {
    Ticks client, server;
    std::map<pid_t, Ticks> below;
};

/// The descendants of `root` now, from one scan of /proc.
std::map<pid_t, Ticks> descendants(pid_t root) {
    std::map<pid_t, ProcStat> all;
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (auto st = read_stat(it->path().string() + "/stat")) all[static_cast<pid_t>(std::stol(name))] = *st;
    }
    std::map<pid_t, Ticks> out;
    std::vector<pid_t> frontier{root};
    while (!frontier.empty()) {
        const pid_t parent = frontier.back();
        frontier.pop_back();
        for (const auto& [pid, st] : all)
            if (st.ppid == parent && out.emplace(pid, st.cpu).second) frontier.push_back(pid);
    }
    return out;
}

/// At the window's start the client is read last and at its end first, so
/// that the /proc scan itself is (mostly) outside the client's figure.
CpuSample cpu_sample(const CpuTarget& t, bool at_start) {
    CpuSample s;
    auto self = [&] {
        if (auto st = read_stat("/proc/self/stat")) s.client = st->cpu;
    };
    if (!at_start) self();
    if (t.descendants) s.below = descendants(t.server);
    if (auto st = read_stat("/proc/" + std::to_string(t.server) + "/stat")) s.server = st->cpu;
    if (at_start) self();
    return s;
}

/// CPU used over a measured window, in ticks, and the calls completed in it.
struct CpuUse {
    bool measured = false;
    bool platform = false;  // server = bpfaas local, below = its instances
    double window_s = 0;
    std::size_t calls = 0;
    Ticks client, server, below;
};

CpuUse cpu_use(const CpuTarget& t, const CpuSample& a, const CpuSample& b, double window_s, std::size_t calls) {
    CpuUse u;
    u.measured = true;
    u.platform = t.descendants;
    u.window_s = window_s;
    u.calls = calls;
    u.client = b.client - a.client;
    u.server = b.server - a.server;
    // A process present at both samples counts its difference; one started
    // in the window counts all its CPU; one gone by the end loses its last slice.
    for (const auto& [pid, end] : b.below) {
        auto it = a.below.find(pid);
        u.below += it == a.below.end() ? end : end - it->second;
    }
    return u;
}

struct Figures {
    double rps = 0;
    double p50_us = 0, p99_us = 0;
    std::size_t errors = 0;
    std::size_t calls = 0;
    CpuUse cpu;
};

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(static_cast<double>(v.size()) * p))];
}

/// `concurrency` workers call `exec` back to back; the first `warmup` is not counted.
/// With a `cpu` target, CPU clocks are read at the window's start and end.
Figures closed_loop(faas::FaasExecutor& exec, std::size_t concurrency, milliseconds warmup, milliseconds measure,
                    std::size_t payload, std::optional<CpuTarget> cpu = std::nullopt) {
    asio::io_context ioc;
    std::vector<double> lat;
    std::size_t errors = 0;
    const auto start = steady_clock::now();
    const auto measure_from = start + warmup;
    const auto stop_at = measure_from + measure;
    // Samples are taken on this thread, between calls' completions, so the
    // calls completed between the two are exactly those counted here.
    bool in_cpu_window = false;
    std::size_t cpu_calls = 0;
    CpuSample cpu_from, cpu_to;
    steady_clock::time_point cpu_t0, cpu_t1;
    if (cpu)
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                asio::steady_timer timer(co_await asio::this_coro::executor);
                timer.expires_at(measure_from);
                co_await timer.async_wait(asio::use_awaitable);
                cpu_from = cpu_sample(*cpu, true);
                cpu_t0 = steady_clock::now();
                in_cpu_window = true;
                timer.expires_at(stop_at);
                co_await timer.async_wait(asio::use_awaitable);
                in_cpu_window = false;
                cpu_t1 = steady_clock::now();
                cpu_to = cpu_sample(*cpu, false);
            },
            asio::detached);
    for (std::size_t w = 0; w < concurrency; ++w) {
        auto worker = [&]() -> asio::awaitable<void> {
            Bytes args(payload, 'x');
            while (steady_clock::now() < stop_at) {
                JobCall call(0, args);
                const auto t0 = steady_clock::now();
                auto r = co_await exec.invoke(std::move(call));
                const auto t1 = steady_clock::now();
                const bool ok = r && r->is_ok() && r->body() == args;
                if (ok && in_cpu_window) ++cpu_calls;
                if (t0 < measure_from || t1 > stop_at) continue;
                if (!ok) {
                    if (errors++ == 0)
                        std::cerr << "error: "
                                  << (r ? (r->is_ok() ? "wrong body" : r->error().message) : r.error().to_string())
                                  << "\n";
                    continue;
                }
                lat.push_back(duration<double, std::micro>(t1 - t0).count());
            }
        };
        asio::co_spawn(ioc, worker, asio::detached);
    }
    ioc.run();
    Figures f;
    f.errors = errors;
    f.calls = lat.size();
    f.rps = static_cast<double>(lat.size()) / duration<double>(measure).count();
    f.p50_us = percentile(lat, 0.50);
    f.p99_us = percentile(lat, 0.99);
    if (cpu) f.cpu = cpu_use(*cpu, cpu_from, cpu_to, duration<double>(cpu_t1 - cpu_t0).count(), cpu_calls);
    return f;
}

/// c=1, all paths interleaved call by call (direct, custom, lambda, ...,
/// direct, ...): every path sees the same moment's load and CPU clock, so
/// latency differences are the paths' own. Calls/s is 1 / mean latency.
std::vector<Figures> interleaved(const std::vector<faas::FaasExecutor*>& execs, milliseconds warmup,
                                 milliseconds measure, std::size_t payload) {
    std::vector<std::vector<double>> lat(execs.size());
    std::vector<std::size_t> errors(execs.size());
    asio::io_context ioc;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            Bytes args(payload, 'x');
            const auto measure_from = steady_clock::now() + warmup;
            const auto stop_at = measure_from + measure * static_cast<long>(execs.size());
            while (steady_clock::now() < stop_at) {
                for (std::size_t i = 0; i < execs.size(); ++i) {
                    JobCall call(0, args);
                    const auto t0 = steady_clock::now();
                    auto r = co_await execs[i]->invoke(std::move(call));
                    const auto t1 = steady_clock::now();
                    if (t0 < measure_from) continue;
                    if (!r || !r->is_ok() || r->body() != args) {
                        ++errors[i];
                        continue;
                    }
                    lat[i].push_back(duration<double, std::micro>(t1 - t0).count());
                }
            }
        },
        asio::detached);
    ioc.run();
    std::vector<Figures> out(execs.size());
    for (std::size_t i = 0; i < execs.size(); ++i) {
        auto& f = out[i];
        f.errors = errors[i];
        f.calls = lat[i].size();
        double sum = 0;
        for (double x : lat[i]) sum += x;
        f.rps = sum > 0 ? static_cast<double>(f.calls) / (sum / 1e6) : 0;
        f.p50_us = percentile(lat[i], 0.50);
        f.p99_us = percentile(lat[i], 0.99);
    }
    return out;
}

/// Runs `body` on a fresh io_context to completion.
template <class F> void run(F body) {
    asio::io_context ioc;
    asio::co_spawn(ioc, std::move(body), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    ioc.run();
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void deploy_and_warm(faas::FaasExecutor& exec, const std::string& binary, std::size_t warm, const char* what) {
    std::string failure;
    run([&]() -> asio::awaitable<void> {
        faas::FaasConfig config;
        config.timeout_secs = 60;
        auto d = co_await exec.deploy_job(0, read_file(binary), config);
        if (!d) {
            failure = "deploy: " + d.error().to_string();
            co_return;
        }
        if (warm == 0) co_return;
        auto w = co_await exec.warm(0, warm);
        if (!w) failure = "warm: " + w.error().to_string();
    });
    if (!failure.empty()) throw std::runtime_error(std::string(what) + ": " + failure);
}

std::shared_ptr<faas::aws::LambdaExecutor> lambda_executor(const std::string& url, faas::http::ClientOptions client) {
    faas::aws::LambdaOptions o;
    o.region = "us-east-1";
    o.role_arn = "arn:aws:iam::123456789012:role/bench";
    o.endpoint_url = url;
    o.credentials = faas::aws::StaticCredentials{"AKIDBENCH", "benchsecret"};
    o.use_imds = false;
    o.http = std::move(client);
    o.poll_initial = 20ms;
    auto e = faas::aws::LambdaExecutor::create(o);
    if (!e) throw std::runtime_error(e.error().to_string());
    return std::move(*e);
}

std::string loadavg() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

std::vector<std::string> split_words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

/// Sequential calls of `exec` (job 0 = square of 7), each with no warm
/// instance: the platform runs with --keep-alive 0, and we wait for the
/// previous instance's exit before the next call.
struct ColdFigures {
    std::vector<double> us;
    std::size_t not_cold = 0, errors = 0;
};
ColdFigures cold_starts(faas::FaasExecutor& exec, std::size_t n) {
    ColdFigures out;
    // Outside the coroutine: GCC 12 cannot brace-initialise these inside one.
    const Bytes seven{0, 0, 0, 0, 0, 0, 0, 7}, forty_nine{0, 0, 0, 0, 0, 0, 0, 49};
    run([&]() -> asio::awaitable<void> {
        asio::steady_timer pause(co_await asio::this_coro::executor);
        for (std::size_t i = 0; i < n; ++i) {
            pause.expires_after(100ms);  // the previous instance stops (SIGTERM) and exits
            co_await pause.async_wait(asio::use_awaitable);
            const auto t0 = steady_clock::now();
            auto r = co_await exec.invoke_with_metrics(JobCall(0, seven));
            const auto t1 = steady_clock::now();
            if (!r || !r->result.is_ok() || r->result.body() != forty_nine) {
                if (out.errors++ == 0)
                    std::cerr << "cold call failed: " << (r ? (r->result.is_ok() ? "wrong body" : r->result.error().message)
                                                            : r.error().to_string())
                              << "\n";
                continue;
            }
            if (r->metrics.cold_start != true) ++out.not_cold;
            out.us.push_back(duration<double, std::micro>(t1 - t0).count());
        }
    });
    return out;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string bpfaas, function, square, wrap, only = "direct,custom,lambda,lambda+v4,cold";
    std::size_t payload = 64, cold_n = 30, rounds = 1;
    std::vector<std::size_t> levels{1, 16};
    double secs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        if (k == "--bpfaas") bpfaas = argv[i + 1];
        else if (k == "--function") function = argv[i + 1];
        else if (k == "--square") square = argv[i + 1];
        else if (k == "--seconds") secs = std::stod(argv[i + 1]);
        else if (k == "--rounds") rounds = std::max<std::size_t>(1, std::stoul(argv[i + 1]));
        else if (k == "--payload") payload = std::stoul(argv[i + 1]);
        else if (k == "--cold") cold_n = std::stoul(argv[i + 1]);
        else if (k == "--only") only = argv[i + 1];
        else if (k == "--wrap") wrap = argv[i + 1];
        else if (k == "--concurrency") {
            levels.clear();
            std::string list = argv[i + 1];
            for (std::size_t pos = 0; pos <= list.size();) {
                auto comma = list.find(',', pos);
                if (comma == std::string::npos) comma = list.size();
                levels.push_back(std::stoul(list.substr(pos, comma - pos)));
                pos = comma + 1;
            }
        }
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    if (bpfaas.empty() || function.empty() || (square.empty() && only.find("cold") != std::string::npos)) {
        std::cerr << "usage: bench_platform --bpfaas PATH --function PATH --square PATH [--seconds 3] [--rounds 1]\n"
                     "       [--payload 64] [--cold 30] [--concurrency 1,16] [--only direct,custom,lambda,lambda+v4,cold]\n"
                     "       [--wrap CMD]\n";
        return 2;
    }
    auto wanted = [&](std::string_view name) {
        std::string list = "," + only + ",";
        return list.find("," + std::string(name) + ",") != std::string::npos;
    };
    char tmpl[] = "/tmp/bench-platform-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    const fs::path dir = tmpl;
    const std::size_t warm = 16;
    const auto measure = milliseconds(static_cast<long>(secs * 1000));
    const std::string load_start = loadavg();

    faas::http::ClientOptions client;
    client.use_env_proxy = false;

    auto platform_argv = [&](const std::string& data, bool verify, unsigned keep_alive, bool wrapped) {
        std::vector<std::string> argv;
        if (wrapped) argv = split_words(wrap);
        for (std::string a : {bpfaas, std::string("local"), std::string("--port"), std::string("0"),
                              std::string("--data-dir"), (dir / data).string(), std::string("--no-memory-limit"),
                              std::string("--max-instances"), std::string("64"), std::string("--keep-alive"),
                              std::to_string(keep_alive)})
            argv.push_back(a);
        if (verify) argv.insert(argv.end(), {"--aws-credentials", "AKIDBENCH:benchsecret"});
        return argv;
    };

    // Paths to measure, each an executor; the children stay up for all rounds.
    struct Path {
        std::string name;
        std::function<faas::FaasExecutor&()> exec;
        std::map<std::size_t, Figures> best;  // by concurrency
        CpuTarget cpu;  // whose CPU a c>1 window samples besides ours
    };
    std::vector<Path> paths;
    std::optional<Child> fn, plain, verified;
    std::optional<faas::custom::HttpFaasExecutor> direct, custom;
    std::shared_ptr<faas::aws::LambdaExecutor> lambda, lambda_v4;

    if (wanted("direct")) {
        fn.emplace(std::vector<std::string>{function}, std::vector<std::string>{"PORT=0"}, dir / "function.log");
        direct.emplace(fn->url(), client);
        // Same wire format as the platform paths (Lambda events are JSON).
        direct->with_wire_format(faas::custom::WireFormat::json);
        paths.push_back(
            {"direct HTTP (test_function)", [&]() -> faas::FaasExecutor& { return *direct; }, {}, {fn->pid, false}});
    }
    if (wanted("custom") || wanted("lambda")) {
        plain.emplace(platform_argv("plain", false, 300, !wrap.empty()), std::vector<std::string>{},
                      dir / "platform.log");
        const auto url = plain->url();
        if (wanted("custom")) {
            custom.emplace(faas::custom::HttpFaasExecutor::platform(url, client));
            deploy_and_warm(*custom, function, warm, "custom API");
            paths.push_back(
                {"platform, custom API", [&]() -> faas::FaasExecutor& { return *custom; }, {}, {plain->pid, true}});
        }
        if (wanted("lambda")) {
            lambda = lambda_executor(url, client);
            deploy_and_warm(*lambda, function, warm, "Lambda API");
            paths.push_back(
                {"platform, Lambda API", [&]() -> faas::FaasExecutor& { return *lambda; }, {}, {plain->pid, true}});
        }
    }
    if (wanted("lambda+v4")) {
        verified.emplace(platform_argv("verified", true, 300, !wrap.empty()), std::vector<std::string>{},
                         dir / "platform-v4.log");
        lambda_v4 = lambda_executor(verified->url(), client);
        deploy_and_warm(*lambda_v4, function, warm, "Lambda API (SigV4 verified)");
        paths.push_back({"platform, Lambda API, SigV4 check", [&]() -> faas::FaasExecutor& { return *lambda_v4; }, {},
                         {verified->pid, true}});
    }

    for (std::size_t round = 0; round < rounds; ++round) {
        for (std::size_t c : levels) {
            if (c == 1) {
                std::vector<faas::FaasExecutor*> execs;
                for (auto& p : paths) execs.push_back(&p.exec());
                auto figures = interleaved(execs, 500ms, measure, payload);
                for (std::size_t k = 0; k < paths.size(); ++k) {
                    auto& best = paths[k].best[1];
                    const std::size_t errors = best.errors + figures[k].errors;
                    if (best.calls == 0 || figures[k].p50_us < best.p50_us) best = figures[k];
                    best.errors = errors;
                }
                continue;
            }
            for (std::size_t k = 0; k < paths.size(); ++k) {
                // Alternate the order between rounds.
                auto& p = paths[round % 2 ? paths.size() - 1 - k : k];
                auto f = closed_loop(p.exec(), c, 500ms, measure, payload, p.cpu);
                auto& best = p.best[c];
                const std::size_t errors = best.errors + f.errors;
                if (best.calls == 0 || f.rps > best.rps) best = f;
                best.errors = errors;
            }
        }
    }

    ColdFigures cold_custom, cold_lambda;
    if (wanted("cold")) {
        Child cold_platform(platform_argv("cold", false, 0, false), {}, dir / "platform-cold.log");
        auto exec = faas::custom::HttpFaasExecutor::platform(cold_platform.url(), client);
        deploy_and_warm(exec, square, 0, "cold (custom API)");
        cold_custom = cold_starts(exec, cold_n);
        auto lam = lambda_executor(cold_platform.url(), client);
        deploy_and_warm(*lam, square, 0, "cold (Lambda API)");
        cold_lambda = cold_starts(*lam, cold_n);
    }

    fn.reset();
    plain.reset();
    verified.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);

    std::printf("bpfaas local: warm invokes, Blueprint JSON echo, %zu B args, %.1f s measured per path, best of %zu\n",
                payload, secs, rounds);
    std::printf("load average %s at the start, %s at the end; %u cores\n\n", load_start.c_str(), loadavg().c_str(),
                std::thread::hardware_concurrency());
    int status = 0;
    if (!paths.empty() && !levels.empty()) {
        std::printf("| path |");
        for (auto c : levels) std::printf(" c=%zu calls/s | c=%zu p50 µs | c=%zu p99 µs |", c, c, c);
        std::printf("\n|---|");
        for (std::size_t i = 0; i < levels.size(); ++i) std::printf("---:|---:|---:|");
        std::printf("\n");
        for (auto& p : paths) {
            std::printf("| %s |", p.name.c_str());
            std::size_t errors = 0;
            for (auto c : levels) {
                auto& f = p.best[c];
                std::printf(" %.0f | %.0f | %.0f |", f.rps, f.p50_us, f.p99_us);
                errors += f.errors;
            }
            std::printf("\n");
            if (errors) {
                std::printf("  (%s: %zu errors)\n", p.name.c_str(), errors);
                status = 1;
            }
        }
    }
    if (direct && paths.size() > 1) {
        auto& d = paths.front().best;
        std::printf("\n");
        const std::size_t lo = levels.front(), hi = levels.back();
        for (std::size_t i = 1; i < paths.size(); ++i) {
            auto& p = paths[i].best;
            std::printf("%-36s c=%zu p50 overhead %+6.0f us (target <= 150)   c=%zu calls/s ratio %.2fx\n",
                        paths[i].name.c_str(), lo, p[lo].p50_us - d[lo].p50_us, hi,
                        d[hi].rps > 0 ? p[hi].rps / d[hi].rps : 0);
        }
    }
    // CPU per call at each c>1 level (c=1 interleaves the paths, so no window is one path's).
    const double tick_us = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
    for (auto c : levels) {
        if (c == 1 || paths.empty() || !paths.front().best[c].cpu.measured) continue;
        auto per_call = [&](const Ticks& t, std::size_t calls) {
            const double n = calls ? static_cast<double>(calls) : 1;
            return std::array<double, 3>{(t.user + t.sys) * tick_us / n, t.user * tick_us / n, t.sys * tick_us / n};
        };
        auto total = [&](const CpuUse& u) {
            Ticks t = u.client;
            t += u.server;
            t += u.below;
            return t;
        };
        const CpuUse* d = direct ? &paths.front().best[c].cpu : nullptr;
        const double direct_total = d ? per_call(total(*d), d->calls)[0] : 0;
        std::printf("\n| path (c=%zu) | calls/s | client µs/call (user+sys) | platform µs/call (user+sys) "
                    "| instances / server µs/call (user+sys) | total CPU µs/call | CPU-bound ceiling vs direct |\n"
                    "|---|---:|---:|---:|---:|---:|---:|\n",
                    c);
        auto cell = [](const std::array<double, 3>& v) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.1f (%.1f+%.1f)", v[0], v[1], v[2]);
            return std::string(buf);
        };
        std::string busy;
        for (auto& p : paths) {
            const auto& u = p.best[c].cpu;
            const auto tot = per_call(total(u), u.calls);
            const auto server = u.platform ? cell(per_call(u.server, u.calls)) : std::string("–");
            const auto below = cell(per_call(u.platform ? u.below : u.server, u.calls));
            char ceiling[32] = "–";
            if (d && tot[0] > 0) std::snprintf(ceiling, sizeof ceiling, "%.2fx", direct_total / tot[0]);
            std::printf("| %s | %.0f | %s | %s | %s | %s | %s |\n", p.name.c_str(),
                        u.window_s > 0 ? static_cast<double>(u.calls) / u.window_s : 0,
                        cell(per_call(u.client, u.calls)).c_str(), server.c_str(), below.c_str(), cell(tot).c_str(),
                        ceiling);
            char b[128];
            const auto t = total(u);
            std::snprintf(b, sizeof b, "%s%s %.2f", busy.empty() ? "" : ", ", p.name.c_str(),
                          u.window_s > 0 ? (t.user + t.sys) * tick_us / 1e6 / u.window_s : 0);
            busy += b;
        }
        std::printf("cores busy (all CPU above / wall time of the window): %s\n", busy.c_str());
    }
    auto cold_line = [](const char* name, ColdFigures& c) {
        const double p50 = percentile(c.us, 0.5) / 1000, p90 = percentile(c.us, 0.9) / 1000;
        const double mn = c.us.empty() ? 0 : *std::min_element(c.us.begin(), c.us.end()) / 1000;
        std::printf("%-36s median %6.2f ms  p90 %6.2f ms  min %6.2f ms  (%zu calls, %zu not cold, %zu errors)\n", name,
                    p50, p90, mn, c.us.size(), c.not_cold, c.errors);
    };
    if (wanted("cold")) {
        std::printf("\ncold starts (examples/square, --keep-alive 0, sequential), target median <= 15 ms:\n");
        cold_line("custom API", cold_custom);
        cold_line("Lambda API", cold_lambda);
        if (cold_custom.errors || cold_lambda.errors) status = 1;
    }
    return status;
} catch (const std::exception& e) {
    std::cerr << "bench_platform: " << e.what() << "\n";
    return 1;
}
