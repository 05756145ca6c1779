package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"
)

// Constants from upstream pkg/server/httpAPI.go and pkg/miscellaneous/miscellaneous.go.
const (
	initStatusNew        = "New"
	initStatusProgress   = "Progress"
	initStatusSuccessful = "Successful"
	initStatusFailed     = "Failed"

	etcdConfigFilePath   = "/var/etcd/config/etcd.conf.yaml"
	peerTLSAnnotationKey = "member.etcd.gardener.cloud/tls-enabled"
	statusTimeout        = 5 * time.Second // brtypes.DefaultEtcdStatusConnecTimeout
	memberListTimeout    = 3 * time.Second
)

type server struct {
	o          *options
	logger     *log.Logger
	configPath string
	faults     *faultWatcher
	etcdTLS    *tls.Config
	client     *clientv3.Client // to --endpoints (own member)

	status atomic.Int32 // /healthz status code as upstream's HTTPHandler.status

	initMu     sync.Mutex
	initStatus string

	// upstream HTTPHandler.Snapshotter (+ HTTPHandlerMutex): set while this sidecar leads and
	// has a storage provider (OnStartedLeading / OnStoppedLeading), nil otherwise
	ssrMu sync.Mutex
	ssr   *snapshotter
}

// configFilePath mirrors miscellaneous.GetConfigFilePath (ETCD_CONF overrides the mount path).
func configFilePath() string {
	if p := os.Getenv("ETCD_CONF"); p != "" {
		return p
	}
	return etcdConfigFilePath
}

func readConfigMap(path string) (map[string]any, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the mounted etcd config
	if err != nil {
		return nil, fmt.Errorf("unable to read etcd config file at path: %s : %v", path, err)
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("unable to unmarshal etcd config yaml file at path: %s : %v", path, err)
	}
	return cfg, nil
}

// memberName mirrors miscellaneous.GetMemberName: POD_NAME, prefixed with
// "<member-name-prefix>-" when the config file carries member-name-prefix.
func memberName(cfg map[string]any) (string, error) {
	pod := os.Getenv("POD_NAME")
	if pod == "" {
		return "", errors.New("POD_NAME env var not set: missing environment variable POD_NAME")
	}
	if p, ok := cfg["member-name-prefix"].(string); ok && p != "" {
		return p + "-" + pod, nil
	}
	return pod, nil
}

// memberURLs reads this member's entry of the map-valued advertise URL keys
// (miscellaneous.GetMemberPeerURLs / GetMemberClientURLs).
func memberURLs(cfg map[string]any, key, member string) ([]string, error) {
	m, ok := cfg[key].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a map of member name to URLs", key)
	}
	raw, ok := m[member].([]any)
	if !ok || len(raw) == 0 {
		kind := "client"
		if strings.Contains(key, "peer") {
			kind = "peer"
		}
		return nil, fmt.Errorf("no %s URLs found for pod %s", kind, member)
	}
	var out []string
	for _, r := range raw {
		s := fmt.Sprint(r)
		if _, err := url.Parse(s); err != nil {
			return nil, fmt.Errorf("invalid URL %s: %w", s, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func clusterSize(initialCluster string) (int, error) {
	names := map[string]bool{}
	for _, kv := range strings.Split(initialCluster, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || name == "" || u == "" {
			return 0, fmt.Errorf("invalid initial-cluster entry %q", kv)
		}
		names[name] = true
	}
	return len(names), nil
}

func (s *server) newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	lc := zap.NewProductionConfig()
	lc.Level = zap.NewAtomicLevelAt(zap.FatalLevel)
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: statusTimeout,
		TLS:         s.etcdTLS,
		Username:    s.o.username,
		Password:    s.o.password,
		LogConfig:   &lc,
	})
}

