package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Config is the command line configuration.
type Config struct {
	NodeName       string
	InternalIP     string
	Network        string
	StateDir       string
	ClusterDomain  string
	StatusInterval time.Duration
	ResyncInterval time.Duration
	Podman         string
	PodmanAPI      string
	// APIForward (--apiserver-forward): where pods reach the API server;
	// nil means pods get no KUBERNETES_SERVICE_* env and no kubernetes.default.svc.
	APIForward *apiForward
}

// Provider implements virtual-kubelet's nodeutil.Provider (and the async
// node.PodNotifier) on top of the podman CLI.
//
// Each Kubernetes pod becomes a podState with a worker goroutine that brings
// the podman pod up (volumes, sandbox, init containers, containers); a single
// status loop polls podman and pushes changed pod statuses to
// virtual-kubelet, which writes them to the API server.
type Provider struct {
	cfg      Config
	client   kubernetes.Interface
	podman   *Podman
	services corev1listers.ServiceLister

	baseCtx context.Context // parent of the pod workers

	mu   sync.Mutex
	pods map[string]*podState // by namespace/name

	notifyMu sync.Mutex
	notify   func(*corev1.Pod)

	kick chan struct{}
}

var _ nodeutil.Provider = (*Provider)(nil)

type ctrKind string

const (
	kindInit      ctrKind = "init"
	kindRegular   ctrKind = "regular"
	kindEphemeral ctrKind = "ephemeral"
)

// podState is what we know about one pod. Guarded by Provider.mu.
type podState struct {
	namespace, name string
	uid             types.UID
	pod             *corev1.Pod // latest spec from Kubernetes; nil while only adopted from podman
	podmanName      string
	infraID         string
	podIP           string
	startTime       metav1.Time
	ctrs            map[string]*ctrState

	workerStarted bool
	sandboxReady  bool
	initDone      bool
	failed        string          // pod failed for good (init container failed with restartPolicy Never)
	ctx           context.Context // worker context, cancelled on delete
	cancel        context.CancelFunc
	last          *corev1.PodStatus // last status pushed to virtual-kubelet
}

// ctrState is one container (init, regular or ephemeral) of a pod.
type ctrState struct {
	name     string
	kind     ctrKind
	spec     corev1.Container
	target   string   // ephemeral: targetContainerName
	info     *ctrInfo // last podman inspect, nil if no podman container
	launched bool     // worker goroutine started

	// waiting is set while the container cannot be created or started
	// (image pull, config errors); it wins over podman's state.
	waiting  *corev1.ContainerStateWaiting
	startErr string // start failed and will not be retried (restartPolicy Never)

	// init containers are re-run by us, not by podman.
	extraRestarts int32
	lastTerm      *corev1.ContainerStateTerminated

	// probe results, valid for the container generation probeGen.
	probeGen string
	ready    bool
	started  bool
}

// NewProvider is called by nodeutil.NewNode.
func NewProvider(cfg Config, client kubernetes.Interface, pc nodeutil.ProviderConfig) (*Provider, error) {
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "pods"), 0o755); err != nil {
		return nil, err
	}
	return &Provider{
		cfg:      cfg,
		client:   client,
		podman:   &Podman{Bin: cfg.Podman, API: cfg.PodmanAPI},
		services: pc.Services,
		baseCtx:  context.Background(),
		pods:     map[string]*podState{},
		kick:     make(chan struct{}, 1),
	}, nil
}

func podKey(namespace, name string) string { return namespace + "/" + name }

// podmanPodName is the podman pod of a Kubernetes pod. Kubernetes names
// never contain "_", so this is unambiguous.
func podmanPodName(namespace, name string) string { return namespace + "_" + name }

func (st *podState) containerName(ctr string) string { return st.podmanName + "_" + ctr }

func newPodState(namespace, name string, uid types.UID) *podState {
	return &podState{
		namespace:  namespace,
		name:       name,
		uid:        uid,
		podmanName: podmanPodName(namespace, name),
		ctrs:       map[string]*ctrState{},
	}
}

