// headers: checks the message header at data_post as Haraka's headers plugin does (RFC 5322
// 3.6 fields, Date, Return-Path, user agent, hops, From, Delivered-To, mailing lists, phishing).
#include "plugins/headers/headers_plugin.hpp"

std::unique_ptr<upesi::Plugin> upesi_builtin_headers() {
  return upesi::plugins::headers::makeHeadersPlugin(upesi::plugins::headers::harakaFlavor());
}