// etcdTLSConfig mirrors pkg/etcdutil's client TLS from --cacert/--cert/--key/--insecure-*.
func etcdTLSConfig(o *options) (*tls.Config, error) {
	if o.insecureTransport {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecureSkipVerify} // #nosec G402 -- as configured
	if o.caFile != "" {
		data, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("no certificate in %s", o.caFile)
		}
		conf.RootCAs = pool
	}
	if o.certFile != "" || o.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func runServer(ctx context.Context, o *options, logger *log.Logger) error {
	s := &server{o: o, logger: logger, configPath: configFilePath(), initStatus: initStatusNew}
	s.status.Store(http.StatusServiceUnavailable)

	// upstream BackupRestoreServer.Run: the config file must be readable and carry initial-cluster
	cfg, err := readConfigMap(s.configPath)
	if err != nil {
		logger.Fatalf("failed to read etcd config file: %v", err)
	}
	size, err := clusterSize(fmt.Sprint(cfg["initial-cluster"]))
	if err != nil {
		logger.Fatalf("Please provide initial cluster value for embedded ETCD: %v", err)
	}
	metricClusterSize.WithLabelValues().Set(float64(size))
	if len(o.endpoints) == 0 {
		return errors.New("etcd endpoints are not passed correctly")
	}
	if s.etcdTLS, err = etcdTLSConfig(o); err != nil {
		return fmt.Errorf("etcd client TLS: %w", err)
	}
	if s.client, err = s.newEtcdClient(o.endpoints[:1]); err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer s.client.Close()

	tempDir := o.snapshotTempDir()
	s.faults = newFaultWatcher(filepath.Join(tempDir, "testbed"), logger)
	go s.faults.run(ctx.Done())

	httpSrv, err := s.startHTTP()
	if err != nil {
		return err
	}
	defer httpSrv.Close()

	if err := s.waitUntilEtcdRunning(ctx); err != nil {
		return nil // context cancelled
	}

	if o.memberLeaseRenewal {
		kc, err := newInClusterClient()
		if err != nil {
			// upstream RenewMemberLeasePeriodically fails -> Fatalf
			logger.Fatalf("failed RenewMemberLeases: failed to create clientset: %v", err)
		}
		go s.renewMemberLeasePeriodically(ctx, kc, cfg)
	}
	s.runLeaderElection(ctx)
	s.status.Store(http.StatusServiceUnavailable)
	logger.Printf("Received stop signal. Terminating !!")
	return nil
}

func (o *options) snapshotTempDir() string {
	if o.snapstoreTempDir == "" {
		return "/tmp"
	}
	return o.snapstoreTempDir
}

func (s *server) etcdStatus(ctx context.Context, timeout time.Duration) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.client.Status(ctx, s.o.endpoints[0])
}

// waitUntilEtcdRunning mirrors backuprestoreserver.go: Status every 4 s (2 s timeout).
func (s *server) waitUntilEtcdRunning(ctx context.Context) error {
	s.logger.Printf("Checking if etcd is running")
	for {
		if _, err := s.etcdStatus(ctx, 2*time.Second); err == nil {
			s.logger.Printf("Etcd is now running. Continuing backup-restore startup.")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(4 * time.Second):
		}
	}
}

// runLeaderElection mirrors pkg/leaderelection/leaderelection.go: every
// --reelection-period a Status call on the own endpoint; leader iff the
// response's member ID equals its leader ID. Only the leading sidecar runs the
// snapshotter and answers /healthz 200.
func (s *server) runLeaderElection(ctx context.Context) {
	state := "Follower"
	var leCancel context.CancelFunc
	var leDone chan struct{}
	stopLeading := func() {
		if leCancel != nil {
			leCancel()
			<-leDone
			leCancel = nil
		}
		s.status.Store(http.StatusServiceUnavailable)
	}
	setState := func(next string, why string) {
		if next != state {
			s.logger.Printf("leader election: %s -> %s%s", state, next, why)
			state = next
		}
	}
	for {
		select {
		case <-ctx.Done():
			stopLeading()
			return
		case <-time.After(s.o.reelectionPeriod):
		}
		resp, err := s.etcdStatus(ctx, s.o.leaderElectionTimeout)
		if err == nil && resp.Leader == 0 {
			err = errors.New("currently there is no etcd leader present may be due to etcd quorum loss or election is being held")
		}
		if err != nil {
			if state == "Leader" {
				stopLeading()
			}
			setState("UnknownState", ": "+err.Error())
			continue
		}
		isLeader := resp.Header.MemberId == resp.Leader
		metricIsLearner.WithLabelValues().Set(boolFloat(resp.IsLearner))
		switch {
		case isLeader && state != "Leader":
			setState("Leader", fmt.Sprintf(" (member %x leads)", resp.Header.MemberId))
			leCancel, leDone = s.startLeading(ctx)
		case !isLeader && state == "Leader":
			stopLeading()
			setState("Follower", fmt.Sprintf(" (leader is now %x)", resp.Leader))
		case !isLeader:
			setState("Follower", fmt.Sprintf(" (leader is %x)", resp.Leader))
		}
	}
}

