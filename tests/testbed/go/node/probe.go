package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeContainer runs the container's startup, readiness and liveness
// probes like kubelet's prober workers, for each run of the container,
// until ctx ends. Without probes a running container is started and ready.
func (p *Provider) probeContainer(ctx context.Context, st *podState, cs *ctrState) {
	p.mu.Lock()
	spec := cs.spec
	p.mu.Unlock()
	if spec.StartupProbe == nil && spec.ReadinessProbe == nil && spec.LivenessProbe == nil {
		return
	}
	last := ""
	for {
		gen, startedAt, ok := p.waitNewRun(ctx, cs, last)
		if !ok {
			return
		}
		last = gen
		p.mu.Lock()
		cs.probeGen, cs.ready, cs.started = gen, false, spec.StartupProbe == nil
		p.mu.Unlock()
		p.kickStatus()
		p.probeRun(ctx, st, cs, &spec, gen, startedAt)
	}
}

// waitNewRun waits until the container runs with a generation other than last.
func (p *Provider) waitNewRun(ctx context.Context, cs *ctrState, last string) (string, time.Time, bool) {
	for {
		p.mu.Lock()
		info := cs.info
		p.mu.Unlock()
		if info != nil && info.State.Running && generation(info) != last {
			return generation(info), info.State.StartedAt, true
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return "", time.Time{}, false
		}
	}
}

// probeRun probes one run of the container; it returns when that run ends.
func (p *Provider) probeRun(ctx context.Context, st *podState, cs *ctrState, spec *corev1.Container, gen string, startedAt time.Time) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // end this run's probes when the container restarts or stops
		for sleep(ctx, 300*time.Millisecond) {
			p.mu.Lock()
			info := cs.info
			p.mu.Unlock()
			if info == nil || !info.State.Running || generation(info) != gen {
				cancel()
				return
			}
		}
	}()
	kill := func(what string) {
		log.G(ctx).Infof("container %s failed %s probe, will be restarted", cs.name, what)
		_, _ = p.podman.run(ctx, "kill", st.containerName(cs.name))
		<-ctx.Done()
	}

	if spec.StartupProbe != nil {
		ok := p.probeLoop(ctx, st, cs, spec.StartupProbe, startedAt, func(success bool, successes, failures int32, pr *corev1.Probe) bool {
			return success || failures >= pr.FailureThreshold
		})
		if ctx.Err() != nil {
			return
		}
		if !ok {
			kill("startup")
			return
		}
		p.mu.Lock()
		cs.started = true
		p.mu.Unlock()
		p.kickStatus()
		startedAt = time.Now() // later probes' initialDelay counts from here
	}
	if spec.ReadinessProbe != nil {
		go p.probeLoop(ctx, st, cs, spec.ReadinessProbe, startedAt, func(success bool, successes, failures int32, pr *corev1.Probe) bool {
			var ready bool
			switch {
			case success && successes >= pr.SuccessThreshold:
				ready = true
			case !success && failures >= pr.FailureThreshold:
				ready = false
			default:
				return false
			}
			p.mu.Lock()
			changed := cs.ready != ready
			cs.ready = ready
			p.mu.Unlock()
			if changed {
				p.kickStatus()
			}
			return false
		})
	}
	if spec.LivenessProbe != nil {
		go func() {
			ok := p.probeLoop(ctx, st, cs, spec.LivenessProbe, startedAt, func(success bool, successes, failures int32, pr *corev1.Probe) bool {
				return !success && failures >= pr.FailureThreshold
			})
			if ctx.Err() == nil && !ok {
				kill("liveness")
			}
		}()
	}
	<-ctx.Done()
}

