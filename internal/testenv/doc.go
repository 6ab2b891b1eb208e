// Package testenv is the hardening test harness of edge; only tests import
// it. It owns three tools, all on 127.0.0.1 and bounded in time:
//
//   - Origin: a misbehaving origin on raw sockets. Each connection is served
//     by a script (a Handler per request, or a whole-connection function), so
//     a test can answer with any bytes: slow first byte, truncated bodies,
//     resets, bad framing, duplicate or conflicting headers, keep-alive
//     connections closed by the origin, or an echo of the request's headers.
//     It records every request it read, byte for byte.
//   - Client: a raw-socket client that writes exact bytes, reads one raw
//     response and reports whether the server closed the connection.
//   - Proc: a process harness that runs the edge binary (or a test binary
//     that acts as it), waits for log lines, kills it with SIGKILL and
//     starts it again on the same store.
//
// Crash points inside edge are armed through the EDGE_FAULT environment
// variable read by internal/fault; Proc only passes it on.
//
// Nothing here is safe for use after the test that created it has ended.
package testenv