func (s *server) startLeading(ctx context.Context) (context.CancelFunc, chan struct{}) {
	leCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.onStartedLeading(leCtx)
	}()
	return cancel, done
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// onStartedLeading mirrors runEtcdProbeLoopWithSnapshotter: probe etcd, then
// /healthz 200 and (with a storage provider) run the snapshotter; a failing
// snapshotter is counted and restarted after an exponential backoff, /healthz
// stays 200 (upstream only answers 503 when the etcd probe fails).
func (s *server) onStartedLeading(ctx context.Context) {
	var ssr *snapshotter
	if s.o.storageProvider != "" {
		var err error
		if ssr, err = newSnapshotter(s); err != nil {
			s.logger.Fatalf("failed to create new Snapshotter object: %v", err)
		}
		// upstream OnStartedLeading: handler.SetSnapshotter(ssr); OnStoppedLeading: SetSnapshotterToNil
		s.setSnapshotter(ssr)
		defer s.setSnapshotter(nil)
	} else {
		s.logger.Printf("No snapstore storage provider configured. Will not start backup schedule.")
	}
	bo := newExponentialBackoff()
	for {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.etcdStatus(ctx, statusTimeout); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.setStatus(http.StatusServiceUnavailable, "failed to probe etcd: "+err.Error())
			sleepCtx(ctx, time.Second)
			continue
		}
		if bo.start {
			wait := bo.next(s.o)
			s.logger.Printf("Backoff time: %s", wait)
			select {
			case <-ctx.Done():
				return
			case <-s.faults.changed: // a fault change (e.g. heal) ends the backoff at once
			case <-time.After(wait):
			}
		}
		s.setStatus(http.StatusOK, "")
		if ssr == nil {
			<-ctx.Done()
			return
		}
		err := ssr.run(ctx)
		if ssr.startedOK {
			// upstream: ResetExponentialBackoff once the start-up snapshot succeeded
			bo.reset()
		}
		if err != nil {
			if ctx.Err() != nil {
				return // stopped leading: not a snapshotter failure
			}
			metricSnapshotterFailure.WithLabelValues(err.Error()).Inc()
			s.logger.Printf("Snapshotter failed with error: %v", err)
			// upstream starts the backoff when Snapshotter.Run fails; when its start-up snapshot
			// fails it retries at once without one (a tight loop): the stand-in backs off then too
			bo.start = true
		}
	}
}

// exponentialBackoff mirrors pkg/backoff/exponentialbackoff.go: 1 s times --backoff-multiplier per
// attempt (2 s, 4 s, ...), --backoff-threshold-time once --backoff-attempt-limit is passed.
type exponentialBackoff struct {
	start   bool
	attempt uint
	cur     time.Duration
}

func newExponentialBackoff() *exponentialBackoff { return &exponentialBackoff{cur: time.Second} }

func (b *exponentialBackoff) next(o *options) time.Duration {
	if b.attempt > o.backoffAttemptLimit {
		return o.backoffThresholdTime
	}
	b.attempt++
	b.cur *= time.Duration(o.backoffMultiplier)
	return b.cur
}

func (b *exponentialBackoff) reset() { *b = exponentialBackoff{cur: time.Second} }

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *server) setStatus(code int, why string) {
	if prev := s.status.Swap(int32(code)); int(prev) != code {
		if why != "" {
			why = " (" + why + ")"
		}
		s.logger.Printf("Setting status to : %d%s", code, why)
	}
}

// ---- HTTP API (upstream pkg/server/httpAPI.go) ----

func (s *server) startHTTP() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/initialization/start", s.serveInitialize)
	mux.HandleFunc("/initialization/status", s.serveInitializationStatus)
	mux.HandleFunc("/snapshot/full", s.serveFullSnapshotTrigger)
	mux.HandleFunc("/snapshot/delta", s.serveDeltaSnapshotTrigger)
	mux.HandleFunc("/snapshot/latest", s.serveLatestSnapshotMetadata)
	mux.HandleFunc("/config", s.serveConfig)
	mux.HandleFunc("/healthz", s.serveHealthz)
	mux.Handle("/metrics", promhttp.Handler())
	srv := &http.Server{Addr: fmt.Sprintf(":%d", s.o.serverPort), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, err
	}
	tlsOn := s.tlsEnabled()
	s.logger.Printf("Starting HTTP server at addr: %s (tls=%t)", srv.Addr, tlsOn)
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, s.o.serverCert, s.o.serverKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Fatalf("Failed to start http server: %v", err)
		}
	}()
	return srv, nil
}

