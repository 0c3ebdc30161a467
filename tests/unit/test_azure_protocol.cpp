// The Azure provider's pure protocol logic: request builders, reply parsers
// and poll decisions (src/faas/azure/protocol.hpp), without I/O.
#include "faas/azure/protocol.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace {

using namespace blueprint::faas;
using namespace blueprint::faas::azure;
using namespace blueprint::faas::azure::detail;
using namespace std::chrono_literals;
namespace json = boost::json;

ArmTarget target() { return {"https://management.azure.com", "sub-1", "my-rg", "my-app"}; }

http::Response response(int status, std::string body, http::Headers headers = {}) {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}

TEST(AzureText, PercentAndFormEncoding) {
    EXPECT_EQ(percent_encode("a-b.c_d~e"), "a-b.c_d~e");
    EXPECT_EQ(percent_encode("a b+/=&"), "a%20b%2B%2F%3D%26");
    EXPECT_EQ(form_encode({{"scope", "https://management.azure.com/.default"}, {"x", "1 2"}}),
              "scope=https%3A%2F%2Fmanagement.azure.com%2F.default&x=1%202");
}

TEST(AzureText, TemplatesAndRedaction) {
    EXPECT_EQ(expand_app_template("https://{app}.scm.azurewebsites.net/", "demo"), "https://demo.scm.azurewebsites.net");
    EXPECT_EQ(expand_app_template("http://127.0.0.1:9/site/{app}", "demo"), "http://127.0.0.1:9/site/demo");
    EXPECT_EQ(redact("token=abc secret=s+1 form=s%2B1", {"abc", "s+1", ""}),
              "token=<redacted> secret=<redacted> form=<redacted>");
    EXPECT_TRUE(valid_app_name("my-app-01"));
    EXPECT_FALSE(valid_app_name("-bad"));
    EXPECT_FALSE(valid_app_name("bad_name"));
    EXPECT_FALSE(valid_app_name("a"));
    EXPECT_FALSE(valid_app_name(std::string(61, 'a')));
}

TEST(AzureAuth, ClientCredentialsRequestIsFormEncodedToTheTenantsEndpoint) {
    Endpoints e;
    e.authority = "https://login.example.com/";
    auto req = client_credentials_request(e, {"tenant-1", "client-1", "p@ss w&rd"});
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.url, "https://login.example.com/tenant-1/oauth2/v2.0/token");
    EXPECT_EQ(http::find_header(req.headers, "content-type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(req.body, "client_id=client-1&client_secret=p%40ss%20w%26rd&grant_type=client_credentials&scope=https%3A%2F%2F"
                        "management.azure.com%2F.default");
}

TEST(AzureAuth, ManagedIdentityRequest) {
    Endpoints e;
    auto req = managed_identity_request(e, "http://169.254.1.1/msi/token", "hdr");
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.url, "http://169.254.1.1/msi/token?resource=https%3A%2F%2Fmanagement.azure.com%2F&api-version=2019-08-01");
    EXPECT_EQ(http::find_header(req.headers, "X-IDENTITY-HEADER"), "hdr");
}

TEST(AzureAuth, CredentialChoice) {
    AzureOptions o;
    std::map<std::string, std::string> env;
    auto lookup = [&](std::string_view n) -> std::optional<std::string> {
        auto it = env.find(std::string(n));
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto none = choose_credential(o, lookup);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->kind, CredentialSource::Kind::none);

    env = {{"IDENTITY_ENDPOINT", "http://mi"}, {"IDENTITY_HEADER", "h"}};
    auto mi = choose_credential(o, lookup);
    ASSERT_TRUE(mi);
    EXPECT_EQ(mi->kind, CredentialSource::Kind::managed_identity);

    env["AZURE_TENANT_ID"] = "t";
    env["AZURE_CLIENT_SECRET"] = "very-secret";
    auto partial = choose_credential(o, lookup);
    ASSERT_FALSE(partial);
    EXPECT_EQ(partial.error().kind, faas_errc::unauthorized);
    EXPECT_NE(partial.error().message.find("AZURE_CLIENT_ID"), std::string::npos);
    EXPECT_EQ(partial.error().message.find("very-secret"), std::string::npos);

    env["AZURE_CLIENT_ID"] = "c";
    auto sp = choose_credential(o, lookup);
    ASSERT_TRUE(sp);
    EXPECT_EQ(sp->kind, CredentialSource::Kind::client_secret);
    EXPECT_EQ(sp->secret.client_id, "c");

    o.credential = ClientSecretCredential{"t2", "c2", ""};
    EXPECT_FALSE(choose_credential(o, lookup));
    o.credential->client_secret = "s2";
    auto ex = choose_credential(o, lookup);
    ASSERT_TRUE(ex);
    EXPECT_EQ(ex->secret.tenant_id, "t2");
}

