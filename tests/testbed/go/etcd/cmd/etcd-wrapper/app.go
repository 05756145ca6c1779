package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Timings as upstream internal/bootstrap/bootstrap.go, internal/brclient/brclient.go
// and internal/app/readycheck.go.
const (
	brMaxRetries          = 5
	brBackoff             = 1 * time.Second
	brRequestTimeout      = 1 * time.Minute
	readHeaderTimeout     = 5 * time.Second
	etcdConnectionTimeout = 5 * time.Second
	etcdGetTimeout        = 5 * time.Second
	etcdQueryInterval     = 2 * time.Second
)

func run(ctx context.Context, cancel context.CancelFunc, cfg config, logger *zap.Logger) int {
	defer cancel()
	if err := validateBackupRestore(cfg); err != nil {
		logger.Error("fatal: invalid backup-restore configuration", zap.Error(err))
		return 1
	}
	br, err := newBRClient(cfg)
	if err != nil {
		logger.Error("fatal: cannot create backup-restore client", zap.Error(err))
		return 1
	}
	etcdCfg, err := initialize(ctx, br, logger)
	if err != nil {
		if ctx.Err() != nil {
			logger.Info("stopped before etcd was started", zap.Error(err))
			return 0
		}
		logger.Error("fatal: etcd initialization failed", zap.Error(err))
		return 1
	}
	// upstream app.go Setup: files created from now on are private to the user.
	syscall.Umask(0077)

	a := &app{cfg: cfg, etcdCfg: etcdCfg, logger: logger}
	return a.start(ctx, cancel)
}

// ---- backup-restore client (upstream internal/brclient/brclient.go) ----

type brClient struct {
	http       *http.Client
	base       string
	configPath string
}

func newBRClient(cfg config) (*brClient, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.brTLSEnabled {
		pool, err := caPool(cfg.brCACertPath)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
		tlsConf.ServerName = brHost(cfg.brHostPort)
	} else {
		tlsConf.InsecureSkipVerify = true // #nosec G402 -- as upstream util.CreateTLSConfig when TLS is off (plain HTTP anyway)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, err
	}
	return &brClient{
		http:       &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: brRequestTimeout},
		base:       baseAddress(cfg.brTLSEnabled, cfg.brHostPort),
		configPath: filepath.Join(home, "etcd.conf.yaml"),
	}, nil
}

func caPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- path from flags
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no PEM certificate found in %s", path)
	}
	return pool, nil
}

func (c *brClient) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server returned %s for GET %s", resp.Status, path)
	}
	return body, nil
}

