// An out-of-tree plugin that serves HTTP and a websocket, built against the installed headers
// only (as hello.cpp). Routes: GET /probe (JSON about the request), POST /probe/echo (the body
// back), GET /probe/later (answered 50 ms later), GET /probe/stream/N (N pieces, one per 10 ms,
// streamed), and a websocket at /probe/ws that echoes each message with "echo: " in front and
// says "bye" when asked to close ("flood N" sends N messages of 64 KiB at once).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/http.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <memory>
#include <string>

class WebProbe final : public upesi::Plugin {
public:
  void registerHooks(upesi::Host& host, upesi::Registrar& hooks) override {
    host_ = &host;
    hooks.registerHook(upesi::Hook::InitHttp, [this](upesi::Next next, upesi::Connection&,
                                                     const upesi::HookParams& params) {
      addRoutes(*params.http);
      host_->log(upesi::LogLevel::Notice, "web_probe routes added");
      next(upesi::Code::Ok);
    });
    hooks.registerHook(upesi::Hook::InitWss, [this](upesi::Next next, upesi::Connection&,
                                                    const upesi::HookParams& params) {
      bool added = params.wss->endpoint("/probe/ws", websocketHandlers());
      // A second plugin (or a second call) cannot take the same path.
      bool again = params.wss->endpoint("/probe/ws", websocketHandlers());
      host_->log(upesi::LogLevel::Notice, std::string("web_probe websocket added: ") +
                                              (added ? "yes" : "no") +
                                              ", again: " + (again ? "yes" : "no"));
      next(upesi::Code::Ok);
    });
  }

private:
  void addRoutes(upesi::HttpRouter& router) {
    router.route(
        "GET", "/probe",
        [this](const upesi::HttpRequest& request, const upesi::HttpReplyPtr& reply) {
          ++calls_;
          reply->send(upesi::HttpResponse::json(
              200, {{"remote_ip", request.remote_ip},
                    {"name", request.queryParam("name").value_or("")},
                    {"calls", calls_},
                    {"agent", request.header("user-agent") ? *request.header("user-agent") : ""}}));
        });
    router.route("POST", "/probe/echo",
                 [](const upesi::HttpRequest& request, const upesi::HttpReplyPtr& reply) {
                   reply->send(upesi::HttpResponse::text(200, request.body));
                 });
    router.route("GET", "/probe/later",
                 [this](const upesi::HttpRequest&, const upesi::HttpReplyPtr& reply) {
                   host_->setTimeout(50, [reply] {
                     reply->send(upesi::HttpResponse::text(202, "answered later\n"));
                   });
                 });
    router.prefix("GET", "/probe/stream/",
                  [this](const upesi::HttpRequest& request, const upesi::HttpReplyPtr& reply) {
                    int count =
                        std::stoi(request.path.substr(std::string("/probe/stream/").size()));
                    reply->begin(200, {{"Content-Type", "text/plain"}});
                    streamPiece(reply, 1, count);
                  });
    // The server's own paths are not for plugins: this is refused (and logged).
    router.route("GET", "/healthz",
                 [](const upesi::HttpRequest&, const upesi::HttpReplyPtr& reply) {
                   reply->send(upesi::HttpResponse::text(200, "hijacked\n"));
                 });
  }

  void streamPiece(const upesi::HttpReplyPtr& reply, int n, int count) {
    if (n > count) {
      reply->end();
      return;
    }
    reply->write("piece " + std::to_string(n) + "\n");
    host_->setTimeout(10, [this, reply, n, count] { streamPiece(reply, n + 1, count); });
  }

  upesi::WebSocketHandlers websocketHandlers() {
    upesi::WebSocketHandlers handlers;
    handlers.open = [this](const upesi::WebSocketPtr& socket) {
      socket->sendText("hello " + socket->request().remote_ip);
      host_->log(upesi::LogLevel::Notice, "web_probe websocket opened");
    };
    handlers.message = [this](const upesi::WebSocketPtr& socket, std::string message, bool binary) {
      if (message.rfind("flood ", 0) == 0) {
        // Many large messages to a client that may not read them: those past the server's
        // bound are dropped, and the count says how many were taken.
        int count = std::stoi(message.substr(6));
        int taken = 0;
        const std::string big(64 * 1024, 'f');
        for (int i = 0; i < count; ++i) {
          taken += socket->sendText(big) ? 1 : 0;
        }
        host_->log(upesi::LogLevel::Notice, "web_probe flood took " + std::to_string(taken) +
                                                " of " + std::to_string(count));
        return;
      }
      if (message == "close") {
        socket->sendText("bye");
        socket->close(1000, "asked to");
        return;
      }
      if (binary) {
        socket->sendBinary(message);
      } else {
        socket->sendText("echo: " + message);
      }
    };
    handlers.closed = [this](const upesi::WebSocketPtr&, std::uint16_t code) {
      host_->log(upesi::LogLevel::Notice, "web_probe websocket closed " + std::to_string(code));
    };
    return handlers;
  }

  upesi::Host* host_ = nullptr;
  int calls_ = 0;
};

UPESI_PLUGIN(WebProbe, "web_probe",
             "Test plugin: HTTP routes and a websocket (init_http, init_wss).")
