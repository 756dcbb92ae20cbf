package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// FreePort returns a loopback port of 127.0.0.1 that nothing listens on
// now over TCP, nor over UDP when udp is true (a DNS server binds both),
// for a server the test starts as another process and so cannot hand a
// listener to.
//
// It picks at random between 20000 and 32000, below the kernel's
// ephemeral range (32768-60999 by default). A port the kernel handed out
// for ":0" is one that an outgoing connection of another test may take
// next, between this check and the server's bind; CI saw that as "bind:
// address already in use". Random picks keep the test binaries that run
// side by side from trying the same ports in the same order.
func FreePort(t testing.TB, udp bool) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if udp {
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				ln.Close()
				continue
			}
			c.Close()
		}
		ln.Close()
		return port
	}
	t.Fatal("no port of 127.0.0.1 between 20000 and 32000 free in 200 tries")
	return 0
}
