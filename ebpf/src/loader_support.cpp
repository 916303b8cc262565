#include "loader_support.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <unistd.h>

namespace tmc::bpf {

bool Error::not_permitted() const noexcept { return error_code_ == EPERM || error_code_ == EACCES; }

namespace detail {
namespace {

int log_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
  char buffer[1024];
  int length = vsnprintf(buffer, sizeof buffer, format, args);
  if (length > 0 && static_cast<size_t>(length) < sizeof buffer && buffer[length - 1] == '\n')
    buffer[length - 1] = '\0';
  if (level == LIBBPF_DEBUG)
    spdlog::trace("libbpf: {}", buffer);
  else
    spdlog::debug("libbpf: {}", buffer);
  return length;
}

}  // namespace

void install_libbpf_logging() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(log_libbpf); });
}

void fail(const std::string& what, int error) {
  if (error < 0) error = -error;
  if (error == 0) error = EINVAL;
  std::string message = "tmc::bpf: " + what + ": " + std::strerror(error);
  if (error == EPERM || error == EACCES)
    message += " (BPF is not permitted here: run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
  throw Error(message, error);
}

int possible_cpus() {
  static const int cpus = [] {
    int n = libbpf_num_possible_cpus();
    return n > 0 ? n : 1;
  }();
  return cpus;
}

bool sum_percpu_counters(int map_fd, const void* key, size_t value_size, uint64_t* out_counters) {
  const size_t counters = value_size / sizeof(uint64_t);
  const size_t stride = (value_size + 7) / 8 * 8;
  std::vector<uint8_t> values(stride * possible_cpus());
  if (bpf_map_lookup_elem(map_fd, key, values.data()) != 0) {
    if (errno == ENOENT) return false;
    fail("reading a per-CPU counter map", errno);
  }
  for (size_t i = 0; i < counters; i++) out_counters[i] = 0;
  for (int cpu = 0; cpu < possible_cpus(); cpu++) {
    for (size_t i = 0; i < counters; i++) {
      uint64_t value;
      std::memcpy(&value, values.data() + cpu * stride + i * sizeof(uint64_t), sizeof value);
      out_counters[i] += value;
    }
  }
  return true;
}

int map_fd_of_program(uint32_t prog_id, const std::string& map_name) {
  int prog_fd = bpf_prog_get_fd_by_id(prog_id);
  if (prog_fd < 0) fail("opening program id " + std::to_string(prog_id), errno);
  uint32_t map_ids[16] = {};
  bpf_prog_info info{};
  info.nr_map_ids = 16;
  info.map_ids = reinterpret_cast<uint64_t>(map_ids);
  uint32_t info_length = sizeof info;
  int result = bpf_obj_get_info_by_fd(prog_fd, &info, &info_length);
  int saved = errno;
  close(prog_fd);
  if (result != 0) fail("reading program info", saved);
  for (uint32_t i = 0; i < info.nr_map_ids && i < 16; i++) {
    int map_fd = bpf_map_get_fd_by_id(map_ids[i]);
    if (map_fd < 0) continue;
    bpf_map_info map_info{};
    uint32_t map_info_length = sizeof map_info;
    // The kernel keeps BPF_OBJ_NAME_LEN - 1 = 15 characters of a map's name.
    if (bpf_obj_get_info_by_fd(map_fd, &map_info, &map_info_length) == 0 &&
        map_name.substr(0, BPF_OBJ_NAME_LEN - 1) == map_info.name)
      return map_fd;
    close(map_fd);
  }
  fail("program id " + std::to_string(prog_id) + " has no map named " + map_name, ENOENT);
}

}  // namespace detail

bool available(std::string* why) {
  auto explain = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return explain("no kernel BTF (/sys/kernel/btf/vmlinux): the CO-RE programs cannot be loaded");
  detail::install_libbpf_logging();
  // r0 = 0 (TC_ACT_OK); exit — the smallest valid tc program.
  struct bpf_insn program[2] = {};
  program[0].code = 0xb7;  // BPF_ALU64 | BPF_MOV | BPF_K
  program[1].code = 0x95;  // BPF_JMP | BPF_EXIT
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tmc_probe", "GPL", program, 2, nullptr);
  if (fd < 0) {
    int error = errno;
    std::string reason = std::string("loading a tc BPF program failed: ") + std::strerror(error);
    if (error == EPERM || error == EACCES)
      reason += " (BPF is not permitted here: run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
    return explain(reason);
  }
  close(fd);
  if (why) why->clear();
  return true;
}

}  // namespace tmc::bpf