// tlsEnabled as upstream startHTTPServer: HTTPS iff --server-cert and --server-key are set.
func (s *server) tlsEnabled() bool { return s.o.serverCert != "" && s.o.serverKey != "" }

func (s *server) securityHeaders(w http.ResponseWriter) {
	if s.tlsEnabled() {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
	}
}

func (s *server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	s.securityHeaders(w)
	code := int(s.status.Load())
	if s.faults.on(faultUnhealthy) {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	out, _ := json.Marshal(map[string]bool{"health": code == http.StatusOK})
	_, _ = w.Write(out)
}

func (s *server) serveInitialize(w http.ResponseWriter, r *http.Request) {
	s.securityHeaders(w)
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.initStatus == initStatusNew {
		mode := r.URL.Query().Get("mode")
		if mode != "sanity" {
			mode = "full"
		}
		s.logger.Printf("Received start initialization request (mode %s): %s -> %s", mode, s.initStatus, initStatusProgress)
		s.initStatus = initStatusProgress
		go func() {
			s.setStatus(http.StatusServiceUnavailable, "initialization")
			err := s.initialize(mode)
			s.initMu.Lock()
			defer s.initMu.Unlock()
			if err != nil {
				s.logger.Printf("Failed initialization: %v", err)
				s.initStatus = initStatusFailed
				return
			}
			s.logger.Printf("Successfully initialized data directory for etcd.")
			s.initStatus = initStatusSuccessful
		}()
	}
	w.WriteHeader(http.StatusOK)
}

// initialize stands in for upstream's initializer (data-dir validation and
// restoration from the store): it only checks that an existing data directory
// has its member directory and bbolt db, and never restores.
func (s *server) initialize(mode string) error {
	dir := s.o.dataDir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		s.logger.Printf("Data directory %s does not exist; etcd will bootstrap a new member.", dir)
		return nil
	}
	db := filepath.Join(dir, "member", "snap", "db")
	if _, err := os.Stat(db); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			s.logger.Printf("Data directory %s has no member db; etcd will bootstrap a new member.", dir)
			return nil
		}
		return fmt.Errorf("%s validation of %s failed: %w", mode, db, err)
	}
	return nil
}

func (s *server) serveInitializationStatus(w http.ResponseWriter, _ *http.Request) {
	s.securityHeaders(w)
	s.initMu.Lock()
	defer s.initMu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(s.initStatus))
	// upstream: a terminal state is reported once, then the status goes back to New
	if s.initStatus == initStatusSuccessful || s.initStatus == initStatusFailed {
		s.initStatus = initStatusNew
	}
}

// serveConfig mirrors httpAPI.go serveConfig: the mounted ConfigMap's etcd.conf.yaml
// with name = member name, initial-advertise-peer-urls / advertise-client-urls =
// this member's entries of the URL maps (comma-joined), initial-cluster trimmed to
// the members etcd knows (when it knows more than one), initial-cluster-state
// "existing" only when a learner is present in a multi-member cluster. Written to
// $HOME/etcd.conf.yaml and served from there.
func (s *server) serveConfig(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		s.logger.Printf(format, args...)
		w.WriteHeader(http.StatusInternalServerError)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		fail("Unable to get user home dir: %v", err)
		return
	}
	cfg, err := readConfigMap(s.configPath)
	if err != nil {
		fail("Unable to read etcd config file: %v", err)
		return
	}
	name, err := memberName(cfg)
	if err != nil {
		fail("Unable to compute member name: %v", err)
		return
	}
	cfg["name"] = name
	peerURLs, err := memberURLs(cfg, "initial-advertise-peer-urls", name)
	if err != nil {
		fail("Unable to get initial-advertise-peer-urls from etcd config file: %v", err)
		return
	}
	cfg["initial-advertise-peer-urls"] = strings.Join(peerURLs, ",")
	clientURLs, err := memberURLs(cfg, "advertise-client-urls", name)
	if err != nil {
		fail("Unable to get advertise-client-urls from etcd config file: %v", err)
		return
	}
	cfg["advertise-client-urls"] = strings.Join(clientURLs, ",")

	initialCluster := fmt.Sprint(cfg["initial-cluster"])
	size, err := clusterSize(initialCluster)
	if err != nil {
		fail("Unable to determine the cluster size: %v", err)
		return
	}
	state := "new"
	if size > 1 {
		// upstream asks etcd (through --service-endpoints) for the member list; the
		// single-member case needs no round trip (same result as upstream).
		members, err := s.memberList(r.Context())
		if err != nil {
			s.logger.Printf("Could not list members : %v", err)
		} else {
			if len(members) > 1 {
				known := map[string]bool{}
				for _, m := range members {
					known[m.Name] = true
				}
				var kept []string
				for _, entry := range strings.Split(initialCluster, ",") {
					n, _, _ := strings.Cut(entry, "=")
					if known[n] || n == name {
						kept = append(kept, entry)
					}
				}
				initialCluster = strings.Join(kept, ",")
			}
			for _, m := range members {
				if m.IsLearner {
					state = "existing"
				}
			}
		}
	}
	cfg["initial-cluster"] = initialCluster
	cfg["initial-cluster-state"] = state
	data, err := yaml.Marshal(cfg)
	if err != nil {
		fail("Unable to marshal data to etcd config yaml file: %v", err)
		return
	}
	out := filepath.Join(home, "etcd.conf.yaml")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		fail("Unable to write etcd config file: %v", err)
		return
	}
	http.ServeFile(w, r, out)
	s.logger.Printf("Served config for ETCD instance (member %s, initial-cluster-state %s).", name, state)
}