TEST(AzureAuth, TokenResponses) {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    auto cc = parse_token_response(200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"abc"})", now);
    ASSERT_TRUE(cc) << cc.error().to_string();
    EXPECT_EQ(cc->value, "abc");
    EXPECT_EQ(cc->expires, now + 3599s);

    auto text = parse_token_response(200, R"({"expires_in":"60","access_token":"x"})", now);
    ASSERT_TRUE(text);
    EXPECT_EQ(text->expires, now + 60s);

    auto mi = parse_token_response(200, R"({"access_token":"m","expires_on":"1700003600","resource":"r"})", now);
    ASSERT_TRUE(mi);
    EXPECT_EQ(mi->expires, std::chrono::system_clock::time_point(std::chrono::seconds(1'700'003'600)));

    auto bad = parse_token_response(401, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"})", now);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, faas_errc::unauthorized);
    EXPECT_NE(bad.error().message.find("invalid_client"), std::string::npos);
    EXPECT_EQ(bad.error().message.find("Trace ID"), std::string::npos);

    EXPECT_FALSE(parse_token_response(200, "not json", now));
    EXPECT_FALSE(parse_token_response(200, R"({"access_token":"a"})", now));
    EXPECT_FALSE(parse_token_response(200, R"({"expires_in":5})", now));
    EXPECT_EQ(parse_token_response(500, "", now).error().kind, faas_errc::infrastructure);
    EXPECT_EQ(parse_token_response(429, "{}", now).error().kind, faas_errc::throttled);
}

TEST(AzureAuth, RefreshShortlyBeforeExpiry) {
    const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
    AccessToken hour{"t", t0, t0 + 3600s};
    EXPECT_EQ(refresh_at(hour), t0 + 3300s);
    EXPECT_FALSE(needs_refresh(hour, t0 + 3299s));
    EXPECT_TRUE(needs_refresh(hour, t0 + 3300s));
    AccessToken brief{"t", t0, t0 + 60s};
    EXPECT_EQ(refresh_at(brief), t0 + 30s);
    EXPECT_TRUE(needs_refresh(AccessToken{}, t0));
}

TEST(AzureArm, UrlsCarryTheRightApiVersion) {
    auto t = target();
    EXPECT_EQ(resource_group_url(t), "https://management.azure.com/subscriptions/sub-1/resourcegroups/my-rg?api-version=2021-04-01");
    EXPECT_EQ(site_url(t),
              "https://management.azure.com/subscriptions/sub-1/resourceGroups/my-rg/providers/Microsoft.Web/sites/my-app"
              "?api-version=2022-09-01");
    EXPECT_EQ(plan_url(t),
              "https://management.azure.com/subscriptions/sub-1/resourceGroups/my-rg/providers/Microsoft.Web/serverfarms/"
              "my-app-plan?api-version=2022-09-01");
    EXPECT_EQ(function_url(t, "job7"),
              "https://management.azure.com/subscriptions/sub-1/resourceGroups/my-rg/providers/Microsoft.Web/sites/my-app/"
              "functions/job7?api-version=2022-09-01");
    EXPECT_EQ(list_keys_url(t),
              "https://management.azure.com/subscriptions/sub-1/resourceGroups/my-rg/providers/Microsoft.Web/sites/my-app/"
              "host/default/listKeys?api-version=2022-09-01");
    // One '?' each: the Rust original appended a second query to a URL that had one.
    for (const auto& u : {resource_group_url(t), site_url(t), functions_url(t), list_keys_url(t)})
        EXPECT_EQ(std::count(u.begin(), u.end(), '?'), 1) << u;
    t.resource_group = "rg with space";
    EXPECT_NE(site_url(t).find("/resourceGroups/rg%20with%20space/"), std::string::npos);
}

TEST(AzureArm, Bodies) {
    auto t = target();
    auto site = json::parse(site_body(t, "westeurope", "DefaultEndpointsProtocol=https;AccountKey=k",
                                      {{"FUNCTIONS_WORKER_RUNTIME", "node"}, {"MY_VAR", "1"}}))
                    .as_object();
    EXPECT_EQ(site["kind"], "functionapp,linux");
    EXPECT_EQ(site["location"], "westeurope");
    auto& props = site["properties"].as_object();
    EXPECT_EQ(props["reserved"], true);
    EXPECT_EQ(props["serverFarmId"],
              "/subscriptions/sub-1/resourceGroups/my-rg/providers/Microsoft.Web/serverfarms/my-app-plan");
    std::map<std::string, std::string> settings;
    for (auto& s : props["siteConfig"].as_object()["appSettings"].as_array())
        settings[std::string(s.as_object()["name"].as_string())] = std::string(s.as_object()["value"].as_string());
    EXPECT_EQ(settings["FUNCTIONS_WORKER_RUNTIME"], "Custom");  // env cannot override it
    EXPECT_EQ(settings["FUNCTIONS_EXTENSION_VERSION"], "~4");
    EXPECT_EQ(settings["MY_VAR"], "1");
    EXPECT_EQ(settings["AzureWebJobsStorage"], "DefaultEndpointsProtocol=https;AccountKey=k");

    auto y1 = json::parse(plan_body("westeurope", PlanKind::consumption, "")).as_object();
    EXPECT_EQ(y1["sku"].as_object()["name"], "Y1");
    EXPECT_EQ(y1["sku"].as_object()["tier"], "Dynamic");
    EXPECT_EQ(y1["properties"].as_object()["reserved"], true);
    auto ep = json::parse(plan_body("westeurope", PlanKind::premium, "EP2")).as_object();
    EXPECT_EQ(ep["sku"].as_object()["name"], "EP2");
    EXPECT_EQ(ep["kind"], "elastic");
    EXPECT_EQ(json::parse(resource_group_body("northeurope")).as_object()["location"], "northeurope");
}

TEST(AzureArm, Errors) {
    auto e = arm_error(response(404, R"({"error":{"code":"ResourceGroupNotFound","message":"Resource group 'x' could not be found."}})",
                                {{"x-ms-request-id", "req-1"}}),
                       "azure: site");
    EXPECT_EQ(e.kind, faas_errc::not_found);
    EXPECT_EQ(e.http_status, 404);
    EXPECT_EQ(e.request_id, "req-1");
    EXPECT_NE(e.message.find("ResourceGroupNotFound"), std::string::npos);
    EXPECT_EQ(arm_error(response(401, "{}"), "x").kind, faas_errc::unauthorized);
    EXPECT_EQ(arm_error(response(403, "garbage"), "x").kind, faas_errc::unauthorized);
    auto t = arm_error(response(429, "", {{"Retry-After", "7"}}), "x");
    EXPECT_EQ(t.kind, faas_errc::throttled);
    EXPECT_EQ(t.retry_after, std::optional<std::chrono::milliseconds>(7000ms));
    EXPECT_EQ(arm_error(response(500, ""), "x").kind, faas_errc::infrastructure);
    EXPECT_EQ(arm_error(response(400, R"({"error":{"code":"MissingApiVersionParameter"}})"), "x").kind,
              faas_errc::invocation_failed);
}

TEST(AzureArm, Replies) {
    EXPECT_EQ(parse_site_state(R"({"properties":{"state":"Running"}})").value(), "Running");
    EXPECT_EQ(parse_site_state(R"({"name":"x"})").value(), "");
    EXPECT_FALSE(parse_site_state("[1"));

    auto list = parse_function_list(
        R"({"value":[{"name":"app/job7","properties":{"name":"job7"}},{"name":"app/job0x1f"},{"x":1}],"nextLink":"https://n"})");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->names, (std::vector<std::string>{"job7", "job0x1f"}));
    EXPECT_EQ(list->next_link, "https://n");
    EXPECT_FALSE(parse_function_list(R"({"values":[]})"));

    EXPECT_EQ(parse_host_keys(R"({"masterKey":"m","functionKeys":{"default":"d"}})").value(), "d");
    EXPECT_EQ(parse_host_keys(R"({"masterKey":"m","functionKeys":{"other":"o"}})").value(), "o");
    EXPECT_EQ(parse_host_keys(R"({"masterKey":"m","functionKeys":{}})").value(), "m");
    EXPECT_FALSE(parse_host_keys(R"({"functionKeys":{}})"));
    EXPECT_FALSE(parse_host_keys("nope"));
}

TEST(AzureArm, AsyncOperationDecisions) {
    EXPECT_EQ(arm_async_start(response(200, "")).step, ArmAsync::done);
    EXPECT_EQ(arm_async_start(response(201, "")).step, ArmAsync::done);
    auto s = arm_async_start(response(202, "", {{"Azure-AsyncOperation", "https://op"}, {"Location", "https://loc"}}));
    EXPECT_EQ(s.step, ArmAsync::poll);
    EXPECT_EQ(s.poll_url, "https://op");
    EXPECT_EQ(arm_async_start(response(202, "", {{"Location", "https://loc"}})).poll_url, "https://loc");
    EXPECT_EQ(arm_async_start(response(409, "")).step, ArmAsync::failed);

    EXPECT_EQ(arm_async_poll(response(200, R"({"status":"InProgress"})"), true).step, ArmAsync::poll);
    EXPECT_EQ(arm_async_poll(response(200, R"({"status":"Succeeded"})"), true).step, ArmAsync::done);
    auto f = arm_async_poll(response(200, R"({"status":"Failed","error":{"message":"quota"}})"), true);
    EXPECT_EQ(f.step, ArmAsync::failed);
    EXPECT_NE(f.message.find("quota"), std::string::npos);
    EXPECT_EQ(arm_async_poll(response(200, "garbage"), true).step, ArmAsync::failed);
    EXPECT_EQ(arm_async_poll(response(202, ""), false).step, ArmAsync::poll);
    EXPECT_EQ(arm_async_poll(response(200, ""), false).step, ArmAsync::done);
    EXPECT_EQ(arm_async_poll(response(500, ""), false).step, ArmAsync::failed);
}

TEST(AzureKudu, ZipDeployRequestAndLocation) {
    auto req = zipdeploy_request("https://app.scm.azurewebsites.net/", "tok", "ZIP");
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.url, "https://app.scm.azurewebsites.net/api/zipdeploy?isAsync=true");
    EXPECT_EQ(http::find_header(req.headers, "Authorization"), "Bearer tok");
    EXPECT_EQ(http::find_header(req.headers, "Content-Type"), "application/zip");
    EXPECT_EQ(req.body, "ZIP");
    EXPECT_EQ(absolute_location("https://s", "/api/deployments/1"), "https://s/api/deployments/1");
    EXPECT_EQ(absolute_location("https://s/", "api/deployments/1"), "https://s/api/deployments/1");
    EXPECT_EQ(absolute_location("https://s", "https://t/api/deployments/latest"), "https://t/api/deployments/latest");
}

TEST(AzureKudu, DeploymentStatusDecisions) {
    auto phase = [](int http, std::string body) { return parse_deploy_status(http, body).value().phase; };
    EXPECT_EQ(phase(202, ""), DeployPhase::in_progress);
    EXPECT_EQ(phase(202, R"({"status":1,"complete":false})"), DeployPhase::in_progress);
    EXPECT_EQ(phase(200, R"({"status":2,"complete":false})"), DeployPhase::in_progress);
    EXPECT_EQ(phase(200, R"({"status":4,"complete":true})"), DeployPhase::succeeded);
    EXPECT_EQ(phase(200, R"({"status":4})"), DeployPhase::succeeded);
    EXPECT_EQ(phase(200, R"({"status":4,"complete":false})"), DeployPhase::in_progress);
    auto failed = parse_deploy_status(200, R"({"status":3,"complete":true,"status_text":"bad zip"})");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->phase, DeployPhase::failed);
    EXPECT_EQ(failed->message, "bad zip");
    EXPECT_EQ(phase(200, R"({"status":0,"complete":true})"), DeployPhase::failed);
    EXPECT_EQ(phase(404, ""), DeployPhase::missing);
    EXPECT_EQ(parse_deploy_status(401, "").error().kind, faas_errc::unauthorized);
    EXPECT_EQ(parse_deploy_status(500, "").error().kind, faas_errc::infrastructure);
    EXPECT_EQ(parse_deploy_status(200, "{trunc").error().kind, faas_errc::serialization);
}

