package main

import (
	"context"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kickStatus asks the status loop to poll podman now.
func (p *Provider) kickStatus() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run is the status loop: every --status-interval (or when kicked) it
// inspects this node's podman containers, recomputes each pod's status and
// pushes the changed ones to virtual-kubelet (NotifyPods callback).
//
// With a podman API socket, podman's event stream kicks the loop whenever one
// of this node's containers changes state (like the kubelet's evented PLEG), and
// the ticker only resyncs every --resync-interval: polling every node every
// second made podman list all containers of the fleet N times a second, which
// grows with the square of the fleet (12 clusters saturated 2 cores idle).
func (p *Provider) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.StatusInterval)
	defer t.Stop()
	if p.podman.API != "" && p.cfg.ResyncInterval > 0 {
		go p.watch(ctx, t)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
			// Coalesce bursts of kicks.
			if !sleep(ctx, 100*time.Millisecond) {
				return
			}
		}
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			log.G(ctx).WithError(err).Warn("polling podman")
		}
	}
}

// watch keeps podman's event stream open: while it is, the status ticker runs
// at --resync-interval; while it is not (podman service restarted), at
// --status-interval.
func (p *Provider) watch(ctx context.Context, t *time.Ticker) {
	for ctx.Err() == nil {
		err := p.podman.watchEvents(ctx, p.cfg.NodeName, func() {
			log.G(ctx).Infof("podman event stream open; listing podman every %s", p.cfg.ResyncInterval)
			t.Reset(p.cfg.ResyncInterval)
			p.kickStatus() // whatever changed before the stream opened
		}, p.kickStatus)
		t.Reset(p.cfg.StatusInterval)
		if err != nil && ctx.Err() == nil {
			log.G(ctx).WithError(err).Warn("podman event stream closed; polling every --status-interval")
		}
		if !sleep(ctx, time.Second) {
			return
		}
	}
}

func (p *Provider) refresh(ctx context.Context) error {
	infos, err := p.podman.listContainers(ctx, p.cfg.NodeName)
	if err != nil {
		return err
	}
	type key struct{ uid, ctr string }
	byCtr := map[key]*ctrInfo{}
	infra := map[string]*ctrInfo{}
	for i := range infos {
		info := &infos[i]
		uid := info.Config.Labels[labelUID]
		if info.IsInfra {
			infra[uid] = info
		} else if c := info.Config.Labels[labelContainer]; c != "" {
			byCtr[key{uid, c}] = info
		}
	}

	p.notifyMu.Lock()
	canNotify := p.notify != nil
	p.notifyMu.Unlock()

	var changed []*corev1.Pod
	p.mu.Lock()
	for _, st := range p.pods {
		for name, cs := range st.ctrs {
			cs.info = byCtr[key{string(st.uid), name}]
		}
		if in := infra[string(st.uid)]; in != nil {
			st.infraID = in.ID
			if ip := in.NetworkSettings.Networks[p.cfg.Network].IPAddress; ip != "" {
				st.podIP = ip
			}
		}
		if st.pod == nil || !canNotify {
			continue
		}
		status := p.podStatus(st)
		if st.last != nil && apiequality.Semantic.DeepEqual(*st.last, status) {
			continue
		}
		st.last = &status
		pod := st.pod.DeepCopy()
		pod.Status = *status.DeepCopy()
		changed = append(changed, pod)
	}
	p.mu.Unlock()

	for _, pod := range changed {
		p.notifyPod(pod)
	}
	return nil
}

// terminated is the terminated state of a container's last run, if it ran
// and exited. Called with p.mu held.
func (p *Provider) terminated(cs *ctrState) *corev1.ContainerStateTerminated {
	info := cs.info
	if info == nil || !info.started() || info.State.Running {
		return nil
	}
	switch info.State.Status {
	case "exited", "stopped", "configured", "created":
	default:
		return nil
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode:    info.State.ExitCode,
		StartedAt:   metav1.NewTime(info.State.StartedAt),
		FinishedAt:  metav1.NewTime(info.State.FinishedAt),
		ContainerID: "podman://" + info.ID,
		Reason:      "Completed",
	}
	switch {
	case info.State.OOMKilled:
		t.Reason = "OOMKilled"
	case t.ExitCode != 0:
		t.Reason = "Error"
	}
	return t
}

