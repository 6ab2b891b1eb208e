// Package edge holds the nouns every part of the edge server shares: a
// generated Page, the priorities of origin work, and the sentinel errors that
// cross package boundaries. It imports only the standard library and does no
// I/O.
//
// The packages that do the work sit beside and below it: proxy (the request
// path), gen (turning an origin response into a stored Page), invalidate
// (marking and regenerating), and internal/* (one package per dependency:
// memory tier, disk tier, origin client, cache keys). cmd/edge wires them.
package edge
