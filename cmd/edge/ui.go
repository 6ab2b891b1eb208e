package main

import (
	_ "embed"

	"github.com/valyala/fasthttp"
)

// statusPage is the operator's status page: one self-contained HTML file
// (no external assets, no build step) that polls /status every second.
//
//go:embed ui/status.html
var statusPage []byte

func serveStatusPage(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	ctx.SetBody(statusPage)
}
