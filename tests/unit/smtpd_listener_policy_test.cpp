// smtpd_listener_policy_test.cpp - what each SMTP listener offers and
// requires, one row per listener: port 25 never takes a password nor
// relays; submission (587) and submissions (465) take mail only from an
// authenticated user inside TLS, as that user.
#include "smtpd/listener_policy.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace aviary::smtpd {
namespace {

struct PolicyRow {
  std::string label;
  ListenerPolicy policy;
  std::string name;
  bool implicit_tls, offers_auth, requires_auth, checks_sender, accepts_auth_parameter, relays,
      completes_origin_fields;
};
void PrintTo(const PolicyRow& r, std::ostream* os) { *os << r.label; }

class SmtpdListenerPolicies : public testing::TestWithParam<PolicyRow> {};

TEST_P(SmtpdListenerPolicies, Values) {
  const PolicyRow& r = GetParam();
  EXPECT_EQ(r.policy.name, r.name);
  EXPECT_EQ(r.policy.implicit_tls, r.implicit_tls);
  EXPECT_EQ(r.policy.offers_auth, r.offers_auth);
  EXPECT_EQ(r.policy.requires_auth, r.requires_auth);
  EXPECT_EQ(r.policy.checks_sender, r.checks_sender);
  EXPECT_EQ(r.policy.accepts_auth_parameter, r.accepts_auth_parameter);
  EXPECT_EQ(r.policy.relays, r.relays);
  EXPECT_EQ(r.policy.completes_origin_fields, r.completes_origin_fields);
}

//                                                    implicit auth  requires sender AUTH= relays origin
INSTANTIATE_TEST_SUITE_P(Smtpd, SmtpdListenerPolicies,
                         testing::Values(PolicyRow{"mx", mx_listener, "smtp", false, false, false, false, false, false,
                                                   false},
                                         PolicyRow{"submission", submission_listener, "submission", false, true, true,
                                                   true, true, true, true},
                                         PolicyRow{"submissions", submissions_listener, "submissions", true, true,
                                                   true, true, true, true, true}),
                         [](const testing::TestParamInfo<PolicyRow>& info) { return info.param.label; });

// RFC 4954 §4, RFC 8314: wherever a password is taken it is required before
// mail, and the sender is then checked against it.
TEST(SmtpdListenerPolicy, AuthGoesWithItsChecks) {
  for (const ListenerPolicy& p : {mx_listener, submission_listener, submissions_listener}) {
    SCOPED_TRACE(std::string(p.name));
    EXPECT_EQ(p.offers_auth, p.requires_auth);
    EXPECT_EQ(p.requires_auth, p.checks_sender);
    EXPECT_EQ(p.relays, p.requires_auth) << "relaying only for authenticated users";
  }
}

}  // namespace
}  // namespace aviary::smtpd
