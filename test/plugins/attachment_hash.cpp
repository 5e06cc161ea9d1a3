// A plugin for tests of the MIME body API: it hashes every attachment with SHA-256 while the
// message streams in (attachmentHooks) and, at data_post, writes the parsed body tree.
//
// config/attachment_hash.ini:
//   [main]
//   record=/path/file   one JSON object a line:
//                         {"event":"attachment", filename, content_type, sha256, bytes,
//                          chunks, before_data_post}
//                         {"event":"body", "tree": {content_type, charset, filename,
//                          attachment, text, text_utf8, decoded_bytes, children}, limits}
//                         {"event":"message", sha256, bytes, before_data_post} (stream_message)
//   parse_body=true     ask for the text of text parts too (Haraka's parse_body)
//   stream_message=true hash the whole message too, as it streams in (streamMessage)
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <string>

namespace {

// One attachment's running digest.
struct Digest {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::uint64_t bytes = 0;
  std::uint64_t chunks = 0;

  Digest() { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }

  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &size);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 0xf];
    }
    return out;
  }
};

nlohmann::json describe(const upesi::BodyPart& part) {
  nlohmann::json out = {
      {"content_type", part.contentType()},
      {"charset", part.charset()},
      {"filename", part.filename()},
      {"attachment", part.isAttachment()},
      {"text", part.text()},
      {"text_utf8", part.textIsUtf8()},
      {"decoded_bytes", part.decodedBytes()},
      {"children", nlohmann::json::array()},
  };
  for (std::size_t i = 0; i < part.childCount(); ++i) {
    out["children"].push_back(describe(part.child(i)));
  }
  return out;
}

class AttachmentHash final : public upesi::Plugin {
public:
  void registerHooks(upesi::Host& host, upesi::Registrar& registrar) override {
    auto ini = host.config(host.pluginName() + ".ini", "ini",
                           {"-main.parse_body", "-main.stream_message"});
    const auto main = ini.value("main", nlohmann::json::object());
    record_ = main.value("record", std::string());
    parse_body_ = main.value("parse_body", false);
    stream_message_ = main.value("stream_message", false);
    registrar.registerHook(upesi::Hook::Data,
                           [this](upesi::Next next, upesi::Connection& connection,
                                  const upesi::HookParams&) { onData(next, connection); });
    registrar.registerHook(upesi::Hook::DataPost,
                           [this](upesi::Next next, upesi::Connection& connection,
                                  const upesi::HookParams&) { onDataPost(next, connection); });
  }

private:
  void onData(const upesi::Next& next, upesi::Connection& connection) {
    upesi::Transaction& txn = *connection.transaction();
    if (parse_body_) {
      txn.parseBody(true);
    }
    txn.notes()["data_post_seen"] = false;
    if (stream_message_) {
      auto digest = std::make_shared<Digest>();
      txn.streamMessage({[digest](std::string_view bytes) {
                           EVP_DigestUpdate(digest->ctx.get(), bytes.data(), bytes.size());
                           digest->bytes += bytes.size();
                         },
                         [this, digest, &txn] {
                           write(
                               {{"event", "message"},
                                {"sha256", digest->hex()},
                                {"bytes", digest->bytes},
                                {"before_data_post", !txn.notes()["data_post_seen"].get<bool>()}});
                         }});
    }
    txn.attachmentHooks([this, &txn](const upesi::BodyPart& part) {
      auto digest = std::make_shared<Digest>();
      upesi::AttachmentHandlers handlers;
      handlers.data = [digest](std::string_view bytes) {
        EVP_DigestUpdate(digest->ctx.get(), bytes.data(), bytes.size());
        digest->bytes += bytes.size();
        ++digest->chunks;
      };
      handlers.end = [this, digest, &txn, filename = part.filename(), type = part.contentType()] {
        write({{"event", "attachment"},
               {"filename", filename},
               {"content_type", type},
               {"sha256", digest->hex()},
               {"bytes", digest->bytes},
               {"chunks", digest->chunks},
               {"before_data_post", !txn.notes()["data_post_seen"].get<bool>()}});
      };
      return handlers;
    });
    next();
  }

  void onDataPost(const upesi::Next& next, upesi::Connection& connection) {
    upesi::Transaction& txn = *connection.transaction();
    txn.notes()["data_post_seen"] = true;
    const upesi::BodyPart* body = txn.body();
    if (body == nullptr) {
      write({{"event", "body"}, {"tree", nullptr}});
    } else {
      write({{"event", "body"}, {"tree", describe(*body)}, {"limits", body->limitsReached()}});
    }
    next();
  }

  void write(const nlohmann::json& line) const {
    if (!record_.empty()) {
      std::ofstream(record_, std::ios::app)
          << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    }
  }

  std::string record_;
  bool parse_body_ = false;
  bool stream_message_ = false;
};

} // namespace

UPESI_PLUGIN(AttachmentHash, "attachment_hash",
             "Tests: SHA-256 of each attachment while the message streams in, and the body tree.")
