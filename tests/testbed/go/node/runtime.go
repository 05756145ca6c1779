package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Back-off like kubelet's for image pulls and container restarts:
// 10s doubling up to 5 minutes.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
)

type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = backoffInitial
	} else if b.d *= 2; b.d > backoffMax {
		b.d = backoffMax
	}
	return b.d
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retrySetup runs a pod setup step every 2 s until it succeeds, showing its error
// as ContainerCreating on every container meanwhile; false means the pod went away.
func (p *Provider) retrySetup(ctx context.Context, st *podState, what, prefix string,
	step func(context.Context, *podState) error) bool {
	for {
		err := step(ctx, st)
		if err == nil {
			return true
		}
		log.G(ctx).WithError(err).Warn(what)
		p.setWaitingAll(st, "ContainerCreating", prefix+err.Error())
		if !sleep(ctx, 2*time.Second) {
			return false
		}
	}
}

// runPod is the pod worker: volumes, sandbox, init containers, then the
// containers (each in its own goroutine). It ends when the pod is set up;
// container goroutines live on until the pod is deleted.
func (p *Provider) runPod(ctx context.Context, st *podState) {
	if !p.retrySetup(ctx, st, "setting up volumes", "MountVolume.SetUp failed: ", p.setupVolumes) ||
		!p.retrySetup(ctx, st, "creating podman pod", "Failed to create pod sandbox: ", p.ensureSandbox) {
		return
	}
	p.setWaitingAll(st, "", "")
	p.mu.Lock()
	st.sandboxReady = true
	p.launchPending(st) // ephemeral containers of an adopted pod
	p.mu.Unlock()
	p.kickStatus()

	if !p.runInitContainers(ctx, st) {
		return
	}
	p.mu.Lock()
	st.initDone = true
	p.launchPending(st)
	p.mu.Unlock()
	p.kickStatus()
}

// setWaitingAll sets (or with reason "" clears) the waiting state of all
// containers that have no podman container yet.
func (p *Provider) setWaitingAll(st *podState, reason, msg string) {
	p.mu.Lock()
	for _, cs := range st.ctrs {
		if cs.info != nil || cs.kind == kindEphemeral {
			continue
		}
		if reason == "" {
			cs.waiting = nil
		} else {
			cs.waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		}
	}
	p.mu.Unlock()
	p.kickStatus()
}

func (p *Provider) setWaiting(cs *ctrState, reason, msg string) {
	p.mu.Lock()
	if reason == "" {
		cs.waiting = nil
	} else {
		cs.waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
	}
	p.mu.Unlock()
	p.kickStatus()
}

// launchPending starts goroutines for containers that may start now:
// regular ones after the init containers, ephemeral ones once the sandbox
// exists. Called with p.mu held.
func (p *Provider) launchPending(st *podState) {
	if st.pod == nil || !st.sandboxReady {
		return
	}
	for _, cs := range st.ctrs {
		if cs.launched || (cs.kind == kindRegular && !st.initDone) || cs.kind == kindInit || cs.kind == "" {
			continue
		}
		cs.launched = true
		ctx := log.WithLogger(st.ctx, log.G(st.ctx).WithField("container", cs.name))
		go p.runContainer(ctx, st, cs)
	}
}

