// probe: "serve PORT" answers HTTP-ish on PORT; "connect IP:PORT" exits 0 if a TCP connection
// opens within 10 s, 1 otherwise; "sleep" waits forever (the pod sandbox).
package main

import (
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "serve":
		ln, err := net.Listen("tcp", ":"+os.Args[2])
		if err != nil {
			os.Exit(2)
		}
		for {
			c, err := ln.Accept()
			if err == nil {
				c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhdh-netpol-probe\n"))
				c.Close()
			}
		}
	case "connect":
		if len(os.Args) > 3 {
			d, _ := time.ParseDuration(os.Args[3])
			time.Sleep(d)
		}
		c, err := net.DialTimeout("tcp", os.Args[2], 10*time.Second)
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	case "sleep":
		s := make(chan os.Signal, 1)
		signal.Notify(s, syscall.SIGTERM, syscall.SIGINT)
		<-s
	}
}
