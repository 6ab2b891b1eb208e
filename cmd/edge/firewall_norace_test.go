//go:build !race

package main

// firewallFlood is the size of the end-to-end flood (see
// firewall_race_test.go).
const firewallFlood = 10000
