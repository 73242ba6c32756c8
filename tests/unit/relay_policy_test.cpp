// relay_policy_test.cpp - the relay's pure parts: routing and MX ordering
// (RFC 5321 §5.1, RFC 7505), the retry schedule, reading server replies
// and EHLO keywords (RFC 5321 §4.2, RFC 2920, RFC 1870).
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "common/config.hpp"
#include "relay/client_reply.hpp"
#include "relay/host_name.hpp"
#include "relay/retry.hpp"
#include "relay/route.hpp"

namespace aviary::relay {
namespace {

using namespace std::chrono_literals;

Config::Relay relay_with(std::map<std::string, Endpoint> routes, std::optional<Endpoint> smarthost) {
  Config::Relay relay;
  relay.routes = std::move(routes);
  relay.smarthost = std::move(smarthost);
  relay.smtp_port = 2525;
  return relay;
}

// route_for -------------------------------------------------------------------------

TEST(RouteFor, RouteWinsOverSmarthostAndDns) {
  auto relay = relay_with({{"partner.test", {"127.0.0.1", 2626}}}, Endpoint{"smart.test", 587});
  NextHop hop = route_for(relay, "Partner.TEST");
  EXPECT_FALSE(hop.via_mx);
  EXPECT_EQ(hop.endpoint, (Endpoint{"127.0.0.1", 2626}));
  EXPECT_EQ(hop.domain, "partner.test");
}

TEST(RouteFor, SmarthostTakesEveryOtherDomain) {
  auto relay = relay_with({{"partner.test", {"127.0.0.1", 2626}}}, Endpoint{"smart.test", 587});
  NextHop hop = route_for(relay, "elsewhere.test");
  EXPECT_FALSE(hop.via_mx);
  EXPECT_EQ(hop.endpoint, (Endpoint{"smart.test", 587}));
}

TEST(RouteFor, WithoutRouteOrSmarthostTheMxDecides) {
  auto relay = relay_with({}, std::nullopt);
  NextHop hop = route_for(relay, "b.test");
  EXPECT_TRUE(hop.via_mx);
  EXPECT_EQ(hop.key(), "b.test");
}

TEST(RouteFor, AddressLiteralIsTheHostOnTheSmtpPort) {
  auto relay = relay_with({}, std::nullopt);
  EXPECT_EQ(route_for(relay, "[192.0.2.7]").endpoint, (Endpoint{"192.0.2.7", 2525}));
  EXPECT_EQ(route_for(relay, "[IPv6:2001:db8::1]").endpoint, (Endpoint{"2001:db8::1", 2525}));
}

// Issue 11 item 28: a route may name an address literal (the only way
// submission accepts one); it then wins, as for a domain.
TEST(RouteFor, RouteForAnAddressLiteralWins) {
  auto relay = relay_with({{"[192.0.2.9]", {"127.0.0.1", 2626}}, {"[ipv6:2001:db8::9]", {"127.0.0.1", 2627}}},
                          std::nullopt);
  EXPECT_EQ(route_for(relay, "[192.0.2.9]").endpoint, (Endpoint{"127.0.0.1", 2626}));
  EXPECT_EQ(route_for(relay, "[IPv6:2001:DB8::9]").endpoint, (Endpoint{"127.0.0.1", 2627}));
  EXPECT_EQ(route_for(relay, "[192.0.2.10]").endpoint, (Endpoint{"192.0.2.10", 2525}));
}

TEST(RouteFor, DomainsSharingANextHopShareItsKey) {
  auto relay = relay_with({}, Endpoint{"127.0.0.1", 2525});
  EXPECT_EQ(route_for(relay, "a.test").key(), route_for(relay, "b.test").key());
  auto by_mx = relay_with({}, std::nullopt);
  EXPECT_NE(route_for(by_mx, "a.test").key(), route_for(by_mx, "b.test").key());
}

// order_mx --------------------------------------------------------------------------

TEST(OrderMx, LowestPreferenceFirst) {
  std::mt19937 random(1);
  auto hosts = order_mx({{20, "mx2.b.test."}, {10, "MX1.b.test"}, {30, "mx3.b.test"}}, random);
  EXPECT_FALSE(hosts.null_mx);
  EXPECT_EQ(hosts.hosts, (std::vector<std::string>{"mx1.b.test", "mx2.b.test", "mx3.b.test"}));
}

TEST(OrderMx, EqualPreferencesInRandomOrderAfterTheBetterOnes) {
  std::set<std::string> seen_first;
  for (unsigned seed = 0; seed < 64; ++seed) {
    std::mt19937 random(seed);
    auto hosts = order_mx({{10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {5, "best.test"}, {50, "last.test"}}, random);
    ASSERT_EQ(hosts.hosts.size(), 5u);
    EXPECT_EQ(hosts.hosts.front(), "best.test");
    EXPECT_EQ(hosts.hosts.back(), "last.test");
    seen_first.insert(hosts.hosts[1]);
  }
  EXPECT_EQ(seen_first, (std::set<std::string>{"a.test", "b.test", "c.test"}));
}

TEST(OrderMx, LoneRootTargetIsNullMx) {
  std::mt19937 random(1);
  EXPECT_TRUE(order_mx({{0, ""}}, random).null_mx);
  EXPECT_TRUE(order_mx({{0, "."}}, random).null_mx);
}

TEST(OrderMx, RootBesideRealHostsIsIgnored) {
  std::mt19937 random(1);
  auto hosts = order_mx({{0, ""}, {10, "mx.b.test"}}, random);
  EXPECT_FALSE(hosts.null_mx);
  EXPECT_EQ(hosts.hosts, (std::vector<std::string>{"mx.b.test"}));
}

TEST(OrderMx, NoRecordsIsNotNullMx) {
  std::mt19937 random(1);
  auto hosts = order_mx({}, random);
  EXPECT_FALSE(hosts.null_mx);
  EXPECT_TRUE(hosts.hosts.empty());
}

TEST(OrderMx, DuplicateHostsAreTriedOnce) {
  std::mt19937 random(1);
  auto hosts = order_mx({{10, "mx.b.test"}, {20, "MX.b.test."}}, random);
  EXPECT_EQ(hosts.hosts, (std::vector<std::string>{"mx.b.test"}));
}

// host names from DNS and route data (issue 11 item 24) --------------------------------

TEST(HostName, OnlyLettersDigitsHyphens) {
  struct Case {
    std::string name;
    bool ok;
  } cases[] = {
      {"mx.b.test", true},
      {"MX1.B.Test.", true},  // the root dot
      {"localhost", true},
      {"xn--bcher-kva.test", true},
      {"3com.test", true},  // RFC 1123 §2.1: a leading digit is fine
      {"a-b.test", true},
      {std::string(63, 'a') + ".test", true},
      {std::string(64, 'a') + ".test", false},
      {"", false},
      {".", false},
      {"mx..b.test", false},
      {".mx.b.test", false},
      {"-mx.b.test", false},
      {"mx-.b.test", false},
      {"mx_1.b.test", false},
      {"mx b.test", false},
      {"mx\r\nX-Injected: yes.b.test", false},
      {"mx.b.test\n", false},
      {"m\xc3\xa9x.b.test", false},
      {"[127.0.0.1]", false},
      {"192.0.2.1", false},  // RFC 3696 §2: an all-numeric last label is an address
      {"mx.b.test[192.0.2.1]", false},
  };
  for (const auto& c : cases) EXPECT_EQ(is_host_name(c.name), c.ok) << c.name;
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefghi.";
  long_name += "test";  // 254 octets
  EXPECT_FALSE(is_host_name(long_name));
  EXPECT_TRUE(is_host_name(long_name.substr(10)));
}

std::optional<std::string> from_wire(std::string_view wire) {
  return host_name_from_wire(reinterpret_cast<const unsigned char*>(wire.data()), wire.size());
}

TEST(HostName, FromWireFormat) {
  using namespace std::string_view_literals;
  EXPECT_EQ(from_wire("\x02mx\x01" "b\x04test\x00"sv), "mx.b.test");
  EXPECT_EQ(from_wire("\x02MX\x04TEST\x00"sv), "mx.test");
  EXPECT_EQ(from_wire("\x00"sv), "");  // the root: null MX
  // One label "mx\r\nX-Injected: yes" (bytes a zone can hold), then b.test.
  EXPECT_EQ(from_wire("\x13mx\r\nX-Injected: yes\x01" "b\x04test\x00"sv), std::nullopt);
  // A label with a dot inside would read as two labels.
  EXPECT_EQ(from_wire("\x04mx.b\x04test\x00"sv), std::nullopt);
  EXPECT_EQ(from_wire("\x02mx\x04te"sv), std::nullopt);          // truncated
  EXPECT_EQ(from_wire("\x02mx\x04test"sv), std::nullopt);        // no root label
  EXPECT_EQ(from_wire("\xc0\x0c"sv), std::nullopt);              // a compression pointer
  EXPECT_EQ(from_wire("\x03m_x\x04test\x00"sv), std::nullopt);
  EXPECT_EQ(from_wire("\x03\xc3\xa9x\x04test\x00"sv), std::nullopt);
  EXPECT_EQ(from_wire("\x03" "192\x01" "0\x01" "2\x01" "1\x00"sv), std::nullopt);  // numeric
}

// retry -----------------------------------------------------------------------------

TEST(Retry, FollowsTheScheduleThenRepeatsTheLastStep) {
  std::vector<std::chrono::seconds> schedule{1min, 5min, 15min, 1h, 2h, 4h};
  EXPECT_EQ(retry_delay(schedule, 1), 1min);
  EXPECT_EQ(retry_delay(schedule, 2), 5min);
  EXPECT_EQ(retry_delay(schedule, 6), 4h);
  EXPECT_EQ(retry_delay(schedule, 7), 4h);
  EXPECT_EQ(retry_delay(schedule, 1000), 4h);
}

TEST(Retry, NextAttemptNeverPassesTheExpiry) {
  std::vector<std::chrono::seconds> schedule{1h};
  const std::int64_t created = 1'000'000;
  // Plenty of time left: now + 1h.
  EXPECT_EQ(next_attempt(schedule, 1, created + 60, created, 5 * 24h), created + 60 + 3600);
  // Ten minutes before the end: the last try is at the end, for the bounce.
  std::int64_t now = created + 5 * 86400 - 600;
  EXPECT_EQ(next_attempt(schedule, 3, now, created, 5 * 24h), created + 5 * 86400);
}

TEST(Retry, ExpiredAfterMaxQueueTime) {
  EXPECT_FALSE(expired(1000, 1000 + 3599, 1h));
  EXPECT_TRUE(expired(1000, 1000 + 3600, 1h));
}

// replies ---------------------------------------------------------------------------

ServerReply assemble(std::initializer_list<std::string_view> lines) {
  ReplyAssembler a;
  for (auto line : lines)
    if (a.add(line)) return a.take();
  ADD_FAILURE() << "the reply did not end";
  return {};
}

TEST(ServerReply, MultiLineReplyEndsAtTheSpace) {
  ServerReply r = assemble({"250-mx.b.test hello", "250-PIPELINING", "250 SIZE 1000"});
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.lines.size(), 3u);
  EXPECT_TRUE(r.positive());
}

TEST(ServerReply, ClassesAndEnhancedCodes) {
  ServerReply bad = assemble({"550 5.1.1 <bob@b.test>: no such user"});
  EXPECT_FALSE(bad.positive());
  EXPECT_FALSE(bad.transient());
  EXPECT_EQ(bad.enhanced(), "5.1.1");
  EXPECT_EQ(bad.text(), "550 5.1.1 <bob@b.test>: no such user");
  ServerReply later = assemble({"451 4.3.0 try again"});
  EXPECT_TRUE(later.transient());
  EXPECT_EQ(later.enhanced(), "4.3.0");
  EXPECT_EQ(assemble({"250 ok"}).enhanced(), "");
  EXPECT_EQ(assemble({"554 5.7.1x nope"}).enhanced(), "");
}

TEST(ServerReply, OnlyTwoHundredsAreSuccess) {
  // Issue 11 item 27: a 3xx at RCPT or after the data is no acceptance.
  for (auto line : {"354 go ahead", "334 VXNlcm5hbWU6", "300 what", "399 odd"}) {
    ServerReply r = assemble({line});
    EXPECT_FALSE(r.positive()) << line;
    EXPECT_TRUE(r.transient()) << line;  // a protocol error: tried again, not bounced
  }
  EXPECT_TRUE(assemble({"250 2.1.5 ok"}).positive());
  EXPECT_TRUE(assemble({"251 2.1.5 will forward"}).positive());
  EXPECT_TRUE(assemble({"299 odd but fine"}).positive());
  EXPECT_FALSE(assemble({"450 4.2.0 later"}).positive());
  EXPECT_FALSE(assemble({"550 5.1.1 no"}).transient());
}

TEST(ServerReply, MalformedLinesBreakTheReply) {
  EXPECT_EQ(assemble({"hello"}).code, 0);
  EXPECT_EQ(assemble({"25"}).code, 0);
  EXPECT_EQ(assemble({"250-first", "251 changed code"}).code, 0);
  EXPECT_EQ(assemble({"999 out of range"}).code, 0);
  EXPECT_EQ(assemble({"250x"}).code, 0);
  ServerReply lost = assemble({"hello"});
  EXPECT_TRUE(lost.transient());  // a broken peer is a reason to retry
}

TEST(Extensions, KeywordsCaseInsensitiveWithSize) {
  ServerReply ehlo = assemble({"250-mx.b.test", "250-pipelining", "250-SIZE 35651584", "250-8BITMIME", "250-STARTTLS",
                               "250 SMTPUTF8"});
  Extensions e = parse_extensions(ehlo);
  EXPECT_TRUE(e.pipelining);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.max_size, 35651584u);
  EXPECT_TRUE(e.eightbitmime);
  EXPECT_TRUE(e.starttls);
  EXPECT_TRUE(e.smtputf8);
}

TEST(Extensions, GreetingLineIsNotAKeyword) {
  Extensions e = parse_extensions(assemble({"250-PIPELINING says hello", "250 SIZE"}));
  EXPECT_FALSE(e.pipelining);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.max_size, 0u);
  EXPECT_FALSE(e.starttls);
}

}  // namespace
}  // namespace aviary::relay
