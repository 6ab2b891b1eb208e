//go:build race

package main

// firewallFlood is the size of the end-to-end flood: 10,000 URLs, or
// 2,000 under the race detector, which makes each request many times
// slower (the proxy package's test floods 10,000 either way).
const firewallFlood = 2000
