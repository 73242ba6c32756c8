"""aviary_test - what the Python tests under tests/ share (see tests/README.md).

ctest puts tests/lib on PYTHONPATH; a test imports the pieces it needs:
  programs      the build's programs (AVIARY_BIN) and what kind of build it is
  ports         free ports, loopback networks and client source addresses
  processes     child processes with their logs, memory readings, bounded waits
  certificates  self-signed certificates and client TLS contexts
  config        aviary.toml from a dict of sections
  daemon        Aviary: one setup (directory, certificate, config, store) and
                its aviary-smtpd / aviary-pop3d processes
  smtp, pop3    byte-exact clients for both protocols
  messages      small RFC 5322 messages and header inspection
  store         the LMDB store read directly (python3-lmdb)
  metrics       the Prometheus text format
  dialogue      the scripted-dialogue player of the smtpd and submission tests
  dns, peers, dsn  dnsmasq, scripted SMTP peers and bounce parsing (relay)
  cases         unittest base classes per suite
"""