type memberInfo struct {
	Name      string
	IsLearner bool
}

func (s *server) memberList(ctx context.Context) ([]memberInfo, error) {
	eps := s.o.serviceEndpoints
	if len(eps) == 0 {
		eps = s.o.endpoints
	}
	cli, err := s.newEtcdClient(eps)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, memberListTimeout)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var out []memberInfo
	for _, m := range resp.Members {
		out = append(out, memberInfo{Name: m.Name, IsLearner: m.IsLearner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ---- member lease (upstream pkg/health/heartbeat/heartbeat.go) ----

// renewMemberLeasePeriodically: every --k8s-heartbeat-duration, patch the Lease
// named after the member (namespace POD_NAMESPACE) with holderIdentity
// "<memberID hex>:<clusterID hex>:Leader|Member", renewTime now and the
// annotation member.etcd.gardener.cloud/tls-enabled. A missing Lease is logged
// (druid creates them); it is never created.
func (s *server) renewMemberLeasePeriodically(ctx context.Context, kc *kubeClient, cfg map[string]any) {
	name, err := memberName(cfg)
	if err != nil {
		s.logger.Fatalf("POD NAME env var not present: %v", err)
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		s.logger.Fatalf("POD_NAMESPACE env var not present: missing environment variable POD_NAMESPACE")
	}
	peerURLs, err := memberURLs(cfg, "initial-advertise-peer-urls", name)
	if err != nil {
		s.logger.Fatalf("failed RenewMemberLeases: unable to check peer TLS enabled or not: %v", err)
	}
	peerTLS := true
	for _, u := range peerURLs {
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" {
			peerTLS = false
		}
	}
	annotations := map[string]string{peerTLSAnnotationKey: strconv.FormatBool(peerTLS)}
	lastErr := "(none yet)"
	timer := time.NewTimer(s.o.heartbeatDuration)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		errText := ""
		if err := s.renewMemberLease(ctx, kc, ns, name, annotations); err != nil {
			errText = err.Error()
		}
		if errText != lastErr {
			if errText == "" {
				s.logger.Printf("Renewed member lease %s/%s", ns, name)
			} else {
				s.logger.Printf("Failed to renew member lease %s/%s: %s", ns, name, errText)
			}
			lastErr = errText
		}
		timer.Reset(s.o.heartbeatDuration)
	}
}

func (s *server) renewMemberLease(ctx context.Context, kc *kubeClient, ns, name string, annotations map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.connectionTimeout)
	defer cancel()
	if _, err := kc.getLease(ctx, ns, name); err != nil {
		return fmt.Errorf("Could not fetch member lease: %w", err)
	}
	resp, err := s.client.Status(ctx, s.o.endpoints[0])
	if err != nil {
		return fmt.Errorf("Failed to get status of etcd endPoint [ %v ] with error: %v", s.o.endpoints[0], err)
	}
	role := "Member"
	if resp.Header.MemberId == resp.Leader {
		role = "Leader"
	}
	holder := fmt.Sprintf("%s:%s:%s", strconv.FormatUint(resp.Header.MemberId, 16), strconv.FormatUint(resp.Header.ClusterId, 16), role)
	if err := kc.patchLease(ctx, ns, name, &holder, time.Now(), annotations); err != nil {
		return fmt.Errorf("Failed to renew member lease: %w", err)
	}
	return nil
}