TEST(AzureKudu, PollBackoffIsBounded) {
    EXPECT_EQ(poll_delay(1, 100ms, 1000ms), 100ms);
    EXPECT_EQ(poll_delay(2, 100ms, 1000ms), 200ms);
    EXPECT_EQ(poll_delay(4, 100ms, 1000ms), 800ms);
    EXPECT_EQ(poll_delay(5, 100ms, 1000ms), 1000ms);
    EXPECT_EQ(poll_delay(1000, 100ms, 1000ms), 1000ms);
}

TEST(AzureInvoke, RequestSendsTheKeyInAHeaderNeverInTheUrl) {
    auto req = invoke_request("https://app.azurewebsites.net/", "job7", "KEY123", R"({"job_id":7,"args":[]})", false);
    EXPECT_EQ(req.url, "https://app.azurewebsites.net/api/job7");
    EXPECT_EQ(req.url.find("code="), std::string::npos);
    EXPECT_EQ(req.url.find("KEY123"), std::string::npos);
    EXPECT_EQ(http::find_header(req.headers, "x-functions-key"), "KEY123");
    EXPECT_EQ(http::find_header(req.headers, "X-Blueprint-Warmup"), "");
    auto warm = invoke_request("https://a", "job7", "k", "{}", true);
    EXPECT_EQ(http::find_header(warm.headers, "X-Blueprint-Warmup"), "1");
}

