// The Google Cloud Functions (2nd gen) provider of the lifecycle verbs:
//   bpfaas deploy|invoke|health|warm|undeploy --provider gcp --project P --region R
//          [--credentials-file F] [--api-endpoint URL] [--token-uri URL]
//          [--metadata-host H] [--function-prefix X] --job N [BINARY]
// Credentials: --credentials-file, else GOOGLE_APPLICATION_CREDENTIALS, else
// the GCE metadata server (GCE_METADATA_HOST overrides its host). The key is
// only ever read from a file, never a flag (it would land in shell history).
//
// Options another provider already registered on a verb (e.g. --region) are
// shared, not redefined: every value is read through its option.
#include "providers.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/gcp.hpp>
#include <blueprint/faas/packaging.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace gcp = blueprint::faas::gcp;
namespace json = boost::json;

// Option pointers per verb; only one verb is parsed per run.
std::map<std::string, std::map<std::string, CLI::Option*>>& gcp_options() {
    static std::map<std::string, std::map<std::string, CLI::Option*>> options;
    return options;
}

void add_gcp_options(CLI::App& cmd, std::string_view verb) {
    auto* g = cmd.add_option_group("gcp", "Google Cloud Functions 2nd gen (--provider gcp)");
    auto& mine = gcp_options()[std::string(verb)];
    auto add = [&](const std::string& name, const std::string& help) {
        CLI::Option* existing = cmd.get_option_no_throw(name);
        mine[name] = existing ? existing : g->add_option(name, help);
    };
    add("--project", "project id (default: the key file's project_id)");
    add("--region", "region, e.g. us-central1");
    add("--credentials-file", "service-account key file (default: GOOGLE_APPLICATION_CREDENTIALS, then the metadata server)");
    add("--api-endpoint", "Cloud Functions API base (default https://cloudfunctions.googleapis.com/v2/)");
    add("--token-uri", "OAuth token endpoint (default: the key's token_uri)");
    add("--metadata-host", "metadata server host[:port] (default: GCE_METADATA_HOST or metadata.google.internal)");
    add("--function-prefix", "function names are PREFIX-job-N (default blueprint)");
}

std::string value(const VerbArgs& v, const std::string& name) {
    auto& options = gcp_options()[v.verb];
    auto it = options.find(name);
    if (it == options.end() || !it->second || it->second->count() == 0) return {};
    return it->second->as<std::string>();
}

int usage(const VerbArgs& v, std::string_view message) {
    std::cerr << "bpfaas " << v.verb << " --provider gcp: " << message << "\n";
    return 2;
}

int fail(const VerbArgs& v, const faas::FaasError& e) {
    end_progress();
    std::cerr << "bpfaas " << v.verb << ": " << e.to_string() << "\n";
    return 1;
}

/// The executor, or nullopt with `code` set: 2 for a usage error, 1 when the
/// credentials are unusable.
std::optional<gcp::CloudFunctionExecutor> make_executor(const VerbArgs& v, int& code) {
    code = 2;
    gcp::CloudFunctionOptions o;
    o.project = value(v, "--project");
    o.region = value(v, "--region");
    if (o.region.empty()) {
        usage(v, "--region is required");
        return std::nullopt;
    }
    o.credentials.key_file = value(v, "--credentials-file");
    if (auto s = value(v, "--api-endpoint"); !s.empty()) o.endpoints.api_base = s;
    o.endpoints.token_uri = value(v, "--token-uri");
    o.endpoints.metadata_host = value(v, "--metadata-host");
    if (auto s = value(v, "--function-prefix"); !s.empty()) o.function_prefix = s;
    o.default_config.timeout_secs = v.config.timeout_secs;
    o.http.log = spdlog_sink();
    o.log = spdlog_sink();
    o.progress = [](std::string_view line) { print_progress(line); };
    auto ex = gcp::CloudFunctionExecutor::create(std::move(o));
    if (!ex) {
        code = ex.error().kind == faas::faas_errc::invocation_failed ? usage(v, ex.error().message) : fail(v, ex.error());
        return std::nullopt;
    }
    return std::move(*ex);
}

/// The function binary, or the bootstrap inside a zip from `bpfaas package`.
std::optional<Bytes> read_function_binary(const VerbArgs& v) {
    std::ifstream in(v.binary, std::ios::binary);
    if (!in) {
        usage(v, "cannot read " + v.binary);
        return std::nullopt;
    }
    Bytes bytes(std::istreambuf_iterator<char>(in), {});
    if (bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4) {
        auto entries = faas::packaging::read_zip_entries(bytes);
        if (!entries) {
            usage(v, v.binary + ": " + entries.error().to_string());
            return std::nullopt;
        }
        for (auto& e : *entries)
            if (e.name == "bootstrap") return std::move(e.bytes);
        usage(v, v.binary + " is a zip without a bootstrap");
        return std::nullopt;
    }
    return bytes;
}

int run_gcp(const VerbArgs& v) {
    int code = 0;
    auto ex = make_executor(v, code);
    if (!ex) return code;
    if (v.verb == "deploy") {
        auto binary = read_function_binary(v);
        if (!binary) return 2;
        auto d = run_async(ex->deploy_job(v.job, std::move(*binary), v.config));
        if (!d) return fail(v, d.error());
        if (v.config.keep_warm > 0)
            if (auto w = run_async(ex->warm(v.job, v.config.keep_warm)); !w) return fail(v, w.error());
        end_progress();
        json::object o;
        o["function_id"] = d->function_id;
        o["job_id"] = d->job_id.to_string();
        o["endpoint"] = d->endpoint;
        o["memory_mb"] = d->memory_mb;
        o["timeout_secs"] = d->timeout_secs;
        std::cout << json::serialize(o) << "\n";
        return 0;
    }
    if (v.verb == "invoke") {
        auto out = run_async(ex->invoke_with_metrics(JobCall(v.job, v.args)));
        if (!out) return fail(v, out.error());
        out->result.set_job_id(v.job);
        std::cout << job_result_to_json(out->result) << "\n";
        const auto& m = out->metrics;
        std::string line = "total " + std::to_string(m.total_duration.count() / 1000) + " ms";
        if (m.cold_start) line += *m.cold_start ? ", cold start" : ", warm";
        std::cerr << line << "\n";
        return out->result.is_ok() ? 0 : 1;
    }
    if (v.verb == "health") {
        auto h = run_async(ex->health_check(v.job));
        if (!h) return fail(v, h.error());
        std::cout << (*h ? "healthy" : "not healthy") << "\n";
        return *h ? 0 : 3;
    }
    if (v.verb == "warm") {
        auto w = run_async(ex->warm(v.job, v.instances));
        if (!w) return fail(v, w.error());
        std::cerr << "warmed " << v.instances << " instance(s)\n";
        return 0;
    }
    if (v.verb == "undeploy") {
        auto u = run_async(ex->undeploy_job(v.job));
        if (!u) return fail(v, u.error());
        end_progress();
        std::cerr << "undeployed job " << v.job.to_string() << "\n";
        return 0;
    }
    std::cerr << "bpfaas: --provider gcp does not offer " << v.verb << "\n";
    return 2;
}

}  // namespace

ProviderCli gcp_provider_cli() { return ProviderCli{"gcp", add_gcp_options, run_gcp}; }

}  // namespace bpfaas
