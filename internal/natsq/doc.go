// Package natsq owns edge's use of NATS JetStream in cluster mode: the
// connection (which survives server restarts), the work-queue stream that
// spreads regeneration and bulk work over the workers (deduplicated by
// Nats-Msg-Id, acknowledged explicitly, redelivered at most MaxDeliver
// times, then set aside on a dead-letter subject), the fan-out stream on
// which every edge learns of accepted invalidations, the shared tag index
// (a JetStream key-value bucket: tag → keys of the pages that carry it), and
// the relay that publishes a durable local outbox once the server answers.
//
// It knows nothing of pages beyond their keys and tags: cmd/edge decides
// what a job or an event does.
package natsq
