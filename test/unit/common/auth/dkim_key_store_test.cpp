#include "common/auth/dkim_key_store.hpp"
#include "test/unit/common/auth/fixtures/dkimpy_fixtures.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using namespace upesi::dkim;
namespace fs = std::filesystem;

namespace {

// A fresh Ed25519 private key as PKCS#8 PEM.
std::string ed25519Pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  REQUIRE(key != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

// An install's config/ with the given files, and a reader over the same map.
struct Install {
  fs::path dir;
  std::map<std::string, std::string> files;

  Install() {
    dir = fs::temp_directory_path() / ("dkim-keys-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "dkim");
  }
  ~Install() { fs::remove_all(dir); }
  void add(const std::string& name, const std::string& text) {
    files[name] = text;
    fs::create_directories((dir / name).parent_path());
    std::ofstream(dir / name) << text;
  }
  ConfigReader reader() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = files.find(name);
      return it == files.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }
};

} // namespace

TEST_CASE("dkim key store: a domain's keys, its subdomains', and the default for the rest") {
  Install install;
  const std::string rsa(dkimpy_fixtures::RsaKeyPem);
  install.add("dkim/example.com/private", rsa);
  install.add("dkim/example.com/selector", "mail2026\n");
  install.add("dkim/example.com/ed25519.private", ed25519Pem());
  install.add("dkim/example.com/ed25519.selector", "ed2026\n");
  install.add("dkim/Other.Example/private", rsa);
  install.add("dkim/Other.Example/selector", "s1");
  install.add("dkim.private.key", rsa);
  auto store = KeyStore::load(install.dir, install.reader(), {"default.example", "def"});
  CHECK(store.errors().empty());
  CHECK(store.domainCount() == 2);

  const auto& keys = store.keysFor("EXAMPLE.com");
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].selector == "mail2026");
  CHECK(keys[0].algorithm == Algorithm::RsaSha256);
  CHECK(keys[1].selector == "ed2026");
  CHECK(keys[1].algorithm == Algorithm::Ed25519Sha256);
  CHECK(store.keysFor("mail.sub.example.com").size() == 2);
  CHECK(store.keysFor("other.example").at(0).domain == "other.example");

  const auto& fallback = store.keysFor("unrelated.example.net");
  REQUIRE(fallback.size() == 1);
  CHECK(fallback[0].domain == "default.example");
  CHECK(fallback[0].selector == "def");
  CHECK(store.keysFor("notexample.com").at(0).domain == "default.example");
}

TEST_CASE("dkim key store: every unusable key is named with its file; the others load") {
  Install install;
  const std::string rsa(dkimpy_fixtures::RsaKeyPem);
  install.add("dkim/good.example/private", rsa);
  install.add("dkim/good.example/selector", "s");
  install.add("dkim/notpem.example/private", "this is not a key\n");
  install.add("dkim/notpem.example/selector", "s");
  install.add("dkim/noselector.example/private", rsa);
  fs::create_directories(install.dir / "dkim" / "nokey.example");
  install.add("dkim.private.key", rsa);
  auto store = KeyStore::load(install.dir, install.reader(), {});
  auto has = [&store](const std::string& text) {
    for (const auto& error : store.errors()) {
      if (error.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  CHECK(store.errors().size() == 4);
  CHECK(has("config/dkim/notpem.example/private: "));
  CHECK(has("config/dkim/noselector.example/selector: missing or empty"));
  CHECK(has("config/dkim/nokey.example/private: missing"));
  CHECK(has("config/dkim.private.key: dkim.ini [sign] domain and selector"));
  CHECK(store.keysFor("good.example").size() == 1);
  CHECK(store.keysFor("notpem.example").empty());
}
