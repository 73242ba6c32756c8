// common_admission_test.cpp - the listeners' pure policies: the per-client key
// (IPv6 counted per /64), the stress threshold, and what an accept() error
// does to a listener.
#include "common/admission.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace aviary::admission {
namespace {

// client_key: one IPv6 /64 is one client; IPv4 addresses stay themselves.
struct KeyCase {
  const char* label;
  const char* ip;
  const char* key;
};

void PrintTo(const KeyCase& c, std::ostream* os) { *os << c.label; }

const std::vector<KeyCase> key_cases = {
    {"ipv4", "192.0.2.7", "192.0.2.7"},
    {"ipv4_loopback", "127.0.0.1", "127.0.0.1"},
    {"ipv6_loopback", "::1", "::/64"},
    {"ipv6_host", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
    {"ipv6_same_64", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
    {"ipv6_next_64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
    {"ipv6_uncanonical", "2001:0DB8:0001:0002:0:0:0:1", "2001:db8:1:2::/64"},
    {"ipv6_link_local", "fe80::1:2:3:4", "fe80::/64"},
    {"ipv6_zone", "fe80::1%eth0", "fe80::/64"},
    {"ipv4_mapped", "::ffff:192.0.2.7", "192.0.2.7"},
    {"not_an_address", "nonsense:x", "nonsense:x"},
    {"empty", "", ""},
};

class ClientKeyTest : public testing::TestWithParam<KeyCase> {};

TEST_P(ClientKeyTest, Key) { EXPECT_EQ(client_key(GetParam().ip), GetParam().key); }

INSTANTIATE_TEST_SUITE_P(Table, ClientKeyTest, testing::ValuesIn(key_cases),
                         [](const testing::TestParamInfo<KeyCase>& info) { return std::string(info.param.label); });

TEST(ClientKey, TwoAddressesOfOneSlash64AreOneClient) {
  EXPECT_EQ(client_key("2001:db8:aa:bb::1"), client_key("2001:db8:aa:bb:1234:5678:9abc:def0"));
  EXPECT_NE(client_key("2001:db8:aa:bb::1"), client_key("2001:db8:aa:bc::1"));
  EXPECT_NE(client_key("192.0.2.1"), client_key("192.0.2.2"));
}

// under_stress: at 80% of the limit, not below.
struct StressCase {
  const char* label;
  std::uint32_t active;
  std::uint32_t limit;
  bool stressed;
};

void PrintTo(const StressCase& c, std::ostream* os) { *os << c.label; }

const std::vector<StressCase> stress_cases = {
    {"empty", 0, 1000, false},
    {"below_80", 799, 1000, false},
    {"at_80", 800, 1000, true},
    {"full", 1000, 1000, true},
    {"over", 1200, 1000, true},
    {"small_pool_below", 3, 5, false},
    {"small_pool_at", 4, 5, true},
    {"limit_one_idle", 0, 1, false},
    {"limit_one_busy", 1, 1, true},
    {"no_overflow", 4000000000u, 4000000000u, true},
    {"no_overflow_below", 3000000000u, 4000000000u, false},
};

class StressTest : public testing::TestWithParam<StressCase> {};

TEST_P(StressTest, Threshold) {
  const auto& c = GetParam();
  EXPECT_EQ(under_stress(c.active, c.limit), c.stressed);
}

INSTANTIATE_TEST_SUITE_P(Table, StressTest, testing::ValuesIn(stress_cases),
                         [](const testing::TestParamInfo<StressCase>& info) { return std::string(info.param.label); });

// on_accept_error: only a closed acceptor stops the loop.
struct AcceptCase {
  const char* label;
  int error;
  AcceptAction action;
};

void PrintTo(const AcceptCase& c, std::ostream* os) { *os << c.label; }

const std::vector<AcceptCase> accept_cases = {
    {"emfile", EMFILE, AcceptAction::back_off},
    {"enfile", ENFILE, AcceptAction::back_off},
    {"enobufs", ENOBUFS, AcceptAction::back_off},
    {"enomem", ENOMEM, AcceptAction::back_off},
    {"econnaborted", ECONNABORTED, AcceptAction::retry},
    {"eproto", EPROTO, AcceptAction::retry},
    {"eperm_firewall", EPERM, AcceptAction::retry},
    {"eintr", EINTR, AcceptAction::retry},
    {"eagain", EAGAIN, AcceptAction::retry},
    {"enetdown", ENETDOWN, AcceptAction::retry},
    {"ehostunreach", EHOSTUNREACH, AcceptAction::retry},
    {"ehostdown", EHOSTDOWN, AcceptAction::retry},
    {"enonet", ENONET, AcceptAction::retry},
    {"canceled_at_shutdown", ECANCELED, AcceptAction::stop},
    {"closed_acceptor", EBADF, AcceptAction::stop},
    {"unexpected_einval", EINVAL, AcceptAction::back_off},
    {"unexpected_eio", EIO, AcceptAction::back_off},
};

class AcceptErrorTest : public testing::TestWithParam<AcceptCase> {};

TEST_P(AcceptErrorTest, Action) {
  const auto& c = GetParam();
  EXPECT_EQ(on_accept_error(std::error_code(c.error, std::system_category())), c.action);
}

INSTANTIATE_TEST_SUITE_P(Table, AcceptErrorTest, testing::ValuesIn(accept_cases),
                         [](const testing::TestParamInfo<AcceptCase>& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace aviary::admission