// containerStatus mirrors kubelet's container status for one container.
// Called with p.mu held.
func (p *Provider) containerStatus(st *podState, cs *ctrState) corev1.ContainerStatus {
	s := corev1.ContainerStatus{Name: cs.name, Image: cs.spec.Image, RestartCount: cs.extraRestarts}
	info := cs.info
	if info != nil {
		s.ContainerID = "podman://" + info.ID
		s.ImageID = imageID(info)
		s.RestartCount += info.RestartCount
	}
	if cs.lastTerm != nil {
		s.LastTerminationState.Terminated = cs.lastTerm
	}
	f := false
	s.Started = &f
	running := info != nil && info.State.Running
	term := p.terminated(cs)
	switch {
	case cs.startErr != "":
		s.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError",
			Message: cs.startErr, ContainerID: s.ContainerID}
	case running:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(info.State.StartedAt)}
		started := cs.spec.StartupProbe == nil || (cs.probeGen == generation(info) && cs.started)
		s.Started = &started
		switch {
		case cs.kind == kindEphemeral: // kubelet never reports them ready
		case cs.spec.ReadinessProbe == nil:
			s.Ready = started
		default:
			s.Ready = started && cs.probeGen == generation(info) && cs.ready
		}
	case term != nil && cs.waiting != nil:
		s.State.Waiting = cs.waiting
		s.LastTerminationState.Terminated = term
	case term != nil:
		s.State.Terminated = term
	case cs.waiting != nil:
		s.State.Waiting = cs.waiting.DeepCopy()
	case cs.kind == kindRegular && !st.initDone && len(st.pod.Spec.InitContainers) > 0:
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	default:
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	return s
}

// imageID is repo@digest when podman knows the digest, else the image ID.
func imageID(info *ctrInfo) string {
	if info.ImageDigest != "" && info.ImageName != "" {
		repo := info.ImageName
		if i := strings.LastIndex(repo, "@"); i >= 0 {
			repo = repo[:i]
		} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		return repo + "@" + info.ImageDigest
	}
	return "sha256:" + info.Image
}

// generation identifies one run of a container (probe results reset on
// restart).
func generation(info *ctrInfo) string {
	if info == nil {
		return ""
	}
	return info.ID + "/" + info.State.StartedAt.String()
}

// podStatus computes the pod status like kubelet's generateAPIPodStatus /
// getPhase. Called with p.mu held.
func (p *Provider) podStatus(st *podState) corev1.PodStatus {
	pod := st.pod
	status := corev1.PodStatus{
		ObservedGeneration: pod.Generation,
		HostIP:             p.cfg.InternalIP,
		HostIPs:            []corev1.HostIP{{IP: p.cfg.InternalIP}},
		QOSClass:           pod.Status.QOSClass,
		StartTime:          &st.startTime,
	}
	if st.podIP != "" {
		status.PodIP = st.podIP
		status.PodIPs = []corev1.PodIP{{IP: st.podIP}}
	}
	for _, c := range pod.Spec.InitContainers {
		if cs := st.ctrs[c.Name]; cs != nil {
			status.InitContainerStatuses = append(status.InitContainerStatuses, p.containerStatus(st, cs))
		}
	}
	for _, c := range pod.Spec.Containers {
		if cs := st.ctrs[c.Name]; cs != nil {
			status.ContainerStatuses = append(status.ContainerStatuses, p.containerStatus(st, cs))
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if cs := st.ctrs[c.Name]; cs != nil {
			status.EphemeralContainerStatuses = append(status.EphemeralContainerStatuses, p.containerStatus(st, cs))
		}
	}

	initialized := st.initDone || len(pod.Spec.InitContainers) == 0
	status.Phase = p.phase(st, status.ContainerStatuses, initialized)
	if st.failed != "" {
		status.Phase, status.Reason, status.Message = corev1.PodFailed, "InitContainerFailed", st.failed
	}

	var notReady, notInit []string
	for _, s := range status.ContainerStatuses {
		if !s.Ready {
			notReady = append(notReady, s.Name)
		}
	}
	for _, s := range status.InitContainerStatuses {
		if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
			notInit = append(notInit, s.Name)
		}
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, ObservedGeneration: pod.Generation}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		return c
	}
	list := func(names []string) string { return "[" + strings.Join(names, " ") + "]" }
	readyReason := "ContainersNotReady"
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		readyReason = "PodCompleted"
	}
	status.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, st.sandboxReady || st.infraID != "", "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized", "containers with incomplete status: "+list(notInit)),
		cond(corev1.ContainersReady, len(notReady) == 0 && readyReason != "PodCompleted", readyReason, "containers with unready status: "+list(notReady)),
		cond(corev1.PodReady, len(notReady) == 0 && readyReason != "PodCompleted", readyReason, "containers with unready status: "+list(notReady)),
		cond(corev1.PodScheduled, true, "", ""),
	}
	// Keep transition times of unchanged conditions, and conditions that
	// others own (e.g. DisruptionTarget).
	now := metav1.Now()
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	source := pod.Status.Conditions
	if st.last != nil {
		source = st.last.Conditions
	}
	for _, c := range source {
		prev[c.Type] = c
	}
	owned := map[corev1.PodConditionType]bool{}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		owned[c.Type] = true
		if old, ok := prev[c.Type]; ok && old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
	}
	for _, c := range pod.Status.Conditions {
		if !owned[c.Type] {
			status.Conditions = append(status.Conditions, c)
		}
	}
	return status
}

// phase is kubelet's getPhase.
func (p *Provider) phase(st *podState, statuses []corev1.ContainerStatus, initialized bool) corev1.PodPhase {
	if !initialized {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch st.pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyNever:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		default: // OnFailure
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
	}
	return corev1.PodPending
}
