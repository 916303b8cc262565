// Small POSIX-socket helpers shared by kv_server and kv_client (no TMC, no framework).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kv_protocol.h"

namespace kv {

// IPv4 address of an endpoint; nullopt if the host is not a dotted quad.
std::optional<sockaddr_in> to_sockaddr(const Endpoint&);
std::string to_string(const sockaddr_in&);

// Writes the whole buffer to a stream socket (blocking); false on error.
bool send_all(int fd, const std::uint8_t* data, std::size_t size);

// Parses "--name value" style flags: returns the value following `name`, if present.
const char* flag_value(int argc, char** argv, const char* name);
bool has_flag(int argc, char** argv, const char* name);

// Exits with status 2 and a usage message on stderr.
[[noreturn]] void usage_error(const char* program, const std::string& message, const char* usage);

}  // namespace kv
