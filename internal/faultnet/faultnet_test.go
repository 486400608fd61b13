package faultnet

import (
	"io"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestDropByUser: a connection from a user with a rule against the port
// gets nowhere, root's still connects, and Heal lets the user through.
func TestDropByUser(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err) // the chaos suite (make chaos) installs iptables and runs as root
	}
	users, err := EnsureUsers("tgfaulttest", 1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hi")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	if err := n.Drop(Rule{UID: users[0].UID, Port: port}); err != nil {
		t.Fatal(err)
	}
	if connectAs(t, users[0], port) {
		t.Fatal("the cut user connected")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err != nil {
		t.Fatalf("root was cut too: %v", err)
	} else {
		c.Close()
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if !connectAs(t, users[0], port) {
		t.Fatal("the user still cut after Heal")
	}
}

// connectAs runs bash's /dev/tcp as u, with a 1 s bound.
func connectAs(t *testing.T, u User, port int) bool {
	t.Helper()
	cmd := exec.Command("timeout", "1", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	return cmd.Run() == nil
}
