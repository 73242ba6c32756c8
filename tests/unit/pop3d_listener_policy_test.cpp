// pop3d_listener_policy_test.cpp - what each POP3 listener offers, one row
// per listener: STLS on 110, TLS from the first byte on 995.
#include "pop3d/listener_policy.hpp"

#include <gtest/gtest.h>

namespace aviary::pop3d {
namespace {

TEST(Pop3ListenerPolicy, Values) {
  EXPECT_EQ(pop3_listener.name, "pop3");
  EXPECT_FALSE(pop3_listener.implicit_tls);
  EXPECT_TRUE(pop3_listener.offers_stls);

  EXPECT_EQ(pop3s_listener.name, "pop3s");
  EXPECT_TRUE(pop3s_listener.implicit_tls);
  EXPECT_FALSE(pop3s_listener.offers_stls) << "inside TLS from the start: nothing to upgrade";
}

}  // namespace
}  // namespace aviary::pop3d
