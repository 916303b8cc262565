// tmc::bpf — errors of the eBPF loaders and the "can BPF run here?" probe.
#pragma once

#include <stdexcept>
#include <string>

namespace tmc::bpf {

// Thrown by every loader operation that fails. what() is one line meant for a human, e.g.
// "tmc::bpf: loading the classifier: Operation not permitted (BPF is not permitted here: run
// as root or grant CAP_BPF and CAP_NET_ADMIN)". error_code() is the positive errno.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int error_code)
      : std::runtime_error(message), error_code_(error_code) {}
  int error_code() const noexcept { return error_code_; }
  // True when the kernel refused for lack of privilege (EPERM/EACCES): the engine then keeps
  // its software path.
  bool not_permitted() const noexcept;

 private:
  int error_code_;
};

// Probes whether a tc BPF program can be loaded here (kernel support, privileges, kernel BTF
// for CO-RE). On false, *why (if given) says what is missing in one line. Cheap: loads and
// closes a two-instruction program.
bool available(std::string* why = nullptr);

// Where a tc program runs on an interface.
enum class Direction { ingress, egress };

}  // namespace tmc::bpf
