package main

import (
	"errors"

	"github.com/pregen/edge/invalidate"
	"github.com/valyala/fasthttp"
)

// invalidateError is the admin API's answer to a refused message.
type invalidateError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// serveInvalidate answers POST /invalidate: with the bearer token, a
// message (JSON, see invalidate.Message) is applied and answered with 202
// {"marked":N,"unknown":M} once its marks are durable ({"deleted":N} for a
// hard one); a malformed body gets a 400 naming the field; a failure to
// write the marks a 500 (nothing is acknowledged, retry). In cluster mode
// the message is also in the durable outbox before the 202. Without the
// right token nothing is read or marked (401; 403 with no token set).
func (m *Main) serveInvalidate(ctx *fasthttp.RequestCtx, svc *invalidate.Service) {
	if !m.authorized(ctx) {
		return
	}
	msg, err := invalidate.Decode(ctx.PostBody())
	if err == nil && m.cluster.queued(msg) {
		// nats.regenerate: workers: nothing is marked here; the outbox
		// hands one job per page to the workers. Marked counts the pages
		// named (as known here; the shared tag index may add more).
		var keys []string
		if keys, err = svc.Resolve(ctx, msg); err == nil {
			if err = m.cluster.accept(msg); err == nil {
				m.writeJSON(ctx, fasthttp.StatusAccepted, invalidate.Result{Marked: len(keys)})
				return
			}
		}
	} else if err == nil {
		var res invalidate.Result
		if res, err = svc.Apply(ctx, msg, "api"); err == nil && m.cluster != nil {
			// The other edges learn of it through the outbox, which is
			// durable before the answer (NATS may be unreachable).
			err = m.cluster.accept(msg)
		}
		if err == nil {
			m.writeJSON(ctx, fasthttp.StatusAccepted, res)
			return
		}
	}
	m.invalidateError(ctx, err)
}

// serveImpact answers GET /impact?tag=T&prefix=P&url=U (each repeatable,
// all=1 for every page) with {"pages":N}: how many stored pages the
// message would touch. Nothing is marked; no token is needed (like
// /status, it only reads).
func (m *Main) serveImpact(ctx *fasthttp.RequestCtx, svc *invalidate.Service) {
	var msg invalidate.Message
	args := ctx.QueryArgs()
	for k, v := range args.All() {
		switch string(k) {
		case "tag":
			msg.Tags = append(msg.Tags, string(v))
		case "prefix":
			msg.Prefixes = append(msg.Prefixes, string(v))
		case "url":
			msg.URLs = append(msg.URLs, string(v))
		case "all":
			msg.All = string(v) == "1" || string(v) == "true"
		default:
			m.writeJSON(ctx, fasthttp.StatusBadRequest, invalidateError{
				Error: "unknown parameter (want tag, prefix, url or all)", Field: string(k)})
			return
		}
	}
	if msg.Empty() {
		m.writeJSON(ctx, fasthttp.StatusBadRequest, invalidateError{Error: "give tag=, prefix=, url= or all=1"})
		return
	}
	n, err := svc.Impact(ctx, msg)
	if err != nil {
		m.invalidateError(ctx, err)
		return
	}
	m.writeJSON(ctx, fasthttp.StatusOK, struct {
		Pages int `json:"pages"`
	}{n})
}

func (m *Main) invalidateError(ctx *fasthttp.RequestCtx, err error) {
	var fe *invalidate.FieldError
	switch {
	case errors.As(err, &fe):
		m.writeJSON(ctx, fasthttp.StatusBadRequest, invalidateError{Error: err.Error(), Field: fe.Field})
	case errors.Is(err, invalidate.ErrMalformed):
		m.writeJSON(ctx, fasthttp.StatusBadRequest, invalidateError{Error: err.Error()})
	default:
		m.logger.Error("invalidation not applied", "err", err)
		m.writeJSON(ctx, fasthttp.StatusInternalServerError, invalidateError{Error: "invalidation not applied; nothing was acknowledged, retry: " + err.Error()})
	}
}