TEST(AzureInvoke, StatusMapping) {
    EXPECT_EQ(invoke_error(response(401, ""), "x").kind, faas_errc::unauthorized);
    EXPECT_EQ(invoke_error(response(404, ""), "x").kind, faas_errc::not_found);
    EXPECT_EQ(invoke_error(response(429, "", {{"Retry-After", "1"}}), "x").retry_after,
              std::optional<std::chrono::milliseconds>(1000ms));
    EXPECT_EQ(invoke_error(response(503, ""), "x").kind, faas_errc::throttled);
    EXPECT_EQ(invoke_error(response(500, "{\"error\":\"crash\"}"), "x").kind, faas_errc::function_error);
    EXPECT_EQ(invoke_error(response(504, ""), "x").kind, faas_errc::timeout);
    EXPECT_EQ(invoke_error(response(502, ""), "x").kind, faas_errc::infrastructure);
    EXPECT_EQ(invoke_error(response(400, ""), "x").kind, faas_errc::invocation_failed);
    EXPECT_NE(invoke_error(response(413, ""), "x").message.find("too large"), std::string::npos);
}

TEST(AzurePlan, Names) {
    EXPECT_EQ(parse_plan_kind("consumption"), PlanKind::consumption);
    EXPECT_EQ(parse_plan_kind("Y1"), PlanKind::consumption);
    EXPECT_EQ(parse_plan_kind("EP2"), PlanKind::premium);
    EXPECT_EQ(parse_plan_kind("flex"), PlanKind::flex_consumption);
    EXPECT_FALSE(parse_plan_kind("dedicated"));
    EXPECT_EQ(to_string(PlanKind::premium), "premium");
}

TEST(AzureCreate, RefusesBadOptions) {
    AzureOptions o;
    o.subscription_id = "s";
    o.resource_group = "g";
    o.app_name = "app";
    o.region = "westeurope";
    o.credential = ClientSecretCredential{"t", "c", "secret"};
    EXPECT_TRUE(AzureFunctionExecutor::create(o));
    auto flex = o;
    flex.plan = PlanKind::flex_consumption;
    EXPECT_EQ(AzureFunctionExecutor::create(flex).error().kind, faas_errc::unsupported);
    auto bad_name = o;
    bad_name.app_name = "bad_name";
    EXPECT_EQ(AzureFunctionExecutor::create(bad_name).error().kind, faas_errc::invocation_failed);
    for (auto field : {&AzureOptions::subscription_id, &AzureOptions::resource_group, &AzureOptions::region}) {
        auto missing = o;
        missing.*field = "";
        EXPECT_FALSE(AzureFunctionExecutor::create(missing));
    }
    auto exec = AzureFunctionExecutor::create(o);
    EXPECT_EQ(exec->function_url(7), "https://app.azurewebsites.net/api/job7");
    EXPECT_EQ(exec->provider_name(), "azure-functions");
}

}  // namespace
