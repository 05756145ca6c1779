// Command etcd-wrapper is the test fleet's stand-in for gardener/etcd-wrapper:
// it asks the backup-restore sidecar to initialise the data directory, fetches
// the member's etcd configuration from it, and runs an embedded etcd v3.5 from
// that configuration, serving /readyz on the wrapper port.
//
// Behaviour follows gardener/etcd-wrapper (read, not copied):
//   - main.go, cmd/etcd.go, cmd/command.go: one sub-command `start-etcd` and its flags;
//   - internal/types/{config.go,constants.go}: flag defaults, host-port validation;
//   - internal/bootstrap/bootstrap.go: the initialise-then-fetch-config flow;
//   - internal/brclient/brclient.go: the backup-restore HTTP(S) API client;
//   - internal/app/{app.go,readycheck.go}: embedded etcd start and /readyz;
//   - internal/signal/signal.go: exit-code file on SIGTERM/SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const commandStartEtcd = "start-etcd"

// Defaults as in gardener/etcd-wrapper internal/types/constants.go.
const (
	defaultBackupRestoreHostPort = ":8080"
	defaultExitCodeFilePath      = "/var/etcd/data/exit_code"
	validationMarkerFilePath     = "/var/etcd/data/validation_marker"
)

type config struct {
	wrapperPort      int
	brTLSEnabled     bool
	brHostPort       string
	brCACertPath     string
	etcdServerName   string
	etcdClientPort   int
	etcdClientCert   string
	etcdClientKey    string
	etcdReadyTimeout time.Duration
}

func printHelp() {
	fmt.Fprintf(os.Stderr, `etcd-wrapper (etcdops test-fleet stand-in for gardener/etcd-wrapper)

Usage: etcd-wrapper <command> [flags]

Commands:
  %s  Initializes the etcd data directory by coordinating with the backup-restore
              sidecar and starts an embedded etcd (client traffic on port 2379 by default).

Run 'etcd-wrapper %s -h' for its flags.
`, commandStartEtcd, commandStartEtcd)
}

func newLogger() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
	cfg.Sampling = nil
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	logger, err := cfg.Build()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error creating zap logger: %v\n", err)
		os.Exit(1)
	}
	return logger
}

func main() {
	args := os.Args[1:]
	// As upstream main.go checkArgs: an unsupported command prints the help and exits 1.
	if len(args) < 1 || args[0] != commandStartEtcd {
		printHelp()
		os.Exit(1)
	}
	logger := newLogger()

	var cfg config
	fs := flag.NewFlagSet(commandStartEtcd, flag.ContinueOnError)
	// Flag names and defaults as upstream cmd/etcd.go AddEtcdFlags.
	fs.IntVar(&cfg.wrapperPort, "etcd-wrapper-port", 9095, "Port used by etcd-wrapper to expose the server. Default: 9095")
	fs.BoolVar(&cfg.brTLSEnabled, "backup-restore-tls-enabled", false, "Enables TLS for communicating with backup-restore container")
	fs.StringVar(&cfg.brHostPort, "backup-restore-host-port", defaultBackupRestoreHostPort, "Host and Port to be used to connect to the backup-restore container")
	fs.StringVar(&cfg.brCACertPath, "backup-restore-ca-cert-bundle-path", "", "File path of CA cert bundle to help establish TLS communication with backup-restore container")
	fs.StringVar(&cfg.etcdServerName, "etcd-server-name", "", "Name of the server (host) which will be used to configure TLS config to connect to the etcd server process")
	fs.IntVar(&cfg.etcdClientPort, "etcd-client-port", 2379, "Client port when talking to etcd. Default: 2379")
	fs.StringVar(&cfg.etcdClientCert, "etcd-client-cert-path", "", "File path of ETCD client certificate to help establish TLS communication of the client to ETCD")
	fs.StringVar(&cfg.etcdClientKey, "etcd-client-key-path", "", "File path of ETCD client key to help establish TLS communication of the client to ETCD")
	fs.DurationVar(&cfg.etcdReadyTimeout, "etcd-ready-timeout", 0, "Time duration to wait for etcd to be ready")
	if err := fs.Parse(args[1:]); err != nil {
		logger.Fatal("error parsing command flags", zap.Error(err))
	}
	var printed []string
	fs.VisitAll(func(f *flag.Flag) { printed = append(printed, fmt.Sprintf("%s: %s", f.Name, f.Value)) })
	logger.Info("Running with flags: " + strings.Join(printed, ", "))

	ctx, cancel := setupSignalHandler(logger)
	code := run(ctx, cancel, cfg, logger)
	_ = logger.Sync()
	os.Exit(code)
}

// setupSignalHandler mirrors upstream internal/signal/signal.go: the first
// SIGINT/SIGTERM records the signal name in the exit-code file (read at the
// next start to choose sanity instead of full validation) and cancels the
// context; a second signal exits at once.
func setupSignalHandler(logger *zap.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		if err := os.WriteFile(defaultExitCodeFilePath, []byte(sig.String()), 0600); err != nil {
			logger.Warn("failed to capture exit code", zap.String("path", defaultExitCodeFilePath), zap.Error(err))
		}
		logger.Info("caught shutdown signal", zap.String("signal", sig.String()))
		cancel()
		<-ch
		os.Exit(1)
	}()
	return ctx, cancel
}

// validateBackupRestore mirrors upstream internal/types/config.go Validate.
func validateBackupRestore(cfg config) error {
	var errs []string
	if len(strings.Split(cfg.brHostPort, ":")) < 2 {
		errs = append(errs, "both host and port needs to be specified and should be adhere to format: <host>:<port>")
	}
	if strings.HasPrefix(cfg.brHostPort, "http:") || strings.HasPrefix(cfg.brHostPort, "https:") {
		errs = append(errs, "backup-restore-host-port should not contain scheme")
	}
	if cfg.brTLSEnabled && strings.TrimSpace(cfg.brCACertPath) == "" {
		errs = append(errs, "certificate bundle path cannot be nil or empty when TLS is enabled")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// brHost mirrors upstream BackupRestoreConfig.GetHost: host part of host:port, "localhost" when empty.
func brHost(hostPort string) string {
	host := strings.Split(hostPort, ":")[0]
	if strings.TrimSpace(host) == "" {
		return "localhost"
	}
	return host
}

func baseAddress(tlsEnabled bool, hostPort string) string {
	if tlsEnabled {
		return "https://" + hostPort
	}
	return "http://" + hostPort
}

func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
