// `tmc stats --dev IFACE` (shim/tool/kernel_stats.cpp) against a real classifier: the test
// attaches tmc::bpf::ClassifierLoader on a netns veth, sends a known number of TMC packets of
// one channel (plus malformed ones, another channel's and non-TMC datagrams), then runs the
// built `tmc` inside that netns — a separate process that never loaded the classifier — and
// checks the printed table and Prometheus text against the counts sent. Devices without a
// classifier, unknown devices and an unprivileged caller must give one clear line and exit 1.
#include <gtest/gtest.h>
#include <net/if.h>

#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/classifier.h"
#include "udp_helpers.h"

namespace tmc::bpf::test {
namespace {

constexpr uint32_t kChannel = 41;
constexpr uint32_t kOtherChannel = 5;
constexpr uint64_t kPackets = 25;
constexpr uint64_t kOtherPackets = 3;
constexpr uint64_t kMalformed = 2;
constexpr uint64_t kNonTmc = 10;
constexpr uint16_t kPort = 7011;

// Runs `tmc ARGS` inside netns `ns` (as `prefix` says, e.g. an unprivileged user).
int run_tmc(const std::string& ns, const std::string& args, std::string* output, const std::string& prefix = "") {
  return run_command("ip netns exec " + ns + " " + prefix + TMC_TOOL + " " + args, output);
}

struct Row {
  uint64_t packets = 0, bytes = 0, malformed = 0, drops = 0;
};

// The table's rows keyed by "channel/direction"; fails the test on a line it cannot read.
std::map<std::string, Row> parse_table(const std::string& text) {
  std::map<std::string, Row> rows;
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  EXPECT_NE(line.find("TMC classifier counters on eth0"), std::string::npos) << text;
  std::getline(lines, line);
  EXPECT_EQ(line.find("channel"), 0u) << "column header: " << text;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string channel, direction;
    Row row;
    if (!(fields >> channel >> direction >> row.packets >> row.bytes >> row.malformed >> row.drops)) {
      ADD_FAILURE() << "unreadable row '" << line << "' in:\n" << text;
      continue;
    }
    EXPECT_TRUE(rows.emplace(channel + "/" + direction, row).second) << "duplicate row " << line;
  }
  return rows;
}

// Prometheus text format 0.0.4: samples keyed by "metric/channel/direction"; every sample's
// family must have been declared a counter before it, every label set must hold device,
// channel and direction.
std::map<std::string, uint64_t> parse_prometheus(const std::string& text) {
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  static const std::regex kHelp(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} ([0-9]+))");
  static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)\"(,|$))");
  std::map<std::string, uint64_t> samples;
  std::set<std::string> counters;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch match;
    if (std::regex_match(line, match, kType)) {
      EXPECT_EQ(match[2], "counter") << line;
      counters.insert(match[1]);
    } else if (std::regex_match(line, kHelp)) {
    } else if (std::regex_match(line, match, kSample)) {
      std::string name = match[1];
      EXPECT_TRUE(counters.count(name)) << "sample before its # TYPE: " << line;
      std::map<std::string, std::string> labels;
      std::string label_text = match[2];
      for (std::sregex_iterator it(label_text.begin(), label_text.end(), kLabel), end; it != end; ++it)
        labels[(*it)[1]] = (*it)[2];
      EXPECT_EQ(labels["device"], "eth0") << line;
      EXPECT_EQ(labels.size(), 3u) << line;
      std::string key = name + "/" + labels["channel"] + "/" + labels["direction"];
      EXPECT_TRUE(samples.emplace(key, std::stoull(match[3])).second) << "duplicate sample " << line;
    } else {
      ADD_FAILURE() << "not Prometheus text: '" << line << "'";
    }
  }
  return samples;
}