// setSpec records the latest spec and adds states for new containers.
func (st *podState) setSpec(pod *corev1.Pod) {
	st.pod = pod.DeepCopy()
	if st.startTime.IsZero() {
		if pod.Status.StartTime != nil {
			st.startTime = *pod.Status.StartTime
		} else {
			st.startTime = metav1.Now()
		}
	}
	add := func(kind ctrKind, c corev1.Container, target string) {
		cs := st.ctrs[c.Name]
		if cs == nil {
			cs = &ctrState{name: c.Name}
			st.ctrs[c.Name] = cs
		}
		cs.kind, cs.spec, cs.target = kind, c, target
	}
	for _, c := range pod.Spec.InitContainers {
		add(kindInit, c, "")
	}
	for _, c := range pod.Spec.Containers {
		add(kindRegular, c, "")
	}
	for _, e := range pod.Spec.EphemeralContainers {
		add(kindEphemeral, corev1.Container(e.EphemeralContainerCommon), e.TargetContainerName)
	}
}

// Adopt loads the podman pods of this node left by an earlier run. They are
// matched to Kubernetes pods by CreatePod/UpdatePod (same UID: kept;
// otherwise replaced), and virtual-kubelet deletes those whose pod is gone.
func (p *Provider) Adopt(ctx context.Context) error {
	p.baseCtx = ctx
	infos, err := p.podman.listContainers(ctx, p.cfg.NodeName)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range infos {
		info := &infos[i]
		l := info.Config.Labels
		ns, name, uid := l[labelNamespace], l[labelPod], types.UID(l[labelUID])
		if ns == "" || name == "" || uid == "" {
			continue
		}
		key := podKey(ns, name)
		st := p.pods[key]
		if st == nil {
			st = newPodState(ns, name, uid)
			p.pods[key] = st
			log.G(ctx).Infof("adopting podman pod %s (uid %s)", st.podmanName, uid)
		}
		if st.uid != uid {
			continue // two generations of one pod: the stale one is replaced on sync
		}
		if info.IsInfra {
			st.infraID = info.ID
			st.startTime = metav1.NewTime(info.Created)
			continue
		}
		if c := l[labelContainer]; c != "" {
			st.ctrs[c] = &ctrState{name: c, kind: ctrKind(l[labelKind]), info: info}
		}
	}
	return nil
}

// CreatePod starts the pod's worker; it returns before the pod runs.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	return p.syncPod(ctx, pod)
}

// UpdatePod is called when the spec changes; the change we act on is new
// ephemeral containers (kubectl debug). Image updates are not applied.
func (p *Provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	return p.syncPod(ctx, pod)
}

func (p *Provider) syncPod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	st := p.pods[key]
	if st != nil && st.uid != pod.UID {
		// A podman pod of an earlier pod with the same name: replace it.
		delete(p.pods, key)
		p.mu.Unlock()
		log.G(ctx).Infof("replacing podman pod %s of old uid %s", st.podmanName, st.uid)
		if err := p.teardown(ctx, st); err != nil {
			return err
		}
		p.mu.Lock()
		st = nil
	}
	if st == nil {
		st = newPodState(pod.Namespace, pod.Name, pod.UID)
		p.pods[key] = st
	}
	st.setSpec(pod)
	if !st.workerStarted {
		st.workerStarted = true
		wctx, cancel := context.WithCancel(p.baseCtx)
		st.ctx = log.WithLogger(wctx, log.G(wctx).WithField("pod", key))
		st.cancel = cancel
		go p.runPod(st.ctx, st)
	} else {
		p.launchPending(st)
	}
	p.mu.Unlock()
	p.kickStatus()
	return nil
}

