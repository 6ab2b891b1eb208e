// Package proxy owns edge's request path: it turns a request into a cache
// key (or rejects it with a 4xx), lets private traffic pass straight to the
// origin, serves pages from the memory tier and then the disk tier, and on a
// miss runs one coalesced generation per key while the other requesters wait
// for it. On the miss path it also runs the miss firewall: a per-client
// miss rate (429 beyond it) and an admission policy that decides whether a
// generated page is stored (always, on its second miss, or only if known).
//
// # Ownership
//
// fasthttp reuses a RequestCtx and all its memory once the handler returns.
// Nothing in this package keeps a reference to request or response bytes
// past the handler: keys are copied into strings before they enter the
// flight group, and pages are built by the Generator from copied bytes.
// Pages are immutable, so their bodies are handed to fasthttp with
// SetBodyRaw, without a copy.
//
// # Outcomes
//
// Every response carries X-Cache (HIT, MISS, STALE or BYPASS), Age and a
// Cache-Status header (RFC 9211) naming "edge" as the cache.
package proxy
