// Command etcdops-node is the kubelet of one Kubernetes Node of the local test
// fleet. It is virtual-kubelet (node registration, lease, pod controller and
// the kubelet HTTPS API) with a provider that runs each pod as a podman pod
// through the podman CLI.
//
//	etcdops-node --kubeconfig K --node-name N --listen 127.0.0.1:PORT \
//	  --tls-cert-file C --tls-key-file K2 --network NET --state-dir DIR \
//	  [--internal-ip 127.0.0.1] [--cluster-domain cluster.local] [--status-interval 1s]
//	  [--podman-api SOCKET] [--resync-interval 30s]
//	  [--apiserver-forward GATEWAY_IP:443=127.0.0.1:APIPORT]
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	logruslogger "github.com/virtual-kubelet/virtual-kubelet/log/logrus"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeletVersion is what the Node reports in status.nodeInfo.
const kubeletVersion = "v1.36.5-etcdops"

func main() {
	var (
		cfg        Config
		kubeconfig string
		listen     string
		certFile   string
		keyFile    string
		logLevel   string
		cpu        string
		memory     string
		maxPods    string
		apiFwd     string
	)
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the node identity (required)")
	flag.StringVar(&cfg.NodeName, "node-name", "", "name of the Node to register (required)")
	flag.StringVar(&listen, "listen", "127.0.0.1:10250", "address of the kubelet HTTPS API")
	flag.StringVar(&certFile, "tls-cert-file", "", "serving certificate of the kubelet API (required)")
	flag.StringVar(&keyFile, "tls-key-file", "", "key of --tls-cert-file (required)")
	flag.StringVar(&cfg.Network, "network", "", "podman network the pods join (required)")
	flag.StringVar(&cfg.StateDir, "state-dir", "", "directory for pod volumes (required)")
	flag.StringVar(&cfg.InternalIP, "internal-ip", "127.0.0.1", "Node InternalIP and pods' hostIP")
	flag.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	flag.DurationVar(&cfg.StatusInterval, "status-interval", time.Second, "how often podman is polled for container state")
	flag.DurationVar(&cfg.ResyncInterval, "resync-interval", 30*time.Second, "with --podman-api: podman's event stream triggers status updates and podman is listed only this often (0: poll every --status-interval)")
	flag.StringVar(&cfg.Podman, "podman", "podman", "podman binary")
	flag.StringVar(&cfg.PodmanAPI, "podman-api", "", "unix socket of a podman system service on the same storage (status polling without a CLI start)")
	flag.StringVar(&cpu, "cpu", "8", "Node cpu capacity")
	flag.StringVar(&memory, "memory", "32Gi", "Node memory capacity")
	flag.StringVar(&maxPods, "pods", "110", "Node pod capacity")
	flag.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&apiFwd, "apiserver-forward", "", "LISTEN_IP:PORT=API_HOST:PORT: listen on LISTEN (the podman network's "+
		"gateway, port 443) and pass TCP through to the API server; pods get it as KUBERNETES_SERVICE_HOST/PORT and kubernetes.default.svc")
	flag.Parse()

	for name, v := range map[string]string{"kubeconfig": kubeconfig, "node-name": cfg.NodeName,
		"tls-cert-file": certFile, "tls-key-file": keyFile, "network": cfg.Network, "state-dir": cfg.StateDir} {
		if v == "" {
			fatalf("--%s is required", name)
		}
	}

	if apiFwd != "" {
		f, err := parseAPIForward(apiFwd)
		if err != nil {
			fatalf("--apiserver-forward: %v", err)
		}
		cfg.APIForward = f
	}

	logger := logrus.StandardLogger()
	lvl, err := logrus.ParseLevel(logLevel)
	if err != nil {
		fatalf("--log-level: %v", err)
	}
	logger.SetLevel(lvl)
	logger.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	log.L = logruslogger.FromLogrus(logrus.NewEntry(logger).WithField("node", cfg.NodeName))

	_, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		fatalf("--listen: %v", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		fatalf("--listen: bad port %q", portStr)
	}
	capacity := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory,
		corev1.ResourcePods: maxPods, corev1.ResourceEphemeralStorage: "100Gi"} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			fatalf("capacity %s: %v", name, err)
		}
		capacity[name] = q
	}

	// nodeutil.NewNode builds a default client from $KUBECONFIG before our
	// client replaces it; point it at the same file to avoid a warning.
	os.Setenv("KUBECONFIG", kubeconfig)
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fatalf("kubeconfig: %v", err)
	}
	restCfg.UserAgent = "etcdops-node/" + cfg.NodeName
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		fatalf("client: %v", err)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	if err := run(ctx, cfg, client, listen, int32(port), certFile, keyFile, capacity); err != nil {
		log.G(ctx).WithError(err).Error("etcdops-node exited")
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "etcdops-node: "+format+"\n", args...)
	os.Exit(2)
}