// DeletePod kills and removes the podman pod and the pod's volumes, then
// reports the terminal status and, like kubelet's status manager once a pod
// is terminated, deletes the API object with grace period 0.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	st := p.pods[key]
	if st == nil || st.uid != pod.UID {
		p.mu.Unlock()
		return nil // already gone (DeletePod may be called repeatedly)
	}
	delete(p.pods, key)
	p.mu.Unlock()

	if err := p.teardown(ctx, st); err != nil {
		p.mu.Lock()
		if p.pods[key] == nil {
			p.pods[key] = st
		}
		p.mu.Unlock()
		return err
	}
	log.G(ctx).Infof("deleted podman pod %s", st.podmanName)

	// Terminal status: every container terminated.
	done := pod.DeepCopy()
	now := metav1.Now()
	done.Status.Phase = corev1.PodSucceeded
	done.Status.Reason = "Terminated"
	for _, list := range [][]corev1.ContainerStatus{done.Status.InitContainerStatuses,
		done.Status.ContainerStatuses, done.Status.EphemeralContainerStatuses} {
		for i := range list {
			s := &list[i]
			if s.State.Terminated != nil {
				continue
			}
			var started metav1.Time
			if s.State.Running != nil {
				started = s.State.Running.StartedAt
			}
			s.Ready = false
			s.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: "Completed", StartedAt: started, FinishedAt: now, ContainerID: s.ContainerID}}
		}
	}
	if pod.DeletionTimestamp == nil {
		return nil // a leaked pod that Kubernetes no longer knows
	}
	p.notifyPod(done)
	opts := metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))}
	err := p.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.G(ctx).WithError(err).Warnf("deleting pod %s from the API server", key)
	}
	return nil
}

// teardown stops the worker, removes the podman pod and the volume dirs.
func (p *Provider) teardown(ctx context.Context, st *podState) error {
	if st.cancel != nil {
		st.cancel()
	}
	if err := p.podman.removePod(ctx, st.podmanName); err != nil {
		return fmt.Errorf("removing podman pod %s: %w", st.podmanName, err)
	}
	if err := os.RemoveAll(filepath.Join(p.cfg.StateDir, "pods", string(st.uid))); err != nil {
		log.G(ctx).WithError(err).Warnf("removing volumes of %s", st.podmanName)
	}
	return nil
}

// podObject returns the pod as we know it, with our status.
func (st *podState) podObject() *corev1.Pod {
	var pod *corev1.Pod
	if st.pod != nil {
		pod = st.pod.DeepCopy()
	} else {
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: st.namespace, Name: st.name, UID: st.uid}}
	}
	if st.last != nil {
		pod.Status = *st.last.DeepCopy()
	}
	return pod
}

func (p *Provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.pods[podKey(namespace, name)]
	if st == nil {
		return nil, errdefs.NotFoundf("pod %s/%s not found", namespace, name)
	}
	return st.podObject(), nil
}

func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *Provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(p.pods))
	for _, st := range p.pods {
		pods = append(pods, st.podObject())
	}
	return pods, nil
}

// NotifyPods registers virtual-kubelet's status callback (node.PodNotifier).
func (p *Provider) NotifyPods(ctx context.Context, f func(*corev1.Pod)) {
	p.notifyMu.Lock()
	p.notify = f
	p.notifyMu.Unlock()
	p.kickStatus()
}

func (p *Provider) notifyPod(pod *corev1.Pod) bool {
	p.notifyMu.Lock()
	f := p.notify
	p.notifyMu.Unlock()
	if f == nil {
		return false
	}
	f(pod)
	return true
}

// GetStatsSummary: no stats; an empty summary keeps callers happy.
func (p *Provider) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: p.cfg.NodeName}}, nil
}

func (p *Provider) GetMetricsResource(ctx context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

// PortForward connects to the port on the pod IP (the pod's network
// namespace is on the podman bridge, reachable from the host).
func (p *Provider) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	p.mu.Lock()
	var ip string
	if st := p.pods[podKey(namespace, name)]; st != nil {
		ip = st.podIP
	}
	p.mu.Unlock()
	if ip == "" {
		return errdefs.NotFoundf("pod %s/%s has no IP", namespace, name)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	errc := make(chan error, 2)
	go func() { _, err := io.Copy(conn, stream); errc <- err }()
	go func() { _, err := io.Copy(stream, conn); errc <- err }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	return err
}
