package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Server names, in the order of every table and chart.
const (
	edgeName   = "edge"
	static     = "nginx-static"
	proxyCache = "nginx-proxy_cache"
	varnish    = "varnish"
	originName = "origin"
)

var allServers = []string{edgeName, static, proxyCache, varnish, originName}

// server is one system under test, listening on 127.0.0.1.
type server struct {
	name string
	addr string // 127.0.0.1:PORT
	proc *proc  // its main process; CPU and RSS are summed over its tree
}

func (s *server) url() string { return "http://" + s.addr }

// serves reports whether server can take part in scenario, and if not, why.
// nginx serving files cannot make a page nobody has stored, nor pass a
// logged-in user to the origin; the origin alone has no cache to stampede.
func serves(server, scenario string) (bool, string) {
	switch {
	case server == static && (scenario == crawlCold || scenario == stampede):
		return false, "serves only stored files: a new page is a 404, there is no origin behind it"
	case server == static && scenario == bypass:
		return false, "serves only stored files: it has no origin to pass a logged-in user to"
	case server == originName && scenario == stampede:
		return false, "every request is a render: 1,000 connections queue behind 4 workers"
	case scenario == invalidate && server != edgeName:
		return false, "edge's invalidation API only (nginx OSS has no purge; Varnish purges but does not regenerate)"
	}
	return true, ""
}

// tmpl renders one config file into dir/name.
func tmpl(dir, name, text string, data any) (string, error) {
	t, err := template.New(name).Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// edgeYAML: the store in the work directory without fsync (reads are what
// is measured), a memory tier smaller than the crawl set so crawl-warm is
// served from disk, the origin budget equal to the origin's workers, and a
// per-address connection cap above the stampede's 1,000 connections (all
// of the load comes from one address).
const edgeYAML = `listen: {{.Addr}}
hosts: ["{{.Addr}}"]
origin:
  url: {{.Origin}}
  concurrency: {{.Workers}}
store:
  root: {{.Root}}
  no_sync: true
memory:
  max_bytes: {{.Memory}}
server:
  max_conns_per_ip: 4096
admin:
  listen: {{.Admin}}
  token: {{.Token}}
log:
  level: warn
# The peers never refresh what they hold: no rolling sweep either, so
# every origin render in a cell is the scenario's own.
sweep:
  period: 0
{{- if .RegenRate}}
regen:
  rate: {{.RegenRate}}
{{- end}}
`

// nginxConf is shared by both nginx roles; .ProxyCache selects the server
// block. Both: one worker, access log off, sendfile, keep-alive without a
// request cap (fasthttp has none; nginx's 1000 would make the load
// generator reconnect).
const nginxConf = `user root root;
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {{.Dir}}/{{.Name}}.pid;
error_log {{.Dir}}/{{.Name}}-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    default_type text/html;
    client_body_temp_path {{.Dir}}/{{.Name}}-tmp/body;
    proxy_temp_path {{.Dir}}/{{.Name}}-tmp/proxy;
    fastcgi_temp_path {{.Dir}}/{{.Name}}-tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/{{.Name}}-tmp/uwsgi;
    scgi_temp_path {{.Dir}}/{{.Name}}-tmp/scgi;
{{- if .ProxyCache}}
    # The cache keeps every page for a day whatever the origin's max-age,
    # as edge does; a session cookie (or Authorization) passes the request
    # through and stores nothing, as edge's bypass does; one request fills
    # a new page while the others wait for it (proxy_cache_lock), as edge
    # coalesces.
    proxy_cache_path {{.Dir}}/{{.Name}}-cache levels=1:2 keys_zone=pages:128m max_size=50g inactive=1d use_temp_path=off;
    upstream origin {
        server {{.Origin}};
        keepalive 64;
    }
    server {
        listen {{.Addr}};
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_cache pages;
            proxy_cache_key $uri$is_args$args;
            proxy_cache_valid 200 301 308 1d;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 5s;
            proxy_cache_lock_age 5s;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_bypass $cookie_sessionid $http_authorization;
            proxy_no_cache $cookie_sessionid $http_authorization;
            add_header X-Cache $upstream_cache_status always;
        }
    }
{{- else}}
    # edge's store root: pages are plain index.html files mirroring the URL.
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    server {
        listen {{.Addr}};
        root {{.Root}};
        index index.html;
        location ^~ /@ { return 404; }
        location / { try_files $uri $uri/index.html =404; }
    }
{{- end}}
}
`

// varnishVCL: malloc storage; every cacheable page kept for a day whatever
// its max-age (as edge does); the builtin VCL still runs after ours, so a
// request with a Cookie or Authorization is passed and a private or
// Set-Cookie response is not stored. Varnish coalesces misses by default.
const varnishVCL = `vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "{{.OriginPort}}";
    .connect_timeout = 3s;
    .first_byte_timeout = 30s;
}

sub vcl_recv {
    unset req.http.Accept-Encoding;
}

sub vcl_backend_response {
    if (beresp.status == 200 || beresp.status == 301 || beresp.status == 308) {
        set beresp.ttl = 1d;
        set beresp.grace = 1h;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`

// configData fills the templates.
type configData struct {
	Dir, Name, Addr, Admin, Origin, Root, Memory, Token string
	OriginPort                                          int
	Workers                                             int
	RegenRate                                           float64
	ProxyCache                                          bool
}

// nginxArgv returns the command line of an nginx role whose config is conf.
func nginxArgv(dir, conf string) []string {
	return []string{"nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-startup.log")}
}

// varnishArgv returns varnishd's command line: in the foreground, without
// the jail (the suite runs as root in a scratch directory), one thread pool.
func varnishArgv(dir, addr, adminAddr, vcl, storage string) []string {
	return []string{"varnishd", "-F", "-j", "none", "-n", filepath.Join(dir, "varnish"),
		"-a", addr, "-T", adminAddr, "-S", filepath.Join(dir, "varnish.secret"), "-f", vcl,
		"-s", "malloc," + storage, "-p", "thread_pools=1", "-p", "thread_pool_min=100",
		"-p", "thread_pool_max=5000"}
}

func writeSecret(dir string) error {
	return os.WriteFile(filepath.Join(dir, "varnish.secret"), []byte(fmt.Sprintf("edge-bench-%d\n", os.Getpid())), 0o600)
}