// initialize mirrors upstream bootstrap.go Run: poll /initialization/status every
// second (errors are logged and retried, e.g. while backup-restore is not up yet),
// trigger /initialization/start?mode=<full|sanity> when it answers New, and once
// it answers Successful fetch /config (5 attempts) and load it with embed.ConfigFromFile.
func initialize(ctx context.Context, br *brClient, logger *zap.Logger) (*embed.Config, error) {
	status := "Unknown"
	for status != "Successful" {
		body, err := br.get(ctx, "/initialization/status")
		switch {
		case err != nil:
			status = "Unknown"
			logger.Error("error while fetching initialization status", zap.Error(err))
		case string(body) == "New" || string(body) == "Successful":
			status = string(body)
		default:
			status = "InProgress"
		}
		logger.Info("Fetched initialization status", zap.String("Status", status))
		if status == "New" {
			mode := validationMode(logger)
			logger.Info("Fetched initialization status is `New`. Triggering etcd initialization with validation mode", zap.String("mode", mode))
			if _, err := br.get(ctx, "/initialization/start?mode="+mode); err != nil {
				logger.Error("error while triggering initialization to backup-restore", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(brBackoff):
		}
	}
	logger.Info("Etcd initialization succeeded")

	var lastErr error
	for attempt := 0; attempt < brMaxRetries; attempt++ {
		body, err := br.get(ctx, "/config")
		if err == nil {
			if err = os.WriteFile(br.configPath, body, 0600); err == nil {
				logger.Info("Fetched and written etcd configuration", zap.String("path", br.configPath))
				return embed.ConfigFromFile(br.configPath)
			}
		}
		lastErr = err
		logger.Info("re-attempting operation", zap.String("operation", "GetEtcdConfig"), zap.Int("current-attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(brBackoff):
		}
	}
	return nil, fmt.Errorf("fetching etcd config from backup-restore failed after %d attempts: %w", brMaxRetries, lastErr)
}

// validationMode mirrors upstream determineValidationMode: "sanity" when the last
// run was stopped by SIGTERM/SIGINT (exit-code file), else "full".
func validationMode(logger *zap.Logger) string {
	if err := os.Remove(validationMarkerFilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		logger.Warn("error in removing validation_marker file", zap.Error(err))
	}
	data, err := os.ReadFile(defaultExitCodeFilePath)
	if err == nil {
		if m := strings.TrimSpace(string(data)); m == "terminated" || m == "interrupt" {
			return "sanity"
		}
	}
	return "full"
}

// ---- embedded etcd + /readyz (upstream internal/app/app.go, readycheck.go) ----

type app struct {
	cfg     config
	etcdCfg *embed.Config
	logger  *zap.Logger
	etcd    *embed.Etcd
	client  *clientv3.Client
	ready   atomic.Bool
	server  *http.Server
}

// tlsEnabled mirrors readycheck.go isTLSEnabled: the etcd config carries client cert, key and CA.
func (a *app) tlsEnabled() bool {
	t := a.etcdCfg.ClientTLSInfo
	return strings.TrimSpace(t.CertFile) != "" && strings.TrimSpace(t.KeyFile) != "" && strings.TrimSpace(t.TrustedCAFile) != ""
}

func (a *app) newEtcdClient(ctx context.Context) (*clientv3.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	scheme := "http"
	if a.tlsEnabled() {
		scheme = "https"
		pool, err := caPool(a.etcdCfg.ClientTLSInfo.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
		tlsConf.ServerName = a.cfg.etcdServerName
		cert, err := tls.LoadX509KeyPair(a.cfg.etcdClientCert, a.cfg.etcdClientKey)
		if err != nil {
			return nil, fmt.Errorf("loading etcd client key pair: %w", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	} else {
		tlsConf = nil
	}
	lc := zap.NewProductionConfig()
	lc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	return clientv3.New(clientv3.Config{
		Context:     ctx,
		Endpoints:   []string{fmt.Sprintf("%s://%s:%d", scheme, a.cfg.etcdServerName, a.cfg.etcdClientPort)},
		DialTimeout: etcdConnectionTimeout,
		TLS:         tlsConf,
		LogConfig:   &lc,
	})
}

func (a *app) start(ctx context.Context, cancel context.CancelFunc) int {
	cli, err := a.newEtcdClient(ctx)
	if err != nil {
		a.logger.Error("fatal: cannot create etcd client for the readiness check", zap.Error(err))
		return 1
	}
	a.client = cli
	defer cli.Close()

	go a.readinessLoop(ctx)
	if err := a.startHTTPServer(cancel); err != nil {
		a.logger.Error("fatal: cannot start the etcd-wrapper HTTP server", zap.Error(err))
		return 1
	}
	defer a.server.Close()

	a.logger.Info("starting embedded etcd", zap.String("name", a.etcdCfg.Name), zap.String("data-dir", a.etcdCfg.Dir))
	e, err := embed.StartEtcd(a.etcdCfg)
	if err != nil {
		a.logger.Error("fatal: embedded etcd failed to start", zap.Error(err))
		return 1
	}
	a.etcd = e
	defer e.Close() // clean stop: closes listeners, stops the raft node, flushes the backend
	var readyTimeout <-chan time.Time
	if a.cfg.etcdReadyTimeout > 0 {
		readyTimeout = time.After(a.cfg.etcdReadyTimeout)
	}
	select {
	case <-e.Server.ReadyNotify():
		a.logger.Info("etcd server is now ready to serve client requests")
	case <-e.Server.StopNotify():
		a.logger.Error("fatal: etcd server has been aborted, received notification on StopNotify channel")
		return 1
	case <-readyTimeout:
		a.logger.Error("timeout waiting for ReadyNotify signal, continuing")
	case <-ctx.Done():
		a.logger.Info("context cancelled while waiting for etcd to get ready, stopping etcd")
		return 0
	}
	// upstream CleanupExitCode after a successful start
	if err := os.Remove(defaultExitCodeFilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.logger.Warn("failed to clean-up last captured exit code", zap.Error(err))
	}

	select {
	case <-ctx.Done():
		a.logger.Info("application context has been cancelled, stopping etcd")
		return 0
	case <-e.Server.StopNotify():
		a.logger.Error("fatal: etcd server has been aborted, received notification on StopNotify channel")
		return 1
	case err := <-e.Err():
		a.logger.Error("fatal: error received on etcd Err channel", zap.Error(err))
		return 1
	}
}

// readinessLoop mirrors readycheck.go queryAndUpdateEtcdReadiness: every 2 s a
// (linearizable, the clientv3 default) Get of key "foo" with a 5 s timeout.
func (a *app) readinessLoop(ctx context.Context) {
	ticker := time.NewTicker(etcdQueryInterval)
	defer ticker.Stop()
	for {
		getCtx, cancel := context.WithTimeout(ctx, etcdGetTimeout)
		_, err := a.client.Get(getCtx, "foo")
		cancel()
		ready := err == nil
		if prev := a.ready.Swap(ready); prev != ready {
			if ready {
				a.logger.Info("etcd readiness changed", zap.Bool("ready", true))
			} else {
				a.logger.Error("etcd readiness changed: failed to retrieve from etcd db", zap.Bool("ready", false), zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *app) startHTTPServer(cancel context.CancelFunc) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a.ready.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/stop", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			return
		}
		a.logger.Info("received stop request, stopping etcd-wrapper...")
		cancel()
		w.WriteHeader(http.StatusOK)
	})
	a.server = &http.Server{Addr: fmt.Sprintf(":%d", a.cfg.wrapperPort), Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	ln, err := listen(a.server.Addr)
	if err != nil {
		return err
	}
	tlsOn := a.tlsEnabled()
	a.logger.Info("Starting HTTP server", zap.Int("port", a.cfg.wrapperPort), zap.Bool("tls", tlsOn))
	go func() {
		var err error
		if tlsOn {
			// upstream serves /readyz over HTTPS with etcd's own server certificate
			err = a.server.ServeTLS(ln, a.etcdCfg.ClientTLSInfo.CertFile, a.etcdCfg.ClientTLSInfo.KeyFile)
		} else {
			err = a.server.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("fatal: etcd-wrapper HTTP server failed", zap.Error(err))
			os.Exit(1)
		}
	}()
	return nil
}