// ensureSandbox creates the podman pod (network namespace, hostname, DNS
// aliases) unless one with our UID label exists, and starts its infra
// container.
func (p *Provider) ensureSandbox(ctx context.Context, st *podState) error {
	p.mu.Lock()
	pod := st.pod
	p.mu.Unlock()
	name := st.podmanName
	if p.podman.podExists(ctx, name) {
		out, err := p.podman.run(ctx, "pod", "inspect", name, "--format", `{{index .Labels "`+labelUID+`"}}`)
		if err == nil && strings.TrimSpace(string(out)) == string(st.uid) {
			return p.startInfra(ctx, st)
		}
		log.G(ctx).Infof("removing stale podman pod %s", name)
		if err := p.podman.removePod(ctx, name); err != nil {
			return err
		}
	}

	// Like kubelet: hostname is spec.hostname or the pod name (max 63).
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	share := "net,ipc,uts"
	if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		share += ",pid"
	}
	domain := p.cfg.ClusterDomain
	args := []string{"pod", "create", "--name", name, "--infra-name", name + "_infra",
		"--network", p.cfg.Network, "--hostname", hostname, "--share", share,
		// Kubernetes' search path, so "host.subdomain" and "svc" resolve.
		"--dns-search", fmt.Sprintf("%s.svc.%s,svc.%s,%s", pod.Namespace, domain, domain, domain)}
	for k, v := range p.labels(st, "", "") {
		args = append(args, "--label", k+"="+v)
	}
	for _, alias := range p.dnsAliases(pod, hostname) {
		args = append(args, "--network-alias", alias)
	}
	if f := p.cfg.APIForward; f != nil {
		// The kubernetes Service (cluster DNS would answer with its cluster IP).
		for _, h := range masterServiceNames(domain) {
			args = append(args, "--add-host", h+":"+f.Host)
		}
	}
	for _, ha := range pod.Spec.HostAliases {
		for _, h := range ha.Hostnames {
			args = append(args, "--add-host", h+":"+ha.IP)
		}
	}
	if _, err := p.podman.run(ctx, args...); err != nil {
		return err
	}
	return p.startInfra(ctx, st)
}

// dnsAliases are the DNS names of the pod on the podman network (resolved by
// aardvark-dns): the StatefulSet-style <hostname>.<subdomain>.<ns>.svc[.<domain>]
// when spec.subdomain is set, and <svc>.<ns>.svc[.<domain>] for the services
// that select the pod when it starts (a poor man's headless service: podman
// aliases cannot change later, so services created afterwards are missed).
func (p *Provider) dnsAliases(pod *corev1.Pod, hostname string) []string {
	ns, domain := pod.Namespace, p.cfg.ClusterDomain
	var names []string
	if pod.Spec.Subdomain != "" {
		base := hostname + "." + pod.Spec.Subdomain + "." + ns + ".svc"
		names = append(names, base, base+"."+domain)
	}
	if p.services != nil {
		svcs, _ := p.services.Services(ns).List(labels.Everything())
		for _, svc := range svcs {
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				continue
			}
			base := svc.Name + "." + ns + ".svc"
			names = append(names, base, base+"."+domain)
		}
	}
	sort.Strings(names)
	return names
}

func (p *Provider) labels(st *podState, ctr string, kind ctrKind) map[string]string {
	l := map[string]string{
		labelNode:      p.cfg.NodeName,
		labelUID:       string(st.uid),
		labelNamespace: st.namespace,
		labelPod:       st.name,
	}
	if ctr != "" {
		l[labelContainer] = ctr
		l[labelKind] = string(kind)
	}
	return l
}

func (p *Provider) startInfra(ctx context.Context, st *podState) error {
	infra := st.podmanName + "_infra"
	if _, err := p.podman.run(ctx, "start", infra); err != nil {
		return err
	}
	infos, err := p.podman.inspectContainers(ctx, infra)
	if err != nil || len(infos) == 0 {
		return fmt.Errorf("inspecting %s: %v", infra, err)
	}
	ip := infos[0].NetworkSettings.Networks[p.cfg.Network].IPAddress
	if ip == "" {
		return fmt.Errorf("podman pod %s has no address on network %s", st.podmanName, p.cfg.Network)
	}
	p.mu.Lock()
	st.infraID, st.podIP = infos[0].ID, ip
	p.mu.Unlock()
	return nil
}

