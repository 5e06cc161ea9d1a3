#include "common/mta_sts/policy_fetch.hpp"

#include "common/http/client.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <memory>

namespace upesi::mta_sts {

void lookupRecord(const dns::DnsLookup& lookup, const std::string& domain,
                  std::function<void(RecordAnswer)> done) {
  const std::string name = "_mta-sts." + domain;
  lookup(name, DnsType::Txt, [name, done = std::move(done)](DnsResult answer) {
    RecordAnswer out;
    switch (answer.status) {
    case DnsStatus::Ok: {
      std::vector<std::string> texts;
      for (const auto& record : answer.records) {
        texts.push_back(record.value);
      }
      out.id = recordId(texts);
      if (!out.id) {
        out.error = fmt::format("no valid v=STSv1 record at {}", name);
      }
      break;
    }
    case DnsStatus::NoData:
    case DnsStatus::NxDomain:
      out.error = fmt::format("no TXT record at {}", name);
      break;
    default:
      out.failed = true;
      out.error = fmt::format("TXT lookup for {} failed: {}", name, answer.error);
      break;
    }
    done(std::move(out));
  });
}

namespace {

struct FetchJob {
  std::unique_ptr<http::HttpRequestHandle> request;
};

bool isTextPlain(const std::string* content_type) {
  if (content_type == nullptr) {
    return false;
  }
  std::string type = text::toLower(*content_type);
  auto semi = type.find(';');
  type = std::string(text::trim(type.substr(0, semi)));
  return type == "text/plain";
}

} // namespace

void fetchPolicyText(uv_loop_t* loop, const dns::DnsLookup& lookup, const std::string& domain,
                     const FetchOptions& options, std::function<void(Result<std::string>)> done) {
  const std::string host = "mta-sts." + domain;
  dns::MxResolver addresses(lookup);
  addresses.lookupNextHop(
      host, [loop, host, options, done = std::move(done)](Result<std::string> ip) mutable {
        if (!ip) {
          done(Error{fmt::format("no address for {}: {}", host, ip.error())});
          return;
        }
        sockaddr_storage address{};
        const bool v6 = ip->find(':') != std::string::npos;
        const int rc =
            v6 ? uv_ip6_addr(ip->c_str(), options.port, reinterpret_cast<sockaddr_in6*>(&address))
               : uv_ip4_addr(ip->c_str(), options.port, reinterpret_cast<sockaddr_in*>(&address));
        if (rc != 0) {
          done(Error{fmt::format("bad address {} for {}", *ip, host)});
          return;
        }
        http::ClientRequest request;
        request.target = "/.well-known/mta-sts.txt";
        request.host = options.port == 443 ? host : fmt::format("{}:{}", host, options.port);
        http::ClientOptions client;
        client.connect_timeout = options.timeout;
        client.request_timeout = options.timeout;
        client.limits.max_body = MaxPolicyBytes;
        client.tls = options.tls.get();
        client.tls_name = host;
        if (options.tls == nullptr) {
          done(Error{"no TLS client context: TLS is off (outbound.ini enable_tls)"});
          return;
        }
        // The handle lives in the job until the answer comes; the callback lets it go.
        auto job = std::make_shared<FetchJob>();
        const std::string where = fmt::format("https://{}{}", request.host, request.target);
        job->request = http::sendHttpRequest(
            loop, reinterpret_cast<const sockaddr*>(&address), std::move(request), client,
            [job, where, context = options.tls,
             done = std::move(done)](http::ClientResult result) mutable {
              auto keep = std::move(job->request); // released after this callback returns
              if (!result.ok) {
                done(Error{fmt::format("{}: {}", where, result.failure.detail)});
                return;
              }
              const auto& response = result.response;
              if (response.status != 200) {
                // Redirects too: RFC 8461 3.3 forbids following them.
                done(Error{fmt::format("{}: HTTP {} {}", where, response.status, response.reason)});
                return;
              }
              if (!isTextPlain(response.header("Content-Type"))) {
                const std::string* type = response.header("Content-Type");
                done(Error{fmt::format("{}: Content-Type {}, not text/plain", where,
                                       type != nullptr ? *type : std::string("missing"))});
                return;
              }
              done(response.body);
            });
      });
}

} // namespace upesi::mta_sts
