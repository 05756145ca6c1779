package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
)

// Labels put on every podman pod and container we create, so that a restarted
// etcdops-node can find (adopt or clean up) what it started.
const (
	labelNode      = "io.etcdops.node"
	labelUID       = "io.etcdops.uid"
	labelNamespace = "io.etcdops.namespace"
	labelPod       = "io.etcdops.pod"
	labelContainer = "io.etcdops.container"
	labelKind      = "io.etcdops.kind" // init, regular or ephemeral
)

// Podman runs the podman CLI. The environment (CONTAINERS_CONF,
// CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF, ...) is inherited.
type Podman struct {
	Bin string
	// API is the unix socket of a `podman system service` on the same storage; when set,
	// the status loop lists containers through it instead of starting `podman ps` (a CLI
	// start costs ~0.1-0.3 s CPU, and the loop runs every --status-interval).
	API string

	client *http.Client

	mu    sync.Mutex
	cache map[string]cachedInfo // container ID -> last inspect
}

// podmanError is a failed podman invocation; Msg is podman's own error text.
type podmanError struct {
	Args []string
	Code int
	Msg  string
}

func (e *podmanError) Error() string {
	return e.Msg
}

// run executes podman and returns its stdout. On failure the error carries
// the last "Error: ..." line of stderr (podman prints warnings before it).
func (p *Podman) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.Bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	log.G(ctx).Debugf("podman %s (%s)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return stdout.Bytes(), &podmanError{Args: args, Code: code, Msg: podmanErrorText(stderr.String(), err)}
	}
	return stdout.Bytes(), nil
}

func podmanErrorText(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "Error: ") {
			return strings.TrimPrefix(l, "Error: ")
		}
	}
	if s := strings.TrimSpace(stderr); s != "" {
		return s
	}
	return err.Error()
}

// ctrInfo is the part of `podman container inspect` we use.
type ctrInfo struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Created time.Time `json:"Created"`
	State   struct {
		Status     string    `json:"Status"` // created, running, exited, stopped, paused, ...
		Running    bool      `json:"Running"`
		OOMKilled  bool      `json:"OOMKilled"`
		Pid        int       `json:"Pid"`
		ExitCode   int32     `json:"ExitCode"`
		Error      string    `json:"Error"`
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
	} `json:"State"`
	Image        string `json:"Image"` // image ID
	ImageName    string `json:"ImageName"`
	ImageDigest  string `json:"ImageDigest"`
	RestartCount int32  `json:"RestartCount"`
	Pod          string `json:"Pod"`
	IsInfra      bool   `json:"IsInfra"`
	Config       struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

// started reports whether the container process has ever been started.
func (c *ctrInfo) started() bool {
	return !c.State.StartedAt.IsZero() && c.State.StartedAt.Year() > 1
}