// existing returns our podman container of that name for this pod, if any.
func (p *Provider) existing(ctx context.Context, st *podState, cname string) *ctrInfo {
	infos, err := p.podman.inspectContainers(ctx, cname)
	if err != nil || len(infos) == 0 {
		return nil
	}
	if infos[0].Config.Labels[labelUID] != string(st.uid) {
		_, _ = p.podman.run(ctx, "rm", "-f", "-t", "0", cname)
		return nil
	}
	return &infos[0]
}

// runInitContainers runs the init containers one after the other, like
// kubelet: each must exit 0 before the next starts; a failed one is re-run
// with back-off unless restartPolicy is Never (then the pod fails).
// Sidecars (init containers with restartPolicy Always) are started and left
// running. It reports whether the regular containers may start.
func (p *Provider) runInitContainers(ctx context.Context, st *podState) bool {
	p.mu.Lock()
	pod := st.pod
	p.mu.Unlock()
	if len(pod.Spec.InitContainers) == 0 {
		return true
	}
	// An adopted pod whose regular containers exist was initialised before.
	for _, c := range pod.Spec.Containers {
		if p.existing(ctx, st, st.containerName(c.Name)) != nil {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		p.mu.Lock()
		cs := st.ctrs[c.Name]
		p.mu.Unlock()
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		var bo backoff
		for {
			cname := st.containerName(c.Name)
			info := p.existing(ctx, st, cname)
			var id string
			if info != nil && (info.State.Running || (sidecar && info.started())) {
				id = info.ID
			} else {
				if info != nil {
					if info.started() && info.State.ExitCode == 0 {
						break // completed earlier
					}
					_, _ = p.podman.run(ctx, "rm", "-f", "-t", "0", cname)
				}
				var ok bool
				if id, ok = p.createContainer(ctx, st, cs); !ok {
					return false
				}
				if _, err := p.podman.run(ctx, "start", id); err != nil {
					p.setWaiting(cs, "RunContainerError", err.Error())
					if !sleep(ctx, bo.next()) {
						return false
					}
					continue
				}
				p.setWaiting(cs, "", "")
			}
			if sidecar {
				go p.supervise(ctx, st, cs, id)
				break
			}
			out, err := p.podman.run(ctx, "wait", id)
			if ctx.Err() != nil {
				return false
			}
			code, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			if err == nil && code == 0 {
				break
			}
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				p.mu.Lock()
				st.failed = fmt.Sprintf("init container %s failed (exit code %d)", c.Name, code)
				p.mu.Unlock()
				p.kickStatus()
				return false
			}
			d := bo.next()
			p.refreshOne(ctx, st, cs, cname)
			p.mu.Lock()
			if t := p.terminated(cs); t != nil {
				cs.lastTerm = t
			}
			cs.extraRestarts++
			cs.waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, c.Name, st.name, st.namespace, st.uid)}
			p.mu.Unlock()
			p.kickStatus()
			if !sleep(ctx, d) {
				return false
			}
		}
	}
	return true
}

// refreshOne re-inspects one container right away.
func (p *Provider) refreshOne(ctx context.Context, st *podState, cs *ctrState, cname string) {
	if info := p.existing(ctx, st, cname); info != nil {
		p.mu.Lock()
		cs.info = info
		p.mu.Unlock()
	}
}

// runContainer creates and starts a regular or ephemeral container (or
// adopts the existing one) and then supervises it.
func (p *Provider) runContainer(ctx context.Context, st *podState, cs *ctrState) {
	cname := st.containerName(cs.name)
	info := p.existing(ctx, st, cname)
	if info != nil && info.started() {
		p.mu.Lock()
		cs.info = info
		p.mu.Unlock()
		p.supervise(ctx, st, cs, info.ID)
		return
	}
	var bo backoff
	var id string
	for {
		if info != nil { // created but never started
			id = info.ID
			info = nil
		} else {
			var ok bool
			if id, ok = p.createContainer(ctx, st, cs); !ok {
				return
			}
		}
		_, err := p.podman.run(ctx, "start", id)
		if err == nil {
			p.setWaiting(cs, "", "")
			break
		}
		if ctx.Err() != nil {
			return
		}
		log.G(ctx).WithError(err).Warn("starting container")
		p.mu.Lock()
		never := cs.kind == kindEphemeral || st.pod.Spec.RestartPolicy == corev1.RestartPolicyNever
		if never {
			cs.startErr = err.Error()
			cs.waiting = nil
		} else {
			cs.waiting = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		}
		p.mu.Unlock()
		p.kickStatus()
		if never || !sleep(ctx, bo.next()) {
			return
		}
		_, _ = p.podman.run(ctx, "rm", "-f", "-t", "0", id)
	}
	p.kickStatus()
	p.supervise(ctx, st, cs, id)
}

