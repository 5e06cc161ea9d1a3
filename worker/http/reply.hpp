// The HttpReply plugins answer through, over the connection's Responder.
#pragma once

#include <upesi/http.hpp>

#include "common/http/connection.hpp"

namespace upesi::worker::http {

/// The server's Response for a plugin's HttpResponse.
::upesi::http::Response toResponse(HttpResponse response);

class ResponderReply final : public HttpReply {
public:
  explicit ResponderReply(::upesi::http::Responder responder) : responder_(std::move(responder)) {}

  void send(HttpResponse response) override { responder_.respond(toResponse(std::move(response))); }
  void begin(int status, HttpHeaders headers) override {
    responder_.begin(toResponse(HttpResponse{status, std::move(headers), {}}));
  }
  bool write(std::string_view piece) override { return responder_.write(piece); }
  void end() override { responder_.end(); }
  bool open() const override { return responder_.open(); }

private:
  ::upesi::http::Responder responder_;
};

} // namespace upesi::worker::http
