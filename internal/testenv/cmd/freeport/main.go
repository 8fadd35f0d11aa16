// Command freeport prints free TCP ports on 127.0.0.1, one per line, for
// scripts/test.sh, which must pick ports for the servers it starts without
// relying on tools a fresh machine may lack (python3, ss, netstat).
//
// All the listeners stay open until every port is chosen, so the ports
// printed are distinct. They are closed before the program exits: another
// process may still take one before the caller binds it, which is why the
// script checks that each server actually came up.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	n := flag.Int("n", 1, "how many distinct ports to print")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "freeport:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	if n < 1 || n > 100 {
		return fmt.Errorf("-n %d: want 1 to 100", n)
	}
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listening on 127.0.0.1:0: %w", err)
		}
		listeners = append(listeners, l)
	}
	for _, l := range listeners {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