// listContainers returns all containers (including pod infra containers)
// labelled for this node. It runs `podman ps` and re-inspects only the
// containers whose state changed since the last call (podman CLI calls
// cost ~0.1s CPU each, and this runs every --status-interval).
func (p *Podman) listContainers(ctx context.Context, node string) ([]ctrInfo, error) {
	out, err := p.listViaAPI(ctx, node)
	if out == nil {
		if err != nil {
			log.G(ctx).Debugf("podman API list failed, using the CLI: %v", err)
		}
		out, err = p.run(ctx, "ps", "-a", "--format", "json", "--filter", "label="+labelNode+"="+node)
		if err != nil {
			return nil, err
		}
	}
	var entries []struct {
		ID        string `json:"Id"`
		State     string `json:"State"`
		StartedAt int64  `json:"StartedAt"`
		ExitedAt  int64  `json:"ExitedAt"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return nil, fmt.Errorf("parsing podman ps: %w", err)
	}
	p.mu.Lock()
	if p.cache == nil {
		p.cache = map[string]cachedInfo{}
	}
	var infos []ctrInfo
	var stale []string
	sigs := map[string]string{}
	for _, e := range entries {
		sig := fmt.Sprint(e.State, e.StartedAt, e.ExitedAt)
		sigs[e.ID] = sig
		if c, ok := p.cache[e.ID]; ok && c.sig == sig {
			infos = append(infos, c.info)
		} else {
			stale = append(stale, e.ID)
		}
	}
	for id := range p.cache {
		if _, ok := sigs[id]; !ok {
			delete(p.cache, id)
		}
	}
	p.mu.Unlock()
	if len(stale) == 0 {
		return infos, nil
	}
	fresh, err := p.inspectContainers(ctx, stale...)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	for _, info := range fresh {
		p.cache[info.ID] = cachedInfo{sig: sigs[info.ID], info: info}
	}
	p.mu.Unlock()
	return append(infos, fresh...), nil
}

// apiClient is the HTTP client of the podman API socket (created once).
func (p *Podman) apiClient() *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		socket := p.API
		p.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socket)
			},
			MaxIdleConns: 2,
		}}
	}
	return p.client
}

// watchEvents streams podman's container events for this node's containers
// (label filter) and calls changed for every event that can change a
// container's state (exec and exec_died cannot). It returns when the stream
// ends or fails; connected is called once the stream is open.
func (p *Podman) watchEvents(ctx context.Context, node string, connected, changed func()) error {
	filters, _ := json.Marshal(map[string][]string{"type": {"container"}, "label": {labelNode + "=" + node}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://podman/v4.0.0/libpod/events?stream=true&filters="+url.QueryEscape(string(filters)), nil)
	if err != nil {
		return err
	}
	// the shared client has a 30 s timeout for whole requests; a stream has none
	stream := *p.apiClient()
	stream.Timeout = 0
	resp, err := stream.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("podman API events: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	connected()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Action string `json:"Action"`
		}
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("podman API events: %w", err)
		}
		switch ev.Action {
		case "exec", "exec_died", "attach":
		default:
			changed()
		}
	}
}

// listViaAPI is `podman ps -a --format json --filter label=<node>` through the libpod
// REST API (same JSON entities); nil without an API socket or on any error.
func (p *Podman) listViaAPI(ctx context.Context, node string) ([]byte, error) {
	if p.API == "" {
		return nil, nil
	}
	client := p.apiClient()
	filters, _ := json.Marshal(map[string][]string{"label": {labelNode + "=" + node}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://podman/v4.0.0/libpod/containers/json?all=true&filters="+url.QueryEscape(string(filters)), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("podman API: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return body, nil
}

type cachedInfo struct {
	sig  string
	info ctrInfo
}

// inspectContainers inspects containers; ones that vanished meanwhile are
// skipped (podman still prints the others).
func (p *Podman) inspectContainers(ctx context.Context, ids ...string) ([]ctrInfo, error) {
	out, err := p.run(ctx, append([]string{"container", "inspect"}, ids...)...)
	var infos []ctrInfo
	if jerr := json.Unmarshal(out, &infos); jerr != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("parsing podman inspect: %w", jerr)
	}
	return infos, nil
}

// podInfo is the part of `podman pod ps --format json` we use.
type podInfo struct {
	ID     string            `json:"Id"`
	Name   string            `json:"Name"`
	Status string            `json:"Status"`
	Labels map[string]string `json:"Labels"`
}

func (p *Podman) listPods(ctx context.Context, node string) ([]podInfo, error) {
	out, err := p.run(ctx, "pod", "ps", "--format", "json", "--filter", "label="+labelNode+"="+node)
	if err != nil {
		return nil, err
	}
	var pods []podInfo
	if err := json.Unmarshal(out, &pods); err != nil {
		return nil, fmt.Errorf("parsing podman pod ps: %w", err)
	}
	return pods, nil
}

func (p *Podman) podExists(ctx context.Context, name string) bool {
	_, err := p.run(ctx, "pod", "exists", name)
	return err == nil
}

func (p *Podman) removePod(ctx context.Context, name string) error {
	_, err := p.run(ctx, "pod", "rm", "-f", "-t", "0", "--ignore", name)
	return err
}

func (p *Podman) imageExists(ctx context.Context, image string) bool {
	_, err := p.run(ctx, "image", "exists", image)
	return err == nil
}

func (p *Podman) pull(ctx context.Context, image string) error {
	_, err := p.run(ctx, "pull", "-q", image)
	return err
}

// imageUser is the image's configured USER ("" means root).
func (p *Podman) imageUser(ctx context.Context, image string) (string, error) {
	out, err := p.run(ctx, "image", "inspect", "--format", "{{.Config.User}}", image)
	return strings.TrimSpace(string(out)), err
}

func podmanVersion(bin string) string {
	out, err := exec.Command(bin, "version", "--format", "{{.Client.Version}}").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