TEST(StatsNetnsTest, TmcStatsDevPrintsTheClassifierCounters) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(2);
  UdpSocket receiver(bed.host(0), Testbed::ip(0), kPort);
  UdpSocket sender(bed.host(1), Testbed::ip(1), 0);

  std::optional<ClassifierLoader> classifier;
  {
    InNetns inside(bed.host(0));
    classifier.emplace();
    classifier->attach(static_cast<int>(if_nametoindex("eth0")));
  }

  TmcHeader header;
  header.channel_id = kChannel;
  size_t frame_bytes = 0;
  for (uint64_t s = 0; s < kPackets; s++) {
    header.sequence = s;
    Bytes payload = tmc_payload(header);
    frame_bytes = kPayloadOffset + payload.size();  // counted from the Ethernet header on
    ASSERT_TRUE(sender.send_to(Testbed::ip(0), kPort, payload.data(), payload.size()));
  }
  TmcHeader malformed = header;
  malformed.version = TMC_VERSION + 1;
  for (uint64_t i = 0; i < kMalformed; i++) {
    Bytes payload = tmc_payload(malformed);
    ASSERT_TRUE(sender.send_to(Testbed::ip(0), kPort, payload.data(), payload.size()));
  }
  TmcHeader other = header;
  other.channel_id = kOtherChannel;
  for (uint64_t i = 0; i < kOtherPackets; i++) {
    Bytes payload = tmc_payload(other);
    ASSERT_TRUE(sender.send_to(Testbed::ip(0), kPort, payload.data(), payload.size()));
  }
  for (uint64_t i = 0; i < kNonTmc; i++) {
    std::string plain = "not a TMC packet " + std::to_string(i);
    ASSERT_TRUE(sender.send_to(Testbed::ip(0), kPort, plain.data(), plain.size()));
  }
  ASSERT_EQ(receiver.drain(nullptr), kPackets + kMalformed + kOtherPackets + kNonTmc) << "all reach user space";

  std::string output;
  ASSERT_EQ(run_tmc(bed.host(0), "stats --dev eth0", &output), 0) << output;
  auto rows = parse_table(output);
  EXPECT_EQ(rows.size(), 4u) << "two channels x two directions:\n" << output;
  Row ingress = rows[std::to_string(kChannel) + "/ingress"];
  EXPECT_EQ(ingress.packets, kPackets) << output;
  EXPECT_EQ(ingress.bytes, kPackets * frame_bytes) << output;
  EXPECT_EQ(ingress.malformed, kMalformed) << output;
  EXPECT_EQ(ingress.drops, 0u) << output;
  Row egress = rows[std::to_string(kChannel) + "/egress"];
  EXPECT_EQ(egress.packets + egress.bytes + egress.malformed + egress.drops, 0u) << "host 0 sent nothing:\n" << output;
  EXPECT_EQ(rows[std::to_string(kOtherChannel) + "/ingress"].packets, kOtherPackets) << output;
  EXPECT_EQ(classifier->counters(kChannel).ingress.packets, kPackets) << "the loader's own view agrees";

  ASSERT_EQ(run_tmc(bed.host(0), "stats --prometheus --dev=eth0", &output), 0) << output;
  auto samples = parse_prometheus(output);
  const std::string channel = "/" + std::to_string(kChannel);
  EXPECT_EQ(samples["tmc_kernel_packets_total" + channel + "/ingress"], kPackets) << output;
  EXPECT_EQ(samples["tmc_kernel_bytes_total" + channel + "/ingress"], kPackets * frame_bytes) << output;
  EXPECT_EQ(samples["tmc_kernel_malformed_total" + channel + "/ingress"], kMalformed) << output;
  EXPECT_EQ(samples["tmc_kernel_drops_total" + channel + "/ingress"], 0u) << output;
  EXPECT_EQ(samples["tmc_kernel_packets_total" + channel + "/egress"], 0u) << output;
  EXPECT_EQ(samples["tmc_kernel_packets_total/" + std::to_string(kOtherChannel) + "/ingress"], kOtherPackets);
  EXPECT_EQ(samples.size(), 16u) << "4 metrics x 2 channels x 2 directions:\n" << output;

  // Reading BPF maps needs privileges: an unprivileged caller gets the hint, not a table.
  int status = run_tmc(bed.host(0), "stats --dev eth0", &output, "setpriv --reuid=65534 --regid=65534 --clear-groups ");
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("not permitted"), std::string::npos) << output;
  EXPECT_EQ(output.find("channel"), std::string::npos) << output;
}

TEST(StatsNetnsTest, DeviceWithoutClassifierIsAClearError) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(1);
  std::string output;
  for (const char* device : {"eth0", "lo"}) {
    for (const char* format : {"", "--prometheus "}) {
      EXPECT_EQ(run_tmc(bed.host(0), std::string("stats ") + format + "--dev " + device, &output), 1) << output;
      EXPECT_EQ(output, std::string("tmc stats: no TMC classifier is attached to ") + device +
                            " (nothing counts TMC packets there; the engine or tmc::bpf::ClassifierLoader attaches it)\n");
    }
  }
  EXPECT_EQ(run_tmc(bed.host(0), "stats --dev nosuch0", &output), 1) << output;
  EXPECT_NE(output.find("no network device 'nosuch0'"), std::string::npos) << output;

  // A classifier attached and detached again leaves nothing behind to read.
  {
    InNetns inside(bed.host(0));
    ClassifierLoader classifier;
    classifier.attach(static_cast<int>(if_nametoindex("eth0")));
    std::string attached;
    EXPECT_EQ(run_tmc(bed.host(0), "stats --dev eth0", &attached), 0) << attached;
    EXPECT_NE(attached.find("(no TMC packet seen yet)"), std::string::npos) << attached;
  }
  EXPECT_EQ(run_tmc(bed.host(0), "stats --dev eth0", &output), 1) << output;
}

TEST(StatsNetnsTest, UsageNamesTheDeviceForm) {
  std::string output;
  ASSERT_EQ(run_command(std::string(TMC_TOOL) + " stats --help", &output), 0) << output;
  EXPECT_NE(output.find("tmc stats [--prometheus] --dev IFACE"), std::string::npos) << output;
  EXPECT_NE(output.find("tmc_kernel_"), std::string::npos) << output;
  EXPECT_EQ(run_command(std::string(TMC_TOOL) + " stats --dev", &output), 2) << output;
  EXPECT_EQ(run_command(std::string(TMC_TOOL) + " stats 1 --dev eth0", &output), 2) << output;
}

}  // namespace
}  // namespace tmc::bpf::test