// supervise runs the container's probes and restarts it after it exits as
// kubelet does: per restartPolicy (always/on-failure; ephemeral containers
// never), after a CrashLoopBackOff of 10s doubling to 5m, reset once a run
// lasted 10 minutes. The restart count is kept in the state dir so that it
// survives an etcdops-node restart.
func (p *Provider) supervise(ctx context.Context, st *podState, cs *ctrState, id string) {
	go p.probeContainer(ctx, st, cs)
	p.mu.Lock()
	policy := st.pod.Spec.RestartPolicy
	if cs.kind == kindInit { // sidecar
		policy = corev1.RestartPolicyAlways
	}
	never := cs.kind == kindEphemeral || policy == corev1.RestartPolicyNever
	p.mu.Unlock()
	if never {
		return
	}
	countFile := filepath.Join(p.cfg.StateDir, "pods", string(st.uid), "restarts", cs.name)
	holdFile := filepath.Join(p.cfg.StateDir, "pods", string(st.uid), "hold", cs.name)
	if b, err := os.ReadFile(countFile); err == nil {
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		p.mu.Lock()
		cs.extraRestarts = int32(n)
		p.mu.Unlock()
	}
	var bo backoff
	var startedAt time.Time // when we last restarted it: an older termination is the previous run's
	for {
		// Wait (polling the status loop's view) for this run to end.
		var term *corev1.ContainerStateTerminated
		for term == nil {
			if !sleep(ctx, 250*time.Millisecond) {
				return
			}
			p.mu.Lock()
			if cs.info != nil && cs.info.ID == id {
				term = p.terminated(cs)
				if term != nil && term.FinishedAt.Time.Before(startedAt.Truncate(time.Second)) {
					term = nil // the status loop has not seen the restart yet
				}
			}
			p.mu.Unlock()
		}
		if policy == corev1.RestartPolicyOnFailure && term.ExitCode == 0 {
			return
		}
		if term.FinishedAt.Sub(term.StartedAt.Time) > 10*time.Minute {
			bo = backoff{}
		}
		if held(holdFile) {
			// Test hook (fault injection): a held container stays terminated, as a member
			// that is down for good would, until the hold file is removed.
			for held(holdFile) {
				if !sleep(ctx, 500*time.Millisecond) {
					return
				}
			}
		} else {
			d := bo.next()
			p.mu.Lock()
			cs.lastTerm = term
			cs.waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, cs.name, st.name, st.namespace, st.uid)}
			p.mu.Unlock()
			p.kickStatus()
			if !sleep(ctx, d) {
				return
			}
			if held(holdFile) {
				continue // held while backing off: stay down (the wait above sees it terminated)
			}
		}
		startedAt = time.Now()
		if _, err := p.podman.run(ctx, "start", id); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.setWaiting(cs, "RunContainerError", err.Error())
			continue
		}
		p.mu.Lock()
		cs.extraRestarts++
		cs.waiting = nil
		n := cs.extraRestarts
		p.mu.Unlock()
		_ = os.MkdirAll(filepath.Dir(countFile), 0o755)
		_ = os.WriteFile(countFile, []byte(strconv.Itoa(int(n))), 0o644)
		p.kickStatus()
	}
}