// probeLoop runs a probe every periodSeconds after initialDelaySeconds and
// calls done with the result and the consecutive success/failure counts
// until done returns true; it returns the last result.
func (p *Provider) probeLoop(ctx context.Context, st *podState, cs *ctrState, probe *corev1.Probe, startedAt time.Time,
	done func(success bool, successes, failures int32, pr *corev1.Probe) bool) bool {
	pr := withProbeDefaults(probe)
	if !sleep(ctx, time.Until(startedAt.Add(time.Duration(pr.InitialDelaySeconds)*time.Second))) {
		return false
	}
	var successes, failures int32
	for {
		err := p.runProbe(ctx, st, cs, pr)
		if ctx.Err() != nil {
			return false
		}
		success := err == nil
		if success {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			log.G(ctx).Debugf("probe of %s failed: %v", cs.name, err)
		}
		if done(success, successes, failures, pr) {
			return success
		}
		if !sleep(ctx, time.Duration(pr.PeriodSeconds)*time.Second) {
			return false
		}
	}
}

// withProbeDefaults applies the API defaults (the API server sets them,
// but be safe).
func withProbeDefaults(probe *corev1.Probe) *corev1.Probe {
	pr := probe.DeepCopy()
	if pr.PeriodSeconds <= 0 {
		pr.PeriodSeconds = 10
	}
	if pr.TimeoutSeconds <= 0 {
		pr.TimeoutSeconds = 1
	}
	if pr.SuccessThreshold <= 0 {
		pr.SuccessThreshold = 1
	}
	if pr.FailureThreshold <= 0 {
		pr.FailureThreshold = 3
	}
	return pr
}

// runProbe performs one probe; nil means success. HTTP and TCP probes
// connect to the pod IP from the host, as kubelet does.
func (p *Provider) runProbe(ctx context.Context, st *podState, cs *ctrState, pr *corev1.Probe) error {
	timeout := time.Duration(pr.TimeoutSeconds) * time.Second
	if pr.Exec != nil {
		// `podman exec` itself takes ~0.5s (more under load); kubelet's
		// timeout is for the command, so allow for podman's overhead.
		timeout += 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.mu.Lock()
	podIP := st.podIP
	ports := cs.spec.Ports
	p.mu.Unlock()
	port := func(v intstr.IntOrString) (string, error) {
		if v.Type == intstr.Int {
			return strconv.Itoa(v.IntValue()), nil
		}
		for _, cp := range ports {
			if cp.Name == v.StrVal {
				return strconv.Itoa(int(cp.ContainerPort)), nil
			}
		}
		if _, err := strconv.Atoi(v.StrVal); err == nil {
			return v.StrVal, nil
		}
		return "", fmt.Errorf("unknown port %q", v.StrVal)
	}
	switch h := pr.ProbeHandler; {
	case h.Exec != nil:
		_, err := p.podman.run(ctx, append([]string{"exec", st.containerName(cs.name)}, h.Exec.Command...)...)
		return err
	case h.HTTPGet != nil:
		host := h.HTTPGet.Host
		if host == "" {
			host = podIP
		}
		pt, err := port(h.HTTPGet.Port)
		if err != nil {
			return err
		}
		scheme := "http"
		if h.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, pt)}
		if ref, err := url.Parse(h.HTTPGet.Path); err == nil {
			u = u.ResolveReference(ref)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.36")
		for _, hd := range h.HTTPGet.HTTPHeaders {
			if hd.Name == "Host" {
				req.Host = hd.Value
			} else {
				req.Header.Add(hd.Name, hd.Value)
			}
		}
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // like kubelet's prober
			DisableKeepAlives: true,
			Proxy:             nil,
		}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil || h.GRPC != nil:
		// gRPC health probes are approximated by a TCP connect.
		var pt string
		var err error
		if h.TCPSocket != nil {
			pt, err = port(h.TCPSocket.Port)
		} else {
			pt = strconv.Itoa(int(h.GRPC.Port))
		}
		if err != nil {
			return err
		}
		host := podIP
		if h.TCPSocket != nil && h.TCPSocket.Host != "" {
			host = h.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, pt))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return nil
}
