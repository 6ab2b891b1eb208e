package proxy

import (
	"context"
	"strings"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/valyala/fasthttp"
)

// tagHeaders are consumed by edge and never reach clients.
var tagHeaders = []string{"Surrogate-Key", "Xkey", "Cache-Tag", "Surrogate-Control"}

// spoofable are client-supplied headers that could make the origin believe
// something about the request that edge did not say; they are removed
// before anything is forwarded.
var spoofable = []string{
	"Forwarded", "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Server",
	"X-Host", "X-Original-Url", "X-Rewrite-Url", "X-Real-Ip",
}

// forwarded are the headers edge sets itself on every forwarded request.
var forwarded = []string{fasthttp.HeaderXForwardedFor, "X-Forwarded-Proto", "X-Forwarded-Host"}

// pass sends the request to the origin as it came (normalised URI, edge's
// forwarding headers) and relays the answer. Nothing is stored.
func (s *Server) pass(ctx *fasthttp.RequestCtx, res cachekey.Result, cacheStatus string) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	ctx.Request.CopyTo(req)
	req.SetRequestURIBytes(res.URI)
	req.Header.SetHostBytes(res.Host)
	dropNominated(&req.Header)
	for _, h := range spoofable {
		req.Header.Del(h)
	}
	// Del first: Set replaces only the first of repeated client lines.
	for _, h := range forwarded {
		req.Header.Del(h)
	}
	req.Header.Set(fasthttp.HeaderXForwardedFor, ctx.RemoteIP().String())
	req.Header.Set("X-Forwarded-Proto", s.proto())
	req.Header.SetBytesV("X-Forwarded-Host", res.Host)

	fctx, cancel := context.WithTimeout(context.Background(), s.fillTimeout())
	defer cancel()
	if err := s.Origin.Do(fctx, edge.PriorityMiss, req, resp); err != nil {
		return err
	}
	s.stats.bypass.Add(1)
	resp.CopyTo(&ctx.Response)
	h := &ctx.Response.Header
	for _, t := range tagHeaders {
		h.Del(t)
	}
	h.Set("X-Cache", xcache[outBypass])
	h.Set("Cache-Status", cacheStatus)
	h.Set(fasthttp.HeaderAge, "0")
	return nil
}

func (s *Server) proto() string {
	if s.Proto == "" {
		return "http"
	}
	return s.Proto
}

// dropNominated removes the headers a client's Connection header nominates
// as hop-by-hop, and Connection itself, before edge adds its forwarding
// headers: otherwise the origin client's hop-by-hop stripping, which runs
// later, would remove the X-Forwarded-* values edge set because the client
// named them in Connection (RFC 9110 §7.6.1 abuse). Host and Content-Length
// never get here (ambiguousFraming refuses the request).
func dropNominated(h *fasthttp.RequestHeader) {
	v := h.Peek(fasthttp.HeaderConnection)
	if len(v) == 0 {
		return
	}
	for tok := range strings.SplitSeq(string(v), ",") {
		if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "close") && !strings.EqualFold(tok, "keep-alive") {
			h.Del(tok)
		}
	}
	h.Del(fasthttp.HeaderConnection)
}