func run(ctx context.Context, cfg Config, client kubernetes.Interface, listen string, port int32,
	certFile, keyFile string, capacity corev1.ResourceList) error {
	mux := http.NewServeMux()
	var provider *Provider

	if cfg.APIForward != nil {
		if err := serveAPIForward(ctx, cfg.APIForward); err != nil {
			return err
		}
	}

	n, err := nodeutil.NewNode(cfg.NodeName,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			var err error
			provider, err = NewProvider(cfg, client, pc)
			// A nil NodeProvider makes nodeutil use its naive one, which
			// marks the Node Ready once the controllers run.
			return provider, nil, err
		},
		func(nc *nodeutil.NodeConfig) error {
			nc.Client = client
			nc.HTTPListenAddr = listen
			nc.Handler = mux
			nc.NodeSpec = nodeSpec(cfg, port, capacity)
			// We resolve env ourselves, when the pod IP is known
			// (status.podIP) and at container start, like kubelet.
			nc.SkipDownwardAPIResolution = true
			nc.InformerResyncPeriod = time.Minute
			nc.NumWorkers = 4
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithTLSConfig(nodeutil.WithKeyPairFromPath(certFile, keyFile), func(c *tls.Config) error {
			// No client authentication: the API listens on loopback only.
			c.ClientAuth = tls.NoClientCert
			return nil
		}),
	)
	if err != nil {
		return err
	}

	// Adopt the podman pods a previous run left before the pod controller
	// starts, so they are matched to their API objects, not duplicated.
	if err := provider.Adopt(ctx); err != nil {
		return fmt.Errorf("adopting podman pods: %w", err)
	}
	go provider.Run(ctx)

	go func() {
		if err := n.WaitReady(ctx, 0); err == nil {
			log.G(ctx).Infof("node %s ready, kubelet API on https://%s", cfg.NodeName, listen)
			removeNotReadyTaint(ctx, client, cfg.NodeName)
		}
	}()
	err = n.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// removeNotReadyTaint drops the node.kubernetes.io/not-ready taint that the
// TaintNodesByCondition admission plugin puts on new Nodes; the node
// lifecycle controller would remove it, but a test fleet may not run
// kube-controller-manager.
func removeNotReadyTaint(ctx context.Context, client kubernetes.Interface, name string) {
	for attempt := 0; attempt < 5; attempt++ {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			log.G(ctx).WithError(err).Warn("getting node to remove the not-ready taint")
			return
		}
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				taints = append(taints, t)
			}
		}
		if len(taints) == len(n.Spec.Taints) {
			return
		}
		n.Spec.Taints = taints
		_, err = client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		if err == nil {
			log.G(ctx).Info("removed the node.kubernetes.io/not-ready taint")
			return
		}
		if !apierrors.IsConflict(err) {
			log.G(ctx).WithError(err).Warn("removing the not-ready taint")
			return
		}
	}
}

// nodeSpec is the Node we register: Ready, schedulable, no taints.
func nodeSpec(cfg Config, port int32, capacity corev1.ResourceList) corev1.Node {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg,
			LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: cfg.NodeName,
			Labels: map[string]string{
				"type":                             "virtual-kubelet",
				"kubernetes.io/hostname":           cfg.NodeName,
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"beta.kubernetes.io/os":            "linux",
				"node.kubernetes.io/instance-type": "etcdops-node",
			},
		},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodePending,
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, "KubeletNotReady", "starting"),
				cond(corev1.NodeMemoryPressure, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeNetworkUnavailable, "RouteCreated", "podman network "+cfg.Network),
			},
			// Only InternalIP: the API server prefers a Hostname address
			// for kubelet connections (exec, logs), and node names do
			// not resolve here.
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: cfg.InternalIP}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				KubeletVersion:          kubeletVersion,
				ContainerRuntimeVersion: "podman://" + podmanVersion(cfg.Podman),
				OSImage:                 "etcdops-node",
				KernelVersion:           kernelVersion(),
			},
		},
	}
}
