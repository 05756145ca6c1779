package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
)

// The API server of the fleet listens on 127.0.0.1 only, which a pod's network
// namespace cannot reach. --apiserver-forward LISTEN=TARGET makes the node
// listen on LISTEN (the podman bridge gateway of its network, port 443) and
// pass every TCP connection through to TARGET (the API server) unchanged: TLS
// stays end to end between the pod and the API server, like a connection to
// the kubernetes Service's cluster IP that kube-proxy DNATs to an API server.
// LISTEN is what pods get as KUBERNETES_SERVICE_HOST/PORT and as the address
// of kubernetes.default.svc in /etc/hosts.

// apiForward is a parsed --apiserver-forward value.
type apiForward struct {
	Host   string // listen IP, the pods' KUBERNETES_SERVICE_HOST
	Port   int    // listen port, KUBERNETES_SERVICE_PORT
	Target string // host:port of the API server
}

func (f *apiForward) Listen() string { return net.JoinHostPort(f.Host, strconv.Itoa(f.Port)) }

func parseAPIForward(v string) (*apiForward, error) {
	listen, target, ok := strings.Cut(v, "=")
	if !ok {
		return nil, fmt.Errorf("%q: want LISTEN_IP:PORT=TARGET_HOST:PORT", v)
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("listen address %q: not an IP address", listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", listen)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("target address %q: %w", target, err)
	}
	return &apiForward{Host: host, Port: port, Target: target}, nil
}

// listenFreebind listens with IP_FREEBIND: the bridge (and so the gateway
// address) only exists while a container is attached to the podman network
// (netavark creates it with the first container and removes it with the
// last), so the address may not be configured yet, or may come and go.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_FREEBIND, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(ctx, "tcp4", addr)
}

// serveAPIForward accepts until ctx ends; each connection is copied both
// ways to f.Target with half-closes passed on.
func serveAPIForward(ctx context.Context, f *apiForward) error {
	ln, err := listenFreebind(ctx, f.Listen())
	if err != nil {
		return fmt.Errorf("--apiserver-forward: %w", err)
	}
	log.G(ctx).Infof("forwarding tcp %s -> %s (kubernetes service for pods)", f.Listen(), f.Target)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		var delay time.Duration
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				// EMFILE and the like: back off as net/http does.
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				log.G(ctx).WithError(err).Warn("apiserver forward: accept")
				time.Sleep(delay)
				continue
			}
			delay = 0
			go forwardConn(ctx, conn, f.Target)
		}
	}()
	return nil
}

func forwardConn(ctx context.Context, in net.Conn, target string) {
	defer in.Close()
	d := net.Dialer{Timeout: 5 * time.Second}
	out, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		log.G(ctx).WithError(err).Warnf("apiserver forward: dialing %s for %s", target, in.RemoteAddr())
		return
	}
	defer out.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	wg.Add(2)
	go pipe(out, in)
	go pipe(in, out)
	wg.Wait()
}

// masterServiceEnv is what kubelet injects into every container for the
// `kubernetes` Service of the default namespace (the "master service"), which
// it adds whatever the pod's enableServiceLinks says (that only controls the
// other services of the pod's namespace, which this node does not generate:
// there are no cluster IPs here). Mirrors upstream kubernetes
// pkg/kubelet/kubelet_pods.go getServiceEnvVarMap (masterServices =
// {"kubernetes"}) and pkg/kubelet/envvars/envvars.go FromServices /
// makeLinkVariables for a Service with one TCP port named "https", with the
// forward's address standing in for the cluster IP.
func masterServiceEnv(f *apiForward) map[string]string {
	if f == nil {
		return nil // like a kubelet without a service lister: no service env
	}
	host, port := f.Host, strconv.Itoa(f.Port)
	url := "tcp://" + net.JoinHostPort(host, port)
	prefix := "KUBERNETES_PORT_" + port + "_TCP"
	return map[string]string{
		"KUBERNETES_SERVICE_HOST":       host,
		"KUBERNETES_SERVICE_PORT":       port,
		"KUBERNETES_SERVICE_PORT_HTTPS": port,
		"KUBERNETES_PORT":               url,
		prefix:                          url,
		prefix + "_PROTO":               "tcp",
		prefix + "_PORT":                port,
		prefix + "_ADDR":                host,
	}
}

// masterServiceNames are the names pods resolve to the forward's address
// (/etc/hosts of the podman pod); a real cluster's DNS answers them with the
// kubernetes Service's cluster IP.
func masterServiceNames(domain string) []string {
	return []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain}
}