// held reports whether a test has put a hold file on a container (see supervise).
func held(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// createContainer pulls the image if needed and creates the podman
// container, retrying with back-off; false means the pod went away.
func (p *Provider) createContainer(ctx context.Context, st *podState, cs *ctrState) (string, bool) {
	var bo backoff
	for {
		if !p.ensureImage(ctx, cs) {
			return "", false
		}
		args, err := p.createArgs(ctx, st, cs)
		if err != nil {
			log.G(ctx).WithError(err).Warn("container config")
			p.setWaiting(cs, "CreateContainerConfigError", err.Error())
			if !sleep(ctx, bo.next()) {
				return "", false
			}
			continue
		}
		out, err := p.podman.run(ctx, args...)
		if err != nil {
			if ctx.Err() != nil {
				return "", false
			}
			var pe *podmanError
			if errors.As(err, &pe) && strings.Contains(pe.Msg, "already in use") {
				_, _ = p.podman.run(ctx, "rm", "-f", "-t", "0", st.containerName(cs.name))
				continue
			}
			log.G(ctx).WithError(err).Warn("creating container")
			p.setWaiting(cs, "CreateContainerError", err.Error())
			if !sleep(ctx, bo.next()) {
				return "", false
			}
			continue
		}
		return strings.TrimSpace(string(out)), true
	}
}

// ensureImage makes the image present, like kubelet's image manager:
// IfNotPresent/Never use a local image; pulls that fail report
// ErrImagePull, then ImagePullBackOff while backing off; an unparsable
// reference is InvalidImageName for good.
func (p *Provider) ensureImage(ctx context.Context, cs *ctrState) bool {
	p.mu.Lock()
	image := cs.spec.Image
	policy := cs.spec.ImagePullPolicy
	p.mu.Unlock()
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	var bo backoff
	for {
		if policy != corev1.PullAlways && p.podman.imageExists(ctx, image) {
			return true
		}
		if policy == corev1.PullNever {
			p.setWaiting(cs, "ErrImageNeverPull",
				fmt.Sprintf("Container image %q is not present with pull policy of Never", image))
			if !sleep(ctx, 5*time.Second) {
				return false
			}
			continue
		}
		p.mu.Lock()
		if cs.waiting == nil || cs.waiting.Reason != "ImagePullBackOff" {
			cs.waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		p.mu.Unlock()
		err := p.podman.pull(ctx, image)
		if err == nil {
			p.setWaiting(cs, "ContainerCreating", "")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.G(ctx).WithError(err).Warnf("pulling image %s", image)
		if strings.Contains(err.Error(), "invalid reference format") {
			p.setWaiting(cs, "InvalidImageName",
				fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: %v", image, image, err))
			<-ctx.Done()
			return false
		}
		p.setWaiting(cs, "ErrImagePull", fmt.Sprintf("Failed to pull image %q: %v", image, err))
		// kubelet's next sync (about a second later) finds the image in
		// back-off and reports ImagePullBackOff until the next attempt.
		if !sleep(ctx, 2*time.Second) {
			return false
		}
		p.setWaiting(cs, "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", image))
		if !sleep(ctx, bo.next()) {
			return false
		}
	}
}

// createArgs builds `podman create` for a container, mapping the container
// spec and (pod and container) securityContext the way kubelet/CRI do.
func (p *Provider) createArgs(ctx context.Context, st *podState, cs *ctrState) ([]string, error) {
	p.mu.Lock()
	pod := st.pod
	c := cs.spec
	kind, target := cs.kind, cs.target
	var targetID string
	if t := st.ctrs[target]; t != nil && t.info != nil {
		targetID = t.info.ID
	}
	podIP := st.podIP
	p.mu.Unlock()

	cname := st.containerName(c.Name)
	args := []string{"create", "--pod", st.podmanName, "--name", cname, "--pull", "never"}
	for k, v := range p.labels(st, c.Name, kind) {
		args = append(args, "--label", k+"="+v)
	}
	// Restarts are ours (supervise), with kubelet's back-off.
	args = append(args, "--restart", "no")
	if c.Stdin {
		args = append(args, "-i")
	}
	if c.TTY {
		args = append(args, "-t")
	}
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	args = append(args, "--stop-timeout", strconv.FormatInt(grace, 10))

	// Ephemeral containers with a target join its PID namespace (kubectl
	// debug --target), unless the whole pod shares one.
	if kind == kindEphemeral && target != "" && !(pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace) {
		if targetID == "" {
			return nil, fmt.Errorf("target container %q is not running", target)
		}
		args = append(args, "--pid", "container:"+targetID)
	}

	sec, err := p.securityArgs(ctx, pod, &c)
	if err != nil {
		return nil, err
	}
	args = append(args, sec...)

	env, err := p.containerEnv(ctx, pod, &c, podIP)
	if err != nil {
		return nil, err
	}
	envMap := map[string]string{}
	for _, e := range env {
		args = append(args, "--env", e.Name+"="+e.Value)
		envMap[e.Name] = e.Value
	}
	if c.WorkingDir != "" {
		args = append(args, "--workdir", c.WorkingDir)
	}
	mounts, err := p.mountArgs(pod, &c)
	if err != nil {
		return nil, err
	}
	args = append(args, mounts...)

	// command replaces the image ENTRYPOINT, args its CMD; both expand
	// $(VAR) references to the container's env.
	if len(c.Command) > 0 {
		ep, _ := json.Marshal(expandAll(c.Command, envMap))
		args = append(args, "--entrypoint", string(ep))
	}
	args = append(args, c.Image)
	args = append(args, expandAll(c.Args, envMap)...)
	return args, nil
}

// securityArgs maps securityContext. Container settings override the pod's.
func (p *Provider) securityArgs(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	var args []string
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	runAsUser, runAsGroup, runAsNonRoot := psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	if csc.RunAsUser != nil {
		runAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		runAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		runAsNonRoot = csc.RunAsNonRoot
	}
	if runAsUser != nil {
		u := strconv.FormatInt(*runAsUser, 10)
		if runAsGroup != nil {
			u += ":" + strconv.FormatInt(*runAsGroup, 10)
		}
		args = append(args, "--user", u)
	}
	// kubelet's verifyRunAsNonRoot.
	if runAsNonRoot != nil && *runAsNonRoot {
		if runAsUser != nil {
			if *runAsUser == 0 {
				return nil, errors.New("container's runAsUser breaks non-root policy")
			}
		} else {
			user, err := p.podman.imageUser(ctx, c.Image)
			if err != nil {
				return nil, err
			}
			user, _, _ = strings.Cut(user, ":")
			switch uid, err := strconv.Atoi(user); {
			case user == "" || user == "root" || (err == nil && uid == 0):
				return nil, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)",
					pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", c.Name)
			case err != nil:
				return nil, fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", user)
			}
		}
	}
	if psc.FSGroup != nil {
		args = append(args, "--group-add", strconv.FormatInt(*psc.FSGroup, 10))
	}
	for _, g := range psc.SupplementalGroups {
		args = append(args, "--group-add", strconv.FormatInt(g, 10))
	}
	if csc.Privileged != nil && *csc.Privileged {
		args = append(args, "--privileged")
	}
	if caps := csc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			args = append(args, "--cap-add", string(c))
		}
		for _, c := range caps.Drop {
			args = append(args, "--cap-drop", string(c))
		}
	}
	if csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem {
		args = append(args, "--read-only", "--read-only-tmpfs=false")
	}
	if csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation {
		args = append(args, "--security-opt", "no-new-privileges")
	}
	return args, nil
}

// expandAll expands $(VAR) like kubelet (k8s.io/kubernetes/third_party/
// forked/golang/expansion): $$ is a literal $, unknown references stay.
func expandAll(in []string, env map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, env)
	}
	return out
}

func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
